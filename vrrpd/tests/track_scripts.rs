#![allow(clippy::unwrap_used)]
//! vrrp_script configuration → runnable scripts, and one end-to-end loop:
//! scheduler → script runner → trackers.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemon::script::ScriptError;
use vrrpd::track::{track_scripts_from_config, ScriptResult, ScriptScheduler, Trackers};

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn load(text: &str) -> conf::Config {
    let loaded = conf::load_keepalived_str("t.conf", text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    loaded.config
}

#[test]
fn used_scripts_are_built_insecure_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let good = write_script(dir.path(), "good.sh", "exit 0");
    let bad = write_script(dir.path(), "bad.sh", "exit 0");
    std::os::unix::fs::chown(&bad, Some(1000), None).unwrap();
    let cfg = load(&format!(
        r#"
global_defs {{
    enable_script_security
    script_user root
}}
vrrp_script good {{
    script "{good} 'an arg'"
    interval 3
    timeout 2
}}
vrrp_script as_nobody {{
    script "{bad}"
    user nobody
}}
vrrp_script bad {{
    script "{bad}"
}}
vrrp_script unused {{
    script "{good}"
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {{
        192.0.2.1
    }}
    track_script {{
        good
        bad
        as_nobody
    }}
}}
"#,
        good = good.display(),
        bad = bad.display()
    ));
    let (scripts, refused) = track_scripts_from_config(&cfg);
    let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["good", "as_nobody"],
        "unused is not run, bad is refused"
    );
    let g = &scripts[0];
    assert_eq!(
        g.script.argv(),
        [good.display().to_string(), "an arg".to_owned()]
    );
    assert_eq!(g.interval, Duration::from_secs(3));
    assert_eq!(g.script.user().unwrap().user, "root");
    // Security applies only to scripts run as root.
    assert_eq!(scripts[1].script.user().unwrap().user, "nobody");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "bad");
    assert!(matches!(refused[0].1, ScriptError::Insecure { .. }));
    assert!(refused[0]
        .1
        .to_string()
        .contains(&format!("{} is writable by uid 1000", bad.display())));
}

#[tokio::test]
async fn scheduler_runner_and_trackers_together() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("healthy");
    let chk = write_script(dir.path(), "chk.sh", &format!("[ -e {} ]", flag.display()));
    let cfg = load(&format!(
        r#"
vrrp_script chk {{
    script "{chk}"
    interval 1
    fall 2
    rise 1
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {{
        192.0.2.1
    }}
    track_script {{
        chk
    }}
}}
"#,
        chk = chk.display()
    ));
    let (scripts, refused) = track_scripts_from_config(&cfg);
    assert!(refused.is_empty(), "{refused:?}");
    let mut trackers = Trackers::from_config(&cfg, cfg.vrrp_instance("VI_1").unwrap());
    let mut sched = ScriptScheduler::new();
    for s in &scripts {
        sched.add(&s.name, s.interval);
    }
    // A simulated clock drives the scheduler; the scripts really run.
    let t0 = Instant::now();
    sched.start(t0);
    let mut faults = Vec::new();
    for turn in 0..5u32 {
        if turn == 0 {
            fs::write(&flag, "").unwrap();
        }
        if turn == 2 {
            fs::remove_file(&flag).unwrap();
        }
        let now = t0 + Duration::from_secs(u64::from(turn));
        for name in sched.due(now) {
            let s = scripts.iter().find(|s| s.name == name).unwrap();
            let result = ScriptResult::from(&s.script.run().await);
            sched.finished(&name);
            if let Some(change) = trackers.script_result(&name, result) {
                faults.push((turn, change.fault));
            }
        }
    }
    // Weight 0: pending (FAULT) until the first success at turn 0, then two
    // failures (fall 2) at turns 2 and 3 put it in FAULT at turn 3.
    assert_eq!(faults, [(0, false), (3, true)]);
}
