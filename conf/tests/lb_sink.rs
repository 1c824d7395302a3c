#![allow(clippy::unwrap_used)]
//! `lb_sink` and `haproxy_server` (vrrpd extensions): parsed with
//! locations, refused with `file:line:col` when malformed, and carried
//! through the TOML front end unchanged.

use conf::model::{LbSink, Script};
use conf::{load_keepalived_str, toml_front, ParseOptions};

const TEXT: &str = r#"global_defs {
    lb_sink script "/usr/local/bin/lb-update --all"
}
virtual_server 192.0.2.10 80 {
    lb_sink haproxy /run/haproxy/admin.sock be_web drain
    real_server 192.0.2.21 80 {
        haproxy_server web1
        TCP_CHECK {
        }
    }
    real_server 192.0.2.22 80 {
        TCP_CHECK {
        }
    }
}
virtual_server 192.0.2.10 443 {
    lb_sink none
    real_server 192.0.2.21 443 {
        TCP_CHECK {
        }
    }
}
virtual_server 192.0.2.10 53 {
    protocol UDP
    real_server 192.0.2.21 53 {
        DNS_CHECK {
        }
    }
}
"#;

#[test]
fn parsed_into_the_model_and_through_toml() {
    let loaded = load_keepalived_str("k.conf", TEXT, &ParseOptions::default());
    assert!(!loaded.diagnostics.has_errors(), "{}", loaded.diagnostics);
    assert_eq!(
        loaded.diagnostics.warnings().count(),
        0,
        "{}",
        loaded.diagnostics
    );
    let cfg = &loaded.config;
    assert_eq!(
        cfg.global_defs.lb_sink,
        Some(LbSink::Script {
            command: Script {
                command: "/usr/local/bin/lb-update --all".into(),
                user: None,
                group: None
            }
        })
    );
    let vs = &cfg.virtual_servers;
    assert_eq!(
        vs[0].lb_sink,
        Some(LbSink::Haproxy {
            socket: "/run/haproxy/admin.sock".into(),
            backend: "be_web".into(),
            drain: true
        })
    );
    assert_eq!(
        vs[0].real_servers[0].haproxy_server.as_deref(),
        Some("web1")
    );
    assert_eq!(vs[0].real_servers[1].haproxy_server, None);
    assert_eq!(vs[1].lb_sink, Some(LbSink::None));
    assert_eq!(vs[2].lb_sink, None, "inherits global_defs' at run time");

    let toml = toml_front::to_toml_string(cfg);
    assert!(toml.contains("type = \"haproxy\""), "{toml}");
    let (back, diags) = toml_front::from_toml_str("k.toml", &toml);
    assert!(!diags.has_errors(), "{diags}\n{toml}");
    let back = back.unwrap();
    assert_eq!(back.global_defs.lb_sink, cfg.global_defs.lb_sink);
    for (a, b) in back.virtual_servers.iter().zip(vs) {
        assert_eq!(a.lb_sink, b.lb_sink);
        assert_eq!(
            a.real_servers[0].haproxy_server,
            b.real_servers[0].haproxy_server
        );
    }
}

fn only_error(text: &str) -> (u32, u32, String) {
    let loaded = load_keepalived_str("k.conf", text, &ParseOptions::default());
    let errs: Vec<_> = loaded.diagnostics.errors().collect();
    assert_eq!(errs.len(), 1, "{}", loaded.diagnostics);
    let e = errs[0];
    let l = e.location.as_ref().unwrap();
    (l.line, l.col, e.to_string())
}

#[test]
fn malformed_sinks_are_located_errors() {
    let vs = |line: &str| format!("virtual_server 192.0.2.10 80 {{\n    {line}\n}}\n");
    let (l, c, m) = only_error(&vs("lb_sink haproxy /run/h.sock"));
    assert_eq!((l, c), (2, 5), "{m}");
    assert!(m.contains("lb_sink haproxy SOCKET BACKEND [drain]"), "{m}");
    let (l, c, m) = only_error(&vs("lb_sink haproxy /run/h.sock be keep"));
    assert_eq!((l, c), (2, 36), "{m}");
    assert!(m.contains("expected `drain`, found `keep`"), "{m}");
    let (l, c, m) = only_error(&vs("lb_sink f5"));
    assert_eq!((l, c), (2, 13), "{m}");
    assert!(m.contains("expected ipvs, none, haproxy or script"), "{m}");
    let (_, _, m) = only_error(&vs("lb_sink none extra"));
    assert!(m.contains("unexpected argument"), "{m}");
}
