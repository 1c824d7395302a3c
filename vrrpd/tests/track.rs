#![allow(clippy::unwrap_used)]
//! keepalived's tracking rules (vrrp_track.c, vrrp_scheduler.c,
//! vrrp_sync.c) on the sans-IO trackers.

use std::time::{Duration, Instant};

use vrrpd::fsm::State;
use vrrpd::track::{
    Kind, RiseFall, ScriptResult, ScriptScheduler, Status, SyncAction, SyncGroup, TrackState,
    Trackers,
};

use ScriptResult::{Failure, Success, TimedOut};

fn prio(t: &Trackers) -> u8 {
    t.effective_priority()
}

/// Script weights: `weight > 0` adds while up, `weight < 0` adds while
/// down, `reverse` flips the sign (process_script_update_priority).
#[test]
fn script_weights_positive_negative_reverse() {
    // (weight, reverse, prio when up, prio when down), base 100.
    let cases = [
        (10, false, 110, 100),
        (-10, false, 100, 90),
        (10, true, 90, 100),
        (-10, true, 100, 110),
    ];
    for (w, rev, up, down) in cases {
        let mut t = Trackers::new("VI", 100);
        t.add_script("chk", w, rev, 1, 1, false);
        assert_eq!(prio(&t), 100, "pending adds nothing (w={w} rev={rev})");
        t.script_result("chk", Success);
        assert_eq!(prio(&t), up, "up (w={w} rev={rev})");
        t.script_result("chk", Failure);
        assert_eq!(prio(&t), down, "down (w={w} rev={rev})");
        t.script_result("chk", Success);
        assert_eq!(prio(&t), up, "up again (w={w} rev={rev})");
        assert!(!t.fault());
    }
}

#[test]
fn weight_zero_means_fault_and_reverse_inverts_it() {
    let mut t = Trackers::new("VI", 100);
    t.add_script("chk", 0, false, 1, 1, false);
    assert!(t.fault(), "a pending weight-0 script holds the instance");
    assert!(t.is_pending());
    assert!(t
        .state()
        .reason
        .contains("waiting for the first result of vrrp_script chk"));
    let ch = t.script_result("chk", Success).unwrap();
    assert_eq!(
        ch,
        TrackState {
            effective_priority: 100,
            fault: false,
            reason: "vrrp_script chk up".into()
        }
    );
    assert!(!t.is_pending());
    let ch = t.script_result("chk", TimedOut).unwrap();
    assert!(ch.fault);
    assert_eq!(ch.reason, "vrrp_script chk down (timed out)");
    assert_eq!(t.fault_reasons(), ["vrrp_script chk down"]);

    let mut t = Trackers::new("VI", 100);
    t.add_interface("eth1", 0, true);
    assert!(t.fault(), "reverse weight 0: up is FAULT");
    let ch = t.interface_changed("eth1", false).unwrap();
    assert!(!ch.fault);
}

#[test]
fn effective_priority_is_clamped_and_owner_is_untouched() {
    let mut t = Trackers::new("VI", 250);
    t.add_interface("eth1", 10, false);
    assert_eq!(prio(&t), 254, "255 and above is 254");
    let mut t = Trackers::new("VI", 5);
    t.add_interface("eth1", -20, false);
    t.interface_changed("eth1", false);
    assert_eq!(prio(&t), 1, "below 1 is 1");

    let mut t = Trackers::new("VI", 255);
    t.add_interface("eth1", -50, false);
    t.add_interface("eth2", 0, false);
    assert_eq!(t.interface_changed("eth1", false), None);
    assert_eq!(prio(&t), 255, "an address owner keeps 255");
    let ch = t.interface_changed("eth2", false).unwrap();
    assert_eq!(
        (ch.effective_priority, ch.fault),
        (255, true),
        "but can be FAULT"
    );
}

#[test]
fn contributions_add_up() {
    let mut t = Trackers::new("VI", 100);
    t.add_interface("eth1", -30, false);
    t.add_script("a", 20, false, 1, 1, false);
    t.add_script("b", -15, false, 1, 1, false);
    t.add_file("f", 3, false);
    t.add_process("p", 7, false, 1, None);
    t.script_result("a", Success);
    t.script_result("b", Failure);
    t.file_value("f", 4);
    t.process_count("p", 2);
    // 100 + 20 - 15 + 12 + 7
    assert_eq!(prio(&t), 124);
    let ch = t.interface_changed("eth1", false).unwrap();
    assert_eq!(ch.effective_priority, 94);
    assert_eq!(ch.reason, "interface eth1 down");
    // No change, no event.
    assert_eq!(t.interface_changed("eth1", false), None);
    assert_eq!(t.interface_changed("unknown0", false), None);
    assert_eq!(t.script_result("unknown", Failure), None);
}

/// rise/fall counting of vrrp_script_child_thread.
#[test]
fn rise_and_fall() {
    let mut rf = RiseFall::new(2, 3, false);
    assert_eq!(rf.status(), Status::Pending);
    // One success is enough the first time.
    assert_eq!(rf.record(true), Some(Status::Up));
    assert_eq!(rf.record(false), None);
    assert_eq!(rf.record(false), None);
    assert_eq!(rf.record(false), Some(Status::Down), "third failure");
    assert_eq!(rf.record(true), None);
    assert_eq!(rf.record(false), None, "a failure restarts the rise count");
    assert_eq!(rf.record(true), None);
    assert_eq!(rf.record(true), Some(Status::Up), "second success in a row");
    // A success in between resets the fall count.
    assert_eq!(rf.record(false), None);
    assert_eq!(rf.record(false), None);
    assert_eq!(rf.record(true), None);
    assert_eq!(rf.record(false), None);
    assert_eq!(rf.record(false), None);
    assert_eq!(rf.record(false), Some(Status::Down));

    // One failure is enough the first time, whatever `fall` is.
    let mut rf = RiseFall::new(2, 3, false);
    assert_eq!(rf.record(false), Some(Status::Down));
    assert_eq!(rf.record(true), None);
    assert_eq!(rf.record(true), Some(Status::Up));

    // init_fail starts down and needs `rise` successes.
    let mut rf = RiseFall::new(3, 1, true);
    assert_eq!(rf.status(), Status::Down);
    assert_eq!(rf.record(true), None);
    assert_eq!(rf.record(true), None);
    assert_eq!(rf.record(true), Some(Status::Up));
    assert_eq!(rf.record(false), Some(Status::Down));
}

#[test]
fn init_fail_counts_as_down_from_the_start() {
    let mut t = Trackers::new("VI", 100);
    t.add_script("chk", -10, false, 2, 2, true);
    assert_eq!(prio(&t), 90);
    assert_eq!(t.script_result("chk", Success), None);
    let ch = t.script_result("chk", Success).unwrap();
    assert_eq!(ch.effective_priority, 100);
}

/// update_track_file_status: value × weight × (reverse ? -1 : 1), clamped to
/// -254..253, -254 is FAULT; weight 0: non-zero is FAULT.
#[test]
fn track_file_rules() {
    let mut t = Trackers::new("VI", 100);
    t.add_file("f", 1, false);
    assert_eq!(t.file_value("f", 5).unwrap().effective_priority, 105);
    assert_eq!(t.file_value("f", -20).unwrap().effective_priority, 80);
    let ch = t.file_value("f", -254).unwrap();
    assert!(ch.fault);
    assert_eq!(ch.reason, "track_file f value -254");
    let ch = t.file_value("f", -1000).map(|c| c.fault);
    assert_eq!(ch, None, "clamped to -254: no change");
    assert!(!t.file_value("f", 0).unwrap().fault);

    let mut t = Trackers::new("VI", 100);
    t.add_file("f", 2, true);
    assert_eq!(t.file_value("f", 10).unwrap().effective_priority, 80);
    let mut t = Trackers::new("VI", 1);
    t.add_file("f", 2, false);
    // 200 * 2 clamps to 253: 1 + 253 = 254.
    assert_eq!(t.file_value("f", 200).unwrap().effective_priority, 254);
    let mut t = Trackers::new("VI", 100);
    t.add_file("f", -2, false);
    assert!(
        t.file_value("f", 127).unwrap().fault,
        "-254 after the weight"
    );

    let mut t = Trackers::new("VI", 100);
    t.add_file("f", 0, false);
    assert!(t.file_value("f", 3).unwrap().fault);
    assert!(!t.file_value("f", 0).unwrap().fault);
}

#[test]
fn process_quorum_range() {
    let mut t = Trackers::new("VI", 100);
    t.add_process("web", 0, false, 2, Some(4));
    assert!(t.fault(), "no quorum before the first count");
    assert_eq!(t.process_count("web", 1), None);
    assert!(!t.process_count("web", 2).unwrap().fault);
    assert_eq!(t.process_count("web", 4), None);
    let ch = t.process_count("web", 5).unwrap();
    assert!(ch.fault);
    assert_eq!(ch.reason, "track_process web lost quorum");
    assert!(!t.process_count("web", 3).unwrap().fault);
}

#[test]
fn fault_reason_names_the_tracker_still_holding_it() {
    let mut t = Trackers::new("VI", 100);
    t.add_interface("eth1", 0, false);
    t.add_interface("eth2", 0, false);
    t.interface_changed("eth1", false);
    t.interface_changed("eth2", false);
    assert_eq!(
        t.fault_reasons(),
        ["interface eth1 down", "interface eth2 down"]
    );
    assert_eq!(t.interface_changed("eth1", true), None, "still FAULT");
    assert_eq!(
        t.state().reason,
        "interface eth1 up; in FAULT: interface eth2 down"
    );
    assert!(!t.interface_changed("eth2", true).unwrap().fault);
}

const CONF: &str = r#"
vrrp_script chk_a {
    script "/bin/true"
    interval 2
    weight -20
    rise 2
    fall 2
}
vrrp_script chk_b {
    script "/bin/true"
    weight 10
}
track_file tf {
    file "/tmp/does-not-matter"
    weight 3
}
vrrp_track_process web {
    process nginx
    quorum 2
    weight -40
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    track_interface {
        eth9
    }
    sync_group_tracking_weight
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 150
    virtual_ipaddress {
        192.0.2.1
    }
    track_script {
        chk_a
        chk_b weight 30
    }
    track_file {
        tf
    }
    track_process {
        web
    }
    track_interface {
        eth1 weight -5
    }
}
vrrp_instance VI_2 {
    interface eth0
    dont_track_primary
    virtual_router_id 2
    priority 100
    virtual_ipaddress {
        192.0.2.2
    }
}
"#;

#[test]
fn built_from_keepalived_conf() {
    let loaded = conf::load_keepalived_str("t.conf", CONF, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    let cfg = &loaded.config;

    let vi1 = cfg.vrrp_instance("VI_1").unwrap();
    let mut t = Trackers::from_config(cfg, vi1);
    assert_eq!(
        t.tracked(Kind::Interface).collect::<Vec<_>>(),
        ["eth0", "eth1", "eth9"]
    );
    assert_eq!(t.scripts().collect::<Vec<_>>(), ["chk_a", "chk_b"]);
    // web has no quorum yet: -40.
    assert_eq!(t.effective_priority(), 110);
    t.process_count("web", 2);
    assert_eq!(t.effective_priority(), 150);
    // chk_b's weight is overridden to 30.
    t.script_result("chk_b", Success);
    assert_eq!(t.effective_priority(), 180);
    t.script_result("chk_a", Failure);
    assert_eq!(t.effective_priority(), 160);
    t.file_value("tf", 2);
    assert_eq!(t.effective_priority(), 166);
    t.interface_changed("eth1", false);
    assert_eq!(t.effective_priority(), 161);
    // The primary interface and the sync group's interface are weight 0.
    assert!(t.interface_changed("eth0", false).unwrap().fault);
    t.interface_changed("eth0", true);
    assert!(t.interface_changed("eth9", false).unwrap().fault);

    let vi2 = cfg.vrrp_instance("VI_2").unwrap();
    let t2 = Trackers::from_config(cfg, vi2);
    assert_eq!(t2.tracked(Kind::Interface).collect::<Vec<_>>(), ["eth9"]);
    assert_eq!(t2.effective_priority(), 100);
}

/// keepalived: without `sync_group_tracking_weight`, a sync group
/// member's tracker weights are ignored; every failure is a FAULT.
#[test]
fn sync_group_members_track_with_weight_zero() {
    let text = CONF.replace("    sync_group_tracking_weight\n", "");
    let loaded = conf::load_keepalived_str("t.conf", &text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    let cfg = &loaded.config;
    let mut t = Trackers::from_config(cfg, cfg.vrrp_instance("VI_1").unwrap());
    // Weight 0 scripts hold the instance in FAULT until their first result.
    assert!(t.fault());
    t.script_result("chk_a", Success);
    t.script_result("chk_a", Success);
    t.script_result("chk_b", Success);
    // The process tracker without quorum is a fault, not -40.
    assert_eq!(t.fault_reasons(), ["track_process web lost quorum"]);
    assert!(!t.process_count("web", 2).unwrap().fault);
    // chk_b's +30 does not count.
    assert_eq!(t.effective_priority(), 150);
    // chk_a falls after 2 failures: FAULT instead of -20.
    t.script_result("chk_a", Failure);
    assert!(t.script_result("chk_a", Failure).unwrap().fault);
}

#[test]
fn scheduler_runs_each_script_at_its_interval_never_overlapping() {
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    let mut sch = ScriptScheduler::new();
    sch.add("a", 2 * s);
    sch.add("b", 5 * s);
    assert_eq!(sch.next_deadline(), None, "nothing before start");
    sch.start(t0);
    assert_eq!(sch.next_deadline(), Some(t0));
    assert_eq!(sch.due(t0), ["a", "b"]);
    assert!(sch.is_running("a"));
    assert_eq!(sch.due(t0), Vec::<String>::new());
    assert_eq!(sch.next_deadline(), Some(t0 + 2 * s));
    sch.finished("b");
    // a is still running at its next turn: skipped, not doubled.
    assert_eq!(sch.due(t0 + 2 * s), Vec::<String>::new());
    assert_eq!(sch.skipped("a"), 1);
    sch.finished("a");
    assert_eq!(sch.next_deadline(), Some(t0 + 4 * s));
    assert_eq!(sch.due(t0 + 4 * s), ["a"]);
    sch.finished("a");
    assert_eq!(sch.due(t0 + 5 * s), ["b"]);
    sch.finished("b");
    // A late driver does not get a burst of catch-up runs.
    assert_eq!(sch.due(t0 + 20 * s), ["a", "b"]);
    sch.finished("a");
    sch.finished("b");
    assert_eq!(sch.next_deadline(), Some(t0 + 22 * s));
    assert_eq!(sch.due(t0 + 21 * s), Vec::<String>::new());
}

#[test]
fn sync_group_fault_spreads_and_clears() {
    let mut g = SyncGroup::new("G", ["A", "B", "C"]);
    for m in ["A", "B", "C"] {
        g.on_member_state(m, State::Backup);
    }
    assert_eq!(g.state(), State::Backup);
    let acts = g.member_fault("A", true);
    assert_eq!(
        acts,
        [
            ("B".to_string(), SyncAction::Fault),
            ("C".to_string(), SyncAction::Fault)
        ]
    );
    assert_eq!(g.take_group_change(), Some(State::Fault));
    assert_eq!(g.take_group_change(), None);
    // Members going FAULT because of the group change nothing more.
    assert_eq!(g.on_member_state("B", State::Fault), []);
    // A second own fault: still FAULT; A recovering is not enough.
    assert_eq!(g.member_fault("C", true), []);
    assert_eq!(g.member_fault("A", false), []);
    assert_eq!(g.state(), State::Fault);
    // The last one recovers: the group-imposed faults are lifted.
    let acts = g.member_fault("C", false);
    assert_eq!(
        acts,
        [
            ("B".to_string(), SyncAction::LeaveFault),
            ("C".to_string(), SyncAction::LeaveFault)
        ]
    );
    assert_eq!(g.state(), State::Backup);
    assert_eq!(g.take_group_change(), Some(State::Backup));
}

#[test]
fn sync_group_master_and_backup_follow() {
    let mut g = SyncGroup::new("G", ["A", "B", "C"]);
    for m in ["A", "B", "C"] {
        g.on_member_state(m, State::Backup);
    }
    let acts = g.on_member_state("A", State::Master);
    assert_eq!(
        acts,
        [
            ("B".to_string(), SyncAction::Master),
            ("C".to_string(), SyncAction::Master)
        ]
    );
    assert_eq!(g.take_group_change(), Some(State::Master));
    assert_eq!(g.on_member_state("B", State::Master), []);
    assert_eq!(g.on_member_state("C", State::Master), []);
    // B hears a better master: everyone steps down.
    let acts = g.on_member_state("B", State::Backup);
    assert_eq!(
        acts,
        [
            ("A".to_string(), SyncAction::Backup),
            ("C".to_string(), SyncAction::Backup)
        ]
    );
    assert_eq!(g.take_group_change(), Some(State::Backup));
    assert_eq!(g.on_member_state("X", State::Master), [], "not a member");
}

#[test]
fn sync_group_master_only_if_everyone_wants_it() {
    let g = SyncGroup::new("G", ["A", "B"]);
    assert!(!g.can_goto_master("A", |_| false));
    assert!(g.can_goto_master("A", |m| m == "B"));
    let mut g = g;
    g.on_member_state("A", State::Master);
    assert!(
        g.can_goto_master("B", |_| false),
        "the group is already MASTER"
    );
}

#[test]
fn a_new_base_priority_keeps_tracker_state() {
    let mut t = vrrpd::track::Trackers::new("VI_1", 100);
    t.add_interface("eth1", -30, false);
    t.interface_changed("eth1", false);
    assert_eq!(t.effective_priority(), 70);
    let s = t.set_base_priority(150).unwrap();
    assert_eq!(s.effective_priority, 120);
    assert!(t.set_base_priority(150).is_none());
}
