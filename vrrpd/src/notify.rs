//! Notifications of state changes, keepalived's way
//! (`keepalived/vrrp/vrrp_notify.c`), delivered in order without ever
//! delaying the VRRP timers.
//!
//! # What runs for a state change
//!
//! For an instance or sync group entering MASTER, BACKUP, FAULT or STOP,
//! in this order (`send_instance_notifies` / `send_group_notifies`):
//!
//! 1. its `notify_master` / `notify_backup` / `notify_fault` /
//!    `notify_stop` script, as configured;
//! 2. its generic `notify` script with four arguments appended:
//!    `INSTANCE|GROUP`, the name, the state, and the priority (the effective
//!    priority of an instance; always 0 for a group, as keepalived);
//! 3. one line on `notify_fifo` and `vrrp_notify_fifo`:
//!    `INSTANCE "VI_1" MASTER 100\n` (`notify_fifo()`: type, quoted name,
//!    state, priority).
//!
//! Priority changes (`notify_priority_changes`) only write a fifo line,
//! state `MASTER_PRIORITY` / `BACKUP_PRIORITY`; `MASTER_RX_LOWER_PRI` runs
//! `notify_master_rx_lower_pri` (no arguments) and writes a fifo line.
//!
//! # Task topology
//!
//! ```text
//!  caller (VRRP main loop)
//!     | notify(event): try_send, never waits; a full queue drops and counts
//!     v
//!  mpsc (bounded) --> dispatcher task: writes the fifo line(s) at once, in
//!                       |            event order; hands scripts to the
//!                       |            subject's worker (try_send, drop+count)
//!                       +--> worker "INSTANCE VI_1": runs its jobs one at a
//!                       +--> worker "GROUP G":       time, each script to
//!                       ...                          completion or timeout
//! ```
//!
//! keepalived forks notify scripts and does not wait for them, so two of
//! them may run at once and finish out of order. We promise more: a later
//! notification for the same instance or group never starts before the
//! earlier one finished or was killed at `script_timeout`. Different
//! instances do not wait for each other.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use conf::model::{Config, Notify};
use daemon::script::{RunAs, Script, ScriptError};
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::fsm::State;

/// Default queue length, for the caller's queue and each worker's.
pub const DEFAULT_QUEUE: usize = 1024;

/// Default bound on one notify script's run. keepalived never kills a
/// notify script (it does not wait for it); ordered delivery needs a bound
/// so a hung script cannot hold back every later notification.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Who changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Instance,
    Group,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::Instance => "INSTANCE",
            Subject::Group => "GROUP",
        })
    }
}

/// The state (or event) notified, with keepalived's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
    /// A master received an advert of lower priority (fifo and
    /// `notify_master_rx_lower_pri`).
    MasterRxLowerPri,
    /// The effective priority changed while MASTER (fifo only).
    MasterPriority,
    /// The effective priority changed while BACKUP (fifo only).
    BackupPriority,
}

impl NotifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
            NotifyState::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
            NotifyState::MasterPriority => "MASTER_PRIORITY",
            NotifyState::BackupPriority => "BACKUP_PRIORITY",
        }
    }

    /// The notification for entering an fsm state; keepalived sends none
    /// for INIT.
    pub fn from_fsm(state: State) -> Option<Self> {
        match state {
            State::Master => Some(NotifyState::Master),
            State::Backup => Some(NotifyState::Backup),
            State::Fault => Some(NotifyState::Fault),
            State::Initialize => None,
        }
    }
}

impl fmt::Display for NotifyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state change to notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyEvent {
    pub subject: Subject,
    pub name: String,
    pub state: NotifyState,
    /// An instance's effective priority; 0 for a group.
    pub priority: u8,
}

impl NotifyEvent {
    pub fn instance(name: impl Into<String>, state: NotifyState, priority: u8) -> Self {
        NotifyEvent {
            subject: Subject::Instance,
            name: name.into(),
            state,
            priority,
        }
    }

    /// keepalived reports a group's priority as 0.
    pub fn group(name: impl Into<String>, state: NotifyState) -> Self {
        NotifyEvent {
            subject: Subject::Group,
            name: name.into(),
            state,
            priority: 0,
        }
    }

    /// The `notify_fifo` line: `INSTANCE "VI_1" MASTER 100\n`.
    pub fn fifo_line(&self) -> String {
        format!(
            "{} \"{}\" {} {}\n",
            self.subject, self.name, self.state, self.priority
        )
    }

    /// The arguments appended to the generic `notify` script.
    pub fn notify_args(&self) -> [String; 4] {
        [
            self.subject.to_string(),
            self.name.clone(),
            self.state.to_string(),
            self.priority.to_string(),
        ]
    }
}

/// The notify scripts of one instance or sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyScripts {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    /// The generic `notify`.
    pub any: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
}

impl NotifyScripts {
    /// Build from the model: each script split keepalived's way and run as
    /// its own `user`/`group`, else `default_user` (see
    /// [`RunAs::default_for`]).
    pub fn from_config(n: &Notify, default_user: Option<&RunAs>) -> Result<Self, ScriptError> {
        let conv = |s: &Option<conf::model::Script>| -> Result<Option<Script>, ScriptError> {
            let Some(s) = s else { return Ok(None) };
            let who = match &s.user {
                Some(u) => Some(RunAs::resolve(u, s.group.as_deref())?),
                None => default_user.cloned(),
            };
            Ok(Some(Script::parse(&s.command)?.run_as(who)))
        };
        Ok(NotifyScripts {
            master: conv(&n.master)?,
            backup: conv(&n.backup)?,
            fault: conv(&n.fault)?,
            stop: conv(&n.stop)?,
            any: conv(&n.any)?,
            master_rx_lower_pri: conv(&n.master_rx_lower_pri)?,
        })
    }

    /// The scripts keepalived runs for `ev`, in its order: the state's own
    /// script, then the generic one with `TYPE NAME STATE PRIORITY`.
    pub fn scripts_for(&self, ev: &NotifyEvent) -> Vec<Script> {
        let specific = match ev.state {
            NotifyState::Master => &self.master,
            NotifyState::Backup => &self.backup,
            NotifyState::Fault => &self.fault,
            NotifyState::Stop => &self.stop,
            NotifyState::MasterRxLowerPri => {
                return self.master_rx_lower_pri.iter().cloned().collect()
            }
            NotifyState::MasterPriority | NotifyState::BackupPriority => return Vec::new(),
        };
        let mut out: Vec<Script> = specific.iter().cloned().collect();
        if let Some(any) = &self.any {
            out.push(any.with_args(ev.notify_args()));
        }
        out
    }

    /// Drop the scripts that fail keepalived's `enable_script_security`
    /// check, returning why each was refused.
    pub fn enforce_security(&mut self) -> Vec<ScriptError> {
        let mut refused = Vec::new();
        for slot in [
            &mut self.master,
            &mut self.backup,
            &mut self.fault,
            &mut self.stop,
            &mut self.any,
            &mut self.master_rx_lower_pri,
        ] {
            if let Some(s) = slot {
                if let Err(e) = s.check_secure() {
                    refused.push(e);
                    *slot = None;
                }
            }
        }
        refused
    }

    pub fn is_empty(&self) -> bool {
        *self == NotifyScripts::default()
    }
}

/// A configuration the notifier cannot be built from.
#[derive(Debug, Error)]
pub enum NotifyConfigError {
    #[error("{what}: {source}")]
    Script {
        what: String,
        #[source]
        source: ScriptError,
    },
}

/// What the notifier delivers, and where.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub scripts: HashMap<(Subject, String), NotifyScripts>,
    /// `notify_fifo` and `vrrp_notify_fifo`: every line goes to each.
    pub fifos: Vec<PathBuf>,
    /// `notify_fifo_script`s: started with the fifo path as argument, run
    /// until the notifier shuts down.
    pub fifo_scripts: Vec<(Script, PathBuf)>,
    pub queue: usize,
    pub script_timeout: Option<Duration>,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            scripts: HashMap::new(),
            fifos: Vec::new(),
            fifo_scripts: Vec::new(),
            queue: DEFAULT_QUEUE,
            script_timeout: Some(DEFAULT_SCRIPT_TIMEOUT),
        }
    }
}

impl NotifierConfig {
    /// Everything the VRRP side notifies, from the model: every instance's
    /// and sync group's scripts, `notify_fifo` and `vrrp_notify_fifo`.
    /// With `enable_script_security`, insecure scripts are left out and
    /// returned as the second value (keepalived disables them and logs).
    pub fn from_config(cfg: &Config) -> Result<(Self, Vec<ScriptError>), NotifyConfigError> {
        let g = &cfg.global_defs;
        let default_user = RunAs::default_for(
            g.script_user.as_deref(),
            g.script_group.as_deref(),
            g.enable_script_security,
        )
        .map_err(|source| NotifyConfigError::Script {
            what: "script_user".into(),
            source,
        })?;
        let mut out = NotifierConfig::default();
        let mut refused = Vec::new();
        let mut add = |subject: Subject, name: &str, n: &Notify| -> Result<(), NotifyConfigError> {
            let mut s = NotifyScripts::from_config(n, default_user.as_ref()).map_err(|source| {
                NotifyConfigError::Script {
                    what: format!("{subject} {name}"),
                    source,
                }
            })?;
            if g.enable_script_security {
                refused.extend(s.enforce_security());
            }
            if !s.is_empty() {
                out.scripts.insert((subject, name.to_owned()), s);
            }
            Ok(())
        };
        for i in &cfg.vrrp_instances {
            add(Subject::Instance, &i.name, &i.notify)?;
        }
        for sg in &cfg.sync_groups {
            add(Subject::Group, &sg.name, &sg.notify)?;
        }
        for f in [&g.notify_fifo, &g.vrrp_notify_fifo].into_iter().flatten() {
            out.fifos.push(PathBuf::from(&f.path));
            if let Some(s) = &f.script {
                let script = match &s.user {
                    Some(u) => Some(RunAs::resolve(u, s.group.as_deref())),
                    None => default_user.clone().map(Ok),
                }
                .transpose()
                .and_then(|who| Ok(Script::parse(&s.command)?.run_as(who)))
                .map_err(|source| NotifyConfigError::Script {
                    what: format!("notify_fifo_script of {}", f.path),
                    source,
                })?;
                out.fifo_scripts.push((script, PathBuf::from(&f.path)));
            }
        }
        Ok((out, refused))
    }
}

/// Counters of the notifier, readable while it runs.
#[derive(Debug, Default)]
pub struct NotifierStats {
    /// Events accepted by [`Notifier::notify`].
    pub queued: AtomicU64,
    /// Events or script jobs dropped because a queue was full.
    pub dropped: AtomicU64,
    /// Scripts run to completion with exit status 0.
    pub scripts_ok: AtomicU64,
    /// Scripts that failed, timed out or could not start.
    pub scripts_failed: AtomicU64,
    /// Fifo lines written.
    pub fifo_lines: AtomicU64,
    /// Fifo lines lost (no fifo, full pipe, write error).
    pub fifo_errors: AtomicU64,
}

/// Runs notifications on tasks of its own; see the module notes.
#[derive(Debug)]
pub struct Notifier {
    tx: mpsc::Sender<NotifyEvent>,
    stats: Arc<NotifierStats>,
    task: JoinHandle<()>,
}

struct Job {
    event: NotifyEvent,
    scripts: Vec<Script>,
}

impl Notifier {
    /// Open the fifos, start the fifo scripts and the dispatcher. Must be
    /// called within a tokio runtime. A fifo that cannot be opened is
    /// logged and its lines counted as lost; it does not stop the daemon.
    pub fn spawn(cfg: NotifierConfig) -> Notifier {
        let stats = Arc::new(NotifierStats::default());
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let fifos: Vec<FifoWriter> = cfg.fifos.iter().map(|p| FifoWriter::open(p)).collect();
        let fifo_tasks: Vec<JoinHandle<()>> = cfg
            .fifo_scripts
            .iter()
            .map(|(s, path)| {
                let s = s.with_args([path.display().to_string()]);
                tokio::spawn(async move {
                    let out = s.run().await;
                    tracing::warn!(script = ?s.argv(), "notify_fifo_script ended: {out}");
                })
            })
            .collect();
        let task = tokio::spawn(dispatch(cfg, rx, fifos, fifo_tasks, stats.clone()));
        Notifier { tx, stats, task }
    }

    /// Queue a notification; never waits. Returns false (and counts a
    /// drop) if the queue is full or the notifier is gone.
    pub fn notify(&self, event: NotifyEvent) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                let ev = match e {
                    mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => {
                        ev
                    }
                };
                tracing::warn!(subject = %ev.subject, name = %ev.name, state = %ev.state,
                    "notification queue full, notification dropped");
                false
            }
        }
    }

    /// The counters; the handle stays valid after shutdown.
    pub fn stats(&self) -> Arc<NotifierStats> {
        self.stats.clone()
    }

    /// Notifications dropped so far.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Deliver everything queued (each script bounded by its timeout), stop
    /// the fifo scripts, close the fifos.
    pub async fn shutdown(self) {
        let Notifier { tx, task, .. } = self;
        drop(tx);
        if let Err(e) = task.await {
            tracing::error!("notifier task failed: {e}");
        }
    }
}

async fn dispatch(
    cfg: NotifierConfig,
    mut rx: mpsc::Receiver<NotifyEvent>,
    mut fifos: Vec<FifoWriter>,
    fifo_tasks: Vec<JoinHandle<()>>,
    stats: Arc<NotifierStats>,
) {
    let mut workers: HashMap<(Subject, String), (mpsc::Sender<Job>, JoinHandle<()>)> =
        HashMap::new();
    while let Some(event) = rx.recv().await {
        // keepalived writes the fifo line right after launching the scripts,
        // without waiting for them; writing it here keeps one global order.
        let line = event.fifo_line();
        for f in &mut fifos {
            if f.write_line(&line) {
                stats.fifo_lines.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.fifo_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        let key = (event.subject, event.name.clone());
        let scripts = cfg
            .scripts
            .get(&key)
            .map(|s| s.scripts_for(&event))
            .unwrap_or_default();
        if scripts.is_empty() {
            continue;
        }
        let (wtx, _) = workers.entry(key).or_insert_with(|| {
            let (wtx, wrx) = mpsc::channel(cfg.queue.max(1));
            let h = tokio::spawn(worker(wrx, cfg.script_timeout, stats.clone()));
            (wtx, h)
        });
        if wtx.try_send(Job { event, scripts }).is_err() {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("notify scripts of one instance are backed up, notification dropped");
        }
    }
    for (_, (wtx, h)) in workers {
        drop(wtx);
        let _ = h.await;
    }
    for t in fifo_tasks {
        // Aborting the run drops it, which kills the script's process group.
        t.abort();
        let _ = t.await;
    }
}

async fn worker(mut rx: mpsc::Receiver<Job>, timeout: Option<Duration>, stats: Arc<NotifierStats>) {
    while let Some(job) = rx.recv().await {
        for s in job.scripts {
            let s = s.timeout(timeout);
            let out = s.run().await;
            if out.success() {
                stats.scripts_ok.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.scripts_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(subject = %job.event.subject, name = %job.event.name,
                    state = %job.event.state, script = ?s.argv(), "notify script {out}");
            }
        }
    }
}

/// One notify fifo, opened non-blocking for reading and writing: keepalived
/// opens it `O_RDWR | O_NONBLOCK` so that the open never waits for a reader
/// and a write never blocks the daemon (a full pipe loses the line).
#[derive(Debug)]
pub struct FifoWriter {
    path: PathBuf,
    file: Option<File>,
}

impl FifoWriter {
    /// Open (creating the fifo, mode 0600, if the path does not exist).
    pub fn open(path: &Path) -> FifoWriter {
        let file = match Self::try_open(path) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(fifo = %path.display(), "cannot open notify fifo: {e}");
                None
            }
        };
        FifoWriter {
            path: path.to_owned(),
            file,
        }
    }

    fn try_open(path: &Path) -> io::Result<File> {
        match std::fs::symlink_metadata(path) {
            Ok(md) if !md.file_type().is_fifo() => {
                return Err(io::Error::other(format!(
                    "{} exists and is not a fifo",
                    path.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .map_err(io::Error::from)?;
            }
            Err(e) => return Err(e),
        }
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write one line; false if it was lost. A line up to PIPE_BUF bytes is
    /// written whole or not at all.
    pub fn write_line(&mut self, line: &str) -> bool {
        let Some(f) = &mut self.file else {
            return false;
        };
        match f.write(line.as_bytes()) {
            Ok(n) if n == line.len() => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(fifo = %self.path.display(), "notify fifo write failed: {e}");
                false
            }
        }
    }
}
