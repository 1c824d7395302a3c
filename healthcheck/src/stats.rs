//! Per-check statistics: attempts, successes, failures by reason, missed
//! intervals and a latency histogram, readable at any time from another
//! task or thread without holding up the checks.
//!
//! ```text
//!  driver::run_with --record(id, outcome)--> Cell (one Mutex per check)
//!                                               ^
//!  daemon (status socket, /metrics) --StatsHandle::snapshot()--> Vec<CheckStats>
//!                                    --to_json / to_prometheus--> text
//! ```
//!
//! Each check has its own cell behind its own mutex: the driver locks only
//! the cell of the attempt it records, and [`StatsHandle::snapshot`] locks
//! one cell at a time while it reads it, so a reader delays at most one
//! record by the time it takes to read one histogram (a few µs), never the
//! whole driver. The numbers count from the moment the checks were built
//! (a reload builds new ones, so counters restart: Prometheus' `rate()`
//! handles such resets).
//!
//! Latency is kept in an [`hdrhistogram`] per check with 1 significant
//! digit (buckets 1/16 apart: a quantile is within about 6 % of the true
//! value, finer than Prometheus' usual histogram buckets) and 32-bit
//! counts, grown only as far as the largest latency seen: under 0.5 KiB
//! for a check answering in a millisecond, about 1.2 KiB for one that
//! times out after seconds. With 2 digits it would be 2-8 KiB, up to
//! 90 MB more for 12,000 checks: more than the whole engine needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, Kind};

/// Latencies above this are recorded as this (1 hour, in µs): nothing
/// waits that long, it only bounds the histogram.
const LATENCY_CAP_US: u64 = 3_600_000_000;

/// The keepalived name of a checker kind, as it appears in the
/// configuration (`HTTP_GET`, `SSL_GET`, `TCP_CHECK`, ...).
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Tcp => "TCP_CHECK",
        Kind::Http(h) if h.tls => "SSL_GET",
        Kind::Http(_) => "HTTP_GET",
        Kind::Smtp { .. } => "SMTP_CHECK",
        Kind::Dns { .. } => "DNS_CHECK",
        Kind::Misc(_) => "MISC_CHECK",
        Kind::Ping => "PING_CHECK",
        Kind::Udp { .. } => "UDP_CHECK",
        Kind::File(_) => "FILE_CHECK",
        Kind::Unsupported(_) => "UNSUPPORTED",
    }
}

/// The class a failed attempt is counted under: [`Reason::class`], except
/// that a MISC_CHECK that ran past `misc_timeout` is `script_timeout` (its
/// script was killed), so it is not mixed up with a network timeout.
pub fn failure_class(kind: &Kind, reason: &Reason) -> &'static str {
    match (kind, reason) {
        (Kind::Misc(_), Reason::Timeout) => "script_timeout",
        _ => reason.class(),
    }
}

/// One user of a check: which checker of which real server of which
/// virtual server (indexes into the configuration's lists, as
/// [`crate::engine::CheckerRef`]), with the names an operator knows them by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscriber {
    pub vs: usize,
    pub rs: usize,
    pub checker: usize,
    /// `192.0.2.10:80`, `fwmark 1` or `group NAME`.
    pub vs_name: String,
    /// `192.0.2.21:80`.
    pub rs_name: String,
}

/// Latency quantiles of a check's attempts, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Sum of every latency recorded, for the Prometheus summary's `_sum`.
    pub sum_us: u64,
}

/// The last attempt of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastResult {
    pub up: bool,
    /// The reason as logged (`status 503`, `refused`, ...).
    pub reason: String,
    /// Its class (see [`failure_class`]).
    pub class: &'static str,
    pub latency_us: u64,
    /// How long ago it finished, when the snapshot was taken.
    pub age_ms: u64,
}

/// Everything known about one check, as plain data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckStats {
    /// The driver's id of the check (stable while it runs).
    pub id: usize,
    /// [`kind_name`]: `HTTP_GET`, `TCP_CHECK`, ...
    pub kind: &'static str,
    /// Where the check connects (for MISC_CHECK and FILE_CHECK, the real
    /// server's address: they do not connect).
    pub target: SocketAddr,
    /// Who uses the check; a check shared by several virtual servers is
    /// run once and listed under each of them.
    pub subscribers: Vec<Subscriber>,
    /// Current health as the scheduler sees it (after retry/rise/fall).
    pub up: Option<bool>,
    /// Attempts finished.
    pub runs: u64,
    /// Attempts that passed.
    pub ups: u64,
    /// Attempts that failed, by class (see [`failure_class`]).
    pub downs_by_reason: BTreeMap<&'static str, u64>,
    /// Attempts that started more than half an interval after they were
    /// due: the check did not run at the rate it was configured for.
    pub missed: u64,
    /// `None` until the first attempt finished.
    pub latency: Option<Latency>,
    pub last: Option<LastResult>,
}

impl CheckStats {
    /// Attempts that failed, all reasons together.
    pub fn downs(&self) -> u64 {
        self.downs_by_reason.values().sum()
    }
}

/// The mutable part of one check's statistics.
struct Cell {
    kind: &'static str,
    target: SocketAddr,
    subscribers: Vec<Subscriber>,
    up: Option<bool>,
    runs: u64,
    ups: u64,
    downs_by_reason: BTreeMap<&'static str, u64>,
    missed: u64,
    latency_us: Histogram<u32>,
    latency_sum_us: u64,
    /// The last attempt, kept as found (formatting its reason for every
    /// attempt would cost an allocation each; a snapshot does it).
    last: Option<Last>,
}

struct Last {
    up: bool,
    reason: Reason,
    class: &'static str,
    latency_us: u64,
    at: Instant,
}

impl Cell {
    fn new(kind: &'static str, target: SocketAddr, up: Option<bool>) -> Option<Cell> {
        // `new(1)` cannot fail (1 digit is in 0..=5); an allocation
        // failure aborts anyway. Without a histogram there are no stats.
        let latency_us = Histogram::new(1).ok()?;
        Some(Cell {
            kind,
            target,
            subscribers: Vec::new(),
            up,
            runs: 0,
            ups: 0,
            downs_by_reason: BTreeMap::new(),
            missed: 0,
            latency_us,
            latency_sum_us: 0,
            last: None,
        })
    }

    fn read(&self, id: usize, now: Instant) -> CheckStats {
        let latency = (!self.latency_us.is_empty()).then(|| {
            let mut q = self.latency_us.value_at_quantiles([0.5, 0.9, 0.99]);
            let mut next = || q.next().unwrap_or(0);
            let (p50_us, p90_us, p99_us) = (next(), next(), next());
            Latency {
                p50_us,
                p90_us,
                p99_us,
                max_us: self.latency_us.max(),
                sum_us: self.latency_sum_us,
            }
        });
        CheckStats {
            id,
            kind: self.kind,
            target: self.target,
            subscribers: self.subscribers.clone(),
            up: self.up,
            runs: self.runs,
            ups: self.ups,
            downs_by_reason: self.downs_by_reason.clone(),
            missed: self.missed,
            latency,
            last: self.last.as_ref().map(|l| LastResult {
                up: l.up,
                reason: l.reason.to_string(),
                class: l.class,
                latency_us: l.latency_us,
                age_ms: u64::try_from(now.saturating_duration_since(l.at).as_millis())
                    .unwrap_or(u64::MAX),
            }),
        }
    }
}

/// One check's cell; `None` for an id that was never registered.
type Slot = Option<Arc<Mutex<Cell>>>;

/// A cheap, cloneable handle on the statistics of a set of checks. The
/// driver records into it; anyone may call [`StatsHandle::snapshot`].
#[derive(Clone, Default)]
pub struct StatsHandle {
    cells: Arc<Mutex<Vec<Slot>>>,
}

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsHandle")
            .field("checks", &lock(&self.cells).iter().flatten().count())
            .finish()
    }
}

/// A poisoned lock only means a panic elsewhere while it was held; the
/// counters are still usable, so carry on with them.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StatsHandle {
    pub fn new() -> Self {
        StatsHandle::default()
    }

    /// Start keeping statistics for check `id` (the driver's
    /// [`crate::schedule::CheckId`] number). `up` is its initial health.
    pub fn register(&self, id: usize, spec: &CheckSpec, up: Option<bool>) {
        let Some(cell) = Cell::new(kind_name(&spec.kind), spec.target, up) else {
            return;
        };
        let mut cells = lock(&self.cells);
        if cells.len() <= id {
            cells.resize_with(id + 1, || None);
        }
        if let Some(slot) = cells.get_mut(id) {
            *slot = Some(Arc::new(Mutex::new(cell)));
        }
    }

    /// Name one more user of check `id`.
    pub fn add_subscriber(&self, id: usize, subscriber: Subscriber) {
        if let Some(cell) = self.cell(id) {
            let mut c = lock(&cell);
            if !c.subscribers.contains(&subscriber) {
                c.subscribers.push(subscriber);
            }
        }
    }

    fn cell(&self, id: usize) -> Option<Arc<Mutex<Cell>>> {
        lock(&self.cells).get(id).cloned().flatten()
    }

    /// A recorder for the driver: the cells, fetched once, so that
    /// recording never takes the table's lock.
    pub(crate) fn recorder(&self) -> Recorder {
        Recorder {
            cells: lock(&self.cells).clone(),
        }
    }

    /// The statistics of every check, by id. Takes each check's lock in
    /// turn, never all at once.
    pub fn snapshot(&self) -> Vec<CheckStats> {
        let cells = lock(&self.cells).clone();
        let now = Instant::now();
        cells
            .iter()
            .enumerate()
            .filter_map(|(id, c)| Some(lock(c.as_ref()?).read(id, now)))
            .collect()
    }
}

/// The driver's side of a [`StatsHandle`].
pub(crate) struct Recorder {
    cells: Vec<Slot>,
}

impl Recorder {
    /// Record one finished attempt of check `id`. `kind` classifies its
    /// failure; `missed` says it started more than half an interval late;
    /// `up` is the check's health after it.
    pub(crate) fn record(
        &self,
        id: usize,
        kind: Option<&Kind>,
        outcome: &CheckOutcome,
        missed: bool,
        up: Option<bool>,
    ) {
        let Some(cell) = self.cells.get(id).and_then(Option::as_ref) else {
            return;
        };
        let class = match kind {
            Some(k) => failure_class(k, &outcome.reason),
            None => outcome.reason.class(),
        };
        let us = u64::try_from(outcome.latency.as_micros())
            .unwrap_or(u64::MAX)
            .min(LATENCY_CAP_US);
        let mut c = lock(cell);
        c.runs += 1;
        if outcome.up {
            c.ups += 1;
        } else {
            *c.downs_by_reason.entry(class).or_insert(0) += 1;
        }
        if missed {
            c.missed += 1;
        }
        // Auto-resizing: fails only if the counts array cannot grow, and
        // then one sample is lost, nothing else.
        let _ = c.latency_us.record(us);
        c.latency_sum_us = c.latency_sum_us.saturating_add(us);
        c.up = up;
        c.last = Some(Last {
            up: outcome.up,
            reason: outcome.reason.clone(),
            class,
            latency_us: us,
            at: Instant::now(),
        });
    }
}

/// Whether an attempt due at `due`, with `interval` before the next one,
/// started late enough to count as a missed interval: more than half the
/// interval after it was due. Two consecutive attempts are then more than
/// 1.5 intervals apart (what the benchmark calls a miss) unless the next
/// one is as late.
pub fn is_missed(due: Instant, started: Instant, interval: Duration) -> bool {
    started.saturating_duration_since(due) > interval / 2
}

/// The statistics as JSON, for the control socket's status: one object
/// per check with the fields of [`CheckStats`].
pub fn to_json(stats: &[CheckStats]) -> serde_json::Value {
    serde_json::Value::Array(
        stats
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap_or_else(|e| serde_json::json!({ "id": s.id, "error": e.to_string() }))
            })
            .collect(),
    )
}

/// A Prometheus label value: backslash, double quote and newline escaped
/// (text exposition format 0.0.4).
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(us: u64) -> String {
    // µs to seconds without float rounding noise (0.000123, not
    // 0.00012299999).
    let (s, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        format!("{s}")
    } else {
        let f = format!("{frac:06}");
        format!("{s}.{}", f.trim_end_matches('0'))
    }
}

/// Every series of a check: one label set per subscriber (a check used by
/// several virtual servers appears under each, so that a dashboard per
/// virtual server is complete), or one with empty `vs`/`rs` when nobody
/// subscribed.
fn label_sets(s: &CheckStats) -> Vec<String> {
    let one = |vs: &str, rs: &str, checker: &str| {
        format!(
            "vs=\"{}\",rs=\"{}\",check=\"{}\",checker=\"{}\",target=\"{}\"",
            escape_label(vs),
            escape_label(rs),
            s.kind,
            checker,
            escape_label(&s.target.to_string())
        )
    };
    if s.subscribers.is_empty() {
        return vec![one("", "", &s.id.to_string())];
    }
    s.subscribers
        .iter()
        .map(|sub| one(&sub.vs_name, &sub.rs_name, &sub.checker.to_string()))
        .collect()
}

/// The statistics in Prometheus' text exposition format (0.0.4), each
/// family's `# HELP` and `# TYPE` once, then its samples:
///
/// - `healthcheck_checks_total` (counter): attempts finished;
/// - `healthcheck_check_successes_total` (counter): attempts that passed;
/// - `healthcheck_check_failures_total` (counter, `reason` label): failed
///   attempts by class;
/// - `healthcheck_check_missed_total` (counter): attempts that started more
///   than half an interval late;
/// - `healthcheck_check_up` (gauge): 1 up, 0 down;
/// - `healthcheck_check_latency_seconds` (summary): quantiles 0.5, 0.9,
///   0.99 since the checks started, `_sum` and `_count`;
/// - `healthcheck_check_latency_max_seconds` (gauge).
///
/// Labels: `vs`, `rs` (names as in the configuration), `check` (the
/// checker keyword), `checker` (its index in the real server's list, which
/// tells apart two checkers of one kind), `target` (address:port checked).
pub fn to_prometheus(stats: &[CheckStats], out: &mut String) {
    let labelled: Vec<(&CheckStats, Vec<String>)> =
        stats.iter().map(|s| (s, label_sets(s))).collect();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    let simple = |out: &mut String, name: &str, value: &dyn Fn(&CheckStats) -> Option<String>| {
        for (s, sets) in &labelled {
            if let Some(v) = value(s) {
                for l in sets {
                    let _ = writeln!(out, "{name}{{{l}}} {v}");
                }
            }
        }
    };

    family(
        out,
        "healthcheck_checks_total",
        "counter",
        "Check attempts finished.",
    );
    simple(out, "healthcheck_checks_total", &|s| {
        Some(s.runs.to_string())
    });

    family(
        out,
        "healthcheck_check_successes_total",
        "counter",
        "Check attempts that passed.",
    );
    simple(out, "healthcheck_check_successes_total", &|s| {
        Some(s.ups.to_string())
    });

    family(
        out,
        "healthcheck_check_failures_total",
        "counter",
        "Check attempts that failed, by reason.",
    );
    for (s, sets) in &labelled {
        for (reason, n) in &s.downs_by_reason {
            for l in sets {
                let _ = writeln!(
                    out,
                    "healthcheck_check_failures_total{{{l},reason=\"{reason}\"}} {n}"
                );
            }
        }
    }

    family(
        out,
        "healthcheck_check_missed_total",
        "counter",
        "Check attempts that started more than half an interval late.",
    );
    simple(out, "healthcheck_check_missed_total", &|s| {
        Some(s.missed.to_string())
    });

    family(
        out,
        "healthcheck_check_up",
        "gauge",
        "Health of the check after retry, rise and fall (1 up, 0 down).",
    );
    simple(out, "healthcheck_check_up", &|s| {
        s.up.map(|u| u8::from(u).to_string())
    });

    family(
        out,
        "healthcheck_check_latency_seconds",
        "summary",
        "Time from the start of a check attempt to its verdict.",
    );
    for (s, sets) in &labelled {
        let Some(lat) = s.latency else { continue };
        for l in sets {
            for (q, v) in [
                ("0.5", lat.p50_us),
                ("0.9", lat.p90_us),
                ("0.99", lat.p99_us),
            ] {
                let _ = writeln!(
                    out,
                    "healthcheck_check_latency_seconds{{{l},quantile=\"{q}\"}} {}",
                    seconds(v)
                );
            }
            let _ = writeln!(
                out,
                "healthcheck_check_latency_seconds_sum{{{l}}} {}",
                seconds(lat.sum_us)
            );
            let _ = writeln!(
                out,
                "healthcheck_check_latency_seconds_count{{{l}}} {}",
                s.runs
            );
        }
    }

    family(
        out,
        "healthcheck_check_latency_max_seconds",
        "gauge",
        "Longest check attempt since the checks started.",
    );
    simple(out, "healthcheck_check_latency_max_seconds", &|s| {
        s.latency.map(|l| seconds(l.max_us))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Local, MiscSpec};
    use std::collections::{HashMap, HashSet};

    fn spec(kind: Kind) -> CheckSpec {
        CheckSpec {
            target: "192.0.2.21:80".parse().unwrap(),
            local: Local::default(),
            connect_timeout: Duration::from_secs(1),
            kind,
        }
    }

    fn misc() -> Kind {
        Kind::Misc(MiscSpec {
            command: "/bin/true".into(),
            timeout: Duration::from_secs(1),
            dynamic: false,
            user: None,
            group: None,
        })
    }

    #[test]
    fn script_timeouts_are_told_from_network_timeouts() {
        assert_eq!(failure_class(&misc(), &Reason::Timeout), "script_timeout");
        assert_eq!(failure_class(&Kind::Tcp, &Reason::Timeout), "timeout");
        assert_eq!(
            failure_class(&misc(), &Reason::ScriptExit(3)),
            "script_exit"
        );
        assert_eq!(
            failure_class(&Kind::Tcp, &Reason::Status(500)),
            "wrong_status"
        );
    }

    #[test]
    fn missed_means_more_than_half_an_interval_late() {
        let due = Instant::now();
        let s = Duration::from_secs(1);
        assert!(!is_missed(due, due, s));
        assert!(!is_missed(due, due + Duration::from_millis(500), s));
        assert!(is_missed(due, due + Duration::from_millis(501), s));
        // Started early (cannot happen, but must not underflow).
        assert!(!is_missed(due + s, due, s));
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(123), "0.000123");
        assert_eq!(seconds(1_500_000), "1.5");
        assert_eq!(seconds(2_000_000), "2");
    }

    fn sample() -> StatsHandle {
        let h = StatsHandle::new();
        h.register(0, &spec(Kind::Tcp), Some(true));
        h.register(2, &spec(misc()), Some(false));
        for (id, vs) in [
            (0, "192.0.2.10:80"),
            (0, "fwmark \"1\""),
            (2, "192.0.2.10:80"),
        ] {
            h.add_subscriber(
                id,
                Subscriber {
                    vs: 0,
                    rs: 1,
                    checker: id,
                    vs_name: vs.into(),
                    rs_name: "192.0.2.21:80".into(),
                },
            );
        }
        let r = h.recorder();
        let ms = Duration::from_millis;
        r.record(
            0,
            Some(&Kind::Tcp),
            &CheckOutcome::up(Reason::Ok, ms(2)),
            false,
            Some(true),
        );
        r.record(
            0,
            Some(&Kind::Tcp),
            &CheckOutcome::down(Reason::Refused, ms(1)),
            true,
            Some(true),
        );
        r.record(
            0,
            Some(&Kind::Tcp),
            &CheckOutcome::down(Reason::Timeout, ms(1000)),
            false,
            Some(false),
        );
        r.record(
            2,
            Some(&misc()),
            &CheckOutcome::down(Reason::Timeout, ms(1500)),
            false,
            Some(false),
        );
        h
    }

    #[test]
    fn snapshot_counts_and_quantiles() {
        let snap = sample().snapshot();
        assert_eq!(snap.len(), 2, "id 1 was never registered");
        let tcp = &snap[0];
        assert_eq!(
            (tcp.id, tcp.kind, tcp.runs, tcp.ups),
            (0, "TCP_CHECK", 3, 1)
        );
        assert_eq!(tcp.downs(), 2);
        assert_eq!(tcp.downs_by_reason.get("refused"), Some(&1));
        assert_eq!(tcp.downs_by_reason.get("timeout"), Some(&1));
        assert_eq!(tcp.missed, 1);
        assert_eq!(tcp.up, Some(false));
        assert_eq!(tcp.subscribers.len(), 2);
        let lat = tcp.latency.unwrap();
        // 1 ms, 2 ms, 1000 ms: median 2 ms, max 1 s (within 1/16).
        assert!((1875..=2125).contains(&lat.p50_us), "{lat:?}");
        assert!((937_500..=1_062_500).contains(&lat.max_us), "{lat:?}");
        assert_eq!(lat.sum_us, 1_003_000);
        let last = tcp.last.as_ref().unwrap();
        assert_eq!((last.up, last.class), (false, "timeout"));
        let misc = &snap[1];
        assert_eq!((misc.id, misc.kind), (2, "MISC_CHECK"));
        assert_eq!(misc.downs_by_reason.get("script_timeout"), Some(&1));
    }

    #[test]
    fn json_has_the_fields_of_check_stats() {
        let v = to_json(&sample().snapshot());
        let first = &v[0];
        assert_eq!(first["kind"], "TCP_CHECK");
        assert_eq!(first["target"], "192.0.2.21:80");
        assert_eq!(first["runs"], 3);
        assert_eq!(first["downs_by_reason"]["refused"], 1);
        assert_eq!(first["subscribers"][0]["vs_name"], "192.0.2.10:80");
        assert!(first["latency"]["p99_us"].as_u64().unwrap() > 0);
        assert_eq!(v[1]["downs_by_reason"]["script_timeout"], 1);
    }

    /// A minimal parser of the text exposition format: checks the syntax
    /// of every line and returns the samples by `name{labels}`.
    fn parse(text: &str) -> HashMap<String, f64> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps = HashSet::new();
        let mut samples = HashMap::new();
        let mut seen_families = Vec::<String>::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(helps.insert(name.to_owned()), "HELP twice for {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                let (name, ty) = (it.next().unwrap(), it.next().unwrap());
                assert!(["counter", "gauge", "summary"].contains(&ty), "{line}");
                assert!(
                    types.insert(name.to_owned(), ty.to_owned()).is_none(),
                    "TYPE twice for {name}"
                );
                assert!(helps.contains(name), "TYPE before HELP for {name}");
                seen_families.push(name.to_owned());
                continue;
            }
            assert!(!line.starts_with('#'), "{line}");
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
                "{line}"
            );
            // A sample belongs to the family declared last (summaries
            // add _sum and _count).
            let family = seen_families.last().unwrap();
            assert!(
                name == family
                    || (types[family] == "summary"
                        && (name == format!("{family}_sum") || name == format!("{family}_count"))),
                "{name} outside its family {family}"
            );
            let labels = series
                .strip_prefix(name)
                .unwrap()
                .strip_prefix('{')
                .unwrap()
                .strip_suffix('}')
                .unwrap();
            // label="value" pairs, values with escapes only for \\ \" \n.
            let mut chars = labels.chars().peekable();
            while chars.peek().is_some() {
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert!(
                    key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "{line}"
                );
                assert_eq!(chars.next(), Some('"'), "{line}");
                loop {
                    match chars.next().unwrap() {
                        '\\' => assert!(matches!(chars.next(), Some('\\' | '"' | 'n'))),
                        '"' => break,
                        '\n' => panic!("raw newline in {line}"),
                        _ => {}
                    }
                }
                match chars.next() {
                    Some(',') | None => {}
                    other => panic!("{other:?} after a label in {line}"),
                }
            }
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "duplicate series {series}"
            );
        }
        samples
    }

    #[test]
    fn prometheus_exposition_is_valid_and_complete() {
        let mut out = String::new();
        to_prometheus(&sample().snapshot(), &mut out);
        let m = parse(&out);
        let l = r#"vs="192.0.2.10:80",rs="192.0.2.21:80",check="TCP_CHECK",checker="0",target="192.0.2.21:80""#;
        assert_eq!(m[&format!("healthcheck_checks_total{{{l}}}")], 3.0);
        assert_eq!(m[&format!("healthcheck_check_successes_total{{{l}}}")], 1.0);
        assert_eq!(
            m[&format!("healthcheck_check_failures_total{{{l},reason=\"refused\"}}")],
            1.0
        );
        assert_eq!(m[&format!("healthcheck_check_missed_total{{{l}}}")], 1.0);
        assert_eq!(m[&format!("healthcheck_check_up{{{l}}}")], 0.0);
        let p99 = m[&format!("healthcheck_check_latency_seconds{{{l},quantile=\"0.99\"}}")];
        assert!((0.9375..=1.0625).contains(&p99), "{p99}");
        assert_eq!(
            m[&format!("healthcheck_check_latency_seconds_sum{{{l}}}")],
            1.003
        );
        assert_eq!(
            m[&format!("healthcheck_check_latency_seconds_count{{{l}}}")],
            3.0
        );
        // The second subscriber's name is escaped.
        let l2 = r#"vs="fwmark \"1\"",rs="192.0.2.21:80",check="TCP_CHECK",checker="0",target="192.0.2.21:80""#;
        assert_eq!(m[&format!("healthcheck_checks_total{{{l2}}}")], 3.0);
        let l3 = r#"vs="192.0.2.10:80",rs="192.0.2.21:80",check="MISC_CHECK",checker="2",target="192.0.2.21:80""#;
        assert_eq!(
            m[&format!("healthcheck_check_failures_total{{{l3},reason=\"script_timeout\"}}")],
            1.0
        );
        // 2 checks, 3 label sets: 3 series in each plain family.
        assert_eq!(
            m.keys()
                .filter(|k| k.starts_with("healthcheck_checks_total{"))
                .count(),
            3
        );
    }

    #[test]
    fn empty_stats_render_only_headers() {
        let mut out = String::new();
        to_prometheus(&[], &mut out);
        assert!(parse(&out).is_empty());
        assert_eq!(out.lines().filter(|l| l.starts_with("# TYPE")).count(), 7);
        assert_eq!(to_json(&[]), serde_json::json!([]));
    }
}
