#![allow(clippy::unwrap_used)]
//! Accept mode and the nftables settings that enforce it: keepalived's
//! defaults, `global_defs` keywords with located errors, and the TOML
//! front end carrying the same values.

use conf::{from_toml_str, load_keepalived_str, to_toml_string, Diagnostic, ParseOptions};

fn load(text: &str) -> conf::Loaded {
    load_keepalived_str("t.conf", text, &ParseOptions::default())
}

fn at(d: &Diagnostic) -> (u32, u32) {
    let l = d.location.as_ref().unwrap();
    (l.line, l.col)
}

fn instance(name: &str, vrid: u8, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n{extra} virtual_ipaddress {{\n  192.0.2.{vrid}\n }}\n}}\n"
    )
}

#[test]
fn global_defs_nftables_keywords_reach_the_model() {
    let text = format!(
        "global_defs {{\n nftables vrrp_fw\n nftables_priority -5\n nftables_counters\n nftables_ifindex\n}}\n{}",
        instance("V", 1, " no_accept\n")
    );
    let l = load(&text);
    assert!(!l.diagnostics.has_errors(), "{}", l.diagnostics);
    assert_eq!(l.diagnostics.warnings().count(), 0, "{}", l.diagnostics);
    let g = &l.config.global_defs;
    assert_eq!(g.nftables.as_deref(), Some("vrrp_fw"));
    assert_eq!(g.nftables_priority, -5);
    assert!(g.nftables_counters);
    assert!(g.nftables_ifindex);
    // And through TOML unchanged.
    let toml = to_toml_string(&l.config);
    assert!(toml.contains("nftables = \"vrrp_fw\""), "{toml}");
    let (back, diags) = from_toml_str("t.toml", &toml);
    assert!(!diags.has_errors(), "{diags}\n{toml}");
    assert_eq!(back.as_ref(), Some(&l.config));
}

#[test]
fn nftables_without_a_name_is_keepalived_s_table() {
    let l = load(&format!(
        "global_defs {{\n nftables\n}}\n{}",
        instance("V", 1, "")
    ));
    assert!(l.is_ok(), "{}", l.diagnostics);
    assert_eq!(l.config.global_defs.nftables.as_deref(), Some("keepalived"));
    // Not written at all: no name in the model, keepalived's priority.
    let l = load(&instance("V", 1, ""));
    assert_eq!(l.config.global_defs.nftables, None);
    assert_eq!(l.config.global_defs.nftables_priority, -1);
}

#[test]
fn bad_nftables_values_are_located_errors() {
    let l = load(&format!(
        "global_defs {{\n nftables_priority low\n}}\n{}",
        instance("V", 1, "")
    ));
    let e: Vec<_> = l.diagnostics.errors().collect();
    assert_eq!(e.len(), 1, "{}", l.diagnostics);
    assert_eq!(at(e[0]), (2, 20));
    assert_eq!(e[0].keyword.as_deref(), Some("nftables_priority"));

    let long = "t".repeat(256);
    let l = load(&format!(
        "global_defs {{\n nftables {long}\n}}\n{}",
        instance("V", 1, "")
    ));
    let e: Vec<_> = l.diagnostics.errors().collect();
    assert_eq!(e.len(), 1, "{}", l.diagnostics);
    assert_eq!(at(e[0]), (2, 11));
    assert!(e[0].message.contains("1-255 bytes"), "{}", e[0].message);

    let l = load(&format!(
        "global_defs {{\n nftables_counters yes\n}}\n{}",
        instance("V", 1, "")
    ));
    assert_eq!(l.diagnostics.errors().count(), 1, "{}", l.diagnostics);
}

#[test]
fn a_bad_table_name_in_toml_names_its_line() {
    let l = load(&instance("V", 1, ""));
    let toml = to_toml_string(&l.config).replacen(
        "[global_defs]\n",
        "[global_defs]\nnftables = \"\"\n",
        1,
    );
    assert!(toml.contains("nftables = \"\""), "{toml}");
    let (_, diags) = from_toml_str("t.toml", &toml);
    let e: Vec<_> = diags.errors().collect();
    assert_eq!(e.len(), 1, "{diags}");
    assert_eq!(e[0].keyword.as_deref(), Some("nftables"));
    let line = toml
        .lines()
        .position(|l| l.starts_with("nftables ="))
        .unwrap() as u32
        + 1;
    assert_eq!(e[0].location.as_ref().unwrap().line, line, "{diags}");
}

#[test]
fn vrrp_iptables_maps_onto_nftables_with_a_warning() {
    let l = load(&format!(
        "global_defs {{\n vrrp_iptables IN OUT\n vrrp_ipsets a b\n}}\n{}",
        instance("V", 1, "")
    ));
    assert!(!l.diagnostics.has_errors(), "{}", l.diagnostics);
    let w: Vec<_> = l.diagnostics.warnings().collect();
    assert_eq!(w.len(), 2, "{}", l.diagnostics);
    assert_eq!(at(w[0]), (2, 2));
    assert!(w[0].message.contains("nftables"), "{}", w[0].message);
    assert_eq!(at(w[1]), (3, 2));
    assert!(w[1].message.contains("nftables"), "{}", w[1].message);
}

#[test]
fn accept_mode_follows_keepalived() {
    // Default: accept.
    let l = load(&instance("V", 1, ""));
    assert!(l.config.vrrp_instances[0].accept);
    // Strict mode: no_accept unless the instance is the address owner.
    let text = format!(
        "global_defs {{\n vrrp_strict\n}}\n{}{}",
        instance("V", 1, " priority 100\n"),
        instance("O", 2, " priority 255\n")
    );
    let l = load(&text);
    assert!(!l.config.vrrp_instance("V").unwrap().accept);
    assert!(l.config.vrrp_instance("O").unwrap().accept);
    // An explicit accept stays with VRRPv3 (RFC 5798 has Accept_Mode)...
    let text = format!(
        "global_defs {{\n vrrp_strict\n vrrp_version 3\n}}\n{}",
        instance("V", 1, " priority 100\n accept\n")
    );
    let l = load(&text);
    assert!(l.config.vrrp_instances[0].accept, "{}", l.diagnostics);
    // ... and is reset with VRRPv2, with a located warning.
    let text = format!(
        "global_defs {{\n vrrp_strict\n}}\n{}",
        instance("V", 1, " priority 100\n accept\n")
    );
    let l = load(&text);
    assert!(!l.config.vrrp_instances[0].accept);
    let w: Vec<_> = l
        .diagnostics
        .warnings()
        .filter(|w| w.keyword.as_deref() == Some("accept"))
        .collect();
    assert_eq!(w.len(), 1, "{}", l.diagnostics);
    assert!(w[0].message.contains("RFC 3768"), "{}", w[0].message);
    // Explicit no_accept anywhere.
    let l = load(&instance("V", 1, " no_accept\n"));
    assert!(!l.config.vrrp_instances[0].accept);
}
