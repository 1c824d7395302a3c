#![allow(clippy::unwrap_used)]
//! keepalived.conf text -> `conf` model -> check specs: every checker kind
//! with its keywords lands in the spec the checkers run.

use std::time::Duration;

use healthcheck::spec::{CheckSpec, FileSpec, HttpSpec, Kind, Local, MiscSpec, Policy, UrlSpec};

const CONF: &str = r#"
track_file tf_weight {
    file /run/weight
    weight 3
}
virtual_server 192.0.2.10 80 {
    delay_loop 10
    real_server 192.0.2.1 8080 {
        weight 2
        HTTP_GET {
            url {
                path /health
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                status_code 200-204
            }
            connect_timeout 3
            retry 2
            delay_before_retry 1
            virtualhost www.example.test
        }
        SSL_GET {
            url {
                path /
            }
            enable_sni
            virtualhost secure.example.test
            connect_port 8443
            http_protocol 1.1
        }
        SMTP_CHECK {
            helo_name mx.example.test
            host {
                connect_ip 192.0.2.5
                connect_port 2525
            }
        }
        DNS_CHECK {
            type A
            name www.example.test
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check 'a b'"
            misc_timeout 4
            misc_dynamic
        }
        PING_CHECK {
        }
        UDP_CHECK {
            connect_port 53
            payload 0a0b
            require_reply 0c
        }
        FILE_CHECK {
            track_file tf_weight
        }
        TCP_CHECK {
            bindto 192.0.2.2
            bind_port 4000
            fwmark 9
        }
    }
}
"#;

#[test]
fn every_checker_kind_maps_to_its_spec() {
    let loaded = conf::load_keepalived_str("t.conf", CONF, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    let cfg = loaded.config;
    let rs = &cfg.virtual_servers[0].real_servers[0];
    let specs: Vec<CheckSpec> = rs
        .checkers
        .iter()
        .map(|c| CheckSpec::from_checker(rs, c, &cfg.track_files))
        .collect();
    assert_eq!(specs.len(), 9);

    let http = &specs[0];
    assert_eq!(http.target, "192.0.2.1:8080".parse().unwrap());
    assert_eq!(http.connect_timeout, Duration::from_secs(3));
    assert_eq!(
        http.kind,
        Kind::Http(HttpSpec {
            tls: false,
            sni: false,
            http10: true,
            virtualhost: Some("www.example.test".into()),
            urls: vec![UrlSpec {
                path: "/health".into(),
                digest: Some("9b3a0c85a887a256d6939da88aabd8cd".into()),
                status: vec![(200, 204)],
                virtualhost: None,
                regex: None,
            }],
        })
    );
    let policy = Policy::from_checker(&rs.checkers[0]);
    assert_eq!(
        (policy.retry, policy.delay_before_retry, policy.delay_loop),
        (2, Duration::from_secs(1), Duration::from_secs(10))
    );

    let Kind::Http(ssl) = &specs[1].kind else {
        panic!("{:?}", specs[1].kind)
    };
    assert!(ssl.tls && ssl.sni && !ssl.http10);
    assert_eq!(specs[1].target.port(), 8443);

    let Kind::Smtp { helo, extra } = &specs[2].kind else {
        panic!()
    };
    assert_eq!(helo, "mx.example.test");
    assert_eq!(
        extra,
        &vec![("192.0.2.5:2525".parse().unwrap(), Local::default())]
    );

    assert_eq!(
        specs[3].kind,
        Kind::Dns {
            qtype: 1,
            name: "www.example.test".into()
        }
    );
    assert_eq!(
        specs[4].kind,
        Kind::Misc(MiscSpec {
            command: "/usr/local/bin/check 'a b'".into(),
            timeout: Duration::from_secs(4),
            dynamic: true,
            user: None,
            group: None,
        })
    );
    assert_eq!(specs[5].kind, Kind::Ping);
    assert_eq!(
        specs[6].kind,
        Kind::Udp {
            payload: vec![0x0a, 0x0b],
            require_reply: Some(vec![0x0c]),
            min_len: None,
            max_len: None,
        }
    );
    assert_eq!(specs[6].target.port(), 53);
    assert_eq!(
        specs[7].kind,
        Kind::File(FileSpec {
            path: "/run/weight".into(),
            weight: 3,
            reverse: false,
            base_weight: 2,
        })
    );
    assert_eq!(
        specs[8].local,
        Local {
            addr: Some("192.0.2.2:4000".parse().unwrap()),
            interface: None,
            fwmark: Some(9),
        }
    );
}
