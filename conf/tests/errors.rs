#![allow(clippy::unwrap_used)]
//! Bad keepalived.conf input: every problem is reported with file:line:col,
//! the keyword and what was expected; nothing is silently dropped.

use conf::{load_keepalived_str, Diagnostic, Diagnostics, ParseOptions, Severity};

fn load(text: &str) -> Diagnostics {
    load_keepalived_str("t.conf", text, &ParseOptions::default()).diagnostics
}

/// The only error of `text`, as (line, col, keyword, message).
fn only_error(text: &str) -> Diagnostic {
    let d = load(text);
    let errs: Vec<&Diagnostic> = d.errors().collect();
    assert_eq!(errs.len(), 1, "expected exactly one error, got:\n{d}");
    errs[0].clone()
}

fn only_warning(text: &str) -> Diagnostic {
    let d = load(text);
    assert!(!d.has_errors(), "{d}");
    let w: Vec<&Diagnostic> = d.warnings().collect();
    assert_eq!(w.len(), 1, "expected exactly one warning, got:\n{d}");
    w[0].clone()
}

fn at(d: &Diagnostic) -> (u32, u32) {
    let l = d.location.as_ref().unwrap();
    assert_eq!(l.file.to_str(), Some("t.conf"));
    (l.line, l.col)
}

/// A valid instance with `extra` lines added inside its block.
fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {{\n        192.0.2.1/24\n    }}\n{extra}}}\n"
    )
}

#[test]
fn base_instance_is_clean() {
    let d = load(&instance(""));
    assert!(d.is_empty(), "{d}");
}

#[test]
fn unknown_top_level_block_warns() {
    let w = only_warning("vrrp_instnace VI_1 {\n  priority 100\n}\n");
    assert_eq!(at(&w), (1, 1));
    assert_eq!(w.keyword.as_deref(), Some("vrrp_instnace"));
    assert_eq!(
        w.message,
        "unknown top-level keyword `vrrp_instnace`, ignored"
    );
}

#[test]
fn unknown_keyword_in_instance_warns() {
    let w = only_warning(&instance("    prioriti 100\n"));
    assert_eq!(at(&w), (7, 5));
    assert_eq!(
        w.message,
        "unknown keyword `prioriti` in vrrp_instance, ignored"
    );
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.source_line.as_deref(), Some("    prioriti 100"));
}

#[test]
fn bad_number() {
    let e = only_error(&instance("    priority high\n"));
    assert_eq!(at(&e), (7, 14));
    assert_eq!(e.keyword.as_deref(), Some("priority"));
    assert_eq!(e.message, "expected an integer 1-255, found `high`");
}

#[test]
fn vrid_out_of_range() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 300\n    virtual_ipaddress {\n        192.0.2.1\n    }\n}\n";
    let d = load(text);
    let e = d.errors().next().unwrap();
    assert_eq!(at(e), (3, 23));
    assert_eq!(e.message, "expected an integer 1-255, found `300`");
    // The VRID is then missing, which validation reports too.
    let e2 = d.errors().nth(1).unwrap();
    assert_eq!(at(e2), (1, 1));
    assert_eq!(e2.message, "(VI_1) missing `virtual_router_id` (1-255)");
}

#[test]
fn priority_zero_out_of_range() {
    let e = only_error(&instance("    priority 0\n"));
    assert_eq!(at(&e), (7, 14));
    assert_eq!(e.message, "expected an integer 1-255, found `0`");
}

#[test]
fn advert_int_fraction_with_v2() {
    let e = only_error(&instance("    advert_int 0.5\n"));
    assert_eq!(at(&e), (7, 5));
    assert_eq!(e.keyword.as_deref(), Some("advert_int"));
    assert_eq!(
        e.message,
        "(VI_1) expected whole seconds 1-255 for VRRP version 2, found `0.5`"
    );
}

#[test]
fn advert_int_too_long_for_v3() {
    let e = only_error(&instance("    version 3\n    advert_int 50\n"));
    assert_eq!(at(&e), (8, 5));
    assert_eq!(
        e.message,
        "(VI_1) expected 0.01-40.95 seconds in steps of 0.01 for VRRP version 3, found `50`"
    );
    // 0.01 is fine for v3.
    assert!(!load(&instance("    version 3\n    advert_int 0.01\n")).has_errors());
}

#[test]
fn advert_int_not_a_number() {
    let e = only_error(&instance("    advert_int 1s\n"));
    assert_eq!(at(&e), (7, 16));
    assert_eq!(
        e.message,
        "expected a number of seconds 0.01-255, found `1s`"
    );
}

#[test]
fn duplicate_instance_name() {
    let text = format!("{}{}", instance(""), instance("").replace("51", "52"));
    let e = only_error(&text);
    assert_eq!(at(&e), (8, 1));
    assert_eq!(e.keyword.as_deref(), Some("vrrp_instance"));
    assert_eq!(
        e.message,
        "duplicate vrrp_instance `VI_1` (first defined at t.conf:1:1)"
    );
}

#[test]
fn mixed_vip_families() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.1/24\n        2001:db8::1/64\n    }\n}\n";
    let e = only_error(text);
    assert_eq!(at(&e), (6, 9));
    assert_eq!(e.keyword.as_deref(), Some("virtual_ipaddress"));
    assert!(
        e.message
            .starts_with("(VI_1) address 2001:db8::1/64 is IPv6 but the instance is IPv4"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_track_script_warns() {
    let w = only_warning(&instance(
        "    track_script {\n        chk_missing weight 10\n    }\n",
    ));
    assert_eq!(at(&w), (8, 9));
    assert_eq!(w.keyword.as_deref(), Some("track_script"));
    assert_eq!(
        w.message,
        "(VI_1) track_script `chk_missing` names no vrrp_script, ignored"
    );
}

#[test]
fn unknown_sync_group_member() {
    let text = format!(
        "vrrp_sync_group G1 {{\n  group {{\n    VI_1\n    VI_9\n  }}\n}}\n{}",
        instance("")
    );
    let e = only_error(&text);
    assert_eq!(at(&e), (4, 5));
    assert_eq!(
        e.message,
        "sync group `G1` names vrrp_instance `VI_9`, which is not defined"
    );
}

#[test]
fn bad_ip_address() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.1\n        192.0.2.300/24 dev eth0\n    }\n}\n";
    let e = only_error(text);
    assert_eq!(at(&e), (6, 9));
    assert_eq!(
        e.message,
        "expected an IP address with optional /prefix, found `192.0.2.300/24`"
    );
}

#[test]
fn bad_vip_option() {
    let e = only_error(&instance(
        "    virtual_ipaddress {\n        192.0.2.7 devv eth0\n    }\n",
    ));
    assert_eq!(at(&e), (8, 19));
    assert!(
        e.message.starts_with("unknown address option `devv`"),
        "{}",
        e.message
    );
}

#[test]
fn missing_interface_and_vrid() {
    let text = "vrrp_instance VI_1 {\n    priority 100\n    virtual_ipaddress {\n        192.0.2.1\n    }\n}\n";
    let d = load(text);
    let msgs: Vec<(u32, u32, &str)> = d
        .errors()
        .map(|e| {
            let (l, c) = at(e);
            (l, c, e.message.as_str())
        })
        .collect();
    assert_eq!(
        msgs,
        vec![
            (1, 1, "(VI_1) missing `virtual_router_id` (1-255)"),
            (
                1,
                1,
                "(VI_1) missing `interface` (required unless unicast_peer is used)"
            ),
        ]
    );
}

#[test]
fn wrong_argument_count() {
    let e = only_error(&instance("    priority 100 200\n"));
    assert_eq!(at(&e), (7, 18));
    assert_eq!(e.message, "expected 1 argument, found 2");
    let e = only_error(&instance("    nopreempt yes\n"));
    assert_eq!(at(&e), (7, 15));
    assert_eq!(e.message, "expected no arguments, found 1");
    let e = only_error(&instance("    interface\n"));
    assert_eq!(at(&e), (7, 5));
    assert_eq!(e.message, "expected 1 argument, found 0");
}

#[test]
fn bad_state() {
    let e = only_error(&instance("    state PRIMARY\n"));
    assert_eq!(at(&e), (7, 11));
    assert_eq!(e.keyword.as_deref(), Some("state"));
    assert_eq!(e.message, "expected MASTER or BACKUP, found `PRIMARY`");
}

fn vs(extra: &str) -> String {
    format!(
        "virtual_server 192.0.2.10 80 {{\n    lb_algo rr\n{extra}    real_server 198.51.100.1 80 {{\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n}}\n"
    )
}

#[test]
fn base_virtual_server_is_clean() {
    let d = load(&vs(""));
    assert!(d.is_empty(), "{d}");
}

#[test]
fn bad_lb_kind() {
    let e = only_error(&vs("    lb_kind FOO\n"));
    assert_eq!(at(&e), (3, 13));
    assert_eq!(e.keyword.as_deref(), Some("lb_kind"));
    assert_eq!(e.message, "expected NAT, DR or TUN, found `FOO`");
}

#[test]
fn bad_lb_algo() {
    let e = only_error(&vs("    lb_algo roundrobin\n"));
    assert_eq!(at(&e), (3, 13));
    assert!(
        e.message.starts_with("expected rr|wrr|lc|wlc"),
        "{}",
        e.message
    );
}

#[test]
fn checker_keyword_of_another_checker_warns() {
    let text = vs("").replace("connect_timeout 3", "misc_path /bin/true");
    let w = only_warning(&text);
    assert_eq!(at(&w), (5, 13));
    assert_eq!(
        w.message,
        "unknown keyword `misc_path` in TCP_CHECK, ignored"
    );
}

#[test]
fn bad_port_and_digest() {
    let e = only_error(&vs("").replace("198.51.100.1 80", "198.51.100.1 70000"));
    assert_eq!(at(&e), (3, 30));
    assert_eq!(e.message, "expected an integer 0-65535, found `70000`");
    let text = "virtual_server 192.0.2.10 80 {\n  lb_algo rr\n  real_server 198.51.100.1 80 {\n    HTTP_GET {\n      url {\n        path /\n        digest xyz\n      }\n    }\n  }\n}\n";
    let e = only_error(text);
    assert_eq!(at(&e), (7, 16));
    assert_eq!(
        e.message,
        "expected an MD5 digest (32 hex digits), found `xyz`"
    );
}

#[test]
fn undefined_virtual_server_group() {
    let e = only_error(&vs("").replace("192.0.2.10 80", "group VSG_X"));
    assert_eq!(at(&e), (1, 1));
    assert_eq!(e.message, "virtual_server_group `VSG_X` is not defined");
}

#[test]
fn real_server_family_mismatch() {
    let e = only_error(&vs("").replace("198.51.100.1 80", "2001:db8::5 80"));
    assert_eq!(at(&e), (3, 5));
    assert!(
        e.message
            .contains("real server 2001:db8::5 is not the same address family"),
        "{}",
        e.message
    );
}

#[test]
fn unicast_peer_family() {
    let e = only_error(&instance(
        "    unicast_peer {\n        2001:db8::2\n    }\n",
    ));
    assert_eq!(at(&e), (8, 9));
    assert_eq!(
        e.message,
        "(VI_1) unicast peer 2001:db8::2 is IPv6 but the instance is IPv4"
    );
}

#[test]
fn duplicate_vrid_on_interface() {
    let text = format!("{}{}", instance(""), instance("").replace("VI_1", "VI_2"));
    let e = only_error(&text);
    assert_eq!(at(&e), (10, 5));
    assert_eq!(
        e.message,
        "(VI_2) virtual_router_id 51 on eth0 is already used by vrrp_instance `VI_1`"
    );
}

#[test]
fn block_keyword_without_block() {
    let e = only_error(&instance("    track_interface eth1\n"));
    assert_eq!(at(&e), (7, 5));
    assert_eq!(
        e.message,
        "expected a `{ ... }` block after `track_interface`"
    );
}

#[test]
fn bad_auth_type() {
    let d = load(&instance(
        "    authentication {\n        auth_type MD5\n        auth_pass x\n    }\n",
    ));
    let e = d.errors().next().unwrap();
    assert_eq!(at(e), (8, 19));
    assert_eq!(e.message, "expected PASS or AH, found `MD5`");
}

#[test]
fn diagnostic_display_shows_caret() {
    let e = only_error(&instance("    priority high\n"));
    assert_eq!(
        e.to_string(),
        "t.conf:7:14: error: 'priority': expected an integer 1-255, found `high`\n   |\n 7 |     priority high\n   |              ^"
    );
}

#[test]
fn strict_mode_master_without_owner_warns_and_fixes_state() {
    let text = instance("    state MASTER\n    priority 100\n    strict_mode\n");
    let l = load_keepalived_str("t.conf", &text, &ParseOptions::default());
    assert!(!l.diagnostics.has_errors(), "{}", l.diagnostics);
    let w = l.diagnostics.warnings().next().unwrap();
    assert_eq!(at(w), (7, 5));
    assert_eq!(l.config.vrrp_instances[0].state, conf::model::State::Backup);
    assert!(!l.config.vrrp_instances[0].accept);
}

#[test]
fn unsupported_keywords_warn_with_location() {
    let w = only_warning(&instance("    lvs_sync_daemon_interface eth1\n"));
    assert_eq!(at(&w), (7, 5));
    assert_eq!(
        w.message,
        "`lvs_sync_daemon_interface` in vrrp_instance is not supported yet, ignored"
    );
    let w = only_warning("global_defs {\n    enable_snmp_vrrp\n}\n");
    assert_eq!(at(&w), (2, 5));
    assert_eq!(
        w.message,
        "`enable_snmp_vrrp` in global_defs is not supported yet, ignored"
    );
    let w = only_warning("garp_group {\n    garp_interval 1\n}\n");
    assert_eq!(at(&w), (1, 1));
    assert_eq!(
        w.message,
        "`garp_group` in the top level is not supported yet, ignored"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let d = load(&instance(
        "    priority 0\n    state X\n    advert_int -1\n    bogus\n",
    ));
    let lines: Vec<u32> = d
        .items
        .iter()
        .map(|x| x.location.as_ref().unwrap().line)
        .collect();
    assert_eq!(lines, vec![7, 8, 9, 10]);
    assert_eq!(d.errors().count(), 3);
    assert_eq!(d.warnings().count(), 1);
}

#[test]
fn nopreempt_with_priority_255_is_reset() {
    let text = instance("    priority 255\n    nopreempt\n");
    let l = load_keepalived_str("t.conf", &text, &ParseOptions::default());
    let w: Vec<&Diagnostic> = l.diagnostics.warnings().collect();
    assert_eq!(w.len(), 1, "{}", l.diagnostics);
    assert_eq!(at(w[0]), (8, 5));
    assert_eq!(
        w[0].message,
        "(VI_1) nopreempt is incompatible with priority 255 (address owner), preempt kept on"
    );
    assert!(l.config.vrrp_instances[0].preempt);
}
