//! How long after a tracked process exits does `vrrp_track_process`'s
//! reading change? Measured through the proc connector and through the
//! once-a-second scan it falls back to, with the watcher tasks the daemon
//! runs. The clock starts when SIGKILL is sent (so it includes the
//! kernel's delivery of the signal) and stops when the watcher reports a
//! count of 0; kills are spread over the scan's one-second period. Needs
//! root in the initial namespaces for the connector.
//!
//! ```sh
//! cargo run --release -p vrrpd --example proc_exit_latency [RUNS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vrrpd::net::Netlink;
use vrrpd::track::TrackedProcess;
use vrrpd::watch::{TrackInput, WatchSpec};

async fn next(rx: &mut mpsc::Receiver<TrackInput>) -> usize {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(TrackInput::Process { count, .. })) => return count,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("watcher ended"),
            Err(_) => panic!("no reading within 5 s"),
        }
    }
}

/// One run: start a uniquely named process, wait until it is counted,
/// kill it, time until the count is 0.
async fn once(netlink: &Netlink, poll: bool, n: usize) -> Duration {
    let arg = format!("{}.{n}", 7000 + std::process::id() % 10_000);
    let mut child = std::process::Command::new("/bin/sleep")
        .arg(&arg)
        .spawn()
        .unwrap();
    let tracked = TrackedProcess {
        name: "p".into(),
        process: "/bin/sleep".into(),
        params: vec![arg],
        param_match: conf::model::ParamMatch::Exact,
        full_command: true,
        quorum: 1,
        quorum_max: None,
    };
    let (tx, mut rx) = mpsc::channel(64);
    let spec = WatchSpec {
        processes: vec![tracked],
        poll_processes: poll,
        ..WatchSpec::default()
    };
    let watchers = spec.spawn(netlink, tx).await;
    while next(&mut rx).await == 0 {}
    // Exits come at any moment: spread the kill over the scan's second
    // (0, 370, 740, 110, ... ms after the first reading) so the scan's
    // figures are not all its worst or best case.
    tokio::time::sleep(Duration::from_millis((n as u64 * 37 % 100) * 10)).await;
    let t0 = Instant::now();
    child.kill().unwrap();
    // Reap it as its parent would (a zombie has no command line left, but
    // reaping keeps the table clean between runs).
    let reap = tokio::task::spawn_blocking(move || child.wait());
    while next(&mut rx).await != 0 {}
    let took = t0.elapsed();
    reap.await.unwrap().unwrap();
    drop(watchers);
    took
}

fn summary(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    println!(
        "{label:<16} runs {:>3}  p50 {:>8.3} ms  mean {:>8.3} ms  max {:>8.3} ms  min {:>8.3} ms",
        v.len(),
        ms(v[v.len() / 2]),
        mean,
        ms(v[v.len() - 1]),
        ms(v[0]),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let netlink = Netlink::new().unwrap();
    match vrrpd::net::proc_events::ProcEvents::subscribe().await {
        Ok(_) => {
            let mut v = Vec::new();
            for n in 0..runs {
                v.push(once(&netlink, false, n).await);
            }
            summary("proc connector", v);
        }
        Err(e) => println!("proc connector unavailable here ({e}): only the scan is measured"),
    }
    let mut v = Vec::new();
    for n in 0..runs {
        v.push(once(&netlink, true, runs + n).await);
    }
    summary("1 s /proc scan", v);
}
