//! The I/O side of tracking: the tasks that run `vrrp_script`s on their
//! schedule, follow interface carrier, and read `track_file`s and the process
//! table, turning what they see into [`TrackInput`]s for the main loop.
//!
//! ```text
//!  script task: ScriptScheduler -> spawn run -> result --+
//!  link task:   netlink RTMGRP_LINK events --------------+--> mpsc<TrackInput> --> main loop
//!  file task:   inotify on the track files' directories -+        (Trackers per instance)
//!  proc task:   proc connector fork/exec/comm/exit ------+
//!  poll task:   every second, track files (and /proc) ---+
//! ```
//!
//! The decisions (rise/fall, weights, FAULT) stay in the sans-IO
//! [`crate::track`]; these tasks only observe. Track files are read as
//! soon as inotify reports a write, rename or removal in their directory
//! (keepalived also uses inotify), and again every second in case a
//! directory did not exist yet or inotify is unavailable. Processes are
//! followed through the kernel's process events connector as keepalived
//! does ([`crate::net::proc_events`]): an exit is seen when it happens,
//! and an exec or a name change re-reads only that process's
//! `/proc/PID/comm` and `cmdline`. Where the connector is unavailable
//! (outside the initial network namespace, without `CAP_NET_ADMIN`) the
//! process table is scanned once a second instead. The trackers ignore a
//! reading that did not change, so the two file paths may report the same
//! value.

use crate::net::proc_events::{ProcEvent, ProcEvents};
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
    /// Scan `/proc` every second even where the proc connector works (for
    /// comparisons; the daemon never sets it).
    pub poll_processes: bool,
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
        let mut polled = self.processes;
        if !polled.is_empty() && !self.poll_processes {
            match ProcEvents::subscribe().await {
                Ok(events) => {
                    debug!("following tracked processes through the proc connector");
                    let table = ProcTable::scan(std::path::Path::new("/proc"), polled);
                    w.tasks
                        .push(tokio::spawn(follow_processes(events, table, tx.clone())));
                    polled = Vec::new();
                }
                Err(e) => warn!(
                    "proc connector unavailable ({e}): tracked processes are counted once a second"
                ),
            }
        }
        if !self.files.is_empty() || !polled.is_empty() {
            w.tasks.push(tokio::spawn(poll(self.files, polled, tx)));
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

/// Which running processes match which tracked process, kept current from
/// process events: an exec or a name change re-reads that one process, an
/// exit removes it, a fork copies its parent's matches (a child runs its
/// parent's program until it execs, which is an event of its own), as
/// keepalived's `vrrp_track_process.c` does.
pub struct ProcTable {
    root: PathBuf,
    tracked: Vec<TrackedProcess>,
    /// pid -> the indexes in `tracked` it matches (only matching pids).
    by_pid: HashMap<u32, Vec<usize>>,
}

impl ProcTable {
    /// A full scan of `root` (normally `/proc`).
    pub fn scan(root: &std::path::Path, tracked: Vec<TrackedProcess>) -> ProcTable {
        let mut t = ProcTable {
            root: root.to_path_buf(),
            tracked,
            by_pid: HashMap::new(),
        };
        t.rescan();
        t
    }

    /// Forget everything and read the whole process table again (after
    /// lost events).
    pub fn rescan(&mut self) {
        self.by_pid.clear();
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return;
        };
        let pids: Vec<u32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        for pid in pids {
            self.recheck(pid);
        }
    }

    /// Read one process's name and command line again and record what it
    /// matches; a process gone meanwhile matches nothing.
    fn recheck(&mut self, pid: u32) {
        let matched: Vec<usize> = match crate::track::read_process(&self.root.join(pid.to_string()))
        {
            Some((comm, argv)) => (0..self.tracked.len())
                .filter(|&i| self.tracked[i].matches(&comm, &argv))
                .collect(),
            None => Vec::new(),
        };
        if matched.is_empty() {
            self.by_pid.remove(&pid);
        } else {
            self.by_pid.insert(pid, matched);
        }
    }

    /// Apply one event.
    pub fn apply(&mut self, ev: &ProcEvent) {
        match *ev {
            ProcEvent::Exec { tgid } | ProcEvent::Comm { tgid, .. } => self.recheck(tgid),
            ProcEvent::Fork {
                parent_tgid,
                child_tgid,
                thread: false,
            } => {
                if let Some(m) = self.by_pid.get(&parent_tgid).cloned() {
                    self.by_pid.insert(child_tgid, m);
                }
            }
            // A thread ending is not its process ending.
            ProcEvent::Exit { pid, tgid } if pid == tgid => {
                self.by_pid.remove(&pid);
            }
            _ => {}
        }
    }

    /// Each tracked process's current count.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut c: BTreeMap<String, usize> =
            self.tracked.iter().map(|t| (t.name.clone(), 0)).collect();
        for matched in self.by_pid.values() {
            for &i in matched {
                if let Some(n) = c.get_mut(&self.tracked[i].name) {
                    *n += 1;
                }
            }
        }
        c
    }
}

/// Follow processes through the connector: after every datagram, send the
/// counts that changed. Events lost to a full socket buffer (`ENOBUFS`)
/// are made good by a full scan; any other socket error hands over to the
/// once-a-second scan.
async fn follow_processes(
    mut events: ProcEvents,
    mut table: ProcTable,
    tx: mpsc::Sender<TrackInput>,
) {
    // The table was read after subscribing, so nothing between the
    // daemon's first reading and now is missed: send it all (unchanged
    // counts are ignored by the trackers).
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        for (name, count) in table.counts() {
            if last.insert(name.clone(), count) != Some(count)
                && tx.send(TrackInput::Process { name, count }).await.is_err()
            {
                return;
            }
        }
        match events.next().await {
            Ok(batch) => {
                for ev in batch {
                    match ev {
                        Ok(ev) => table.apply(&ev),
                        Err(e) => debug!("proc connector: {e}"),
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                warn!("proc connector: events lost (receive buffer full); rescanning /proc");
                table.rescan();
            }
            Err(e) => {
                warn!(
                    "proc connector: {e}; tracked processes are counted once a second from now on"
                );
                poll(BTreeMap::new(), table.tracked, tx).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod proc_table_tests {
    use super::*;
    use conf::model::ParamMatch;

    fn tracked(name: &str, process: &str) -> TrackedProcess {
        TrackedProcess {
            name: name.into(),
            process: process.into(),
            params: vec![],
            param_match: ParamMatch::Exact,
            full_command: false,
            quorum: 1,
            quorum_max: None,
        }
    }

    fn write_proc(root: &std::path::Path, pid: u32, comm: &str, argv: &[&str]) {
        let d = root.join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
        let mut cmd = Vec::new();
        for a in argv {
            cmd.extend_from_slice(a.as_bytes());
            cmd.push(0);
        }
        std::fs::write(d.join("cmdline"), cmd).unwrap();
    }

    /// Exec, fork, name change and exit move the counts the way a full
    /// scan of the same table would, reading only the process concerned.
    #[test]
    fn events_keep_counts_equal_to_a_full_scan() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let procs = vec![tracked("web", "haproxy"), tracked("db", "postgres")];
        write_proc(root, 10, "haproxy", &["haproxy", "-f", "x"]);
        write_proc(root, 11, "bash", &["bash"]);
        let mut t = ProcTable::scan(root, procs.clone());
        let counts = |t: &ProcTable| {
            let c = t.counts();
            (c["web"], c["db"])
        };
        assert_eq!(counts(&t), (1, 0));
        // bash execs postgres.
        write_proc(root, 11, "postgres", &["postgres"]);
        t.apply(&ProcEvent::Exec { tgid: 11 });
        assert_eq!(counts(&t), (1, 1));
        // haproxy forks a worker (same program until it execs).
        write_proc(root, 12, "haproxy", &["haproxy", "-f", "x"]);
        t.apply(&ProcEvent::Fork {
            parent_tgid: 10,
            child_tgid: 12,
            thread: false,
        });
        // A thread of it is not a process.
        t.apply(&ProcEvent::Fork {
            parent_tgid: 10,
            child_tgid: 10,
            thread: true,
        });
        assert_eq!(counts(&t), (2, 1));
        // A thread exits: nothing changes; the worker exits: one less.
        t.apply(&ProcEvent::Exit { pid: 13, tgid: 10 });
        assert_eq!(counts(&t), (2, 1));
        std::fs::remove_dir_all(root.join("12")).unwrap();
        t.apply(&ProcEvent::Exit { pid: 12, tgid: 12 });
        assert_eq!(counts(&t), (1, 1));
        // postgres renames itself.
        write_proc(root, 11, "pg-worker", &["postgres"]);
        t.apply(&ProcEvent::Comm {
            tgid: 11,
            comm: "pg-worker".into(),
        });
        assert_eq!(counts(&t), (1, 0));
        // The incremental table agrees with a fresh scan and the poller.
        assert_eq!(t.counts(), ProcTable::scan(root, procs.clone()).counts());
        assert_eq!(t.counts(), count_processes(root, &procs));
        // An exec of a process that is already gone matches nothing.
        t.apply(&ProcEvent::Exec { tgid: 99 });
        assert_eq!(counts(&t), (1, 0));
    }

    /// With the connector forced off, the once-a-second scan reports a
    /// tracked process's exit (the fallback path the daemon takes where the
    /// connector is refused, e.g. in a network namespace).
    #[tokio::test]
    async fn poll_fallback_reports_an_exit() {
        exit_is_reported(true).await;
    }

    /// Through the proc connector, where it can be subscribed to (root in
    /// the initial namespaces): the same exit, seen by `follow_processes`.
    #[tokio::test]
    async fn proc_connector_reports_an_exit() {
        if let Err(e) = ProcEvents::subscribe().await {
            println!("SKIP proc connector: {e}");
            return;
        }
        exit_is_reported(false).await;
    }

    async fn exit_is_reported(poll_processes: bool) {
        // An argument no other process on the machine has.
        let arg = format!(
            "{}.{}",
            1000 + std::process::id() % 10_000,
            u8::from(poll_processes)
        );
        // Killed and reaped even when an assertion fails.
        struct Child(std::process::Child);
        impl Drop for Child {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut child = Child(
            std::process::Command::new("/bin/sleep")
                .arg(&arg)
                .spawn()
                .unwrap(),
        );
        let mut p = tracked("sleeper", "sleep");
        p.full_command = true;
        p.process = "/bin/sleep".into();
        p.params = vec![arg];
        let (tx, mut rx) = mpsc::channel(16);
        let spec = WatchSpec {
            processes: vec![p],
            poll_processes,
            ..WatchSpec::default()
        };
        let netlink = Netlink::new().unwrap();
        let w = spec.spawn(&netlink, tx).await;
        async fn next(rx: &mut mpsc::Receiver<TrackInput>) -> TrackInput {
            tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("a reading within 5 s")
                .expect("channel open")
        }
        // `spawn` may return while the child is still inside execve (the
        // kernel wakes a vfork parent before the new name and command line
        // are in place), so the first reading may be 0; the exec event (or
        // the next scan) brings the count to 1.
        let mut got = next(&mut rx).await;
        while !matches!(&got, TrackInput::Process { count, .. } if *count >= 1) {
            got = next(&mut rx).await;
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        got = next(&mut rx).await;
        while !matches!(&got, TrackInput::Process { count: 0, .. }) {
            got = next(&mut rx).await;
        }
        drop(w);
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
