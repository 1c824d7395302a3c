//! One time base for every process of a drill.
//!
//! The prober (client namespace), the capture (switch namespace) and the
//! harness (fault injection) are separate processes; `CLOCK_MONOTONIC` is not
//! namespaced by `ip netns exec`, so microseconds read here are comparable
//! across all of them and immune to wall-clock steps.

use nix::time::{clock_gettime, ClockId};

/// Microseconds on `CLOCK_MONOTONIC`.
pub fn mono_us() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux; 0 keeps the function total.
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => {
            let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
            let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
            secs * 1_000_000 + nanos / 1_000
        }
        Err(_) => 0,
    }
}

/// Sleeps until `deadline_us` on the monotonic clock (returns at once if past).
pub fn sleep_until_us(deadline_us: u64) {
    let now = mono_us();
    if deadline_us > now {
        std::thread::sleep(std::time::Duration::from_micros(deadline_us - now));
    }
}
