#![allow(clippy::unwrap_used)]
//! Random keepalived.conf-shaped text built from the keywords the builder
//! knows: loading never panics, every diagnostic has a position, and
//! whatever model comes out survives TOML unchanged.

use std::fmt::Write;

use conf::keepalived::build::known_keywords;
use conf::{from_toml_str, load_keepalived_str, to_toml_string, ParseOptions};
use proptest::prelude::*;

const TOP: &[&str] = &[
    "global_defs",
    "vrrp_instance",
    "vrrp_script",
    "vrrp_sync_group",
    "virtual_server",
    "virtual_server_group",
    "static_routes",
    "static_rules",
    "static_ipaddress",
    "track_file",
    "vrrp_track_process",
    "bfd_instance",
    "SSL",
];

const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "50",
    "100",
    "255",
    "256",
    "65536",
    "-1",
    "-253",
    "0.01",
    "1.5",
    "40.95",
    "x",
    "192.0.2.1",
    "192.0.2.1/24",
    "192.0.2.0/33",
    "2001:db8::1",
    "2001:db8::/64",
    "198.51.100.3-10",
    "fwmark",
    "group",
    "MASTER",
    "BACKUP",
    "PASS",
    "AH",
    "NAT",
    "DR",
    "TUN",
    "rr",
    "wlc",
    "TCP",
    "UDP",
    "dev",
    "eth0",
    "via",
    "table",
    "main",
    "weight",
    "reverse",
    "label",
    "eth0:1",
    "scope",
    "link",
    "src",
    "blackhole",
    "from",
    "to",
    "on",
    "off",
    "yes",
    "200-299",
    "\"/bin/true arg\"",
    "inet6",
];

#[derive(Debug, Clone)]
struct Stmt {
    kw: usize,
    args: Vec<usize>,
    children: Option<Vec<Stmt>>,
}

fn stmt(depth: u32) -> BoxedStrategy<Stmt> {
    let leaf = (
        0..known_keywords().len(),
        proptest::collection::vec(0..VALUES.len(), 0..4),
    )
        .prop_map(|(kw, args)| Stmt {
            kw,
            args,
            children: None,
        });
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        1 => (0..known_keywords().len(), proptest::collection::vec(0..VALUES.len(), 0..3), proptest::collection::vec(stmt(depth - 1), 0..6))
            .prop_map(|(kw, args, c)| Stmt { kw, args, children: Some(c) }),
    ]
    .boxed()
}

fn render(out: &mut String, s: &Stmt, indent: usize, kw: &str) {
    let _ = write!(out, "{:indent$}{kw}", "");
    for a in &s.args {
        let _ = write!(out, " {}", VALUES[*a]);
    }
    match &s.children {
        None => out.push('\n'),
        Some(c) => {
            out.push_str(" {\n");
            for x in c {
                render(out, x, indent + 2, known_keywords()[x.kw]);
            }
            let _ = writeln!(out, "{:indent$}}}", "");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn random_configs_never_panic_and_round_trip(
        blocks in proptest::collection::vec((0..TOP.len(), proptest::collection::vec(0..VALUES.len(), 0..3), proptest::collection::vec(stmt(2), 0..12)), 1..5)
    ) {
        let mut text = String::new();
        for (top, args, children) in &blocks {
            let s = Stmt { kw: 0, args: args.clone(), children: Some(children.clone()) };
            render(&mut text, &s, 0, TOP[*top]);
        }
        let l = load_keepalived_str("fuzz.conf", &text, &ParseOptions::default());
        for d in &l.diagnostics.items {
            prop_assert!(d.location.is_some(), "{}\n{}", d, text);
        }
        let toml = to_toml_string(&l.config);
        let (back, diags) = from_toml_str("fuzz.toml", &toml);
        prop_assert!(back.is_some(), "{}\n{}\n{}", diags, toml, text);
        prop_assert_eq!(back.as_ref(), Some(&l.config), "{}\n{}", toml, text);
    }
}
