#![allow(clippy::unwrap_used)]
//! The echo responder and the prober, without any VRRP daemon: the prober
//! learns who holds an address, and sees nothing where nobody does.

mod common;

use common::opts;
use netns_tests::analysis::probe_stats;
use netns_tests::{env, Node, Topology};
use std::net::IpAddr;

#[test]
fn prober_names_the_holder_of_an_address() {
    if !env::require_netns("prober_names_the_holder_of_an_address") {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let ns2 = t.node(Node(2)).ns.clone();
    t.ip(&ns2, ["addr", "add", "192.0.2.200/32", "dev", "eth0"])
        .unwrap();
    let vip: IpAddr = "192.0.2.200".parse().unwrap();
    let records = t.probe(vip, 400).unwrap();
    assert_eq!(records.len(), 400, "one probe per millisecond");
    assert!(records.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let s = probe_stats(&records);
    assert!(s.answered > 0);
    assert_eq!(
        s.responders
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>(),
        vec!["n2"]
    );
    for r in records.iter().filter(|r| r.recv_us.is_some()) {
        assert!(r.recv_us.unwrap() >= r.sent_us);
    }

    // Nobody holds 192.0.2.250: every probe is lost and there is no outage
    // "recovery".
    let none = probe_stats(&t.probe("192.0.2.250".parse().unwrap(), 200).unwrap());
    assert_eq!(none.sent, 200);
    assert_eq!(none.answered, 0);
    assert!(none.responders.is_empty());
}

#[test]
fn prober_sees_an_address_move_as_an_outage() {
    if !env::require_netns("prober_sees_an_address_move_as_an_outage") {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let (ns1, ns2) = (t.node(Node(1)).ns.clone(), t.node(Node(2)).ns.clone());
    let vip = "2001:db8::200";
    t.ip(
        &ns1,
        ["addr", "add", &format!("{vip}/128"), "dev", "eth0", "nodad"],
    )
    .unwrap();
    let run = t.start_probe(vip.parse().unwrap(), 1000, 1500).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Move the address by hand; there is no daemon to send an unsolicited
    // NA, so the client's neighbour entry is flushed instead.
    t.ip(&ns1, ["addr", "del", &format!("{vip}/128"), "dev", "eth0"])
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    t.ip(
        &ns2,
        ["addr", "add", &format!("{vip}/128"), "dev", "eth0", "nodad"],
    )
    .unwrap();
    // Make the client forget n1's MAC so it resolves the VIP again.
    let cl = t.client().ns.clone();
    t.ip(&cl, ["neigh", "flush", "dev", "eth0"]).unwrap();
    let s = probe_stats(&t.finish_probe(run).unwrap());
    let names: Vec<&str> = s.responders.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, vec!["n1", "n2"]);
    let o = s.longest.unwrap();
    assert!(o.lost > 0);
    assert_eq!(o.before.as_deref(), Some("n1"));
    assert_eq!(o.after.as_deref(), Some("n2"));
}
