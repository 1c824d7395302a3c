//! vrrpd and keepalived side by side: the same drills per scenario and
//! advert interval (detection gap and client outage p50/p99/max, ratio
//! vrrpd / keepalived), then RSS and CPU of each daemon with 1 and 250
//! instances.

use anyhow::{bail, Result};
use clap::Parser;
use netns_tests::drill::{
    measure_resources, run_drill, Aggregate, DrillParams, Key, Scenario, Summary,
};
use netns_tests::topology::DEFAULT_PREFIX;
use netns_tests::{cleanup_stale, Daemon, Family, TopologyOptions, Version};
use std::time::Duration;

#[derive(Parser)]
#[command(about = "vrrpd vs keepalived: failover drills and resource use")]
struct Cli {
    /// Daemons to compare (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "vrrpd,keepalived")]
    daemons: Vec<Daemon>,
    /// Scenarios (comma-separated). Default: all.
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// Advert interval and VRRP version pairs, `seconds:version`.
    #[arg(long, value_delimiter = ',', default_value = "1:2,0.1:3,0.01:3")]
    intervals: Vec<String>,
    #[arg(long, default_value = "ipv4")]
    family: Family,
    #[arg(long, default_value_t = 3)]
    repeats: u32,
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Instance counts for the resource measurement (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,250")]
    instances: Vec<usize>,
    /// Resource measurement window in seconds.
    #[arg(long, default_value_t = 10)]
    window_s: u64,
    #[arg(long)]
    no_drills: bool,
    #[arg(long)]
    no_resources: bool,
    #[arg(long)]
    keep_logs: bool,
}

fn parse_interval(s: &str) -> Result<(f64, Version)> {
    let Some((secs, ver)) = s.split_once(':') else {
        bail!("interval {s:?}: expected seconds:version, e.g. 0.1:3");
    };
    Ok((secs.parse()?, ver.parse()?))
}

/// vrrpd / keepalived; below 1 ms both are "no outage" (the histogram
/// floor is 1 µs), so a ratio would be noise.
fn ratio(a: Option<u64>, b: Option<u64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a < 1000 && b < 1000 => "=0".into(),
        (Some(a), Some(b)) if b >= 1000 => format!("{:.2}", a as f64 / b as f64),
        _ => "n/a".into(),
    }
}

fn cell(
    s: Option<&Summary>,
    pick: fn(&Summary) -> Option<netns_tests::drill::Percentiles>,
) -> String {
    match s.and_then(pick) {
        Some(p) => p.ms3(),
        None => "-".into(),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    netns_tests::registry::install_interrupt_cleanup()?;
    cleanup_stale(DEFAULT_PREFIX)?;
    let mut daemons = Vec::new();
    for d in &cli.daemons {
        match d.binary() {
            Ok(_) => daemons.push(*d),
            Err(e) => eprintln!("{} not available, left out: {e}", d.name()),
        }
    }
    if daemons.is_empty() {
        bail!("no daemon to benchmark");
    }
    let topo_opts = TopologyOptions {
        keep_logs: cli.keep_logs,
        ..TopologyOptions::default()
    };
    let scenarios = if cli.scenario.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        cli.scenario.clone()
    };
    let intervals: Vec<(f64, Version)> = cli
        .intervals
        .iter()
        .map(|s| parse_interval(s))
        .collect::<Result<_>>()?;

    if !cli.no_drills {
        let mut agg = Aggregate::default();
        for &(adv, version) in &intervals {
            for &scenario in &scenarios {
                for _ in 0..cli.repeats {
                    // Interleave the daemons so slow drift of the machine
                    // affects both alike.
                    for &daemon in &daemons {
                        let mut p = DrillParams::new(daemon, scenario, version, cli.family, adv);
                        p.nodes = cli.nodes;
                        p.topology = topo_opts.clone();
                        if let Some(why) = p.invalid_reason() {
                            bail!("[{}]: {why}", p.label());
                        }
                        match run_drill(&p) {
                            Ok(r) => {
                                eprintln!("{}", r.timeline());
                                agg.add(&r)?;
                            }
                            Err(e) => {
                                eprintln!("drill [{}] failed: {e}", p.label());
                                agg.add_error(&p)?;
                            }
                        }
                    }
                }
            }
        }
        println!("{}", agg.report());
        println!("{}", agg.rfc_report());
        println!(
            "{:<20} {:>7} {:>3}  {:<24} {:<24} {:>6}  {:<24} {:<24} {:>6}",
            "scenario",
            "advert",
            "ver",
            "vrrpd gap ms",
            "keepalived gap ms",
            "ratio",
            "vrrpd outage ms",
            "keepalived outage ms",
            "ratio"
        );
        for &(adv, version) in &intervals {
            for &scenario in &scenarios {
                let key = |daemon| Key {
                    scenario,
                    advert_cs: (adv * 100.0).round() as u32,
                    version,
                    family: cli.family,
                    daemon,
                };
                let v = agg.summary(&key(Daemon::Vrrpd));
                let k = agg.summary(&key(Daemon::Keepalived));
                let p50 = |s: Option<&Summary>, f: fn(&Summary) -> Option<netns_tests::drill::Percentiles>| {
                    s.and_then(f).map(|p| p.p50_us)
                };
                let gap = |s: &Summary| s.gap;
                let outage = |s: &Summary| s.outage;
                println!(
                    "{:<20} {:>6}s {:>3}  {:<24} {:<24} {:>6}  {:<24} {:<24} {:>6}",
                    scenario.name(),
                    adv,
                    version.number(),
                    cell(v.as_ref(), gap),
                    cell(k.as_ref(), gap),
                    ratio(p50(v.as_ref(), gap), p50(k.as_ref(), gap)),
                    cell(v.as_ref(), outage),
                    cell(k.as_ref(), outage),
                    ratio(p50(v.as_ref(), outage), p50(k.as_ref(), outage)),
                );
            }
        }
        println!("(p50/p99/max; ratio = vrrpd p50 / keepalived p50, lower is better for vrrpd; =0: both under 1 ms; n/a: keepalived under 1 ms or missing)");
        println!();
    }

    if !cli.no_resources {
        println!(
            "{:<10} {:>9}  {:>14} {:>11}  {:>14} {:>11}  {:>5}",
            "daemon",
            "instances",
            "master RSS KiB",
            "master CPU%",
            "backup RSS KiB",
            "backup CPU%",
            "procs"
        );
        for &daemon in &daemons {
            for &n in &cli.instances {
                match measure_resources(
                    daemon,
                    cli.family,
                    n,
                    Duration::from_secs(cli.window_s),
                    &topo_opts,
                ) {
                    Ok(s) => println!(
                        "{:<10} {:>9}  {:>14} {:>11.2}  {:>14} {:>11.2}  {:>5}",
                        daemon.name(),
                        n,
                        s.master.rss_kib,
                        s.master.cpu_pct,
                        s.backup.rss_kib,
                        s.backup.cpu_pct,
                        s.master.processes
                    ),
                    Err(e) => println!("{:<10} {:>9}  failed: {e}", daemon.name(), n),
                }
            }
        }
        println!("(CPU% of one core over {} s, advert 1 s VRRPv3; RSS summed over the daemon's processes)", cli.window_s);
    }
    Ok(())
}
