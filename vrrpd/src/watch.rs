//! The I/O side of tracking: the tasks that run `vrrp_script`s on their
//! schedule, follow interface carrier, and read `track_file`s and the process
//! table, turning what they see into [`TrackInput`]s for the main loop.
//!
//! ```text
//!  script task: ScriptScheduler -> spawn run -> result --+
//!  link task:   netlink RTMGRP_LINK events --------------+--> mpsc<TrackInput> --> main loop
//!  file task:   inotify on the track files' directories -+        (Trackers per instance)
//!  poll task:   every second, track files and /proc -----+
//! ```
//!
//! The decisions (rise/fall, weights, FAULT) stay in the sans-IO
//! [`crate::track`]; these tasks only observe. Track files are read as
//! soon as inotify reports a write, rename or removal in their directory
//! (keepalived also uses inotify), and again every second in case a
//! directory did not exist yet or inotify is unavailable. The process
//! table is polled once a second (keepalived uses the proc connector,
//! which reacts faster). The trackers ignore a reading that did not
//! change, so the two file paths may report the same value.

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
        if !self.files.is_empty() {
            match FileWatch::new(&self.files) {
                Ok(fw) => w.tasks.push(tokio::spawn(fw.run(tx.clone()))),
                Err(e) => warn!("inotify unavailable, track files are read once a second: {e}"),
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

/// The track files' directories under inotify. A directory is watched
/// rather than the file, so creating, replacing (rename over) and removing
/// the file are all seen.
struct FileWatch {
    ino: nix::sys::inotify::Inotify,
    /// A duplicate of inotify's descriptor held as a tokio socket, used
    /// only for readiness (as `net::socket` does for the raw VRRP socket):
    /// `AsyncFd::new` is deprecated as unsound and its replacement needs
    /// `unsafe`, which the workspace forbids.
    ready: tokio::net::UdpSocket,
    /// watch descriptor -> (file name in that directory, track_file name,
    /// path) for every tracked file in it.
    by_wd: HashMap<nix::sys::inotify::WatchDescriptor, Vec<(std::ffi::OsString, String, PathBuf)>>,
}

impl FileWatch {
    fn new(files: &BTreeMap<String, PathBuf>) -> std::io::Result<FileWatch> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(std::io::Error::from)?;
        let mut by_wd: HashMap<_, Vec<_>> = HashMap::new();
        for (name, path) in files {
            let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let dir = if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            };
            let flags = AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_MOVED_FROM;
            match ino.add_watch(dir, flags) {
                Ok(wd) => by_wd.entry(wd).or_default().push((
                    file.to_os_string(),
                    name.clone(),
                    path.clone(),
                )),
                // The once-a-second poll still reads it.
                Err(e) => {
                    warn!(track_file = %name, dir = %dir.display(), "inotify: {e}; read once a second")
                }
            }
        }
        use std::os::fd::AsFd;
        let dup = ino.as_fd().try_clone_to_owned()?;
        let ready = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(dup))?;
        Ok(FileWatch { ino, ready, by_wd })
    }

    async fn run(self, tx: mpsc::Sender<TrackInput>) {
        loop {
            if let Err(e) = self.ready.readable().await {
                warn!("inotify: {e}; track files are read once a second from now on");
                return;
            }
            // try_io clears the readiness when the read would block.
            let read = self.ready.try_io(tokio::io::Interest::READABLE, || {
                self.ino.read_events().map_err(std::io::Error::from)
            });
            let events = match read {
                Ok(ev) => ev,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    warn!("inotify: {e}; track files are read once a second from now on");
                    return;
                }
            };
            // One read per touched file, however many events it had.
            let mut touched: Vec<(&String, &PathBuf)> = Vec::new();
            for ev in &events {
                let Some(files) = self.by_wd.get(&ev.wd) else {
                    continue;
                };
                for (file, name, path) in files {
                    if ev.name.as_deref() == Some(file.as_os_str())
                        && !touched.iter().any(|(n, _)| *n == name)
                    {
                        touched.push((name, path));
                    }
                }
            }
            for (name, path) in touched {
                let input = TrackInput::File {
                    name: name.clone(),
                    value: read_track_file(path),
                };
                if tx.send(input).await.is_err() {
                    return;
                }
            }
        }
    }
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

#[cfg(test)]
mod inotify_tests {
    use super::*;

    /// The inotify task alone (no polling) reports writes, a replacement by
    /// rename and a removal of a track file.
    #[tokio::test]
    async fn track_file_changes_are_seen_through_inotify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prio");
        let mut files = BTreeMap::new();
        files.insert("tf".to_string(), path.clone());
        let fw = FileWatch::new(&files).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(fw.run(tx));
        async fn next(rx: &mut mpsc::Receiver<TrackInput>) -> TrackInput {
            tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("an inotify event within 5 s")
                .expect("channel open")
        }
        let value = |v: i64| TrackInput::File {
            name: "tf".into(),
            value: v,
        };
        std::fs::write(&path, "7\n").unwrap();
        // A write may show as several events (create, modify, close): the
        // last reading is the file's content.
        let mut got = next(&mut rx).await;
        while got != value(7) {
            got = next(&mut rx).await;
        }
        let tmp = dir.path().join("prio.new");
        std::fs::write(&tmp, "-3\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        while got != value(-3) {
            got = next(&mut rx).await;
        }
        std::fs::remove_file(&path).unwrap();
        while got != value(0) {
            got = next(&mut rx).await;
        }
        task.abort();
    }
}
