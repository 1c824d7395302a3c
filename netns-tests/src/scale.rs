//! The scale benchmark: one daemon with many instances (several interfaces
//! × many VRIDs) on a master and a backup node, measured while nothing
//! happens, which is what a large deployment does most of the time.
//!
//! Per run: a two-node topology with `links` interfaces per node (one bridge
//! each), `vrids_per_link` instances per interface with one VIP each, n1 at
//! priority 200 and n2 at 100. n1 starts first and must hold every VIP, then
//! n2 starts; after a settle time both daemons are measured over the same
//! window: CPU (utime + stime of all their processes), steady and peak RSS,
//! and the send jitter of n1's adverts, timed by the kernel where they enter
//! the switch (see [`crate::agent::advert_times`]).
//!
//! Jitter, per instance: each interval between two consecutive adverts
//! minus the nominal advert interval, as an absolute value in µs, all
//! instances in one hdrhistogram. An interval of about k nominal intervals
//! (k ≥ 2) counts k − 1 missed adverts and stays in the histogram (a missed
//! advert *is* a late one).

use crate::config::{self, Family, Instance, KeepalivedConf, Version};
use crate::daemon::Daemon;
use crate::drill::{measure_window, WindowUsage};
use crate::topology::{link_subnets, Node, Topology, TopologyOptions};
use crate::wire::AdvertTime;
use crate::{Error, Result};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Priority of the master (n1) and of the backup (n2).
pub const MASTER_PRIORITY: u8 = 200;
pub const BACKUP_PRIORITY: u8 = 100;

/// What one scale run does.
#[derive(Debug, Clone)]
pub struct ScaleParams {
    pub daemon: Daemon,
    /// Seconds; below 1 s needs VRRPv3.
    pub advert_int: f64,
    pub version: Version,
    /// Interfaces per node.
    pub links: usize,
    /// Instances (VRIDs 1..=n) per interface.
    pub vrids_per_link: usize,
    /// Measurement window.
    pub window: Duration,
    /// Wait after n2 started before measuring.
    pub settle: Duration,
    /// Longest wait for n1 to hold every VIP.
    pub converge_timeout: Duration,
    /// RSS sampling period within the window.
    pub rss_every: Duration,
    /// Base options (prefix, agent, logs); nodes and links are set here.
    pub topology: TopologyOptions,
    /// Run every process of both daemons under SCHED_RR at this priority,
    /// as deployed: vrrpd's systemd unit (`CPUSchedulingPolicy=rr`,
    /// priority 10) and keepalived's `vrrp_rt_priority`. `None`: normal
    /// scheduling.
    pub rt_priority: Option<u8>,
    /// Receive work in per-veth NAPI threads, not in the sender's system
    /// call (see [`crate::topology::TopologyOptions::threaded_napi`]): the
    /// daemons' CPU is then their own, as between real machines.
    pub threaded_napi: bool,
}

impl ScaleParams {
    /// 4 links × 250 VRIDs, 30 s window, 8 s settle.
    pub fn new(daemon: Daemon, advert_int: f64, version: Version) -> Self {
        ScaleParams {
            daemon,
            advert_int,
            version,
            links: 4,
            vrids_per_link: 250,
            window: Duration::from_secs(30),
            // Past the delayed gratuitous ARP round that both daemons send
            // 5 s after becoming master (keepalived's default
            // `vrrp_garp_master_delay`): the window measures the steady
            // state, not that one-off burst.
            settle: Duration::from_secs(8),
            converge_timeout: Duration::from_secs(180),
            rss_every: Duration::from_secs(1),
            topology: TopologyOptions::default(),
            rt_priority: None,
            threaded_napi: true,
        }
    }

    pub fn instances(&self) -> usize {
        self.links * self.vrids_per_link
    }

    /// Why these parameters cannot run, if they cannot.
    pub fn invalid_reason(&self) -> Option<String> {
        if self.vrids_per_link == 0 || self.vrids_per_link > 255 {
            return Some(format!("{} VRIDs per link (1..=255)", self.vrids_per_link));
        }
        if self.links == 0 {
            return Some("0 links".into());
        }
        let cs = (self.advert_int * 100.0).round();
        if !(1.0..=4095.0).contains(&cs) {
            return Some(format!(
                "advert interval {} s (0.01..=40.95)",
                self.advert_int
            ));
        }
        if self.version == Version::V2 {
            if self.advert_int.fract() != 0.0 {
                return Some("VRRPv2 advertises whole seconds only (RFC 3768 §5.3.7)".into());
            }
            if let Some(l) = (0..self.links).find(|l| link_family(*l) == Family::V6) {
                return Some(format!(
                    "VRRPv2 is IPv4 only (RFC 3768) and link {l} has no IPv4 range: use at most {l} links or VRRPv3"
                ));
            }
        }
        None
    }

    pub fn label(&self) -> String {
        format!(
            "{} {}s v{} {}x{}",
            self.daemon.name(),
            self.advert_int,
            self.version.number(),
            self.links,
            self.vrids_per_link
        )
    }

    fn nominal_us(&self) -> u64 {
        (self.advert_int * 1_000_000.0).round() as u64
    }
}

/// The address family of the instances on `link`: IPv4 where the link has
/// an IPv4 documentation range, IPv6 beyond (see [`link_subnets`]).
pub fn link_family(link: usize) -> Family {
    if link_subnets(link).0.is_some() {
        Family::V4
    } else {
        Family::V6
    }
}

/// `/proc/loadavg`'s 1, 5 and 15 minute averages.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadAvg(pub f64, pub f64, pub f64);

impl LoadAvg {
    pub fn read() -> Result<LoadAvg> {
        let text = std::fs::read_to_string("/proc/loadavg")
            .map_err(|e| Error::io("read /proc/loadavg", e))?;
        LoadAvg::parse(&text)
    }

    pub fn parse(text: &str) -> Result<LoadAvg> {
        let f: Vec<f64> = text
            .split_whitespace()
            .take(3)
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::parse("/proc/loadavg", e))?;
        match f.as_slice() {
            [a, b, c] => Ok(LoadAvg(*a, *b, *c)),
            _ => Err(Error::parse("/proc/loadavg", "fewer than 3 fields")),
        }
    }
}

impl std::fmt::Display for LoadAvg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} {:.2} {:.2}", self.0, self.1, self.2)
    }
}

/// One instance as the jitter analysis names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceKey {
    pub link: u8,
    pub ipv6: bool,
    pub vrid: u8,
}

/// The send jitter of the master's adverts over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct JitterReport {
    /// |interval − nominal| in µs at p50, p99, p99.9 and the maximum.
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Mean of (interval − nominal) in µs: a daemon that re-arms its timer
    /// after the send drifts late by its own processing time every period.
    pub mean_error_us: f64,
    pub intervals: u64,
    /// Adverts of the expected instances from the master.
    pub seen: u64,
    /// Instances × whole nominal intervals in the window.
    pub expected: u64,
    /// Adverts missing from gaps of two or more intervals, plus all those
    /// of instances never heard.
    pub missed: u64,
    /// Instances never heard from the master.
    pub silent: usize,
    /// Adverts from anyone but the master's instances (the backup, an
    /// unknown VRID, another priority): 0 when everything converged.
    pub foreign: u64,
    /// Whether kernel timestamps were used (else the capture's clock).
    pub kernel_clock: bool,
}

/// Computes the [`JitterReport`] of `records` for the master's `instances`
/// (sent by `master_macs[link]` at `priority`) over a window of `window_us`.
pub fn analyse_jitter(
    records: &[AdvertTime],
    instances: &[InstanceKey],
    master_macs: &[[u8; 6]],
    priority: u8,
    nominal_us: u64,
    window_us: u64,
) -> Result<JitterReport> {
    if nominal_us == 0 {
        return Err(Error::Invalid("nominal advert interval 0".into()));
    }
    let wanted: BTreeSet<InstanceKey> = instances.iter().copied().collect();
    // Kernel stamps only if every record has one: mixing clocks would
    // turn their offset into jitter.
    let kernel_clock = !records.is_empty() && records.iter().all(|r| r.kernel_ns.is_some());
    let mut times: BTreeMap<InstanceKey, Vec<u64>> = BTreeMap::new();
    let mut foreign = 0u64;
    for r in records {
        let key = InstanceKey {
            link: r.link,
            ipv6: r.ipv6,
            vrid: r.vrid,
        };
        let from_master = master_macs.get(usize::from(r.link)) == Some(&r.src_mac);
        if !from_master || r.priority != priority || !wanted.contains(&key) {
            foreign += 1;
            continue;
        }
        let t = if kernel_clock {
            r.kernel_ns.unwrap_or(0)
        } else {
            r.t_us * 1000
        };
        times.entry(key).or_default().push(t);
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| Error::Invalid(format!("histogram: {e}")))?;
    let nominal_ns = nominal_us as i128 * 1000;
    let (mut seen, mut missed, mut intervals) = (0u64, 0u64, 0u64);
    let mut error_sum_ns: i128 = 0;
    let per_instance = window_us / nominal_us;
    for ts in times.values_mut() {
        ts.sort_unstable();
        seen += ts.len() as u64;
        for w in ts.windows(2) {
            let delta = i128::from(w[1]) - i128::from(w[0]);
            let err = delta - nominal_ns;
            error_sum_ns += err;
            intervals += 1;
            hist.saturating_record((err.unsigned_abs() / 1000) as u64);
            // Rounded count of nominal intervals in this gap, minus the one
            // that should be there.
            let k = (delta + nominal_ns / 2) / nominal_ns;
            missed += u64::try_from(k - 1).unwrap_or(0);
        }
    }
    let silent = wanted.len() - times.len();
    missed += silent as u64 * per_instance;
    Ok(JitterReport {
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
        mean_error_us: if intervals == 0 {
            0.0
        } else {
            error_sum_ns as f64 / intervals as f64 / 1000.0
        },
        intervals,
        seen,
        expected: per_instance * wanted.len() as u64,
        missed,
        silent,
        foreign,
        kernel_clock,
    })
}

/// What one scale run measured.
#[derive(Debug, Clone)]
pub struct ScaleResult {
    pub label: String,
    pub daemon: Daemon,
    pub advert_int: f64,
    pub version: Version,
    pub instances: usize,
    /// Load average when the run started and when its window ended.
    pub load_start: LoadAvg,
    pub load_end: LoadAvg,
    /// From starting n1 until it held every VIP.
    pub converge: Duration,
    pub master: WindowUsage,
    pub backup: WindowUsage,
    pub jitter: JitterReport,
    /// CPU of the kernel's softirq threads (`ksoftirqd/N`, all cores) over
    /// the window, % of one core. Softirq work done on return from a
    /// daemon's system call is counted as the daemon's (this kernel has no
    /// IRQ time accounting); when the backlog grows the same work moves to
    /// these threads and out of the daemon's figure, so both are shown.
    /// Machine-wide: other network activity on the host counts too.
    pub ksoftirqd_cpu_pct: f64,
    /// CPU of the veths' NAPI threads (`napi/*`) over the window, % of one
    /// core: the receive side (switch, peer, capture) when
    /// [`ScaleParams::threaded_napi`] is on.
    pub napi_cpu_pct: f64,
    /// VIPs n1 and n2 hold after the window (all and none when stable).
    pub vips_master_after: usize,
    pub vips_backup_after: usize,
}

/// The instances of one node: `links` × `vrids_per_link`, VIPs from
/// [`config::link_vips`] avoiding every address the topology assigned.
fn node_conf(
    topo: &Topology,
    p: &ScaleParams,
    node: usize,
    priority: u8,
) -> Result<(KeepalivedConf, Vec<IpAddr>)> {
    let mut taken: Vec<IpAddr> = vec![
        IpAddr::V4(topo.client().ipv4),
        IpAddr::V6(topo.client().ipv6),
    ];
    for n in topo.nodes() {
        for l in &n.links {
            taken.extend(l.ipv4.map(IpAddr::V4));
            taken.push(IpAddr::V6(l.ipv6));
        }
    }
    let mut list = Vec::with_capacity(p.instances());
    let mut vips = Vec::with_capacity(p.instances());
    for link in 0..p.links {
        let family = link_family(link);
        let link_vips = config::link_vips(link, family, p.vrids_per_link, &taken)?;
        for (i, vip) in link_vips.into_iter().enumerate() {
            let vrid = (i + 1) as u8;
            vips.push(vip.0);
            list.push(
                Instance::new(vrid, priority, p.version, family, p.advert_int)
                    .with_interface(format!("eth{link}"))
                    .with_name(format!("VI_{link}_{vrid}"))
                    .with_vips(vec![vip]),
            );
        }
    }
    Ok((KeepalivedConf::new(format!("n{node}"), list), vips))
}

fn count_held(topo: &Topology, node: Node, vips: &BTreeSet<IpAddr>) -> Result<usize> {
    Ok(topo
        .addresses(node)?
        .into_iter()
        .filter(|a| vips.contains(a))
        .count())
}

/// Puts every thread of every process of `node`'s daemon under SCHED_RR
/// at `priority` (`chrt`, test set-up code), if one is given.
fn set_rt_priority(topo: &Topology, node: Node, priority: Option<u8>) -> Result<()> {
    let Some(prio) = priority else {
        return Ok(());
    };
    for pid in topo.daemon_pids(node) {
        chrt(&["-a", "-r"], prio, pid)?;
    }
    Ok(())
}

/// `chrt POLICY_ARGS -p PRIO PID`.
fn chrt(policy: &[&str], prio: u8, pid: i32) -> Result<()> {
    let (prio, pid) = (prio.to_string(), pid.to_string());
    let mut args = policy.to_vec();
    args.extend(["-p", &prio, &pid]);
    let out = std::process::Command::new("chrt")
        .args(&args)
        .output()
        .map_err(|e| Error::io("run chrt", e))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "chrt {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Kernel threads whose name starts with `prefix` (`ksoftirqd/`: the
/// per-core softirq threads; `napi/`: threaded NAPI polls).
fn kthreads(prefix: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with(prefix))
        })
        .collect()
}

/// Run the NAPI threads under SCHED_FIFO at the daemons' priority. Not
/// below: the capture's timestamps are taken in them, and must not wait
/// for a daemon's round-robin slice. Not above: a thread woken by each
/// frame a daemon sends would then preempt the daemon at every frame (a
/// context switch per advert, billed to the daemon), which a NIC's
/// interrupts, coalesced, do not do. At equal priority the woken thread
/// waits for the sender's next sleep or moves to an idle core.
fn set_napi_priority(daemons: Option<u8>) -> Result<()> {
    let Some(prio) = daemons else {
        return Ok(());
    };
    for pid in kthreads("napi/") {
        chrt(&["-f"], prio, pid)?;
    }
    Ok(())
}

/// utime + stime of `pids`, skipping any that went away.
fn ticks_of(pids: &[i32]) -> u64 {
    pids.iter()
        .filter_map(|p| crate::resources::cpu_ticks(*p).ok())
        .sum()
}

/// Runs one scale measurement (see the module documentation).
pub fn run_scale(p: &ScaleParams) -> Result<ScaleResult> {
    if let Some(why) = p.invalid_reason() {
        return Err(Error::Invalid(format!("[{}]: {why}", p.label())));
    }
    let load_start = LoadAvg::read()?;
    let topo = Topology::with_options(TopologyOptions {
        nodes: 2,
        links_per_node: p.links,
        threaded_napi: p.threaded_napi,
        ..p.topology.clone()
    })?;
    let r = run_on(&topo, p, load_start);
    if r.is_err() {
        topo.keep_logs();
    }
    r
}

fn run_on(topo: &Topology, p: &ScaleParams, load_start: LoadAvg) -> Result<ScaleResult> {
    let (conf1, vips) = node_conf(topo, p, 1, MASTER_PRIORITY)?;
    let (conf2, _) = node_conf(topo, p, 2, BACKUP_PRIORITY)?;
    let vips: BTreeSet<IpAddr> = vips.into_iter().collect();
    if vips.len() != p.instances() {
        return Err(Error::Invalid(format!(
            "{} distinct VIPs for {} instances",
            vips.len(),
            p.instances()
        )));
    }
    // n1 alone first: it becomes master of everything after its
    // Master_Down_Interval; n2 then joins as backup and never contends.
    let started = Instant::now();
    topo.start(Node(1), p.daemon, &conf1)?;
    let mut held = 0;
    topo.wait_until(
        &format!("n1 to hold all {} VIPs", vips.len()),
        p.converge_timeout,
        || {
            topo.check_daemon_alive(Node(1))?;
            held = count_held(topo, Node(1), &vips)?;
            Ok(held == vips.len())
        },
    )
    .map_err(|e| match e {
        Error::Timeout { what, waited_ms } => Error::Timeout {
            what: format!("{what} (had {held})"),
            waited_ms,
        },
        e => e,
    })?;
    let converge = started.elapsed();
    set_rt_priority(topo, Node(1), p.rt_priority)?;
    topo.start(Node(2), p.daemon, &conf2)?;
    set_rt_priority(topo, Node(2), p.rt_priority)?;
    set_napi_priority(p.rt_priority)?;
    std::thread::sleep(p.settle);
    topo.check_daemon_alive(Node(1))?;
    topo.check_daemon_alive(Node(2))?;
    let on_backup = count_held(topo, Node(2), &vips)?;
    if on_backup != 0 {
        return Err(Error::Invalid(format!(
            "n2 holds {on_backup} VIPs after the settle time: not converged"
        )));
    }

    let window_ms = p.window.as_millis() as u64;
    let cap = topo.start_advert_times(Node(1), window_ms)?;
    let (m, b) = (topo.daemon_pids(Node(1)), topo.daemon_pids(Node(2)));
    let softirq_threads = kthreads("ksoftirqd/");
    let softirq_before = ticks_of(&softirq_threads);
    let napi_threads = kthreads("napi/");
    let napi_before = ticks_of(&napi_threads);
    let window_start = Instant::now();
    let (master, backup) = std::thread::scope(|s| {
        let hm = s.spawn(|| measure_window(&m, p.window, p.rss_every));
        let hb = s.spawn(|| measure_window(&b, p.window, p.rss_every));
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<WindowUsage>>| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Invalid("measure thread panicked".into())))
        };
        (join(hm), join(hb))
    });
    let ksoftirqd_cpu_pct = ticks_of(&softirq_threads).saturating_sub(softirq_before) as f64
        / crate::resources::ticks_per_sec() as f64
        / window_start.elapsed().as_secs_f64()
        * 100.0;
    let napi_cpu_pct = ticks_of(&napi_threads).saturating_sub(napi_before) as f64
        / crate::resources::ticks_per_sec() as f64
        / window_start.elapsed().as_secs_f64()
        * 100.0;
    let load_end = LoadAvg::read()?;
    let records = topo.finish_advert_times(cap, Duration::from_secs(10))?;
    topo.check_daemon_alive(Node(1))?;
    topo.check_daemon_alive(Node(2))?;
    let vips_master_after = count_held(topo, Node(1), &vips)?;
    let vips_backup_after = count_held(topo, Node(2), &vips)?;

    let mut instances = Vec::with_capacity(p.instances());
    for link in 0..p.links {
        for vrid in 1..=p.vrids_per_link {
            instances.push(InstanceKey {
                link: link as u8,
                ipv6: link_family(link) == Family::V6,
                vrid: vrid as u8,
            });
        }
    }
    let macs: Vec<[u8; 6]> = topo
        .node(Node(1))
        .links
        .iter()
        .map(|l| l.mac.unwrap_or_default())
        .collect();
    let jitter = analyse_jitter(
        &records,
        &instances,
        &macs,
        MASTER_PRIORITY,
        p.nominal_us(),
        window_ms * 1000,
    )?;
    Ok(ScaleResult {
        label: p.label(),
        daemon: p.daemon,
        advert_int: p.advert_int,
        version: p.version,
        instances: p.instances(),
        load_start,
        load_end,
        converge,
        master: master?,
        backup: backup?,
        jitter,
        ksoftirqd_cpu_pct,
        napi_cpu_pct,
        vips_master_after,
        vips_backup_after,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const M: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn rec(link: u8, vrid: u8, t_us: u64, mac: [u8; 6], prio: u8) -> AdvertTime {
        AdvertTime {
            link,
            t_us,
            kernel_ns: Some(t_us * 1000 + 7),
            ipv6: false,
            version: 3,
            vrid,
            priority: prio,
            src_mac: mac,
        }
    }

    fn key(link: u8, vrid: u8) -> InstanceKey {
        InstanceKey {
            link,
            ipv6: false,
            vrid,
        }
    }

    #[test]
    fn jitter_of_regular_late_and_missing_adverts() {
        // VRID 1: every 100 ms, one 300 µs late then back on time; VRID 2
        // misses one advert (a 200 ms gap); VRID 3 is never heard; the
        // backup and an unknown VRID count as foreign.
        let mut r = Vec::new();
        for t in [0u64, 100_000, 200_300, 300_000, 400_000] {
            r.push(rec(0, 1, 1_000_000 + t, M, 200));
        }
        for t in [0u64, 100_000, 300_000, 400_000] {
            r.push(rec(0, 2, 2_000_000 + t, M, 200));
        }
        r.push(rec(0, 1, 1_050_000, B, 100));
        r.push(rec(0, 9, 1_050_000, M, 200));
        let j = analyse_jitter(
            &r,
            &[key(0, 1), key(0, 2), key(0, 3)],
            &[M],
            200,
            100_000,
            500_000,
        )
        .unwrap();
        assert!(j.kernel_clock);
        assert_eq!(j.seen, 9);
        assert_eq!(j.expected, 15);
        assert_eq!(j.intervals, 7);
        assert_eq!(j.foreign, 2);
        assert_eq!(j.silent, 1);
        // One from VRID 2's gap, five for silent VRID 3.
        assert_eq!(j.missed, 6);
        // Deviations: 0, 300, 300, 0 (VRID 1); 0, 100000, 0 (VRID 2).
        assert_eq!(j.p50_us, 0);
        assert!((99_000..=100_100).contains(&j.max_us), "{j:?}");
        assert!((99_000..=100_100).contains(&j.p99_us), "{j:?}");
        // Mean error: (0 + 300 − 300 + 0 + 0 + 100000 + 0) / 7.
        assert!((j.mean_error_us - 100_000.0 / 7.0).abs() < 1.0, "{j:?}");
    }

    #[test]
    fn user_clock_when_a_kernel_stamp_is_missing() {
        let mut a = rec(0, 1, 0, M, 200);
        a.kernel_ns = None;
        let b = rec(0, 1, 1_000_250, M, 200);
        let j = analyse_jitter(&[a, b], &[key(0, 1)], &[M], 200, 1_000_000, 2_000_000).unwrap();
        assert!(!j.kernel_clock);
        assert!((249..=251).contains(&j.max_us), "{j:?}");
        assert_eq!(j.missed, 0);
        assert!(analyse_jitter(&[], &[], &[], 200, 0, 1).is_err());
    }

    #[test]
    fn loadavg_parses() {
        let l = LoadAvg::parse("1.50 0.75 0.25 2/345 6789\n").unwrap();
        assert_eq!(l, LoadAvg(1.5, 0.75, 0.25));
        assert_eq!(l.to_string(), "1.50 0.75 0.25");
        assert!(LoadAvg::parse("1.0 x").is_err());
    }

    #[test]
    fn v2_needs_whole_seconds_and_ipv4_links() {
        let mut p = ScaleParams::new(Daemon::Vrrpd, 1.0, Version::V2);
        assert!(p.invalid_reason().is_some(), "link 3 is IPv6 only");
        p.links = 3;
        assert!(p.invalid_reason().is_none());
        p.advert_int = 0.1;
        assert!(p.invalid_reason().is_some());
        let mut p = ScaleParams::new(Daemon::Vrrpd, 0.1, Version::V3);
        assert!(p.invalid_reason().is_none());
        assert_eq!(p.instances(), 1000);
        p.vrids_per_link = 256;
        assert!(p.invalid_reason().is_some());
        assert_eq!(link_family(2), Family::V4);
        assert_eq!(link_family(3), Family::V6);
    }
}
