//! The health checks of `virtual_server` blocks, run inside vrrpd.
//!
//! The `healthcheck` engine runs the checkers and the pools; vrrpd logs
//! every pool change and runs keepalived's `notify_up` / `notify_down` /
//! quorum scripts through the engine's hook sink. Load balancer sinks
//! (HAProxy, IPVS) are not chosen from the configuration yet, so nothing
//! is pruned: the checks report and notify only.
//!
//! ```text
//!  Engine (checks + pools) --PoolEvent--> dispatch --+--> log sink
//!                                                    +--> hook sink (scripts)
//! ```

use healthcheck::driver::Snapshot;
use healthcheck::engine::Engine;
use healthcheck::pool::PoolEvent;
use healthcheck::sink::{dispatch, HookSink, Sink, SinkFuture};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// keepalived's default script timeout for checker notify scripts.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Logs every pool change: which real server of which virtual server went
/// up or down, quorum changes, sorry server.
struct LogSink;

impl Sink for LogSink {
    fn name(&self) -> &str {
        "log"
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        Box::pin(async move {
            match event {
                PoolEvent::RunScript { .. } => {}
                other => tracing::info!(event = ?other, "pool change"),
            }
            Ok(())
        })
    }
}

/// The running checks; [`Checkers::stop`] returns their state so a reload
/// can start the new set where the old one was (no flapping servers).
pub struct Checkers {
    stop: Option<oneshot::Sender<()>>,
    engine: JoinHandle<Snapshot>,
    sinks: JoinHandle<()>,
    pub virtual_servers: usize,
}

impl Checkers {
    /// Start the checks of `config`, or `None` if it has no virtual server.
    /// Must be called inside the tokio runtime.
    pub fn start(config: &conf::model::Config, previous: &Snapshot) -> Option<Checkers> {
        if config.virtual_servers.is_empty() {
            return None;
        }
        let seed = u64::from(std::process::id());
        // rise/fall 1/1: keepalived's behaviour (retry does the rest).
        let engine = Engine::from_config_with(config, 1, 1, Instant::now(), seed, previous);
        let (tx, rx) = mpsc::channel(1024);
        let sinks: Vec<Box<dyn Sink>> =
            vec![Box::new(LogSink), Box::new(HookSink::new(HOOK_TIMEOUT))];
        let sinks = tokio::spawn(dispatch(rx, sinks));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let engine =
            tokio::spawn(
                engine.run(healthcheck::driver::DEFAULT_MAX_CONCURRENT, tx, async {
                    let _ = stop_rx.await;
                }),
            );
        tracing::info!(
            virtual_servers = config.virtual_servers.len(),
            "health checks started (reporting and notify scripts only: no load balancer sink configured)"
        );
        Some(Checkers {
            stop: Some(stop_tx),
            engine,
            sinks,
            virtual_servers: config.virtual_servers.len(),
        })
    }

    /// Stop the checks; returns their last state.
    pub async fn stop(mut self) -> Snapshot {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let snap = (&mut self.engine).await.unwrap_or_else(|_| Snapshot::new());
        // The dispatcher ends when the engine's sender is gone; give queued
        // hooks a moment, then stop waiting.
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.sinks).await;
        snap
    }
}

impl Drop for Checkers {
    fn drop(&mut self) {
        self.engine.abort();
        self.sinks.abort();
    }
}
