#![allow(clippy::unwrap_used)]
//! `vrrp_sync_group` with real vrrpd daemons: members move to MASTER and
//! BACKUP together (keepalived `vrrp_sync_master` / `vrrp_sync_backup`),
//! so the addresses of a group never end up split between two nodes.

mod common;

use common::{opts, vrrpd_log};
use netns_tests::config::vip;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, Version};
use std::time::Duration;

const ADVERT: f64 = 0.1;

fn instance(vrid: u8, prio: u8, vip_index: usize) -> Instance {
    Instance::new(vrid, prio, Version::V3, Family::V4, ADVERT)
        .with_vips(vec![vip(Family::V4, vip_index)])
}

const GROUP: &str = "vrrp_sync_group G {\n    group {\n        VI_50\n        VI_51\n    }\n}\n";

/// n1 is master of both members (150 against 100). A failing check on
/// VI_50 alone: its weight is ignored in a sync group (keepalived: FAULT
/// instead), the group goes to FAULT on n1 and n2 takes both members
/// together. Recovery brings both back to n1 together, and at start-up the
/// members became master only once both were ready.
#[test]
fn members_move_together_on_fault_and_recovery() {
    let test = "members_move_together_on_fault_and_recovery";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (va, _) = vip(Family::V4, 10);
    let (vb, _) = vip(Family::V4, 11);
    let flag = t.dir().join("n1-healthy");
    std::fs::write(&flag, b"ok").unwrap();
    let script = format!(
        "vrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 1\n    fall 1\n    rise 1\n    weight -60\n}}\n{GROUP}",
        flag.display()
    );
    let n1 = KeepalivedConf::new(
        "n1",
        vec![
            instance(50, 150, 10).with_extra("track_script {\n    chk\n}"),
            instance(51, 150, 11),
        ],
    )
    .with_extra(script);
    let n2 = KeepalivedConf::new("n2", vec![instance(50, 100, 10), instance(51, 100, 11)])
        .with_extra(GROUP);
    t.start(Node(1), Daemon::Vrrpd, &n1).unwrap();
    t.start(Node(2), Daemon::Vrrpd, &n2).unwrap();
    let logs = |t: &Topology| {
        format!(
            "n1:\n{}\nn2:\n{}",
            vrrpd_log(t, Node(1)),
            vrrpd_log(t, Node(2))
        )
    };
    for v in [va, vb] {
        t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}\n{}", logs(&t)));
    }
    let log1 = vrrpd_log(&t, Node(1));
    assert!(log1.contains("sync group ready: taking MASTER"), "{log1}");
    assert!(log1.contains("weight -60 ignored"), "{log1}");

    std::fs::remove_file(&flag).unwrap();
    for v in [va, vb] {
        t.wait_for_sole_holder(Node(2), v, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}\n{}", logs(&t)));
    }
    let log1 = vrrpd_log(&t, Node(1));
    assert!(log1.contains("VRRP_Group(G) MASTER -> FAULT"), "{log1}");
    let log2 = vrrpd_log(&t, Node(2));
    assert!(log2.contains("BACKUP -> MASTER (sync group)"), "{log2}");

    std::fs::write(&flag, b"ok").unwrap();
    for v in [va, vb] {
        t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}\n{}", logs(&t)));
    }
    // n2 gave both up; nothing is split.
    std::thread::sleep(Duration::from_millis(500));
    for v in [va, vb] {
        assert!(!t.has_addr(Node(2), v).unwrap(), "{}", logs(&t));
    }
}
