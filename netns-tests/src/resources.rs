//! Memory and CPU of a daemon's processes, read from `/proc`.

use crate::{Error, Result};
use std::time::{Duration, Instant};

/// Pids whose process group is `pgid` (the daemon and the children it forked).
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|f| f.get(2).and_then(|g| g.parse().ok()) == Some(pgid))
        })
        .collect()
}

/// Like [`group_members`] without zombies: processes that still run.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    group_members(pgid)
        .into_iter()
        .filter(|pid| stat_fields(*pid).is_some_and(|f| f.first().map(String::as_str) != Some("Z")))
        .collect()
}

/// Fields of `/proc/PID/stat` after the `(comm)`: index 0 is the state
/// (field 3 of proc(5)), so proc(5) field N is index N - 3.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Resident set size in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: i32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::parse(path, "no VmRSS line"))
}

/// utime + stime in clock ticks (proc(5) fields 14 and 15).
pub fn cpu_ticks(pid: i32) -> Result<u64> {
    let f =
        stat_fields(pid).ok_or_else(|| Error::parse(format!("/proc/{pid}/stat"), "unreadable"))?;
    let get = |i: usize| -> Result<u64> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::parse(format!("/proc/{pid}/stat"), format!("field {}", i + 3)))
    };
    Ok(get(11)? + get(12)?)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_sec() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    }
}

/// Memory and CPU of a set of processes over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Sum of VmRSS over the processes at the end of the window.
    pub rss_kib: u64,
    /// CPU time used during the window as a percentage of one core.
    pub cpu_pct: f64,
    pub processes: usize,
}

/// Measures `pids` over `window`: CPU ticks before and after, RSS at the end.
pub fn measure(pids: &[i32], window: Duration) -> Result<Usage> {
    if pids.is_empty() {
        return Err(Error::Invalid("no processes to measure".into()));
    }
    let before: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum::<Result<u64>>()?;
    let start = Instant::now();
    std::thread::sleep(window);
    let after: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum::<Result<u64>>()?;
    let secs = start.elapsed().as_secs_f64();
    let rss: u64 = pids.iter().map(|p| rss_kib(*p)).sum::<Result<u64>>()?;
    Ok(Usage {
        rss_kib: rss,
        cpu_pct: (after.saturating_sub(before)) as f64 / ticks_per_sec() as f64 / secs * 100.0,
        processes: pids.len(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        assert!(rss_kib(me).unwrap() > 0);
        cpu_ticks(me).unwrap();
        let pgid = nix::unistd::getpgrp().as_raw();
        assert!(group_members(pgid).contains(&me));
    }
}
