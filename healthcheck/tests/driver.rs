#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use healthcheck::driver::{self, Checks};
use healthcheck::spec::{CheckKey, CheckSpec, Kind, MiscSpec, Policy};
use tokio::sync::{mpsc, oneshot};

#[tokio::test]
async fn concurrent_attempts_are_bounded() {
    // Ten distinct MISC_CHECK scripts, all due at once, each logging its
    // start and end. "end" is written before the script exits, hence before
    // its place is freed, so the log shows the true concurrency.
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("log");
    let script = d.path().join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"start $1\" >> {log}\nsleep 0.2\necho \"end $1\" >> {log}\nexit 1\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let policy = Policy {
        delay_loop: Duration::from_secs(3600),
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        warmup: Duration::ZERO,
        alpha: false,
        rise: 1,
        fall: 1,
    };
    let mut checks = Checks::new(1);
    let now = Instant::now();
    for i in 0..10 {
        let spec = CheckSpec {
            target: "127.0.0.1:0".parse().unwrap(),
            local: Default::default(),
            connect_timeout: Duration::from_secs(5),
            kind: Kind::Misc(MiscSpec {
                command: format!("{} {i}", script.display()),
                timeout: Duration::from_secs(10),
                dynamic: false,
                user: None,
                group: None,
            }),
        };
        checks.add(CheckKey { spec, policy }, i, now);
    }
    assert_eq!(checks.len(), 10);
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(driver::run(checks, 3, tx, async {
        let _ = stopped.await;
    }));
    // Every script exits 1: every check goes down once.
    let mut downs = Vec::new();
    for _ in 0..10 {
        let u = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(!u.change.up);
        assert_eq!(u.change.reason.to_string(), "script exit 1");
        downs.extend(u.subscribers);
    }
    downs.sort();
    assert_eq!(downs, (0..10).collect::<Vec<_>>());
    stop.send(()).unwrap();
    let checks = run.await.unwrap();
    assert_eq!(checks.len(), 10);

    let text = std::fs::read_to_string(&log).unwrap();
    let (mut running, mut max, mut starts) = (0i32, 0i32, 0);
    for line in text.lines() {
        if line.starts_with("start") {
            running += 1;
            starts += 1;
        } else {
            running -= 1;
        }
        max = max.max(running);
    }
    assert_eq!(starts, 10);
    assert!(max <= 3, "{max} scripts ran at once, bound is 3:\n{text}");
    assert!(
        max >= 2,
        "the bound should still allow parallelism:\n{text}"
    );
}

#[tokio::test]
async fn pings_through_the_driver_share_sockets() {
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but not root: PING_CHECK needs a raw ICMP socket");
        }
        eprintln!("SKIPPED pings_through_the_driver_share_sockets: not root");
        return;
    }
    let policy = Policy {
        delay_loop: Duration::from_secs(3600),
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        warmup: Duration::ZERO,
        // Start down so the first success is reported.
        alpha: true,
        rise: 1,
        fall: 1,
    };
    let mut checks = Checks::new(2);
    let now = Instant::now();
    for i in 0..8u64 {
        let target = if i % 2 == 0 { "127.0.0.1:0" } else { "[::1]:0" };
        let spec = CheckSpec {
            target: target.parse().unwrap(),
            local: Default::default(),
            // Distinct timeouts: eight distinct checks, all at once.
            connect_timeout: Duration::from_millis(2000 + i),
            kind: Kind::Ping,
        };
        checks.add(CheckKey { spec, policy }, i, now);
    }
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(driver::run(checks, 100, tx, async {
        let _ = stopped.await;
    }));
    let mut ups = Vec::new();
    for _ in 0..8 {
        let u = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(u.change.up, "{:?}", u.outcome);
        ups.extend(u.subscribers);
    }
    ups.sort();
    assert_eq!(ups, (0..8).collect::<Vec<_>>());
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test]
async fn thousands_of_checks_complete_under_a_small_bound() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    let policy = Policy {
        delay_loop: Duration::from_secs(3600),
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        warmup: Duration::ZERO,
        alpha: true,
        rise: 1,
        fall: 1,
    };
    const N: u64 = 3000;
    let mut checks = Checks::new(3);
    let now = Instant::now();
    for i in 0..N {
        let spec = CheckSpec {
            target: addr,
            local: Default::default(),
            connect_timeout: Duration::from_millis(5000 + i),
            kind: Kind::Tcp,
        };
        checks.add(CheckKey { spec, policy }, i, now);
    }
    assert_eq!(checks.len() as u64, N);
    let (tx, mut rx) = mpsc::channel(256);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(driver::run(checks, 64, tx, async {
        let _ = stopped.await;
    }));
    let mut seen = vec![false; N as usize];
    for _ in 0..N {
        let u = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(u.change.up, "{:?}", u.outcome);
        for s in u.subscribers {
            seen[s as usize] = true;
        }
    }
    assert!(seen.iter().all(|s| *s));
    stop.send(()).unwrap();
    run.await.unwrap();
    server.abort();
}
