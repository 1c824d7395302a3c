#![allow(clippy::unwrap_used)]
//! The engine's statistics against real loopback servers: counts, failure
//! reasons and latency of each check, read while the checks run, and the
//! two renderers the daemon serves.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{http_server, Reply};
use healthcheck::engine::Engine;
use healthcheck::stats::{self, CheckStats};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

fn config(tcp: u16, closed: u16, http_ok: u16, http_bad: u16) -> conf::Config {
    let rs = |port: u16, check: &str| {
        format!(
            "    real_server 127.0.0.1 {port} {{\n        weight 1\n        {check} {{\n{}            connect_timeout 1\n            retry 0\n            warmup 0\n        }}\n    }}\n",
            if check == "HTTP_GET" {
                "            url {\n                path /\n                status_code 200\n            }\n"
            } else {
                ""
            }
        )
    };
    let text = format!(
        "virtual_server 192.0.2.10 80 {{\n    delay_loop 0.1\n{}{}{}{}}}\n",
        rs(tcp, "TCP_CHECK"),
        rs(closed, "TCP_CHECK"),
        rs(http_ok, "HTTP_GET"),
        rs(http_bad, "HTTP_GET"),
    );
    let loaded = conf::load_keepalived_str("stats.conf", &text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    loaded.config
}

fn by_port(snap: &[CheckStats]) -> HashMap<u16, CheckStats> {
    snap.iter().map(|s| (s.target.port(), s.clone())).collect()
}

#[tokio::test]
async fn counts_reasons_and_latency_from_real_servers() {
    // A listening TCP server (the kernel completes the handshake, no
    // accept needed), a closed port (RST: refused), an HTTP server that
    // answers 200 and one that answers 503.
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ok = http_server(Reply::Full(200, b"ok")).await;
    let bad = http_server(Reply::Full(503, b"no")).await;
    let cfg = config(tcp_port, closed_port, ok.addr.port(), bad.addr.port());

    let engine = Engine::from_config(&cfg, 1, 1, Instant::now(), 3);
    let handle = engine.stats();
    let before = handle.snapshot();
    assert_eq!(before.len(), 4);
    assert!(before.iter().all(|s| s.runs == 0 && s.latency.is_none()));

    let (tx, mut rx) = mpsc::channel(256);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(engine.run(16, tx, async {
        let _ = stopped.await;
    }));
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });

    // Every check runs every 100 ms; wait until each has run at least 5
    // times (bounded: a stuck driver fails the test).
    let deadline = Instant::now() + Duration::from_secs(20);
    let snap = loop {
        let snap = handle.snapshot();
        if snap.iter().all(|s| s.runs >= 5) {
            break snap;
        }
        assert!(Instant::now() < deadline, "checks did not run: {snap:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let m = by_port(&snap);

    let t = &m[&tcp_port];
    assert_eq!(t.kind, "TCP_CHECK");
    assert_eq!(t.ups, t.runs, "{t:?}");
    assert!(t.downs_by_reason.is_empty());
    let lat = t.latency.unwrap();
    assert!(lat.max_us > 0 && lat.sum_us > 0, "{lat:?}");
    assert!(lat.p50_us <= lat.p90_us && lat.p90_us <= lat.p99_us && lat.p99_us <= lat.max_us);
    assert_eq!(t.up, Some(true));

    let c = &m[&closed_port];
    assert_eq!(c.ups, 0);
    assert_eq!(c.downs_by_reason.get("refused").copied(), Some(c.runs));
    assert_eq!(c.up, Some(false));
    assert_eq!(c.last.as_ref().unwrap().class, "refused");

    let h = &m[&ok.addr.port()];
    assert_eq!(h.kind, "HTTP_GET");
    assert_eq!(h.ups, h.runs);
    assert!(h.latency.unwrap().max_us > 0);

    let b = &m[&bad.addr.port()];
    assert_eq!(b.ups, 0);
    assert_eq!(b.downs_by_reason.get("wrong_status").copied(), Some(b.runs));
    assert_eq!(b.last.as_ref().unwrap().reason, "status 503");

    // Every check is named by its virtual and real server.
    for s in &snap {
        assert_eq!(s.subscribers.len(), 1);
        assert_eq!(s.subscribers[0].vs_name, "192.0.2.10:80");
        assert_eq!(
            s.subscribers[0].rs_name,
            format!("127.0.0.1:{}", s.target.port())
        );
        assert!(s.missed <= s.runs);
    }

    // The renderers, on the live numbers.
    let mut text = String::new();
    stats::to_prometheus(&snap, &mut text);
    let refused = format!(
        "healthcheck_check_failures_total{{vs=\"192.0.2.10:80\",rs=\"127.0.0.1:{closed_port}\",check=\"TCP_CHECK\",checker=\"0\",target=\"127.0.0.1:{closed_port}\",reason=\"refused\"}} {}",
        c.runs
    );
    assert!(
        text.lines().any(|l| l == refused),
        "{refused}\nnot in\n{text}"
    );
    let total = format!(
        "healthcheck_checks_total{{vs=\"192.0.2.10:80\",rs=\"127.0.0.1:{tcp_port}\",check=\"TCP_CHECK\",checker=\"0\",target=\"127.0.0.1:{tcp_port}\"}} {}",
        t.runs
    );
    assert!(text.lines().any(|l| l == total), "{total}\nnot in\n{text}");
    for family in [
        "healthcheck_checks_total",
        "healthcheck_check_failures_total",
        "healthcheck_check_latency_seconds",
    ] {
        assert_eq!(
            text.lines()
                .filter(|l| *l == format!("# TYPE {family} counter")
                    || *l == format!("# TYPE {family} summary"))
                .count(),
            1,
            "{family}"
        );
    }
    let json = stats::to_json(&snap);
    assert_eq!(json.as_array().unwrap().len(), 4);

    stop.send(()).unwrap();
    task.await.unwrap();
    drain.await.unwrap();
    // The handle outlives the engine: the final numbers are still there.
    let after = handle.snapshot();
    assert!(after.iter().all(|s| s.runs >= 5));
}
