#![allow(clippy::unwrap_used)]
//! Several interfaces per node: every link gets its own bridge and the
//! documented addresses, nodes reach each other on each link, and the scale
//! benchmark's advert timing sees every advert of a small multi-link run.

mod common;

use common::{live_namespaces, opts};
use netns_tests::analysis::probe_stats;
use netns_tests::scale::{run_scale, ScaleParams};
use netns_tests::wire::{read_json_lines, ProbeRecord};
use netns_tests::{env, Daemon, Node, Topology, TopologyOptions, Version};
use std::net::IpAddr;
use std::time::Duration;

#[test]
fn four_links_come_up_with_the_address_plan() {
    if !env::require_netns("four_links_come_up_with_the_address_plan") {
        return;
    }
    let t = Topology::with_options(TopologyOptions {
        links_per_node: 4,
        ..opts(2)
    })
    .unwrap();
    t.start_echo(Node(2)).unwrap();
    assert_eq!(t.bridges(), vec!["br0", "br1", "br2", "br3"]);
    assert_eq!(t.links_per_node(), 4);
    let n1 = t.node(Node(1));
    let ports: Vec<&str> = n1.links.iter().map(|l| l.port.as_str()).collect();
    assert_eq!(ports, vec!["p1", "p1l1", "p1l2", "p1l3"]);
    assert_eq!(n1.port, "p1");
    assert_eq!(n1.links[0].ipv4, Some(n1.ipv4));
    let want: Vec<(&str, Option<&str>, &str)> = vec![
        ("eth0", Some("192.0.2.12"), "2001:db8::12"),
        ("eth1", Some("198.51.100.12"), "2001:db8:1::12"),
        ("eth2", Some("203.0.113.12"), "2001:db8:2::12"),
        ("eth3", None, "2001:db8:3::12"),
    ];
    let have = t.addresses(Node(2)).unwrap();
    for (l, (ifname, v4, v6)) in t.node(Node(2)).links.iter().zip(&want) {
        assert_eq!(&l.ifname, ifname);
        assert_eq!(l.ipv4.map(|a| a.to_string()).as_deref(), *v4);
        assert_eq!(l.ipv6.to_string(), *v6);
        assert!(have.contains(&IpAddr::V6(l.ipv6)), "{have:?}");
        assert!(l.link_local.is_some() && l.mac.is_some(), "{l:?}");
        // Each segment works on its own: n1 reaches n2's echo on it.
        let target = l.ipv4.map_or_else(|| l.ipv6.to_string(), |a| a.to_string());
        let out = t.dir().join(format!("probe-{ifname}.jsonl"));
        t.exec(
            &n1.ns,
            [
                env!("CARGO_BIN_EXE_netns-tests-agent"),
                "probe",
                "--target",
                &target,
                "--interval-us",
                "20000",
                "--duration-ms",
                "200",
                "--out",
                &out.to_string_lossy(),
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let records: Vec<ProbeRecord> = read_json_lines(&text, "probe").unwrap();
        let stats = probe_stats(&records);
        assert!(stats.answered > 0, "{ifname}: no answer from {target}");
        assert!(stats.responders.iter().all(|(_, n)| n == "n2"));
        assert_eq!(t.node_of_addr(IpAddr::V6(l.ipv6)), Some(Node(2)));
    }
    let names = t.namespaces();
    drop(t);
    let live = live_namespaces();
    assert!(names.iter().all(|n| !live.contains(n)), "left behind");
}

/// A small scale run with keepalived as the daemon under test (it is the
/// reference): every instance on every link is heard from the master only,
/// about as often as expected, and the backup holds nothing.
#[test]
fn scale_run_times_every_advert_on_every_link() {
    if env::require_daemon(
        "scale_run_times_every_advert_on_every_link",
        Daemon::Keepalived,
    )
    .is_none()
    {
        return;
    }
    let mut p = ScaleParams::new(Daemon::Keepalived, 0.1, Version::V3);
    p.links = 4;
    p.vrids_per_link = 3;
    p.window = Duration::from_secs(3);
    p.settle = Duration::from_secs(1);
    p.topology = opts(2);
    let r = run_scale(&p).unwrap();
    let j = &r.jitter;
    assert_eq!(r.instances, 12);
    assert_eq!((r.vips_master_after, r.vips_backup_after), (12, 0));
    assert_eq!(j.silent, 0, "{j:?}");
    assert_eq!(j.foreign, 0, "{j:?}");
    assert!(j.kernel_clock, "{j:?}");
    // 12 instances × 30 intervals; a loaded CI machine may add or lose a
    // few at the window's edges.
    assert_eq!(j.expected, 360);
    assert!((330..=372).contains(&j.seen), "{j:?}");
    assert!(r.master.cpu_pct >= 0.0 && r.master.rss_steady_kib > 0);
    assert!(r.master.processes >= 2, "keepalived: parent and VRRP child");
}
