//! Logging set-up.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// How much to log, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Normal,
    /// keepalived's `-D` (detailed) or our `-v`.
    Detailed,
}

/// Log to stderr. `RUST_LOG` overrides the level if set, so an operator can
/// turn on one module without restarting with other flags.
pub fn init(verbosity: Verbosity) {
    let default = match verbosity {
        Verbosity::Normal => "info",
        Verbosity::Detailed => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // When stderr goes to the journal, the journal adds its own timestamps;
    // keep ours anyway: drills compare them with packet captures.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
