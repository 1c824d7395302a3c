//! One attempt's deadline that does not blame the backend for our own lag.
//!
//! `tokio::time::timeout` decides "timed out" the moment it sees its timer
//! expired. When the checker's runtime is behind (its thread starved by the
//! rest of the machine, or thousands of attempts finishing at once), an
//! attempt of several steps (connect, send, read) may see its timer expire
//! while answers that arrived in time are still unread: the lag is ours,
//! the verdict would blame the backend.
//!
//! [`within`] gives the verdict only when its timer fires on time: a timer
//! seen more than [`LATE`] after its deadline means the runtime is behind
//! and events for this attempt may be waiting; it re-arms the timer
//! [`GRACE`] later, so that they are read first. The extra time is bounded
//! by the timeout itself, counted from the first late look (a dead backend
//! on an overloaded checker is reported at most one timeout later).

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

/// A timer seen later than this after its deadline means the runtime is
/// behind. tokio's timer has 1 ms resolution; a runtime that keeps up sees
/// its timers within a few ms.
pub const LATE: Duration = Duration::from_millis(10);

/// How long after a late timer the deadline is looked at again: long
/// enough for the runtime to read the socket events it had not seen.
pub const GRACE: Duration = Duration::from_millis(10);

/// The deadline expired, seen by a runtime that was on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline expired")]
pub struct Elapsed;

/// Run `fut` for at most `timeout`, or, when the runtime is seen late at
/// the deadline, until it has caught up (at most `timeout` more after the
/// first late look; see the module doc).
pub async fn within<F: Future>(timeout: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = std::pin::pin!(tokio::time::sleep(timeout));
    // Set at the first late look: no extension goes past it.
    let mut cap: Option<Instant> = None;
    std::future::poll_fn(|cx| {
        // The attempt first: what it has received decides before the timer.
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        loop {
            // The clock is read as well as the timer: a sleep polled when
            // the task's coop budget is spent stays pending, and an attempt
            // that spends it on every poll (a server flooding a body we
            // hash) must still meet its deadline.
            let fired = sleep.as_mut().poll(cx).is_ready();
            let now = Instant::now();
            if !fired && now < sleep.deadline() {
                return Poll::Pending;
            }
            let lag = now.saturating_duration_since(sleep.deadline());
            let cap = *cap.get_or_insert(now + timeout);
            if lag <= LATE || now >= cap {
                return Poll::Ready(Err(Elapsed));
            }
            // Late: look again once the runtime has read its pending
            // events (polling the sleep again registers the new deadline).
            sleep.as_mut().reset((now + GRACE).min(cap));
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn on_time_expiry_is_a_timeout_and_a_quick_future_wins() {
        let t0 = Instant::now();
        let r = within(Duration::from_millis(100), std::future::pending::<()>()).await;
        assert_eq!(r, Err(Elapsed));
        assert_eq!(t0.elapsed(), Duration::from_millis(100));
        let r = within(Duration::from_millis(100), async { 7 }).await;
        assert_eq!(r, Ok(7));
    }

    /// Pending on its first poll, pending (waking itself) on the second,
    /// ready on the third: an answer that the runtime has not delivered
    /// yet when the deadline is seen.
    fn third_poll_ready() -> impl Future<Output = u8> {
        let mut polls = 0;
        std::future::poll_fn(move |cx| {
            polls += 1;
            match polls {
                1 => Poll::Pending,
                2 => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                _ => Poll::Ready(3),
            }
        })
    }

    fn stalled(timeout_ms: u64, stall_ms: u64) -> Result<u8, Elapsed> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        rt.block_on(async {
            let t = tokio::spawn(within(
                Duration::from_millis(timeout_ms),
                third_poll_ready(),
            ));
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(stall_ms));
            t.await.unwrap_or_else(|e| panic!("join: {e}"))
        })
    }

    #[test]
    fn a_late_timer_gives_the_attempt_another_look() {
        // The thread is held 200 ms past a 50 ms deadline: the timer is
        // seen late, the attempt is looked at again and its answer wins.
        assert_eq!(stalled(50, 250), Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_on_time_timer_decides() {
        // The same attempt with a runtime on time: the second poll comes
        // from the timer, which is not late, so it is a timeout.
        let r = within(Duration::from_millis(50), third_poll_ready()).await;
        assert_eq!(r, Err(Elapsed));
    }
}
