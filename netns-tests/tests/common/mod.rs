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
