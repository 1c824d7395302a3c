//! The main loop's one timer: a `timerfd` on CLOCK_MONOTONIC, armed at an
//! absolute time and watched by tokio's reactor like any socket.
//!
//! tokio's own timers fire on whole milliseconds, at or after the deadline
//! (its `epoll_wait` timeout is in ms). At advert 10 ms, two backups'
//! Skew_Times differ by 0.4 ms per 10 priority points (RFC 5798 §6.1):
//! rounded to the same millisecond, both become master at once and the
//! loser's gratuitous ARP can strand clients. Until now the loop let tokio
//! wake it a millisecond early and slept the rest with `nanosleep`: two
//! sleeps and wake-ups per deadline, the largest part of a master's own
//! CPU at 1,000 instances. A timerfd fires on the kernel's high-resolution
//! timer (no timer slack applies to it) and ends tokio's `epoll_wait`
//! itself: one wake-up, and the loop never blocks.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::ClockId as Clock;
use tokio::io::Interest;

pub struct WakeTimer {
    timer: TimerFd,
    /// A duplicate of the timer's descriptor registered with tokio's
    /// reactor. It is held as a `UdpSocket`, used only as a readiness-driven
    /// descriptor (as the raw VRRP sockets are, see `net::socket`): tokio's
    /// `AsyncFd::new` is deprecated as unsound and its replacement is
    /// `unsafe`. Both descriptors refer to one timer.
    io: tokio::net::UdpSocket,
    /// What the timer is set to; `None` once it fired (or never set).
    armed: Option<Instant>,
}

impl WakeTimer {
    /// Must be called inside a tokio runtime (the descriptor is
    /// registered with its reactor).
    pub fn new() -> io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let dup = timer.as_fd().try_clone_to_owned()?;
        let io = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(dup))?;
        Ok(WakeTimer {
            timer,
            io,
            armed: None,
        })
    }

    /// Fire at `at` (at once if it has passed), or earlier: a timer already
    /// set to an earlier time is left alone, and the caller, woken early,
    /// finds nothing due and arms again. A backup's down timer moves later
    /// with every advert it hears; following each move would cost a
    /// `timerfd_settime` (and a reprogrammed hardware timer) per received
    /// advert, where an early wake-up costs one per earliest deadline.
    pub fn arm(&mut self, at: Instant) -> io::Result<()> {
        if self.armed.is_some_and(|armed| armed <= at) {
            return Ok(());
        }
        self.timer.set(
            Expiration::OneShot(monotonic(at)?),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        self.armed = Some(at);
        Ok(())
    }

    /// Completes once the armed time has come. Pending forever while the
    /// timer is not armed: callers only poll it when it is.
    pub async fn fired(&mut self) -> io::Result<()> {
        let timer = &self.timer;
        self.io
            .async_io(Interest::READABLE, || {
                // The count of expirations; EAGAIN (not yet) makes tokio
                // wait for the next edge.
                let mut count = [0u8; 8];
                nix::unistd::read(timer.as_fd(), &mut count).map_err(io::Error::from)
            })
            .await?;
        self.armed = None;
        Ok(())
    }
}

/// `at` on CLOCK_MONOTONIC, which is what `Instant` reads on Linux. The
/// offset between the two is taken at the same moment each time (two vDSO
/// reads, well under a µs apart).
fn monotonic(at: Instant) -> io::Result<TimeSpec> {
    let now = Instant::now();
    let clock = nix::time::clock_gettime(Clock::CLOCK_MONOTONIC)?;
    let ts = match at.checked_duration_since(now) {
        Some(ahead) => clock + TimeSpec::from_duration(ahead),
        // Passed: fire at once. A zero time would disarm the timer instead,
        // so never go below one nanosecond.
        None => {
            let behind = TimeSpec::from_duration(now - at);
            if clock > behind {
                clock - behind
            } else {
                TimeSpec::from_duration(Duration::from_nanos(1))
            }
        }
    };
    Ok(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn fires_at_the_armed_time_not_before() {
        let mut t = WakeTimer::new().unwrap();
        let start = Instant::now();
        let at = start + Duration::from_millis(30);
        t.arm(at).unwrap();
        t.fired().await.unwrap();
        assert!(Instant::now() >= at, "fired before its time");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn rearming_earlier_wins_and_a_past_time_fires_at_once() {
        let mut t = WakeTimer::new().unwrap();
        let start = Instant::now();
        t.arm(start + Duration::from_secs(30)).unwrap();
        let early = start + Duration::from_millis(20);
        t.arm(early).unwrap();
        // Later than what is set: kept at the earlier time.
        t.arm(start + Duration::from_secs(60)).unwrap();
        t.fired().await.unwrap();
        let fired_at = Instant::now();
        assert!(fired_at >= early);
        assert!(
            fired_at < start + Duration::from_secs(30),
            "kept the first arming"
        );
        // Fired: arming to a time already passed fires again at once.
        t.arm(start).unwrap();
        tokio::time::timeout(Duration::from_secs(5), t.fired())
            .await
            .expect("a past deadline must fire")
            .unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn not_fired_before_the_deadline() {
        let mut t = WakeTimer::new().unwrap();
        t.arm(Instant::now() + Duration::from_secs(30)).unwrap();
        let r = tokio::time::timeout(Duration::from_millis(50), t.fired()).await;
        assert!(r.is_err(), "fired 30 s early");
    }
}
