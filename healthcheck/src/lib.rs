//! Health checkers, schedules with rise/fall, backend pools and pruning sinks.
//!
//! # Layout
//!
//! - [`outcome`]: [`CheckOutcome`] and [`Reason`], what one attempt found.
//! - [`spec`]: a checker of the `conf` model resolved into a [`CheckSpec`]
//!   (target, parameters) and a [`Policy`] (timers, retry, rise/fall).
//! - [`check`]: the checkers themselves, one async attempt each.
//! - [`schedule`]: the sans-IO scheduler: jittered timers, keepalived's
//!   retry semantics, rise/fall hysteresis, warmup.
//! - [`driver`]: the tokio task that runs the scheduler, deduplicates
//!   identical checks and bounds concurrent attempts with a semaphore.

pub mod check;
pub mod driver;
pub mod outcome;
pub mod schedule;
pub mod spec;

pub use outcome::{CheckOutcome, Reason};
pub use spec::{CheckKey, CheckSpec, Kind, Policy};
