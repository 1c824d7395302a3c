#![allow(clippy::unwrap_used)]
//! The driver on tokio's paused clock with a simulated server: virtual
//! time, so the timer plumbing (retry gaps, delay_loop, rise/fall) is
//! checked to the millisecond without waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthcheck::driver::{self, Checks, Runner};
use healthcheck::spec::{CheckKey, CheckSpec, Kind, Policy};
use healthcheck::{CheckOutcome, Reason};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

const S: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn server_outage_seen_through_retry_fall_and_rise() {
    let t0 = Instant::now();
    // The simulated server is dead during [10 s, 40 s).
    let attempts: Arc<Mutex<Vec<(Duration, bool)>>> = Arc::default();
    let log = attempts.clone();
    let runner: Runner = Arc::new(move |_spec: Arc<CheckSpec>| {
        let log = log.clone();
        Box::pin(async move {
            let at = Instant::now() - t0;
            let alive = !(10 * S..40 * S).contains(&at);
            // Each attempt takes 10 ms of virtual time.
            tokio::time::sleep(Duration::from_millis(10)).await;
            log.lock().unwrap().push((at, alive));
            if alive {
                CheckOutcome::up(Reason::Ok, Duration::from_millis(10))
            } else {
                CheckOutcome::down(Reason::Refused, Duration::from_millis(10))
            }
        })
    });
    let policy = Policy {
        delay_loop: 5 * S,
        retry: 1,
        delay_before_retry: S,
        warmup: Duration::ZERO,
        alpha: false,
        rise: 2,
        fall: 2,
    };
    let mut checks = Checks::new(11);
    let spec = CheckSpec {
        target: "192.0.2.1:80".parse().unwrap(),
        local: Default::default(),
        connect_timeout: S,
        kind: Kind::Tcp,
    };
    checks.add(CheckKey { spec, policy }, (), t0.into_std());
    let (tx, mut rx) = mpsc::channel(16);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(driver::run_with(
        checks,
        4,
        tx,
        async {
            let _ = stopped.await;
        },
        runner,
    ));

    let down = rx.recv().await.unwrap();
    let down_at = Instant::now() - t0;
    assert!(!down.change.up);
    let up = rx.recv().await.unwrap();
    let up_at = Instant::now() - t0;
    assert!(up.change.up);
    tokio::time::sleep_until(t0 + 60 * S).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(rx.recv().await.is_none(), "exactly one down and one up");

    let attempts = attempts.lock().unwrap().clone();
    let first_fail = attempts.iter().position(|(_, ok)| !ok).unwrap();
    let fails: Vec<Duration> = attempts[first_fail..]
        .iter()
        .take_while(|(_, ok)| !ok)
        .map(|(at, _)| *at)
        .collect();
    // Timers run from when an attempt was due, not from its end (each
    // takes 10 ms here): the attempt's time does not stretch the interval.
    // While up: fail, retry 1 s later (check 1 failed), next check a
    // jittered delay_loop later, retry 1 s later (check 2 failed: fall 2).
    assert_eq!(fails[1] - fails[0], S);
    let gap = fails[2] - fails[1];
    assert!(
        gap >= Duration::from_millis(4750) && gap <= Duration::from_millis(5250),
        "{gap:?}"
    );
    assert_eq!(fails[3] - fails[2], S);
    // Down is reported when the fourth failed attempt ends.
    assert_eq!(down_at, fails[3] + Duration::from_millis(10));
    // While down, no early retries.
    for w in fails[3..].windows(2) {
        assert!(w[1] - w[0] >= Duration::from_millis(4750), "{:?}", w);
    }
    // Back up after two successful checks (rise 2).
    let back: Vec<Duration> = attempts
        .iter()
        .filter(|(at, ok)| *ok && *at >= 40 * S)
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(up_at, back[1] + Duration::from_millis(10));
    assert!(back[0] - 40 * S <= Duration::from_millis(5250));
}
