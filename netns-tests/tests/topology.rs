#![allow(clippy::unwrap_used)]
//! The topology comes up with the promised addresses and goes away
//! completely: on drop, on panic, and for leftovers of dead runs.

mod common;

use common::{alive, live_namespaces, opts};
use netns_tests::topology::{owner_pid, ECHO_PORT};
use netns_tests::{cleanup_stale, env, Node, Topology};
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

#[test]
fn topology_comes_up_and_goes_away() {
    if !env::require_netns("topology_comes_up_and_goes_away") {
        return;
    }
    let t = Topology::with_options(opts(3)).unwrap();
    let names = t.namespaces();
    assert_eq!(names.len(), 5, "switch + 3 nodes + client: {names:?}");
    let live = live_namespaces();
    for n in &names {
        assert!(live.contains(n), "{n} missing from ip netns list");
        assert_eq!(owner_pid(n, "nt"), Some(std::process::id()));
    }
    let n2 = t.addresses(Node(2)).unwrap();
    assert!(n2.contains(&"192.0.2.12".parse().unwrap()), "{n2:?}");
    assert!(n2.contains(&"2001:db8::12".parse().unwrap()), "{n2:?}");
    assert!(t.node(Node(2)).link_local.is_some());
    // IPv6 usable at once (no DAD): the client reaches n3 over IPv6 and n1
    // over IPv4 right after set-up.
    t.start_echo(Node(1)).unwrap();
    t.start_echo(Node(3)).unwrap();
    let v6 = netns_tests::analysis::probe_stats(
        &t.probe(IpAddr::V6(t.node(Node(3)).ipv6), 300).unwrap(),
    );
    assert!(v6.answered > 0);
    assert!(v6.responders.iter().all(|(_, n)| n == "n3"));
    let v4 = netns_tests::analysis::probe_stats(
        &t.probe(IpAddr::V4(t.node(Node(1)).ipv4), 300).unwrap(),
    );
    assert!(v4.answered > 0);
    assert!(v4.responders.iter().all(|(_, n)| n == "n1"));
    assert_eq!(ECHO_PORT, 7);
    let dir = t.dir().to_path_buf();
    drop(t);
    let live = live_namespaces();
    for n in &names {
        assert!(!live.contains(n), "{n} left behind");
    }
    assert!(!dir.exists(), "log dir of a passing topology is removed");
}

#[test]
fn panic_inside_a_test_still_cleans_up() {
    if !env::require_netns("panic_inside_a_test_still_cleans_up") {
        return;
    }
    let seen: Mutex<Option<(Vec<String>, i32, std::path::PathBuf)>> = Mutex::new(None);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let t = Topology::with_options(opts(2)).unwrap();
        let pid = t.start_echo(Node(1)).unwrap();
        *seen.lock().unwrap() = Some((t.namespaces(), pid, t.dir().to_path_buf()));
        panic!("deliberate panic with a live topology");
    }));
    assert!(r.is_err());
    let (names, pid, dir) = seen.lock().unwrap().take().unwrap();
    let live = live_namespaces();
    for n in &names {
        assert!(!live.contains(n), "{n} left behind after panic");
    }
    assert!(!alive(pid), "echo {pid} still runs after panic");
    assert!(dir.exists(), "logs are kept when a test panics");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn cleanup_stale_removes_only_dead_runs() {
    if !env::require_netns("cleanup_stale_removes_only_dead_runs") {
        return;
    }
    // A pid above pid_max can never be alive; our own pid is.
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let prefix = "ntstale";
    let dead = format!("{prefix}{}c0-n1", pid_max + 1);
    let live = format!("{prefix}{}c0-n1", std::process::id());
    for n in [&dead, &live] {
        let st = std::process::Command::new("ip")
            .args(["netns", "add", n])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let removed = cleanup_stale(prefix).unwrap();
    let now = live_namespaces();
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &live])
        .status();
    assert_eq!(removed, vec![dead.clone()]);
    assert!(!now.contains(&dead));
    assert!(now.contains(&live), "a live run's namespace must survive");
}
