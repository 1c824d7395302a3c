#![allow(clippy::unwrap_used)]
//! `use_vmac`: the VIP lives on a macvlan with the virtual router MAC
//! 00-00-5E-00-01-{VRID} (RFC 5798 §7.3), so a failover moves no MAC the
//! client has learnt; nothing is left behind on stop; keepalived interoperates
//! with a vrrpd that uses a VMAC.

mod common;

use common::opts;
use netns_tests::analysis::probe_stats;
use netns_tests::config::vip;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, Version};
use std::time::Duration;

const VRID: u8 = 61;

fn conf(node: usize, prio: u8, vmac: bool) -> KeepalivedConf {
    let mut i = Instance::new(VRID, prio, Version::V3, Family::V4, 0.1);
    if vmac {
        i = i.with_extra("use_vmac");
    }
    KeepalivedConf::new(format!("n{node}"), vec![i])
}

fn client_neighbour_mac(t: &Topology, addr: std::net::IpAddr) -> Option<String> {
    let out = t
        .ip(&t.client().ns, ["neigh", "show", &addr.to_string()])
        .ok()?;
    let mut words = out.split_whitespace();
    while let Some(w) = words.next() {
        if w == "lladdr" {
            return words.next().map(str::to_owned);
        }
    }
    None
}

fn link_exists(t: &Topology, node: Node, name: &str) -> bool {
    t.ip(&t.node(node).ns, ["link", "show", name]).is_ok()
}

#[test]
fn vmac_master_answers_with_the_virtual_mac_and_failover_keeps_it() {
    let test = "vmac_master_answers_with_the_virtual_mac_and_failover_keeps_it";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let (v, _) = vip(Family::V4, 0);
    t.start(Node(1), Daemon::Vrrpd, &conf(1, 150, true))
        .unwrap();
    t.start(Node(2), Daemon::Vrrpd, &conf(2, 100, true))
        .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    let vmac = format!("vrrp.{VRID}");
    assert!(link_exists(&t, Node(1), &vmac));
    let on_vmac = t
        .ip(&t.node(Node(1)).ns, ["-br", "addr", "show", "dev", &vmac])
        .unwrap();
    assert!(on_vmac.contains(&v.to_string()), "{on_vmac}");
    // The parent must not answer ARP for the VIP with its own MAC.
    let ignore = t
        .exec(
            &t.node(Node(1)).ns,
            ["cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore"],
        )
        .unwrap();
    assert_eq!(ignore.trim(), "1");

    let s = probe_stats(&t.probe(v, 300).unwrap());
    assert!(s.answered > 0 && s.responders.iter().all(|(_, n)| n == "n1"));
    let want = format!("00:00:5e:00:01:{VRID:02x}");
    assert_eq!(client_neighbour_mac(&t, v).as_deref(), Some(want.as_str()));

    // Graceful stop: n2 takes over with the same MAC; n1 leaves nothing.
    let run = t.start_probe(v, 1000, 2500).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    t.stop_daemon(Node(1), Duration::from_secs(10)).unwrap();
    let s = probe_stats(&t.finish_probe(run).unwrap());
    let names: Vec<&str> = s.responders.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, vec!["n1", "n2"]);
    // With a VMAC both nodes own the same MAC and the switch follows the
    // last frame it saw from it: a priority-0 repeat from the old master
    // that crosses the new master's first advert sends the client's frames
    // back to the old node until the new master's next frame (seen once in
    // CI under load: 95 ms at advert 0.1 s). Without that race nothing is
    // lost; with it, at most about one advert interval.
    assert!(
        s.lost <= 150,
        "make-before-break with a VMAC lost {} probes",
        s.lost
    );
    assert_eq!(client_neighbour_mac(&t, v).as_deref(), Some(want.as_str()));
    assert!(t.has_addr(Node(2), v).unwrap());
    assert!(!link_exists(&t, Node(1), &vmac), "VMAC left behind");
    let ignore = t
        .exec(
            &t.node(Node(1)).ns,
            ["cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore"],
        )
        .unwrap();
    assert_eq!(ignore.trim(), "0", "parent's arp_ignore restored");
}

#[test]
fn keepalived_backup_takes_over_from_a_vmac_vrrpd() {
    let test = "keepalived_backup_takes_over_from_a_vmac_vrrpd";
    for d in [Daemon::Vrrpd, Daemon::Keepalived] {
        if env::require_daemon(test, d).is_none() {
            return;
        }
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let (v, _) = vip(Family::V4, 0);
    t.start(Node(1), Daemon::Vrrpd, &conf(1, 150, true))
        .unwrap();
    t.start(Node(2), Daemon::Keepalived, &conf(2, 100, false))
        .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        t.holders(v).unwrap(),
        vec![Node(1)],
        "keepalived stays backup"
    );
    t.kill_daemon(Node(1)).unwrap();
    t.wait_until("keepalived takes over", Duration::from_secs(10), || {
        t.has_addr(Node(2), v)
    })
    .unwrap();
}
