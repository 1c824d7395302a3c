#![allow(clippy::unwrap_used)]
//! Ctrl-C on the drill binary removes its namespaces and stops its daemons.

mod common;

use common::{alive, live_namespaces};
use netns_tests::{env, Daemon};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn sigint_on_drill_removes_everything() {
    let test = "sigint_on_drill_removes_everything";
    if env::require_daemon(test, Daemon::Keepalived).is_none() {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_drill"))
        .args(["--daemon", "keepalived", "--scenario", "kill"])
        .args(["--vrrp-version", "3", "--advert-int", "1"])
        .env("NETNS_TESTS_AGENT", env!("CARGO_BIN_EXE_netns-tests-agent"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("nt{}c", child.id());
    let n1 = format!("{prefix}0-n1");
    // Wait until keepalived (parent + VRRP child) runs inside n1.
    let start = Instant::now();
    let pids: Vec<i32> = loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "drill never started keepalived"
        );
        assert!(child.try_wait().unwrap().is_none(), "drill exited early");
        let out = Command::new("ip")
            .args(["netns", "pids", &n1])
            .output()
            .unwrap();
        let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        let daemons = pids
            .iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "keepalived")
            })
            .count();
        if daemons >= 2 {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 2), "exit status after SIGINT");
    let left: Vec<String> = live_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left after SIGINT: {left:?}");
    for p in pids {
        assert!(!alive(p), "process {p} of n1 still runs after SIGINT");
    }
    // An interrupted run keeps its logs; this one was only a test.
    let dir = netns_tests::TopologyOptions::default()
        .log_root
        .join(format!("{prefix}0"));
    assert!(dir.is_dir(), "logs of the interrupted drill are kept");
    std::fs::remove_dir_all(dir).unwrap();
}
