//! Scale benchmark: vrrpd and keepalived side by side with 1,000 instances
//! (4 interfaces × 250 VRIDs by default) at each advert interval; prints CPU,
//! RSS and advert send jitter (hdrhistogram percentiles) per daemon, the
//! ratios vrrpd / keepalived from the same run, and whether the goals are
//! met (CPU and RSS at most half of keepalived's, jitter p99 under 1 ms).
//! See `netns_tests::scale` for what is measured and how.

use anyhow::{bail, Result};
use clap::Parser;
use netns_tests::scale::{run_scale, LoadAvg, ScaleParams, ScaleResult};
use netns_tests::topology::DEFAULT_PREFIX;
use netns_tests::{cleanup_stale, Daemon, TopologyOptions, Version};
use std::time::Duration;

#[derive(Parser)]
#[command(about = "vrrpd vs keepalived with 1,000 instances: CPU, RSS, advert jitter")]
struct Cli {
    /// Daemons to compare (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "vrrpd,keepalived")]
    daemons: Vec<Daemon>,
    /// Advert interval and VRRP version pairs, `seconds:version`.
    #[arg(long, value_delimiter = ',', default_value = "1:3,0.1:3")]
    intervals: Vec<String>,
    /// Interfaces per node: links 0-2 carry IPv4 instances, later ones IPv6.
    #[arg(long, default_value_t = 4)]
    links: usize,
    /// Instances (VRIDs) per interface.
    #[arg(long, default_value_t = 250)]
    vrids: usize,
    /// Measurement window in seconds.
    #[arg(long, default_value_t = 30)]
    window_s: u64,
    /// Wait after the backup started, before measuring, in seconds (past
    /// the delayed GARP round 5 s after becoming master).
    #[arg(long, default_value_t = 8)]
    settle_s: u64,
    /// Runs per daemon and interval (daemons interleaved).
    #[arg(long, default_value_t = 1)]
    repeats: u32,
    #[arg(long)]
    keep_logs: bool,
    /// Run both daemons (every process and thread) under SCHED_RR at this
    /// priority, as deployed (vrrpd.service: rr 10; keepalived:
    /// vrrp_rt_priority). Default: normal scheduling.
    #[arg(long)]
    rt_priority: Option<u8>,
    /// Leave the receive side (switch, peer, capture) in the sender's
    /// system call, billed to the sending daemon, as veth does by default.
    /// Default: every veth polls in its own NAPI thread (column `napi`).
    #[arg(long)]
    no_threaded_napi: bool,
}

fn parse_interval(s: &str) -> Result<(f64, Version)> {
    let Some((secs, ver)) = s.split_once(':') else {
        bail!("interval {s:?}: expected seconds:version, e.g. 0.1:3");
    };
    Ok((secs.parse()?, ver.parse()?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn row(r: &ScaleResult) -> String {
    let j = &r.jitter;
    format!(
        "{:<10} {:>5}s v{} {:>5}  {:>6.2} {:>6.2} {:>6.2} {:>6.2}  {:>7.1} {:>7.1}  {:>7.1} {:>7.1}  {:>7} {:>7} {:>7} {:>8}  {:>8.1}  {:>7}/{:<7} {:>6} {:>7}  {:>5.1}s  {}",
        r.daemon.name(),
        r.advert_int,
        r.version.number(),
        r.instances,
        r.master.cpu_pct,
        r.backup.cpu_pct,
        r.ksoftirqd_cpu_pct,
        r.napi_cpu_pct,
        mib(r.master.rss_steady_kib),
        mib(r.master.rss_peak_kib),
        mib(r.backup.rss_steady_kib),
        mib(r.backup.rss_peak_kib),
        j.p50_us,
        j.p99_us,
        j.p999_us,
        j.max_us,
        j.mean_error_us,
        j.seen,
        j.expected,
        j.missed,
        j.foreign,
        r.converge.as_secs_f64(),
        r.load_start,
    ) + if j.kernel_clock {
        ""
    } else {
        " (jitter on the capture's clock: no kernel timestamps)"
    }
}

fn header() -> String {
    format!(
        "{:<10} {:>6} {:>2} {:>5}  {:>6} {:>6} {:>6} {:>6}  {:>7} {:>7}  {:>7} {:>7}  {:>7} {:>7} {:>7} {:>8}  {:>8}  {:>15} {:>6} {:>7}  {:>6}  {}",
        "daemon",
        "advert",
        "v",
        "inst",
        "CPU%m",
        "CPU%b",
        "sirqd",
        "napi",
        "RSSm",
        "peak",
        "RSSb",
        "peak",
        "jit p50",
        "p99",
        "p99.9",
        "max",
        "mean err",
        "seen/expected",
        "missed",
        "foreign",
        "conv",
        "load at start (1 5 15 min)"
    )
}

/// Mean of a field over the runs of one daemon and interval.
fn mean(rs: &[&ScaleResult], f: impl Fn(&ScaleResult) -> f64) -> Option<f64> {
    if rs.is_empty() {
        None
    } else {
        Some(rs.iter().map(|r| f(r)).sum::<f64>() / rs.len() as f64)
    }
}

fn ratio(v: Option<f64>, k: Option<f64>) -> Option<f64> {
    match (v, k) {
        (Some(v), Some(k)) if k > 0.0 => Some(v / k),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}"))
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "n/a",
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    netns_tests::registry::install_interrupt_cleanup()?;
    cleanup_stale(DEFAULT_PREFIX)?;
    let mut daemons = Vec::new();
    for d in &cli.daemons {
        match d.binary() {
            Ok(path) => {
                eprintln!("{}: {}", d.name(), path.display());
                daemons.push(*d);
            }
            Err(e) => eprintln!("{} not available, left out: {e}", d.name()),
        }
    }
    if daemons.is_empty() {
        bail!("no daemon to benchmark");
    }
    let intervals: Vec<(f64, Version)> = cli
        .intervals
        .iter()
        .map(|s| parse_interval(s))
        .collect::<Result<_>>()?;
    let topology = TopologyOptions {
        keep_logs: cli.keep_logs,
        ..TopologyOptions::default()
    };
    let params = |daemon, adv, version| {
        let mut p = ScaleParams::new(daemon, adv, version);
        p.links = cli.links;
        p.vrids_per_link = cli.vrids;
        p.window = Duration::from_secs(cli.window_s);
        p.settle = Duration::from_secs(cli.settle_s);
        p.topology = topology.clone();
        p.rt_priority = cli.rt_priority;
        p.threaded_napi = !cli.no_threaded_napi;
        p
    };
    for &(adv, version) in &intervals {
        if let Some(why) = params(Daemon::Vrrpd, adv, version).invalid_reason() {
            bail!("{adv} s VRRPv{}: {why}", version.number());
        }
    }
    let load = LoadAvg::read()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "scale benchmark: {} links x {} VRIDs = {} instances per node, window {} s; load average at start {load} on {cores} cores; scheduling: {}; receive side: {}",
        cli.links,
        cli.vrids,
        cli.links * cli.vrids,
        cli.window_s,
        cli.rt_priority
            .map_or_else(|| "normal".to_string(), |p| format!("SCHED_RR {p} (both daemons)")),
        if cli.no_threaded_napi {
            "in the sender's system call (billed to the sending daemon)"
        } else {
            "NAPI threads (column napi; SCHED_FIFO at the daemons' priority when they are real-time)"
        }
    );

    let mut results: Vec<ScaleResult> = Vec::new();
    let mut failures = 0;
    for &(adv, version) in &intervals {
        for _ in 0..cli.repeats {
            // Interleave the daemons so a slow drift of the shared machine
            // affects both alike.
            for &daemon in &daemons {
                let p = params(daemon, adv, version);
                eprintln!("running [{}] ...", p.label());
                match run_scale(&p) {
                    Ok(r) => {
                        eprintln!("{}", row(&r));
                        results.push(r);
                    }
                    Err(e) => {
                        failures += 1;
                        eprintln!("[{}] failed: {e}", p.label());
                    }
                }
            }
        }
    }

    println!();
    println!("{}", header());
    for r in &results {
        println!("{}", row(r));
    }
    println!(
        "(CPU%: utime+stime of all the daemon's processes over the window, % of one core, m = master n1, b = backup n2; sirqd: ksoftirqd threads machine-wide (softirq work not counted in the daemons' CPU); \
napi: the veths' NAPI threads (the receive side: switch, peer node, capture; without threaded NAPI it runs in the sender's system call and counts as the sender's CPU); \
RSS MiB summed over the processes: steady = mean of 1 s samples, peak = max(sampled, sum of VmHWM); \
jitter: |interval - nominal| of consecutive adverts of each instance, µs, kernel timestamps where the master's frames enter the switch; \
mean err: mean signed interval - nominal, µs; missed: adverts lost in gaps plus silent instances; foreign: adverts not from the master's instances; \
conv: start of n1 until it held every VIP)"
    );
    println!();
    println!(
        "{:<10} {:>6} {:>2}  {:>8} {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8} {:>8}  {:>9}",
        "memory",
        "advert",
        "v",
        "RSSm",
        "anon m",
        "file m",
        "PSSm",
        "RSSb",
        "anon b",
        "file b",
        "PSSb",
        "procs m/b"
    );
    for r in &results {
        let (m, b) = (&r.master, &r.backup);
        println!(
            "{:<10} {:>5}s v{}  {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {}/{}",
            r.daemon.name(),
            r.advert_int,
            r.version.number(),
            mib(m.rss_steady_kib),
            mib(m.anon_kib),
            mib(m.rss_steady_kib.saturating_sub(m.anon_kib)),
            mib(m.pss_kib),
            mib(b.rss_steady_kib),
            mib(b.anon_kib),
            mib(b.rss_steady_kib.saturating_sub(b.anon_kib)),
            mib(b.pss_kib),
            m.processes,
            b.processes
        );
    }
    println!("(MiB; anon = RssAnon (heap, stacks), file = RSS - anon (binary text, libraries), PSS = shared pages divided among their users, at the end of the window)");
    println!();
    for &(adv, version) in &intervals {
        let of = |d: Daemon| -> Vec<&ScaleResult> {
            results
                .iter()
                .filter(|r| r.daemon == d && r.advert_int == adv && r.version == version)
                .collect()
        };
        let (v, k) = (of(Daemon::Vrrpd), of(Daemon::Keepalived));
        let cpu_m = ratio(
            mean(&v, |r| r.master.cpu_pct),
            mean(&k, |r| r.master.cpu_pct),
        );
        let cpu_b = ratio(
            mean(&v, |r| r.backup.cpu_pct),
            mean(&k, |r| r.backup.cpu_pct),
        );
        let rss_m = ratio(
            mean(&v, |r| r.master.rss_steady_kib as f64),
            mean(&k, |r| r.master.rss_steady_kib as f64),
        );
        let rss_b = ratio(
            mean(&v, |r| r.backup.rss_steady_kib as f64),
            mean(&k, |r| r.backup.rss_steady_kib as f64),
        );
        let peak_m = ratio(
            mean(&v, |r| r.master.rss_peak_kib as f64),
            mean(&k, |r| r.master.rss_peak_kib as f64),
        );
        let worst_p99 = v.iter().map(|r| r.jitter.p99_us).max();
        let missed: u64 = v.iter().map(|r| r.jitter.missed).sum();
        println!(
            "{adv} s VRRPv{}: vrrpd/keepalived CPU master {} backup {}; RSS steady master {} backup {}, peak master {}; vrrpd jitter p99 {} µs",
            version.number(),
            fmt_ratio(cpu_m),
            fmt_ratio(cpu_b),
            fmt_ratio(rss_m),
            fmt_ratio(rss_b),
            fmt_ratio(peak_m),
            worst_p99.map_or_else(|| "n/a".to_string(), |p| p.to_string()),
        );
        let le_half = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a <= 0.5 && b <= 0.5),
            _ => None,
        };
        println!(
            "  goals: CPU <= 0.5 x keepalived: {}; RSS <= 0.5 x keepalived: {}; jitter p99 < 1 ms: {}{}",
            verdict(le_half(cpu_m, cpu_b)),
            verdict(le_half(rss_m, rss_b)),
            verdict(worst_p99.map(|p| p < 1000)),
            if missed > 0 {
                format!(" (vrrpd missed {missed} adverts)")
            } else {
                String::new()
            }
        );
    }
    println!("load average at end {}", LoadAvg::read()?);
    if failures > 0 {
        bail!("{failures} run(s) failed");
    }
    Ok(())
}
