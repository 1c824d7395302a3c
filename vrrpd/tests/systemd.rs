//! The shipped unit file passes `systemd-analyze verify` with the binary
//! this build produced.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn unit_file_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        let why = "systemd-analyze is not installed";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIP unit_file_verifies: {why}");
        return;
    }
    let unit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../systemd/vrrpd.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("Type=notify"));
    assert!(text.contains("WatchdogSec="));
    // verify checks that ExecStart's binary exists: point it at ours.
    let text = text.replace("/usr/local/sbin/vrrpd", env!("CARGO_BIN_EXE_vrrpd"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vrrpd.service");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("vrrpd.service:"),
        "warnings about our unit: {stderr}"
    );
}
