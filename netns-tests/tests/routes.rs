#![allow(clippy::unwrap_used)]
//! What vrrpd installs besides plain VIPs, with the real daemon in
//! namespaces: `virtual_ipaddress` options (scope, brd, label, peer, `dev`
//! on a second interface, announced there), `virtual_routes` and
//! `virtual_rules` (on the master only, moving with mastership, gone from a
//! stopped node, cleaned after a SIGKILL, untouched by a reload that does
//! not change them) and the lower-priority gratuitous ARP settings
//! (`garp_lower_prio_repeat` / `garp_lower_prio_delay`), counted on the
//! wire.

mod common;

use common::{opts, vrrpd_log};
use netns_tests::config::vip;
use netns_tests::{
    env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, TopologyOptions, Version,
};
use nix::sys::signal::Signal;
use std::io::Read as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// Instance 10 on eth0 with VIP 192.0.2.200/32 and `extra` lines.
fn instance(prio: u8, extra: &str) -> Instance {
    Instance::new(10, prio, Version::V3, Family::V4, 0.1)
        .with_vips(vec![vip(Family::V4, 0)])
        .with_extra(extra)
}

/// The routes and the rule of the brief: a gateway route in main, a
/// blackhole, one in table 100, and a source rule into table 100; and the
/// same kind for IPv6.
const ROUTES: &str = "\
virtual_routes {
    198.51.100.0/24 via 192.0.2.1 dev eth0
    blackhole 203.0.113.0/24
    2001:db8:5::/48 via 2001:db8::1 dev eth0
    198.51.100.0/24 via 192.0.2.1 table 100
}
virtual_rules {
    from 2001:db8::200 table 100
    from 192.0.2.200 table 100
}";

fn ns(t: &Topology, node: Node) -> String {
    t.node(node).ns.clone()
}

/// Which of the six entries of [`ROUTES`] `node` has, as the kernel
/// reports them (each tagged `proto keepalived`).
fn virtuals(t: &Topology, node: Node) -> [bool; 6] {
    let ns = ns(t, node);
    let main = t.ip(&ns, ["route", "show", "198.51.100.0/24"]).unwrap();
    let black = t.ip(&ns, ["route", "show", "203.0.113.0/24"]).unwrap();
    let t100 = t
        .ip(&ns, ["route", "show", "table", "100"])
        .unwrap_or_default();
    let rules = t.ip(&ns, ["rule", "show"]).unwrap();
    let main6 = t
        .ip(&ns, ["-6", "route", "show", "2001:db8:5::/48"])
        .unwrap();
    let rules6 = t.ip(&ns, ["-6", "rule", "show"]).unwrap();
    [
        main.contains("198.51.100.0/24 via 192.0.2.1 dev eth0 proto keepalived"),
        black.contains("blackhole 203.0.113.0/24 proto keepalived"),
        t100.contains("198.51.100.0/24 via 192.0.2.1 dev eth0 proto keepalived"),
        rules.contains("from 192.0.2.200 lookup 100 proto keepalived"),
        main6.contains("2001:db8:5::/48 via 2001:db8::1 dev eth0 proto keepalived"),
        rules6.contains("from 2001:db8::200 lookup 100 proto keepalived"),
    ]
}

fn wait_virtuals(t: &Topology, node: Node, want: bool) {
    let what = format!("{} has all routes/rules: {want}", t.node(node).name);
    let r = t.wait_until(&what, WAIT, || Ok(virtuals(t, node) == [want; 6]));
    assert!(r.is_ok(), "{what}: now {:?}", virtuals(t, node));
}

#[test]
fn vip_options_and_a_dev_vip_on_a_second_interface() {
    let test = "vip_options_and_a_dev_vip_on_a_second_interface";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(TopologyOptions {
        links_per_node: 2,
        ..opts(1)
    })
    .unwrap();
    let extra = "\
virtual_ipaddress {
    203.0.113.10/24 brd + scope link label eth0:web
    192.0.2.211 peer 192.0.2.212/32 scope host
    198.51.100.210/24 dev eth1 brd + label eth1:vip
    198.51.100.211/24 dev eth1 noprefixroute
}
virtual_ipaddress_excluded {
    2001:db8::210/64 preferred_lft 30
}";
    let mac1 = t.node(Node(1)).links[1].mac.unwrap();
    let cap = ArpCapture::start(t.switch_ns());
    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n1", vec![instance(150, extra)]),
    )
    .unwrap();
    let (v, _) = vip(Family::V4, 0);
    t.wait_for_sole_holder(Node(1), v, WAIT).unwrap();
    let ns1 = ns(&t, Node(1));
    let show = |dev: &str| {
        t.ip(&ns1, ["-o", "-4", "addr", "show", "dev", dev])
            .unwrap()
    };
    t.wait_until("the eth1 VIP", WAIT, || {
        Ok(show("eth1").contains("198.51.100.210"))
    })
    .unwrap();
    let eth0 = show("eth0");
    for want in [
        "inet 203.0.113.10/24 brd 203.0.113.255 scope link eth0:web",
        "inet 192.0.2.211 peer 192.0.2.212/32 scope host eth0",
        "inet 192.0.2.200/32 scope global eth0",
    ] {
        assert!(eth0.contains(want), "{want:?} in\n{eth0}");
    }
    let eth1 = show("eth1");
    assert!(
        eth1.lines().any(
            |l| l.contains("inet 198.51.100.210/24 brd 198.51.100.255 scope global")
                && l.contains(" eth1:vip")
        ),
        "{eth1}"
    );
    let flagged = eth1
        .lines()
        .find(|l| l.contains("inet 198.51.100.211/24"))
        .unwrap_or_default();
    assert!(flagged.contains("noprefixroute"), "{eth1}");
    let v6 = t
        .ip(&ns1, ["-o", "-6", "addr", "show", "dev", "eth0"])
        .unwrap();
    let line = v6
        .lines()
        .find(|l| l.contains("inet6 2001:db8::210/64"))
        .unwrap_or_default();
    assert!(
        line.contains("preferred_lft 30sec") || line.contains("preferred_lft 29sec"),
        "{v6}"
    );
    // The dev VIP is announced from eth1, with eth1's MAC.
    t.wait_until("a gratuitous ARP for the eth1 VIP", WAIT, || {
        Ok(cap
            .frames()
            .iter()
            .any(|g| g.ip == Ipv4Addr::new(198, 51, 100, 210) && g.mac == mac1))
    })
    .unwrap();
    assert!(
        !cap.frames()
            .iter()
            .any(|g| g.ip == Ipv4Addr::new(198, 51, 100, 210) && g.mac != mac1),
        "announced with another MAC: {:?}",
        cap.frames()
    );
    // SIGTERM: every address goes, the one on eth1 too.
    t.stop_daemon(Node(1), WAIT).unwrap();
    let eth0 = show("eth0");
    let eth1 = show("eth1");
    assert!(
        !eth0.contains("203.0.113.10")
            && !eth0.contains("192.0.2.211")
            && !eth0.contains("192.0.2.200"),
        "{eth0}"
    );
    assert!(!eth1.contains("198.51.100.21"), "{eth1}");
}

#[test]
fn a_dev_vip_tracks_its_interface_unless_no_track() {
    let test = "a_dev_vip_tracks_its_interface_unless_no_track";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(TopologyOptions {
        links_per_node: 2,
        ..opts(2)
    })
    .unwrap();
    let (v, _) = vip(Family::V4, 0);
    let conf = |name: &str, prio: u8, option: &str| {
        let extra = format!("virtual_ipaddress {{\n    198.51.100.210/24 dev eth1{option}\n}}");
        KeepalivedConf::new(name, vec![instance(prio, &extra)])
    };
    let ns1 = ns(&t, Node(1));
    for (option, fails_over) in [("", true), (" no_track", false)] {
        t.start(Node(1), Daemon::Vrrpd, &conf("n1", 150, option))
            .unwrap();
        t.start(Node(2), Daemon::Vrrpd, &conf("n2", 100, option))
            .unwrap();
        t.wait_for_sole_holder(Node(1), v, WAIT).unwrap();
        t.ip(&ns1, ["link", "set", "eth1", "down"]).unwrap();
        if fails_over {
            // keepalived: the VIP's interface is tracked, its loss is a
            // FAULT and the backup takes over.
            t.wait_for_sole_holder(Node(2), v, WAIT).unwrap();
            assert!(vrrpd_log(&t, Node(1)).contains("MASTER -> FAULT"));
        } else {
            std::thread::sleep(Duration::from_millis(1000));
            assert_eq!(t.holders(v).unwrap(), vec![Node(1)], "no_track: n1 stays");
        }
        t.ip(&ns1, ["link", "set", "eth1", "up"]).unwrap();
        t.stop_daemon(Node(2), WAIT).unwrap();
        t.stop_daemon(Node(1), WAIT).unwrap();
    }
}

#[test]
fn routes_and_rules_follow_the_master() {
    let test = "routes_and_rules_follow_the_master";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    let c1 = KeepalivedConf::new("n1", vec![instance(150, ROUTES)]);
    let c2 = KeepalivedConf::new("n2", vec![instance(100, ROUTES)]);
    t.start(Node(1), Daemon::Vrrpd, &c1).unwrap();
    t.start(Node(2), Daemon::Vrrpd, &c2).unwrap();
    t.wait_for_sole_holder(Node(1), v, WAIT).unwrap();
    wait_virtuals(&t, Node(1), true);
    assert_eq!(virtuals(&t, Node(2)), [false; 6], "backup has none");

    // SIGTERM: they move with the VIP and leave the stopped node.
    t.stop_daemon(Node(1), WAIT).unwrap();
    t.wait_for_sole_holder(Node(2), v, WAIT).unwrap();
    wait_virtuals(&t, Node(2), true);
    assert_eq!(virtuals(&t, Node(1)), [false; 6], "stopped node keeps none");

    // n1 comes back and preempts: n2 removes its copies on leaving MASTER.
    t.start(Node(1), Daemon::Vrrpd, &c1).unwrap();
    t.wait_for_sole_holder(Node(1), v, WAIT).unwrap();
    wait_virtuals(&t, Node(1), true);
    wait_virtuals(&t, Node(2), false);

    // SIGKILL: the survivor takes them over; the killed node keeps stale
    // copies until its vrrpd starts again, which removes them at start-up
    // (only ours: they carry proto keepalived).
    t.kill_daemon(Node(1)).unwrap();
    t.wait_until("n2 takes the VIP", WAIT, || t.has_addr(Node(2), v))
        .unwrap();
    wait_virtuals(&t, Node(2), true);
    assert_eq!(virtuals(&t, Node(1)), [true; 6], "a SIGKILL leaves them");
    // An operator's route to the same destination is not ours.
    let ns1 = ns(&t, Node(1));
    t.ip(
        &ns1,
        [
            "route",
            "add",
            "blackhole",
            "203.0.113.0/24",
            "proto",
            "static",
            "metric",
            "5",
        ],
    )
    .unwrap();
    let low = KeepalivedConf::new("n1", vec![instance(50, ROUTES)]);
    t.start(Node(1), Daemon::Vrrpd, &low).unwrap();
    wait_virtuals(&t, Node(1), false);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(virtuals(&t, Node(1)), [false; 6]);
    assert_eq!(virtuals(&t, Node(2)), [true; 6]);
    let own = t.ip(&ns1, ["route", "show", "203.0.113.0/24"]).unwrap();
    assert!(
        own.contains("blackhole 203.0.113.0/24 proto static metric 5"),
        "operator's route kept: {own}"
    );
    let log = vrrpd_log(&t, Node(1));
    assert!(
        log.contains("virtual route removed (start-up cleanup)"),
        "{log}"
    );
    assert!(
        log.contains("virtual rule removed (start-up cleanup)"),
        "{log}"
    );
}

#[test]
fn a_reload_applies_only_the_difference() {
    let test = "a_reload_applies_only_the_difference";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(1)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    let conf = KeepalivedConf::new("n1", vec![instance(150, ROUTES)]);
    let pid = t.start(Node(1), Daemon::Vrrpd, &conf).unwrap();
    t.wait_for_sole_holder(Node(1), v, WAIT).unwrap();
    wait_virtuals(&t, Node(1), true);
    // Every route and rule change in n1's namespace from now on.
    let ns1 = ns(&t, Node(1));
    let args: Vec<std::ffi::OsString> = ["-o", "monitor", "route", "rule"]
        .iter()
        .map(Into::into)
        .collect();
    t.spawn(&ns1, "n1-monitor", Path::new("ip"), &args).unwrap();
    let monitor = t.dir().join("n1-monitor.log");
    std::thread::sleep(Duration::from_millis(300));
    let reloads = |n: usize| {
        t.wait_until("the reload", WAIT, || {
            Ok(vrrpd_log(&t, Node(1))
                .matches("configuration reloaded")
                .count()
                >= n)
        })
        .unwrap();
        // Whatever the reload changes is done before it logs.
        std::thread::sleep(Duration::from_millis(300));
    };

    // The same file again: nothing is removed or re-added.
    t.signal(pid, Signal::SIGHUP).unwrap();
    reloads(1);
    let seen = std::fs::read_to_string(&monitor).unwrap_or_default();
    assert!(seen.trim().is_empty(), "netlink changes: {seen}");
    assert_eq!(virtuals(&t, Node(1)), [true; 6]);

    // One route goes, one comes, the rest stays untouched.
    let changed = ROUTES
        .replace(
            "    blackhole 203.0.113.0/24\n",
            "    unreachable 203.0.113.128/25\n",
        )
        .replacen("table 100\n}", "table 100 metric 7\n}", 1);
    std::fs::write(
        t.daemon_config(Node(1)).unwrap(),
        KeepalivedConf::new("n1", vec![instance(150, &changed)]).render(),
    )
    .unwrap();
    t.signal(pid, Signal::SIGHUP).unwrap();
    reloads(2);
    let seen = std::fs::read_to_string(&monitor).unwrap_or_default();
    let lines: Vec<&str> = seen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Deleted") && l.contains("blackhole 203.0.113.0/24")),
        "{seen}"
    );
    assert!(
        lines
            .iter()
            .any(|l| !l.contains("Deleted") && l.contains("unreachable 203.0.113.128/25")),
        "{seen}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Deleted") && l.contains("table 100")),
        "the changed table 100 route goes: {seen}"
    );
    assert!(
        lines
            .iter()
            .any(|l| !l.contains("Deleted") && l.contains("table 100") && l.contains("metric 7")),
        "and comes back with its metric: {seen}"
    );
    // The unchanged main route and the rule were not touched.
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("198.51.100.0/24") && !l.contains("table 100")),
        "{seen}"
    );
    assert!(!lines.iter().any(|l| l.contains("lookup")), "{seen}");
    let log = vrrpd_log(&t, Node(1));
    assert!(log.contains("kept=0 updated=1 retired=0 added=0"), "{log}");
    assert!(t.has_addr(Node(1), v).unwrap());
}

#[test]
fn lower_priority_garps_follow_the_configuration() {
    let test = "lower_priority_garps_follow_the_configuration";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let t = Topology::with_options(opts(2)).unwrap();
    let (v, _) = vip(Family::V4, 0);
    let vip4 = Ipv4Addr::new(192, 0, 2, 200);
    // No second master burst, so that after the first one only the
    // lower-priority bursts put GARPs on the wire.
    let c1 = |extra: &str| {
        KeepalivedConf::new(
            "n1",
            vec![instance(
                150,
                &format!("garp_master_delay 0\ngarp_master_repeat 1\n{extra}"),
            )],
        )
    };
    let c2 = KeepalivedConf::new(
        "n2",
        vec![instance(100, "garp_master_delay 0\ngarp_master_repeat 1")],
    );
    let pid = t
        .start(
            Node(1),
            Daemon::Vrrpd,
            &c1("garp_lower_prio_repeat 3\ngarp_lower_prio_delay 1"),
        )
        .unwrap();
    t.start(Node(2), Daemon::Vrrpd, &c2).unwrap();
    t.wait_for_sole_holder(Node(1), v, WAIT).unwrap();
    let mac1 = t.node(Node(1)).mac.unwrap();

    let ns2 = ns(&t, Node(2));
    // n2 can be made deaf to n1 alone: with strict reverse-path filtering
    // a blackhole route to n1 drops n1's adverts on input.
    t.exec(&ns2, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"])
        .unwrap();
    let answered = || {
        vrrpd_log(&t, Node(1))
            .matches("received lower priority (100) advert")
            .count()
    };
    // A split brain that heals: n2 becomes master behind a partition; the
    // partition heals while n2 is still deaf to n1, so n1 hears the lower
    // priority master first; then n2 hears n1 and yields.
    let split_and_heal = || -> Vec<Garp> {
        t.partition(Node(2)).unwrap();
        t.wait_until("n2 master behind the partition", WAIT, || {
            t.has_addr(Node(2), v)
        })
        .unwrap();
        t.ip(&ns2, ["route", "add", "blackhole", "192.0.2.11/32"])
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let before = answered();
        let cap = ArpCapture::start(&t.client().ns);
        std::thread::sleep(Duration::from_millis(100));
        t.heal(Node(2)).unwrap();
        t.wait_until("n1 hears the lower priority master", WAIT, || {
            Ok(answered() > before)
        })
        .unwrap();
        t.ip(&ns2, ["route", "del", "blackhole", "192.0.2.11/32"])
            .unwrap();
        t.wait_for_sole_holder(Node(1), v, WAIT).unwrap();
        std::thread::sleep(Duration::from_millis(2000));
        cap.frames()
            .into_iter()
            .filter(|g| g.ip == vip4 && g.mac == mac1)
            .collect()
    };

    // garp_lower_prio_repeat 3: three at once, three at the fsm's
    // follow-up (one advert interval later at most), three more after
    // garp_lower_prio_delay (1 s).
    let g = split_and_heal();
    assert_eq!(g.len(), 9, "{g:?}");
    let t0 = g[0].at;
    let after = |k: usize| g[k].at.duration_since(t0);
    let offsets: Vec<u128> = (0..g.len()).map(|k| after(k).as_millis()).collect();
    eprintln!("lower-priority GARPs from n1, ms after the first: {offsets:?}");
    assert!(after(2) < Duration::from_millis(50), "{g:?}");
    assert!(after(5) < Duration::from_millis(300), "{g:?}");
    assert!(
        after(6) >= Duration::from_millis(900) && after(8) < Duration::from_millis(1500),
        "third burst after garp_lower_prio_delay: {g:?}"
    );

    // garp_lower_prio_repeat 0: none (keepalived's meaning), after a
    // reload that changes only that.
    std::fs::write(
        t.daemon_config(Node(1)).unwrap(),
        c1("garp_lower_prio_repeat 0\ngarp_lower_prio_delay 1").render(),
    )
    .unwrap();
    t.signal(pid, Signal::SIGHUP).unwrap();
    t.wait_until("the reload", WAIT, || {
        Ok(vrrpd_log(&t, Node(1)).contains("configuration reloaded"))
    })
    .unwrap();
    let g = split_and_heal();
    assert!(g.is_empty(), "{g:?}");
    assert!(vrrpd_log(&t, Node(1)).contains("garp_lower_prio_repeat is 0"));
}

/// One gratuitous ARP seen on the wire.
#[derive(Debug, Clone)]
struct Garp {
    at: Instant,
    ip: Ipv4Addr,
    mac: [u8; 6],
}

/// Gratuitous ARPs (sender address = target address) received on every
/// interface of a namespace, by a thread that lives in it.
struct ArpCapture {
    stop: Arc<AtomicBool>,
    seen: Arc<std::sync::Mutex<Vec<Garp>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ArpCapture {
    fn start(ns: &str) -> ArpCapture {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path = format!("/run/netns/{ns}");
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            // setns moves only this thread.
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            const ETH_P_ARP: u16 = 0x0806;
            let proto = socket2::Protocol::from(i32::from(ETH_P_ARP.to_be()));
            let mut sock =
                socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, Some(proto))
                    .unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 128];
            while !s.load(Ordering::Relaxed) {
                let Ok(n) = sock.read(&mut buf) else { continue };
                let f = &buf[..n];
                if n < 42 || f[12..14] != [0x08, 0x06] {
                    continue;
                }
                let sender = Ipv4Addr::new(f[28], f[29], f[30], f[31]);
                let target = Ipv4Addr::new(f[38], f[39], f[40], f[41]);
                if sender == target {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(&f[22..28]);
                    v.lock().unwrap().push(Garp {
                        at: Instant::now(),
                        ip: sender,
                        mac,
                    });
                }
            }
        });
        ready_rx.recv_timeout(WAIT).unwrap();
        ArpCapture {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn frames(&self) -> Vec<Garp> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ArpCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
