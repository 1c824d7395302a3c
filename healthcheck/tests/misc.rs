#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use healthcheck::check::misc;
use healthcheck::spec::MiscSpec;
use healthcheck::Reason;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn spec(cmd: String, timeout_ms: u64, dynamic: bool) -> MiscSpec {
    MiscSpec {
        command: cmd,
        timeout: Duration::from_millis(timeout_ms),
        dynamic,
        user: None,
        group: None,
    }
}

#[tokio::test]
async fn exit_codes_and_arguments() {
    let d = tempfile::tempdir().unwrap();
    let s = script(d.path(), "exit.sh", "exit \"$1\"");
    let run = |code: &str, dynamic| {
        let cmd = format!("{} {code}", s.display());
        async move { misc::check(&spec(cmd, 5000, dynamic)).await }
    };
    let o = run("0", false).await;
    assert_eq!((o.up, o.reason, o.weight), (true, Reason::Ok, None));
    let o = run("1", false).await;
    assert_eq!(
        (o.up, o.reason.to_string()),
        (false, "script exit 1".into())
    );
    let o = run("7", false).await;
    assert_eq!((o.up, o.reason), (false, Reason::ScriptExit(7)));
    // misc_dynamic: 2..255 is up with weight code - 2.
    let o = run("7", true).await;
    assert_eq!((o.up, o.weight), (true, Some(5)));
    let o = run("2", true).await;
    assert_eq!((o.up, o.weight), (true, Some(0)));
    let o = run("1", true).await;
    assert!(!o.up);
}

#[tokio::test]
async fn missing_program_is_down() {
    let o = misc::check(&spec("/nonexistent/check-script".into(), 1000, false)).await;
    assert!(!o.up);
    assert!(matches!(o.reason, Reason::Io(_)), "{:?}", o.reason);
}

fn alive(pid: i32) -> bool {
    // Gone, or a zombie waiting for its (new) parent, is not alive.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("sleep.pid");
    let s = script(
        d.path(),
        "hang.sh",
        &format!("sleep 300 &\necho $! > {}\nwait", pidfile.display()),
    );
    let o = misc::check(&spec(s.display().to_string(), 500, false)).await;
    assert_eq!((o.up, o.reason), (false, Reason::Timeout));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL is delivered asynchronously; wait for the kernel to act.
    let mut gone = false;
    for _ in 0..100 {
        if !alive(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "background sleep {pid} survived the timeout");
}

#[tokio::test]
async fn runs_as_the_configured_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED runs_as_the_configured_user: needs root to switch user");
        return;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        eprintln!("SKIPPED runs_as_the_configured_user: no user nobody");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = script(d.path(), "uid.sh", "[ \"$(id -u)\" = \"$1\" ]");
    let mut sp = spec(format!("{} {}", s.display(), nobody.uid), 5000, false);
    sp.user = Some("nobody".into());
    let o = misc::check(&sp).await;
    assert!(o.up, "{o:?}");
    // As root the same test fails: the check really switched user.
    sp.user = None;
    let o = misc::check(&sp).await;
    assert_eq!(o.reason, Reason::ScriptExit(1));
    sp.user = Some("no-such-user-here".into());
    let o = misc::check(&sp).await;
    assert!(!o.up);
    assert!(
        o.reason.to_string().contains("unknown user"),
        "{}",
        o.reason
    );
}

#[tokio::test]
async fn timeout_kills_children_that_ignore_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("stubborn.pid");
    // The background child ignores SIGTERM; only SIGKILL stops it.
    let s = script(
        d.path(),
        "stubborn.sh",
        &format!(
            "(trap '' TERM; sleep 300) &\necho $! > {}\nwait",
            pidfile.display()
        ),
    );
    let o = misc::check(&spec(s.display().to_string(), 300, false)).await;
    assert_eq!((o.up, o.reason), (false, Reason::Timeout));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if !alive(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "SIGTERM-proof child {pid} survived");
}

/// A keepalived.conf with `global` as its global_defs body and one real
/// server checked by MISC_CHECK `script`.
fn engine_for(global: &str, script: &Path) -> healthcheck::engine::Engine {
    let text = format!(
        "global_defs {{\n{global}\n}}\n\
         virtual_server 192.0.2.10 80 {{\n    delay_loop 5\n    \
         real_server 192.0.2.1 80 {{\n        MISC_CHECK {{\n            \
         misc_path \"{}\"\n        }}\n    }}\n}}\n",
        script.display()
    );
    let loaded = conf::load_keepalived_str("misc.conf", &text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    healthcheck::engine::Engine::from_config(&loaded.config, 1, 1, std::time::Instant::now(), 1)
}

/// The one check of `engine`, run once.
async fn run_only_check(engine: &healthcheck::engine::Engine) -> healthcheck::CheckOutcome {
    let specs: Vec<_> = engine.checks.iter().map(|(_, s, _, _)| s.clone()).collect();
    assert_eq!(specs.len(), 1);
    healthcheck::check::run(&specs[0]).await
}

#[tokio::test]
async fn script_security_refuses_a_world_writable_script_run_as_root() {
    // keepalived's enable_script_security applies to MISC_CHECK too: a
    // script that runs as root (script_user root) and that anyone may
    // rewrite is refused, with the reason, and the check fails instead of
    // running it. The same script runs when security is off, and a script
    // only root can write runs with security on.
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: the script security check needs root-owned files (run as root)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("ran");
    let s = script(
        d.path(),
        "check.sh",
        &format!("touch {}\nexit 0", marker.display()),
    );
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o777)).unwrap();

    let secure = engine_for("    script_user root\n    enable_script_security", &s);
    assert_eq!(secure.refused.len(), 1, "{:?}", secure.refused);
    let why = &secure.refused[0].1;
    assert!(why.contains("refused"), "{why}");
    assert!(why.contains(&s.display().to_string()), "{why}");
    assert!(why.contains("world-writable"), "{why}");
    let o = run_only_check(&secure).await;
    assert!(!o.up);
    assert!(
        matches!(&o.reason, Reason::Unsupported(m) if m.contains("world-writable")),
        "{:?}",
        o.reason
    );
    assert!(!marker.exists(), "the refused script ran");

    let open = engine_for("    script_user root", &s);
    assert!(open.refused.is_empty(), "{:?}", open.refused);
    let o = run_only_check(&open).await;
    assert_eq!((o.up, &o.reason), (true, &Reason::Ok));
    assert!(marker.exists());

    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fixed = engine_for("    script_user root\n    enable_script_security", &s);
    assert!(fixed.refused.is_empty(), "{:?}", fixed.refused);
    assert!(run_only_check(&fixed).await.up);
}

#[tokio::test]
async fn script_security_without_a_default_user_refuses_misc_scripts() {
    // keepalived: with enable_script_security, no script_user and no
    // `keepalived_script` account, scripts are not run as root by default.
    if nix::unistd::User::from_name("keepalived_script")
        .ok()
        .flatten()
        .is_some()
    {
        eprintln!("skipped: this host has a keepalived_script user, the default applies");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let s = script(d.path(), "check.sh", "exit 0");
    let e = engine_for("    enable_script_security", &s);
    assert_eq!(e.refused.len(), 1, "{:?}", e.refused);
    assert!(
        e.refused[0].1.contains("keepalived_script"),
        "{:?}",
        e.refused
    );
    assert!(!run_only_check(&e).await.up);
    // A check with its own user is not affected.
    let d2 = tempfile::tempdir().unwrap();
    let s2 = script(d2.path(), "check.sh", "exit 0");
    let text = format!(
        "global_defs {{\n    enable_script_security\n}}\n\
         virtual_server 192.0.2.10 80 {{\n    real_server 192.0.2.1 80 {{\n        \
         MISC_CHECK {{\n            misc_path \"{}\"\n            user nobody\n        }}\n    }}\n}}\n",
        s2.display()
    );
    let loaded = conf::load_keepalived_str("misc.conf", &text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    let e = healthcheck::engine::Engine::from_config(
        &loaded.config,
        1,
        1,
        std::time::Instant::now(),
        1,
    );
    assert!(e.refused.is_empty(), "{:?}", e.refused);
}
