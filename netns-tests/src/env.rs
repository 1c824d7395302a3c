//! Test preconditions: in CI (`CI=true`) a missing precondition is a
//! failure; elsewhere the test prints why and skips.

use crate::daemon::Daemon;
use std::io::Write as _;
use std::path::PathBuf;

/// True when `CI=true` (any case) is set.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Panics in CI, prints "SKIP" otherwise; the caller then returns.
pub fn skip_or_fail(test: &str, reason: &str) {
    assert!(!in_ci(), "{test}: cannot run in CI: {reason}");
    // Written to the stderr handle directly: libtest captures `eprintln!`
    // of passing tests, and a skip must be visible.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

/// Why namespaces cannot be used here, if they cannot.
pub fn netns_unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to create network namespaces".into());
    }
    match std::process::Command::new("ip")
        .arg("netns")
        .arg("list")
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns list` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run `ip` (iproute2): {e}")),
    }
}

/// True if namespaces work; otherwise fails in CI or prints a skip reason.
pub fn require_netns(test: &str) -> bool {
    match netns_unavailable() {
        None => true,
        Some(reason) => {
            skip_or_fail(test, &reason);
            false
        }
    }
}

/// The daemon's binary if namespaces work and the binary exists; otherwise
/// fails in CI or prints a skip reason and returns `None`.
pub fn require_daemon(test: &str, daemon: Daemon) -> Option<PathBuf> {
    if !require_netns(test) {
        return None;
    }
    match daemon.binary() {
        Ok(p) => Some(p),
        Err(e) => {
            skip_or_fail(test, &e.to_string());
            None
        }
    }
}
