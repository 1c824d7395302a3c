#![allow(clippy::unwrap_used)]
//! Our own overload must never make a live backend look down.
//!
//! Two ways the checker itself can delay an attempt: the concurrency bound
//! (due attempts wait in the driver's queue: the deadline starts only once
//! an attempt leaves it) and a runtime that is behind (its thread was busy or
//! starved, so socket readiness and timers are seen late; see
//! `healthcheck::deadline`). In both, the backends answered in time and
//! the checks must pass.

mod common;

use std::time::{Duration, Instant};

use healthcheck::check;
use healthcheck::driver::{self, Checks};
use healthcheck::spec::{CheckKey, Policy};
use healthcheck::CheckOutcome;
use tokio::sync::{mpsc, oneshot};

/// An HTTP/1.0 server on a thread of its own (so that it keeps answering
/// while the checker's thread is held): reads each request head, answers
/// 200 and closes. Stops after `n` connections.
fn http_server_thread(n: usize) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut head = Vec::new();
            let mut b = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => head.extend_from_slice(&b[..k]),
                }
            }
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    (addr, t)
}

#[test]
fn a_stalled_runtime_does_not_turn_live_backends_into_timeouts() {
    // Twenty HTTP checks are in flight on one thread when that thread is
    // held for longer than their connect_timeout, as a starved process
    // is. The server, on its own thread, accepts each connection and
    // answers every request at once. When the thread comes back, each
    // attempt can take one step (the connect is done: send the request)
    // before its expired timer is seen; the answers are there, so none
    // may be reported down.
    const N: usize = 20;
    let (addr, server) = http_server_thread(N);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let spec = common::spec(addr, 300, common::http_kind(false, "/", None, Vec::new()));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..N {
            let spec = spec.clone();
            set.spawn(async move { check::run(&spec).await });
        }
        // Let every attempt start its connect, then hold the thread.
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(800));
        let mut down = Vec::new();
        while let Some(o) = set.join_next().await {
            let o = o.unwrap();
            if !o.up {
                down.push(o.reason);
            }
        }
        assert!(
            down.is_empty(),
            "{} of {N} live backends reported down, first: {:?}",
            down.len(),
            down.first()
        );
    });
    server.join().unwrap();
}

#[tokio::test]
async fn waiting_for_a_place_is_not_part_of_the_timeout() {
    // 60 HTTP backends that answer after 40 ms, all due at once, at most
    // two attempts at a time: the last ones wait about 1.2 s for a place,
    // four times their 300 ms connect_timeout. Every backend is up, so
    // no check may go down.
    let mut servers = Vec::new();
    for _ in 0..60 {
        servers.push(
            common::http_server(common::Reply::After(Duration::from_millis(40), 200, b"ok")).await,
        );
    }
    let policy = Policy {
        delay_loop: Duration::from_secs(3600),
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        warmup: Duration::ZERO,
        alpha: true,
        rise: 1,
        fall: 1,
    };
    let mut checks = Checks::new(3);
    let now = Instant::now();
    for (i, s) in servers.iter().enumerate() {
        let spec = common::spec(s.addr, 300, common::http_kind(false, "/", None, Vec::new()));
        checks.add(CheckKey { spec, policy }, i, now);
    }
    let stats = checks.stats();
    let (tx, mut rx) = mpsc::channel(128);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(driver::run(checks, 2, tx, async {
        let _ = stopped.await;
    }));
    // alpha: every check starts down, so each one's first success is an
    // update; a timeout would leave it down and send nothing.
    let mut ups = Vec::new();
    for _ in 0..60 {
        let u = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(u.change.up, "{:?}", u.change);
        ups.extend(u.subscribers);
    }
    stop.send(()).unwrap();
    run.await.unwrap();
    ups.sort();
    assert_eq!(ups, (0..60).collect::<Vec<_>>());
    let snap = stats.snapshot();
    assert_eq!(snap.len(), 60);
    for s in &snap {
        assert_eq!(s.downs(), 0, "{s:?}");
        assert_eq!(s.up, Some(true), "{s:?}");
    }
}

#[test]
fn a_server_flooding_its_body_still_meets_the_deadline() {
    // An HTTP check with a digest reads the whole body. A server that
    // sends an endless body as fast as it can keeps the attempt busy on
    // every poll (tokio's coop budget runs out each time); the deadline
    // must still end it.
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 1000000000000\r\n\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        while s.write_all(&chunk).is_ok() {}
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let o = rt.block_on(async {
        let kind = common::http_kind(
            false,
            "/",
            Some("00000000000000000000000000000000"),
            Vec::new(),
        );
        tokio::time::timeout(
            Duration::from_secs(20),
            check::run(&common::spec(addr, 300, kind)),
        )
        .await
        .expect("the check outlived its deadline by far")
    });
    drop(rt);
    assert!(!o.up);
    assert_eq!(o.reason, healthcheck::Reason::Timeout);
    server.join().unwrap();
}

#[test]
fn a_stalled_runtime_does_not_turn_live_pings_into_timeouts() {
    // A hundred PING_CHECKs to 127.0.0.1 in flight on one thread when
    // that thread is held for longer than their connect_timeout. The echo
    // replies are all in the shared ICMP socket when it comes back, but
    // they are read by the ICMP client's own task, which reads at most
    // tokio's coop budget of packets (the raw socket also sees the echo
    // requests) before the attempts, whose timers have fired, run. A
    // timer seen first must not decide (healthcheck::deadline), or the
    // pings whose replies are still unread would be timeouts.
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but not root: PING_CHECK needs a raw ICMP socket");
        }
        eprintln!("SKIPPED a_stalled_runtime_does_not_turn_live_pings_into_timeouts: not root");
        return;
    }
    const N: usize = 100;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = std::sync::Arc::new(check::Context::new());
        let spec = common::spec("127.0.0.1:0".parse().unwrap(), 300, healthcheck::Kind::Ping);
        // One ping first, so that the shared ICMP socket exists before the
        // others are sent.
        assert!(ctx.run(&spec).await.up);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..N {
            let (ctx, spec) = (ctx.clone(), spec.clone());
            set.spawn(async move { ctx.run(&spec).await });
        }
        // Run right after the pings, in the same turn of the runtime
        // (before it looks for socket events): every echo is sent, then
        // the thread is held.
        set.spawn(async {
            std::thread::sleep(Duration::from_millis(800));
            CheckOutcome::up(healthcheck::Reason::Ok, Duration::ZERO)
        });
        let mut down = Vec::new();
        while let Some(o) = set.join_next().await {
            let o = o.unwrap();
            if !o.up {
                down.push(o.reason);
            }
        }
        assert!(
            down.is_empty(),
            "{} of {N} pings reported down, first: {:?}",
            down.len(),
            down.first()
        );
    });
}
