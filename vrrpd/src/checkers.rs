//! The health checks of `virtual_server` blocks, run inside vrrpd.
//!
//! The `healthcheck` engine runs the checkers and the pools; every pool
//! change goes to the sinks: a log line, keepalived's `notify_up` /
//! `notify_down` / quorum scripts, the load balancer each virtual server's
//! `lb_sink` names (HAProxy's runtime API, a script, IPVS; `global_defs`
//! gives the default, else IPVS as keepalived), and the quorum watcher
//! that feeds `track_virtual_server` trackers.
//!
//! The checks run on a thread of their own with its own tokio runtime, as
//! keepalived runs them in a process of its own: tens of thousands of
//! checks (TLS handshakes, scripts, DNS) must never delay an advert or a
//! takeover on the VRRP thread. They talk to it only through channels and
//! the statistics handle.
//!
//! ```text
//!  Engine (checks + pools) --PoolEvent--> dispatch --+--> log sink
//!        |                                           +--> hook sink (scripts)
//!        +--StatsHandle--> status / metrics          +--> haproxy sinks (per socket)
//!                                                    +--> script sinks (per command)
//!                                                    +--> ipvs sink (if the kernel has IPVS)
//!                                                    +--> quorum -> TrackInput::Pool
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use conf::model::{Config, LbSink};
use healthcheck::driver::Snapshot;
use healthcheck::engine::Engine;
use healthcheck::ipvs::{IpvsHandle, IpvsSink};
use healthcheck::pool::PoolEvent;
use healthcheck::sink::{
    dispatch, DownState, HaproxySink, HookSink, ScriptSink, Sink, SinkFuture, StatsAddr,
};
use healthcheck::stats::{CheckStats, StatsHandle};
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

/// Hands a sink only the events of its own virtual servers.
struct Only {
    inner: Box<dyn Sink>,
    vs: BTreeSet<usize>,
}

impl Sink for Only {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        if self.vs.contains(&event.vs()) {
            self.inner.apply(event)
        } else {
            Box::pin(async { Ok(()) })
        }
    }

    fn retry(&mut self) -> Option<SinkFuture<'_>> {
        self.inner.retry()
    }
}

/// Sends quorum changes, named by virtual server (`192.0.2.10:80`,
/// `fwmark 1`, `group NAME`), to the trackers.
struct QuorumSink {
    names: Vec<String>,
    tx: mpsc::Sender<crate::watch::TrackInput>,
}

impl Sink for QuorumSink {
    fn name(&self) -> &str {
        "quorum trackers"
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        Box::pin(async move {
            let (vs, up) = match event {
                PoolEvent::QuorumUp { vs } => (*vs, true),
                PoolEvent::QuorumDown { vs } => (*vs, false),
                _ => return Ok(()),
            };
            let Some(name) = self.names.get(vs) else {
                return Ok(());
            };
            self.tx
                .send(crate::watch::TrackInput::Pool {
                    name: name.clone(),
                    up,
                })
                .await
                .map_err(|_| healthcheck::sink::SinkError::Closed)
        })
    }
}

/// The sink a virtual server uses: its own `lb_sink`, else `global_defs`'s,
/// else IPVS (keepalived's only one).
pub fn effective_sink(config: &Config, vs: usize) -> LbSink {
    config.virtual_servers[vs]
        .lb_sink
        .clone()
        .or_else(|| config.global_defs.lb_sink.clone())
        .unwrap_or(LbSink::Ipvs)
}

/// `/run/haproxy/admin.sock` or `127.0.0.1:9999`.
fn stats_addr(socket: &str) -> StatsAddr {
    match socket.parse::<SocketAddr>() {
        Ok(a) if !socket.contains('/') => StatsAddr::Tcp(a),
        _ => StatsAddr::Unix(socket.into()),
    }
}

/// Build the load balancer sinks the configuration asks for. Returns them
/// with one line per sink for the log and the status.
fn lb_sinks(
    config: &Config,
    engine: &Engine,
    ipvs_probe: impl Fn() -> Result<(), String>,
    previous_ipvs: Option<&IpvsHandle>,
) -> (Vec<Box<dyn Sink>>, Vec<String>, Option<IpvsHandle>) {
    let mut haproxy: BTreeMap<(String, bool), (HaproxySink, BTreeSet<usize>)> = BTreeMap::new();
    let mut scripts: BTreeMap<String, (ScriptSink, BTreeSet<usize>)> = BTreeMap::new();
    let mut ipvs = BTreeSet::new();
    let mut none = 0usize;
    for (vi, vs) in config.virtual_servers.iter().enumerate() {
        match effective_sink(config, vi) {
            LbSink::None => none += 1,
            LbSink::Ipvs => {
                ipvs.insert(vi);
            }
            LbSink::Script { command } => {
                let e = scripts.entry(command.command.clone()).or_insert_with(|| {
                    (
                        ScriptSink::new(&command.command, &engine.pools, HOOK_TIMEOUT),
                        BTreeSet::new(),
                    )
                });
                e.1.insert(vi);
            }
            LbSink::Haproxy {
                socket,
                backend,
                drain,
            } => {
                let (sink, set) = haproxy.entry((socket.clone(), drain)).or_insert_with(|| {
                    let mut s = HaproxySink::new(stats_addr(&socket));
                    s.down_state(if drain {
                        DownState::Drain
                    } else {
                        DownState::Maint
                    });
                    (s, BTreeSet::new())
                });
                set.insert(vi);
                for (ri, rs) in vs.real_servers.iter().enumerate() {
                    match (&rs.haproxy_server, rs.port) {
                        (Some(name), _) => {
                            sink.map(vi, ri, &backend, name);
                        }
                        (None, Some(port)) => {
                            sink.map_by_addr(vi, Some(ri), &backend, SocketAddr::new(rs.ip, port));
                        }
                        (None, None) => tracing::warn!(
                            virtual_server = %vs.describe(), real_server = %rs.ip,
                            "lb_sink haproxy: real server without a port or haproxy_server name; HAProxy will not be told about it"
                        ),
                    }
                }
                if let Some(s) = &vs.sorry_server {
                    let port = s.port.or(vs.port);
                    if let Some(port) = port {
                        sink.map_by_addr(vi, None, &backend, SocketAddr::new(s.ip, port));
                    }
                }
            }
        }
    }
    let mut out: Vec<Box<dyn Sink>> = Vec::new();
    let mut described = Vec::new();
    let mut ipvs_handle = None;
    for ((socket, drain), (sink, vs)) in haproxy {
        described.push(format!(
            "haproxy {socket} ({} virtual servers, dead servers to {})",
            vs.len(),
            if drain { "drain" } else { "maint" }
        ));
        out.push(Box::new(Only {
            inner: Box::new(sink),
            vs,
        }));
    }
    for (command, (sink, vs)) in scripts {
        described.push(format!("script {command} ({} virtual servers)", vs.len()));
        out.push(Box::new(Only {
            inner: Box::new(sink),
            vs,
        }));
    }
    if !ipvs.is_empty() {
        match ipvs_probe() {
            Ok(()) => match previous_ipvs.map_or_else(
                || IpvsSink::from_config(config),
                // A reload changes only what changed in the table.
                |h| IpvsSink::from_config_with(config, h),
            ) {
                Ok(sink) => {
                    ipvs_handle = Some(sink.handle());
                    described.push(format!("ipvs ({} virtual servers)", ipvs.len()));
                    out.push(Box::new(Only {
                        inner: Box::new(sink),
                        vs: ipvs,
                    }));
                }
                Err(e) => {
                    tracing::error!(error = %e, virtual_servers = ipvs.len(), "IPVS sink refused the configuration; those virtual servers are checked but not programmed");
                    described.push(format!("ipvs refused: {e}"));
                }
            },
            Err(e) => {
                // The start-up message an operator must not miss: the
                // checks run, nothing is load balanced through IPVS.
                tracing::error!(
                    virtual_servers = ipvs.len(),
                    "{e}; {} virtual server(s) use IPVS (lb_sink ipvs, keepalived's default): choose lb_sink haproxy, script or none for them",
                    ipvs.len()
                );
                described.push(format!(
                    "ipvs not available ({} virtual servers): {e}",
                    ipvs.len()
                ));
            }
        }
    }
    if none > 0 {
        described.push(format!(
            "none ({none} virtual servers: checks and notify scripts only)"
        ));
    }
    (out, described, ipvs_handle)
}

/// What stopped checks leave for the next ones (a reload) or for the exit.
#[derive(Default)]
pub struct Stopped {
    /// The checks' last state, so a reload starts where they were.
    pub snapshot: Snapshot,
    /// The IPVS table we programmed, if any.
    pub ipvs: Option<IpvsHandle>,
}

impl Stopped {
    /// Remove the IPVS services we created (exit, or no IPVS any more).
    pub async fn remove_ipvs(self) {
        if let Some(h) = self.ipvs {
            match h.shutdown().await {
                Ok(()) => tracing::info!("IPVS services removed"),
                Err(e) => tracing::warn!(error = %e, "IPVS services not all removed"),
            }
        }
    }
}

/// The running checks; [`Checkers::stop`] returns their state so a reload
/// can start the new set where the old one was (no flapping servers).
pub struct Checkers {
    stop: Option<oneshot::Sender<()>>,
    /// The checks' thread reports its last state here when it ends.
    done: Option<oneshot::Receiver<Snapshot>>,
    stats: StatsHandle,
    ipvs: Option<IpvsHandle>,
    /// One line per load balancer sink, for the status.
    pub sink_lines: Vec<String>,
    /// `describe()` of each virtual server, by index.
    pub names: Vec<String>,
}

impl Checkers {
    /// Start the checks of `config`, or `None` if it has no virtual server.
    /// Quorum changes go to `track_tx`. Must be called inside the tokio
    /// runtime.
    pub fn start(
        config: &Config,
        previous: &Stopped,
        track_tx: mpsc::Sender<crate::watch::TrackInput>,
    ) -> Option<Checkers> {
        if config.virtual_servers.is_empty() {
            return None;
        }
        let seed = u64::from(std::process::id());
        // rise/fall 1/1: keepalived's behaviour (retry does the rest).
        let engine =
            Engine::from_config_with(config, 1, 1, Instant::now(), seed, &previous.snapshot);
        let stats = engine.stats();
        let names: Vec<String> = config
            .virtual_servers
            .iter()
            .map(|v| v.describe())
            .collect();
        let (lb, sink_lines, ipvs) = lb_sinks(
            config,
            &engine,
            || {
                healthcheck::ipvs::probe()
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
            previous.ipvs.as_ref(),
        );
        let mut sinks: Vec<Box<dyn Sink>> =
            vec![Box::new(LogSink), Box::new(HookSink::new(HOOK_TIMEOUT))];
        sinks.extend(lb);
        sinks.push(Box::new(QuorumSink {
            names: names.clone(),
            tx: track_tx,
        }));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<Snapshot>();
        let thread = std::thread::Builder::new()
            .name("vrrpd-checks".into())
            .spawn(move || run_checks(engine, sinks, stop_rx, done_tx));
        if let Err(e) = thread {
            tracing::error!(error = %e, "cannot start the health check thread; virtual servers are not checked");
            return None;
        }
        tracing::info!(
            virtual_servers = config.virtual_servers.len(),
            sinks = ?sink_lines,
            "health checks started"
        );
        Some(Checkers {
            stop: Some(stop_tx),
            done: Some(done_rx),
            stats,
            ipvs,
            sink_lines,
            names,
        })
    }

    /// Per-check statistics, read without stopping the checks.
    pub fn stats(&self) -> Vec<CheckStats> {
        self.stats.snapshot()
    }

    /// Stop the checks; returns their last state (and the IPVS table's,
    /// which stays programmed until [`Stopped::remove_ipvs`]).
    pub async fn stop(mut self) -> Stopped {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let snapshot = match self.done.take() {
            // The thread gives queued hooks up to 5 s after the checks end.
            Some(done) => tokio::time::timeout(Duration::from_secs(10), done)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(Snapshot::new),
            None => Snapshot::new(),
        };
        Stopped {
            snapshot,
            ipvs: self.ipvs.take(),
        }
    }
}

impl Drop for Checkers {
    fn drop(&mut self) {
        // The thread stops its checks and ends on its own.
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The body of the checks' thread: the engine and the sinks on a runtime
/// of their own, until `stop` (or the [`Checkers`] is dropped).
fn run_checks(
    engine: Engine,
    sinks: Vec<Box<dyn Sink>>,
    stop: oneshot::Receiver<()>,
    done: oneshot::Sender<Snapshot>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "health check runtime");
            return;
        }
    };
    rt.block_on(async move {
        let (tx, rx) = mpsc::channel(1024);
        let mut sinks: JoinHandle<()> = tokio::spawn(dispatch(rx, sinks));
        let snapshot = engine
            .run(healthcheck::driver::DEFAULT_MAX_CONCURRENT, tx, async {
                let _ = stop.await;
            })
            .await;
        // The dispatcher ends when the engine's sender is gone; give queued
        // hooks (omega, notify_down) a moment, then stop waiting.
        if tokio::time::timeout(Duration::from_secs(5), &mut sinks)
            .await
            .is_err()
        {
            sinks.abort();
        }
        let _ = done.send(snapshot);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Config {
        let l = conf::load_keepalived_str("t.conf", text, &conf::ParseOptions::default());
        assert!(!l.diagnostics.has_errors(), "{}", l.diagnostics);
        l.config
    }

    const TEXT: &str = "global_defs {\n    lb_sink none\n}\n\
        virtual_server 192.0.2.10 80 {\n    lb_sink haproxy /run/h.sock be\n    real_server 192.0.2.21 80 {\n        TCP_CHECK {\n        }\n    }\n}\n\
        virtual_server 192.0.2.10 81 {\n    lb_sink haproxy /run/h.sock be2\n    real_server 192.0.2.21 81 {\n        TCP_CHECK {\n        }\n    }\n}\n\
        virtual_server 192.0.2.10 82 {\n    real_server 192.0.2.21 82 {\n        TCP_CHECK {\n        }\n    }\n}\n\
        virtual_server 192.0.2.10 83 {\n    lb_sink ipvs\n    lb_algo rr\n    real_server 192.0.2.21 83 {\n        TCP_CHECK {\n        }\n    }\n}\n\
        virtual_server 192.0.2.10 84 {\n    lb_sink script /bin/true\n    real_server 192.0.2.21 84 {\n        TCP_CHECK {\n        }\n    }\n}\n";

    #[test]
    fn sinks_follow_lb_sink_with_global_default() {
        let cfg = load(TEXT);
        assert_eq!(effective_sink(&cfg, 2), LbSink::None, "global_defs");
        assert_eq!(effective_sink(&cfg, 3), LbSink::Ipvs);
        let engine = Engine::from_config(&cfg, 1, 1, Instant::now(), 1);
        let (sinks, lines, ipvs) = lb_sinks(
            &cfg,
            &engine,
            || Err("IPVS not available: no ip_vs".to_string()),
            None,
        );
        assert!(ipvs.is_none());
        // One HAProxy sink for the shared socket, one script sink; IPVS is
        // reported, not built.
        assert_eq!(sinks.len(), 2, "{lines:?}");
        assert_eq!(
            lines,
            [
                "haproxy /run/h.sock (2 virtual servers, dead servers to maint)",
                "script /bin/true (1 virtual servers)",
                "ipvs not available (1 virtual servers): IPVS not available: no ip_vs",
                "none (1 virtual servers: checks and notify scripts only)",
            ]
        );
    }

    #[test]
    fn stats_socket_addresses() {
        assert_eq!(
            stats_addr("127.0.0.1:9999"),
            StatsAddr::Tcp("127.0.0.1:9999".parse().unwrap())
        );
        assert_eq!(
            stats_addr("/run/haproxy/admin.sock"),
            StatsAddr::Unix("/run/haproxy/admin.sock".into())
        );
    }

    #[tokio::test]
    async fn only_forwards_its_virtual_servers() {
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl Sink for Count {
            fn name(&self) -> &str {
                "count"
            }
            fn apply<'a>(&'a mut self, _: &'a PoolEvent) -> SinkFuture<'a> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Box::pin(async { Ok(()) })
            }
        }
        let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut only = Only {
            inner: Box::new(Count(n.clone())),
            vs: [1].into_iter().collect(),
        };
        only.apply(&PoolEvent::QuorumUp { vs: 0 }).await.unwrap();
        only.apply(&PoolEvent::QuorumUp { vs: 1 }).await.unwrap();
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
