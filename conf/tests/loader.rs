#![allow(clippy::unwrap_used)]
//! The convenience loaders, inheritance down the LVS tree, and the keepalived
//! defaults of a minimal file.

use std::time::Duration;

use conf::model::*;
use conf::{load_file, load_keepalived_str, ParseOptions};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn minimal_instance_has_keepalived_defaults() {
    let l = load_keepalived_str(
        "m.conf",
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n",
        &ParseOptions::default(),
    );
    assert!(l.is_ok(), "{}", l.diagnostics);
    let i = &l.config.vrrp_instances[0];
    assert_eq!(i.priority, 100);
    assert_eq!(i.state, State::Backup);
    assert_eq!(i.advert_int, secs(1));
    assert_eq!(i.version, 2);
    assert!(i.preempt);
    assert!(i.accept);
    assert_eq!(i.garp_master_delay, secs(5));
    assert_eq!(i.garp_master_repeat, 5);
    assert_eq!(i.garp_lower_prio_delay, secs(5));
    assert_eq!(i.garp_lower_prio_repeat, 5);
    assert_eq!(i.garp_master_refresh, Duration::ZERO);
    assert_eq!(i.garp_master_refresh_repeat, 1);
    assert_eq!(i.down_timer_adverts, 3);
    assert_eq!(i.virtual_ipaddress[0].address.prefix(), 32);
    let g = &l.config.global_defs;
    assert_eq!(g.vrrp_mcast_group4.to_string(), "224.0.0.18");
    assert_eq!(g.vrrp_mcast_group6.to_string(), "ff02::12");
}

#[test]
fn global_defaults_flow_into_instances() {
    let text = "global_defs {\n vrrp_version 3\n vrrp_garp_master_delay 1\n vrrp_garp_master_repeat 2\n vrrp_strict\n}\n\
vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 255\n garp_master_repeat 9\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n\
vrrp_instance W {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n  2001:db8::1\n }\n}\n";
    let l = load_keepalived_str("g.conf", text, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    let v = l.config.vrrp_instance("V").unwrap();
    assert_eq!(v.version, 3);
    assert_eq!(v.garp_master_delay, secs(1));
    assert_eq!(v.garp_master_repeat, 9);
    // The lower-priority repeat follows the instance's own master repeat.
    assert_eq!(v.garp_lower_prio_repeat, 9);
    assert!(v.strict_mode);
    // Strict mode turns accept off, except for the address owner.
    assert!(v.accept);
    // Priority 255 and no state: MASTER.
    assert_eq!(v.state, State::Master);
    let w = l.config.vrrp_instance("W").unwrap();
    assert_eq!(w.version, 3);
    assert!(w.is_ipv6());
}

#[test]
fn lvs_settings_inherit_down_to_checkers() {
    let text = "virtual_server 192.0.2.1 80 {\n lb_algo rr\n lb_kind DR\n delay_loop 20\n connect_timeout 7\n retry 4\n virtualhost vs.example\n\
 real_server 198.51.100.1 80 {\n  retry 6\n  delay_before_retry 9\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n  DNS_CHECK {\n   connect_timeout 2\n   type A\n  }\n }\n\
 real_server 198.51.100.2 80 {\n  lvs_method NAT\n  MISC_CHECK {\n   misc_path /bin/true\n   delay_loop 3\n  }\n }\n}\n";
    let l = load_keepalived_str("lvs.conf", text, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    let vs = &l.config.virtual_servers[0];
    let r0 = &vs.real_servers[0];
    assert_eq!(r0.lvs_method, LvsMethod::Dr);
    let http = &r0.checkers[0];
    assert_eq!(http.delay_loop, secs(20));
    assert_eq!(http.connect_timeout, secs(7));
    assert_eq!(http.retry, 6);
    assert_eq!(http.delay_before_retry, secs(9));
    assert_eq!(http.warmup, secs(20));
    assert_eq!(http.virtualhost.as_deref(), Some("vs.example"));
    let dns = &r0.checkers[1];
    assert_eq!(dns.connect_timeout, secs(2));
    assert_eq!(dns.dns_type, Some(DnsType::A));
    assert_eq!(dns.retry, 6);
    let r1 = &vs.real_servers[1];
    assert_eq!(r1.lvs_method, LvsMethod::Nat);
    let misc = &r1.checkers[0];
    assert_eq!(misc.delay_loop, secs(3));
    // Virtual server's retry 4 beats MISC_CHECK's own default of 0.
    assert_eq!(misc.retry, 4);
    // delay_before_retry not written anywhere on this path: MISC default 1 s.
    assert_eq!(misc.delay_before_retry, secs(1));
    assert_eq!(misc.warmup, secs(3));
}

#[test]
fn load_file_picks_the_front_end_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("keepalived.conf");
    std::fs::write(
        &k,
        "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.1/24\n }\n}\n",
    )
    .unwrap();
    let lk = load_file(&k, &ParseOptions::default());
    assert!(lk.is_ok(), "{}", lk.diagnostics);
    let t = dir.path().join("vrrpd.toml");
    std::fs::write(&t, conf::to_toml_string(&lk.config)).unwrap();
    let lt = load_file(&t, &ParseOptions::default());
    assert!(lt.is_ok(), "{}", lt.diagnostics);
    assert_eq!(lt.config, lk.config);
    // A bad TOML file: the error names the file and the line.
    std::fs::write(&t, "[[vrrp_instance]]\nname = 5\n").unwrap();
    let bad = load_file(&t, &ParseOptions::default());
    let e = bad.diagnostics.errors().next().unwrap();
    let loc = e.location.as_ref().unwrap();
    assert_eq!(&*loc.file, t.as_path());
    assert_eq!(loc.line, 2);
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inst.conf");
    std::fs::write(&inc, "vrrp_instance V {\n interface eth0\n virtual_router_id 999\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n").unwrap();
    let main = dir.path().join("keepalived.conf");
    std::fs::write(
        &main,
        format!(
            "global_defs {{\n router_id x\n}}\ninclude {}\n",
            inc.display()
        ),
    )
    .unwrap();
    let l = conf::load_keepalived_file(&main, &ParseOptions::default());
    let e = l.diagnostics.errors().next().unwrap();
    let loc = e.location.as_ref().unwrap();
    assert_eq!(&*loc.file, inc.as_path());
    assert_eq!((loc.line, loc.col), (3, 20));
    assert_eq!(e.message, "expected an integer 1-255, found `999`");
    assert_eq!(l.config.global_defs.router_id.as_deref(), Some("x"));
}

#[test]
fn missing_file_is_an_error_without_location() {
    let l = load_file(
        std::path::Path::new("/nonexistent/vrrpd.toml"),
        &ParseOptions::default(),
    );
    assert!(!l.is_ok());
    let l = load_file(
        std::path::Path::new("/nonexistent/keepalived.conf"),
        &ParseOptions::default(),
    );
    assert!(!l.is_ok());
}

#[test]
fn ssl_block_and_bfd() {
    let text = "SSL {\n password secret\n ca /etc/ca.pem\n certificate /etc/c.pem\n key /etc/k.pem\n}\n\
bfd_instance B1 {\n neighbor_ip 192.0.2.9\n min_rx 50\n multiplier 3\n}\n\
virtual_server 192.0.2.1 443 {\n lb_algo rr\n real_server 198.51.100.1 443 {\n  SSL_GET {\n   enable_sni\n   url {\n    path /\n    status_code 200\n   }\n  }\n  BFD_CHECK {\n   name B1\n  }\n }\n}\n";
    let l = load_keepalived_str("s.conf", text, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    let ssl = l.config.ssl.as_ref().unwrap();
    assert_eq!(ssl.password.as_deref(), Some("secret"));
    assert_eq!(ssl.key.as_deref(), Some("/etc/k.pem"));
    let b = &l.config.bfd_instances[0];
    assert_eq!(b.min_rx, Duration::from_millis(50));
    assert_eq!(b.multiplier, 3);
    let rs = &l.config.virtual_servers[0].real_servers[0];
    assert!(rs.checkers[0].enable_sni);
    assert_eq!(rs.checkers[1].name.as_deref(), Some("B1"));
    let back = conf::from_toml_str("s.toml", &conf::to_toml_string(&l.config))
        .0
        .unwrap();
    assert_eq!(back, l.config);
}

#[test]
fn less_common_instance_keywords() {
    let text = "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n vrf blue\n use_ipvlan ipv0 192.0.2.50/24 private\n garp_extra_if all 30\n old_unicast_checksum never\n use_vmac vrrp1 00:00:5e:00:01\n vmac_xmit_base\n unicast_ttl 5\n down_timer_adverts 5\n kernel_rx_buf_size 65536\n debug 2\n virtual_ipaddress {\n  192.0.2.1/24 brd + scope link label eth0:v peer 192.0.2.9/32 home -nodad no_track preferred_lft forever\n }\n virtual_rules {\n  from 192.0.2.0/24 to 198.51.100.0/24 table 10 priority 100 fwmark 0x10/0xff iif eth0 sport 10-20 no_track\n }\n}\n";
    let l = load_keepalived_str("i.conf", text, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    let i = &l.config.vrrp_instances[0];
    assert_eq!(i.vrf.as_deref(), Some("blue"));
    let ip = i.use_ipvlan.as_ref().unwrap();
    assert_eq!(ip.interface.as_deref(), Some("ipv0"));
    assert_eq!(ip.address.unwrap().to_string(), "192.0.2.50/24");
    assert_eq!(ip.mode.as_deref(), Some("private"));
    assert_eq!(
        i.garp_extra_if,
        Some(GarpExtraIf {
            all: true,
            interval: secs(30)
        })
    );
    assert_eq!(i.old_unicast_checksum, Some(true));
    let vm = i.use_vmac.as_ref().unwrap();
    assert_eq!(
        (vm.interface.as_deref(), vm.mac.as_deref()),
        (Some("vrrp1"), Some("00:00:5e:00:01"))
    );
    assert!(i.vmac_xmit_base);
    assert_eq!(i.unicast_ttl, Some(5));
    assert_eq!(i.down_timer_adverts, 5);
    assert_eq!(i.debug, 2);
    let a = &i.virtual_ipaddress[0];
    assert_eq!(a.brd, Some(Broadcast::Set));
    assert_eq!(a.scope, Some(Scope::Link));
    assert_eq!(a.label.as_deref(), Some("eth0:v"));
    assert_eq!(a.peer.unwrap().to_string(), "192.0.2.9/32");
    assert!(a.home && a.nodad && a.no_track);
    assert_eq!(a.preferred_lft, Some(PreferredLft::Forever));
    let r = &i.virtual_rules[0];
    assert_eq!(r.table, Some(Table::Id(10)));
    assert_eq!(r.preference, Some(100));
    assert_eq!((r.fwmark, r.fwmask), (Some(16), Some(255)));
    assert_eq!(r.sport, Some(PortRange { start: 10, end: 20 }));
    assert!(r.no_track);
    let back = conf::from_toml_str("i.toml", &conf::to_toml_string(&l.config))
        .0
        .unwrap();
    assert_eq!(back, l.config);
}

/// The static_routes / static_rules examples of keepalived.conf(5) load
/// without errors (route metrics we do not model are warnings).
#[test]
fn man_page_route_and_rule_examples() {
    let text = r"static_routes {
    192.168.2.0/24 via 192.168.1.100 dev eth0 track_group GROUP1
    192.168.100.0/24 table 6909 nexthop via 192.168.101.1 dev wlan0 onlink weight 1 nexthop via 192.168.101.2 dev wlan0 onlink weight 2
    192.168.200.0/24 dev p33p1.2 table 6909 tos 0x04 protocol bird scope link priority 12 mtu 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 realms PQA/0x14 rto_min 108 initcwnd 109 initrwnd 110 vrf blue features ecn add
    2001:470:69e9:1:2::4 dev p33p1.2 table 6909 tos 0x04 protocol bird scope link priority 12 mtu 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 rto_min 108 initcwnd 109 append initrwnd 110 features ecn fastopen_no_cookie 1
}
static_rules {
    from 192.168.2.0/24 table 1 track_group GROUP1
    to 192.168.2.0/24 table 1
    from 192.168.28.0/24 to 192.168.29.0/26 table small iif p33p1 oif wlan0 tos 22 fwmark 24/12 preference 39 realms 30/20 goto 40
    to 1:2:3:4:5:6:7:0/112 from 7:6:5:4:3:2::/96 table 6908 uidrange 10000-19999
    to 1:2:3:4:6:6:7:0/112 from 8:6:5:4:3:2::/96 l3mdev protocol 12 ip_proto UDP sport 10-20 dport 20-30
}
static_ipaddress {
    192.168.1.1/24 dev eth0 scope global
}
";
    let l = load_keepalived_str("r.conf", text, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    assert!(l
        .diagnostics
        .warnings()
        .all(|w| w.message.contains("is not supported yet")));
    let r = &l.config.static_routes;
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].track_group.as_deref(), Some("GROUP1"));
    assert_eq!(r[1].nexthops.len(), 2);
    assert_eq!(r[1].nexthops[1].weight, Some(2));
    assert!(r[1].nexthops[0].onlink);
    assert_eq!(r[2].tos, Some(4));
    assert_eq!(r[2].metric, Some(12));
    assert_eq!(r[2].mtu, Some(1000));
    assert_eq!(r[2].initrwnd, Some(110));
    assert_eq!(r[2].vrf.as_deref(), Some("blue"));
    assert!(r[3].append);
    assert_eq!(r[3].to.to_string(), "2001:470:69e9:1:2::4/128");
    let q = &l.config.static_rules;
    assert_eq!(q.len(), 5);
    assert_eq!(q[2].table, Some(Table::Name("small".into())));
    assert_eq!(
        (q[2].fwmark, q[2].fwmask, q[2].goto),
        (Some(24), Some(12), Some(40))
    );
    assert_eq!(q[3].uidrange, Some((10000, 19999)));
    assert!(q[4].l3mdev);
    assert_eq!(q[4].dport, Some(PortRange { start: 20, end: 30 }));
    let back = conf::from_toml_str("r.toml", &conf::to_toml_string(&l.config))
        .0
        .unwrap();
    assert_eq!(back, l.config);
}

#[test]
fn tracking_blocks_and_rarer_checkers() {
    let text = r#"
track_file tf1 {
    file /run/tf1
    weight -5 reverse
    init_file 3 overwrite
}
vrrp_track_process haproxy {
    process haproxy -f "/etc/haproxy/haproxy.cfg"
    param_match partial
    weight 10
    quorum 2
    quorum_max 4
    delay 0.5
    full_command
}
vrrp_instance V1 {
    interface eth0
    virtual_router_id 10
    virtual_ipaddress {
        192.0.2.1
    }
    track_file {
        tf1 weight 3
    }
    track_process {
        haproxy
    }
}
vrrp_instance V2 {
    interface eth0
    virtual_router_id 11
    virtual_ipaddress {
        192.0.2.2
    }
}
vrrp_sync_group G {
    group {
        V1 V2
    }
    track_interface {
        eth1 weight -10 reverse
    }
    notify "/bin/notify x" nobody nogroup
    notify_deleted
    smtp_alert off
    sync_group_tracking_weight
}
virtual_server fwmark 7 {
    lvs_sched sh
    lvs_method TUN type gue port 6080 csum
    sh-port
    persistence_timeout
    ip_family inet
    real_server 198.51.100.7 {
        UDP_CHECK {
            payload Ab12f 3 456 546443123
            require_reply
            max_reply_length 100
        }
        DNS_CHECK {
            type AAAA
            name example.org
        }
        FILE_CHECK {
            track_file tf1
            dynamic
            weight 2
        }
        MISC_CHECK {
            misc_path "/bin/check arg"
            misc_timeout 4
            misc_dynamic
            user nobody
        }
    }
}
"#;
    let l = load_keepalived_str("t.conf", text, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    let c = &l.config;
    let tf = &c.track_files[0];
    assert_eq!((tf.weight, tf.weight_reverse), (-5, true));
    assert_eq!(
        tf.init_file,
        Some(InitFile {
            value: 3,
            overwrite: true
        })
    );
    let tp = &c.track_processes[0];
    assert_eq!(tp.process, "haproxy");
    assert_eq!(tp.params, vec!["-f", "/etc/haproxy/haproxy.cfg"]);
    assert_eq!(tp.param_match, Some(ParamMatch::Partial));
    assert_eq!((tp.weight, tp.quorum, tp.quorum_max), (10, 2, Some(4)));
    assert_eq!(
        (tp.fork_delay, tp.terminate_delay),
        (Duration::from_millis(500), Duration::from_millis(500))
    );
    assert_eq!(c.vrrp_instances[0].track_file[0].weight, Some(3));
    let g = &c.sync_groups[0];
    assert_eq!(g.group, vec!["V1", "V2"]);
    assert_eq!(g.track_interface[0].weight, -10);
    assert!(g.track_interface[0].reverse);
    let n = g.notify.any.as_ref().unwrap();
    assert_eq!(
        (n.user.as_deref(), n.group.as_deref()),
        (Some("nobody"), Some("nogroup"))
    );
    assert!(g.notify.deleted);
    assert_eq!(g.smtp_alert, Some(false));
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.fwmark, Some(7));
    assert_eq!(vs.lb_algo, Scheduler::Sh);
    assert_eq!(vs.lb_kind, LvsMethod::Tun);
    assert_eq!(
        vs.tunnel,
        Some(Tunnel {
            tunnel_type: TunnelType::Gue,
            port: Some(6080),
            checksum: Some(TunnelChecksum::Csum)
        })
    );
    assert_eq!(vs.sched_flags, vec!["sh-port"]);
    assert_eq!(vs.persistence_timeout, Some(secs(360)));
    let ck = &vs.real_servers[0].checkers;
    assert_eq!(ck[0].payload.as_deref(), Some("AB120F0345065464431203"));
    assert_eq!(ck[0].require_reply.as_deref(), Some(""));
    assert_eq!(ck[1].dns_type, Some(DnsType::Aaaa));
    assert_eq!(ck[1].retry, 3);
    assert_eq!(ck[1].delay_before_retry, secs(60));
    assert_eq!(ck[2].track_file.as_deref(), Some("tf1"));
    assert_eq!(ck[3].misc_path.as_deref(), Some("/bin/check arg"));
    assert_eq!(ck[3].misc_timeout, Some(secs(4)));
    assert_eq!(ck[3].retry, 0);
    let back = conf::from_toml_str("t.toml", &conf::to_toml_string(c))
        .0
        .unwrap();
    assert_eq!(&back, c);
}

#[test]
fn no_accept_is_kept() {
    let text = "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n no_accept\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
    let l = load_keepalived_str("a.conf", text, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    assert!(!l.config.vrrp_instances[0].accept);
    let back = conf::from_toml_str("a.toml", &conf::to_toml_string(&l.config))
        .0
        .unwrap();
    assert!(!back.vrrp_instances[0].accept);
}

/// keepalived: `alpha` on a virtual_server makes all its checkers start
/// down; a checker or real server can still say otherwise.
#[test]
fn virtual_server_alpha_reaches_its_checkers() {
    let text = "virtual_server 192.0.2.10 80 {\n    lb_algo rr\n    alpha\n    real_server 192.0.2.21 80 {\n        TCP_CHECK {\n        }\n    }\n    real_server 192.0.2.22 80 {\n        TCP_CHECK {\n            alpha no\n        }\n    }\n}\n";
    let l = conf::load_keepalived_str("t.conf", text, &conf::ParseOptions::default());
    assert!(!l.diagnostics.has_errors(), "{}", l.diagnostics);
    let vs = &l.config.virtual_servers[0];
    assert!(vs.real_servers[0].checkers[0].alpha);
    assert!(!vs.real_servers[1].checkers[0].alpha);
}
