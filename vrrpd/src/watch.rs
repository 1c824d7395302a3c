//! The I/O side of tracking: the tasks that run `vrrp_script`s on their
//! schedule, follow interface carrier, and read `track_file`s and the process
//! table, turning what they see into [`TrackInput`]s for the main loop.
//!
//! ```text
//!  script task: ScriptScheduler -> spawn run -> result --+
//!  link task:   netlink RTMGRP_LINK events --------------+--> mpsc<TrackInput> --> main loop
//!  poll task:   every second, track files and /proc -----+        (Trackers per instance)
//! ```
//!
//! The decisions (rise/fall, weights, FAULT) stay in the sans-IO
//! [`crate::track`]; these tasks only observe. Files and processes are
//! polled once a second: keepalived uses inotify and the proc connector,
//! which react faster; polling keeps this simple and bounded, and is noted
//! as a difference in the README.

use crate::net::Netlink;
use crate::track::{
    count_processes, read_track_file, ScriptResult, ScriptScheduler, TrackScript, TrackedProcess,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// What a watcher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackInput {
    Script {
        name: String,
        result: ScriptResult,
    },
    Link {
        ifname: String,
        up: bool,
    },
    File {
        name: String,
        value: i64,
    },
    Process {
        name: String,
        count: usize,
    },
    /// A virtual server's quorum, from the health checks.
    Pool {
        name: String,
        up: bool,
    },
}

/// How often track files and the process table are read.
const POLL: Duration = Duration::from_secs(1);

/// The running watcher tasks; dropping this stops them (a script still
/// running is killed with its process group by the runner's drop).
#[derive(Default)]
pub struct Watchers {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watchers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What to watch.
#[derive(Default)]
pub struct WatchSpec {
    pub scripts: Vec<TrackScript>,
    /// Interface names any instance tracks.
    pub interfaces: Vec<String>,
    /// `track_file` name -> path.
    pub files: BTreeMap<String, PathBuf>,
    pub processes: Vec<TrackedProcess>,
}

impl WatchSpec {
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
            && self.interfaces.is_empty()
            && self.files.is_empty()
            && self.processes.is_empty()
    }

    /// The current state of every interface, file and process, read once
    /// before the instances start so that none starts on a guess.
    pub async fn initial(&self, netlink: &Netlink) -> Vec<TrackInput> {
        let mut out = Vec::new();
        for ifname in &self.interfaces {
            // A tracked interface that does not exist is down (keepalived
            // treats a missing interface as a fault).
            let up = match netlink.link_index(ifname).await {
                Ok(ix) => netlink.link_is_up(ix).await.unwrap_or(false),
                Err(_) => false,
            };
            out.push(TrackInput::Link {
                ifname: ifname.clone(),
                up,
            });
        }
        for (name, path) in &self.files {
            out.push(TrackInput::File {
                name: name.clone(),
                value: read_track_file(path),
            });
        }
        if !self.processes.is_empty() {
            for (name, count) in count_processes(std::path::Path::new("/proc"), &self.processes) {
                out.push(TrackInput::Process { name, count });
            }
        }
        out
    }

    /// Start the tasks. `netlink` resolves interface names to indexes for
    /// the link events, which carry only the index.
    pub async fn spawn(self, netlink: &Netlink, tx: mpsc::Sender<TrackInput>) -> Watchers {
        let mut w = Watchers::default();
        if !self.scripts.is_empty() {
            w.tasks
                .push(tokio::spawn(run_scripts(self.scripts, tx.clone())));
        }
        if !self.interfaces.is_empty() {
            let mut names = HashMap::new();
            for ifname in &self.interfaces {
                if let Ok(ix) = netlink.link_index(ifname).await {
                    names.insert(ix, ifname.clone());
                }
            }
            match netlink.link_events() {
                Ok(events) => w
                    .tasks
                    .push(tokio::spawn(follow_links(events, names, tx.clone()))),
                Err(e) => warn!("cannot follow link events; track_interface is blind: {e}"),
            }
        }
        if !self.files.is_empty() || !self.processes.is_empty() {
            w.tasks
                .push(tokio::spawn(poll(self.files, self.processes, tx)));
        }
        w
    }
}

async fn run_scripts(scripts: Vec<TrackScript>, tx: mpsc::Sender<TrackInput>) {
    let mut sched = ScriptScheduler::new();
    let by_name: HashMap<String, TrackScript> = scripts
        .into_iter()
        .map(|s| {
            sched.add(&s.name, s.interval);
            (s.name.clone(), s)
        })
        .collect();
    sched.start(Instant::now());
    let (done_tx, mut done_rx) = mpsc::channel::<(String, ScriptResult)>(by_name.len().max(1));
    loop {
        let sleep = async {
            match sched.next_deadline() {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {
                for name in sched.due(Instant::now()) {
                    let Some(ts) = by_name.get(&name) else { continue };
                    let script = ts.script.clone();
                    let done = done_tx.clone();
                    tokio::spawn(async move {
                        let outcome = script.run().await;
                        debug!(script = %name, ?outcome, "vrrp_script finished");
                        let _ = done.send((name, ScriptResult::from(&outcome))).await;
                    });
                }
            }
            Some((name, result)) = done_rx.recv() => {
                sched.finished(&name);
                if tx.send(TrackInput::Script { name, result }).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn follow_links(
    mut events: crate::net::addr::LinkEvents,
    names: HashMap<u32, String>,
    tx: mpsc::Sender<TrackInput>,
) {
    while let Some(ev) = events.next().await {
        if let Some(ifname) = names.get(&ev.ifindex) {
            let input = TrackInput::Link {
                ifname: ifname.clone(),
                up: ev.up,
            };
            if tx.send(input).await.is_err() {
                return;
            }
        }
    }
    warn!("link event stream ended; track_interface is blind from now on");
}

async fn poll(
    files: BTreeMap<String, PathBuf>,
    processes: Vec<TrackedProcess>,
    tx: mpsc::Sender<TrackInput>,
) {
    let mut last_files: BTreeMap<String, i64> = BTreeMap::new();
    let mut last_procs: BTreeMap<String, usize> = BTreeMap::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (name, path) in &files {
            let value = read_track_file(path);
            if last_files.insert(name.clone(), value) != Some(value) {
                let input = TrackInput::File {
                    name: name.clone(),
                    value,
                };
                if tx.send(input).await.is_err() {
                    return;
                }
            }
        }
        if !processes.is_empty() {
            let counts = count_processes(std::path::Path::new("/proc"), &processes);
            for (name, count) in counts {
                if last_procs.insert(name.clone(), count) != Some(count)
                    && tx.send(TrackInput::Process { name, count }).await.is_err()
                {
                    return;
                }
            }
        }
    }
}
