#![allow(clippy::unwrap_used)]
//! vrrpd's health checks driving a real HAProxy: HAProxy load-balances
//! over four HTTP backends; vrrpd checks them (HTTP_GET) and, through
//! `lb_sink haproxy`, puts dead ones in maintenance and live ones back.
//! The pool's quorum is tracked by the VRRP instance in front of it
//! (`track_virtual_server`): when every backend is gone, the node gives up
//! the VIP.

mod common;

use common::{control, opts, vrrpd_log};
use netns_tests::config::vip;
use netns_tests::http::GetSummary;
use netns_tests::{env, Daemon, Family, Instance, KeepalivedConf, Node, Topology, Version};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ADVERT: f64 = 0.1;
const FRONT: u16 = 8080;
/// HAProxy's SRV_ADMF_FMAINT: forced maintenance.
const FMAINT: u32 = 0x01;

fn haproxy_binary() -> Option<PathBuf> {
    ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// `show servers state be_web` over the admin socket (a Unix socket is
/// reachable from outside the namespace): name -> admin state.
fn admin_states(sock: &Path) -> HashMap<String, u32> {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(sock) else {
        return HashMap::new();
    };
    s.write_all(b"show servers state be_web\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let _version = lines.next();
    let Some(header) = lines.next() else {
        return HashMap::new();
    };
    let header: Vec<&str> = header.trim_start_matches('#').split_whitespace().collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (name, admin) = (col("srv_name"), col("srv_admin_state"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[name].to_owned(), f[admin].parse().unwrap())
        })
        .collect()
}

fn in_maint(sock: &Path, server: &str) -> bool {
    admin_states(sock)
        .get(server)
        .is_some_and(|a| a & FMAINT == FMAINT)
}

/// `count` requests through HAProxy from the client namespace.
fn get(t: &Topology, front: SocketAddr, count: u64) -> GetSummary {
    let out = t
        .exec(
            &t.client().ns,
            [
                t.agent_path().as_os_str(),
                "http-get".as_ref(),
                "--addr".as_ref(),
                front.to_string().as_ref(),
                "--count".as_ref(),
                count.to_string().as_ref(),
                "--interval-ms".as_ref(),
                "20".as_ref(),
            ],
        )
        .unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// [`Topology::wait_until`], returning how long it took.
fn wait(t: &Topology, what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    t.wait_until(what, limit, || Ok(ok())).unwrap();
    t0.elapsed()
}

#[test]
fn dead_backends_go_to_maintenance_and_quorum_loss_moves_the_vip() {
    let test = "dead_backends_go_to_maintenance_and_quorum_loss_moves_the_vip";
    if env::require_daemon(test, Daemon::Vrrpd).is_none() {
        return;
    }
    let Some(haproxy) = haproxy_binary() else {
        if env::in_ci() {
            panic!("{test}: CI=true but haproxy is not installed");
        }
        eprintln!("SKIP {test}: haproxy is not installed");
        return;
    };
    let t = Topology::with_options(opts(2)).unwrap();
    let n1 = t.node(Node(1)).clone();
    let ip = n1.ipv4;
    let (v, _) = vip(Family::V4, 20);

    // Four backends on n1, each a process of its own.
    let mut backends = Vec::new();
    for k in 1..=4u16 {
        let addr = format!("{ip}:{}", 8080 + k);
        let pid = t
            .spawn_agent(
                &n1.ns,
                &format!("web{k}"),
                &["http-serve", "--addr", &addr, "--name", &format!("web{k}")],
            )
            .unwrap();
        backends.push((k, addr, pid));
    }

    // HAProxy on n1 with no health checks of its own: only vrrpd prunes.
    // `retries` + `redispatch`: a request that meets a dead server before
    // vrrpd reacts is retried on another one.
    let sock = t.dir().join("haproxy.sock");
    let mut cfg = format!(
        "global\n    stats socket {} mode 600 level admin\n\
         defaults\n    mode http\n    retries 3\n    option redispatch\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind :{FRONT}\n    default_backend be_web\n\
         backend be_web\n    balance roundrobin\n",
        sock.display()
    );
    for (k, addr, _) in &backends {
        cfg.push_str(&format!("    server web{k} {addr}\n"));
    }
    let cfg_path = t.dir().join("haproxy.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    t.spawn(
        &n1.ns,
        "haproxy",
        &haproxy,
        &["-db".into(), "-f".into(), cfg_path.clone().into_os_string()],
    )
    .unwrap();
    wait(
        &t,
        "haproxy's admin socket",
        Duration::from_secs(10),
        || admin_states(&sock).len() == 4,
    );

    // vrrpd on n1: the HTTP checks, the HAProxy sink, and the VRRP instance
    // tracking the pool's quorum (weight 0: FAULT when it is lost).
    let mut vs = format!(
        "virtual_server {ip} {FRONT} {{\n    delay_loop 1\n    lb_sink haproxy {} be_web\n",
        sock.display()
    );
    for (k, _, _) in &backends {
        vs.push_str(&format!(
            "    real_server {ip} {} {{\n        HTTP_GET {{\n            url {{\n                path /\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n",
            8080 + k
        ));
    }
    vs.push_str("}\n");
    let track = format!("track_virtual_server {{\n    {ip}:{FRONT}\n}}");
    let inst = |prio: u8| {
        Instance::new(60, prio, Version::V3, Family::V4, ADVERT)
            .with_vips(vec![vip(Family::V4, 20)])
    };
    t.start(
        Node(1),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n1", vec![inst(150).with_extra(track)]).with_extra(vs),
    )
    .unwrap();
    t.start(
        Node(2),
        Daemon::Vrrpd,
        &KeepalivedConf::new("n2", vec![inst(100)]),
    )
    .unwrap();
    t.wait_for_sole_holder(Node(1), v, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));

    let front: SocketAddr = format!("{v}:{FRONT}").parse().unwrap();
    let all = get(&t, front, 8);
    assert_eq!(all.ok, 8, "{all:?}");
    assert_eq!(all.by_body.len(), 4, "round robin over 4 backends: {all:?}");

    // Kill two: within fall x delay_loop + one check timeout (1 x 1 s +
    // 1 s; keepalived's retry 0) they are in maintenance.
    for (_, _, pid) in &backends[2..] {
        t.kill(*pid);
    }
    let took = wait(
        &t,
        "web3 and web4 in maintenance",
        Duration::from_secs(10),
        || in_maint(&sock, "web3") && in_maint(&sock, "web4"),
    );
    eprintln!("dead backends in maintenance after {took:?}");
    assert!(!in_maint(&sock, "web1") && !in_maint(&sock, "web2"));
    let two = get(&t, front, 20);
    assert_eq!(two.ok, 20, "traffic keeps flowing: {two:?}");
    assert_eq!(
        two.by_body.keys().cloned().collect::<Vec<_>>(),
        ["web1", "web2"],
        "{two:?}"
    );
    assert!(
        t.has_addr(Node(1), v).unwrap(),
        "quorum kept: the VIP stays"
    );

    // Bring them back: they return to service.
    for (k, addr, pid) in backends.iter_mut().skip(2) {
        *pid = t
            .spawn_agent(
                &n1.ns,
                &format!("web{k}"),
                &[
                    "http-serve",
                    "--addr",
                    addr.as_str(),
                    "--name",
                    &format!("web{k}"),
                ],
            )
            .unwrap();
    }
    let took = wait(&t, "web3 and web4 back", Duration::from_secs(10), || {
        !in_maint(&sock, "web3") && !in_maint(&sock, "web4")
    });
    eprintln!("returned backends ready after {took:?}");
    let back = get(&t, front, 8);
    assert_eq!(back.ok, 8, "{back:?}");
    assert_eq!(back.by_body.len(), 4, "{back:?}");

    let log_before = vrrpd_log(&t, Node(1));
    assert!(
        log_before.contains("haproxy server found by address"),
        "{log_before}"
    );

    // The status and the metrics show every check, with the failures the
    // dead backends caused.
    let status: serde_json::Value = serde_json::from_str(&control(&t, Node(1), "status")).unwrap();
    let hc = &status["health_checks"];
    assert_eq!(
        hc["sinks"][0].as_str().unwrap().split(' ').next(),
        Some("haproxy"),
        "{hc}"
    );
    let checks = hc["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{hc}");
    for c in checks {
        assert_eq!(c["kind"], "HTTP_GET", "{c}");
        assert!(c["runs"].as_u64().unwrap() > 0, "{c}");
        assert!(c["latency"]["p99_us"].as_u64().is_some(), "{c}");
    }
    let failed: u64 = checks
        .iter()
        .filter_map(|c| c["downs_by_reason"].as_object())
        .flat_map(|m| m.values().filter_map(|v| v.as_u64()))
        .sum();
    assert!(failed >= 2, "web3 and web4 failed at least once each: {hc}");
    let metrics = control(&t, Node(1), "metrics");
    assert!(
        metrics.contains("# TYPE healthcheck_checks_total counter"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("rs=\"{ip}:8083\"")), "{metrics}");
    assert!(metrics.contains("vrrp_tracker_reading{"), "{metrics}");

    // Every backend gone: quorum lost, n1 goes to FAULT, n2 takes the VIP.
    for (_, _, pid) in &backends {
        t.kill(*pid);
    }
    t.wait_for_sole_holder(Node(2), v, Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e}\n{}", vrrpd_log(&t, Node(1))));
    let log = vrrpd_log(&t, Node(1));
    assert!(
        log.contains(&format!("virtual_server {ip}:{FRONT} lost quorum")),
        "{log}"
    );
    assert!(log.contains("MASTER -> FAULT"), "{log}");
}
