#![allow(clippy::unwrap_used)]
//! TCP_CHECK through the driver's own loop (`tcp_batch`): no task, timer
//! or runtime registration per attempt, and the same verdicts, deadlines
//! and bound on concurrent attempts as the checks that run as tasks.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthcheck::driver::{self, Checks, Observer, Update};
use healthcheck::spec::{CheckKey, CheckSpec, Kind, Local, Policy};
use healthcheck::{CheckOutcome, Reason};
use socket2::{Domain, Socket, Type};
use tokio::sync::{mpsc, oneshot};

fn policy(alpha: bool, delay_loop: Duration) -> Policy {
    Policy {
        delay_loop,
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        warmup: Duration::ZERO,
        alpha,
        rise: 1,
        fall: 1,
    }
}

fn tcp(target: SocketAddr, timeout_ms: u64) -> CheckSpec {
    common::spec(target, timeout_ms, Kind::Tcp)
}

/// A port bound but not listening: connects to it are refused.
fn refusing() -> (Socket, SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    (s, addr)
}

/// A listener whose accept queue is full (backlog 0, never accepted): the
/// kernel drops further SYNs, so a connect to it never completes.
fn blackhole() -> (Socket, Vec<std::net::TcpStream>, SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(c);
        }
    }
    (s, fillers, addr)
}

/// Every attempt the driver finished: (subscriber's port, started,
/// outcome).
type Log = Arc<Mutex<Vec<(u16, Instant, CheckOutcome)>>>;

fn observer(log: &Log) -> Observer {
    let log = log.clone();
    Arc::new(move |spec: &CheckSpec, started, out: &CheckOutcome| {
        log.lock()
            .unwrap()
            .push((spec.target.port(), started, out.clone()));
    })
}

/// Run `checks` (subscribers: their index) until `n` updates came, then
/// stop; the updates and the checks' stats.
async fn run_until(
    checks: Checks<usize>,
    max_concurrent: usize,
    n: usize,
    log: &Log,
) -> (Vec<Update<usize>>, Vec<healthcheck::stats::CheckStats>) {
    let stats = checks.stats();
    let (tx, mut rx) = mpsc::channel(1024);
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(driver::run_observed(
        checks,
        max_concurrent,
        tx,
        async {
            let _ = stopped.await;
        },
        observer(log),
    ));
    let mut updates = Vec::new();
    for _ in 0..n {
        let u = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
        updates.push(u);
    }
    stop.send(()).unwrap();
    run.await.unwrap();
    (updates, stats.snapshot())
}

#[tokio::test]
async fn open_refused_and_unanswered_ports() {
    open_refused_and_unanswered().await;
}

/// The same on two workers: there the batch's epoll is in tokio's only
/// while the loop waits (see `TcpBatch::unwatch`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_refused_and_unanswered_ports_multi_thread() {
    open_refused_and_unanswered().await;
}

async fn open_refused_and_unanswered() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (_closed, closed) = refusing();
    let (_l, _fillers, black) = blackhole();
    let hour = Duration::from_secs(3600);
    let now = Instant::now();
    let mut checks = Checks::new(1);
    // The open one starts down (alpha) so that its success is an update;
    // the two others start up so that their failure is.
    checks.add(
        CheckKey {
            spec: tcp(open.local_addr().unwrap(), 2000),
            policy: policy(true, hour),
        },
        0,
        now,
    );
    checks.add(
        CheckKey {
            spec: tcp(closed, 2000),
            policy: policy(false, hour),
        },
        1,
        now,
    );
    checks.add(
        CheckKey {
            spec: tcp(black, 300),
            policy: policy(false, hour),
        },
        2,
        now,
    );
    let log = Log::default();
    let (mut updates, stats) = run_until(checks, 16, 3, &log).await;
    updates.sort_by_key(|u| u.subscribers[0]);
    let got: Vec<_> = updates
        .iter()
        .map(|u| (u.subscribers[0], u.change.up, u.outcome.reason.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (0, true, Reason::Ok),
            (1, false, Reason::Refused),
            (2, false, Reason::Timeout)
        ]
    );
    // The timeout was not declared before the deadline.
    assert!(updates[2].outcome.latency >= Duration::from_millis(300));
    let by_class = |i: usize, class: &str| stats[i].downs_by_reason.get(class).copied();
    assert_eq!(stats[0].ups, 1);
    assert_eq!(by_class(1, "refused"), Some(1));
    assert_eq!(by_class(2, "timeout"), Some(1));
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn local_options_are_applied() {
    // bindto: 127.0.0.2 is local (the whole of 127/8 is), 192.0.2.1 is
    // not, so binding to it fails before anything is sent; bind_if lo
    // works, an interface that does not exist fails.
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = open.local_addr().unwrap();
    let locals = [
        (
            Local {
                addr: Some("127.0.0.2:0".parse().unwrap()),
                ..Default::default()
            },
            true,
        ),
        (
            Local {
                addr: Some("192.0.2.1:0".parse().unwrap()),
                ..Default::default()
            },
            false,
        ),
        (
            Local {
                interface: Some("lo".into()),
                fwmark: Some(7),
                ..Default::default()
            },
            true,
        ),
        (
            Local {
                interface: Some("nosuchif0".into()),
                ..Default::default()
            },
            false,
        ),
    ];
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but not root: SO_BINDTODEVICE and SO_MARK need CAP_NET_ADMIN/RAW");
        }
        eprintln!("SKIPPED local_options_are_applied: not root");
        return;
    }
    let now = Instant::now();
    let mut checks = Checks::new(2);
    for (i, (local, up)) in locals.iter().enumerate() {
        let mut spec = tcp(target, 2000);
        spec.local = local.clone();
        // Each one starts in the state it must leave, so each sends one
        // update.
        checks.add(
            CheckKey {
                spec,
                policy: policy(*up, Duration::from_secs(3600)),
            },
            i,
            now,
        );
    }
    let log = Log::default();
    let (mut updates, _) = run_until(checks, 16, locals.len(), &log).await;
    updates.sort_by_key(|u| u.subscribers[0]);
    for (u, (local, up)) in updates.iter().zip(&locals) {
        assert_eq!(u.change.up, *up, "{local:?}: {:?}", u.outcome);
        if !up {
            // Refused by bind() / SO_BINDTODEVICE: an I/O error at once,
            // not a timeout.
            assert_eq!(u.outcome.reason.class(), "io", "{local:?}: {:?}", u.outcome);
        }
    }
}

#[test]
fn a_late_loop_does_not_turn_live_backends_into_timeouts() {
    // The loop is held for longer than the connect_timeout of the TCP
    // checks it has in flight, as a starved process is; the kernel
    // completed every handshake in time, so no check may be reported
    // down. When the loop comes back, its timer and its socket events are
    // both ready and it picks one at random: several rounds, so that the
    // timer comes first in some of them (and only the deadline rule can
    // keep the answers from being called timeouts).
    for _ in 0..8 {
        late_loop_round();
    }
}

fn late_loop_round() {
    const N: usize = 50;
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = open.local_addr().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let mut checks = Checks::new(3);
        for i in 0..N {
            // Distinct timeouts make distinct checks of one target.
            checks.add(
                CheckKey {
                    spec: tcp(target, 100 + i as u64),
                    policy: policy(false, hour),
                },
                i,
                now,
            );
        }
        // Started last in the same turn (same due time, higher id): its
        // bind fails at once, and the observer holds the loop's thread
        // when it sees that verdict, with the fifty connects in flight.
        let mut staller = tcp(target, 100);
        staller.local.addr = Some("192.0.2.1:0".parse().unwrap());
        checks.add(
            CheckKey {
                spec: staller,
                policy: policy(true, hour),
            },
            N,
            now,
        );
        let stats = checks.stats();
        let log = Log::default();
        let record = observer(&log);
        let observe: Observer = Arc::new(move |spec: &CheckSpec, started, out: &CheckOutcome| {
            if spec.local.addr.is_some() {
                std::thread::sleep(Duration::from_millis(400));
            } else {
                record(spec, started, out);
            }
        });
        let (tx, _rx) = mpsc::channel(1024);
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(driver::run_observed(
            checks,
            N + 1,
            tx,
            async {
                let _ = stopped.await;
            },
            observe,
        ));
        let end = Instant::now() + Duration::from_secs(30);
        while log.lock().unwrap().len() < N && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(()).unwrap();
        run.await.unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), N);
        let down: Vec<_> = log.iter().filter(|(_, _, o)| !o.up).collect();
        assert!(
            down.is_empty(),
            "{} of {N} live backends reported down: {:?}",
            down.len(),
            down[0]
        );
        // Every verdict was given after the attempt's deadline had passed.
        for (_, _, o) in log.iter() {
            assert!(o.latency >= Duration::from_millis(150), "{o:?}");
        }
        let snap = stats.snapshot();
        assert!(snap.iter().take(N).all(|s| s.downs() == 0));
    });
}

#[tokio::test]
async fn max_concurrent_bounds_tcp_attempts_and_late_starts_are_missed() {
    // Eight unanswered connects of 300 ms, at most two at a time, all due
    // at once with a 1 s interval: they run in four waves. The last waves
    // start 600 ms and more after they were due, more than half an
    // interval: missed intervals, as the stats must say.
    let (_l, _fillers, black) = blackhole();
    let now = Instant::now();
    let mut checks = Checks::new(4);
    for i in 0..8 {
        checks.add(
            CheckKey {
                spec: tcp(black, 300 + i),
                policy: policy(false, Duration::from_secs(1)),
            },
            i as usize,
            now,
        );
    }
    let log = Log::default();
    let (updates, stats) = run_until(checks, 2, 8, &log).await;
    assert!(updates
        .iter()
        .all(|u| !u.change.up && u.outcome.reason == Reason::Timeout));
    let log = log.lock().unwrap().clone();
    // Intervals [started, started + latency] of the first eight attempts:
    // never more than two at once (a place is freed when the verdict is
    // given, before the next attempt starts).
    let spans: Vec<(Instant, Instant)> = log
        .iter()
        .take(8)
        .map(|(_, s, o)| (*s, *s + o.latency))
        .collect();
    let most = spans
        .iter()
        .map(|(s, _)| spans.iter().filter(|(a, b)| a <= s && s < b).count())
        .max()
        .unwrap();
    assert_eq!(most, 2, "{spans:?}");
    let missed: u64 = stats.iter().map(|s| s.missed).sum();
    assert!(
        missed >= 4,
        "the third and fourth waves started late: {missed} missed"
    );
}

#[tokio::test]
async fn tcp_and_task_checks_share_the_bound() {
    // Two unanswered TCP connects hold both places: an HTTP check due at
    // the same time waits for one of them (its attempt starts after the
    // first TCP verdict), and still passes.
    let (_l, _fillers, black) = blackhole();
    let srv = common::http_server(common::Reply::Full(200, b"ok")).await;
    let now = Instant::now();
    let mut checks = Checks::new(5);
    let hour = Duration::from_secs(3600);
    for i in 0..2 {
        checks.add(
            CheckKey {
                spec: tcp(black, 400 + i),
                policy: policy(false, hour),
            },
            i as usize,
            now,
        );
    }
    // Added last: the schedule hands out due checks in id order when
    // they are due at the same instant.
    checks.add(
        CheckKey {
            spec: common::spec(
                srv.addr,
                2000,
                common::http_kind(false, "/", None, Vec::new()),
            ),
            policy: policy(true, hour),
        },
        2,
        now,
    );
    let log = Log::default();
    let (updates, _) = run_until(checks, 2, 3, &log).await;
    let http = updates.iter().find(|u| u.subscribers == [2]).unwrap();
    assert!(http.change.up, "{:?}", http.outcome);
    let log = log.lock().unwrap().clone();
    let first_tcp_end = log
        .iter()
        .filter(|(p, _, _)| *p == black.port())
        .map(|(_, s, o)| *s + o.latency)
        .min()
        .unwrap();
    let http_start = log
        .iter()
        .find(|(p, _, _)| *p == srv.addr.port())
        .map(|(_, s, _)| *s)
        .unwrap();
    assert!(
        http_start >= first_tcp_end,
        "the HTTP attempt started while both places were held"
    );
}
