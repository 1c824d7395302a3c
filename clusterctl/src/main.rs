//! `clusterctl`: the suite's command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "clusterctl", version, about = "Command line of the HA suite")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the VRRP instances of a running vrrpd.
    Status {
        /// vrrpd's control socket (vrrpd's default: its pid file with .sock).
        #[arg(long, default_value = "/run/vrrpd/vrrpd.sock")]
        socket: PathBuf,
        /// Print the daemon's JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match cli.command {
        Command::Status { socket, json } => {
            let answer = rt
                .block_on(daemon::control::query(&socket, "status"))
                .with_context(|| "is vrrpd running? (see --socket)".to_string())?;
            if json {
                print!("{answer}");
            } else {
                let doc: serde_json::Value =
                    serde_json::from_str(&answer).context("vrrpd's answer is not JSON")?;
                print!("{}", clusterctl::status::render(&doc));
            }
        }
    }
    Ok(())
}
