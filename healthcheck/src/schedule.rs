//! The sans-IO check scheduler.
//!
//! It owns the timers and the health state of every check and never reads
//! a clock: callers pass `now`. The driver loop is:
//!
//! 1. sleep until [`Schedule::next_deadline`];
//! 2. start every id from [`Schedule::poll_due`];
//! 3. feed each finished attempt to [`Schedule::handle_outcome`], which
//!    re-arms the timer and returns a [`HealthChange`] when the check's
//!    health (or its reported weight) changed.
//!
//! The next attempt is due one interval after the previous one was *due*
//! (as keepalived's MISC_CHECK does, `last_ran + delay_loop`), not after it
//! finished: the time an attempt takes, and the time the driver takes to
//! see its result, must not stretch the interval. They did, before: on a
//! busy machine every attempt took a few hundred ms longer, every interval
//! grew by as much, and the benchmark saw thousands of checks more than
//! 1.5 intervals apart at a fraction of the configured rate. An attempt
//! that outlasts the interval is followed at once (a check never runs
//! twice at a time); the interval after it counts from that start, so
//! nothing is run in a burst to catch up.
//!
//! Timing follows keepalived: while a check is up, a failed attempt is
//! retried after `delay_before_retry` up to `retry` times, so one check
//! fails only after `retry + 1` failed attempts; otherwise (and always
//! while down) the next check runs `delay_loop` later. On top of that, `rise` consecutive successful checks bring a
//! check up and `fall` consecutive failed checks bring it down (both 1 in
//! keepalived). The first check runs at a random point of `[0, warmup]`,
//! and every `delay_loop` is jittered by ±[`JITTER_PERCENT`] %, so that
//! thousands of checks added together do not fire in step.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::Policy;

/// Spread of each `delay_loop`, in percent either side.
pub const JITTER_PERCENT: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId(pub usize);

/// A check changed health, or reported a new weight while up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    pub id: CheckId,
    pub up: bool,
    /// The weight reported by the check (misc_dynamic, FILE_CHECK).
    pub weight: Option<i64>,
    /// The reason of the attempt that decided it.
    pub reason: Reason,
}

#[derive(Debug)]
struct Entry {
    policy: Policy,
    up: bool,
    /// Failed attempts in the current check (reset by a success or when
    /// the check is counted as failed).
    failed_attempts: u32,
    /// Consecutive successful / failed checks, for rise and fall.
    successes: u32,
    failures: u32,
    weight: Option<i64>,
    /// When the timer fires (the key in `Schedule::timers`).
    next_at: Option<Instant>,
    /// When the next attempt should start: `next_at`, unless the previous
    /// attempt outlasted its interval (then `next_at` is when it ended).
    next_nominal: Instant,
    /// The interval that led to `next_nominal` (warmup counts as a
    /// `delay_loop`), to tell how late an attempt starts.
    next_interval: Duration,
    /// While an attempt runs: when it was started by the timer, the base
    /// of the next interval.
    anchor: Option<Instant>,
    in_flight: bool,
}

/// A check that is due: start an attempt now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub id: CheckId,
    /// When the attempt was due.
    pub at: Instant,
    /// The interval before it (`delay_loop` or `delay_before_retry`): an
    /// attempt that starts more than half of it after `at` missed its
    /// slot (see [`crate::stats::is_missed`]).
    pub interval: Duration,
}

pub struct Schedule {
    entries: Vec<Option<Entry>>,
    timers: BTreeSet<(Instant, CheckId)>,
    rng: StdRng,
}

impl Schedule {
    /// `seed` makes the jitter reproducible in tests.
    pub fn new(seed: u64) -> Self {
        Schedule {
            entries: Vec::new(),
            timers: BTreeSet::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Add a check. It starts down with `alpha`, up otherwise (keepalived
    /// assumes a real server alive until a check says otherwise).
    pub fn add(&mut self, policy: Policy, now: Instant) -> CheckId {
        self.add_with(policy, now, None)
    }

    /// Add a check whose health is already known (`(up, weight)`, e.g.
    /// carried over a configuration reload), instead of the `alpha` rule.
    pub fn add_with(
        &mut self,
        policy: Policy,
        now: Instant,
        known: Option<(bool, Option<i64>)>,
    ) -> CheckId {
        let id = CheckId(self.entries.len());
        let first = later(now, self.random_upto(policy.warmup));
        let (up, weight) = known.unwrap_or((!policy.alpha, None));
        self.entries.push(Some(Entry {
            policy,
            up,
            failed_attempts: 0,
            successes: 0,
            failures: 0,
            weight,
            next_at: None,
            next_nominal: first,
            next_interval: policy.delay_loop,
            anchor: None,
            in_flight: false,
        }));
        self.arm(id, first, first, policy.delay_loop);
        id
    }

    pub fn remove(&mut self, id: CheckId) {
        if let Some(slot) = self.entries.get_mut(id.0) {
            if let Some(e) = slot.take() {
                if let Some(at) = e.next_at {
                    self.timers.remove(&(at, id));
                }
            }
        }
    }

    /// Current health of a check.
    pub fn is_up(&self, id: CheckId) -> Option<bool> {
        self.entry(id).map(|e| e.up)
    }

    /// Current health and last reported weight.
    pub fn state(&self, id: CheckId) -> Option<(bool, Option<i64>)> {
        self.entry(id).map(|e| (e.up, e.weight))
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Every check due at `now`, marked in flight: its timer stays disarmed
    /// until its outcome comes back, so a slow check never overlaps itself.
    pub fn poll_due(&mut self, now: Instant) -> Vec<CheckId> {
        self.poll_due_timed(now).into_iter().map(|d| d.id).collect()
    }

    /// [`Schedule::poll_due`] with when each check was due and the
    /// interval before it.
    pub fn poll_due_timed(&mut self, now: Instant) -> Vec<Due> {
        let mut due = Vec::new();
        self.poll_due_into(now, &mut due);
        due
    }

    /// [`Schedule::poll_due_timed`] into the caller's collection (the
    /// driver's queue), without a new vector for each turn of its loop.
    pub fn poll_due_into(&mut self, now: Instant, due: &mut impl Extend<Due>) {
        while self.timers.first().is_some_and(|(at, _)| *at <= now) {
            let Some((at, id)) = self.timers.pop_first() else {
                break;
            };
            if let Some(e) = self.entry_mut(id) {
                e.next_at = None;
                e.anchor = Some(at);
                e.in_flight = true;
                due.extend(Some(Due {
                    id,
                    at: e.next_nominal,
                    interval: e.next_interval,
                }));
            }
        }
    }

    /// Feed the result of an attempt that finished at `now`.
    pub fn handle_outcome(
        &mut self,
        id: CheckId,
        outcome: &CheckOutcome,
        now: Instant,
    ) -> Option<HealthChange> {
        let jittered = {
            let e = self.entry(id)?;
            let d = e.policy.delay_loop;
            self.jitter(d)
        };
        let e = self.entry_mut(id)?;
        e.in_flight = false;
        // The base of the next interval: when this attempt was due (an
        // outcome fed without poll_due, as a test may, counts from now).
        let base = e.anchor.take().unwrap_or(now).min(now);
        let mut change = None;
        let next;
        let interval;
        if outcome.up {
            e.failed_attempts = 0;
            e.failures = 0;
            e.successes = e.successes.saturating_add(1);
            // A success without a weight (MISC_CHECK exit 0 with
            // misc_dynamic) keeps the last one, as keepalived does.
            let weight_changed = outcome.weight.is_some() && e.weight != outcome.weight;
            if outcome.weight.is_some() {
                e.weight = outcome.weight;
            }
            if !e.up && e.successes >= e.policy.rise.max(1) {
                e.up = true;
                change = Some(true);
            } else if e.up && weight_changed {
                change = Some(true);
            }
            next = later(base, jittered);
            interval = jittered;
        } else if e.up && e.failed_attempts < e.policy.retry {
            // keepalived `retry`: an up check is tried again soon before the
            // failure counts; a down check is not (keepalived's checkers
            // only retry while up, so a dead server is not hammered).
            // Any failed attempt breaks a run of successes toward `rise`.
            e.failed_attempts += 1;
            e.successes = 0;
            next = later(base, e.policy.delay_before_retry);
            interval = e.policy.delay_before_retry;
        } else {
            e.failed_attempts = 0;
            e.successes = 0;
            e.failures = e.failures.saturating_add(1);
            if e.up && e.failures >= e.policy.fall.max(1) {
                e.up = false;
                change = Some(false);
            }
            next = later(base, jittered);
            interval = jittered;
        }
        let weight = e.weight;
        // Outlasted its interval: the next attempt starts now, and is
        // counted late against `next`.
        self.arm(id, next.max(now), next, interval);
        change.map(|up| HealthChange {
            id,
            up,
            weight,
            reason: outcome.reason.clone(),
        })
    }

    fn arm(&mut self, id: CheckId, at: Instant, nominal: Instant, interval: Duration) {
        if let Some(e) = self.entries.get_mut(id.0).and_then(Option::as_mut) {
            e.next_nominal = nominal;
            e.next_interval = interval;
            if let Some(old) = e.next_at.replace(at) {
                self.timers.remove(&(old, id));
            }
            self.timers.insert((at, id));
        }
    }

    fn random_upto(&mut self, max: Duration) -> Duration {
        let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.rng.random_range(0..=ms))
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2);
        let spread = ms / 100 * u64::from(JITTER_PERCENT);
        if spread == 0 {
            return d;
        }
        let offset = self.rng.random_range(0..=2 * spread);
        Duration::from_millis(ms - spread + offset)
    }

    fn entry(&self, id: CheckId) -> Option<&Entry> {
        self.entries.get(id.0).and_then(Option::as_ref)
    }

    fn entry_mut(&mut self, id: CheckId) -> Option<&mut Entry> {
        self.entries.get_mut(id.0).and_then(Option::as_mut)
    }
}

/// `now + d`, saturating far in the future instead of overflowing on an
/// absurd configured duration.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86400)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retry: u32, rise: u32, fall: u32) -> Policy {
        Policy {
            delay_loop: Duration::from_secs(10),
            retry,
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::ZERO,
            alpha: false,
            rise,
            fall,
        }
    }

    fn ok() -> CheckOutcome {
        CheckOutcome::up(Reason::Ok, Duration::ZERO)
    }

    fn bad() -> CheckOutcome {
        CheckOutcome::down(Reason::Refused, Duration::ZERO)
    }

    /// Run one attempt at the next deadline on a simulated clock.
    fn step(s: &mut Schedule, now: &mut Instant, o: &CheckOutcome) -> Option<HealthChange> {
        *now = s.next_deadline().unwrap();
        let due = s.poll_due(*now);
        assert_eq!(due.len(), 1);
        s.handle_outcome(due[0], o, *now)
    }

    #[test]
    fn fails_only_after_retry_plus_one_attempts() {
        let t0 = Instant::now();
        let mut now = t0;
        let mut s = Schedule::new(1);
        let id = s.add(policy(2, 1, 1), now);
        assert_eq!(s.next_deadline(), Some(t0), "warmup 0 starts at once");
        assert_eq!(step(&mut s, &mut now, &bad()), None);
        assert_eq!(s.next_deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(step(&mut s, &mut now, &bad()), None);
        let change = step(&mut s, &mut now, &bad()).unwrap();
        assert!(!change.up);
        assert_eq!(change.reason, Reason::Refused);
        assert_eq!(s.is_up(id), Some(false));
        // After the failure the next check waits delay_loop ± jitter.
        let gap = s.next_deadline().unwrap() - now;
        assert!(gap >= Duration::from_millis(9500) && gap <= Duration::from_millis(10500));
        // One success brings it back (rise 1).
        assert!(step(&mut s, &mut now, &ok()).unwrap().up);
    }

    #[test]
    fn a_success_between_retries_resets_the_count() {
        let mut now = Instant::now();
        let mut s = Schedule::new(2);
        let id = s.add(policy(1, 1, 1), now);
        assert_eq!(step(&mut s, &mut now, &bad()), None);
        assert_eq!(step(&mut s, &mut now, &ok()), None);
        assert_eq!(step(&mut s, &mut now, &bad()), None);
        assert_eq!(s.is_up(id), Some(true));
    }

    #[test]
    fn rise_and_fall_with_a_flapping_server() {
        let mut now = Instant::now();
        let mut s = Schedule::new(3);
        let id = s.add(policy(0, 3, 2), now);
        // Flapping every check: never two failures in a row, stays up.
        for i in 0..20 {
            let o = if i % 2 == 0 { bad() } else { ok() };
            assert_eq!(step(&mut s, &mut now, &o), None, "check {i}");
        }
        assert_eq!(s.is_up(id), Some(true));
        // Two failures in a row: down on the second.
        assert_eq!(step(&mut s, &mut now, &bad()), None);
        assert!(!step(&mut s, &mut now, &bad()).unwrap().up);
        // Flapping while down: never three successes in a row.
        for i in 0..21 {
            let o = if i % 3 == 2 { bad() } else { ok() };
            assert_eq!(step(&mut s, &mut now, &o), None, "check {i}");
        }
        assert_eq!(s.is_up(id), Some(false));
        assert_eq!(step(&mut s, &mut now, &ok()), None);
        assert_eq!(step(&mut s, &mut now, &ok()), None);
        assert!(step(&mut s, &mut now, &ok()).unwrap().up);
    }

    #[test]
    fn alpha_starts_down_until_first_success() {
        let mut now = Instant::now();
        let mut s = Schedule::new(4);
        let id = s.add(
            Policy {
                alpha: true,
                ..policy(1, 1, 1)
            },
            now,
        );
        assert_eq!(s.is_up(id), Some(false));
        assert!(step(&mut s, &mut now, &ok()).unwrap().up);
    }

    #[test]
    fn weight_change_while_up_is_reported() {
        let mut now = Instant::now();
        let mut s = Schedule::new(5);
        s.add(policy(0, 1, 1), now);
        let c = step(&mut s, &mut now, &ok().with_weight(Some(7))).unwrap();
        assert_eq!((c.up, c.weight), (true, Some(7)));
        assert_eq!(step(&mut s, &mut now, &ok().with_weight(Some(7))), None);
        // No weight reported: the last one stays.
        assert_eq!(step(&mut s, &mut now, &ok()), None);
        assert_eq!(s.state(CheckId(0)), Some((true, Some(7))));
    }

    #[test]
    fn warmup_spreads_first_checks() {
        let now = Instant::now();
        let mut s = Schedule::new(6);
        let p = Policy {
            warmup: Duration::from_secs(60),
            ..policy(0, 1, 1)
        };
        for _ in 0..1000 {
            s.add(p, now);
        }
        let mut firsts = Vec::new();
        while let Some(at) = s.next_deadline() {
            let due = s.poll_due(at);
            firsts.extend(due.iter().map(|_| at - now));
        }
        assert_eq!(firsts.len(), 1000);
        assert!(firsts.iter().all(|d| *d <= Duration::from_secs(60)));
        // No second of the minute holds more than 5% of the checks.
        let mut per_sec = [0u32; 61];
        for d in &firsts {
            per_sec[d.as_secs() as usize] += 1;
        }
        assert!(per_sec.iter().all(|n| *n <= 50), "{per_sec:?}");
    }

    #[test]
    fn absurd_durations_do_not_overflow() {
        let now = Instant::now();
        let mut s = Schedule::new(8);
        let p = Policy {
            delay_loop: Duration::MAX,
            warmup: Duration::MAX,
            delay_before_retry: Duration::MAX,
            ..policy(1, 1, 1)
        };
        let id = s.add(p, now);
        let at = s.next_deadline().unwrap();
        assert_eq!(s.poll_due(at), vec![id]);
        assert_eq!(s.handle_outcome(id, &bad(), at), None);
        assert!(s.next_deadline().unwrap() >= at);
    }

    #[test]
    fn the_interval_counts_from_when_the_attempt_was_due() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Schedule::new(10);
        let id = s.add(policy(1, 1, 1), t0);
        let due = s.poll_due_timed(t0);
        assert_eq!(
            due,
            vec![Due {
                id,
                at: t0,
                interval: Duration::from_secs(10)
            }]
        );
        // The attempt takes 600 ms: the next one is still due 10 s (±5 %)
        // after t0, not after the 600 ms.
        assert_eq!(s.handle_outcome(id, &ok(), t0 + ms(600)), None);
        let next = s.next_deadline().unwrap();
        assert!(
            next >= t0 + ms(9500) && next <= t0 + ms(10500),
            "{:?}",
            next - t0
        );
        // A failed attempt is retried delay_before_retry after it was due.
        let due = s.poll_due_timed(next);
        assert_eq!(due[0].at, next);
        assert_eq!(s.handle_outcome(id, &bad(), next + ms(300)), None);
        assert_eq!(s.next_deadline(), Some(next + Duration::from_secs(1)));
    }

    #[test]
    fn an_attempt_longer_than_its_interval_is_followed_at_once() {
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        let mut s = Schedule::new(11);
        let id = s.add(policy(1, 1, 1), t0);
        s.poll_due(t0);
        // Failed after 3 s: the retry was due at t0 + 1 s, it runs now and
        // is reported 2 s late against an interval of 1 s.
        assert_eq!(s.handle_outcome(id, &bad(), t0 + secs(3)), None);
        assert_eq!(s.next_deadline(), Some(t0 + secs(3)));
        let due = s.poll_due_timed(t0 + secs(3));
        assert_eq!(
            due,
            vec![Due {
                id,
                at: t0 + secs(1),
                interval: secs(1)
            }]
        );
        // The interval after it counts from when it ran, so a fast result
        // now does not make the check run again at once to catch up.
        let change = s.handle_outcome(id, &bad(), t0 + secs(3)).unwrap();
        assert!(!change.up);
        let next = s.next_deadline().unwrap();
        assert!(next >= t0 + Duration::from_millis(12500), "{:?}", next - t0);
    }

    #[test]
    fn in_flight_checks_are_not_due_again() {
        let now = Instant::now();
        let mut s = Schedule::new(7);
        let id = s.add(policy(0, 1, 1), now);
        assert_eq!(s.poll_due(now), vec![id]);
        assert_eq!(s.next_deadline(), None);
        assert!(s.poll_due(now + Duration::from_secs(100)).is_empty());
        s.remove(id);
        assert_eq!(s.is_up(id), None);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a run-length model: an up check goes down exactly when
        /// the run of failed attempts since the last success reaches
        /// `(retry + 1) * fall`; a down check goes up exactly when the run
        /// of successes reaches `rise`. Nothing else changes its health.
        #[test]
        fn health_follows_run_lengths(
            retry in 0u32..4,
            rise in 1u32..4,
            fall in 1u32..4,
            alpha in any::<bool>(),
            attempts in proptest::collection::vec(any::<bool>(), 0..200),
        ) {
            let policy = Policy {
                delay_loop: Duration::from_secs(5),
                retry,
                delay_before_retry: Duration::from_secs(1),
                warmup: Duration::from_secs(3),
                alpha,
                rise,
                fall,
            };
            let mut s = Schedule::new(9);
            let mut now = Instant::now();
            let id = s.add(policy, now);
            let (mut up, mut fail_run, mut ok_run) = (!alpha, 0u32, 0u32);
            for ok in attempts {
                let at = s.next_deadline().unwrap();
                prop_assert!(at >= now, "time never goes back");
                now = at;
                prop_assert_eq!(s.poll_due(now), vec![id]);
                let o = CheckOutcome {
                    up: ok,
                    reason: if ok { Reason::Ok } else { Reason::Timeout },
                    latency: Duration::ZERO,
                    weight: None,
                };
                let change = s.handle_outcome(id, &o, now);
                // A down check never retries early.
                if !up && !ok {
                    let gap = s.next_deadline().unwrap() - now;
                    prop_assert!(gap >= Duration::from_millis(4750), "{:?}", gap);
                }
                if ok {
                    ok_run += 1;
                    fail_run = 0;
                } else {
                    fail_run += 1;
                    ok_run = 0;
                }
                let expect = if up && !ok && fail_run == (retry + 1) * fall {
                    Some(false)
                } else if !up && ok && ok_run == rise {
                    Some(true)
                } else {
                    None
                };
                prop_assert_eq!(change.map(|c| c.up), expect);
                if let Some(e) = expect {
                    up = e;
                }
                prop_assert_eq!(s.is_up(id), Some(up));
            }
        }
    }
}
