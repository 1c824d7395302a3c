//! Process-wide list of live topologies, so that Ctrl-C (or SIGTERM) on a
//! drill binary still removes every namespace and process it created.
//!
//! `Drop` on [`crate::Topology`] is the normal path (it also runs while a
//! panic unwinds); this registry covers the paths where destructors never
//! run: a signal terminating the process.

use std::sync::Mutex;

struct Entry {
    id: String,
    dir: std::path::PathBuf,
    namespaces: Vec<String>,
    pgids: Vec<i32>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn with<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
    // A poisoned lock only means another thread panicked while holding it;
    // the list itself is still the best record of what to clean up.
    let mut guard = match REGISTRY.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    f(&mut guard)
}

pub(crate) fn register(id: &str, dir: &std::path::Path) {
    with(|r| {
        r.push(Entry {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            namespaces: Vec::new(),
            pgids: Vec::new(),
        })
    });
}

pub(crate) fn add_namespace(id: &str, ns: &str) {
    with(|r| {
        if let Some(e) = r.iter_mut().find(|e| e.id == id) {
            e.namespaces.push(ns.to_string());
        }
    });
}

pub(crate) fn add_pgid(id: &str, pgid: i32) {
    with(|r| {
        if let Some(e) = r.iter_mut().find(|e| e.id == id) {
            e.pgids.push(pgid);
        }
    });
}

pub(crate) fn remove_pgid(id: &str, pgid: i32) {
    with(|r| {
        if let Some(e) = r.iter_mut().find(|e| e.id == id) {
            e.pgids.retain(|p| *p != pgid);
        }
    });
}

pub(crate) fn unregister(id: &str) {
    with(|r| r.retain(|e| e.id != id));
}

/// Kills every registered process group and removes every registered
/// namespace, without waiting for graceful shutdown. Safe to call from a
/// signal-handling thread.
pub fn emergency_cleanup() {
    let entries = with(std::mem::take);
    for e in &entries {
        for pgid in &e.pgids {
            crate::topology::killpg_quiet(*pgid, nix::sys::signal::Signal::SIGKILL);
        }
        // SIGKILL is delivered asynchronously; the caller is about to exit
        // and must not leave before the daemons are really gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < deadline
            && e.pgids
                .iter()
                .any(|g| !crate::resources::live_group_members(*g).is_empty())
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        reap_children();
        for ns in e.namespaces.iter().rev() {
            crate::topology::kill_ns_pids(ns);
            crate::topology::delete_ns(ns);
        }
        eprintln!(
            "netns-tests: cleaned up topology {} after a signal (process groups {:?}); logs kept in {}",
            e.id,
            e.pgids,
            e.dir.display()
        );
    }
}

/// Reaps every exited child of this process without blocking, so killed
/// daemons do not linger as zombies (PID 1 here reaps only now and then).
fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Spawns a thread that, on SIGINT, SIGTERM or SIGHUP, runs
/// [`emergency_cleanup`] and exits with 128 + signal. For binaries only: a
/// test harness must not have its signals taken over.
pub fn install_interrupt_cleanup() -> crate::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| crate::Error::io("install signal handler", e))?;
    std::thread::Builder::new()
        .name("netns-cleanup".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                eprintln!("netns-tests: signal {sig}, removing namespaces and processes");
                emergency_cleanup();
                std::process::exit(128 + sig);
            }
        })
        .map_err(|e| crate::Error::io("spawn signal thread", e))?;
    Ok(())
}
