//! The tokio driver around [`Schedule`].
//!
//! ```text
//!                 +--------------------+  spawn(attempt)  +-----------------+
//!  shutdown ----> |  run() loop        | ---------------> | attempt task    |
//!                 |  sleep_until(next) |                  | (semaphore      |
//!                 |  Schedule          | <--------------- |  permit held)   |
//!                 +--------------------+  results mpsc    +-----------------+
//!                           |
//!                           v  Update<T> (health changes, with subscribers)
//! ```
//!
//! [`Checks`] deduplicates: adding a [`CheckKey`] that is already there only
//! adds a subscriber, so a real server shared by several virtual servers is
//! checked once. At most `max_concurrent` attempts run at a time (each holds
//! a socket or a process; the machine allows 20,000 open files per process).
//!
//! Every finished attempt is also recorded in the checks' [`StatsHandle`]
//! (counts, failures by reason, latency histogram, missed intervals), which
//! a daemon reads with [`StatsHandle::snapshot`] while the checks run.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::check;
use crate::outcome::CheckOutcome;
use crate::schedule::{CheckId, Due, HealthChange, Schedule};
use crate::spec::{CheckKey, CheckSpec};
use crate::stats::{self, StatsHandle};

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
    let ctx = Arc::new(check::Context::new());
    let runner: Runner = Arc::new(move |spec: Arc<CheckSpec>| {
        let ctx = ctx.clone();
        Box::pin(async move { ctx.run(&spec).await })
    });
    run_with(checks, max_concurrent, updates, shutdown, runner).await
}

/// Runs one attempt of a check. [`run`] uses the real checkers; a test can
/// pass its own to drive the scheduler on tokio's paused clock.
pub type Runner = Arc<
    dyn Fn(Arc<CheckSpec>) -> std::pin::Pin<Box<dyn Future<Output = CheckOutcome> + Send>>
        + Send
        + Sync,
>;

/// What an attempt task returns: when it was due, when it started (holding
/// its permit), and what it found.
type Attempt = (Due, std::time::Instant, CheckOutcome);

/// Feed one finished attempt (or a panicked one) to the schedule and the
/// stats; the update to send if the check's health changed.
fn finish<T: Clone>(
    checks: &mut Checks<T>,
    recorder: &stats::Recorder,
    tasks: &mut HashMap<tokio::task::Id, Due>,
    done: Result<(tokio::task::Id, Attempt), tokio::task::JoinError>,
) -> Option<Update<T>> {
    let (due, started, outcome) = match done {
        Ok((task, result)) => {
            tasks.remove(&task);
            result
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
            (due, due.at, outcome)
        }
    };
    let id = due.id;
    tracing::debug!(check = id.0, up = outcome.up, reason = %outcome.reason,
        latency_ms = outcome.latency.as_millis() as u64, "check attempt");
    let now = tokio::time::Instant::now().into_std();
    let change = checks.schedule.handle_outcome(id, &outcome, now);
    recorder.record(
        id.0,
        checks.spec(id).map(|s| &s.kind),
        &outcome,
        stats::is_missed(due.at, started, due.interval),
        checks.schedule.is_up(id),
    );
    let change = change?;
    Some(Update {
        subscribers: checks.subscribers(id).to_vec(),
        change,
        outcome,
    })
}

/// [`run`] with the attempts made by `runner`.
pub async fn run_with<T, F>(
    mut checks: Checks<T>,
    max_concurrent: usize,
    updates: mpsc::Sender<Update<T>>,
    shutdown: F,
    runner: Runner,
) -> Checks<T>
where
    T: Clone + Send + 'static,
    F: Future<Output = ()>,
{
    let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
    let recorder = checks.stats.recorder();
    let mut running: JoinSet<Attempt> = JoinSet::new();
    // Which check a task runs, to reschedule it even if the task panics.
    let mut tasks: HashMap<tokio::task::Id, Due> = HashMap::new();
    // One timer for the whole loop, moved only when the next deadline
    // changes: creating and dropping a timer per finished attempt cost two
    // trips through tokio's timer wheel for each of 12,000 checks a second.
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<std::time::Instant> = None;
    tokio::pin!(shutdown);
    'run: loop {
        let now = tokio::time::Instant::now();
        for due in checks.schedule.poll_due_timed(now.into_std()) {
            let Some(spec) = checks.spec(due.id).cloned() else {
                continue;
            };
            let permits = permits.clone();
            let runner = runner.clone();
            let handle = running.spawn(async move {
                // The permit is taken inside the task so the loop never
                // waits; the attempt's deadline starts once it holds one.
                let _permit = permits.acquire_owned().await;
                let started = tokio::time::Instant::now().into_std();
                // The attempt's future is made only now: it is sized for
                // the largest checker (several KiB), and when the checks
                // fall behind, thousands of tasks wait for a permit.
                (due, started, runner(spec).await)
            });
            tasks.insert(handle.id(), due);
        }
        let next = checks.schedule.next_deadline();
        if next != armed {
            if let Some(at) = next {
                sleep.as_mut().reset(at.into());
            }
            armed = next;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            // Fired: poll_due takes what is due; re-arm even if the next
            // deadline is the same instant.
            _ = &mut sleep, if armed.is_some() => armed = None,
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                // Everything that has finished meanwhile is handled in the
                // same turn, so a burst of results is not paid for one
                // loop iteration (and one poll_due) each. try_join_next
                // respects tokio's coop budget: the batch ends when the
                // task has run long enough and must yield.
                let mut done = Some(done);
                while let Some(d) = done.take() {
                    if let Some(update) = finish(&mut checks, &recorder, &mut tasks, d) {
                        if updates.send(update).await.is_err() {
                            break 'run;
                        }
                    }
                    done = running.try_join_next_with_id();
                }
            }
        }
    }
    running.abort_all();
    checks
}
