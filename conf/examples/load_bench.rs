//! Load-time benchmark: our keepalived.conf loader against `keepalived -t`.
//!
//! `cargo run --release -p conf --example load_bench [-- RUNS]`
//! (`-- --write FILE` only writes the generated config.)
//!
//! Generates a keepalived.conf with 1,000 vrrp_instances and 2,000
//! virtual_servers x 20 real_servers (TCP_CHECK / HTTP_GET mix) in a temp
//! dir, then:
//! - loads it RUNS times in this process (lexer + builder + validation) and
//!   prints p50/p99/max load time (hdrhistogram) and this process's peak
//!   RSS (VmHWM, which includes the generator);
//! - loads it once in a child process (`load_bench --load-once FILE`) under
//!   `/usr/bin/time` for a peak RSS measured the same way as keepalived's;
//! - if `keepalived` is on PATH, runs `keepalived -t -f FILE -G -l` a few
//!   times and prints its wall time and peak RSS, and the ratios.
//!
//! The addresses are documentation ranges (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8::/32); nothing is configured or sent: both
//! programs only parse.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

const INSTANCES: usize = 1_000;
const VIRTUAL_SERVERS: usize = 2_000;
const REAL_SERVERS: usize = 20;

fn generate() -> String {
    let mut t = String::with_capacity(12 << 20);
    t.push_str("global_defs {\n    router_id bench\n    vrrp_garp_master_delay 2\n}\n\n");
    t.push_str("vrrp_script chk_haproxy {\n    script \"/usr/bin/pgrep -x haproxy\"\n    interval 2\n    weight -20\n}\n\n");
    for i in 0..INSTANCES {
        // 250 VRIDs per interface so no VRID repeats on one interface.
        let _ = write!(
            t,
            "vrrp_instance VI_{i} {{\n    state BACKUP\n    interface eth{}\n    virtual_router_id {}\n    priority {}\n    advert_int 1\n    version 3\n    virtual_ipaddress {{\n        2001:db8:{:x}::1/64 dev eth{}\n        2001:db8:{:x}::2/64\n    }}\n    track_script {{\n        chk_haproxy\n    }}\n    notify_master \"/etc/keepalived/master.sh VI_{i}\"\n}}\n\n",
            i / 250,
            i % 250 + 1,
            100 + i % 100,
            i + 1,
            i / 250,
            i + 1,
        );
    }
    for v in 0..VIRTUAL_SERVERS {
        let _ = write!(
            t,
            "virtual_server 192.0.2.{} {} {{\n    delay_loop 6\n    lb_algo wrr\n    lb_kind NAT\n    persistence_timeout 50\n    protocol TCP\n\n",
            v % 254 + 1,
            1024 + v,
        );
        for r in 0..REAL_SERVERS {
            let _ = write!(
                t,
                "    real_server 198.51.100.{} {} {{\n        weight {}\n",
                r + 1,
                1024 + v,
                1 + r % 5
            );
            if (v + r) % 2 == 0 {
                t.push_str("        TCP_CHECK {\n            connect_timeout 3\n            retry 2\n            delay_before_retry 2\n        }\n");
            } else {
                t.push_str("        HTTP_GET {\n            url {\n                path /healthz\n                status_code 200-299\n            }\n            url {\n                path /\n                digest 640205b7b0fc66c1ea91c463fac6334d\n            }\n            connect_timeout 3\n            retry 3\n            delay_before_retry 3\n        }\n");
            }
            t.push_str("    }\n");
        }
        t.push_str("}\n\n");
    }
    t
}

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn load_once(path: &Path) -> conf::Loaded {
    conf::load_keepalived_file(path, &conf::ParseOptions::default())
}

/// One run of a command: wall time, CPU time (user + system, from
/// `/usr/bin/time`), peak RSS in KiB, exit code.
struct Run {
    wall: Duration,
    cpu: Option<Duration>,
    rss: Option<u64>,
    code: Option<i32>,
}

/// Run `cmd` under `/usr/bin/time`.
fn timed(cmd: &[&str]) -> Option<Run> {
    let out = tempfile::NamedTempFile::new().ok()?;
    let out_path = out.path().to_str()?.to_owned();
    let have_time = Path::new("/usr/bin/time").exists();
    let start = Instant::now();
    let status = if have_time {
        Command::new("/usr/bin/time")
            .args(["-f", "%M %U %S", "-o", &out_path])
            .args(cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
    } else {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
    };
    let wall = start.elapsed();
    let report = std::fs::read_to_string(&out_path).unwrap_or_default();
    let fields: Vec<&str> = report
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let rss = fields.first().and_then(|f| f.parse().ok());
    let cpu = match (fields.get(1), fields.get(2)) {
        (Some(u), Some(s)) => match (u.parse::<f64>(), s.parse::<f64>()) {
            (Ok(u), Ok(s)) => Some(Duration::from_secs_f64(u + s)),
            _ => None,
        },
        _ => None,
    };
    Some(Run {
        wall,
        cpu,
        rss,
        code: status.code(),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--write" {
        // Only write the generated config, for profiling by hand.
        if let Err(e) = std::fs::write(&args[2], generate()) {
            eprintln!("cannot write {}: {e}", args[2]);
            std::process::exit(2);
        }
        return;
    }
    if args.len() == 3 && args[1] == "--load-once" {
        let l = load_once(Path::new(&args[2]));
        std::process::exit(if l.diagnostics.has_errors() { 1 } else { 0 });
    }
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);

    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a temp dir: {e}");
            std::process::exit(2);
        }
    };
    let path = dir.path().join("keepalived.conf");
    let text = generate();
    if let Err(e) = std::fs::write(&path, &text) {
        eprintln!("cannot write {}: {e}", path.display());
        std::process::exit(2);
    }
    println!(
        "config: {} vrrp_instances, {} virtual_servers x {} real_servers; {} lines, {:.1} MiB",
        INSTANCES,
        VIRTUAL_SERVERS,
        REAL_SERVERS,
        text.lines().count(),
        text.len() as f64 / (1 << 20) as f64
    );
    drop(text);

    // Sanity: the model holds what was generated, with no errors.
    let l = load_once(&path);
    let rs: usize = l
        .config
        .virtual_servers
        .iter()
        .map(|v| v.real_servers.len())
        .sum();
    println!(
        "model: {} instances, {} virtual servers, {} real servers; {} errors, {} warnings",
        l.config.vrrp_instances.len(),
        l.config.virtual_servers.len(),
        rs,
        l.diagnostics.errors().count(),
        l.diagnostics.warnings().count()
    );
    if l.diagnostics.has_errors() {
        eprint!("{}", l.diagnostics);
        std::process::exit(1);
    }
    drop(l);

    let mut hist = match Histogram::<u64>::new(3) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("histogram: {e}");
            std::process::exit(2);
        }
    };
    for _ in 0..runs {
        let start = Instant::now();
        let l = load_once(&path);
        let us = start.elapsed().as_micros() as u64;
        std::hint::black_box(&l);
        let _ = hist.record(us);
    }
    // Where the time goes, for one more load.
    let t0 = Instant::now();
    let out = conf::keepalived::lexer::parse_file(&path, &conf::ParseOptions::default());
    let t1 = Instant::now();
    let (cfg, _) = conf::keepalived::build::build(&out.nodes, &out.sources);
    let t2 = Instant::now();
    let d = conf::validate::validate(&cfg, Some(&out.sources));
    let t3 = Instant::now();
    drop((out, cfg, d));
    let t4 = Instant::now();
    println!(
        "  phases: lexer {:.1} ms, build {:.1} ms, validate {:.1} ms, drop {:.1} ms",
        ms(t1 - t0),
        ms(t2 - t1),
        ms(t3 - t2),
        ms(t4 - t3)
    );
    let p = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "vrrpd conf loader, {runs} runs in-process: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p(0.5),
        p(0.99),
        hist.max() as f64 / 1000.0
    );
    match vm_hwm_kib() {
        Some(k) => println!(
            "  peak RSS of this process (VmHWM, includes the generator): {:.1} MiB",
            k as f64 / 1024.0
        ),
        None => println!("  peak RSS: /proc/self/status not readable"),
    }
    let Some(path_str) = path.to_str() else {
        eprintln!("temp path is not UTF-8");
        std::process::exit(2);
    };
    let exe = args[0].clone();
    let ours = timed(&[&exe, "--load-once", path_str]);
    let mib = |k: Option<u64>| {
        k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".into())
    };
    let cpu_ms = |c: Option<Duration>| {
        c.map(|c| format!("{:.0} ms", ms(c)))
            .unwrap_or_else(|| "n/a".into())
    };
    if let Some(r) = &ours {
        println!(
            "  one load in a child process: wall {:.1} ms (includes exec), cpu {}, peak RSS {}",
            ms(r.wall),
            cpu_ms(r.cpu),
            mib(r.rss)
        );
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "  load average while measuring: {}",
            l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
    }

    let have_keepalived = Command::new("keepalived")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !have_keepalived {
        println!("keepalived not on PATH: no comparison");
        return;
    }
    let k_runs = 3;
    let mut runs_k = Vec::new();
    for _ in 0..k_runs {
        // -G: no syslog (it would go to the console here); -l: log to stderr.
        if let Some(r) = timed(&["keepalived", "-t", "-f", path_str, "-G", "-l"]) {
            runs_k.push(r);
        }
    }
    if runs_k.is_empty() {
        println!("keepalived could not be run");
        return;
    }
    runs_k.sort_by_key(|r| r.wall);
    let med = &runs_k[runs_k.len() / 2];
    println!(
        "keepalived -t, {} runs: median wall {:.1} ms (min {:.1} ms), cpu {}, peak RSS {}, exit status {:?}",
        runs_k.len(),
        ms(med.wall),
        ms(runs_k[0].wall),
        cpu_ms(med.cpu),
        mib(runs_k.iter().filter_map(|r| r.rss).max()),
        med.code
    );
    println!(
        "speed-up, keepalived median wall / our in-process p50: {:.1}x",
        ms(med.wall) / p(0.5)
    );
    if let Some(r) = &ours {
        println!(
            "speed-up, keepalived median wall / our one-shot process wall: {:.1}x",
            ms(med.wall) / ms(r.wall)
        );
        if let (Some(k), Some(o)) = (med.cpu, r.cpu) {
            println!(
                "speed-up, keepalived cpu / our one-shot process cpu: {:.1}x",
                ms(k) / ms(o)
            );
        }
        if let (Some(k), Some(o)) = (runs_k.iter().filter_map(|r| r.rss).max(), r.rss) {
            println!("peak RSS, ours / keepalived's: {:.1}x", o as f64 / k as f64);
        }
    }
}
