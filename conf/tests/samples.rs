#![allow(clippy::unwrap_used)]
//! Every keepalived sample loads with zero errors, and real values from
//! them land in the model.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use conf::model::*;
use conf::{load_keepalived_file, ParseOptions};

fn samples_dir() -> PathBuf {
    PathBuf::from("/work/shared/testdata/keepalived-samples")
}

fn load(name: &str) -> Config {
    let l = load_keepalived_file(&samples_dir().join(name), &ParseOptions::default());
    assert!(!l.diagnostics.has_errors(), "{name}:\n{}", l.diagnostics);
    l.config
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn sample_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("keepalived.conf")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn all_samples_load_without_errors() {
    let files = sample_files();
    // The README says 24; the directory holds 25 keepalived.conf.* files.
    assert_eq!(files.len(), 25);
    for f in &files {
        let l = load_keepalived_file(f, &ParseOptions::default());
        assert!(
            !l.diagnostics.has_errors(),
            "{}:\n{}",
            f.display(),
            l.diagnostics
        );
        // Every warning has a position.
        for w in l.diagnostics.warnings() {
            assert!(w.location.is_some(), "{w}");
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn vrrp_sample_instances() {
    let c = load("keepalived.conf.vrrp");
    assert_eq!(c.global_defs.router_id.as_deref(), Some("LVS_DEVEL"));
    assert_eq!(c.global_defs.notification_email, vec!["acassen".to_owned()]);
    assert_eq!(
        c.global_defs.smtp_server,
        Some(SmtpServer {
            host: "192.168.200.1".into(),
            port: 25
        })
    );
    assert_eq!(c.global_defs.smtp_connect_timeout, secs(30));
    assert_eq!(c.vrrp_instances.len(), 4);
    let vi1 = c.vrrp_instance("VI_1").unwrap();
    assert_eq!(vi1.state, State::Master);
    assert_eq!(vi1.interface.as_deref(), Some("eth0"));
    assert_eq!(vi1.virtual_router_id, 51);
    assert_eq!(vi1.priority, 100);
    assert_eq!(vi1.advert_int, secs(1));
    assert_eq!(vi1.garp_master_delay, secs(10));
    // garp_lower_prio_delay follows the instance's garp_master_delay.
    assert_eq!(vi1.garp_lower_prio_delay, secs(10));
    assert_eq!(vi1.garp_master_repeat, 5);
    assert_eq!(vi1.smtp_alert, Some(true));
    assert_eq!(
        vi1.authentication,
        Some(Authentication {
            auth_type: AuthType::Pass,
            auth_pass: "1111".into()
        })
    );
    assert_eq!(vi1.virtual_ipaddress.len(), 4);
    assert_eq!(
        vi1.virtual_ipaddress[0].address.to_string(),
        "192.168.200.16/32"
    );
    assert_eq!(vi1.virtual_ipaddress[3].label.as_deref(), Some("eth0:1"));
    let vi2 = c.vrrp_instance("VI_2").unwrap();
    // No state written, priority 50: BACKUP (keepalived derives it).
    assert_eq!(vi2.state, State::Backup);
    assert_eq!(vi2.priority, 50);
    assert_eq!(vi2.garp_master_delay, secs(5));
    assert_eq!(vi2.version, 2);
    assert!(vi2.preempt);
    assert!(vi2.accept);
    assert_eq!(vi2.authentication, None);
    assert_eq!(
        c.vrrp_instance("VI_4").unwrap().interface.as_deref(),
        Some("eth1")
    );
}

#[test]
fn sample_nopreempt_and_sorry_server() {
    let c = load("keepalived.conf.sample");
    let vi = c.vrrp_instance("VI_1").unwrap();
    assert!(!vi.preempt);
    assert_eq!(vi.virtual_router_id, 50);
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.ip, Some(ip("10.10.10.2")));
    assert_eq!(vs.port, Some(1358));
    assert_eq!(vs.delay_loop, secs(6));
    assert_eq!(vs.lb_algo, Scheduler::Rr);
    assert_eq!(vs.lb_kind, LvsMethod::Nat);
    assert_eq!(vs.persistence_timeout, Some(secs(50)));
    assert_eq!(vs.protocol, Protocol::Tcp);
    let sorry = vs.sorry_server.as_ref().unwrap();
    assert_eq!((sorry.ip, sorry.port), (ip("192.168.200.200"), Some(1358)));
    let rs = &vs.real_servers[0];
    assert_eq!(rs.weight, 1);
    let ck = &rs.checkers[0];
    assert_eq!(ck.kind, CheckerKind::HttpGet);
    assert_eq!(ck.url[0].path, "/testurl3/test.jsp");
    assert_eq!(
        ck.url[0].digest.as_deref(),
        Some("640205b7b0fc66c1ea91c463fac6334d")
    );
    assert_eq!(ck.connect_timeout, secs(3));
    assert_eq!(ck.retry, 3);
    assert_eq!(ck.delay_before_retry, secs(3));
    // Inherited from the virtual server: delay_loop, and warmup = delay_loop.
    assert_eq!(ck.delay_loop, secs(6));
    assert_eq!(ck.warmup, secs(6));
}

#[test]
fn ssl_get_status_codes_and_connect_port() {
    let c = load("keepalived.conf.status_code");
    let ck = &c.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(ck.kind, CheckerKind::SslGet);
    let u0 = &ck.url[0];
    assert_eq!(
        u0.status_code,
        vec![
            StatusRange {
                start: 200,
                end: 299
            },
            StatusRange {
                start: 400,
                end: 499
            },
            StatusRange {
                start: 503,
                end: 503
            },
            StatusRange {
                start: 505,
                end: 505
            },
        ]
    );
    assert!(u0.accepts(404) && u0.accepts(505) && !u0.accepts(504));
    assert_eq!(u0.digest, None);
    assert_eq!(
        ck.url[1].status_code,
        vec![StatusRange {
            start: 200,
            end: 200
        }]
    );
    let c = load("keepalived.conf.HTTP_GET.port");
    let ck = &c.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(ck.connect_port, Some(444));
    assert_eq!(
        ck.url[0].digest.as_deref(),
        Some("ff20ad2481f97b1754ef3e12ecd3a9cc")
    );
}

#[test]
fn smtp_hosts() {
    let c = load("keepalived.conf.SMTP_CHECK");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.delay_loop, secs(60));
    let ck = &vs.real_servers[2].checkers[0];
    assert_eq!(ck.kind, CheckerKind::Smtp);
    assert_eq!(ck.helo_name.as_deref(), Some("foo.bar.com"));
    assert_eq!(ck.connect_timeout, secs(10));
    assert_eq!(ck.retry, 2);
    assert_eq!(ck.delay_before_retry, secs(5));
    assert_eq!(ck.host.len(), 3);
    assert_eq!(ck.host[0].connect_ip, Some(ip("172.16.1.12")));
    assert_eq!(ck.host[0].bindto, Some(ip("172.16.1.2")));
    assert_eq!(ck.host[2].connect_port, Some(587));
}

#[test]
fn virtual_server_group_contents() {
    let c = load("keepalived.conf.virtual_server_group");
    let g = c.virtual_server_group("VSG_1").unwrap();
    assert_eq!(
        g.entries,
        vec![
            VsgEntry::Range {
                ip: ip("10.0.0.1"),
                last_ip: None,
                port: Some(8080)
            },
            VsgEntry::Range {
                ip: ip("10.0.0.2"),
                last_ip: None,
                port: Some(80)
            },
            VsgEntry::Range {
                ip: ip("192.168.200.1"),
                last_ip: None,
                port: Some(1358)
            },
            VsgEntry::Range {
                ip: ip("192.168.200.3"),
                last_ip: Some(ip("192.168.200.10")),
                port: Some(80)
            },
            VsgEntry::Fwmark {
                fwmark: 1,
                family: None
            },
            VsgEntry::Fwmark {
                fwmark: 2,
                family: None
            },
        ]
    );
    assert_eq!(c.virtual_servers[0].group.as_deref(), Some("VSG_1"));
    assert_eq!(c.virtual_servers[0].real_servers.len(), 2);
    let c = load("keepalived.conf.IPv6");
    let g = c.virtual_server_group("IPv6_group").unwrap();
    assert_eq!(
        g.entries[0],
        VsgEntry::Range {
            ip: ip("ae00::2"),
            last_ip: Some(ip("ae00::9")),
            port: Some(80)
        }
    );
    assert_eq!(c.virtual_servers[0].real_servers[0].ip, ip("ae00::10"));
}

#[test]
fn quorum_and_weights() {
    let c = load("keepalived.conf.quorum");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.lb_algo, Scheduler::Wrr);
    assert!(vs.alpha && vs.omega);
    assert_eq!(vs.quorum, 7);
    assert_eq!(vs.hysteresis, 2);
    assert_eq!(
        vs.quorum_up.as_ref().unwrap().command,
        "/usr/local/sbin/quorum-up.sh"
    );
    assert_eq!(vs.real_servers.len(), 10);
    assert!(vs
        .real_servers
        .iter()
        .all(|r| r.weight == 1 && r.port == Some(8080)));
    let ck = &vs.real_servers[9].checkers[0];
    assert_eq!(ck.kind, CheckerKind::Tcp);
    assert_eq!(ck.connect_port, Some(80));
    assert_eq!(ck.connect_timeout, secs(3));
    // keepalived's defaults for a TCP_CHECK: retry 1, delay_before_retry 1 s.
    assert_eq!(ck.retry, 1);
    assert_eq!(ck.delay_before_retry, secs(1));
}

#[test]
fn fwmark_inhibit_misc_udp_ping() {
    let c = load("keepalived.conf.fwmark");
    assert_eq!(c.virtual_servers[0].fwmark, Some(1));
    assert_eq!(c.virtual_servers[0].real_servers[1].port, None);
    let c = load("keepalived.conf.inhibit");
    assert!(c.virtual_servers[0].real_servers[0].inhibit_on_failure);
    let c = load("keepalived.conf.misc_check_arg");
    let ck = &c.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(
        ck.misc_path.as_deref(),
        Some("/usr/local/bin/script.sh arg1 arg2")
    );
    assert_eq!(ck.retry, 0);
    let c = load("keepalived.conf.UDP_CHECK");
    assert_eq!(c.virtual_servers[0].protocol, Protocol::Udp);
    assert_eq!(
        c.virtual_servers[0].real_servers[0].checkers[0].kind,
        CheckerKind::Udp
    );
    let c = load("keepalived.conf.PING_CHECK");
    assert_eq!(c.virtual_servers[0].real_servers[0].checkers[0].retry, 4);
    let c = load("keepalived.conf.virtualhost");
    let ck = &c.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(ck.virtualhost.as_deref(), Some("www.firewall.loc"));
}

#[test]
fn localcheck_tracking() {
    let c = load("keepalived.conf.vrrp.localcheck");
    let s = c.vrrp_script("chk_sshd").unwrap();
    assert_eq!(s.script, "killall -0 sshd");
    assert_eq!(s.interval, secs(2));
    assert_eq!(s.timeout, secs(2));
    assert_eq!((s.weight, s.fall, s.rise), (-4, 2, 2));
    let h = c.vrrp_script("chk_http_port").unwrap();
    assert_eq!(h.script, "</dev/tcp/127.0.0.1/80");
    assert_eq!((h.weight, h.rise, h.fall), (-2, 1, 1));
    let vi = c.vrrp_instance("VI_1").unwrap();
    assert_eq!(
        vi.virtual_ipaddress[0].address.to_string(),
        "192.168.200.18/25"
    );
    assert_eq!(vi.track_interface.len(), 3);
    assert_eq!(
        (
            vi.track_interface[1].name.as_str(),
            vi.track_interface[1].weight
        ),
        ("eth2", -2)
    );
    assert_eq!(vi.track_interface[2].weight, 0);
    assert_eq!(vi.track_script[0].name, "chk_sshd");
    assert_eq!(vi.track_script[0].weight, None);
    assert_eq!(vi.track_script[1].weight, Some(2));
    assert_eq!(c.vrrp_instances.len(), 9);
}

#[test]
fn sync_groups_and_notify() {
    let c = load("keepalived.conf.vrrp.sync");
    let g1 = c.sync_group("G1").unwrap();
    assert_eq!(
        g1.group,
        vec!["VI_1", "VI_2", "VI_5", "VI_6", "VI_7", "VI_8", "VI_9"]
    );
    assert_eq!(
        g1.notify.backup.as_ref().unwrap().command,
        "/usr/local/bin/vrrp.back arg1 arg2"
    );
    assert_eq!(c.sync_group("G2").unwrap().group, vec!["VI_3", "VI_4"]);
    let c = load("keepalived.conf.vrrp.scripts");
    let vi1 = c.vrrp_instance("VI_1").unwrap();
    assert_eq!(
        vi1.notify.master.as_ref().unwrap().command,
        "/usr/local/bin/vrrp.sh  MASTER  VI_1"
    );
    assert_eq!(c.vrrp_instance("VI_2").unwrap().priority, 150);
}

#[test]
fn routes_rules_static() {
    let c = load("keepalived.conf.vrrp.routes");
    assert_eq!(c.static_routes.len(), 5);
    let r0 = &c.static_routes[0];
    assert_eq!(r0.src, Some(ip("192.168.100.1")));
    assert_eq!(r0.to.to_string(), "192.168.209.0/24");
    assert_eq!(r0.via, Some(ip("192.168.200.254")));
    assert_eq!(r0.dev.as_deref(), Some("eth0"));
    assert_eq!(c.static_routes[3].scope, Some(Scope::Site));
    let vr = &c.vrrp_instance("VI_1").unwrap().virtual_routes;
    assert_eq!(vr.len(), 7);
    assert_eq!(vr[4].or_via, Some(ip("192.168.100.253")));
    assert_eq!(vr[5].route_type, RouteType::Blackhole);
    assert_eq!(vr[5].to.to_string(), "192.168.113.1/32");
    assert_eq!(vr[6].to.to_string(), "0.0.0.0/0");
    assert_eq!(vr[6].via, Some(ip("192.168.0.1")));
    assert_eq!(vr[6].table, Some(Table::Id(100)));
    let c = load("keepalived.conf.vrrp.static_ipaddress");
    assert_eq!(c.static_ipaddress.len(), 3);
    assert_eq!(c.static_ipaddress[1].dev.as_deref(), Some("eth1"));
    assert_eq!(c.static_ipaddress[1].scope, Some(Scope::Link));
    let c = load("keepalived.conf.vrrp.rules");
    // The rule with the invalid `192.168.100./24` is dropped, as keepalived does.
    assert_eq!(c.static_rules.len(), 1);
    assert_eq!(
        c.static_rules[0].from.unwrap().to_string(),
        "192.168.100.0/24"
    );
    assert_eq!(c.static_rules[0].table, Some(Table::Id(1)));
    let c = load("keepalived.conf.track_interface");
    let vi = c.vrrp_instance("VI_1").unwrap();
    assert_eq!(vi.interface.as_deref(), Some("eth0.1"));
    assert_eq!(vi.virtual_ipaddress[2].dev.as_deref(), Some("eth2"));
}

#[test]
fn conditional_config_id() {
    let opts = ParseOptions {
        config_id: Some("high".into()),
        ..ParseOptions::default()
    };
    let l = load_keepalived_file(
        &samples_dir().join("keepalived.conf.conditional_conf"),
        &opts,
    );
    assert!(!l.diagnostics.has_errors(), "{}", l.diagnostics);
    let c = l.config;
    let vi = c.vrrp_instance("VI_0").unwrap();
    assert_eq!(vi.priority, 170);
    assert_eq!(vi.version, 3);
    assert_eq!(vi.advert_int, secs(12));
    assert_eq!(vi.use_vmac, Some(Vmac::default()));
    assert_eq!(vi.track_interface[1].weight, 20);
    assert_eq!(
        c.vrrp_script("check_VI_0").unwrap().script,
        "/etc/keepalived/scripts/check_high_VI_0.sh"
    );
    assert_eq!(c.vrrp_script("check_VI_0").unwrap().timeout, secs(10));
    let opts = ParseOptions {
        config_id: Some("low".into()),
        ..ParseOptions::default()
    };
    let l = load_keepalived_file(
        &samples_dir().join("keepalived.conf.conditional_conf"),
        &opts,
    );
    assert_eq!(l.config.vrrp_instance("VI_0").unwrap().priority, 85);
}
