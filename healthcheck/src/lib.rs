//! Health checkers, schedules with rise/fall, backend pools and pruning sinks.
//!
//! # Layout
//!
//! - [`outcome`]: [`CheckOutcome`] and [`Reason`], what one attempt found.
//! - [`spec`]: a checker of the `conf` model resolved into a [`CheckSpec`]
//!   (target, parameters) and a [`Policy`] (timers, retry, rise/fall).
//! - [`check`]: the checkers themselves, one async attempt each.
//! - [`deadline`]: an attempt's single deadline, which a late runtime
//!   extends instead of blaming the backend.
//! - [`schedule`]: the sans-IO scheduler: jittered timers, keepalived's
//!   retry semantics, rise/fall hysteresis, warmup.
//! - [`script`]: running scripts in their own process group with a deadline.
//! - [`pool`]: the sans-IO state of a virtual server's real servers:
//!   weights, quorum with hysteresis, sorry server, notify hooks.
//! - [`sink`]: where pool events go: HAProxy runtime API, a script, the
//!   notify/quorum hooks.
//! - [`driver`]: the tokio task that runs the scheduler, deduplicates
//!   identical checks and bounds concurrent attempts.
//! - `tcp_batch` (private): the driver's TCP_CHECK attempts, made by its
//!   loop on an epoll instance of its own instead of one task each.
//! - [`engine`]: a whole `conf::Config` wired up: checks feed pools, pools
//!   emit [`pool::PoolEvent`]s.
//! - [`stats`]: per-check counts, failures by reason, missed intervals and
//!   latency histograms, read while the checks run; JSON and Prometheus
//!   renderers.
//! - [`ipvs`]: IPVS over generic netlink: the messages, the socket and
//!   capability probe, and the sink that programs the kernel's table.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo(config: conf::Config) {
//! use healthcheck::engine::Engine;
//! use healthcheck::sink::{self, HaproxySink, HookSink, StatsAddr};
//!
//! let engine = Engine::from_config(&config, 1, 1, std::time::Instant::now(), 7);
//! let mut haproxy = HaproxySink::new(StatsAddr::Unix("/run/haproxy/admin.sock".into()));
//! haproxy.map(0, 0, "be_web", "web1");
//! let (tx, rx) = tokio::sync::mpsc::channel(1024);
//! tokio::spawn(sink::dispatch(
//!     rx,
//!     vec![
//!         Box::new(haproxy),
//!         Box::new(HookSink::new(std::time::Duration::from_secs(10))),
//!     ],
//! ));
//! let snapshot = engine
//!     .run(healthcheck::driver::DEFAULT_MAX_CONCURRENT, tx, async {
//!         // e.g. wait for SIGHUP / SIGTERM
//!     })
//!     .await;
//! // On reload: Engine::from_config_with(&new_config, 1, 1, now, seed, &snapshot)
//! # let _ = snapshot;
//! # }
//! ```

pub mod check;
pub mod deadline;
pub mod driver;
pub mod engine;
pub mod ipvs;
pub mod outcome;
pub mod pool;
pub mod schedule;
pub mod script;
pub mod sink;
pub mod spec;
pub mod stats;
mod tcp_batch;

pub use outcome::{CheckOutcome, Reason};
pub use spec::{CheckKey, CheckSpec, Kind, Policy};
