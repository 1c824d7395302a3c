#![allow(clippy::unwrap_used)]
//! The script runner against real processes.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use daemon::script::{check_secure, Outcome, RunAs, Script, ScriptError};

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A process is gone once /proc no longer lists it, or lists it as a zombie
/// waiting for its (new) parent: either way it runs no more.
fn is_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap().trim_start();
            state.starts_with('Z') || state.starts_with('X')
        }
    }
}

/// Wait (bounded) until every pid is gone; returns those still running.
async fn still_running(pids: &[i32]) -> Vec<i32> {
    for _ in 0..200 {
        if pids.iter().all(|p| is_gone(*p)) {
            return Vec::new();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pids.iter().copied().filter(|p| !is_gone(*p)).collect()
}

fn read_pids(path: &Path) -> Vec<i32> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

async fn wait_for_file_lines(path: &Path, n: usize) {
    for _ in 0..500 {
        if let Ok(s) = fs::read_to_string(path) {
            if s.lines().count() >= n {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never got {n} lines", path.display());
}

#[tokio::test]
async fn exit_status_is_reported() {
    let ok = Script::parse("/bin/true").unwrap().run().await;
    assert_eq!(ok, Outcome::Exited(0));
    assert!(ok.success());
    let three = Script::parse("/bin/sh -c 'exit 3'").unwrap().run().await;
    assert_eq!(three, Outcome::Exited(3));
    assert!(!three.success());
}

#[tokio::test]
async fn bare_names_are_found_in_path() {
    let s = Script::parse("true").unwrap();
    assert!(s.program().unwrap().ends_with("true"));
    assert_eq!(s.run().await, Outcome::Exited(0));
}

#[tokio::test]
async fn a_signal_is_reported_as_such() {
    let out = Script::parse(r#"/bin/sh -c 'kill -USR1 $$'"#)
        .unwrap()
        .run()
        .await;
    assert_eq!(out, Outcome::Signaled(libc_sigusr1()));
}

fn libc_sigusr1() -> i32 {
    nix::sys::signal::Signal::SIGUSR1 as i32
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_failure() {
    let out = Script::parse("/nonexistent/prog arg").unwrap().run().await;
    match out {
        Outcome::SpawnFailed(msg) => assert!(msg.contains("/nonexistent/prog"), "{msg}"),
        other => panic!("expected a spawn failure, got {other:?}"),
    }
    assert!(matches!(
        Script::parse("no-such-program-anywhere").unwrap().program(),
        Err(ScriptError::NotFound(_))
    ));
}

#[tokio::test]
async fn quoted_arguments_arrive_as_single_words() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("args");
    let script = write_script(
        dir.path(),
        "args.sh",
        &format!(r#"for a in "$@"; do echo "[$a]"; done > {}"#, out.display()),
    );
    let cmd = format!(r#"{} "a b" 'c "d"' plain "e\"f" g\ h"#, script.display());
    let res = Script::parse(&cmd).unwrap().run().await;
    assert_eq!(res, Outcome::Exited(0));
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "[a b]\n[c \"d\"]\n[plain]\n[e\"f]\n[g h]\n"
    );
}

#[tokio::test]
async fn no_shell_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let marker = dir.path().join("marker");
    // Without a shell, `>` and `;` are plain arguments of echo.
    let cmd = format!(
        "/bin/echo hi > {} ; touch {}",
        out.display(),
        marker.display()
    );
    assert_eq!(Script::parse(&cmd).unwrap().run().await, Outcome::Exited(0));
    assert!(!out.exists());
    assert!(!marker.exists());
    // With one, they are shell syntax.
    assert_eq!(Script::shell(&cmd).unwrap().run().await, Outcome::Exited(0));
    assert_eq!(fs::read_to_string(&out).unwrap(), "hi\n");
    assert!(marker.exists());
    // Extra arguments become $1.. of the shell command.
    let s = Script::shell(&format!("echo \"$1-$2\" > {}", out.display()))
        .unwrap()
        .with_args(["x y", "z"]);
    assert_eq!(s.run().await, Outcome::Exited(0));
    assert_eq!(fs::read_to_string(&out).unwrap(), "x y-z\n");
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = write_script(
        dir.path(),
        "hang.sh",
        &format!(
            "sleep 100 & echo $! >> {p}\nsleep 100 & echo $! >> {p}\necho $$ >> {p}\nsleep 100",
            p = pids.display()
        ),
    );
    let s = Script::parse(&script.display().to_string())
        .unwrap()
        .timeout(Some(Duration::from_millis(300)))
        .kill_grace(Duration::from_secs(2));
    assert_eq!(s.run().await, Outcome::TimedOut);
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 3);
    assert_eq!(still_running(&pids).await, Vec::<i32>::new());
}

#[tokio::test]
async fn a_script_ignoring_sigterm_is_killed_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = write_script(
        dir.path(),
        "stubborn.sh",
        &format!(
            "trap '' TERM\nsleep 100 & echo $! >> {p}\necho $$ >> {p}\nwhile :; do sleep 1; done",
            p = pids.display()
        ),
    );
    let s = Script::parse(&script.display().to_string())
        .unwrap()
        .timeout(Some(Duration::from_millis(300)))
        .kill_grace(Duration::from_millis(200));
    assert_eq!(s.run().await, Outcome::TimedOut);
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 2);
    assert_eq!(still_running(&pids).await, Vec::<i32>::new());
}

#[tokio::test]
async fn an_abandoned_run_kills_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = write_script(
        dir.path(),
        "long.sh",
        &format!(
            "sleep 100 & echo $! >> {p}\necho $$ >> {p}\nsleep 100",
            p = pids.display()
        ),
    );
    let s = Script::parse(&script.display().to_string()).unwrap();
    let run = tokio::spawn(async move { s.run().await });
    wait_for_file_lines(&pids, 2).await;
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    let pids = read_pids(&pids);
    assert_eq!(still_running(&pids).await, Vec::<i32>::new());
}

#[tokio::test]
async fn runs_as_another_user() {
    let nobody = RunAs::resolve("nobody", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("id");
    let s = Script::shell(&format!("id -u > {o}; id -g >> {o}", o = out.display()))
        .unwrap()
        .run_as(Some(nobody.clone()));
    assert!(!s.runs_as_root());
    assert_eq!(s.run().await, Outcome::Exited(0));
    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, [nobody.uid.to_string(), nobody.gid.to_string()]);
    assert_ne!(lines[0], "0");
}

#[test]
fn unknown_user_and_group_are_errors() {
    assert_eq!(
        RunAs::resolve("no-such-user-xyz", None),
        Err(ScriptError::NoSuchUser("no-such-user-xyz".into()))
    );
    assert_eq!(
        RunAs::resolve("nobody", Some("no-such-group-xyz")),
        Err(ScriptError::NoSuchGroup("no-such-group-xyz".into()))
    );
    let r = RunAs::resolve("root", Some("nogroup")).unwrap();
    assert_eq!(r.uid.as_raw(), 0);
    assert_ne!(r.gid.as_raw(), 0);
}

/// A root-owned 0755 directory for the security tests: tempdir under /tmp is
/// root-owned (we are root) and /tmp is sticky, which keepalived accepts.
fn secure_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn security_accepts_a_root_owned_script() {
    let dir = secure_dir();
    let s = write_script(dir.path(), "ok.sh", "exit 0");
    assert_eq!(check_secure(&s), Ok(()));
    assert_eq!(check_secure(Path::new("/bin/sh")), Ok(()));
}

#[test]
fn security_refuses_a_script_owned_by_a_user() {
    let dir = secure_dir();
    let s = write_script(dir.path(), "x.sh", "exit 0");
    chown(&s, Some(1000), None).unwrap();
    let err = check_secure(&s).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{} is writable by uid 1000", s.display())),
        "{msg}"
    );
}

#[test]
fn security_refuses_group_and_world_writable_paths() {
    let dir = secure_dir();
    let s = write_script(dir.path(), "g.sh", "exit 0");
    chown(&s, None, Some(1000)).unwrap();
    fs::set_permissions(&s, fs::Permissions::from_mode(0o775)).unwrap();
    let msg = check_secure(&s).unwrap_err().to_string();
    assert!(
        msg.contains(&format!("{} is writable by gid 1000", s.display())),
        "{msg}"
    );

    // A world-writable parent directory without the sticky bit.
    let dir = secure_dir();
    let sub = dir.path().join("open");
    fs::create_dir(&sub).unwrap();
    let s = write_script(&sub, "w.sh", "exit 0");
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o777)).unwrap();
    let msg = check_secure(&s).unwrap_err().to_string();
    assert!(
        msg.contains(&format!("{} is writable by every user", sub.display())),
        "{msg}"
    );
    // The same directory with the sticky bit is accepted, as in keepalived.
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o1777)).unwrap();
    assert_eq!(check_secure(&s), Ok(()));
}

#[test]
fn security_checks_the_target_of_a_symlink() {
    let good = secure_dir();
    let bad = secure_dir();
    let target = write_script(bad.path(), "t.sh", "exit 0");
    chown(&target, Some(1000), None).unwrap();
    let link = good.path().join("link.sh");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let msg = check_secure(&link).unwrap_err().to_string();
    assert!(msg.contains("writable by uid 1000"), "{msg}");
}

#[test]
fn security_only_applies_to_scripts_run_as_root() {
    let dir = secure_dir();
    let s = write_script(dir.path(), "x.sh", "exit 0");
    chown(&s, Some(1000), None).unwrap();
    let as_root = Script::parse(&s.display().to_string()).unwrap();
    assert!(as_root.runs_as_root());
    assert!(matches!(
        as_root.check_secure(),
        Err(ScriptError::Insecure { .. })
    ));
    let as_nobody = as_root.run_as(Some(RunAs::resolve("nobody", None).unwrap()));
    assert_eq!(as_nobody.check_secure(), Ok(()));
}

#[test]
fn default_script_user_follows_keepalived() {
    // script_user wins.
    let r = RunAs::default_for(Some("nobody"), None, true)
        .unwrap()
        .unwrap();
    assert_eq!(r.user, "nobody");
    // No script_user: keepalived_script if it exists (not on this host);
    // else the daemon's own user, unless script security is on.
    if RunAs::resolve("keepalived_script", None).is_err() {
        assert_eq!(RunAs::default_for(None, None, false), Ok(None));
        let e = RunAs::default_for(None, None, true).unwrap_err();
        assert_eq!(e, ScriptError::NoDefaultUser);
        assert!(e.to_string().contains("keepalived_script"));
    }
    assert_eq!(
        RunAs::default_for(Some("no-such-user-xyz"), None, false),
        Err(ScriptError::NoSuchUser("no-such-user-xyz".into()))
    );
}
