#![allow(clippy::unwrap_used)]
//! End to end against a real HAProxy on loopback: the sink's commands must
//! change the servers' state as HAProxy reports it (`show servers state`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use healthcheck::engine::Engine;
use healthcheck::pool::{PoolEvent, ServerChange};
use healthcheck::sink::{self, DownState, HaproxySink, Sink, SinkError, StatsAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// HAProxy in the foreground, stopped (by pid) on drop.
struct Haproxy {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn haproxy_binary() -> Option<PathBuf> {
    ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_haproxy() -> Option<Haproxy> {
    // Backends only, servers on loopback ports nobody listens on: no
    // traffic flows, only the runtime state is exercised.
    start_haproxy_with(
        "backend be_web\n    server web1 127.0.0.1:1 weight 10\n    server web2 127.0.0.1:2 weight 10\n    server sorry 127.0.0.1:3 weight 1\n",
    )
}

/// HAProxy with `proxies` (haproxy.cfg sections) after global/defaults.
fn start_haproxy_with(proxies: &str) -> Option<Haproxy> {
    let Some(bin) = haproxy_binary() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but haproxy is not installed (apt-get install -y haproxy)");
        }
        eprintln!("SKIPPED haproxy end-to-end test: haproxy is not installed");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("stats.sock");
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    stats socket {} mode 600 level admin\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n{}",
            socket.display(),
            proxies
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Haproxy {
        child,
        socket,
        _dir: dir,
    })
}

async fn wait_for_socket(p: &Path) {
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(p).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("haproxy stats socket {} never came up", p.display());
}

/// `show servers state be_web`: server name -> (admin state, user weight).
async fn servers_state(p: &Path) -> HashMap<String, (u32, u32)> {
    let mut s = tokio::net::UnixStream::connect(p).await.unwrap();
    s.write_all(b"show servers state be_web\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let mut lines = out.lines();
    let _version = lines.next();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(' ')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (name, admin, weight) = (col("srv_name"), col("srv_admin_state"), col("srv_uweight"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[name].to_owned(),
                (f[admin].parse().unwrap(), f[weight].parse().unwrap()),
            )
        })
        .collect()
}

/// HAProxy's SRV_ADMF_FMAINT (forced maintenance) and SRV_ADMF_DRAIN bits.
const FMAINT: u32 = 0x01;
const DRAIN: u32 = 0x08;

fn ev(rs: usize, change: ServerChange) -> PoolEvent {
    PoolEvent::Server { vs: 0, rs, change }
}

#[tokio::test]
async fn haproxy_runtime_api_end_to_end() {
    let Some(h) = start_haproxy() else { return };
    wait_for_socket(&h.socket).await;
    let before = servers_state(&h.socket).await;
    assert_eq!(before["web1"], (0, 10));

    let mut sink = HaproxySink::new(StatsAddr::Unix(h.socket.clone()));
    sink.map(0, 0, "be_web", "web1")
        .map(0, 1, "be_web", "web2")
        .map(0, 2, "be_web", "nosuch")
        .map_sorry(0, "be_web", "sorry");

    sink.apply(&ev(0, ServerChange::Down)).await.unwrap();
    sink.apply(&ev(1, ServerChange::Weight(3))).await.unwrap();
    sink.apply(&PoolEvent::SorryServer {
        vs: 0,
        ip: "127.0.0.1".parse().unwrap(),
        port: Some(3),
        active: false,
    })
    .await
    .unwrap();
    let s = servers_state(&h.socket).await;
    assert_eq!(s["web1"].0 & FMAINT, FMAINT, "{s:?}");
    assert_eq!(s["web2"], (0, 3));
    assert_eq!(s["sorry"].0 & FMAINT, FMAINT);

    sink.apply(&ev(0, ServerChange::Up { weight: 7 }))
        .await
        .unwrap();
    let s = servers_state(&h.socket).await;
    assert_eq!(s["web1"], (0, 7));

    sink.down_state(DownState::Drain);
    sink.apply(&ev(1, ServerChange::Down)).await.unwrap();
    let s = servers_state(&h.socket).await;
    assert_eq!(s["web2"].0 & DRAIN, DRAIN, "{s:?}");

    // A server HAProxy does not know: its error comes back.
    let err = sink.apply(&ev(2, ServerChange::Down)).await.unwrap_err();
    assert!(matches!(err, SinkError::Rejected { .. }), "{err}");
}

/// A backend that answers every connection with its name, then closes.
async fn backend(listener: tokio::net::TcpListener, name: u8) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(&[name]).await;
        }
    })
}

/// Connect through HAProxy's frontend and read which backend answered.
async fn through(front: u16) -> Option<u8> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", front))
        .await
        .ok()?;
    let mut b = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut b)).await {
        Ok(Ok(_)) => Some(b[0]),
        _ => None,
    }
}

async fn wait_state(sock: &Path, server: &str, want_maint: bool) {
    for _ in 0..400 {
        let s = servers_state(sock).await;
        if (s[server].0 & FMAINT == FMAINT) == want_maint {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{server} never reached maint={want_maint}");
}

#[tokio::test]
async fn engine_prunes_a_dead_backend_from_haproxy() {
    let l1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (p1, p2) = (
        l1.local_addr().unwrap().port(),
        l2.local_addr().unwrap().port(),
    );
    let front = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(h) = start_haproxy_with(&format!(
        "frontend fe\n    bind 127.0.0.1:{front}\n    default_backend be_web\n\
         backend be_web\n    balance roundrobin\n    server web1 127.0.0.1:{p1}\n    server web2 127.0.0.1:{p2}\n"
    )) else {
        return;
    };
    wait_for_socket(&h.socket).await;
    let b1 = backend(l1, b'1').await;
    let _b2 = backend(l2, b'2').await;

    let text = format!(
        "virtual_server 192.0.2.10 80 {{\n delay_loop 0.2\n\
         real_server 127.0.0.1 {p1} {{\n TCP_CHECK {{\n connect_timeout 1\n retry 0\n warmup 0\n }}\n }}\n\
         real_server 127.0.0.1 {p2} {{\n TCP_CHECK {{\n connect_timeout 1\n retry 0\n warmup 0\n }}\n }}\n}}\n"
    );
    let loaded = conf::load_keepalived_str("t.conf", &text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    let engine = Engine::from_config(&loaded.config, 1, 1, std::time::Instant::now(), 5);
    let mut haproxy = HaproxySink::new(StatsAddr::Unix(h.socket.clone()));
    haproxy
        .map(0, 0, "be_web", "web1")
        .map(0, 1, "be_web", "web2");
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let sinks = tokio::spawn(sink::dispatch(rx, vec![Box::new(haproxy)]));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(engine.run(16, tx, async {
        let _ = stopped.await;
    }));

    // Both serve.
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(through(front).await);
    }
    assert!(
        seen.contains(&Some(b'1')) && seen.contains(&Some(b'2')),
        "{seen:?}"
    );

    // Backend 1 dies: the engine puts it in maintenance, traffic goes to 2.
    b1.abort();
    let _ = b1.await;
    wait_state(&h.socket, "web1", true).await;
    for _ in 0..6 {
        assert_eq!(through(front).await, Some(b'2'));
    }

    // It comes back on the same port: ready again, traffic shared.
    let l1 = tokio::net::TcpListener::bind(("127.0.0.1", p1))
        .await
        .unwrap();
    let _b1 = backend(l1, b'1').await;
    wait_state(&h.socket, "web1", false).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(through(front).await);
    }
    assert!(seen.contains(&Some(b'1')), "{seen:?}");

    stop.send(()).unwrap();
    run.await.unwrap();
    sinks.await.unwrap();
}

/// Servers given by address are found in their backend with `show
/// servers state`; an event that arrives before HAProxy is up waits and is
/// applied by `retry` once HAProxy answers.
#[tokio::test]
async fn servers_found_by_address_and_late_haproxy_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    // HAProxy is not there yet: the event is held.
    let missing = dir.path().join("nobody.sock");
    let mut early = HaproxySink::new(StatsAddr::Unix(missing));
    early.map_by_addr(0, Some(0), "be_web", "127.0.0.1:2".parse().unwrap());
    assert!(early.apply(&ev(0, ServerChange::Down)).await.is_err());
    assert!(early.retry().is_some(), "the held event is retried");

    let Some(h) = start_haproxy() else { return };
    wait_for_socket(&h.socket).await;
    let mut sink = HaproxySink::new(StatsAddr::Unix(h.socket.clone()));
    sink.map_by_addr(0, Some(0), "be_web", "127.0.0.1:2".parse().unwrap())
        .map_by_addr(0, Some(1), "be_web", "127.0.0.1:9".parse().unwrap())
        .map_by_addr(0, None, "be_web", "127.0.0.1:3".parse().unwrap());
    // 127.0.0.1:9 is in no backend: its event waits, the others go through.
    let err = sink.apply(&ev(1, ServerChange::Down)).await.unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    sink.apply(&ev(0, ServerChange::Down)).await.unwrap();
    sink.apply(&PoolEvent::SorryServer {
        vs: 0,
        ip: "127.0.0.1".parse().unwrap(),
        port: Some(3),
        active: false,
    })
    .await
    .unwrap();
    let s = servers_state(&h.socket).await;
    assert_eq!(s["web2"].0 & FMAINT, FMAINT, "{s:?}");
    assert_eq!(s["sorry"].0 & FMAINT, FMAINT, "{s:?}");
    assert_eq!(s["web1"].0 & FMAINT, 0, "{s:?}");
    assert!(sink.retry().is_some(), "127.0.0.1:9 still waits");
}

#[test]
fn servers_state_reply_is_parsed_by_column_name() {
    let reply = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n3 be_web 1 web1 192.0.2.21 2 0 10 10 5 1 0 2 0 0 0 0 - 8081 -\n3 be_web 2 web2 2001:db8::22 2 0 10 10 5 1 0 2 0 0 0 0 - 8082 -\nbroken line\n\n";
    assert_eq!(
        sink::parse_servers_state(reply),
        vec![
            ("web1".to_string(), "192.0.2.21:8081".parse().unwrap()),
            ("web2".to_string(), "[2001:db8::22]:8082".parse().unwrap()),
        ]
    );
    assert!(sink::parse_servers_state("").is_empty());
    assert!(sink::parse_servers_state("1\n# be_id srv_name\n").is_empty());
}
