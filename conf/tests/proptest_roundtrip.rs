#![allow(clippy::unwrap_used)]
//! Property: keepalived.conf text rendered from random values loads into a
//! model holding those values, and that model survives TOML unchanged.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use conf::model::{CheckerKind, State};
use conf::{from_toml_str, load_keepalived_str, to_toml_string, ParseOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Vip {
    host: u8,
    prefix: u8,
    dev: Option<u8>,
    label: bool,
    no_track: bool,
}

#[derive(Debug, Clone)]
struct Inst {
    v6: bool,
    v3: bool,
    priority: Option<u8>,
    master: Option<bool>,
    /// Centiseconds for v3, seconds for v2.
    advert: u16,
    nopreempt: bool,
    vips: Vec<Vip>,
    track_if: Vec<(u8, i16)>,
    peers: Vec<u8>,
    garp_delay: Option<u8>,
    track_script: bool,
}

#[derive(Debug, Clone)]
struct Check {
    kind: usize,
    connect_timeout: Option<u16>,
    retry: Option<u8>,
    port: Option<u16>,
}

#[derive(Debug, Clone)]
struct Rs {
    host: u8,
    weight: u16,
    inhibit: bool,
    checks: Vec<Check>,
}

#[derive(Debug, Clone)]
struct Vs {
    port: u16,
    delay_loop: Option<u16>,
    algo: usize,
    kind: usize,
    persistence: Option<u16>,
    rss: Vec<Rs>,
}

fn vip() -> impl Strategy<Value = Vip> {
    (
        1u8..250,
        8u8..=32,
        proptest::option::of(0u8..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(host, prefix, dev, label, no_track)| Vip {
            host,
            prefix,
            dev,
            label,
            no_track,
        })
}

fn inst() -> impl Strategy<Value = Inst> {
    (
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(1u8..=254),
            proptest::option::of(any::<bool>()),
        ),
        (
            1u16..=255,
            any::<bool>(),
            proptest::collection::vec(vip(), 1..4),
        ),
        (
            proptest::collection::vec((0u8..5, -253i16..=253), 0..3),
            proptest::collection::vec(1u8..250, 0..3),
            proptest::option::of(0u8..30),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (v6, v3, priority, master),
                (advert, nopreempt, vips),
                (track_if, peers, garp_delay, track_script),
            )| Inst {
                v6,
                v3: v3 || v6,
                priority,
                master,
                advert,
                nopreempt,
                vips,
                track_if,
                peers,
                garp_delay,
                track_script,
            },
        )
}

fn check() -> impl Strategy<Value = Check> {
    (
        0usize..4,
        proptest::option::of(1u16..100),
        proptest::option::of(0u8..10),
        proptest::option::of(1u16..65535),
    )
        .prop_map(|(kind, connect_timeout, retry, port)| Check {
            kind,
            connect_timeout,
            retry,
            port,
        })
}

fn rs() -> impl Strategy<Value = Rs> {
    (
        1u8..250,
        0u16..1000,
        any::<bool>(),
        proptest::collection::vec(check(), 0..3),
    )
        .prop_map(|(host, weight, inhibit, checks)| Rs {
            host,
            weight,
            inhibit,
            checks,
        })
}

fn vs() -> impl Strategy<Value = Vs> {
    (
        1u16..65535,
        proptest::option::of(1u16..600),
        0usize..4,
        0usize..3,
        proptest::option::of(1u16..3600),
        proptest::collection::vec(rs(), 1..4),
    )
        .prop_map(|(port, delay_loop, algo, kind, persistence, rss)| Vs {
            port,
            delay_loop,
            algo,
            kind,
            persistence,
            rss,
        })
}

const ALGOS: [&str; 4] = ["rr", "wrr", "lc", "sh"];
const KINDS: [&str; 3] = ["NAT", "DR", "TUN"];
const CHECKS: [(&str, CheckerKind); 4] = [
    ("TCP_CHECK", CheckerKind::Tcp),
    ("HTTP_GET", CheckerKind::HttpGet),
    ("SMTP_CHECK", CheckerKind::Smtp),
    ("PING_CHECK", CheckerKind::Ping),
];

fn v4(net: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, net, host)
}

fn v6(host: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host))
}

fn render(insts: &[Inst], vss: &[Vs]) -> String {
    let mut t = String::from(
        "global_defs {\n  router_id prop\n}\nvrrp_script chk {\n  script \"/bin/true\"\n}\n",
    );
    for (n, i) in insts.iter().enumerate() {
        let _ = writeln!(
            t,
            "vrrp_instance VI_{n} {{\n  interface eth0\n  virtual_router_id {}",
            n + 1
        );
        if let Some(p) = i.priority {
            let _ = writeln!(t, "  priority {p}");
        }
        if let Some(m) = i.master {
            let _ = writeln!(t, "  state {}", if m { "MASTER" } else { "BACKUP" });
        }
        if i.v3 {
            let cs = i.advert.min(4095);
            let _ = writeln!(t, "  version 3\n  advert_int {}.{:02}", cs / 100, cs % 100);
        } else {
            let _ = writeln!(t, "  advert_int {}", i.advert);
        }
        if i.nopreempt {
            t.push_str("  nopreempt\n");
        }
        if let Some(g) = i.garp_delay {
            let _ = writeln!(t, "  garp_master_delay {g}");
        }
        t.push_str("  virtual_ipaddress {\n");
        for (k, a) in i.vips.iter().enumerate() {
            let addr = if i.v6 {
                format!("{}/{}", v6(a.host), a.prefix + 96)
            } else {
                format!("{}/{}", v4(n as u8, a.host), a.prefix)
            };
            let _ = write!(t, "    {addr}");
            if let Some(d) = a.dev {
                let _ = write!(t, " dev eth{d}");
            }
            if a.label && !i.v6 {
                let _ = write!(t, " label eth0:{k}");
            }
            if a.no_track {
                t.push_str(" no_track");
            }
            t.push('\n');
        }
        t.push_str("  }\n");
        if !i.track_if.is_empty() {
            t.push_str("  track_interface {\n");
            for (d, w) in &i.track_if {
                let _ = writeln!(t, "    eth{d} weight {w}");
            }
            t.push_str("  }\n");
        }
        if !i.peers.is_empty() {
            t.push_str("  unicast_peer {\n");
            for p in &i.peers {
                if i.v6 {
                    let _ = writeln!(t, "    {}", v6(*p));
                } else {
                    let _ = writeln!(t, "    {}", Ipv4Addr::new(198, 51, 100, *p));
                }
            }
            t.push_str("  }\n");
        }
        if i.track_script {
            t.push_str("  track_script {\n    chk\n  }\n");
        }
        t.push_str("}\n");
    }
    for (n, v) in vss.iter().enumerate() {
        let _ = writeln!(
            t,
            "virtual_server 203.0.113.{} {} {{\n  lb_algo {}\n  lb_kind {}",
            n + 1,
            v.port,
            ALGOS[v.algo],
            KINDS[v.kind]
        );
        if let Some(d) = v.delay_loop {
            let _ = writeln!(t, "  delay_loop {d}");
        }
        if let Some(p) = v.persistence {
            let _ = writeln!(t, "  persistence_timeout {p}");
        }
        for (k, r) in v.rss.iter().enumerate() {
            let _ = writeln!(
                t,
                "  real_server 198.51.{}.{} {} {{\n    weight {}",
                k, r.host, v.port, r.weight
            );
            if r.inhibit {
                t.push_str("    inhibit_on_failure\n");
            }
            for c in &r.checks {
                let _ = writeln!(t, "    {} {{", CHECKS[c.kind].0);
                if let Some(ct) = c.connect_timeout {
                    let _ = writeln!(t, "      connect_timeout {ct}");
                }
                if let Some(r) = c.retry {
                    let _ = writeln!(t, "      retry {r}");
                }
                if let Some(p) = c.port {
                    if c.kind != 3 {
                        let _ = writeln!(t, "      connect_port {p}");
                    }
                }
                if c.kind == 1 {
                    t.push_str(
                        "      url {\n        path /\n        status_code 200-299\n      }\n",
                    );
                }
                t.push_str("    }\n");
            }
            t.push_str("  }\n");
        }
        t.push_str("}\n");
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn keepalived_to_model_to_toml_round_trip(
        insts in proptest::collection::vec(inst(), 0..5),
        vss in proptest::collection::vec(vs(), 0..3),
    ) {
        let text = render(&insts, &vss);
        let l = load_keepalived_str("prop.conf", &text, &ParseOptions::default());
        prop_assert!(!l.diagnostics.has_errors(), "{}\n{}", l.diagnostics, text);
        let c = &l.config;

        // The model holds what the text said, and keepalived's derived values.
        prop_assert_eq!(c.vrrp_instances.len(), insts.len());
        for (n, (m, i)) in c.vrrp_instances.iter().zip(&insts).enumerate() {
            prop_assert_eq!(m.virtual_router_id as usize, n + 1);
            let expect_prio = i.priority.unwrap_or(if i.master == Some(true) { 255 } else { 100 });
            prop_assert_eq!(m.priority, expect_prio);
            let expect_state = match i.master {
                Some(true) => State::Master,
                Some(false) => State::Backup,
                None if expect_prio == 255 => State::Master,
                None => State::Backup,
            };
            prop_assert_eq!(m.state, expect_state);
            prop_assert_eq!(m.version, if i.v3 { 3 } else { 2 });
            let adv = if i.v3 { Duration::from_millis(u64::from(i.advert.min(4095)) * 10) } else { Duration::from_secs(u64::from(i.advert)) };
            prop_assert_eq!(m.advert_int, adv);
            // keepalived keeps preemption on for an address owner.
            prop_assert_eq!(m.preempt, !i.nopreempt || expect_prio == 255);
            prop_assert_eq!(m.garp_master_delay, Duration::from_secs(u64::from(i.garp_delay.unwrap_or(5))));
            prop_assert_eq!(m.virtual_ipaddress.len(), i.vips.len());
            for (a, s) in m.virtual_ipaddress.iter().zip(&i.vips) {
                prop_assert_eq!(a.address.prefix(), if i.v6 { s.prefix + 96 } else { s.prefix });
                prop_assert_eq!(a.dev.clone(), s.dev.map(|d| format!("eth{d}")));
                prop_assert_eq!(a.no_track, s.no_track);
            }
            prop_assert_eq!(m.track_interface.iter().map(|t| t.weight).collect::<Vec<_>>(),
                i.track_if.iter().map(|(_, w)| i32::from(*w)).collect::<Vec<_>>());
            prop_assert_eq!(m.unicast_peer.len(), i.peers.len());
        }
        prop_assert_eq!(c.virtual_servers.len(), vss.len());
        for (m, v) in c.virtual_servers.iter().zip(&vss) {
            let dl = Duration::from_secs(u64::from(v.delay_loop.unwrap_or(60)));
            prop_assert_eq!(m.delay_loop, dl);
            prop_assert_eq!(m.persistence_timeout, v.persistence.map(|p| Duration::from_secs(u64::from(p))));
            for (mr, r) in m.real_servers.iter().zip(&v.rss) {
                prop_assert_eq!(mr.weight, i32::from(r.weight));
                prop_assert_eq!(mr.inhibit_on_failure, r.inhibit);
                prop_assert_eq!(mr.lvs_method, m.lb_kind);
                for (mc, ck) in mr.checkers.iter().zip(&r.checks) {
                    prop_assert_eq!(mc.kind, CHECKS[ck.kind].1);
                    prop_assert_eq!(mc.delay_loop, dl);
                    prop_assert_eq!(mc.connect_timeout, Duration::from_secs(u64::from(ck.connect_timeout.unwrap_or(5))));
                    prop_assert_eq!(mc.retry, ck.retry.map(u32::from).unwrap_or(1));
                    let dbr = if ck.kind == 1 { 3 } else { 1 };
                    prop_assert_eq!(mc.delay_before_retry, Duration::from_secs(dbr));
                }
            }
        }

        // And TOML gives it back unchanged.
        let toml = to_toml_string(c);
        let (back, d) = from_toml_str("prop.toml", &toml);
        prop_assert!(!d.has_errors(), "{}\n{}", d, toml);
        prop_assert_eq!(back.as_ref(), Some(c), "{}", toml);
    }
}
