#![allow(clippy::unwrap_used)]
//! Accept mode with the real daemon in namespaces (RFC 5798 §6.4.3: a
//! master that is not the address owner must not accept packets for its
//! VIPs unless Accept_Mode is set).
//!
//! - `no_accept`: the master holds the VIPs, yet a client's datagrams and
//!   TCP connections to them are dropped (IPv4 and IPv6), while VRRP keeps
//!   working (the backup hears every advert) and ARP / neighbour discovery
//!   still answer for the VIPs; after a failover the new master's drop set
//!   holds the VIP and the old master's does not; after the daemons exit no
//!   nftables table is left.
//! - accept (the default): the same probes are answered, no table is made,
//!   and a stale table a crashed run left behind is removed at start; a
//!   reload to no_accept (another table name) makes the table and drops
//!   the VIPs of the running master, a reload back removes it.
//! - link-local VIPs (fe80::/10, confined to the test's bridge): keyed by
//!   interface name for an instance with `dont_track_primary`, by index
//!   otherwise, as keepalived does; `nftables_ifindex` keys both by index,
//!   and a reload that sets or clears it replaces the table while the VIPs
//!   stay dropped and held.
//!
//! The sets are read with `nft` (package nftables, installed by
//! scripts/test.sh).

mod common;

use common::{control, opts, vrrpd_log};
use netns_tests::analysis::probe_stats;
use netns_tests::config::vip;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, Version};
use nix::sys::signal::Signal;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn require_nft(test: &str) -> bool {
    let ok = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        env::skip_or_fail(test, "nft (package nftables) is not installed");
    }
    ok
}

/// Instance 10 (IPv4, 192.0.2.200) and instance 11 (IPv6, 2001:db8::200).
fn instances(prio: u8, extra: &str) -> Vec<Instance> {
    vec![
        Instance::new(10, prio, Version::V3, Family::V4, 0.1)
            .with_vips(vec![vip(Family::V4, 0)])
            .with_extra(extra),
        Instance::new(11, prio, Version::V3, Family::V6, 0.1)
            .with_vips(vec![vip(Family::V6, 0)])
            .with_extra(extra),
    ]
}

fn nft(t: &Topology, ns: &str, args: &[&str]) -> String {
    let mut all = vec!["nft"];
    all.extend_from_slice(args);
    t.exec(ns, all).unwrap_or_default()
}

/// The elements of our set `set` in `node`'s namespace ("" if no table).
fn set_of(t: &Topology, node: Node, set: &str) -> String {
    let ns = t.node(node).ns.clone();
    nft(t, &ns, &["list", "set", "inet", "keepalived", set])
}

fn tables(t: &Topology, node: Node) -> String {
    let ns = t.node(node).ns.clone();
    nft(t, &ns, &["list", "tables"])
}

/// A TCP connection from the client to `addr` port 9 (nothing listens; a
/// link-local address with its `%eth0`):
/// `Some(true)` if the host answered (refused), `Some(false)` if nothing
/// came back within 2 s (dropped).
fn tcp_answered(t: &Topology, addr: impl std::fmt::Display) -> Option<bool> {
    let target = format!("exec 3<>/dev/tcp/{addr}/9");
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.client().ns,
            "timeout",
            "2",
            "bash",
            "-c",
        ])
        .arg(&target)
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(124) => Some(false),
        Some(1) if err.contains("refused") => Some(true),
        _ => None,
    }
}

/// The client's neighbour entry for `addr` names `node`'s MAC.
fn client_resolves(t: &Topology, addr: IpAddr, node: Node) -> bool {
    let mac = t.node(node).mac.unwrap();
    let mac = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let out = t
        .ip(&t.client().ns, ["neigh", "show", &addr.to_string()])
        .unwrap_or_default();
    out.contains(&format!("lladdr {mac}")) && !out.contains("FAILED")
}

fn status(t: &Topology, node: Node) -> serde_json::Value {
    let text = control(t, node, "status");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn instance_status(s: &serde_json::Value, name: &str) -> serde_json::Value {
    s["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {s}"))
}

#[test]
fn no_accept_drops_traffic_for_the_vips_but_not_vrrp_or_neighbour_discovery() {
    let test = "no_accept_drops_traffic_for_the_vips_but_not_vrrp_or_neighbour_discovery";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() || !require_nft(test) {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let (v4, _) = vip(Family::V4, 0);
    let (v6, _) = vip(Family::V6, 0);
    let p1 = t
        .start(
            Node(1),
            Daemon::Vrrpd,
            &KeepalivedConf::new("n1", instances(150, "no_accept")),
        )
        .unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", instances(100, "no_accept")),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v4, WAIT).unwrap();
    t.wait_for_sole_holder(Node(1), v6, WAIT).unwrap();

    // The master's drop sets hold its VIPs; the backup's are empty.
    t.wait_until("n1's sets hold the VIPs", WAIT, || {
        Ok(set_of(&t, Node(1), "vips4").contains("192.0.2.200")
            && set_of(&t, Node(1), "vips6").contains("2001:db8::200"))
    })
    .unwrap();
    assert!(!set_of(&t, Node(2), "vips4").contains("192.0.2.200"));
    assert!(!set_of(&t, Node(2), "vips6").contains("2001:db8::200"));
    let s1 = status(&t, Node(1));
    let i10 = instance_status(&s1, "VI_10");
    assert_eq!(i10["accept"], false, "{i10}");
    assert_eq!(i10["drops_vip_traffic"], true, "{i10}");
    assert_eq!(i10["vips_dropped"][0], "192.0.2.200", "{i10}");
    assert_eq!(s1["firewall"]["state"], "installed", "{s1}");
    assert_eq!(s1["firewall"]["table"], "inet keepalived", "{s1}");

    // Datagrams to the VIPs go unanswered; the master's own address
    // answers (the echo responder runs, only the VIPs are dropped).
    let own = IpAddr::V4(t.node(Node(1)).ipv4);
    for (target, want_answers) in [(v4, false), (v6, false), (own, true)] {
        let run = t.start_probe(target, 10_000, 1000).unwrap();
        let s = probe_stats(&t.finish_probe(run).unwrap());
        assert!(s.sent > 50, "{target}: {s:?}");
        assert_eq!(s.answered > 0, want_answers, "{target}: {s:?}");
    }
    // A TCP connection is not refused either: nothing comes back.
    assert_eq!(tcp_answered(&t, v4), Some(false));
    assert_eq!(tcp_answered(&t, v6), Some(false));
    // ARP and neighbour discovery still answer for the VIPs (RFC 4861
    // solicitations / advertisements are exempt), with the master's MAC.
    t.wait_until("the client resolves both VIPs to n1", WAIT, || {
        Ok(client_resolves(&t, v4, Node(1)) && client_resolves(&t, v6, Node(1)))
    })
    .unwrap();

    // VRRP works: the backup keeps hearing the master's adverts.
    let heard = |t: &Topology| {
        let s = status(t, Node(2));
        let i = instance_status(&s, "VI_10");
        assert_eq!(i["state"], "BACKUP", "{i}");
        i["counters"]["adverts_in"].as_u64().unwrap()
    };
    let before = heard(&t);
    std::thread::sleep(Duration::from_millis(500));
    let after = heard(&t);
    assert!(after > before + 2, "adverts heard: {before} then {after}");

    // Failover with n1 still running: a reload lowers its priority, n2
    // preempts. The VIPs move to n2's sets and leave n1's.
    let path = t.daemon_config(Node(1)).unwrap();
    std::fs::write(
        &path,
        KeepalivedConf::new("n1", instances(50, "no_accept")).render(),
    )
    .unwrap();
    t.signal(p1, Signal::SIGHUP).unwrap();
    t.wait_for_sole_holder(Node(2), v4, WAIT).unwrap();
    t.wait_for_sole_holder(Node(2), v6, WAIT).unwrap();
    t.wait_until("the VIPs moved between the drop sets", WAIT, || {
        Ok(set_of(&t, Node(2), "vips4").contains("192.0.2.200")
            && set_of(&t, Node(2), "vips6").contains("2001:db8::200")
            && !set_of(&t, Node(1), "vips4").contains("192.0.2.200")
            && !set_of(&t, Node(1), "vips6").contains("2001:db8::200"))
    })
    .unwrap();
    // The old master still has its (now empty) table: it still runs a
    // no_accept instance.
    assert!(tables(&t, Node(1)).contains("table inet keepalived"));
    let log1 = vrrpd_log(&t, Node(1));
    assert!(
        log1.contains("no_accept: dropping packets for the VIPs"),
        "{log1}"
    );
    assert!(log1.contains("no_accept: VIPs no longer dropped"), "{log1}");

    // Clean exit: no table is left behind.
    t.stop_daemon(Node(1), WAIT).unwrap();
    t.stop_daemon(Node(2), WAIT).unwrap();
    for n in [Node(1), Node(2)] {
        let left = tables(&t, n);
        assert!(!left.contains("keepalived"), "{}: {left}", t.node(n).name);
        assert!(vrrpd_log(&t, n).contains("nftables table removed"));
    }
}

#[test]
fn accept_mode_answers_and_a_stale_table_is_removed_at_start() {
    let test = "accept_mode_answers_and_a_stale_table_is_removed_at_start";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() || !require_nft(test) {
        return;
    }
    let t = Topology::with_options(opts(1)).unwrap();
    t.start_echo_all().unwrap();
    let (v4, _) = vip(Family::V4, 0);
    let (v6, _) = vip(Family::V6, 0);
    // What a SIGKILLed no_accept run leaves: our table, dropping the VIP.
    let ns1 = t.node(Node(1)).ns.clone();
    t.exec(
        &ns1,
        [
            "nft",
            "add table inet keepalived; \
             add set inet keepalived vips4 { type ipv4_addr; elements = { 192.0.2.200 } }; \
             add chain inet keepalived in { type filter hook input priority -1; policy accept; }; \
             add rule inet keepalived in ip daddr @vips4 drop",
        ],
    )
    .unwrap();
    assert!(tables(&t, Node(1)).contains("table inet keepalived"));

    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n1", instances(150, "")),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v4, WAIT).unwrap();
    t.wait_for_sole_holder(Node(1), v6, WAIT).unwrap();
    // The stale table is gone and none was made: every instance accepts.
    assert!(!tables(&t, Node(1)).contains("keepalived"));
    assert!(vrrpd_log(&t, Node(1)).contains("removed a stale nftables table"));
    let s = status(&t, Node(1));
    let i10 = instance_status(&s, "VI_10");
    assert_eq!(i10["accept"], true, "{i10}");
    assert_eq!(i10["drops_vip_traffic"], false, "{i10}");
    assert!(
        s["firewall"]["state"]
            .as_str()
            .unwrap()
            .starts_with("absent"),
        "{s}"
    );

    let answered = |t: &Topology, target: IpAddr| {
        let run = t.start_probe(target, 10_000, 1000).unwrap();
        probe_stats(&t.finish_probe(run).unwrap()).answered
    };
    for target in [v4, v6] {
        assert!(answered(&t, target) > 50, "{target}");
        assert_eq!(tcp_answered(&t, target), Some(true), "{target}");
    }

    // A reload to no_accept (with another table name) makes the table and
    // drops the master's VIPs at once; a reload back to accept removes it.
    let path = t.daemon_config(Node(1)).unwrap();
    let pid = t.daemon_pid(Node(1)).unwrap();
    let reload = |extra: &str, global: &str| {
        let conf = KeepalivedConf::new("n1", instances(150, extra)).with_extra(global);
        std::fs::write(&path, conf.render()).unwrap();
        t.signal(pid, Signal::SIGHUP).unwrap();
    };
    reload("no_accept", "global_defs {\n    nftables vrrpd_test\n}\n");
    t.wait_until("the VIPs in the new table's sets", WAIT, || {
        let ns = t.node(Node(1)).ns.clone();
        Ok(
            nft(&t, &ns, &["list", "set", "inet", "vrrpd_test", "vips4"]).contains("192.0.2.200")
                && nft(&t, &ns, &["list", "set", "inet", "vrrpd_test", "vips6"])
                    .contains("2001:db8::200"),
        )
    })
    .unwrap();
    assert_eq!(answered(&t, v4), 0);
    assert_eq!(tcp_answered(&t, v6), Some(false));
    // Still the master: nothing moved, only the filter changed.
    assert!(t.has_addr(Node(1), v4).unwrap());
    reload("", "");
    t.wait_until("the table removed by the reload", WAIT, || {
        Ok(!tables(&t, Node(1)).contains("vrrpd_test"))
    })
    .unwrap();
    assert!(answered(&t, v4) > 50);
    assert!(vrrpd_log(&t, Node(1)).contains("no instance in no_accept mode any more"));

    t.stop_daemon(Node(1), WAIT).unwrap();
    assert!(!tables(&t, Node(1)).contains("keepalived"));
    assert!(!tables(&t, Node(1)).contains("vrrpd_test"));
}

/// Whether a TCP connection from the client to link-local `addr` on its
/// eth0 is answered (refused) rather than dropped.
fn ll_answered(t: &Topology, addr: std::net::Ipv6Addr) -> Option<bool> {
    tcp_answered(t, format!("{addr}%eth0"))
}

/// The `type` line of set `set` in our table in `node`'s namespace.
fn set_type(t: &Topology, node: Node, set: &str) -> String {
    set_of(t, node, set)
        .lines()
        .find(|l| l.trim_start().starts_with("type "))
        .map(|l| l.trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn link_local_vips_are_keyed_by_interface_name_or_index() {
    let test = "link_local_vips_are_keyed_by_interface_name_or_index";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() || !require_nft(test) {
        return;
    }
    let t = Topology::with_options(opts(1)).unwrap();
    let named: std::net::Ipv6Addr = "fe80::c0de:200".parse().unwrap();
    let indexed: std::net::Ipv6Addr = "fe80::c0de:201".parse().unwrap();
    // VI_12 does not track its interface (keyed by name), VI_13 does
    // (keyed by index).
    let lls = |global: &str| {
        KeepalivedConf::new(
            "n1",
            vec![
                Instance::new(12, 150, Version::V3, Family::V6, 0.1)
                    .with_vips(vec![(IpAddr::V6(named), 64)])
                    .with_extra("no_accept\n    dont_track_primary"),
                Instance::new(13, 150, Version::V3, Family::V6, 0.1)
                    .with_vips(vec![(IpAddr::V6(indexed), 64)])
                    .with_extra("no_accept"),
            ],
        )
        .with_extra(global)
    };
    t.start(Node(1), Daemon::Vrrpd, &lls("")).unwrap();
    t.wait_for_sole_holder(Node(1), IpAddr::V6(named), WAIT)
        .unwrap();
    t.wait_for_sole_holder(Node(1), IpAddr::V6(indexed), WAIT)
        .unwrap();

    // By name and by index, each in its set, on eth0 (nft prints an
    // interface index as the interface's name).
    t.wait_until("both link-local VIPs in their sets", WAIT, || {
        Ok(
            set_of(&t, Node(1), "vips6_ll_name").contains("fe80::c0de:200 . \"eth0\"")
                && set_of(&t, Node(1), "vips6_ll").contains("fe80::c0de:201 . \"eth0\""),
        )
    })
    .unwrap();
    assert_eq!(
        set_type(&t, Node(1), "vips6_ll_name"),
        "type ipv6_addr . ifname"
    );
    assert_eq!(
        set_type(&t, Node(1), "vips6_ll"),
        "type ipv6_addr . iface_index"
    );
    let s = status(&t, Node(1));
    assert_eq!(
        instance_status(&s, "VI_12")["vips_dropped"][0],
        "fe80::c0de:200 . ifname eth0",
        "{s}"
    );
    assert_eq!(s["firewall"]["nftables_ifindex"], false, "{s}");

    // Both are dropped; the node's own link-local address answers, so
    // the probe itself works.
    let own = t.node(Node(1)).link_local.unwrap();
    // (The client's own link-local address may still be tentative, RFC
    // 4862 §5.4: wait until the probe gets an answer.)
    t.wait_until("the node's link-local address answers", WAIT, || {
        Ok(ll_answered(&t, own) == Some(true))
    })
    .unwrap();
    assert_eq!(ll_answered(&t, named), Some(false));
    assert_eq!(ll_answered(&t, indexed), Some(false));

    // A reload with nftables_ifindex: one table, both by index, no name
    // set; the VIPs stay held and dropped.
    let path = t.daemon_config(Node(1)).unwrap();
    let pid = t.daemon_pid(Node(1)).unwrap();
    let reload = |global: &str| {
        std::fs::write(&path, lls(global).render()).unwrap();
        t.signal(pid, Signal::SIGHUP).unwrap();
    };
    reload("global_defs {\n    nftables_ifindex\n}\n");
    t.wait_until("both by index after the reload", WAIT, || {
        let ll = set_of(&t, Node(1), "vips6_ll");
        Ok(ll.contains("fe80::c0de:200 . \"eth0\"") && ll.contains("fe80::c0de:201 . \"eth0\""))
    })
    .unwrap();
    assert_eq!(
        set_of(&t, Node(1), "vips6_ll_name"),
        "",
        "no name set any more"
    );
    let ns = t.node(Node(1)).ns.clone();
    let table = nft(&t, &ns, &["list", "table", "inet", "keepalived"]);
    assert!(!table.contains("iifname"), "{table}");
    assert_eq!(tables(&t, Node(1)).matches("keepalived").count(), 1);
    assert_eq!(ll_answered(&t, named), Some(false));
    assert!(t.has_addr(Node(1), IpAddr::V6(named)).unwrap());
    assert!(vrrpd_log(&t, Node(1)).contains("nftables settings changed: replacing the table"));

    // And back: the name set returns with the VIP of VI_12.
    reload("");
    t.wait_until("by name again", WAIT, || {
        Ok(
            set_of(&t, Node(1), "vips6_ll_name").contains("fe80::c0de:200 . \"eth0\"")
                && !set_of(&t, Node(1), "vips6_ll").contains("fe80::c0de:200"),
        )
    })
    .unwrap();
    assert_eq!(ll_answered(&t, named), Some(false));

    t.stop_daemon(Node(1), WAIT).unwrap();
    assert!(!tables(&t, Node(1)).contains("keepalived"));
}
