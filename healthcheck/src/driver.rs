//! The tokio driver around [`Schedule`].
//!
//! ```text
//!                 +--------------------+  spawn(attempt)  +-----------------+
//!  shutdown ----> |  run() loop        | ---------------> | attempt task    |
//!                 |  sleep_until(next) | <--------------- | (HTTP, SMTP,    |
//!                 |  Schedule          |  JoinSet         |  DNS, MISC ...) |
//!                 |  queue of Due      |                  +-----------------+
//!                 |  TcpBatch ---------+--> own epoll: TCP_CHECK connects,
//!                 +--------------------+    no task, timer or registration
//!                           |
//!                           v  Update<T> (health changes, with subscribers)
//! ```
//!
//! [`Checks`] deduplicates: adding a [`CheckKey`] that is already there only
//! adds a subscriber, so a real server shared by several virtual servers is
//! checked once. At most `max_concurrent` attempts are in flight at a time,
//! tasks and TCP_CHECK connects together (each holds a socket or a process;
//! the machine allows 20,000 open files per process); due attempts beyond
//! that wait in the loop's queue, oldest first, and their deadline starts
//! when they leave it.
//!
//! TCP_CHECK, most of a large fleet, is made by the loop itself (see
//! `tcp_batch`): a task, a tokio timer and a tokio I/O registration per
//! attempt were most of our user time per check. [`run_with`] makes every
//! attempt with the caller's [`Runner`] instead (tests on tokio's paused
//! clock).
//!
//! Every finished attempt is also recorded in the checks' [`StatsHandle`]
//! (counts, failures by reason, latency histogram, missed intervals), which
//! a daemon reads with [`StatsHandle::snapshot`] while the checks run.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::check;
use crate::outcome::CheckOutcome;
use crate::schedule::{CheckId, Due, HealthChange, Schedule};
use crate::spec::{CheckKey, CheckSpec, Kind};
use crate::stats::{self, StatsHandle};
use crate::tcp_batch::TcpBatch;

/// Default bound on concurrent attempts: well under the 20,000 open files
/// a process may hold, leaving room for the daemon's own sockets.
pub const DEFAULT_MAX_CONCURRENT: usize = 4096;

/// A set of deduplicated checks, each with the subscribers (`T`: whatever
/// the caller uses to route a result, e.g. virtual/real server/checker
/// indexes) that want its result.
pub struct Checks<T> {
    schedule: Schedule,
    /// By `CheckId` (dense: the schedule numbers checks from 0). Shared
    /// with the attempts instead of cloned for each (an HTTP spec is a
    /// handful of strings).
    specs: Vec<Option<Arc<CheckSpec>>>,
    /// Distinct checks (the `Some`s of `specs`).
    len: usize,
    subscribers: HashMap<CheckId, Vec<T>>,
    by_key: HashMap<CheckKey, CheckId>,
    stats: StatsHandle,
}

/// Health of every check by identity, to carry over a reload: a check
/// that is in both the old and the new configuration keeps its state, so
/// unchanged servers do not flap.
pub type Snapshot = HashMap<CheckKey, (bool, Option<i64>)>;

/// A check changed health; every subscriber of it is listed.
#[derive(Debug, Clone)]
pub struct Update<T> {
    pub subscribers: Vec<T>,
    pub change: HealthChange,
    pub outcome: CheckOutcome,
}

impl<T: Clone> Checks<T> {
    pub fn new(seed: u64) -> Self {
        Checks {
            schedule: Schedule::new(seed),
            specs: Vec::new(),
            len: 0,
            subscribers: HashMap::new(),
            by_key: HashMap::new(),
            stats: StatsHandle::new(),
        }
    }

    /// Add `subscriber` to the check `key`, creating the check if it is new.
    pub fn add(&mut self, key: CheckKey, subscriber: T, now: Instant) -> CheckId {
        self.add_with(key, subscriber, now, None)
    }

    /// [`Checks::add`] with a known initial state (see [`Snapshot`]).
    pub fn add_with(
        &mut self,
        key: CheckKey,
        subscriber: T,
        now: Instant,
        known: Option<(bool, Option<i64>)>,
    ) -> CheckId {
        let id = match self.by_key.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.schedule.add_with(key.policy, now, known);
                self.stats
                    .register(id.0, &key.spec, self.schedule.is_up(id));
                if self.specs.len() <= id.0 {
                    self.specs.resize(id.0 + 1, None);
                }
                if let Some(slot) = self.specs.get_mut(id.0) {
                    *slot = Some(Arc::new(key.spec.clone()));
                    self.len += 1;
                }
                self.by_key.insert(key, id);
                id
            }
        };
        self.subscribers.entry(id).or_default().push(subscriber);
        id
    }

    /// The statistics of these checks, kept up to date while they run
    /// (the handle stays valid after [`run`] returns).
    pub fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Number of distinct checks.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn spec(&self, id: CheckId) -> Option<&Arc<CheckSpec>> {
        self.specs.get(id.0)?.as_ref()
    }

    pub fn subscribers(&self, id: CheckId) -> &[T] {
        self.subscribers.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_up(&self, id: CheckId) -> Option<bool> {
        self.schedule.is_up(id)
    }

    /// Every check with its spec, subscribers and current health, for
    /// status output.
    pub fn iter(&self) -> impl Iterator<Item = (CheckId, &CheckSpec, &[T], Option<bool>)> {
        self.specs.iter().enumerate().filter_map(|(i, spec)| {
            let (id, spec) = (CheckId(i), spec.as_deref()?);
            Some((id, spec, self.subscribers(id), self.schedule.is_up(id)))
        })
    }

    /// The state of every check, by identity.
    pub fn snapshot(&self) -> Snapshot {
        self.by_key
            .iter()
            .filter_map(|(k, id)| Some((k.clone(), self.schedule.state(*id)?)))
            .collect()
    }
}

/// Run `checks` until `shutdown` completes, sending every health change to
/// `updates`. Returns the checks (with their state) on shutdown or when the
/// receiver is gone.
pub async fn run<T, F>(
    checks: Checks<T>,
    max_concurrent: usize,
    updates: mpsc::Sender<Update<T>>,
    shutdown: F,
) -> Checks<T>
where
    T: Clone + Send + 'static,
    F: Future<Output = ()>,
{
    run_inner(
        checks,
        max_concurrent,
        updates,
        shutdown,
        Attempts::real(None),
    )
    .await
}

/// [`run`], and every finished attempt is also shown to `observer` (the
/// benchmark records each attempt this way).
pub async fn run_observed<T, F>(
    checks: Checks<T>,
    max_concurrent: usize,
    updates: mpsc::Sender<Update<T>>,
    shutdown: F,
    observer: Observer,
) -> Checks<T>
where
    T: Clone + Send + 'static,
    F: Future<Output = ()>,
{
    let attempts = Attempts::real(Some(observer));
    run_inner(checks, max_concurrent, updates, shutdown, attempts).await
}

/// Runs one attempt of a check. [`run`] uses the real checkers; a test can
/// pass its own to drive the scheduler on tokio's paused clock.
pub type Runner = Arc<
    dyn Fn(Arc<CheckSpec>) -> std::pin::Pin<Box<dyn Future<Output = CheckOutcome> + Send>>
        + Send
        + Sync,
>;

/// Shown every finished attempt: its spec, when it started and what it
/// found. Called by the driver loop, so it must be quick.
pub type Observer = Arc<dyn Fn(&CheckSpec, Instant, &CheckOutcome) + Send + Sync>;

/// What an attempt returns: when it was due, when it started, and what
/// it found.
type Attempt = (Due, Instant, CheckOutcome);

/// How the loop makes attempts.
struct Attempts {
    runner: Runner,
    /// TCP_CHECK attempts are made by the loop itself ([`TcpBatch`])
    /// instead of by `runner`.
    tcp_batch: bool,
    observer: Option<Observer>,
}

impl Attempts {
    /// The real checkers, TCP_CHECK in the loop's batch.
    fn real(observer: Option<Observer>) -> Self {
        let ctx = Arc::new(check::Context::new());
        let runner: Runner = Arc::new(move |spec: Arc<CheckSpec>| {
            let ctx = ctx.clone();
            Box::pin(async move { ctx.run(&spec).await })
        });
        Attempts {
            runner,
            tcp_batch: true,
            observer,
        }
    }
}

/// What [`finish`] needs besides the checks.
struct Finisher {
    recorder: stats::Recorder,
    observer: Option<Observer>,
}

/// Feed one finished attempt to the schedule and the stats; the update to
/// send if the check's health changed.
fn finish<T: Clone>(
    checks: &mut Checks<T>,
    f: &Finisher,
    (due, started, outcome): Attempt,
) -> Option<Update<T>> {
    let id = due.id;
    tracing::debug!(check = id.0, up = outcome.up, reason = %outcome.reason,
        latency_ms = outcome.latency.as_millis() as u64, "check attempt");
    let now = tokio::time::Instant::now().into_std();
    let change = checks.schedule.handle_outcome(id, &outcome, now);
    let spec = checks.spec(id);
    f.recorder.record(
        id.0,
        spec.map(|s| &s.kind),
        &outcome,
        stats::is_missed(due.at, started, due.interval),
        checks.schedule.is_up(id),
    );
    if let (Some(observe), Some(spec)) = (&f.observer, spec) {
        observe(spec, started, &outcome);
    }
    let change = change?;
    Some(Update {
        subscribers: checks.subscribers(id).to_vec(),
        change,
        outcome,
    })
}

/// A task's result, or the attempt it was running if it panicked.
fn joined(
    tasks: &mut HashMap<tokio::task::Id, Due>,
    done: Result<(tokio::task::Id, Attempt), tokio::task::JoinError>,
) -> Option<Attempt> {
    match done {
        Ok((task, result)) => {
            tasks.remove(&task);
            Some(result)
        }
        Err(e) => {
            // A checker bug must not silently stop its check: count the
            // attempt as failed and go on.
            let due = tasks.remove(&e.id())?;
            tracing::error!(check = due.id.0, error = %e, "check attempt panicked");
            let outcome = CheckOutcome::down(
                crate::outcome::Reason::Io(format!("check panicked: {e}")),
                std::time::Duration::ZERO,
            );
            Some((due, due.at, outcome))
        }
    }
}

/// The batch's next events, or never when there is no batch.
async fn batch_ready(batch: &mut Option<TcpBatch>) -> std::io::Result<usize> {
    match batch {
        Some(b) => b.ready().await,
        None => std::future::pending().await,
    }
}

/// [`run`] with every attempt made by `runner` (TCP_CHECK included: no
/// batch), so that a test's runner sees them all.
pub async fn run_with<T, F>(
    checks: Checks<T>,
    max_concurrent: usize,
    updates: mpsc::Sender<Update<T>>,
    shutdown: F,
    runner: Runner,
) -> Checks<T>
where
    T: Clone + Send + 'static,
    F: Future<Output = ()>,
{
    let attempts = Attempts {
        runner,
        tcp_batch: false,
        observer: None,
    };
    run_inner(checks, max_concurrent, updates, shutdown, attempts).await
}

async fn run_inner<T, F>(
    mut checks: Checks<T>,
    max_concurrent: usize,
    updates: mpsc::Sender<Update<T>>,
    shutdown: F,
    attempts: Attempts,
) -> Checks<T>
where
    T: Clone + Send + 'static,
    F: Future<Output = ()>,
{
    let max_concurrent = max_concurrent.max(1);
    let Attempts {
        runner,
        tcp_batch,
        observer,
    } = attempts;
    let f = Finisher {
        recorder: checks.stats.recorder(),
        observer,
    };
    let mut batch = if tcp_batch {
        match TcpBatch::new() {
            Ok(b) => Some(b),
            Err(e) => {
                // Without its own epoll instance the loop still checks:
                // TCP_CHECK attempts become tasks like the others.
                tracing::warn!(error = %e, "no epoll instance for TCP checks, using tasks");
                None
            }
        }
    } else {
        None
    };
    let mut running: JoinSet<Attempt> = JoinSet::new();
    // Which check a task runs, to reschedule it even if the task panics.
    let mut tasks: HashMap<tokio::task::Id, Due> = HashMap::new();
    // Due attempts waiting for one of the `max_concurrent` places, oldest
    // first. They wait here, as a few bytes each, rather than as tasks:
    // an attempt's deadline and its start time (what the missed-interval
    // count judges) begin when it leaves the queue.
    let mut queue: VecDeque<Due> = VecDeque::new();
    // Attempts decided and not yet fed to the schedule (reused).
    let mut done: Vec<Attempt> = Vec::new();
    // One timer for the whole loop, moved only when the next deadline
    // changes: creating and dropping a timer per finished attempt cost two
    // trips through tokio's timer wheel for each of 12,000 checks a second.
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    tokio::pin!(shutdown);
    'run: loop {
        let now = tokio::time::Instant::now().into_std();
        checks.schedule.poll_due_into(now, &mut queue);
        if let Some(b) = batch.as_mut() {
            if b.len() > 0 && running.len() + b.len() + queue.len() > max_concurrent {
                // Behind: more is due than there are places. Verdicts that
                // have arrived are read before any new connect, so that
                // the backlog waits here, before its connect, and not as
                // finished handshakes nobody reads: those would count
                // their wait as latency and, past the peer's delayed-ACK
                // timer, be accepted by the backend (see check::tcp).
                b.drain(&mut done);
            }
            // Deadlines before new starts: a timeout frees a place.
            b.expire(now, &mut done);
        }
        while running.len() + batch.as_ref().map_or(0, TcpBatch::len) < max_concurrent {
            let Some(due) = queue.pop_front() else {
                break;
            };
            let Some(spec) = checks.spec(due.id) else {
                continue;
            };
            if let (Some(b), Kind::Tcp) = (batch.as_mut(), &spec.kind) {
                done.extend(b.start(due, spec));
                continue;
            }
            let spec = spec.clone();
            let runner = runner.clone();
            let handle = running.spawn(async move {
                let started = tokio::time::Instant::now().into_std();
                // The attempt's future is made only now: it is sized for
                // the largest checker (several KiB).
                (due, started, runner(spec).await)
            });
            tasks.insert(handle.id(), due);
        }
        // Attempts decided at once (refused by connect(), no route, ...)
        // and the timeouts of expire.
        for d in done.drain(..) {
            if let Some(update) = finish(&mut checks, &f, d) {
                if updates.send(update).await.is_err() {
                    break 'run;
                }
            }
        }
        let next = match (
            checks.schedule.next_deadline(),
            batch.as_mut().and_then(TcpBatch::next_deadline),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next != armed {
            if let Some(at) = next {
                sleep.as_mut().reset(at.into());
            }
            armed = next;
        }
        let batch_busy = batch.as_ref().is_some_and(|b| b.len() > 0);
        tokio::select! {
            _ = &mut shutdown => break,
            // Fired: poll_due takes what is due and expire what has
            // expired; re-arm even if the next deadline is the same instant.
            _ = &mut sleep, if armed.is_some() => armed = None,
            r = batch_ready(&mut batch), if batch_busy => match (r, batch.as_mut()) {
                (Ok(n), Some(b)) => b.handle_events(n, &mut done),
                // Only the deadlines (which read the epoll instance
                // themselves) decide the batch's attempts now.
                (Err(e), _) => tracing::error!(error = %e, "TCP check events"),
                (Ok(_), None) => {}
            },
            Some(d) = running.join_next_with_id(), if !running.is_empty() => {
                // Everything that has finished meanwhile is handled in the
                // same turn, so a burst of results is not paid for one
                // loop iteration (and one poll_due) each. try_join_next
                // respects tokio's coop budget: the batch ends when the
                // task has run long enough and must yield.
                let mut d = Some(d);
                while let Some(j) = d.take() {
                    done.extend(joined(&mut tasks, j));
                    d = running.try_join_next_with_id();
                }
            }
        }
        if let Some(b) = batch.as_mut() {
            b.unwatch();
        }
        // Fed to the schedule before the next poll_due, so that a check
        // whose next attempt is already due is started in the next turn.
        for d in done.drain(..) {
            if let Some(update) = finish(&mut checks, &f, d) {
                if updates.send(update).await.is_err() {
                    break 'run;
                }
            }
        }
    }
    running.abort_all();
    checks
}
