#![allow(clippy::unwrap_used)]
//! keepalived pairs in namespaces: election of the higher priority, what
//! the capture sees on the wire, and failover after SIGKILL, for VRRPv2 /
//! IPv4 and VRRPv3 / IPv6; plus complete drills.

mod common;

use common::opts;
use netns_tests::analysis::{detection, probe_stats};
use netns_tests::clock::mono_us;
use netns_tests::config::vip;
use netns_tests::drill::{run_drill, DrillParams, Scenario};
use netns_tests::wire::Advert;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Peers, Topology, Version};
use std::net::IpAddr;
use std::time::Duration;

const VRID: u8 = 42;

fn conf(node: usize, prio: u8, version: Version, family: Family, adv: f64) -> KeepalivedConf {
    KeepalivedConf::new(
        format!("n{node}"),
        vec![Instance::new(VRID, prio, version, family, adv)],
    )
}

/// Starts a keepalived pair (n1 priority 150, n2 100), checks the election
/// and the adverts, SIGKILLs n1 and checks that n2 takes over.
fn pair_fails_over(test: &str, version: Version, family: Family, adv: f64) {
    if env::require_daemon(test, Daemon::Keepalived).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let cap = t.start_capture().unwrap();
    t.start_echo_all().unwrap();
    t.start(
        Node(1),
        Daemon::Keepalived,
        &conf(1, 150, version, family, adv),
    )
    .unwrap();
    t.start(
        Node(2),
        Daemon::Keepalived,
        &conf(2, 100, version, family, adv),
    )
    .unwrap();
    let (vip, _) = vip(family, 0);

    // The higher priority wins (RFC 5798 §6.4.2) and holds the VIP alone.
    t.wait_for_sole_holder(Node(1), vip, Duration::from_secs(20))
        .unwrap();
    let s = probe_stats(&t.probe(vip, 300).unwrap());
    assert!(s.answered > 0, "nobody answered on {vip}");
    assert!(
        s.responders.iter().all(|(_, n)| n == "n1"),
        "{:?}",
        s.responders
    );

    // The capture sees n1's adverts with the configured fields.
    t.wait_until("two adverts from n1", Duration::from_secs(10), || {
        Ok(t.adverts(&cap)?
            .iter()
            .filter(|a| a.node.as_deref() == Some("n1"))
            .count()
            >= 2)
    })
    .unwrap();
    let before: Vec<Advert> = t.adverts(&cap).unwrap();
    let n1: Vec<&Advert> = before
        .iter()
        .filter(|a| a.node.as_deref() == Some("n1"))
        .collect();
    for a in &n1 {
        assert_eq!(a.vrid, VRID);
        assert_eq!(a.priority, 150);
        assert_eq!(a.version, version.number());
        assert_eq!(a.ttl, 255, "RFC 5798 §5.1.1.3");
        assert_eq!(a.addresses, vec![vip]);
        let want_int = match version {
            Version::V2 => adv as u16,
            Version::V3 => (adv * 100.0).round() as u16,
        };
        assert_eq!(a.advert_int, want_int);
        match family {
            Family::V4 => {
                assert_eq!(a.src, IpAddr::V4(t.node(Node(1)).ipv4));
                assert_eq!(a.dst, "224.0.0.18".parse::<IpAddr>().unwrap());
            }
            Family::V6 => {
                assert_eq!(a.src, IpAddr::V6(t.node(Node(1)).link_local.unwrap()));
                assert_eq!(a.dst, "ff02::12".parse::<IpAddr>().unwrap());
            }
        }
    }
    assert_eq!(before.last().unwrap().node.as_deref(), Some("n1"));

    // SIGKILL n1 (and its service) while probing: n2 takes over.
    let probe_ms = (500.0 + 4000.0 * adv + 1500.0) as u64;
    let run = t.start_probe(vip, 1000, probe_ms).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    t.crash(Node(1)).unwrap();
    let fault = mono_us();
    let s = probe_stats(&t.finish_probe(run).unwrap());
    let names: Vec<&str> = s.responders.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, vec!["n1", "n2"], "client answered by n1, then n2");
    let o = s.longest.unwrap();
    assert!(o.end_us.is_some(), "service came back");
    assert_eq!(o.after.as_deref(), Some("n2"));
    assert!(t.has_addr(Node(2), vip).unwrap());

    let adverts = t.stop_capture(cap).unwrap();
    let d = detection(&adverts, VRID, "n1", fault).unwrap();
    assert_eq!(d.new_master, "n2");
    let n2_after: Vec<&Advert> = adverts
        .iter()
        .filter(|a| a.t_us >= fault && a.node.as_deref() == Some("n2"))
        .collect();
    assert!(n2_after.iter().all(|a| a.priority == 100 && a.vrid == VRID));
    assert!(
        adverts
            .iter()
            .all(|a| a.t_us < fault || a.node.as_deref() != Some("n1")),
        "a SIGKILLed daemon must not advertise"
    );
}

#[test]
fn keepalived_v2_ipv4_pair_fails_over_on_sigkill() {
    pair_fails_over(
        "keepalived_v2_ipv4_pair_fails_over_on_sigkill",
        Version::V2,
        Family::V4,
        1.0,
    );
}

#[test]
fn keepalived_v3_ipv6_pair_fails_over_on_sigkill() {
    pair_fails_over(
        "keepalived_v3_ipv6_pair_fails_over_on_sigkill",
        Version::V3,
        Family::V6,
        0.1,
    );
}

fn drill(scenario: Scenario) -> Option<netns_tests::drill::DrillResult> {
    let name = format!("drill_{}", scenario.name());
    env::require_daemon(&name, Daemon::Keepalived)?;
    let mut p = DrillParams::new(Daemon::Keepalived, scenario, Version::V3, Family::V4, 0.1);
    p.topology = opts(3);
    Some(run_drill(&p).unwrap())
}

#[test]
fn drill_sigterm_hands_over_with_priority_zero() {
    let Some(r) = drill(Scenario::Term) else {
        return;
    };
    let d = r.detection.as_ref().unwrap();
    assert_eq!(d.new_master, "n2", "{}", r.timeline());
    // RFC 5798 §6.4.3: a master that shuts down sends priority 0.
    assert!(
        r.events.iter().any(|(_, e)| e == "n1 resigns (priority 0)"),
        "{}",
        r.timeline()
    );
    assert!(!r.unrecovered(), "{}", r.timeline());
    assert_eq!(r.final_holders, vec!["n2".to_string()], "{}", r.timeline());
}

#[test]
fn drill_partition_leaves_two_masters() {
    let Some(r) = drill(Scenario::Partition) else {
        return;
    };
    assert_eq!(
        r.detection.as_ref().unwrap().new_master,
        "n2",
        "{}",
        r.timeline()
    );
    // n1 keeps carrier and sees no fault: it keeps the VIP, as a real
    // partitioned master does, while n2 serves the client.
    assert_eq!(
        r.final_holders,
        vec!["n1".to_string(), "n2".to_string()],
        "{}",
        r.timeline()
    );
    let o = r.probe.longest.as_ref().unwrap();
    assert_eq!(o.after.as_deref(), Some("n2"), "{}", r.timeline());
}

#[test]
fn drill_restart_with_higher_priority_preempts() {
    let Some(r) = drill(Scenario::RestartHigherPrio) else {
        return;
    };
    assert_eq!(
        r.detection.as_ref().unwrap().new_master,
        "n2",
        "{}",
        r.timeline()
    );
    assert_eq!(r.final_holders, vec!["n2".to_string()], "{}", r.timeline());
    assert_eq!(
        r.probe.responders.last().map(|(_, n)| n.as_str()),
        Some("n2"),
        "{}",
        r.timeline()
    );
}

#[test]
fn keepalived_unicast_adverts_are_captured_at_the_switch() {
    let test = "keepalived_unicast_adverts_are_captured_at_the_switch";
    if env::require_daemon(test, Daemon::Keepalived).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let cap = t.start_capture().unwrap();
    let (a1, a2) = (
        IpAddr::V4(t.node(Node(1)).ipv4),
        IpAddr::V4(t.node(Node(2)).ipv4),
    );
    let inst = |prio, src, peer| {
        Instance::new(VRID, prio, Version::V3, Family::V4, 0.1).with_peers(Peers::Unicast {
            src,
            peers: vec![peer],
        })
    };
    t.start(
        Node(1),
        Daemon::Keepalived,
        &KeepalivedConf::new("n1", vec![inst(150, a1, a2)]),
    )
    .unwrap();
    t.start(
        Node(2),
        Daemon::Keepalived,
        &KeepalivedConf::new("n2", vec![inst(100, a2, a1)]),
    )
    .unwrap();
    let (vip, _) = vip(Family::V4, 0);
    t.wait_for_sole_holder(Node(1), vip, Duration::from_secs(20))
        .unwrap();
    t.wait_until("three adverts from n1", Duration::from_secs(5), || {
        Ok(t.adverts(&cap)?.iter().filter(|a| a.src == a1).count() >= 3)
    })
    .unwrap();
    // Unicast adverts go to the peer's own address, not 224.0.0.18; the
    // switch-side capture sees them although the client never would.
    let adverts = t.stop_capture(cap).unwrap();
    let from_n1: Vec<&Advert> = adverts.iter().filter(|a| a.src == a1).collect();
    assert!(from_n1
        .iter()
        .all(|a| a.dst == a2 && a.priority == 150 && a.version == 3));
}
