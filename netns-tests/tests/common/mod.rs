//! Shared helpers of the integration tests.
#![allow(dead_code)]

use netns_tests::TopologyOptions;
use std::path::PathBuf;

/// Options with the agent cargo built for this test run.
pub fn opts(nodes: usize) -> TopologyOptions {
    TopologyOptions {
        nodes,
        agent: Some(PathBuf::from(env!("CARGO_BIN_EXE_netns-tests-agent"))),
        ..TopologyOptions::default()
    }
}

/// Names `ip netns list` shows now.
pub fn live_namespaces() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// True if `pid` is still a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Everything the vrrpd daemons of `node` logged in this topology (all
/// generations: a restarted daemon gets a new log file).
pub fn vrrpd_log(t: &netns_tests::Topology, node: netns_tests::Node) -> String {
    let prefix = format!("{}-vrrpd", t.node(node).name);
    let mut names: Vec<PathBuf> = std::fs::read_dir(t.dir())
        .expect("topology dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let f = p
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            f.starts_with(&prefix) && f.ends_with(".log")
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// One command on vrrpd's control socket (its default: the pid file with
/// `.sock`, so each node in a drill has its own); the answer as text.
pub fn control(t: &netns_tests::Topology, node: netns_tests::Node, cmd: &str) -> String {
    use std::io::{Read, Write};
    let sock = t
        .daemon_config(node)
        .expect("daemon config")
        .with_extension("sock");
    let mut s = std::os::unix::net::UnixStream::connect(&sock)
        .unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    s.write_all(format!("{cmd}\n").as_bytes())
        .expect("control write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("control read");
    text
}
