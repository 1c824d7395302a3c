//! Helper processes run inside namespaces by the harness:
//! `echo` (UDP responder on a node), `probe` (1 ms prober in the client),
//! `capture` (VRRP advert capture in the switch), `advert-times` (advert
//! send times for the scale benchmark).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use netns_tests::agent;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "netns-tests helper: echo responder, prober, advert capture")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Answer probes with this node's name.
    Echo {
        #[arg(long, default_value_t = 7)]
        port: u16,
        #[arg(long)]
        name: String,
    },
    /// Probe a target every interval and write one JSON line per probe.
    Probe {
        #[arg(long)]
        target: IpAddr,
        #[arg(long, default_value_t = 7)]
        port: u16,
        #[arg(long, default_value_t = 1000)]
        interval_us: u64,
        #[arg(long)]
        duration_ms: u64,
        /// Keep listening this long after the last probe.
        #[arg(long, default_value_t = 300)]
        grace_ms: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Answer HTTP requests with 200 and this name, until killed.
    HttpServe {
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long)]
        name: String,
    },
    /// Send COUNT `GET /` one after the other; print a JSON summary.
    HttpGet {
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long, default_value_t = 1)]
        count: u64,
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
    },
    /// Record VRRP adverts entering the switch until SIGTERM.
    Capture {
        #[arg(long)]
        out: PathBuf,
        /// Interfaces to ignore (the bridge device itself).
        #[arg(long)]
        exclude_if: Vec<String>,
    },
    /// Time every VRRP advert a node sends into the switch (scale bench):
    /// one compact line per advert, written when the run ends.
    AdvertTimes {
        #[arg(long)]
        out: PathBuf,
        /// Switch ports to listen on, in link order (repeat the flag).
        #[arg(long = "if", required = true)]
        ifaces: Vec<String>,
        /// Stop after this long (default: at SIGTERM).
        #[arg(long)]
        duration_ms: Option<u64>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Echo { port, name } => agent::echo(port, &name).context("echo"),
        Cmd::Probe {
            target,
            port,
            interval_us,
            duration_ms,
            grace_ms,
            out,
        } => {
            let records = agent::probe(&agent::ProbeParams {
                target,
                port,
                interval_us,
                duration_ms,
                grace_ms,
            })
            .context("probe")?;
            agent::write_records(&out, &records).context("write probe records")
        }
        Cmd::HttpServe { addr, name } => {
            netns_tests::http::serve(addr, &name).context("http-serve")
        }
        Cmd::HttpGet {
            addr,
            count,
            interval_ms,
        } => {
            let sum = netns_tests::http::get_many(
                addr,
                count,
                std::time::Duration::from_millis(interval_ms),
            );
            println!("{}", serde_json::to_string(&sum).context("summary")?);
            Ok(())
        }
        Cmd::Capture { out, exclude_if } => agent::capture(&out, &exclude_if).context("capture"),
        Cmd::AdvertTimes {
            out,
            ifaces,
            duration_ms,
        } => agent::advert_times(
            &out,
            &agent::AdvertTimesParams {
                ifaces,
                duration_ms,
            },
        )
        .context("advert-times"),
    }
}
