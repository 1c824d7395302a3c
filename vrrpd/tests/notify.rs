#![allow(clippy::unwrap_used)]
//! Notifications: keepalived's scripts, arguments and fifo lines, delivered
//! in order by the notifier's own tasks.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use daemon::script::Script;
use vrrpd::fsm::State;
use vrrpd::notify::{Notifier, NotifierConfig, NotifyEvent, NotifyScripts, NotifyState, Subject};

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn script(p: &Path) -> Script {
    Script::parse(&p.display().to_string()).unwrap()
}

fn states() -> impl Iterator<Item = NotifyState> {
    [NotifyState::Master, NotifyState::Backup, NotifyState::Fault]
        .into_iter()
        .cycle()
}

async fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    for _ in 0..1000 {
        if let Ok(s) = fs::read_to_string(path) {
            if s.lines().count() >= n {
                return s.lines().map(str::to_owned).collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never got {n} lines", path.display());
}

#[test]
fn fifo_line_and_arguments_are_keepalived_s() {
    let ev = NotifyEvent::instance("VI_1", NotifyState::Master, 100);
    assert_eq!(ev.fifo_line(), "INSTANCE \"VI_1\" MASTER 100\n");
    assert_eq!(ev.notify_args(), ["INSTANCE", "VI_1", "MASTER", "100"]);
    let g = NotifyEvent::group("G1", NotifyState::Fault);
    assert_eq!(g.fifo_line(), "GROUP \"G1\" FAULT 0\n");
    let p = NotifyEvent::instance("VI_1", NotifyState::BackupPriority, 90);
    assert_eq!(p.fifo_line(), "INSTANCE \"VI_1\" BACKUP_PRIORITY 90\n");
    assert_eq!(
        NotifyEvent::instance("x", NotifyState::MasterRxLowerPri, 1).fifo_line(),
        "INSTANCE \"x\" MASTER_RX_LOWER_PRI 1\n"
    );
    assert_eq!(
        NotifyState::from_fsm(State::Fault),
        Some(NotifyState::Fault)
    );
    assert_eq!(NotifyState::from_fsm(State::Initialize), None);
}

#[test]
fn scripts_for_a_state_specific_first_then_generic() {
    let s = NotifyScripts {
        master: Some(Script::parse("/m arg").unwrap()),
        fault: Some(Script::parse("/f").unwrap()),
        any: Some(Script::parse("/any 'x y'").unwrap()),
        master_rx_lower_pri: Some(Script::parse("/rx").unwrap()),
        ..Default::default()
    };
    let argv = |ev: NotifyEvent| -> Vec<Vec<String>> {
        s.scripts_for(&ev)
            .iter()
            .map(|s| s.argv().to_vec())
            .collect()
    };
    assert_eq!(
        argv(NotifyEvent::instance("VI_1", NotifyState::Master, 120)),
        [
            vec!["/m", "arg"],
            vec!["/any", "x y", "INSTANCE", "VI_1", "MASTER", "120"]
        ]
    );
    assert_eq!(
        argv(NotifyEvent::group("G", NotifyState::Backup)),
        [vec!["/any", "x y", "GROUP", "G", "BACKUP", "0"]]
    );
    assert_eq!(
        argv(NotifyEvent::instance(
            "VI_1",
            NotifyState::MasterRxLowerPri,
            1
        )),
        [vec!["/rx"]]
    );
    assert!(argv(NotifyEvent::instance(
        "VI_1",
        NotifyState::MasterPriority,
        1
    ))
    .is_empty());
}

fn config_with(subject: Subject, name: &str, scripts: NotifyScripts) -> NotifierConfig {
    let mut cfg = NotifierConfig::default();
    cfg.scripts.insert((subject, name.to_owned()), scripts);
    cfg
}

#[tokio::test]
async fn fifty_rapid_transitions_arrive_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = write_script(
        dir.path(),
        "notify.sh",
        &format!(r#"echo "$@" >> {}"#, out.display()),
    );
    let n = Notifier::spawn(config_with(
        Subject::Instance,
        "VI_1",
        NotifyScripts {
            any: Some(script(&s)),
            ..Default::default()
        },
    ));
    let mut expected = Vec::new();
    for (i, st) in (1..=50u8).zip(states()) {
        assert!(n.notify(NotifyEvent::instance("VI_1", st, i)));
        expected.push(format!("INSTANCE VI_1 {st} {i}"));
    }
    n.shutdown().await;
    let got: Vec<String> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn each_event_runs_its_own_script_then_the_generic_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.display();
    let m = write_script(dir.path(), "m.sh", &format!("echo master >> {o}"));
    let b = write_script(dir.path(), "b.sh", &format!("echo backup >> {o}"));
    let any = write_script(dir.path(), "any.sh", &format!(r#"echo "any $3 $4" >> {o}"#));
    let n = Notifier::spawn(config_with(
        Subject::Group,
        "G",
        NotifyScripts {
            master: Some(script(&m)),
            backup: Some(script(&b)),
            any: Some(script(&any)),
            ..Default::default()
        },
    ));
    for st in [NotifyState::Master, NotifyState::Backup, NotifyState::Fault] {
        n.notify(NotifyEvent::group("G", st));
    }
    // Events for subjects without scripts are fine and run nothing.
    n.notify(NotifyEvent::instance("other", NotifyState::Master, 1));
    n.shutdown().await;
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "master\nany MASTER 0\nbackup\nany BACKUP 0\nany FAULT 0\n"
    );
}

/// A notify script that waits for a "go" file: the caller's notify() calls
/// all return while it is held, and the next notification starts only
/// after the previous one ended.
#[tokio::test]
async fn a_slow_script_neither_blocks_the_caller_nor_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let go = dir.path().join("go");
    let s = write_script(
        dir.path(),
        "slow.sh",
        &format!(
            "echo start $4 >> {log}\nwhile [ ! -e {go} ]; do sleep 0.01; done\necho end $4 >> {log}",
            log = log.display(),
            go = go.display()
        ),
    );
    let n = Notifier::spawn(config_with(
        Subject::Instance,
        "VI_1",
        NotifyScripts {
            any: Some(script(&s)),
            ..Default::default()
        },
    ));
    for (i, st) in (1..=5u8).zip(states()) {
        assert!(n.notify(NotifyEvent::instance("VI_1", st, i)));
    }
    // All five calls returned; the first script is running and cannot end.
    assert_eq!(wait_lines(&log, 1).await, ["start 1"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fs::read_to_string(&log).unwrap(), "start 1\n", "no overlap");
    fs::write(&go, "").unwrap();
    n.shutdown().await;
    let expected: Vec<String> = (1..=5)
        .flat_map(|i| [format!("start {i}"), format!("end {i}")])
        .collect();
    assert_eq!(wait_lines(&log, 10).await, expected);
}

#[tokio::test]
async fn instances_do_not_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let held = dir.path().join("held");
    let free = dir.path().join("free");
    let slow = write_script(
        dir.path(),
        "slow.sh",
        &format!(
            "while [ ! -e {} ]; do sleep 0.01; done\necho $4 >> {}",
            go.display(),
            held.display()
        ),
    );
    let fast = write_script(
        dir.path(),
        "fast.sh",
        &format!("echo $4 >> {}", free.display()),
    );
    let mut cfg = NotifierConfig::default();
    cfg.scripts.insert(
        (Subject::Instance, "VI_1".into()),
        NotifyScripts {
            any: Some(script(&slow)),
            ..Default::default()
        },
    );
    cfg.scripts.insert(
        (Subject::Instance, "VI_2".into()),
        NotifyScripts {
            any: Some(script(&fast)),
            ..Default::default()
        },
    );
    let n = Notifier::spawn(cfg);
    for i in 1..=3u8 {
        n.notify(NotifyEvent::instance("VI_1", NotifyState::Master, i));
        n.notify(NotifyEvent::instance("VI_2", NotifyState::Master, i));
    }
    // VI_2's notifications all complete while VI_1's first is held.
    assert_eq!(wait_lines(&free, 3).await, ["1", "2", "3"]);
    assert!(!held.exists());
    fs::write(&go, "").unwrap();
    n.shutdown().await;
    assert_eq!(wait_lines(&held, 3).await, ["1", "2", "3"]);
}

#[tokio::test]
async fn a_hung_script_is_killed_at_its_timeout_and_later_ones_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = write_script(
        dir.path(),
        "n.sh",
        &format!(
            "if [ \"$3\" = FAULT ]; then sleep 100; fi\necho $3 $4 >> {}",
            out.display()
        ),
    );
    let mut cfg = config_with(
        Subject::Instance,
        "VI_1",
        NotifyScripts {
            any: Some(script(&s)),
            ..Default::default()
        },
    );
    cfg.script_timeout = Some(Duration::from_millis(200));
    let n = Notifier::spawn(cfg);
    n.notify(NotifyEvent::instance("VI_1", NotifyState::Master, 1));
    n.notify(NotifyEvent::instance("VI_1", NotifyState::Fault, 2));
    n.notify(NotifyEvent::instance("VI_1", NotifyState::Backup, 3));
    let stats = n.stats();
    n.shutdown().await;
    assert_eq!(wait_lines(&out, 2).await, ["MASTER 1", "BACKUP 3"]);
    assert_eq!(stats.scripts_failed.load(Ordering::Relaxed), 1);
    assert_eq!(stats.scripts_ok.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn counts_failures_and_successes() {
    let mut cfg = config_with(
        Subject::Instance,
        "VI_1",
        NotifyScripts {
            master: Some(Script::parse("/bin/true").unwrap()),
            backup: Some(Script::parse("/bin/false").unwrap()),
            fault: Some(Script::parse("/nonexistent/x").unwrap()),
            ..Default::default()
        },
    );
    cfg.script_timeout = Some(Duration::from_secs(5));
    let n = Notifier::spawn(cfg);
    for st in [NotifyState::Master, NotifyState::Backup, NotifyState::Fault] {
        n.notify(NotifyEvent::instance("VI_1", st, 1));
    }
    let st = n.stats();
    n.shutdown().await;
    assert_eq!(st.scripts_ok.load(Ordering::Relaxed), 1);
    assert_eq!(st.scripts_failed.load(Ordering::Relaxed), 2);
    assert_eq!(st.queued.load(Ordering::Relaxed), 3);
    assert_eq!(st.dropped.load(Ordering::Relaxed), 0);
}

/// On a current-thread runtime the dispatcher cannot run while we do not
/// yield, so the queue fills deterministically.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_and_counts() {
    let cfg = NotifierConfig {
        queue: 4,
        ..Default::default()
    };
    let n = Notifier::spawn(cfg);
    let accepted = (0..10u8)
        .filter(|i| n.notify(NotifyEvent::instance("VI_1", NotifyState::Master, *i)))
        .count();
    assert_eq!(accepted, 4);
    assert_eq!(n.dropped(), 6);
    n.shutdown().await;
}

#[tokio::test]
async fn fifo_gets_every_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("notify.fifo");
    let cfg = NotifierConfig {
        fifos: vec![fifo.clone()],
        ..Default::default()
    };
    let n = Notifier::spawn(cfg);
    // The notifier created the fifo; a reader opens it before the lines come.
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut expected = String::new();
    for (i, st) in (1..=50u8).zip(states()) {
        let ev = if i % 5 == 0 {
            NotifyEvent::group("G", st)
        } else {
            NotifyEvent::instance("VI_1", st, i)
        };
        expected.push_str(&ev.fifo_line());
        n.notify(ev);
    }
    n.shutdown().await;
    let mut got = String::new();
    reader.read_to_string(&mut got).unwrap();
    assert_eq!(got, expected);
    assert!(expected.starts_with("INSTANCE \"VI_1\" MASTER 1\n"));
}

#[tokio::test]
async fn a_path_that_is_not_a_fifo_is_refused_and_lines_counted_lost() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, "").unwrap();
    let n = Notifier::spawn(NotifierConfig {
        fifos: vec![file.clone()],
        ..Default::default()
    });
    n.notify(NotifyEvent::instance("VI_1", NotifyState::Master, 1));
    for _ in 0..500 {
        if n.stats().fifo_errors.load(Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(n.stats().fifo_errors.load(Ordering::Relaxed), 1);
    n.shutdown().await;
    assert_eq!(fs::read_to_string(&file).unwrap(), "", "never written to");
}

#[test]
fn built_from_keepalived_conf_with_script_security() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let good = write_script(dir.path(), "good.sh", "exit 0");
    let bad = write_script(dir.path(), "bad.sh", "exit 0");
    std::os::unix::fs::chown(&bad, Some(1000), None).unwrap();
    let fifo = dir.path().join("f.fifo");
    let text = format!(
        r#"
global_defs {{
    enable_script_security
    script_user root
    notify_fifo {fifo}
}}
vrrp_sync_group G {{
    group {{
        VI_1
        VI_2
    }}
    notify_master "{good} group master"
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {{
        192.0.2.1
    }}
    notify_master "{good} 'is master'"
    notify_backup {bad}
    notify {good}
}}
vrrp_instance VI_2 {{
    interface eth0
    virtual_router_id 2
    priority 100
    virtual_ipaddress {{
        192.0.2.2
    }}
}}
"#,
        fifo = fifo.display(),
        good = good.display(),
        bad = bad.display(),
    );
    let loaded = conf::load_keepalived_str("n.conf", &text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    let (cfg, refused) = NotifierConfig::from_config(&loaded.config).unwrap();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]
            .to_string()
            .contains(&format!("{} is writable by uid 1000", bad.display())),
        "{}",
        refused[0]
    );
    assert_eq!(cfg.fifos, [fifo]);
    let vi1 = &cfg.scripts[&(Subject::Instance, "VI_1".to_owned())];
    assert_eq!(
        vi1.master.as_ref().unwrap().argv(),
        [good.display().to_string(), "is master".to_owned()]
    );
    assert_eq!(vi1.master.as_ref().unwrap().user().unwrap().user, "root");
    assert!(vi1.backup.is_none(), "the insecure script is not run");
    assert!(vi1.any.is_some());
    let g = &cfg.scripts[&(Subject::Group, "G".to_owned())];
    assert_eq!(g.master.as_ref().unwrap().argv().len(), 3);
    assert!(!cfg
        .scripts
        .contains_key(&(Subject::Instance, "VI_2".to_owned())));
}
