#![allow(clippy::unwrap_used)]
//! vrrpd and keepalived on one LAN, from the same generated keepalived.conf:
//! every role mix (vrrpd master / keepalived backup and the reverse), VRRPv2
//! and v3, IPv4 and IPv6, multicast and unicast peers. In each: the higher
//! priority becomes master and alone holds the VIP; the backup takes over
//! when the master is SIGKILLed, and when it is stopped gracefully; the old
//! master takes the VIP back when it returns with a higher priority. Every
//! case runs a second instance beside the tested one; in the `sync_track_vmac`
//! cases the vrrpd side puts both in a sync group with a track_script and
//! runs them on VMACs.
//!
//! ```text
//!   n1 (prio 150) --+                 +-- client (probe 1 ms)
//!                   +-- br0 (switch) -+
//!   n2 (prio 100) --+
//! ```

mod common;

use common::opts;
use netns_tests::analysis::probe_stats;
use netns_tests::config::vip;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Peers, Topology, Version};
use std::net::IpAddr;
use std::time::Duration;

const VRID: u8 = 77;

#[derive(Debug, Clone, Copy)]
struct Case {
    master: Daemon,
    backup: Daemon,
    version: Version,
    family: Family,
    unicast: bool,
    /// On the vrrpd side only: the instance in a sync group with a second
    /// one, a track_script, and `use_vmac` (IPv4), so the wire behaviour
    /// is checked with those features in use.
    featured: bool,
}

impl Case {
    fn advert_int(&self) -> f64 {
        // v2 carries whole seconds (RFC 3768 §5.3.7); v3 runs the cases fast.
        match self.version {
            Version::V2 => 1.0,
            Version::V3 => 0.1,
        }
    }

    fn conf(&self, t: &Topology, node: Node, daemon: Daemon, priority: u8) -> KeepalivedConf {
        let mut inst = Instance::new(VRID, priority, self.version, self.family, self.advert_int());
        let featured = self.featured && daemon == Daemon::Vrrpd;
        if featured {
            inst = inst.with_extra("use_vmac");
        }
        if self.unicast {
            let addr = |n: Node| -> IpAddr {
                let info = t.node(n);
                match self.family {
                    Family::V4 => IpAddr::V4(info.ipv4),
                    Family::V6 => IpAddr::V6(info.ipv6),
                }
            };
            let other = if node == Node(1) { Node(2) } else { Node(1) };
            inst = inst.with_peers(Peers::Unicast {
                src: addr(node),
                peers: vec![addr(other)],
            });
        }
        // The partner instance: same priorities, its own VRID and VIP.
        let partner = Instance::new(
            VRID + 1,
            priority,
            self.version,
            self.family,
            self.advert_int(),
        )
        .with_vips(vec![vip(self.family, 1)]);
        let mut conf = KeepalivedConf::new(format!("n{}", node.0), vec![inst, partner]);
        if featured {
            conf = conf.with_extra(format!(
                "vrrp_script chk {{\n    script \"/bin/true\"\n    interval 1\n}}\n\
                 vrrp_sync_group G {{\n    group {{\n        VI_{VRID}\n        VI_{}\n    }}\n    track_script {{\n        chk\n    }}\n}}\n",
                VRID + 1
            ));
        }
        conf
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(10.0 + 8.0 * self.advert_int())
    }
}

fn run(test: &str, case: Case) {
    for d in [case.master, case.backup] {
        if env::require_daemon(test, d).is_none() {
            return;
        }
    }
    let t = Topology::with_options(opts(2)).unwrap();
    t.start_echo_all().unwrap();
    let (vip, _) = vip(case.family, 0);
    let what = format!("{case:?}");

    // Election: the higher priority becomes master and holds the VIP alone
    // (RFC 5798 §6.4.2), whichever implementation it is.
    t.start(
        Node(1),
        case.master,
        &case.conf(&t, Node(1), case.master, 150),
    )
    .unwrap();
    t.start(
        Node(2),
        case.backup,
        &case.conf(&t, Node(2), case.backup, 100),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), vip, case.timeout())
        .unwrap_or_else(|e| panic!("{what}: n1 never sole master: {e}"));
    let s = probe_stats(&t.probe(vip, 200).unwrap());
    assert!(s.answered > 0, "{what}: nobody answered on {vip}");
    assert!(
        s.responders.iter().all(|(_, n)| n == "n1"),
        "{what}: {:?}",
        s.responders
    );
    if case.featured {
        // The features really are in use on the vrrpd side: its VMAC
        // exists (holding the VIP when it is the master) and the sync
        // group took both members to the same state.
        let n = if case.master == Daemon::Vrrpd {
            Node(1)
        } else {
            Node(2)
        };
        let vmac = format!("vrrp.{VRID}");
        let on_vmac = t
            .ip(&t.node(n).ns, ["-br", "addr", "show", "dev", &vmac])
            .unwrap_or_else(|e| panic!("{what}: no VMAC on the vrrpd node: {e}"));
        assert_eq!(
            on_vmac.contains(&vip.to_string()),
            n == Node(1),
            "{what}: {on_vmac}"
        );
        let (partner, _) = netns_tests::config::vip(case.family, 1);
        assert_eq!(
            t.holders(partner).unwrap(),
            vec![Node(1)],
            "{what}: partner VIP"
        );
    }
    // The backup stays backup for several adverts: it accepts the other
    // implementation's packets (no checksum / format rejection).
    std::thread::sleep(Duration::from_secs_f64(4.0 * case.advert_int()));
    assert_eq!(t.holders(vip).unwrap(), vec![Node(1)], "{what}");

    // Crash: SIGKILL the master; the backup takes over.
    t.kill_daemon(Node(1)).unwrap();
    t.wait_until("n2 holds the VIP", case.timeout(), || {
        t.has_addr(Node(2), vip)
    })
    .unwrap_or_else(|e| panic!("{what}: no takeover after SIGKILL: {e}"));
    // The dead master's address stays on its interface (nobody removes it)
    // but its service is gone: clear it as a restarted daemon would.
    t.ip(
        &t.node(Node(1)).ns,
        ["addr", "flush", "dev", "eth0", "scope", "global"],
    )
    .ok();
    t.ip(
        &t.node(Node(1)).ns,
        [
            "addr",
            "add",
            &format!("{}/24", t.node(Node(1)).ipv4),
            "dev",
            "eth0",
        ],
    )
    .ok();
    if case.family == Family::V6 {
        t.ip(
            &t.node(Node(1)).ns,
            [
                "addr",
                "add",
                &format!("{}/64", t.node(Node(1)).ipv6),
                "dev",
                "eth0",
                "nodad",
            ],
        )
        .ok();
    }

    // Return with a higher priority and preemption on: it takes the VIP
    // back (RFC 5798 §6.4.3 Backup, "Preempt_Mode is True").
    t.start(
        Node(1),
        case.master,
        &case.conf(&t, Node(1), case.master, 200),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), vip, case.timeout())
        .unwrap_or_else(|e| panic!("{what}: returning master did not preempt: {e}"));

    // Graceful stop: SIGTERM; the master sends priority 0 and the backup
    // takes over; the VIP ends on n2 alone.
    t.stop_daemon(Node(1), Duration::from_secs(10)).unwrap();
    t.wait_for_sole_holder(Node(2), vip, case.timeout())
        .unwrap_or_else(|e| panic!("{what}: no takeover after SIGTERM: {e}"));
    let s = probe_stats(&t.probe(vip, 200).unwrap());
    assert!(
        s.answered > 0 && s.responders.iter().all(|(_, n)| n == "n2"),
        "{what}: {:?}",
        s.responders
    );
    t.check_daemon_alive(Node(2)).unwrap();
}

macro_rules! interop {
    ($($name:ident: $master:ident / $backup:ident, $ver:ident, $fam:ident, $uni:expr, $feat:expr;)*) => {$(
        #[test]
        fn $name() {
            run(
                stringify!($name),
                Case {
                    master: Daemon::$master,
                    backup: Daemon::$backup,
                    version: Version::$ver,
                    family: Family::$fam,
                    unicast: $uni,
                    featured: $feat,
                },
            );
        }
    )*};
}

interop! {
    vrrpd_master_keepalived_backup_v2_ipv4_multicast: Vrrpd / Keepalived, V2, V4, false, false;
    keepalived_master_vrrpd_backup_v2_ipv4_multicast: Keepalived / Vrrpd, V2, V4, false, false;
    vrrpd_master_keepalived_backup_v3_ipv4_multicast: Vrrpd / Keepalived, V3, V4, false, false;
    keepalived_master_vrrpd_backup_v3_ipv4_multicast: Keepalived / Vrrpd, V3, V4, false, false;
    vrrpd_master_keepalived_backup_v3_ipv6_multicast: Vrrpd / Keepalived, V3, V6, false, false;
    keepalived_master_vrrpd_backup_v3_ipv6_multicast: Keepalived / Vrrpd, V3, V6, false, false;
    vrrpd_master_keepalived_backup_v2_ipv4_unicast: Vrrpd / Keepalived, V2, V4, true, false;
    keepalived_master_vrrpd_backup_v2_ipv4_unicast: Keepalived / Vrrpd, V2, V4, true, false;
    vrrpd_master_keepalived_backup_v3_ipv4_unicast: Vrrpd / Keepalived, V3, V4, true, false;
    keepalived_master_vrrpd_backup_v3_ipv4_unicast: Keepalived / Vrrpd, V3, V4, true, false;
    vrrpd_master_keepalived_backup_v3_ipv6_unicast: Vrrpd / Keepalived, V3, V6, true, false;
    keepalived_master_vrrpd_backup_v3_ipv6_unicast: Keepalived / Vrrpd, V3, V6, true, false;
    vrrpd_pair_v3_ipv4_multicast: Vrrpd / Vrrpd, V3, V4, false, false;
    vrrpd_master_keepalived_backup_v3_ipv4_sync_track_vmac: Vrrpd / Keepalived, V3, V4, false, true;
    keepalived_master_vrrpd_backup_v3_ipv4_sync_track_vmac: Keepalived / Vrrpd, V3, V4, false, true;
}
