#![allow(clippy::unwrap_used)]
//! vrrpd's own behaviour in namespaces, beyond what the interop and drill
//! tests cover: stale VIPs left by a SIGKILLed predecessor, SIGHUP reload
//! (unchanged instances untouched, a bad file refused), and the log line
//! for every state change.

mod common;

use common::{control, opts, vrrpd_log};
use netns_tests::analysis::probe_stats;
use netns_tests::config::vip;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, Version};
use nix::sys::signal::Signal;
use std::time::Duration;

fn instance(vrid: u8, prio: u8, n: usize) -> Instance {
    Instance::new(vrid, prio, Version::V3, Family::V4, 0.1).with_vips(vec![vip(Family::V4, n)])
}

#[test]
fn restart_after_sigkill_removes_stale_vips() {
    let test = "restart_after_sigkill_removes_stale_vips";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    let c1 = KeepalivedConf::new("n1", vec![instance(10, 150, 0)]);
    let c2 = KeepalivedConf::new("n2", vec![instance(10, 100, 0)]);
    t.start(Node(1), Daemon::Vrrpd, &c1).unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    // A crash leaves the VIP on n1's interface.
    t.kill_daemon(Node(1)).unwrap();
    assert!(t.has_addr(Node(1), v).unwrap());
    // n2 runs as master; n1 restarts with a lower priority and no
    // preemption chance: it must drop the stale VIP at start-up instead of
    // answering for an address n2 owns.
    t.start(Node(2), Daemon::Vrrpd, &c2).unwrap();
    let c1_low = KeepalivedConf::new("n1", vec![instance(10, 50, 0)]);
    t.wait_until("n2 holds the VIP", Duration::from_secs(10), || {
        t.has_addr(Node(2), v)
    })
    .unwrap();
    t.start(Node(1), Daemon::Vrrpd, &c1_low).unwrap();
    t.wait_for_sole_holder(Node(2), v, Duration::from_secs(10))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(t.holders(v).unwrap(), vec![Node(2)]);
    assert!(vrrpd_log(&t, Node(1)).contains("start-up cleanup"));
}

#[test]
fn sighup_adds_and_removes_instances_without_touching_the_others() {
    let test = "sighup_adds_and_removes_instances_without_touching_the_others";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let (va, _) = vip(Family::V4, 0);
    let (vb, _) = vip(Family::V4, 1);
    let (vc, _) = vip(Family::V4, 2);
    let pid = t
        .start(
            Node(1),
            Daemon::Vrrpd,
            &KeepalivedConf::new("n1", vec![instance(1, 150, 0), instance(2, 150, 1)]),
        )
        .unwrap();
    t.wait_for_sole_holder(Node(1), va, Duration::from_secs(10))
        .unwrap();
    t.wait_for_sole_holder(Node(1), vb, Duration::from_secs(10))
        .unwrap();

    // Probe instance 1's VIP across a reload that removes instance 2 and
    // adds instance 3.
    let run = t.start_probe(va, 1000, 3000).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let path = t.daemon_config(Node(1)).unwrap();
    std::fs::write(
        &path,
        KeepalivedConf::new("n1", vec![instance(1, 150, 0), instance(3, 150, 2)]).render(),
    )
    .unwrap();
    t.signal(pid, Signal::SIGHUP).unwrap();
    t.wait_until("instance 3's VIP", Duration::from_secs(10), || {
        t.has_addr(Node(1), vc)
    })
    .unwrap();
    t.wait_until("instance 2's VIP gone", Duration::from_secs(10), || {
        Ok(!t.has_addr(Node(1), vb)?)
    })
    .unwrap();
    let s = probe_stats(&t.finish_probe(run).unwrap());
    assert_eq!(s.lost, 0, "a reload must not disturb an unchanged master");
    assert!(s.answered > 0);
    let log = vrrpd_log(&t, Node(1));
    assert!(log.contains("kept=1 updated=0 retired=1 added=1"), "{log}");

    // A bad file is refused with its location; the running config stays.
    std::fs::write(
        &path,
        "vrrp_instance broken {\n  virtual_router_id 999\n}\n",
    )
    .unwrap();
    t.signal(pid, Signal::SIGHUP).unwrap();
    t.wait_until("the refusal in the log", Duration::from_secs(10), || {
        Ok(vrrpd_log(&t, Node(1)).contains("new configuration rejected"))
    })
    .unwrap();
    let log = vrrpd_log(&t, Node(1));
    assert!(
        log.contains(&format!("{}:2:", path.display())),
        "error names file:line: {log}"
    );
    t.check_daemon_alive(Node(1)).unwrap();
    assert!(t.has_addr(Node(1), va).unwrap());
    assert!(t.has_addr(Node(1), vc).unwrap());
}

#[test]
fn every_state_change_is_logged_with_instance_and_reason() {
    let test = "every_state_change_is_logged_with_instance_and_reason";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n1", vec![instance(20, 150, 0)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    t.stop_daemon(Node(1), Duration::from_secs(10)).unwrap();
    let log = vrrpd_log(&t, Node(1));
    for want in [
        "INIT -> BACKUP (startup)",
        "BACKUP -> MASTER",
        "MASTER -> INIT (shutdown)",
    ] {
        assert!(log.contains(want), "missing {want:?} in:\n{log}");
    }
    assert!(log.contains("instance=VI_20"), "{log}");
    // Nothing left behind on a clean stop.
    assert!(!t.has_addr(Node(1), v).unwrap());
}

/// `status` over the control socket.
fn status(t: &Topology, node: Node) -> serde_json::Value {
    let text = control(t, node, "status");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn control_socket_reports_states_priorities_and_transitions() {
    let test = "control_socket_reports_states_priorities_and_transitions";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n1", vec![instance(30, 150, 0)]),
    )
    .unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![instance(30, 100, 0)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    let m = status(&t, Node(1));
    let b = status(&t, Node(2));
    let mi = &m["instances"][0];
    let bi = &b["instances"][0];
    assert_eq!(mi["name"], "VI_30");
    assert_eq!(mi["vrid"], 30);
    assert_eq!(mi["state"], "MASTER");
    assert_eq!(mi["priority"], 150);
    assert_eq!(mi["vips"][0], format!("{v}/32"));
    assert_eq!(mi["vips_installed"], true);
    assert_eq!(bi["state"], "BACKUP");
    assert_eq!(bi["master"], t.node(Node(1)).ipv4.to_string());
    assert!(bi["counters"]["adverts_in"].as_u64().unwrap() > 0);
    // The instance's own interface is tracked (keepalived's implicit
    // weight-0 tracking), up, so no fault.
    assert_eq!(mi["trackers"]["interfaces"][0], "eth0");
    assert_eq!(mi["trackers"]["fault"], false);
    assert_eq!(mi["trackers"]["effective_priority"], 150);
    let last = mi["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["to"], "MASTER");
    assert_eq!(last["from"], "BACKUP");
}

#[test]
fn sighup_updates_a_changed_master_in_place_without_flap() {
    let test = "sighup_updates_a_changed_master_in_place_without_flap";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let (va, _) = vip(Family::V4, 0);
    let (vb, _) = vip(Family::V4, 1);
    let pid = t
        .start(
            Node(1),
            Daemon::Vrrpd,
            &KeepalivedConf::new("n1", vec![instance(5, 150, 0)]),
        )
        .unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![instance(5, 100, 0)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), va, Duration::from_secs(10))
        .unwrap();
    // Same instance, new priority, one more (excluded) VIP: the master
    // stays master, the old VIP is never removed, the new one appears. An
    // extra VIP in virtual_ipaddress would change the advertised address
    // list, which the backup (still on the old file) must refuse (RFC 5798
    // §7.1); excluded addresses are not advertised.
    let run = t.start_probe(va, 1000, 3000).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let changed =
        instance(5, 160, 0).with_extra(format!("virtual_ipaddress_excluded {{\n    {vb}/32\n}}"));
    let path = t.daemon_config(Node(1)).unwrap();
    std::fs::write(&path, KeepalivedConf::new("n1", vec![changed]).render()).unwrap();
    t.signal(pid, Signal::SIGHUP).unwrap();
    t.wait_until("the new VIP", Duration::from_secs(10), || {
        t.has_addr(Node(1), vb)
    })
    .unwrap();
    let s = probe_stats(&t.finish_probe(run).unwrap());
    assert_eq!(s.lost, 0, "the unchanged VIP kept answering");
    assert!(s.responders.iter().all(|(_, n)| n == "n1"));
    let log = vrrpd_log(&t, Node(1));
    assert!(log.contains("kept=0 updated=1 retired=0 added=0"), "{log}");
    assert!(!log.contains("VIP removed"), "{log}");
    assert_eq!(t.holders(va).unwrap(), vec![Node(1)]);
    // The new priority is on the wire: n2's status shows it as the master's.
    assert!(log.contains("effective priority 150 -> 160"), "{log}");
}
