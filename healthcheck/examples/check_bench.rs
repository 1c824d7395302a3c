//! Benchmark (not a test): our checker against haproxy on the same backends.
//!
//! ```text
//! cargo run --release -p healthcheck --example check_bench -- \
//!     [--tcp N] [--http N] [--seconds|--secs S] [--warmup W] [--rt mt,ct,mt+rst,ct+rst]
//!     [--haproxy PATH | --no-haproxy] [--haproxy-nbthread N] [--no-netns]
//!     [--max-concurrent N]
//! ```
//!
//! Three processes, so that no side pays for another's sockets, memory or
//! CPU:
//!
//! - `--serve` (a re-exec of this binary): the backends. TCP ones accept and
//!   close, HTTP ones answer `HTTP/1.0 200` with a 3-byte body. Each backend
//!   is its own (127.0.0.x, port): 2,000 ports per loopback address. It
//!   counts the connections it accepts per backend (gaps between two
//!   checks). Both checkers' TCP checks reset the connection before it is
//!   accepted, so only the HTTP backends see them; the namespace's connect
//!   count (`conn/s`) is the yardstick for both.
//! - `--ours mt|ct` (a re-exec): a keepalived.conf with one virtual server
//!   for the TCP_CHECK real servers and one for the HTTP_GET ones
//!   (`delay_loop 1`, `connect_timeout 2`), `Engine::from_config`, and the
//!   engine's checks run by `driver::run_observed` (the library's driver,
//!   every attempt shown to a recorder: latency, gap since the previous
//!   one); `+rst` variants by `driver::run_with` with a runner that
//!   replaces TCP_CHECK.
//!   The pools are left out: with every backend up they see no event.
//! - haproxy (`-db`, in the foreground) with the same servers, `check inter
//!   1s` (`option httpchk GET /` for the HTTP ones).
//!
//! The sides run one after the other for `S` seconds each after `W` seconds
//! of warm-up, against the same backend process. A "missed interval" is a
//! backend whose two consecutive checks were more than 1.5 s apart (also a
//! backend not checked in the first or last 1.5 s of the window).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use hdrhistogram::Histogram;
use healthcheck::driver::{self, Runner};
use healthcheck::engine::Engine;
use healthcheck::spec::CheckSpec;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout, Command};

/// Ports per loopback address, from [`BASE_PORT`]: below the ephemeral
/// range (32768-60999), so no check's source port can collide.
const PER_IP: usize = 2000;
const BASE_PORT: u16 = 20000;
/// A gap longer than this between two checks of one backend is a missed
/// interval (interval 1 s; ours adds ±5 % jitter, haproxy a random spread).
const MISSED_GAP: Duration = Duration::from_millis(1500);
const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";

/// How our side runs: the tokio runtime, and whether TCP_CHECK closes with
/// an RST (`+rst`: SO_LINGER 0, as haproxy does) instead of the library's
/// plain close, which leaves the socket in TIME_WAIT on the checker's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Variant {
    multi_thread: bool,
    rst: bool,
}

impl Variant {
    fn name(self) -> String {
        let rt = if self.multi_thread { "mt" } else { "ct" };
        if self.rst {
            format!("{rt}+rst")
        } else {
            rt.to_owned()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Orchestrate,
    Serve,
    Ours(Variant),
}

#[derive(Debug, Clone)]
struct Args {
    mode: Mode,
    tcp: usize,
    http: usize,
    seconds: u64,
    warmup: u64,
    variants: Vec<Variant>,
    haproxy: Option<PathBuf>,
    haproxy_nbthread: Option<u32>,
    /// Our driver's bound on concurrent attempts.
    max_concurrent: usize,
    netns: bool,
}

/// `mt`, `ct`, `mt+rst`, `ct+rst`, comma-separated; `both` = `mt,ct`.
fn parse_variants(s: &str) -> anyhow::Result<Vec<Variant>> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let (multi_thread, rst) = match item {
            "mt" => (true, false),
            "ct" => (false, false),
            "mt+rst" => (true, true),
            "ct+rst" => (false, true),
            "both" => {
                out.extend(parse_variants("mt,ct")?);
                continue;
            }
            _ => bail!("--rt expects mt, ct, mt+rst, ct+rst or both, not {item:?}"),
        };
        out.push(Variant { multi_thread, rst });
    }
    Ok(out)
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        mode: Mode::Orchestrate,
        tcp: 10_000,
        http: 2_000,
        seconds: 60,
        warmup: 3,
        variants: parse_variants("mt,ct")?,
        haproxy: Some(PathBuf::from("/usr/sbin/haproxy")),
        haproxy_nbthread: None,
        max_concurrent: driver::DEFAULT_MAX_CONCURRENT,
        netns: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--tcp" => a.tcp = value()?.parse().context("--tcp")?,
            "--http" => a.http = value()?.parse().context("--http")?,
            "--seconds" | "--secs" => a.seconds = value()?.parse().context("--seconds")?,
            "--warmup" => a.warmup = value()?.parse().context("--warmup")?,
            "--rt" => a.variants = parse_variants(&value()?)?,
            "--haproxy" => a.haproxy = Some(PathBuf::from(value()?)),
            "--no-haproxy" => a.haproxy = None,
            "--no-netns" => a.netns = false,
            "--max-concurrent" => {
                a.max_concurrent = value()?.parse().context("--max-concurrent")?
            }
            "--haproxy-nbthread" => {
                a.haproxy_nbthread = Some(value()?.parse().context("--haproxy-nbthread")?)
            }
            "--serve" => a.mode = Mode::Serve,
            "--ours" => {
                let v = parse_variants(&value()?)?;
                match v.as_slice() {
                    [one] => a.mode = Mode::Ours(*one),
                    _ => bail!("--ours expects one variant"),
                }
            }
            "-h" | "--help" => {
                println!(
                    "check_bench [--tcp N] [--http N] [--seconds S] [--warmup W] \
                     [--rt mt,ct,mt+rst,ct+rst] [--haproxy PATH | --no-haproxy] [--haproxy-nbthread N] [--no-netns] [--max-concurrent N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if a.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let ips = a.tcp.div_ceil(PER_IP) + a.http.div_ceil(PER_IP);
    if ips > 250 {
        bail!("too many backends: {ips} loopback addresses needed, 250 available");
    }
    Ok(a)
}

/// Backend `g` (TCP ones first, HTTP ones from the next whole address).
fn backend_addr(g: usize) -> SocketAddr {
    // Bounded by parse_args: at most 250 addresses of PER_IP ports.
    let ip = Ipv4Addr::new(127, 0, 0, (2 + g / PER_IP) as u8);
    SocketAddr::V4(SocketAddrV4::new(ip, BASE_PORT + (g % PER_IP) as u16))
}

/// The `g` of a [`backend_addr`].
fn backend_index(a: SocketAddr) -> Option<usize> {
    let SocketAddr::V4(a) = a else { return None };
    let [127, 0, 0, last] = a.ip().octets() else {
        return None;
    };
    let port = usize::from(a.port().checked_sub(BASE_PORT)?);
    if port >= PER_IP {
        return None;
    }
    Some(usize::from(last.checked_sub(2)?) * PER_IP + port)
}

fn tcp_backends(a: &Args) -> std::ops::Range<usize> {
    0..a.tcp
}

fn http_backends(a: &Args) -> std::ops::Range<usize> {
    let first = a.tcp.div_ceil(PER_IP) * PER_IP;
    first..first + a.http
}

/// Raise the soft open-files limit to the hard one (20,000 here).
fn raise_nofile() -> anyhow::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(hard)
}

fn self_cpu() -> anyhow::Result<Duration> {
    let (user, sys) = self_cpu_split()?;
    Ok(user + sys)
}

/// (user, system) CPU time of this process.
fn self_cpu_split() -> anyhow::Result<(Duration, Duration)> {
    use nix::sys::resource::{getrusage, UsageWho};
    let u = getrusage(UsageWho::RUSAGE_SELF)?;
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    Ok((tv(u.user_time()), tv(u.system_time())))
}

/// (utime, stime) of `pid` from /proc (USER_HZ is 100 on Linux).
fn proc_cpu(pid: u32) -> anyhow::Result<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may
    // contain spaces: state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(f.get(i).context("short /proc stat")?.parse::<u64>()?)
    };
    Ok((
        Duration::from_millis(ticks(11)? * 10),
        Duration::from_millis(ticks(12)? * 10),
    ))
}

/// Time the threads of `pid` spent runnable but waiting for a CPU (second
/// field of /proc/PID/task/*/schedstat): how much the rest of the machine
/// held the process back.
fn runq_wait(pid: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

/// (VmRSS, VmHWM) in KiB.
fn proc_rss(pid: &str) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("bad status line")?
            .parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Move this (still single-threaded) process into a new, anonymous network
/// namespace with `lo` up: the children inherit it, so the loopback traffic
/// is only the benchmark's, the namespace's TCP counters count exactly the
/// checkers' connects, and the namespace is gone when the last process exits.
fn enter_netns() -> anyhow::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    // Set-up code: a shell-out to ip(8) is acceptable here.
    let st = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .context("ip link set lo up")?;
    if !st.success() {
        bail!("ip link set lo up: {st}");
    }
    Ok(())
}

/// `Tcp: ActiveOpens` of this network namespace: every connect() the
/// checkers made, whether or not the backend ever saw it (haproxy's TCP
/// checks end in a RST before the handshake completes, so the backend
/// process cannot count them).
fn active_opens() -> anyhow::Result<u64> {
    let snmp = std::fs::read_to_string("/proc/self/net/snmp")?;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (
        tcp.next().context("no Tcp: header")?,
        tcp.next().context("no Tcp: values")?,
    );
    let i = names
        .split_whitespace()
        .position(|n| n == "ActiveOpens")
        .context("no ActiveOpens")?;
    Ok(values
        .split_whitespace()
        .nth(i)
        .context("short Tcp: line")?
        .parse()?)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if args.mode == Mode::Orchestrate && args.netns {
        enter_netns()?;
    }
    match args.mode {
        Mode::Serve => serve(&args),
        Mode::Ours(v) => ours(&args, v),
        Mode::Orchestrate => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(orchestrate(args)),
    }
}

// ---------------------------------------------------------------- backends

/// Connections seen per backend, in nanoseconds since `base`.
struct Seen {
    base: Instant,
    last: Vec<AtomicU64>,
    /// Backends from this index on are HTTP ones.
    first_http: usize,
    total: AtomicU64,
    missed_tcp: AtomicU64,
    missed_http: AtomicU64,
}

impl Seen {
    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn hit(&self, g: usize) {
        let now = self.now();
        if let Some(last) = self.last.get(g) {
            let prev = last.swap(now, Ordering::Relaxed);
            if now.saturating_sub(prev) > MISSED_GAP.as_nanos() as u64 {
                self.missed(g).fetch_add(1, Ordering::Relaxed);
            }
        }
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    fn missed(&self, g: usize) -> &AtomicU64 {
        if g >= self.first_http {
            &self.missed_http
        } else {
            &self.missed_tcp
        }
    }

    /// Start a window: every backend counts as just checked, so one not
    /// checked in the first 1.5 s is a miss.
    fn reset(&self) {
        let now = self.now();
        for l in &self.last {
            l.store(now, Ordering::Relaxed);
        }
        self.total.store(0, Ordering::Relaxed);
        self.missed_tcp.store(0, Ordering::Relaxed);
        self.missed_http.store(0, Ordering::Relaxed);
    }

    /// (connections, missed intervals of TCP backends, of HTTP backends)
    /// of the window so far, counting the backends (among `live`) not
    /// checked in the last 1.5 s as misses.
    fn report(&self, live: &[usize]) -> (u64, u64, u64) {
        let now = self.now();
        let (mut tcp, mut http) = (0, 0);
        for g in live {
            let Some(l) = self.last.get(*g) else { continue };
            if now.saturating_sub(l.load(Ordering::Relaxed)) > MISSED_GAP.as_nanos() as u64 {
                if *g >= self.first_http {
                    http += 1;
                } else {
                    tcp += 1;
                }
            }
        }
        (
            self.total.load(Ordering::Relaxed),
            self.missed_tcp.load(Ordering::Relaxed) + tcp,
            self.missed_http.load(Ordering::Relaxed) + http,
        )
    }
}

fn serve(args: &Args) -> anyhow::Result<()> {
    raise_nofile()?;
    // One thread: the backends must not take both cores from the checker.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let max = http_backends(args).end.max(args.tcp);
        let seen = Arc::new(Seen {
            base: Instant::now(),
            last: (0..max).map(|_| AtomicU64::new(0)).collect(),
            first_http: http_backends(args).start,
            total: AtomicU64::new(0),
            missed_tcp: AtomicU64::new(0),
            missed_http: AtomicU64::new(0),
        });
        let mut live = Vec::new();
        let mut failed = 0usize;
        let mut first_error = String::new();
        let all = tcp_backends(args)
            .map(|g| (g, false))
            .chain(http_backends(args).map(|g| (g, true)));
        for (g, http) in all {
            let l = match tokio::net::TcpListener::bind(backend_addr(g)).await {
                Ok(l) => l,
                Err(e) => {
                    if first_error.is_empty() {
                        first_error = format!("{}: {e}", backend_addr(g));
                    }
                    failed += 1;
                    continue;
                }
            };
            live.push(g);
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    match l.accept().await {
                        Ok((s, _)) => {
                            seen.hit(g);
                            if http {
                                tokio::spawn(answer(s));
                            }
                        }
                        // EMFILE and the like: back off instead of spinning.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            });
        }
        if failed > 0 {
            eprintln!("serve: {failed} listeners failed, first: {first_error}");
        }
        println!("ready {} {failed}", live.len());
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(cmd)) = lines.next_line().await {
            match cmd.trim() {
                "reset" => {
                    seen.reset();
                    println!("ok {}", self_cpu()?.as_micros());
                }
                "report" => {
                    let (total, tcp, http) = seen.report(&live);
                    println!("report {total} {tcp} {http} {}", self_cpu()?.as_micros());
                }
                other => eprintln!("serve: unknown command {other:?}"),
            }
        }
        // stdin closed: the orchestrator is done.
        Ok(())
    })
}

async fn answer(mut s: tokio::net::TcpStream) {
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    let read_request = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    got.extend_from_slice(buf.get(..n).unwrap_or_default());
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        return true;
                    }
                    if got.len() > 16 * 1024 {
                        return false;
                    }
                }
            }
        }
    };
    if let Ok(true) = tokio::time::timeout(Duration::from_secs(5), read_request).await {
        let _ = s.write_all(HTTP_RESPONSE).await;
        let _ = s.shutdown().await;
    }
}

// ---------------------------------------------------------------- our side

fn keepalived_conf(args: &Args) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity((args.tcp + args.http) * 160);
    let _ = writeln!(
        out,
        "virtual_server 192.0.2.1 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP"
    );
    for g in tcp_backends(args) {
        let a = backend_addr(g);
        let _ = writeln!(
            out,
            "    real_server {} {} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 2\n        }}\n    }}",
            a.ip(),
            a.port()
        );
    }
    let _ = writeln!(out, "}}");
    let _ = writeln!(
        out,
        "virtual_server 192.0.2.2 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP"
    );
    for g in http_backends(args) {
        let a = backend_addr(g);
        let _ = writeln!(
            out,
            "    real_server {} {} {{\n        weight 1\n        HTTP_GET {{\n            url {{\n                path /\n                status_code 200\n            }}\n            connect_timeout 2\n        }}\n    }}",
            a.ip(),
            a.port()
        );
    }
    let _ = writeln!(out, "}}");
    out
}

struct Recorder {
    inner: Mutex<RecInner>,
}

struct RecInner {
    measuring: bool,
    last_start: Vec<Option<Instant>>,
    latency_us: Histogram<u64>,
    attempts: u64,
    failed: u64,
    missed: u64,
    first_failure: Option<String>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, target: SocketAddr, started: Instant, out: &healthcheck::CheckOutcome) {
        // Inline arithmetic, not a map: this runs for every attempt and is
        // charged to our side's CPU.
        let Some(i) = backend_index(target) else {
            return;
        };
        let mut r = self.lock();
        let prev = r.last_start.get_mut(i).and_then(|s| s.replace(started));
        if !r.measuring {
            return;
        }
        if prev.is_some_and(|p| started.saturating_duration_since(p) > MISSED_GAP) {
            r.missed += 1;
        }
        r.attempts += 1;
        let us = out.latency.as_micros().clamp(1, u128::from(u64::MAX)) as u64;
        let us = us.min(r.latency_us.high());
        let _ = r.latency_us.record(us);
        if !out.up {
            r.failed += 1;
            if r.first_failure.is_none() {
                r.first_failure = Some(format!("{target}: {}", out.reason));
            }
        }
    }

    fn start_window(&self) {
        let now = Instant::now();
        let mut r = self.lock();
        r.measuring = true;
        for s in r.last_start.iter_mut() {
            *s = Some(now);
        }
        r.latency_us.reset();
        r.attempts = 0;
        r.failed = 0;
        r.missed = 0;
        r.first_failure = None;
    }
}

/// A full TCP handshake (`check::tcp::connect`) closed with an RST
/// (SO_LINGER 0). The library's TCP_CHECK now goes further (no final ACK,
/// the backend never accepts); this variant is kept to compare the two.
async fn tcp_check_rst(spec: &CheckSpec) -> healthcheck::CheckOutcome {
    use healthcheck::{CheckOutcome, Reason};
    let start = Instant::now();
    let connect = healthcheck::check::tcp::connect(spec.target, &spec.local);
    match tokio::time::timeout(spec.connect_timeout, connect).await {
        Ok(Ok(stream)) => {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            CheckOutcome::up(Reason::Ok, start.elapsed())
        }
        Ok(Err(e)) => CheckOutcome::down(Reason::from_io(&e), start.elapsed()),
        Err(_) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
    }
}

/// One run of our checker, in its own process (clean CPU and RSS figures).
/// Protocol on stdout: `start` when the window opens, then one `result
/// key=value ...` line.
fn ours(args: &Args, variant: Variant) -> anyhow::Result<()> {
    raise_nofile()?;
    let text = keepalived_conf(args);
    let loaded = conf::load_keepalived_str("bench.conf", &text, &conf::ParseOptions::default());
    if !loaded.is_ok() {
        bail!("generated config rejected: {:?}", loaded.diagnostics);
    }
    let runtime = if variant.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()?;
    let config = loaded.config;
    runtime.block_on(async move {
        let engine = Engine::from_config(&config, 1, 1, Instant::now(), 7);
        drop(config);
        let checks = engine.checks;
        // The driver's own count of late starts (healthcheck::stats), next
        // to the benchmark's gap count, to check one against the other.
        let stats = checks.stats();
        let backends: Vec<usize> = tcp_backends(args).chain(http_backends(args)).collect();
        let rec = Arc::new(Recorder {
            inner: Mutex::new(RecInner {
                measuring: false,
                last_start: vec![None; http_backends(args).end],
                latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
                attempts: 0,
                failed: 0,
                missed: 0,
                first_failure: None,
            }),
        });
        let n_checks = checks.len();
        let (utx, mut urx) = tokio::sync::mpsc::channel(1024);
        let changes = tokio::spawn(async move {
            let mut n = 0u64;
            while urx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async {
            let _ = stop_rx.await;
        };
        let driver = if variant.rst {
            // Every attempt through our runner, TCP_CHECK replaced.
            let ctx = Arc::new(healthcheck::check::Context::new());
            let rec = rec.clone();
            let runner: Runner = Arc::new(move |spec: Arc<CheckSpec>| {
                let ctx = ctx.clone();
                let rec = rec.clone();
                Box::pin(async move {
                    let started = Instant::now();
                    let out = if spec.kind == healthcheck::Kind::Tcp {
                        // Boxed: its future would otherwise size every attempt.
                        Box::pin(tcp_check_rst(&spec)).await
                    } else {
                        ctx.run(&spec).await
                    };
                    rec.record(spec.target, started, &out);
                    out
                })
            });
            tokio::spawn(driver::run_with(checks, args.max_concurrent, utx, stop, runner))
        } else {
            // The library's own driver (TCP_CHECK in its loop, the others
            // as tasks), every attempt shown to the recorder.
            let rec = rec.clone();
            let observer: driver::Observer = Arc::new(move |spec, started, out| {
                rec.record(spec.target, started, out);
            });
            tokio::spawn(driver::run_observed(checks, args.max_concurrent, utx, stop, observer))
        };
        tokio::time::sleep(Duration::from_secs(args.warmup)).await;
        println!("start");
        let (user0, sys0) = self_cpu_split()?;
        let rq0 = runq_wait("self");
        let t0 = Instant::now();
        rec.start_window();
        let missed0: u64 = stats.snapshot().iter().map(|s| s.missed).sum();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let (user1, sys1) = self_cpu_split()?;
        let rq1 = runq_wait("self");
        let elapsed = t0.elapsed();
        let stats_missed = stats
            .snapshot()
            .iter()
            .map(|s| s.missed)
            .sum::<u64>()
            .saturating_sub(missed0);
        let (rss, hwm) = proc_rss("self")?;
        let result = {
            let now = Instant::now();
            let mut r = rec.lock();
            r.measuring = false;
            let tail = backends
                .iter()
                .filter_map(|g| r.last_start.get(*g))
                .filter(|s| s.is_none_or(|s| now.saturating_duration_since(s) > MISSED_GAP))
                .count() as u64;
            format!(
                "result checks={n_checks} attempts={} failed={} missed={} elapsed_us={} cpu_us={} sys_us={} runq_us={} \
                 rss_kib={rss} hwm_kib={hwm} p50_us={} p99_us={} max_us={} first_failure={}",
                r.attempts,
                r.failed,
                r.missed + tail,
                elapsed.as_micros(),
                (user1 + sys1).saturating_sub(user0 + sys0).as_micros(),
                sys1.saturating_sub(sys0).as_micros(),
                rq1.saturating_sub(rq0).as_micros(),
                r.latency_us.value_at_quantile(0.5),
                r.latency_us.value_at_quantile(0.99),
                r.latency_us.max(),
                r.first_failure.as_deref().unwrap_or("-").replace(' ', "_"),
            )
        };
        let _ = stop_tx.send(());
        let _ = driver.await;
        let changes = changes.await.unwrap_or(0);
        println!("{result} health_changes={changes} stats_missed={stats_missed}");
        Ok(())
    })
}

// ---------------------------------------------------------------- haproxy

fn haproxy_cfg(args: &Args, sock: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "global\n    maxconn 2000");
    if let Some(n) = args.haproxy_nbthread {
        let _ = writeln!(out, "    nbthread {n}");
    }
    let _ = writeln!(
        out,
        "    stats socket {} mode 600 level admin\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout check 2s\n    \
         timeout client 5s\n    timeout server 5s\n\
         backend be_tcp",
        sock.display()
    );
    for g in tcp_backends(args) {
        let _ = writeln!(out, "    server t{g} {} check inter 1s", backend_addr(g));
    }
    let _ = writeln!(out, "backend be_http\n    option httpchk GET /");
    for g in http_backends(args) {
        let _ = writeln!(out, "    server h{g} {} check inter 1s", backend_addr(g));
    }
    out
}

/// `show stat` over the stats socket: the `check_duration` (ms) of every
/// server whose last check passed, and how many servers are not UP.
async fn haproxy_check_durations(sock: &Path) -> anyhow::Result<(Vec<u64>, usize)> {
    let mut s = tokio::net::UnixStream::connect(sock).await?;
    s.write_all(b"show stat\n").await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let mut lines = text.lines();
    let header = lines.next().context("empty show stat")?;
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .with_context(|| format!("no {name} column"))
    };
    let (sv, status, dur, chk) = (
        col("svname")?,
        col("status")?,
        col("check_duration")?,
        col("check_status")?,
    );
    let mut out = Vec::new();
    let mut not_up = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let Some(name) = f.get(sv) else { continue };
        if *name == "FRONTEND" || *name == "BACKEND" || name.is_empty() {
            continue;
        }
        if f.get(status).is_some_and(|s| !s.starts_with("UP")) {
            not_up += 1;
        }
        let ok = f
            .get(chk)
            .is_some_and(|c| c.starts_with("L4OK") || c.starts_with("L7OK"));
        if let (true, Some(Ok(ms))) = (ok, f.get(dur).map(|d| d.parse::<u64>())) {
            out.push(ms);
        }
    }
    Ok((out, not_up))
}

// ---------------------------------------------------------------- orchestration

struct Backends {
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Backends {
    async fn ask(&mut self, cmd: &str) -> anyhow::Result<Vec<u64>> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let line = self
            .stdout
            .next_line()
            .await?
            .context("backend process gone")?;
        line.split_whitespace()
            .skip(1)
            .map(|v| v.parse::<u64>().context("bad backend reply"))
            .collect()
    }
}

#[derive(Debug, Default)]
struct Row {
    name: String,
    /// Attempts the checker itself counted (ours only).
    attempts: Option<u64>,
    /// Connections the backends saw.
    seen: u64,
    /// connect()s in the namespace (`Tcp: ActiveOpens`), if in one.
    connects: Option<u64>,
    cpu: Duration,
    /// The system (kernel) part of `cpu`.
    sys: Duration,
    /// Runnable but waiting for a CPU (all threads).
    runq: Duration,
    elapsed: Duration,
    rss_kib: u64,
    hwm_kib: u64,
    p50: String,
    p99: String,
    missed_client: Option<u64>,
    /// Missed intervals seen by the TCP backends (`None`: they cannot see
    /// the checks) and by the HTTP ones.
    missed_tcp: Option<u64>,
    missed_http: u64,
    failed: String,
    /// Late starts counted by the driver itself (`healthcheck::stats`).
    missed_stats: Option<u64>,
    backend_cpu: Duration,
}

async fn run_ours(args: &Args, variant: Variant, be: &mut Backends) -> anyhow::Result<Row> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "--ours",
            &variant.name(),
            "--tcp",
            &args.tcp.to_string(),
            "--http",
        ])
        .arg(args.http.to_string())
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--max-concurrent", &args.max_concurrent.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    let mut backend_cpu0 = 0;
    let mut opens0 = 0;
    let mut result = None;
    while let Some(line) = out.next_line().await? {
        if line == "start" {
            backend_cpu0 = *be.ask("reset").await?.first().context("bad reset reply")?;
            opens0 = active_opens()?;
        } else if let Some(r) = line.strip_prefix("result ") {
            let opens = active_opens()?.saturating_sub(opens0);
            let rep = be.ask("report").await?;
            result = Some((r.to_owned(), rep, opens));
        }
    }
    let status = child.wait().await?;
    let (r, rep, opens) = result.with_context(|| {
        format!(
            "our checker ({}) exited with {status} and no result",
            variant.name()
        )
    })?;
    let kv: HashMap<&str, &str> = r
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .collect();
    let num = |k: &str| -> anyhow::Result<u64> {
        kv.get(k)
            .with_context(|| format!("no {k}"))?
            .parse::<u64>()
            .context("bad number")
    };
    let us = |k: &str| -> anyhow::Result<String> { Ok(format!("{:.0} µs", num(k)? as f64)) };
    let failed = num("failed")?;
    let first = kv.get("first_failure").copied().unwrap_or("-");
    Ok(Row {
        name: format!("ours (tokio {})", variant.name()),
        attempts: Some(num("attempts")?),
        seen: *rep.first().context("bad report")?,
        connects: args.netns.then_some(opens),
        cpu: Duration::from_micros(num("cpu_us")?),
        sys: Duration::from_micros(num("sys_us")?),
        runq: Duration::from_micros(num("runq_us")?),
        elapsed: Duration::from_micros(num("elapsed_us")?),
        rss_kib: num("rss_kib")?,
        hwm_kib: num("hwm_kib")?,
        p50: us("p50_us")?,
        p99: us("p99_us")?,
        missed_client: Some(num("missed")?),
        missed_stats: Some(num("stats_missed")?),
        // Our TCP_CHECK, like haproxy's, resets the connection before the
        // backend accepts it (healthcheck::check::tcp): the TCP backends
        // cannot see it; our own gap count (`missed`) covers them.
        missed_tcp: None,
        missed_http: *rep.get(2).context("bad report")?,
        failed: if failed == 0 {
            "0".into()
        } else {
            format!("{failed} ({first})")
        },
        backend_cpu: Duration::from_micros(
            rep.get(3)
                .context("bad report")?
                .saturating_sub(backend_cpu0),
        ),
    })
}

async fn run_haproxy(
    args: &Args,
    bin: &Path,
    dir: &Path,
    be: &mut Backends,
) -> anyhow::Result<Row> {
    let sock = dir.join("haproxy.sock");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_cfg(args, &sock))?;
    let log = std::fs::File::create(dir.join("haproxy.log"))?;
    let mut child = Command::new(bin)
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id().context("haproxy exited at once")?;
    let started = Instant::now();
    while !sock.exists() {
        if let Some(st) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
            bail!("haproxy exited with {st}:\n{log}");
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("haproxy did not open its stats socket in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let backend_cpu0 = *be.ask("reset").await?.first().context("bad reset reply")?;
    let opens0 = active_opens()?;
    let cpu0 = proc_cpu(pid)?;
    let rq0 = runq_wait(&pid.to_string());
    let t0 = Instant::now();
    let mut durations = Histogram::<u64>::new_with_bounds(1, 60_000, 3)?;
    let mut zero_ms = 0u64;
    let mut samples = 0u64;
    let mut not_up_max = 0;
    // Sample `show stat` every 5 s (each sample is the last check of every
    // server, at 1 ms resolution); this costs haproxy a little CPU, within
    // the window. The last sample is taken just after the window closes.
    let end = t0 + Duration::from_secs(args.seconds);
    let mut fin = None;
    while fin.is_none() {
        let next = (Instant::now() + Duration::from_secs(5)).min(end);
        tokio::time::sleep_until(next.into()).await;
        if next >= end {
            fin = Some((
                (proc_cpu(pid)?, runq_wait(&pid.to_string())),
                t0.elapsed(),
                active_opens()?.saturating_sub(opens0),
                be.ask("report").await?,
            ));
        }
        match haproxy_check_durations(&sock).await {
            Ok((d, not_up)) => {
                not_up_max = not_up_max.max(not_up);
                for ms in d {
                    samples += 1;
                    if ms == 0 {
                        zero_ms += 1;
                    } else {
                        let _ = durations.record(ms.min(60_000));
                    }
                }
            }
            Err(e) => eprintln!("show stat: {e:#}"),
        }
    }
    let ((cpu1, rq1), elapsed, opens, rep) = fin.context("no end of window")?;
    let (rss, hwm) = proc_rss(&pid.to_string())?;
    // SIGTERM by pid (kill_on_drop would SIGKILL it if this fails).
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid)?),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let _ = child.kill().await;
    // check_duration is in whole ms: a quantile that falls among the
    // 0 ms samples is shown as "< 1 ms".
    let quantile = |q: f64| -> String {
        if samples == 0 {
            return "n/a".into();
        }
        let rank = (q * samples as f64).ceil() as u64;
        if rank <= zero_ms {
            "< 1 ms".into()
        } else {
            let q2 = (rank - zero_ms) as f64 / (samples - zero_ms) as f64;
            format!("{} ms", durations.value_at_quantile(q2.min(1.0)))
        }
    };
    Ok(Row {
        name: format!(
            "haproxy (nbthread {})",
            args.haproxy_nbthread
                .map_or("default".to_string(), |n| n.to_string())
        ),
        attempts: None,
        seen: *rep.first().context("bad report")?,
        connects: args.netns.then_some(opens),
        cpu: (cpu1.0 + cpu1.1).saturating_sub(cpu0.0 + cpu0.1),
        sys: cpu1.1.saturating_sub(cpu0.1),
        runq: rq1.saturating_sub(rq0),
        elapsed,
        rss_kib: rss,
        hwm_kib: hwm,
        p50: quantile(0.5),
        p99: quantile(0.99),
        missed_client: None,
        missed_stats: None,
        missed_tcp: None,
        missed_http: *rep.get(2).context("bad report")?,
        failed: format!("{not_up_max} not UP"),
        backend_cpu: Duration::from_micros(
            rep.get(3)
                .context("bad report")?
                .saturating_sub(backend_cpu0),
        ),
    })
}

async fn orchestrate(args: Args) -> anyhow::Result<()> {
    let hard = raise_nofile()?;
    let dir = tempfile::tempdir()?;
    println!(
        "check_bench: {} TCP + {} HTTP backends, interval 1 s, {} s per side after {} s warm-up; \
         RLIMIT_NOFILE {hard}; {} CPUs; load average {}",
        args.tcp,
        args.http,
        args.seconds,
        args.warmup,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let exe = std::env::current_exe()?;
    let mut server = Command::new(exe)
        .args([
            "--serve",
            "--tcp",
            &args.tcp.to_string(),
            "--http",
            &args.http.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut be = Backends {
        stdin: server.stdin.take().context("no stdin")?,
        stdout: BufReader::new(server.stdout.take().context("no stdout")?).lines(),
    };
    let ready = be
        .stdout
        .next_line()
        .await?
        .context("backend process gone")?;
    let r: Vec<&str> = ready.split_whitespace().collect();
    if r.first() != Some(&"ready") || r.get(2) != Some(&"0") {
        bail!("backends not all listening: {ready}");
    }
    println!(
        "backends: {} listening in a separate process",
        r.get(1).unwrap_or(&"?")
    );

    let mut rows = Vec::new();
    for v in &args.variants {
        let row = run_ours(&args, *v, &mut be).await?;
        println!("  done: {} (load average {})", row.name, loadavg());
        rows.push(row);
    }
    if let Some(bin) = &args.haproxy {
        let row = run_haproxy(&args, bin, dir.path(), &mut be).await?;
        println!("  done: {} (load average {})", row.name, loadavg());
        rows.push(row);
    }
    drop(be);
    let _ = tokio::time::timeout(Duration::from_secs(5), server.wait()).await;
    let _ = server.kill().await;

    let n = (args.tcp + args.http) as f64;
    println!();
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>6} {:>5} {:>6} {:>8} {:>10} {:>8} {:>8} {:>7} {:>11} {:>9}",
        "side",
        "checks/s",
        "conn/s",
        "seen/s",
        "CPU %",
        "sys%",
        "runq%",
        "µs/check",
        "RSS(peak)",
        "lat p50",
        "lat p99",
        "missed",
        "missed(be)",
        "failed"
    );
    for r in &rows {
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        let rate =
            |v: Option<u64>| v.map_or("n/a".to_string(), |v| format!("{:.0}", v as f64 / secs));
        // The same denominator for both sides: the namespace's connect()
        // count (each check is one connect), else what the side counted.
        let per_check = r.connects.or(r.attempts).unwrap_or(r.seen).max(1) as f64;
        println!(
            "{:<26} {:>8} {:>8} {:>8.0} {:>5.1}% {:>4.0}% {:>5.1}% {:>8.1} {:>10} {:>8} {:>8} {:>7} {:>11} {:>9}",
            r.name,
            rate(r.attempts),
            rate(r.connects),
            r.seen as f64 / secs,
            100.0 * r.cpu.as_secs_f64() / secs,
            100.0 * r.sys.as_secs_f64() / r.cpu.as_secs_f64().max(1e-9),
            100.0 * r.runq.as_secs_f64() / secs,
            r.cpu.as_secs_f64() * 1e6 / per_check,
            format!("{}M({}M)", r.rss_kib / 1024, r.hwm_kib / 1024),
            r.p50,
            r.p99,
            r.missed_client.map_or("n/a".to_string(), |m| m.to_string()),
            format!(
                "{}+{}",
                r.missed_tcp.map_or("n/a".to_string(), |m| m.to_string()),
                r.missed_http
            ),
            r.failed,
        );
    }
    println!(
        "checks/s: attempts the checker counted; conn/s: connect()s in the namespace; \
         seen/s: connections the backends accepted; sys%: kernel share of the CPU; \
         runq%: time runnable but waiting for a CPU (machine contention), % of the window; missed: own gaps > 1.5 s; \
         missed(be): gaps > 1.5 s seen by the TCP + HTTP backends"
    );
    println!();
    for r in &rows {
        if let Some(m) = r.missed_stats {
            println!(
                "{}: attempts started more than half an interval late, counted by the driver: {m}",
                r.name
            );
        }
    }
    for r in &rows {
        println!(
            "backend process CPU during {}: {:.1}% of a core",
            r.name,
            100.0 * r.backend_cpu.as_secs_f64() / r.elapsed.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "target: {:.0} checks/s ({n} backends at 1 s); load average at the end {}",
        n,
        loadavg()
    );
    Ok(())
}
