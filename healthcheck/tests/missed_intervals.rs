#![allow(clippy::unwrap_used)]
//! Missed intervals when attempts are slow: a loaded machine (or a slow
//! backend) makes every attempt take a while. The check must still start
//! once per `delay_loop`, measured from when it was due, not from when the
//! previous attempt happened to finish. Runs on tokio's paused clock, so the
//! figures are exact and the test takes no real time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthcheck::driver::{self, Checks, Runner};
use healthcheck::spec::{CheckKey, CheckSpec, Kind, Policy};
use healthcheck::{CheckOutcome, Reason};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

const S: Duration = Duration::from_secs(1);

fn policy() -> Policy {
    Policy {
        delay_loop: S,
        retry: 1,
        delay_before_retry: S,
        warmup: S,
        alpha: false,
        rise: 1,
        fall: 1,
    }
}

/// Start times of every attempt, by target port, when each attempt takes
/// `latency(port, n)` (n: the attempt's number for that port).
async fn run(
    checks_n: u16,
    secs: u64,
    latency: fn(u16, usize) -> Duration,
    up: fn(u16, usize) -> bool,
) -> (
    HashMap<u16, Vec<Duration>>,
    Vec<healthcheck::stats::CheckStats>,
) {
    let t0 = Instant::now();
    let starts: Arc<Mutex<HashMap<u16, Vec<Duration>>>> = Arc::default();
    let log = starts.clone();
    let runner: Runner = Arc::new(move |spec: Arc<CheckSpec>| {
        let log = log.clone();
        Box::pin(async move {
            let port = spec.target.port();
            let n = {
                let mut l = log.lock().unwrap();
                let v = l.entry(port).or_default();
                v.push(Instant::now() - t0);
                v.len() - 1
            };
            let d = latency(port, n);
            tokio::time::sleep(d).await;
            if up(port, n) {
                CheckOutcome::up(Reason::Ok, d)
            } else {
                CheckOutcome::down(Reason::Timeout, d)
            }
        })
    });
    let mut checks = Checks::new(5);
    for port in 1..=checks_n {
        let spec = CheckSpec {
            target: format!("192.0.2.1:{port}").parse().unwrap(),
            local: Default::default(),
            connect_timeout: 2 * S,
            kind: Kind::Tcp,
        };
        checks.add(
            CheckKey {
                spec,
                policy: policy(),
            },
            port,
            t0.into_std(),
        );
    }
    let stats = checks.stats();
    let (tx, mut rx) = mpsc::channel(1024);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(driver::run_with(
        checks,
        4096,
        tx,
        async {
            let _ = stopped.await;
        },
        runner,
    ));
    tokio::time::sleep_until(t0 + Duration::from_secs(secs)).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    drain.await.unwrap();
    let starts = starts.lock().unwrap().clone();
    (starts, stats.snapshot())
}

fn max_gap(starts: &HashMap<u16, Vec<Duration>>) -> Duration {
    starts
        .values()
        .flat_map(|v| v.windows(2).map(|w| w[1] - w[0]))
        .max()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn slow_attempts_do_not_stretch_the_interval() {
    // Every attempt takes 300-700 ms: what a loaded machine did to our
    // checks in the benchmark. The configured rate is one check per
    // second per backend, ±5 % jitter.
    let (starts, stats) = run(
        200,
        62,
        |port, n| Duration::from_millis(300 + (u64::from(port) * 37 + n as u64 * 91) % 400),
        |_, _| true,
    )
    .await;
    // Attempts between t = 1 s (after warmup) and 61 s: about 60 each.
    for (port, v) in &starts {
        assert!(
            v.len() >= 58,
            "port {port}: only {} attempts in 62 s",
            v.len()
        );
    }
    let gap = max_gap(&starts);
    assert!(
        gap <= Duration::from_millis(1050),
        "a check started {gap:?} after the previous one (delay_loop 1 s)"
    );
    assert!(
        stats.iter().all(|s| s.missed == 0),
        "missed intervals counted"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_longer_than_the_interval_is_followed_at_once_and_counted() {
    // Port 1 takes 2.5 s per attempt (a black-holed server: connect
    // timeout), longer than delay_loop: the next attempt starts as soon as
    // it ends (never two at once), each such start is a missed interval,
    // and nothing catches up in a burst afterwards.
    let (starts, stats) = run(
        2,
        30,
        |port, n| {
            if port == 1 && n < 5 {
                Duration::from_millis(2500)
            } else {
                Duration::from_millis(10)
            }
        },
        |port, n| !(port == 1 && n < 5),
    )
    .await;
    let v = &starts[&1];
    for w in v[..6].windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_millis(2500), "{v:?}");
    }
    // Once fast again, one attempt per interval: no burst to catch up.
    for w in v[5..].windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(950),
            "burst after slow attempts: {v:?}"
        );
    }
    let slow = stats.iter().find(|s| s.target.port() == 1).unwrap();
    let fast = stats.iter().find(|s| s.target.port() == 2).unwrap();
    // The attempts after each of the five slow ones (the second to the
    // sixth) started 1.5 s after they were due: five missed intervals.
    assert_eq!(slow.missed, 5, "{slow:?}");
    assert_eq!(fast.missed, 0);
    assert_eq!(slow.downs_by_reason.get("timeout"), Some(&5));
}
