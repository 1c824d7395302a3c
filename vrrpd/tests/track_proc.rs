#![allow(clippy::unwrap_used)]
//! Counting tracked processes by scanning /proc.

use std::fs;
use std::path::Path;
use std::process::{Child, Command};

use conf::model::ParamMatch;
use vrrpd::track::{count_processes, QuorumDelay, TrackedProcess, Trackers};

fn tracked(name: &str, process: &str, params: &[&str], m: ParamMatch) -> TrackedProcess {
    TrackedProcess {
        name: name.into(),
        process: process.into(),
        params: params.iter().map(|s| s.to_string()).collect(),
        param_match: m,
        full_command: false,
        quorum: 1,
        quorum_max: None,
    }
}

struct Kill(Vec<Child>);
impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn counts_real_processes_by_name_and_params() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of sleep under a name no other process has (comm is the file
    // name, at most 15 bytes).
    let name = format!("trk{}", std::process::id());
    let exe = dir.path().join(&name);
    fs::copy("/bin/sleep", &exe).unwrap();
    let mut kids = Kill(Vec::new());
    for arg in ["1000", "1000", "1000", "999"] {
        kids.0.push(Command::new(&exe).arg(arg).spawn().unwrap());
    }
    // The kernel sets comm late in exec, after the parent may already be
    // running again: wait (bounded) until every child shows its new name.
    for _ in 0..500 {
        let ready = kids.0.iter().all(|c| {
            fs::read_to_string(format!("/proc/{}/comm", c.id()))
                .is_ok_and(|comm| comm.trim_end() == name)
        });
        if ready {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let any = tracked("any", &name, &[], ParamMatch::Exact);
    let thousand = tracked("thousand", &name, &["1000"], ParamMatch::Exact);
    let mut full = tracked("full", &exe.display().to_string(), &[], ParamMatch::Exact);
    full.full_command = true;
    let none = tracked("none", "no-such-proc-x", &[], ParamMatch::Exact);
    let all = [any, thousand, full, none];

    let counts = count_processes(Path::new("/proc"), &all);
    assert_eq!(counts["any"], 4);
    assert_eq!(counts["thousand"], 3);
    assert_eq!(counts["full"], 4);
    assert_eq!(counts["none"], 0);

    let mut t = Trackers::new("VI", 100);
    t.add_process("thousand", -50, false, 3, Some(3));
    assert_eq!(
        t.process_count("thousand", counts["thousand"])
            .unwrap()
            .effective_priority,
        100
    );

    let mut c = kids.0.remove(0);
    c.kill().unwrap();
    c.wait().unwrap();
    let counts = count_processes(Path::new("/proc"), &all);
    assert_eq!(counts["thousand"], 2);
    assert_eq!(counts["any"], 3);
    let ch = t.process_count("thousand", counts["thousand"]).unwrap();
    assert_eq!(ch.effective_priority, 50);
}

/// A fake /proc tree, to pin down the parameter rules.
#[test]
fn param_match_exact_initial_partial() {
    let root = tempfile::tempdir().unwrap();
    let procs: &[(&str, &str, &[&str])] = &[
        ("10", "nginx", &["/usr/sbin/nginx", "-g", "daemon off;"]),
        ("11", "nginx", &["nginx: worker process"]),
        (
            "12",
            "nginx",
            &["/usr/sbin/nginx", "-g", "daemon off;", "-c", "/x"],
        ),
        ("13", "haproxy", &["/usr/sbin/haproxy", "-f", "/etc/h.cfg"]),
        ("14", "a-very-long-dae", &["/opt/a-very-long-daemon-name"]),
    ];
    for (pid, comm, argv) in procs {
        let d = root.path().join(pid);
        fs::create_dir(&d).unwrap();
        fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
        let mut cmdline = Vec::new();
        for a in *argv {
            cmdline.extend_from_slice(a.as_bytes());
            cmdline.push(0);
        }
        fs::write(d.join("cmdline"), cmdline).unwrap();
    }
    fs::create_dir(root.path().join("self")).unwrap();

    let all = [
        tracked("n", "nginx", &[], ParamMatch::Exact),
        tracked("exact", "nginx", &["-g", "daemon off;"], ParamMatch::Exact),
        tracked("initial", "nginx", &["-g"], ParamMatch::Initial),
        tracked("partial", "nginx", &["-c", "/x"], ParamMatch::Partial),
        tracked("long", "a-very-long-daemon-name", &[], ParamMatch::Exact),
        tracked("h", "haproxy", &["-f", "/etc/h.cfg"], ParamMatch::Exact),
    ];
    let c = count_processes(root.path(), &all);
    assert_eq!(c["n"], 3);
    assert_eq!(c["exact"], 1);
    assert_eq!(c["initial"], 2);
    assert_eq!(c["partial"], 1);
    assert_eq!(
        c["long"], 1,
        "names longer than 15 bytes match the truncated comm"
    );
    assert_eq!(c["h"], 1);
}

#[test]
fn quorum_bounds() {
    let mut p = tracked("p", "x", &[], ParamMatch::Exact);
    p.quorum = 2;
    p.quorum_max = Some(3);
    assert!(!p.has_quorum(1));
    assert!(p.has_quorum(2));
    assert!(p.has_quorum(3));
    assert!(!p.has_quorum(4));
    p.quorum_max = None;
    assert!(p.has_quorum(1000));
}

#[test]
fn fork_and_terminate_delays() {
    let t0 = std::time::Instant::now();
    let s = std::time::Duration::from_secs(1);
    let cfg = conf::model::TrackProcess {
        name: "p".into(),
        process: "x".into(),
        quorum: 2,
        fork_delay: 2 * s,
        terminate_delay: 3 * s,
        ..Default::default()
    };
    let mut d = QuorumDelay::new(&cfg);
    // The first count is reported at once.
    assert_eq!(d.observe(t0, 0), Some(false));
    assert_eq!(d.next_deadline(), None);
    // Quorum gained: reported after fork_delay.
    assert_eq!(d.observe(t0 + s, 2), None);
    assert_eq!(d.next_deadline(), Some(t0 + 3 * s));
    assert_eq!(d.poll(t0 + 2 * s), None);
    assert_eq!(d.observe(t0 + 2 * s, 3), None, "still up, same deadline");
    assert_eq!(d.next_deadline(), Some(t0 + 3 * s));
    assert_eq!(d.poll(t0 + 3 * s), Some(true));
    // Lost and back within terminate_delay: never reported.
    assert_eq!(d.observe(t0 + 4 * s, 1), None);
    assert_eq!(d.next_deadline(), Some(t0 + 7 * s));
    assert_eq!(d.observe(t0 + 5 * s, 2), None);
    assert_eq!(d.next_deadline(), None);
    assert_eq!(d.poll(t0 + 8 * s), None);
    // Lost for good.
    assert_eq!(d.observe(t0 + 9 * s, 0), None);
    assert_eq!(
        d.observe(t0 + 12 * s, 0),
        Some(false),
        "a count after the delay reports it"
    );

    // Without delays, changes are reported at once.
    let cfg = conf::model::TrackProcess {
        quorum: 1,
        ..Default::default()
    };
    let mut d = QuorumDelay::new(&cfg);
    assert_eq!(d.observe(t0, 1), Some(true));
    assert_eq!(d.observe(t0, 0), Some(false));
    assert_eq!(d.observe(t0, 5), Some(true));
}
