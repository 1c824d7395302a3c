//! systemd readiness notification (`Type=notify`).
//!
//! All calls are no-ops when the daemon was not started by systemd
//! (`NOTIFY_SOCKET` unset), so the daemon behaves the same by hand.

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("sd_notify failed: {e}");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// How often to ping systemd's watchdog: half of `WatchdogSec`, so one late
/// ping is not yet a kill. `None` when the watchdog is off.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// Tell systemd the main loop is alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}
