#![allow(clippy::unwrap_used)]
//! What a master does when someone else removes what it holds, with real
//! daemons in namespaces (keepalived issue #534: its master keeps
//! advertising a VIP that is gone): a VIP deleted by hand comes back and
//! is announced, also inside a flush of hundreds of addresses (one pass
//! per burst); a virtual route or rule deleted by hand comes back, and so
//! does a route the kernel dropped with the VIP it used as source; our own
//! removals (a reload, the hand-over at exit) are not undone; a VIP that
//! cannot be added again puts the master in FAULT so the backup takes
//! over, and it recovers once the address can be held. And
//! `vrrp_track_process` sees a tracked process exit (in a network
//! namespace the proc connector is refused, so this is the 1 s scan).

mod common;

use common::{control, opts, vrrpd_log};
use netns_tests::config::vip;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, Version};
use nix::sys::signal::Signal;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const READDED: &str = "by someone else: re-added";

fn instance(prio: u8, vips: Vec<(IpAddr, u8)>, extra: &str) -> Instance {
    Instance::new(10, prio, Version::V3, Family::V4, 0.1)
        .with_vips(vips)
        .with_extra(extra)
}

fn ns(t: &Topology, node: Node) -> String {
    t.node(node).ns.clone()
}

fn status(t: &Topology, node: Node) -> serde_json::Value {
    serde_json::from_str(&control(t, node, "status")).unwrap()
}

/// A counter of the first instance in `node`'s status.
fn counter(t: &Topology, node: Node, name: &str) -> u64 {
    status(t, node)["instances"][0]["counters"][name]
        .as_u64()
        .unwrap()
}

fn readded_lines(t: &Topology, node: Node) -> usize {
    vrrpd_log(t, node).matches(READDED).count()
}

fn wait_holds(t: &Topology, node: Node, addr: IpAddr) {
    let what = format!("{} holds {addr}", t.node(node).name);
    t.wait_until(&what, WAIT, || t.has_addr(node, addr))
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(t, node)));
}

#[test]
fn a_vip_deleted_by_hand_on_the_master_comes_back_and_our_own_removals_stay() {
    let test = "a_vip_deleted_by_hand_on_the_master_comes_back_and_our_own_removals_stay";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v0, p0) = vip(Family::V4, 0);
    let (v1, p1) = vip(Family::V4, 1);
    let n1 = KeepalivedConf::new("n1", vec![instance(150, vec![(v0, p0), (v1, p1)], "")]);
    let pid = t.start(Node(1), Daemon::Vrrpd, &n1).unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![instance(100, vec![(v0, p0), (v1, p1)], "")]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v0, WAIT).unwrap();
    wait_holds(&t, Node(1), v1);
    let ns1 = ns(&t, Node(1));
    // Becoming master is our own change: nothing was put back.
    assert_eq!(readded_lines(&t, Node(1)), 0);

    // By hand: it is back, on the master only, logged with the instance,
    // the address and the interface, and counted.
    t.ip(&ns1, ["addr", "del", &format!("{v0}/{p0}"), "dev", "eth0"])
        .unwrap();
    t.wait_for_sole_holder(Node(1), v0, WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    t.wait_until("the re-add is counted", WAIT, || {
        Ok(counter(&t, Node(1), "vips_readded") == 1)
    })
    .unwrap();
    let log = vrrpd_log(&t, Node(1));
    let line = log
        .lines()
        .find(|l| l.contains(READDED))
        .unwrap_or_else(|| panic!("no re-add line in\n{log}"));
    for want in [
        "VI_10",
        &format!("VIP {v0}/{p0} was removed from eth0"),
        "interface=eth0",
    ] {
        assert!(line.contains(want), "{want:?} in {line}");
    }
    let metrics = control(&t, Node(1), "metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vrrp_vip_readded_total{") && l.ends_with(" 1")),
        "{metrics}"
    );

    // A storm: 200 other addresses and the VIP removed in one flush. The
    // VIP is back, and hundreds of removals took a few passes, not one
    // each.
    let before = status(&t, Node(1))["removals_by_others"].clone();
    let mut batch = String::new();
    for h in 1..=200 {
        batch.push_str(&format!("addr add 203.0.113.{h}/32 dev eth0\n"));
    }
    let file = t.dir().join("n1-addrs.batch");
    std::fs::write(&file, &batch).unwrap();
    t.ip(&ns1, ["-batch", file.to_str().unwrap()]).unwrap();
    let flush = format!(
        "{}addr del {v0}/{p0} dev eth0\n",
        batch.replace("addr add", "addr del")
    );
    std::fs::write(&file, flush).unwrap();
    t.ip(&ns1, ["-batch", file.to_str().unwrap()]).unwrap();
    t.wait_until("the re-add after the flush is counted", WAIT, || {
        Ok(counter(&t, Node(1), "vips_readded") == 2)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    t.wait_for_sole_holder(Node(1), v0, WAIT).unwrap();
    let after = status(&t, Node(1))["removals_by_others"].clone();
    let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert!(delta("removals") >= 201, "{before} -> {after}");
    assert!(delta("batches") <= 5, "{before} -> {after}");

    // A reload that drops v1 removes it, and that is not undone.
    std::fs::write(
        t.daemon_config(Node(1)).unwrap(),
        KeepalivedConf::new("n1", vec![instance(150, vec![(v0, p0)], "")]).render(),
    )
    .unwrap();
    t.signal(pid, Signal::SIGHUP).unwrap();
    t.wait_until("the reload", WAIT, || {
        Ok(vrrpd_log(&t, Node(1)).contains("configuration reloaded"))
    })
    .unwrap();
    t.wait_until("v1 gone from n1", WAIT, || Ok(!t.has_addr(Node(1), v1)?))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!t.has_addr(Node(1), v1).unwrap());
    assert_eq!(readded_lines(&t, Node(1)), 2);

    // The hand-over at exit removes the VIP: not undone either.
    t.term_daemon(Node(1)).unwrap();
    t.wait_for_sole_holder(Node(2), v0, WAIT).unwrap();
    t.wait_until("n1 exits", WAIT, || Ok(t.daemon_pids(Node(1)).is_empty()))
        .ok();
    assert!(!t.has_addr(Node(1), v0).unwrap());
    assert_eq!(readded_lines(&t, Node(1)), 2);
    // The backup never had to put anything back.
    assert_eq!(readded_lines(&t, Node(2)), 0);
}

const ROUTES: &str = "\
virtual_routes {
    198.51.100.0/24 via 192.0.2.1 dev eth0
    203.0.113.0/24 via 192.0.2.1 dev eth0 src 192.0.2.200
}
virtual_rules {
    from 192.0.2.200 table 100
}";

fn has_route(t: &Topology, node: Node, dst: &str) -> bool {
    t.ip(&ns(t, node), ["route", "show", dst])
        .unwrap()
        .contains("proto keepalived")
}

fn has_rule(t: &Topology, node: Node) -> bool {
    t.ip(&ns(t, node), ["rule", "show"])
        .unwrap()
        .contains("from 192.0.2.200 lookup 100 proto keepalived")
}

#[test]
fn routes_and_rules_deleted_by_hand_come_back_and_so_do_routes_lost_with_the_vip() {
    let test = "routes_and_rules_deleted_by_hand_come_back_and_so_do_routes_lost_with_the_vip";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(1)).unwrap();
    let (v0, p0) = vip(Family::V4, 0);
    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new(
            "n1",
            vec![instance(
                150,
                vec![(v0, p0)],
                &format!(
                    "{ROUTES}\nvirtual_ipaddress_excluded {{\n    192.0.2.210/32 no_track\n}}"
                ),
            )],
        ),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v0, WAIT).unwrap();
    let all = |t: &Topology| {
        [
            has_route(t, Node(1), "198.51.100.0/24"),
            has_route(t, Node(1), "203.0.113.0/24"),
            has_rule(t, Node(1)),
        ]
    };
    t.wait_until("routes and rule", WAIT, || Ok(all(&t) == [true; 3]))
        .unwrap();
    let ns1 = ns(&t, Node(1));

    t.ip(
        &ns1,
        ["route", "del", "198.51.100.0/24", "proto", "keepalived"],
    )
    .unwrap();
    t.ip(&ns1, ["rule", "del", "from", "192.0.2.200", "table", "100"])
        .unwrap();
    t.wait_until("route and rule back", WAIT, || Ok(all(&t) == [true; 3]))
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    let log = vrrpd_log(&t, Node(1));
    assert!(
        log.contains("virtual route 198.51.100.0/24 via 192.0.2.1 dev eth0 was removed by someone else: re-added"),
        "{log}"
    );
    assert!(
        log.contains(
            "virtual rule from 192.0.2.200/32 lookup 100 was removed by someone else: re-added"
        ),
        "{log}"
    );
    assert_eq!(counter(&t, Node(1), "routes_readded"), 1);
    assert_eq!(counter(&t, Node(1), "rules_readded"), 1);

    // The VIP goes: the kernel drops the route using it as source without
    // a word. Both come back. The `no_track` address removed with it is
    // left alone, as keepalived leaves a `dont_track` one.
    let untracked: IpAddr = "192.0.2.210".parse().unwrap();
    assert!(t.has_addr(Node(1), untracked).unwrap());
    t.ip(&ns1, ["addr", "del", "192.0.2.210/32", "dev", "eth0"])
        .unwrap();
    t.ip(&ns1, ["addr", "del", &format!("{v0}/{p0}"), "dev", "eth0"])
        .unwrap();
    t.wait_until("VIP and its route back", WAIT, || {
        Ok(t.has_addr(Node(1), v0)? && all(&t) == [true; 3])
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", all(&t), vrrpd_log(&t, Node(1))));
    assert_eq!(counter(&t, Node(1), "vips_readded"), 1);
    assert!(counter(&t, Node(1), "routes_readded") >= 2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.has_addr(Node(1), untracked).unwrap());
}

#[test]
fn a_vip_that_cannot_be_added_again_is_fault_the_backup_takes_over_and_it_recovers() {
    let test = "a_vip_that_cannot_be_added_again_is_fault_the_backup_takes_over_and_it_recovers";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v4, p4) = vip(Family::V4, 0);
    let v6: IpAddr = "2001:db8::250".parse().unwrap();
    // A dual-stack service: the IPv6 address rides on the IPv4 instance.
    let extra = format!("virtual_ipaddress_excluded {{\n    {v6}/64\n}}");
    for (node, prio) in [(Node(1), 150), (Node(2), 100)] {
        let name = t.node(node).name.clone();
        t.start(
            node,
            Daemon::Vrrpd,
            &KeepalivedConf::new(&name, vec![instance(prio, vec![(v4, p4)], &extra)]),
        )
        .unwrap();
    }
    t.wait_for_sole_holder(Node(1), v4, WAIT).unwrap();
    wait_holds(&t, Node(1), v6);

    // IPv6 is switched off on the master's interface (a network restart
    // with a different profile): its IPv6 VIP is gone and cannot be added
    // back. It must not stay master for half the service.
    let ns1 = ns(&t, Node(1));
    t.exec(&ns1, ["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"])
        .unwrap();
    t.wait_for_sole_holder(Node(2), v4, WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    wait_holds(&t, Node(2), v6);
    let log = vrrpd_log(&t, Node(1));
    assert!(log.contains("cannot hold VIP"), "{log}");
    assert!(log.contains(&v6.to_string()), "{log}");
    let s = status(&t, Node(1));
    assert_eq!(s["instances"][0]["state"], "FAULT", "{s}");
    assert!(
        s["instances"][0]["trackers"]["vip_fault"].is_string(),
        "{s}"
    );

    // IPv6 is back: n1 leaves FAULT and, with the higher priority, takes
    // both addresses back.
    t.exec(&ns1, ["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0"])
        .unwrap();
    t.wait_for_sole_holder(Node(1), v4, WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    wait_holds(&t, Node(1), v6);
    assert!(vrrpd_log(&t, Node(1)).contains("can be added again: leaving FAULT"));
    let s = status(&t, Node(1));
    assert_eq!(s["instances"][0]["state"], "MASTER", "{s}");
    assert!(s["instances"][0]["trackers"]["vip_fault"].is_null(), "{s}");
}

#[test]
fn a_tracked_process_exit_moves_the_vip() {
    let test = "a_tracked_process_exit_moves_the_vip";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, p) = vip(Family::V4, 0);
    // An argument no other process on the machine has.
    let arg = format!("{}.5", 5000 + std::process::id() % 10_000);
    let ns1 = ns(&t, Node(1));
    let worker = t
        .spawn(
            &ns1,
            "n1-worker",
            Path::new("/bin/sleep"),
            &[arg.clone().into()],
        )
        .unwrap();
    let track = format!(
        "vrrp_track_process worker {{\n    process /bin/sleep {arg}\n    full_command\n    param_match\n}}\n"
    );
    let n1 = KeepalivedConf::new(
        "n1",
        vec![instance(
            150,
            vec![(v, p)],
            "track_process {\n    worker weight 0\n}",
        )],
    )
    .with_extra(track);
    t.start(Node(1), Daemon::Vrrpd, &n1).unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![instance(100, vec![(v, p)], "")]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v, WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));

    t.kill(worker);
    t.wait_for_sole_holder(Node(2), v, WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    let log = vrrpd_log(&t, Node(1));
    assert!(log.contains("track_process worker"), "{log}");
    // Inside a network namespace the kernel refuses the proc connector
    // subscription; the daemon says so and scans instead.
    assert!(log.contains("proc connector unavailable"), "{log}");
}
