#![allow(clippy::unwrap_used)]
//! vrrpd's trackers and notifications with real daemons: a failing
//! `vrrp_script` lowers the priority and moves the VIP; the instance's own
//! interface going down puts it in FAULT; notify scripts receive
//! keepalived's arguments in state-change order.

mod common;

use common::{opts, vrrpd_log};
use netns_tests::config::vip;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, Version};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const ADVERT: f64 = 0.1;

fn instance(vrid: u8, prio: u8) -> Instance {
    Instance::new(vrid, prio, Version::V3, Family::V4, ADVERT)
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn failing_track_script_moves_the_vip_and_recovery_brings_it_back() {
    let test = "failing_track_script_moves_the_vip_and_recovery_brings_it_back";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    let flag = t.dir().join("n1-healthy");
    std::fs::write(&flag, b"ok").unwrap();
    let script = format!(
        "vrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 1\n    fall 2\n    rise 1\n    weight -60\n}}\n",
        flag.display()
    );
    let n1 = KeepalivedConf::new(
        "n1",
        vec![instance(40, 150).with_extra("track_script {\n    chk\n}")],
    )
    .with_extra(script);
    t.start(Node(1), Daemon::Vrrpd, &n1).unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![instance(40, 100)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();

    // The check fails: after `fall` failures n1 runs at 150 - 60 = 90 < 100
    // and n2 preempts: fall x interval + Master_Down_Interval.
    std::fs::remove_file(&flag).unwrap();
    t.wait_for_sole_holder(Node(2), v, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    let log = vrrpd_log(&t, Node(1));
    assert!(log.contains("effective priority 150 -> 90"), "{log}");

    // It passes again: back to 150, n1 preempts.
    std::fs::write(&flag, b"ok").unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    assert!(vrrpd_log(&t, Node(1)).contains("effective priority 90 -> 150"));
}

#[test]
fn own_interface_down_is_fault_and_up_again_recovers() {
    let test = "own_interface_down_is_fault_and_up_again_recovers";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n1", vec![instance(41, 150)]),
    )
    .unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![instance(41, 100)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    // keepalived tracks an instance's own interface with weight 0: down is
    // FAULT, and a master in FAULT gives up its addresses.
    t.link_down(Node(1)).unwrap();
    t.wait_until("n1 in FAULT", Duration::from_secs(10), || {
        Ok(vrrpd_log(&t, Node(1)).contains("MASTER -> FAULT"))
    })
    .unwrap();
    t.wait_until("n2 holds the VIP", Duration::from_secs(10), || {
        t.has_addr(Node(2), v)
    })
    .unwrap();
    assert!(
        !t.has_addr(Node(1), v).unwrap(),
        "a FAULT node keeps no VIP"
    );
    t.link_up(Node(1)).unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    assert!(vrrpd_log(&t, Node(1)).contains("FAULT -> BACKUP"));
}

#[test]
fn notify_scripts_get_keepalived_arguments_in_order() {
    let test = "notify_scripts_get_keepalived_arguments_in_order";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    let out = t.dir().join("notify.out");
    let generic = t.dir().join("notify.sh");
    write_script(&generic, &format!("echo \"$@\" >> {}", out.display()));
    let on_master = t.dir().join("master.sh");
    write_script(
        &on_master,
        &format!("echo \"notify_master $@\" >> {}", out.display()),
    );
    let extra = format!(
        "notify {}\nnotify_master \"{} extra-arg\"",
        generic.display(),
        on_master.display()
    );
    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n1", vec![instance(42, 150).with_extra(extra)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    // A higher priority node arrives: n1 goes BACKUP; it leaves: MASTER.
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![instance(42, 200)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(2), v, Duration::from_secs(10))
        .unwrap();
    t.stop_daemon(Node(2), Duration::from_secs(10)).unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    t.stop_daemon(Node(1), Duration::from_secs(10)).unwrap();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "INSTANCE VI_42 BACKUP 150",
            "notify_master extra-arg",
            "INSTANCE VI_42 MASTER 150",
            "INSTANCE VI_42 BACKUP 150",
            "notify_master extra-arg",
            "INSTANCE VI_42 MASTER 150",
            "INSTANCE VI_42 STOP 150",
        ],
        "{text}\n{}",
        vrrpd_log(&t, Node(1))
    );
}

#[test]
fn virtual_server_checks_run_in_vrrpd_and_fire_notify_scripts() {
    let test = "virtual_server_checks_run_in_vrrpd_and_fire_notify_scripts";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(1)).unwrap();
    let flag = t.dir().join("backend-healthy");
    std::fs::write(&flag, b"ok").unwrap();
    let out = t.dir().join("rs-notify.out");
    let up = t.dir().join("up.sh");
    let down = t.dir().join("down.sh");
    write_script(&up, &format!("echo up >> {}", out.display()));
    write_script(&down, &format!("echo down >> {}", out.display()));
    let vs = format!(
        "virtual_server 192.0.2.200 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n    real_server 192.0.2.50 80 {{\n        weight 1\n        notify_up {}\n        notify_down {}\n        MISC_CHECK {{\n            misc_path \"/usr/bin/test -e {}\"\n            misc_timeout 2\n        }}\n    }}\n}}\n",
        up.display(),
        down.display(),
        flag.display()
    );
    let conf = KeepalivedConf::new("n1", vec![instance(43, 150)]).with_extra(vs);
    t.start(Node(1), Daemon::Vrrpd, &conf).unwrap();
    let lines = || std::fs::read_to_string(&out).unwrap_or_default();
    // keepalived starts real servers up (no `alpha`), without notify_up.
    // The check fails: notify_down.
    t.wait_until("the first pool event", Duration::from_secs(10), || {
        Ok(vrrpd_log(&t, Node(1)).contains("pool change"))
    })
    .unwrap();
    std::fs::remove_file(&flag).unwrap();
    t.wait_until("notify_down", Duration::from_secs(10), || {
        Ok(lines() == "down\n")
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", lines(), vrrpd_log(&t, Node(1))));
    // It passes again: notify_up.
    std::fs::write(&flag, b"ok").unwrap();
    t.wait_until("notify_up", Duration::from_secs(10), || {
        Ok(lines() == "down\nup\n")
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", lines(), vrrpd_log(&t, Node(1))));
    let log = vrrpd_log(&t, Node(1));
    assert!(log.contains("pool change"), "{log}");
    assert!(log.contains("health checks started"), "{log}");
    // No lb_sink: IPVS, as keepalived, which this kernel does not have.
    // The operator is told at start-up, the checks run anyway.
    assert!(
        log.contains("IPVS not available: the kernel has no ip_vs module"),
        "{log}"
    );
    assert!(log.contains("virtual server(s) use IPVS"), "{log}");
}
