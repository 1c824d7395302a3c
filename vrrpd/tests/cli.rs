//! `vrrpd -t` and `--dump-config`, as an operator runs them.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use std::path::PathBuf;

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/keepalived-samples")
}

fn vrrpd() -> Command {
    Command::cargo_bin("vrrpd").unwrap()
}

#[test]
fn every_keepalived_sample_passes_the_config_test() {
    let mut n = 0;
    for entry in std::fs::read_dir(samples()).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("keepalived.conf")
        {
            continue;
        }
        let out = vrrpd().arg("-t").arg("-f").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", path.display());
        assert!(!stderr.contains("error:"), "{}: {stderr}", path.display());
        n += 1;
    }
    // The samples' README says 24; the folder holds 25 keepalived.conf.* files.
    assert_eq!(n, 25);
}

#[test]
fn config_with_errors_exits_4_and_names_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.conf");
    std::fs::write(
        &path,
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 300\n}\n",
    )
    .unwrap();
    let out = vrrpd().arg("-t").arg("-f").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let want = format!("{}:3:", path.display());
    assert!(stderr.contains(&want), "{stderr}");
    assert!(stderr.contains("virtual_router_id"), "{stderr}");
    assert!(stderr.contains("300"), "{stderr}");
}

/// What the daemon would refuse at start-up fails `-t` too, located.
#[test]
fn config_test_runs_the_planner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("label.conf");
    std::fs::write(
        &path,
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 30\n    virtual_ipaddress {\n        192.0.2.10/24 label web\n    }\n}\n",
    )
    .unwrap();
    let out = vrrpd().arg("-t").arg("-f").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5:", path.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("must start with the interface name"),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_3() {
    let out = vrrpd()
        .args(["-t", "-f", "/nonexistent/keepalived.conf"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("/nonexistent/keepalived.conf"), "{stderr}");
}

#[test]
fn warnings_do_not_fail_the_config_test() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn.conf");
    std::fs::write(
        &path,
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 5\n    frobnicate yes\n    virtual_ipaddress {\n        192.0.2.1\n    }\n}\n",
    )
    .unwrap();
    let out = vrrpd().arg("-t").arg("-f").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4:5", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("frobnicate"), "{stderr}");
}

#[test]
fn dump_config_toml_reloads_to_the_same_instances() {
    let sample = samples().join("keepalived.conf.vrrp");
    let out = vrrpd()
        .args(["--dump-config", "toml", "-f"])
        .arg(&sample)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let toml_text = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dumped.toml");
    std::fs::write(&path, &toml_text).unwrap();
    // The TOML front end accepts what we printed, with no error.
    let out = vrrpd().arg("-t").arg("-f").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{toml_text}");
    assert!(toml_text.contains("[[vrrp_instance]]"), "{toml_text}");
}
