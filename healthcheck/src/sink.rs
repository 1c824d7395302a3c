//! Sinks: where pool events go.
//!
//! - [`HaproxySink`] drives HAProxy's runtime API (stats socket, Unix or
//!   TCP): `set server BACKEND/SERVER state ready|drain|maint` and
//!   `set server BACKEND/SERVER weight N`.
//! - [`ScriptSink`] runs one command per server/quorum event with the
//!   event as arguments.
//! - [`HookSink`] runs the notify/quorum scripts of
//!   [`PoolEvent::RunScript`].
//! - [`ChannelSink`] forwards (some) events to a channel, for vrrpd's
//!   trackers.
//!
//! [`crate::ipvs::IpvsSink`] programs the kernel's IPVS table.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::pool::{PoolEvent, ServerChange};
use crate::script::{self, ScriptError};

pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("haproxy stats socket {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("haproxy stats socket {addr}: no answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("haproxy refused `{command}`: {reply}")]
    Rejected { command: String, reply: String },
    #[error("script: {0}")]
    Script(#[from] ScriptError),
    #[error("the receiving side is gone")]
    Closed,
    #[error("not found in haproxy yet (will retry): {what}")]
    Unmapped { what: String },
    #[error("script `{command}` failed: {status}")]
    ScriptFailed { command: String, status: String },
    #[error(transparent)]
    Ipvs(#[from] crate::ipvs::IpvsError),
}

/// Something that applies pool events. Events of one pool arrive in order;
/// a sink that fails on one event still gets the next ones.
pub trait Sink: Send {
    fn name(&self) -> &str;
    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a>;
    /// Work left over from a failed `apply` (a load balancer that was not
    /// up yet), tried again every [`RETRY_EVERY`] while events are quiet;
    /// `None` when there is nothing to retry.
    fn retry(&mut self) -> Option<SinkFuture<'_>> {
        None
    }
}

/// How often [`dispatch`] calls [`Sink::retry`].
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Where HAProxy's stats socket listens (`stats socket` in haproxy.cfg,
/// `level admin` needed for `set server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl std::fmt::Display for StatsAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsAddr::Unix(p) => write!(f, "{}", p.display()),
            StatsAddr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// The state a dead server is put in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownState {
    /// `maint`: no traffic at all, health checks stopped.
    #[default]
    Maint,
    /// `drain`: no new connections, existing ones and persistence kept.
    Drain,
}

/// HAProxy's largest server weight.
const HAPROXY_WEIGHT_MAX: u32 = 256;

pub struct HaproxySink {
    addr: StatsAddr,
    /// (vs, rs) -> (backend, server).
    servers: HashMap<(usize, usize), (String, String)>,
    /// vs -> (backend, server) of its sorry server.
    sorry: HashMap<usize, (String, String)>,
    /// Servers known by address only, found in their backend with `show
    /// servers state` before the first command that needs them.
    by_addr: Vec<ByAddr>,
    /// The last event of a server still unresolved, replayed once it is
    /// found (so its first state is not lost when HAProxy starts late).
    held: Vec<PoolEvent>,
    down_state: DownState,
    timeout: Duration,
    name: String,
}

impl HaproxySink {
    pub fn new(addr: StatsAddr) -> Self {
        let name = format!("haproxy {addr}");
        HaproxySink {
            addr,
            servers: HashMap::new(),
            sorry: HashMap::new(),
            by_addr: Vec::new(),
            held: Vec::new(),
            down_state: DownState::Maint,
            timeout: Duration::from_secs(5),
            name,
        }
    }

    /// Real server `rs` of virtual server `vs` is `backend/server`.
    pub fn map(&mut self, vs: usize, rs: usize, backend: &str, server: &str) -> &mut Self {
        self.servers
            .insert((vs, rs), (backend.to_owned(), server.to_owned()));
        self
    }

    /// The sorry server of `vs` is `backend/server`.
    pub fn map_sorry(&mut self, vs: usize, backend: &str, server: &str) -> &mut Self {
        self.sorry
            .insert(vs, (backend.to_owned(), server.to_owned()));
        self
    }

    /// Real server `rs` of `vs` (or its sorry server, `rs: None`) is the
    /// server of `backend` with address `addr`; its name is looked up in
    /// HAProxy when first needed.
    pub fn map_by_addr(
        &mut self,
        vs: usize,
        rs: Option<usize>,
        backend: &str,
        addr: SocketAddr,
    ) -> &mut Self {
        self.by_addr.push(ByAddr {
            vs,
            rs,
            backend: backend.to_owned(),
            addr,
        });
        self
    }

    /// Find the servers mapped by address: one `show servers state` per
    /// backend. Servers not (yet) in HAProxy stay pending.
    async fn resolve(&mut self) -> Result<(), SinkError> {
        let mut backends: Vec<String> = self.by_addr.iter().map(|b| b.backend.clone()).collect();
        backends.sort();
        backends.dedup();
        let mut missing = Vec::new();
        for backend in backends {
            let reply = self.query(&format!("show servers state {backend}")).await?;
            let servers = parse_servers_state(&reply);
            let (found, rest): (Vec<ByAddr>, Vec<ByAddr>) = std::mem::take(&mut self.by_addr)
                .into_iter()
                .partition(|b| b.backend == backend && servers.iter().any(|(_, a)| *a == b.addr));
            self.by_addr = rest;
            for b in found {
                let Some((name, _)) = servers.iter().find(|(_, a)| *a == b.addr) else {
                    continue;
                };
                tracing::info!(sink = %self.name, backend = %b.backend, server = %name, addr = %b.addr,
                    "haproxy server found by address");
                match b.rs {
                    Some(rs) => {
                        self.servers
                            .insert((b.vs, rs), (b.backend.clone(), name.clone()));
                    }
                    None => {
                        self.sorry.insert(b.vs, (b.backend.clone(), name.clone()));
                    }
                }
            }
            missing.extend(
                self.by_addr
                    .iter()
                    .filter(|b| b.backend == backend)
                    .map(|b| b.addr.to_string()),
            );
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Unmapped {
                what: missing.join(", "),
            })
        }
    }

    fn is_pending(&self, event: &PoolEvent) -> bool {
        match event {
            PoolEvent::Server { vs, rs, .. } => self
                .by_addr
                .iter()
                .any(|b| b.vs == *vs && b.rs == Some(*rs)),
            PoolEvent::SorryServer { vs, .. } => {
                self.by_addr.iter().any(|b| b.vs == *vs && b.rs.is_none())
            }
            _ => false,
        }
    }

    pub fn down_state(&mut self, s: DownState) -> &mut Self {
        self.down_state = s;
        self
    }

    pub fn timeout(&mut self, t: Duration) -> &mut Self {
        self.timeout = t;
        self
    }

    /// The runtime API commands for `event` (none for unmapped servers and
    /// events HAProxy has no use for).
    pub fn commands(&self, event: &PoolEvent) -> Vec<String> {
        let down = match self.down_state {
            DownState::Maint => "maint",
            DownState::Drain => "drain",
        };
        match event {
            PoolEvent::Server { vs, rs, change } => {
                let Some((b, s)) = self.servers.get(&(*vs, *rs)) else {
                    return Vec::new();
                };
                match change {
                    // Weight first, so the server never takes traffic with
                    // a stale weight.
                    ServerChange::Up { weight } => vec![
                        format!(
                            "set server {b}/{s} weight {}",
                            weight.min(&HAPROXY_WEIGHT_MAX)
                        ),
                        format!("set server {b}/{s} state ready"),
                    ],
                    ServerChange::Down => vec![format!("set server {b}/{s} state {down}")],
                    ServerChange::Weight(w) => vec![format!(
                        "set server {b}/{s} weight {}",
                        w.min(&HAPROXY_WEIGHT_MAX)
                    )],
                }
            }
            PoolEvent::SorryServer { vs, active, .. } => {
                let Some((b, s)) = self.sorry.get(vs) else {
                    return Vec::new();
                };
                let state = if *active { "ready" } else { down };
                vec![format!("set server {b}/{s} state {state}")]
            }
            PoolEvent::QuorumUp { .. }
            | PoolEvent::QuorumDown { .. }
            | PoolEvent::RunScript { .. } => Vec::new(),
        }
    }

    /// Send one command on a fresh connection (HAProxy's non-interactive
    /// mode: one command, the reply, then it closes). An empty reply means
    /// success; anything else is HAProxy's error text.
    pub async fn send(&self, command: &str) -> Result<(), SinkError> {
        let reply = self.query(command).await?;
        let reply = reply.trim();
        if reply.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Rejected {
                command: command.to_owned(),
                reply: reply.to_owned(),
            })
        }
    }

    /// One command, its whole reply.
    pub async fn query(&self, command: &str) -> Result<String, SinkError> {
        let addr = self.addr.to_string();
        let io_err = |source| SinkError::Io {
            addr: addr.clone(),
            source,
        };
        let exchange = async {
            match &self.addr {
                StatsAddr::Unix(p) => {
                    let s = tokio::net::UnixStream::connect(p).await.map_err(io_err)?;
                    talk(s, command).await.map_err(io_err)
                }
                StatsAddr::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a).await.map_err(io_err)?;
                    talk(s, command).await.map_err(io_err)
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SinkError::Timeout {
                addr: addr.clone(),
                timeout: self.timeout,
            })?
    }
}

/// A server known by its address (see [`HaproxySink::map_by_addr`]).
#[derive(Debug, Clone)]
struct ByAddr {
    vs: usize,
    rs: Option<usize>,
    backend: String,
    addr: SocketAddr,
}

/// `show servers state BACKEND` → (server name, address:port). The first
/// line is the format version, the second names the columns (`# be_id
/// be_name srv_id srv_name srv_addr ... srv_port ...`); lines that do not
/// parse are skipped.
pub fn parse_servers_state(reply: &str) -> Vec<(String, SocketAddr)> {
    let mut lines = reply.lines().filter(|l| !l.trim().is_empty());
    let _version = lines.next();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let header: Vec<&str> = header.trim_start_matches('#').split_whitespace().collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(name), Some(addr), Some(port)) = (col("srv_name"), col("srv_addr"), col("srv_port"))
    else {
        return Vec::new();
    };
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ip: std::net::IpAddr = f.get(addr)?.parse().ok()?;
            let port: u16 = f.get(port)?.parse().ok()?;
            Some(((*f.get(name)?).to_owned(), SocketAddr::new(ip, port)))
        })
        .collect()
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    command: &str,
) -> std::io::Result<String> {
    s.write_all(command.as_bytes()).await?;
    s.write_all(b"\n").await?;
    s.flush().await?;
    let mut reply = Vec::new();
    // HAProxy closes after answering; cap what we keep of a long answer.
    (&mut s).take(64 * 1024).read_to_end(&mut reply).await?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

impl Sink for HaproxySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        Box::pin(self.process(Some(event)))
    }

    fn retry(&mut self) -> Option<SinkFuture<'_>> {
        if self.held.is_empty() {
            None
        } else {
            Some(Box::pin(self.process(None)))
        }
    }
}

impl HaproxySink {
    /// Apply `event` (none: only retry), after finding the servers known
    /// by address and replaying the events that waited for them.
    async fn process(&mut self, event: Option<&PoolEvent>) -> Result<(), SinkError> {
        let mut events = Vec::new();
        if !self.by_addr.is_empty() {
            let resolved = self.resolve().await;
            // Replay what waited for servers found now, oldest first.
            let held = std::mem::take(&mut self.held);
            let (ready, still): (Vec<_>, Vec<_>) =
                held.into_iter().partition(|e| !self.is_pending(e));
            self.held = still;
            events.extend(ready);
            match event {
                Some(event) if self.is_pending(event) => {
                    // Keep only the newest event per server.
                    self.held.retain(|e| !same_server(e, event));
                    self.held.push(event.clone());
                    resolved?;
                }
                None => resolved?,
                Some(_) => {}
            }
        }
        if let Some(event) = event {
            if !self.is_pending(event) {
                events.push(event.clone());
            }
        }
        for e in &events {
            for c in self.commands(e) {
                tracing::info!(sink = %self.name, command = %c, "haproxy");
                self.send(&c).await?;
            }
        }
        Ok(())
    }
}

fn same_server(a: &PoolEvent, b: &PoolEvent) -> bool {
    match (a, b) {
        (PoolEvent::Server { vs: a, rs: b, .. }, PoolEvent::Server { vs: c, rs: d, .. }) => {
            a == c && b == d
        }
        (PoolEvent::SorryServer { vs: a, .. }, PoolEvent::SorryServer { vs: c, .. }) => a == c,
        _ => false,
    }
}

/// Runs `command ACTION VS RS [WEIGHT]` for every server event and
/// `command quorum-up|quorum-down VS` for quorum events, where VS and RS
/// are the names given by `names` (e.g. `192.0.2.10:80`, `10.0.0.1:8080`).
pub struct ScriptSink {
    command: String,
    vs_names: Vec<String>,
    rs_names: Vec<Vec<String>>,
    timeout: Duration,
}

impl ScriptSink {
    /// `pools`: the engine's pools, for names.
    pub fn new(command: &str, pools: &[crate::pool::Pool], timeout: Duration) -> Self {
        ScriptSink {
            command: command.to_owned(),
            vs_names: pools.iter().map(|p| p.name().to_owned()).collect(),
            rs_names: pools
                .iter()
                .map(|p| {
                    (0..p.len())
                        .map(|i| p.server_name(i).unwrap_or_default().to_owned())
                        .collect()
                })
                .collect(),
            timeout,
        }
    }

    /// The arguments for `event`, or `None` if it is not for this sink.
    pub fn arguments(&self, event: &PoolEvent) -> Option<Vec<String>> {
        let vs_name = |vs: usize| self.vs_names.get(vs).cloned().unwrap_or_default();
        let rs_name = |vs: usize, rs: usize| {
            self.rs_names
                .get(vs)
                .and_then(|v| v.get(rs))
                .cloned()
                .unwrap_or_default()
        };
        Some(match event {
            PoolEvent::Server { vs, rs, change } => {
                let mut a = vec![String::new(), vs_name(*vs), rs_name(*vs, *rs)];
                match change {
                    ServerChange::Up { weight } => {
                        a[0] = "up".into();
                        a.push(weight.to_string());
                    }
                    ServerChange::Down => a[0] = "down".into(),
                    ServerChange::Weight(w) => {
                        a[0] = "weight".into();
                        a.push(w.to_string());
                    }
                }
                a
            }
            PoolEvent::QuorumUp { vs } => vec!["quorum-up".into(), vs_name(*vs)],
            PoolEvent::QuorumDown { vs } => vec!["quorum-down".into(), vs_name(*vs)],
            PoolEvent::SorryServer {
                vs,
                ip,
                port,
                active,
            } => vec![
                if *active { "sorry-on" } else { "sorry-off" }.into(),
                vs_name(*vs),
                match port {
                    Some(p) => SocketAddr::new(*ip, *p).to_string(),
                    None => ip.to_string(),
                },
            ],
            PoolEvent::RunScript { .. } => return None,
        })
    }
}

impl Sink for ScriptSink {
    fn name(&self) -> &str {
        &self.command
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        Box::pin(async move {
            let Some(args) = self.arguments(event) else {
                return Ok(());
            };
            let status = script::run(&self.command, &args, None, None, self.timeout).await?;
            if status.success() {
                Ok(())
            } else {
                Err(SinkError::ScriptFailed {
                    command: format!("{} {}", self.command, args.join(" ")),
                    status: script::describe(status),
                })
            }
        })
    }
}

/// Runs the notify_up/notify_down/quorum_up/quorum_down scripts carried by
/// [`PoolEvent::RunScript`], as the script's user/group, each with a
/// deadline.
pub struct HookSink {
    timeout: Duration,
}

impl HookSink {
    pub fn new(timeout: Duration) -> Self {
        HookSink { timeout }
    }
}

impl Sink for HookSink {
    fn name(&self) -> &str {
        "hooks"
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        Box::pin(async move {
            let PoolEvent::RunScript {
                script: s, hook, ..
            } = event
            else {
                return Ok(());
            };
            tracing::info!(?hook, command = %s.command, "running hook");
            let status = script::run(
                &s.command,
                &[],
                s.user.as_deref(),
                s.group.as_deref(),
                self.timeout,
            )
            .await?;
            if status.success() {
                Ok(())
            } else {
                Err(SinkError::ScriptFailed {
                    command: s.command.clone(),
                    status: script::describe(status),
                })
            }
        })
    }
}

/// Forwards events to a channel, e.g. vrrpd's trackers (which watch
/// `QuorumUp`/`QuorumDown`). `filter` picks the events to forward.
pub struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<PoolEvent>,
    filter: fn(&PoolEvent) -> bool,
}

impl ChannelSink {
    pub fn new(tx: tokio::sync::mpsc::Sender<PoolEvent>, filter: fn(&PoolEvent) -> bool) -> Self {
        ChannelSink { tx, filter }
    }

    /// Only quorum changes.
    pub fn quorum_only(e: &PoolEvent) -> bool {
        matches!(e, PoolEvent::QuorumUp { .. } | PoolEvent::QuorumDown { .. })
    }
}

impl Sink for ChannelSink {
    fn name(&self) -> &str {
        "channel"
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        Box::pin(async move {
            if (self.filter)(event) {
                self.tx
                    .send(event.clone())
                    .await
                    .map_err(|_| SinkError::Closed)?;
            }
            Ok(())
        })
    }
}

/// Feed every event from `events` to every sink, each sink in its own
/// task with its own queue: every sink sees every event in order, a slow
/// sink (a hanging script, an unreachable stats socket waiting for its
/// timeout) does not hold back the others nor the checks feeding
/// `events`, and a failure is logged without stopping anything. Returns
/// when `events` closes and every sink has applied everything queued.
pub async fn dispatch(
    mut events: tokio::sync::mpsc::Receiver<PoolEvent>,
    sinks: Vec<Box<dyn Sink>>,
) {
    let mut queues = Vec::with_capacity(sinks.len());
    let mut tasks = tokio::task::JoinSet::new();
    for mut sink in sinks {
        // Unbounded: events are small and rare next to what a sink does
        // per event, and blocking here would stall the health checks.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PoolEvent>();
        queues.push(tx);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(RETRY_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    e = rx.recv() => {
                        let Some(e) = e else { break };
                        if let Err(err) = sink.apply(&e).await {
                            tracing::warn!(sink = sink.name(), event = ?e, error = %err, "sink failed");
                        }
                    }
                    _ = tick.tick() => {
                        let name = sink.name().to_owned();
                        if let Some(f) = sink.retry() {
                            if let Err(err) = f.await {
                                tracing::warn!(sink = %name, error = %err, "sink retry failed");
                            }
                        }
                    }
                }
            }
        });
    }
    while let Some(e) = events.recv().await {
        for q in &queues {
            // A sink task only ends when its queue closes, so this cannot
            // fail while `queues` is alive.
            let _ = q.send(e.clone());
        }
    }
    drop(queues);
    while tasks.join_next().await.is_some() {}
}
