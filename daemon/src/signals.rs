//! The signals a daemon of the suite reacts to.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT: hand over and exit.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
    /// SIGUSR1: dump the running state (keepalived writes /tmp/keepalived.data).
    DumpState,
    /// SIGUSR2: dump statistics (keepalived writes /tmp/keepalived.stats).
    DumpStats,
}

/// Signal streams, registered once at start-up.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
}

impl Signals {
    /// Register the handlers. Must be called inside a tokio runtime.
    pub fn new() -> std::io::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// The next request. Cancel-safe: usable as a `tokio::select!` branch.
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop,
            _ = self.int.recv() => Request::Stop,
            _ = self.hup.recv() => Request::Reload,
            _ = self.usr1.recv() => Request::DumpState,
            _ = self.usr2.recv() => Request::DumpStats,
        }
    }
}
