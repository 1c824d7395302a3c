//! Health checkers, schedules with rise/fall, backend pools and pruning sinks.
//!
//! Not built yet (issue 5). The checker configuration already loads into the
//! `conf` model; this crate will run it.
