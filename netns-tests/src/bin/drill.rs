//! Failover drills: `cargo run --release -p netns-tests --bin drill`.
//!
//! Default: 3 nodes, VRRPv2 / IPv4 / advert 1 s, every scenario once, with
//! our vrrpd; `--daemon keepalived` runs the same drills against keepalived.

use anyhow::{Context, Result};
use clap::Parser;
use netns_tests::drill::{run_drill, Aggregate, DrillParams, Scenario};
use netns_tests::topology::DEFAULT_PREFIX;
use netns_tests::{cleanup_stale, Daemon, Family, TopologyOptions, Version};

#[derive(Parser)]
#[command(about = "VRRP failover drills in network namespaces")]
struct Cli {
    /// vrrpd or keepalived.
    #[arg(long, default_value = "vrrpd")]
    daemon: Daemon,
    /// Scenarios (comma-separated): kill, term, link-down, partition,
    /// restart-higher-prio. Default: all.
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// Advert intervals in seconds (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    advert_int: Vec<f64>,
    /// VRRP versions (comma-separated): 2, 3.
    #[arg(long = "vrrp-version", value_delimiter = ',', default_value = "2")]
    vrrp_version: Vec<Version>,
    /// Address families (comma-separated): ipv4, ipv6.
    #[arg(long, value_delimiter = ',', default_value = "ipv4")]
    family: Vec<Family>,
    #[arg(long, default_value_t = 1)]
    repeats: u32,
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Keep every drill's log directory (configs, daemon output, records).
    #[arg(long)]
    keep_logs: bool,
    /// Only the aggregate table, no per-drill timelines.
    #[arg(long)]
    quiet: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    netns_tests::registry::install_interrupt_cleanup()?;
    let removed = cleanup_stale(DEFAULT_PREFIX)?;
    if !removed.is_empty() {
        eprintln!("removed {} stale namespaces of dead runs", removed.len());
    }
    let daemon = cli.daemon;
    daemon
        .binary()
        .with_context(|| format!("cannot run drills with {}", daemon.name()))?;
    let scenarios: Vec<Scenario> = if cli.scenario.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        cli.scenario.clone()
    };
    let (versions, families) = (cli.vrrp_version.clone(), cli.family.clone());

    let mut agg = Aggregate::default();
    let mut failures = 0;
    for &family in &families {
        for &version in &versions {
            for &advert in &cli.advert_int {
                for &scenario in &scenarios {
                    let mut p = DrillParams::new(daemon, scenario, version, family, advert);
                    p.nodes = cli.nodes;
                    p.topology = TopologyOptions {
                        keep_logs: cli.keep_logs,
                        ..TopologyOptions::default()
                    };
                    if let Some(why) = p.invalid_reason() {
                        eprintln!("skip [{}]: {why}", p.label());
                        continue;
                    }
                    for _ in 0..cli.repeats {
                        match run_drill(&p) {
                            Ok(r) => {
                                if !cli.quiet {
                                    println!("{}", r.timeline());
                                }
                                agg.add(&r)?;
                            }
                            Err(e) => {
                                failures += 1;
                                eprintln!("drill [{}] failed: {e}", p.label());
                                agg.add_error(&p)?;
                            }
                        }
                    }
                }
            }
        }
    }
    println!();
    print!("{}", agg.report());
    print!("\n{}", agg.rfc_report());
    if failures > 0 {
        // A plain message and exit code; no backtrace for an expected outcome.
        eprintln!("{failures} drills failed to run (their logs are kept, see above)");
        std::process::exit(1);
    }
    Ok(())
}
