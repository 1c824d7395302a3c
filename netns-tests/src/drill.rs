//! Failover drills: build a topology, start the daemons from one generated
//! keepalived.conf, probe the VIP every millisecond, inject one fault,
//! measure, tear down; then aggregate many runs with hdrhistogram.

use crate::analysis::{self, Detection, ProbeStats};
use crate::clock::{mono_us, sleep_until_us};
use crate::config::{self, Family, Instance, KeepalivedConf, Version};
use crate::daemon::Daemon;
use crate::resources::{self, Usage};
use crate::topology::{Node, Topology, TopologyOptions};
use crate::{Error, Result};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

/// The faults a drill can inject; all hit the initial master `n1` except
/// [`Scenario::RestartHigherPrio`], which restarts the backup `n2` with a
/// priority above n1's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// Node crash: SIGKILL to n1's daemon (whole process group) *and* its
    /// echo service, link left up (the stale VIP stays on n1).
    Kill,
    /// Graceful stop: SIGTERM to n1's daemon (priority-0 resignation).
    Term,
    /// `ip link set eth0 down` inside n1.
    LinkDown,
    /// The switch stops forwarding n1's port (bridge port state disabled);
    /// n1 keeps carrier and sees nothing wrong, so it stays master alone.
    Partition,
    /// n2 (stopped beforehand) starts again with priority above n1's and
    /// preempts (RFC 5798 §6.4.2).
    RestartHigherPrio,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Kill,
        Scenario::Term,
        Scenario::LinkDown,
        Scenario::Partition,
        Scenario::RestartHigherPrio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Kill => "kill",
            Scenario::Term => "term",
            Scenario::LinkDown => "link-down",
            Scenario::Partition => "partition",
            Scenario::RestartHigherPrio => "restart-higher-prio",
        }
    }
}

impl std::str::FromStr for Scenario {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown scenario {s:?}; one of {}",
                    Scenario::ALL.map(|s| s.name()).join(", ")
                ))
            })
    }
}

/// One drill.
#[derive(Debug, Clone)]
pub struct DrillParams {
    pub daemon: Daemon,
    pub scenario: Scenario,
    pub version: Version,
    pub family: Family,
    /// Seconds.
    pub advert_int: f64,
    /// At least 2.
    pub nodes: usize,
    pub vrid: u8,
    pub topology: TopologyOptions,
}

impl DrillParams {
    pub fn new(
        daemon: Daemon,
        scenario: Scenario,
        version: Version,
        family: Family,
        advert_int: f64,
    ) -> Self {
        DrillParams {
            daemon,
            scenario,
            version,
            family,
            advert_int,
            nodes: 3,
            vrid: 51,
            topology: TopologyOptions::default(),
        }
    }

    /// Why this combination cannot run, if it cannot.
    pub fn invalid_reason(&self) -> Option<String> {
        if self.nodes < 2 {
            return Some("a drill needs at least 2 nodes".into());
        }
        if self.version == Version::V2 && self.family == Family::V6 {
            return Some("VRRPv2 has no IPv6 (RFC 3768)".into());
        }
        if self.version == Version::V2 && self.advert_int.fract() != 0.0 {
            return Some("VRRPv2 advert_int is whole seconds (RFC 3768 §5.3.7)".into());
        }
        if !(0.01..=40.0).contains(&self.advert_int) {
            return Some(format!("advert_int {} outside 0.01..40 s", self.advert_int));
        }
        None
    }

    /// n1 highest: n1 = 100 + 10 (n-1), ..., n_last = 100.
    pub fn priority(&self, node: usize) -> u8 {
        (100 + 10 * (self.nodes - node)).min(254) as u8
    }

    pub fn vip(&self) -> IpAddr {
        config::vip(self.family, 0).0
    }

    /// The config file of `node` with `priority`.
    pub fn conf(&self, node: usize, priority: u8) -> KeepalivedConf {
        let inst = Instance::new(
            self.vrid,
            priority,
            self.version,
            self.family,
            self.advert_int,
        );
        KeepalivedConf::new(format!("n{node}"), vec![inst])
    }

    pub fn label(&self) -> String {
        format!(
            "{} {} v{} {} advert {}s",
            self.daemon.name(),
            self.scenario.name(),
            self.version.number(),
            self.family.label(),
            self.advert_int
        )
    }
}

/// What one drill measured.
#[derive(Debug, Clone)]
pub struct DrillResult {
    pub params: DrillParams,
    /// Monotonic µs when the daemons were started (t = 0 of the report).
    pub t0_us: u64,
    pub fault_us: u64,
    pub fault: String,
    /// (absolute µs, text), sorted.
    pub events: Vec<(u64, String)>,
    pub detection: Option<Detection>,
    pub probe: ProbeStats,
    /// Nodes holding the VIP at the end.
    pub final_holders: Vec<String>,
}

impl DrillResult {
    /// Longest client outage in µs (0 if no probe was lost).
    pub fn outage_us(&self) -> u64 {
        self.probe
            .longest
            .as_ref()
            .map_or(0, |o| o.duration_us(self.probe.last_sent_us))
    }

    /// True if the longest outage never ended.
    pub fn unrecovered(&self) -> bool {
        self.probe
            .longest
            .as_ref()
            .is_some_and(|o| o.end_us.is_none())
    }

    /// "t=1.203s n1 MASTER; t=2.000s SIGKILL n1; ... client outage ..."
    pub fn timeline(&self) -> String {
        let mut parts: Vec<String> = self
            .events
            .iter()
            .map(|(t, text)| format!("t={:.3}s {text}", rel_s(*t, self.t0_us)))
            .collect();
        match &self.probe.longest {
            Some(o) => parts.push(format!(
                "client outage {} ms{} ({} -> {}), {} probes lost of {}",
                ms(self.outage_us()),
                if o.end_us.is_none() {
                    " (NOT RECOVERED)"
                } else {
                    ""
                },
                o.before.as_deref().unwrap_or("-"),
                o.after.as_deref().unwrap_or("-"),
                self.probe.lost,
                self.probe.sent
            )),
            None => parts.push(format!(
                "client outage 0 ms, 0 probes lost of {}",
                self.probe.sent
            )),
        }
        if self.detection.is_none() {
            parts.push("NO new master advertised".into());
        }
        parts.push(format!(
            "VIP finally on [{}]",
            self.final_holders.join(", ")
        ));
        format!("[{}] {}", self.params.label(), parts.join("; "))
    }
}

fn rel_s(t: u64, t0: u64) -> f64 {
    (t as f64 - t0 as f64) / 1e6
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// Runs one drill. Logs are kept (and their path printed) if it fails.
pub fn run_drill(params: &DrillParams) -> Result<DrillResult> {
    if let Some(why) = params.invalid_reason() {
        return Err(Error::Invalid(why));
    }
    let topo = Topology::with_options(TopologyOptions {
        nodes: params.nodes,
        ..params.topology.clone()
    })?;
    let result = drill_body(&topo, params);
    if result.is_err() {
        topo.keep_logs();
    }
    result
}

fn drill_body(topo: &Topology, p: &DrillParams) -> Result<DrillResult> {
    let vip = p.vip();
    let adv_us = (p.advert_int * 1e6) as u64;
    let cap = topo.start_capture()?;
    topo.start_echo_all()?;
    let t0_us = mono_us();
    for i in 1..=p.nodes {
        topo.start(Node(i), p.daemon, &p.conf(i, p.priority(i)))?;
    }
    // RFC 5798 §6.4.1: all start as backup and n1 wins after
    // Master_Down_Interval (3 adverts + skew); allow daemon start-up time.
    let converge = Duration::from_micros(4 * adv_us) + Duration::from_secs(10);
    let settled = topo
        .wait_for_sole_holder(Node(1), vip, converge)
        .and_then(|()| {
            std::thread::sleep(Duration::from_micros((2 * adv_us).max(200_000)));
            topo.wait_for_sole_holder(Node(1), vip, Duration::from_secs(2))
        });
    if let Err(e) = settled {
        // Say what the wire showed: that is usually the reason.
        let holders = topo.holders(vip).unwrap_or_default();
        let adverts = topo.adverts(&cap).unwrap_or_default();
        return Err(Error::Invalid(format!(
            "n1 did not become the only master: {e}; VIP on {holders:?}; {}",
            analysis::advert_summary(&adverts)
        )));
    }

    if p.scenario == Scenario::RestartHigherPrio {
        // The backup goes away before the measurement; the fault is its
        // return with a higher priority.
        topo.stop_daemon(Node(2), Duration::from_secs(5))?;
    }
    let pre_us = (2 * adv_us).max(1_000_000);
    let post_us = 4 * adv_us + 2_000_000;
    let run = topo.start_probe(vip, 1000, (pre_us + post_us) / 1000)?;
    sleep_until_us(mono_us() + pre_us);

    let before_us = mono_us();
    let fault = match p.scenario {
        Scenario::Kill => {
            topo.crash(Node(1))?;
            "SIGKILL n1 (daemon and service)".to_string()
        }
        Scenario::Term => {
            topo.term_daemon(Node(1))?;
            "SIGTERM n1".to_string()
        }
        Scenario::LinkDown => {
            topo.link_down(Node(1))?;
            "link down n1 (eth0)".to_string()
        }
        Scenario::Partition => {
            topo.partition(Node(1))?;
            "partition n1 (bridge port disabled)".to_string()
        }
        Scenario::RestartHigherPrio => {
            let prio = p.priority(1).saturating_add(10);
            topo.start(Node(2), p.daemon, &p.conf(2, prio))?;
            format!("restart n2 with priority {prio}")
        }
    };
    // A signal acts at once, so the fault starts before the syscall; an
    // `ip` command or a daemon start takes effect when it has completed.
    let fault_us = match p.scenario {
        Scenario::Kill | Scenario::Term => before_us,
        _ => mono_us(),
    };
    let records = topo.finish_probe(run)?;
    let adverts = topo.stop_capture(cap)?;

    let probe = analysis::probe_stats(&records);
    let detection = analysis::detection(&adverts, p.vrid, "n1", fault_us);
    let mut events: Vec<(u64, String)> =
        analysis::compress_events(analysis::master_events(&adverts, p.vrid), 12)
            .into_iter()
            .map(|(t, node, what)| (t, format!("{node} {what}")))
            .collect();
    events.push((fault_us, fault.clone()));
    if let Some(d) = &detection {
        let last = d
            .gap_from_last_advert_us
            .map(|g| format!(", {} ms after n1's last advert", ms(g)))
            .unwrap_or_default();
        events.push((
            d.first_advert_us,
            format!(
                "{} first advert (gap {} ms{last})",
                d.new_master,
                ms(d.gap_from_fault_us)
            ),
        ));
    }
    for (t, who) in &probe.responders {
        events.push((*t, format!("client answered by {who}")));
    }
    events.sort_by_key(|e| e.0);
    let final_holders = topo
        .holders(vip)?
        .into_iter()
        .map(|n| topo.node(n).name.clone())
        .collect();
    Ok(DrillResult {
        params: p.clone(),
        t0_us,
        fault_us,
        fault,
        events,
        detection,
        probe,
        final_holders,
    })
}

/// Grouping key of the aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub scenario: Scenario,
    /// Advert interval in centiseconds.
    pub advert_cs: u32,
    pub version: Version,
    pub family: Family,
    pub daemon: Daemon,
}

impl Key {
    pub fn of(p: &DrillParams) -> Key {
        Key {
            scenario: p.scenario,
            advert_cs: (p.advert_int * 100.0).round() as u32,
            version: p.version,
            family: p.family,
            daemon: p.daemon,
        }
    }
}

/// p50 / p99 / max of one measure, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub count: u64,
}

impl Percentiles {
    pub fn ms3(&self) -> String {
        format!(
            "{}/{}/{}",
            ms(self.p50_us),
            ms(self.p99_us),
            ms(self.max_us)
        )
    }
}

struct Stats {
    gap: Histogram<u64>,
    /// Detection measured from the old master's last advert: what RFC 5798
    /// §6.4.2 bounds (Master_Down_Interval).
    gap_last: Histogram<u64>,
    /// Master_Down_Interval of the node that took over, in µs.
    rfc_us: Option<u64>,
    outage: Histogram<u64>,
    lost: Histogram<u64>,
    runs: u64,
    no_new_master: u64,
    unrecovered: u64,
    errors: u64,
}

/// Summary of all runs under one [`Key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub runs: u64,
    pub errors: u64,
    pub no_new_master: u64,
    pub unrecovered: u64,
    pub gap: Option<Percentiles>,
    pub outage: Option<Percentiles>,
    pub lost: Option<Percentiles>,
}

/// hdrhistograms of detection gap, client outage and lost probes per key.
#[derive(Default)]
pub struct Aggregate {
    map: BTreeMap<Key, Stats>,
}

fn histogram() -> Result<Histogram<u64>> {
    // 1 µs .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| Error::Invalid(e.to_string()))
}

fn percentiles(h: &Histogram<u64>) -> Option<Percentiles> {
    (!h.is_empty()).then(|| Percentiles {
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
        max_us: h.max(),
        count: h.len(),
    })
}

impl Aggregate {
    fn stats(&mut self, key: Key) -> Result<&mut Stats> {
        use std::collections::btree_map::Entry;
        Ok(match self.map.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Stats {
                gap: histogram()?,
                gap_last: histogram()?,
                rfc_us: None,
                outage: histogram()?,
                lost: histogram()?,
                runs: 0,
                no_new_master: 0,
                unrecovered: 0,
                errors: 0,
            }),
        })
    }

    pub fn add(&mut self, r: &DrillResult) -> Result<()> {
        let s = self.stats(Key::of(&r.params))?;
        s.runs += 1;
        match &r.detection {
            // Clamp to 1 µs: the histogram's lowest trackable value.
            Some(d) => {
                record(&mut s.gap, d.gap_from_fault_us)?;
                if let Some(g) = d.gap_from_last_advert_us {
                    record(&mut s.gap_last, g)?;
                }
                let prio = d
                    .new_master
                    .strip_prefix('n')
                    .and_then(|n| n.parse::<usize>().ok())
                    .map(|n| r.params.priority(n));
                if let Some(p) = prio {
                    s.rfc_us = Some(master_down_interval_us(r.params.advert_int, p));
                }
            }
            None => s.no_new_master += 1,
        }
        if r.unrecovered() {
            s.unrecovered += 1;
        }
        record(&mut s.outage, r.outage_us())?;
        record(&mut s.lost, r.probe.lost)?;
        Ok(())
    }

    /// Counts a drill that could not run to the end.
    pub fn add_error(&mut self, p: &DrillParams) -> Result<()> {
        let s = self.stats(Key::of(p))?;
        s.runs += 1;
        s.errors += 1;
        Ok(())
    }

    pub fn keys(&self) -> Vec<Key> {
        self.map.keys().copied().collect()
    }

    pub fn summary(&self, key: &Key) -> Option<Summary> {
        let s = self.map.get(key)?;
        Some(Summary {
            runs: s.runs,
            errors: s.errors,
            no_new_master: s.no_new_master,
            unrecovered: s.unrecovered,
            gap: percentiles(&s.gap),
            outage: percentiles(&s.outage),
            lost: percentiles(&s.lost),
        })
    }

    /// One line per key: gap and outage p50/p99/max in ms, lost probes.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:<20} {:>3} {:<4} {:>7} {:>4}  {:<26} {:<26} {:<12} problems",
            "daemon",
            "scenario",
            "ver",
            "fam",
            "advert",
            "runs",
            "gap p50/p99/max ms",
            "outage p50/p99/max ms",
            "lost p50/max",
        );
        for key in self.keys() {
            let Some(s) = self.summary(&key) else {
                continue;
            };
            let dash = || "-".to_string();
            let _ = writeln!(
                out,
                "{:<10} {:<20} {:>3} {:<4} {:>6}s {:>4}  {:<26} {:<26} {:<12} {}",
                key.daemon.name(),
                key.scenario.name(),
                key.version.number(),
                key.family.label(),
                key.advert_cs as f64 / 100.0,
                s.runs,
                s.gap.map_or_else(dash, |p| p.ms3()),
                s.outage.map_or_else(dash, |p| p.ms3()),
                s.lost
                    .map_or_else(dash, |p| format!("{}/{}", p.p50_us, p.max_us)),
                problems(&s),
            );
        }
        out
    }
}

/// RFC 5798 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval +
/// Skew_Time, Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256.
pub fn master_down_interval_us(advert_s: f64, priority: u8) -> u64 {
    let adv_us = advert_s * 1e6;
    (3.0 * adv_us + (256.0 - f64::from(priority)) * adv_us / 256.0).round() as u64
}

impl Aggregate {
    /// Crash detection against the RFC: the gap from the old master's last
    /// advert to the new master's first, next to Master_Down_Interval of the
    /// node that took over. Only scenarios where the master goes silent.
    pub fn rfc_report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:<12} {:>3} {:>7} {:>4}  {:<28} {:>10}  {:>16}",
            "daemon",
            "scenario",
            "ver",
            "advert",
            "runs",
            "after last advert p50/max ms",
            "RFC ms",
            "max - RFC ms",
        );
        for (key, s) in &self.map {
            if !matches!(
                key.scenario,
                Scenario::Kill | Scenario::LinkDown | Scenario::Partition
            ) {
                continue;
            }
            let (Some(rfc), false) = (s.rfc_us, s.gap_last.is_empty()) else {
                continue;
            };
            let p50 = s.gap_last.value_at_quantile(0.5);
            let max = s.gap_last.max();
            let _ = writeln!(
                out,
                "{:<10} {:<12} {:>3} {:>6}s {:>4}  {:<28} {:>10.3}  {:>+16.3}",
                key.daemon.name(),
                key.scenario.name(),
                key.version.number(),
                key.advert_cs as f64 / 100.0,
                s.gap_last.len(),
                format!("{:.3}/{:.3}", p50 as f64 / 1000.0, max as f64 / 1000.0),
                rfc as f64 / 1000.0,
                (max as f64 - rfc as f64) / 1000.0,
            );
        }
        out
    }
}

fn record(h: &mut Histogram<u64>, v: u64) -> Result<()> {
    h.record(v.max(1))
        .map_err(|e| Error::Invalid(e.to_string()))
}

fn problems(s: &Summary) -> String {
    let mut p = Vec::new();
    if s.errors > 0 {
        p.push(format!("{} errors", s.errors));
    }
    if s.no_new_master > 0 {
        p.push(format!("{} without new master", s.no_new_master));
    }
    if s.unrecovered > 0 {
        p.push(format!("{} unrecovered", s.unrecovered));
    }
    if p.is_empty() {
        "none".into()
    } else {
        p.join(", ")
    }
}

/// Memory and CPU of the master (n1) and one backup (n2) with `instances`
/// VRRP instances (VRID 1..=instances, one VIP each, advert 1 s, VRRPv3).
#[derive(Debug, Clone, Copy)]
pub struct ResourceSample {
    pub instances: usize,
    pub master: Usage,
    pub backup: Usage,
}

/// Starts `daemon` on two nodes with `instances` instances, waits until n1
/// holds every VIP, then measures both daemons over `window`.
pub fn measure_resources(
    daemon: Daemon,
    family: Family,
    instances: usize,
    window: Duration,
    topology: &TopologyOptions,
) -> Result<ResourceSample> {
    if instances == 0 || instances > 255 {
        return Err(Error::Invalid(format!("{instances} instances (1..=255)")));
    }
    let topo = Topology::with_options(TopologyOptions {
        nodes: 2,
        ..topology.clone()
    })?;
    let r = (|| {
        let conf = |node: usize, prio: u8| {
            let list = (0..instances)
                .map(|i| {
                    Instance::new((i + 1) as u8, prio, Version::V3, family, 1.0)
                        .with_vips(vec![config::vip(family, i)])
                })
                .collect();
            KeepalivedConf::new(format!("n{node}"), list)
        };
        topo.start(Node(1), daemon, &conf(1, 150))?;
        topo.start(Node(2), daemon, &conf(2, 100))?;
        let want: Vec<IpAddr> = (0..instances).map(|i| config::vip(family, i).0).collect();
        topo.wait_until("all VIPs on n1", Duration::from_secs(60), || {
            topo.check_daemon_alive(Node(1))?;
            topo.check_daemon_alive(Node(2))?;
            let have = topo.addresses(Node(1))?;
            Ok(want.iter().all(|v| have.contains(v)))
        })?;
        let (m, b) = (topo.daemon_pids(Node(1)), topo.daemon_pids(Node(2)));
        let (master, backup) = std::thread::scope(|s| {
            let hm = s.spawn(|| resources::measure(&m, window));
            let hb = s.spawn(|| resources::measure(&b, window));
            (
                hm.join()
                    .unwrap_or_else(|_| Err(Error::Invalid("measure thread panicked".into()))),
                hb.join()
                    .unwrap_or_else(|_| Err(Error::Invalid("measure thread panicked".into()))),
            )
        });
        Ok(ResourceSample {
            instances,
            master: master?,
            backup: backup?,
        })
    })();
    if r.is_err() {
        topo.keep_logs();
    }
    r
}

/// CPU and memory of one daemon's processes over a window, RSS sampled
/// along the way so both the steady level and the peak are known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowUsage {
    /// utime + stime of all the processes during the window, as a
    /// percentage of one core.
    pub cpu_pct: f64,
    /// Mean over the samples of the RSS summed over the processes.
    pub rss_steady_kib: u64,
    /// The largest of the sampled sums and of the sum of each process's
    /// own peak (`VmHWM`, which includes start-up and config loading).
    pub rss_peak_kib: u64,
    /// At the end of the window: anonymous RSS (heap, stacks; `RssAnon`)
    /// summed over the processes. The rest of RSS is file pages (the
    /// binary's text, shared libraries).
    pub anon_kib: u64,
    /// At the end of the window: proportional set size (`Pss` of
    /// `smaps_rollup`) summed over the processes, where a page shared by k
    /// processes counts 1/k: keepalived's parent and child share their text,
    /// which a plain RSS sum counts twice.
    pub pss_kib: u64,
    pub processes: usize,
    pub samples: usize,
}

/// Measures `pids` (a daemon and the children it forked) over `window`,
/// sampling RSS every `every`. Fails if one of them exits meanwhile: the
/// CPU it used would silently vanish from the sum.
pub fn measure_window(pids: &[i32], window: Duration, every: Duration) -> Result<WindowUsage> {
    if pids.is_empty() {
        return Err(Error::Invalid("no processes to measure".into()));
    }
    let every = every.max(Duration::from_millis(10));
    let rss_sum = || {
        pids.iter()
            .map(|p| resources::rss_kib(*p))
            .sum::<Result<u64>>()
    };
    let before: u64 = pids
        .iter()
        .map(|p| resources::cpu_ticks(*p))
        .sum::<Result<u64>>()?;
    let start = std::time::Instant::now();
    let mut samples = vec![rss_sum()?];
    while start.elapsed() < window {
        std::thread::sleep(every.min(window.saturating_sub(start.elapsed())));
        samples.push(rss_sum()?);
    }
    let after: u64 = pids
        .iter()
        .map(|p| resources::cpu_ticks(*p))
        .sum::<Result<u64>>()?;
    let secs = start.elapsed().as_secs_f64();
    let hwm: u64 = pids.iter().map(|p| peak_rss_kib(*p)).sum::<Result<u64>>()?;
    let anon: u64 = pids
        .iter()
        .map(|p| proc_kib(&format!("/proc/{p}/status"), "RssAnon:"))
        .sum::<Result<u64>>()?;
    let pss: u64 = pids
        .iter()
        .map(|p| proc_kib(&format!("/proc/{p}/smaps_rollup"), "Pss:"))
        .sum::<Result<u64>>()?;
    let steady = samples.iter().sum::<u64>() / samples.len() as u64;
    let sampled_peak = samples.iter().copied().max().unwrap_or(0);
    Ok(WindowUsage {
        cpu_pct: after.saturating_sub(before) as f64 / resources::ticks_per_sec() as f64 / secs
            * 100.0,
        rss_steady_kib: steady,
        rss_peak_kib: hwm.max(sampled_peak),
        anon_kib: anon,
        pss_kib: pss,
        processes: pids.len(),
        samples: samples.len(),
    })
}

/// Peak resident set size in KiB (`VmHWM` of `/proc/PID/status`).
pub fn peak_rss_kib(pid: i32) -> Result<u64> {
    proc_kib(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// The number of the line starting with `key` in a `/proc` file of
/// `key value kB` lines.
fn proc_kib(path: &str, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("read {path}"), e))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::parse(path, format!("no {key} line")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn measures_a_window_of_our_own_process() {
        let me = std::process::id() as i32;
        let u =
            measure_window(&[me], Duration::from_millis(60), Duration::from_millis(20)).unwrap();
        assert!(u.samples >= 3, "{u:?}");
        assert!(
            u.rss_steady_kib > 0 && u.rss_peak_kib >= u.rss_steady_kib,
            "{u:?}"
        );
        assert_eq!(u.processes, 1);
        assert!(measure_window(&[], Duration::ZERO, Duration::ZERO).is_err());
    }

    #[test]
    fn master_down_interval_matches_rfc_examples() {
        // Priority 100 at 1 s: 3 s + 156/256 s.
        assert_eq!(master_down_interval_us(1.0, 100), 3_609_375);
        // Priority 110 at 10 ms: 30 ms + 146 × 10 / 256 ms.
        assert_eq!(master_down_interval_us(0.01, 110), 35_703);
    }

    #[test]
    fn invalid_combinations_are_named() {
        let p = |v, f, a| DrillParams::new(Daemon::Keepalived, Scenario::Kill, v, f, a);
        assert!(p(Version::V2, Family::V6, 1.0).invalid_reason().is_some());
        assert!(p(Version::V2, Family::V4, 0.1).invalid_reason().is_some());
        assert!(p(Version::V3, Family::V6, 0.01).invalid_reason().is_none());
        assert!(p(Version::V2, Family::V4, 1.0).invalid_reason().is_none());
    }

    #[test]
    fn priorities_descend_from_n1() {
        let p = DrillParams::new(Daemon::Vrrpd, Scenario::Kill, Version::V3, Family::V4, 1.0);
        assert_eq!(
            (p.priority(1), p.priority(2), p.priority(3)),
            (120, 110, 100)
        );
    }

    #[test]
    fn scenario_names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
        }
        assert!("nope".parse::<Scenario>().is_err());
    }
}
