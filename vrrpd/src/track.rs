//! keepalived's tracking, sans-IO: what `track_script`, `track_interface`,
//! `track_file` and `track_process` do to an instance's effective priority
//! and FAULT state, a scheduler for `vrrp_script` runs, and the
//! `vrrp_sync_group` rules.
//!
//! Nothing here runs a process, reads a clock or opens a socket (DESIGN.md
//! rule 1): the runtime runs the scripts (with [`daemon::script`]), watches
//! links and files, counts processes (with [`count_processes`]) and feeds the
//! results in; [`Trackers`] answers with the `(effective priority, fault,
//! reason)` to hand to `fsm::Instance::set_effective_priority` and
//! `set_fault`.
//!
//! # keepalived's rules, and where they live in keepalived
//!
//! - **Weights** (`vrrp_track.c`: `process_script_update_priority`,
//!   `initialise_track_script_state`, `process_update_track_process_status`):
//!   a tracker with weight `w` and multiplier `m` (-1 with `reverse`, else 1)
//!   adds `w * m` while it is *up* if `w > 0`, and `w * m` while it is
//!   *down* if `w < 0`; otherwise nothing. So `weight 10` rewards success,
//!   `weight -10` punishes failure, and `reverse` flips the sign.
//! - **Weight 0** means "down is FAULT" (with `reverse`: "up is FAULT").
//! - **track_file** (`update_track_file_status`): the file's integer value
//!   `v` (clamped to -254..254 when read) times weight times multiplier,
//!   clamped to -254..253, is added; -254 means FAULT. With weight 0 any
//!   non-zero value is FAULT.
//! - **Effective priority** (`vrrp_set_effective_priority`): base priority
//!   plus all contributions, below 1 → 1, 255 or above → 254. An address
//!   owner (base 255) is never changed, though it can still be FAULT.
//! - **vrrp_script rise/fall** (`vrrp_scheduler.c`:
//!   `vrrp_script_child_thread`, `vrrp_init_script`): a counter in
//!   `0..rise+fall`, up when `>= rise`. Before the first result the script is
//!   *pending* (one success is enough to go up, and one failure to go down);
//!   `init_fail` starts it down instead. After that it takes `rise`
//!   consecutive successes to go up and `fall` consecutive failures to go
//!   down. A timeout or a signal is a failure.
//! - **Pending weight-0 scripts** keep keepalived's instance from starting
//!   (`num_script_init`). We report them as FAULT with a "waiting for the
//!   first result" reason, and [`Trackers::is_pending`] lets the runtime
//!   delay the start instead.
//! - The instance's own interface is tracked with weight 0 unless
//!   `dont_track_primary` (keepalived `vrrp->ifp` tracking).
//! - A sync group's `track_*` items apply to each member
//!   (`initialise_vrrp_tracking_priorities`).
//! - **track_process** is up while `quorum <= count <= quorum_max`
//!   (`have_quorum`); [`QuorumDelay`] applies `fork_delay` /
//!   `terminate_delay` before a change counts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use conf::model::{Config, ParamMatch, TrackProcess, VrrpInstance};
use daemon::script::{Outcome, RunAs, Script, ScriptError};

use crate::fsm::{State, PRIORITY_OWNER};

/// How one run of a `vrrp_script` ended, as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptResult {
    /// Exit status 0.
    Success,
    /// Non-zero exit, a signal, or the script could not be started.
    Failure,
    /// Killed at its timeout (a failure, logged as "timed_out").
    TimedOut,
}

impl ScriptResult {
    pub fn is_success(self) -> bool {
        self == ScriptResult::Success
    }
}

impl From<&Outcome> for ScriptResult {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Exited(0) => ScriptResult::Success,
            Outcome::TimedOut => ScriptResult::TimedOut,
            _ => ScriptResult::Failure,
        }
    }
}

impl fmt::Display for ScriptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScriptResult::Success => "succeeded",
            ScriptResult::Failure => "failed",
            ScriptResult::TimedOut => "timed out",
        })
    }
}

/// Up or down, or not known yet (a script before its first result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Up,
    Down,
}

/// keepalived's rise/fall counter of one `vrrp_script`
/// (`vscript->result` in `vrrp_scheduler.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    /// 0..rise+fall-1; up when >= rise.
    result: u32,
    /// No result received yet (`SCRIPT_INIT_STATE_INIT`).
    initial: bool,
}

impl RiseFall {
    /// `init_fail`: start down (`SCRIPT_INIT_STATE_FAILED`, result 0),
    /// else pending with result `rise - 1` so one success is enough.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let rise = rise.max(1);
        let fall = fall.max(1);
        RiseFall {
            rise,
            fall,
            result: if init_fail { 0 } else { rise - 1 },
            initial: !init_fail,
        }
    }

    pub fn status(&self) -> Status {
        if self.initial {
            Status::Pending
        } else if self.result >= self.rise {
            Status::Up
        } else {
            Status::Down
        }
    }

    /// Record one run. Returns the new status when it changed.
    pub fn record(&mut self, ok: bool) -> Option<Status> {
        let before = self.status();
        let top = self.rise + self.fall - 1;
        if ok {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else {
                self.result = top;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
        }
        self.initial = false;
        let after = self.status();
        (after != before).then_some(after)
    }
}

/// What kind of thing a tracker follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Script,
    Interface,
    File,
    Process,
    /// A virtual server's quorum (`track_virtual_server`, vrrpd extension).
    Pool,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Script => "vrrp_script",
            Kind::Interface => "interface",
            Kind::File => "track_file",
            Kind::Process => "track_process",
            Kind::Pool => "virtual_server",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemState {
    Script(RiseFall),
    UpDown(bool),
    File(i64),
}

/// One tracked item of one instance, with the weight this instance gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    kind: Kind,
    name: String,
    weight: i32,
    reverse: bool,
    state: ItemState,
    /// For a tracked process: `quorum` and `quorum_max`.
    quorum: Option<(u32, Option<u32>)>,
}

/// The contribution of an item, or `None` if it puts the instance in FAULT.
fn contribution(item: &Item) -> Option<i64> {
    let w = i64::from(item.weight);
    let m: i64 = if item.reverse { -1 } else { 1 };
    let up = match &item.state {
        ItemState::File(v) => {
            if w == 0 {
                return if *v != 0 { None } else { Some(0) };
            }
            let s = (v * w * m).clamp(-254, 253);
            return if s == -254 { None } else { Some(s) };
        }
        ItemState::UpDown(up) => *up,
        ItemState::Script(rf) => match rf.status() {
            // A pending script adds nothing; with weight 0 it holds the
            // instance down until its first result.
            Status::Pending => return if w == 0 { None } else { Some(0) },
            Status::Up => true,
            Status::Down => false,
        },
    };
    if w == 0 {
        // Weight 0: down (with reverse: up) is FAULT.
        return if up != item.reverse { Some(0) } else { None };
    }
    Some(match (up, w > 0) {
        (true, true) | (false, false) => w * m,
        _ => 0,
    })
}

fn describe(item: &Item) -> String {
    let up = match &item.state {
        ItemState::File(v) => return format!("track_file {} value {v}", item.name),
        ItemState::UpDown(up) => *up,
        ItemState::Script(rf) => match rf.status() {
            Status::Pending => {
                return format!("waiting for the first result of vrrp_script {}", item.name)
            }
            Status::Up => true,
            Status::Down => false,
        },
    };
    let word = match (item.kind, up) {
        (Kind::Process, true) => "has quorum",
        (Kind::Process, false) => "lost quorum",
        (Kind::Pool, true) => "has quorum",
        (Kind::Pool, false) => "lost quorum",
        (_, true) => "up",
        (_, false) => "down",
    };
    format!("{} {} {word}", item.kind, item.name)
}

/// What the instance should run with: hand `effective_priority` to
/// `set_effective_priority` and `fault` to `set_fault`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackState {
    pub effective_priority: u8,
    pub fault: bool,
    /// What changed last, e.g. "vrrp_script chk down (timed out)"; with
    /// `fault`, it names a tracker holding the instance in FAULT.
    pub reason: String,
}

/// The trackers of one VRRP instance.
#[derive(Debug, Clone)]
pub struct Trackers {
    instance: String,
    base: u8,
    items: Vec<Item>,
    last: TrackState,
}

impl Trackers {
    /// Trackers with nothing tracked: the base priority, no fault.
    pub fn new(instance: impl Into<String>, base_priority: u8) -> Self {
        let mut t = Trackers {
            instance: instance.into(),
            base: base_priority,
            items: Vec::new(),
            last: TrackState {
                effective_priority: base_priority,
                fault: false,
                reason: String::new(),
            },
        };
        t.last = t.compute(String::new(), None);
        t
    }

    /// Track a `vrrp_script`: its `rise`/`fall`/`init_fail`, and the weight
    /// this instance gives it.
    pub fn add_script(
        &mut self,
        name: &str,
        weight: i32,
        reverse: bool,
        rise: u32,
        fall: u32,
        init_fail: bool,
    ) {
        self.push(Item {
            kind: Kind::Script,
            name: name.to_owned(),
            weight,
            reverse,
            state: ItemState::Script(RiseFall::new(rise, fall, init_fail)),
            quorum: None,
        });
    }

    /// Track an interface's link (assumed up until told otherwise: feed the
    /// real state with [`Trackers::interface_changed`] before starting).
    pub fn add_interface(&mut self, ifname: &str, weight: i32, reverse: bool) {
        self.push(Item {
            kind: Kind::Interface,
            name: ifname.to_owned(),
            weight,
            reverse,
            state: ItemState::UpDown(true),
            quorum: None,
        });
    }

    /// Track a `track_file` (initial value 0, like a missing file).
    pub fn add_file(&mut self, name: &str, weight: i32, reverse: bool) {
        self.push(Item {
            kind: Kind::File,
            name: name.to_owned(),
            weight,
            reverse,
            state: ItemState::File(0),
            quorum: None,
        });
    }

    /// Track a `vrrp_track_process` with its quorum (`quorum_max` `None`:
    /// no upper bound). Assumed without quorum until the first count, as
    /// keepalived before its first scan.
    pub fn add_process(
        &mut self,
        name: &str,
        weight: i32,
        reverse: bool,
        quorum: u32,
        quorum_max: Option<u32>,
    ) {
        self.push(Item {
            kind: Kind::Process,
            name: name.to_owned(),
            weight,
            reverse,
            state: ItemState::UpDown(false),
            quorum: Some((quorum, quorum_max)),
        });
    }

    /// Track the quorum of the virtual server `name` (as
    /// `VirtualServer::describe` writes it). Assumed up until the health
    /// checks report (the pools publish their state as soon as they start),
    /// so an instance does not start in FAULT for a pool it never lost.
    pub fn add_pool(&mut self, name: &str, weight: i32, reverse: bool) {
        self.push(Item {
            kind: Kind::Pool,
            name: name.to_owned(),
            weight,
            reverse,
            state: ItemState::UpDown(true),
            quorum: None,
        });
    }

    /// The health checks report a virtual server's quorum.
    pub fn pool_quorum(&mut self, name: &str, up: bool) -> Option<TrackState> {
        self.set_updown(Kind::Pool, name, up)?;
        self.update(
            Kind::Pool,
            name,
            format!(
                "virtual_server {name} {}",
                if up { "has quorum" } else { "lost quorum" }
            ),
        )
    }

    fn push(&mut self, item: Item) {
        // keepalived ignores a duplicate ("duplicate track_script ... -
        // ignoring"); the first one wins.
        if self
            .items
            .iter()
            .any(|i| i.kind == item.kind && i.name == item.name)
        {
            return;
        }
        self.items.push(item);
        self.last = self.compute(String::new(), None);
    }

    /// Build the trackers of `inst` from the whole configuration: its own
    /// `track_*` entries, those of its sync group, and its own interface
    /// (weight 0) unless `dont_track_primary`.
    /// Entries naming no defined script, file or process are skipped, as
    /// keepalived does (the loader warns about each with its location).
    pub fn from_config(cfg: &Config, inst: &VrrpInstance) -> Self {
        let mut t = Trackers::new(inst.name.clone(), inst.priority);
        if !inst.dont_track_primary {
            if let Some(ifname) = &inst.interface {
                t.add_interface(ifname, 0, false);
            }
        }
        let group = cfg
            .sync_groups
            .iter()
            .find(|g| g.group.contains(&inst.name));
        let mut ifs: Vec<_> = inst.track_interface.iter().collect();
        let mut scripts: Vec<_> = inst.track_script.iter().collect();
        let mut files: Vec<_> = inst.track_file.iter().collect();
        let mut procs: Vec<_> = inst.track_process.iter().collect();
        let mut pools: Vec<_> = inst.track_virtual_server.iter().collect();
        // keepalived: trackers of a sync group member only put it in FAULT
        // (weight 0), because members with different effective priorities
        // could not move together; `sync_group_tracking_weight` keeps the
        // weights.
        let zero_weights =
            group.is_some_and(|g| g.group.len() > 1 && !g.sync_group_tracking_weight);
        let weight = |w: i32, kind: &str, name: &str| -> i32 {
            if zero_weights && w != 0 {
                tracing::warn!(instance = %inst.name,
                    "{kind} {name}: weight {w} ignored (weight 0: FAULT on failure) because the instance is in a sync group; set sync_group_tracking_weight to keep it");
                0
            } else {
                w
            }
        };
        if let Some(g) = group {
            ifs.extend(g.track_interface.iter());
            scripts.extend(g.track_script.iter());
            files.extend(g.track_file.iter());
            procs.extend(g.track_process.iter());
            pools.extend(g.track_virtual_server.iter());
        }
        for i in ifs {
            t.add_interface(
                &i.name,
                weight(i.weight, "track_interface", &i.name),
                i.reverse,
            );
        }
        for r in scripts {
            // keepalived ignores a track entry naming nothing; the loader
            // already warned with its location.
            let Some(s) = cfg.vrrp_script(&r.name) else {
                continue;
            };
            t.add_script(
                &s.name,
                weight(r.weight.unwrap_or(s.weight), "track_script", &s.name),
                s.weight_reverse || r.reverse,
                s.rise,
                s.fall,
                s.init_fail,
            );
        }
        for r in files {
            // keepalived ignores a track entry naming nothing; the loader
            // already warned with its location.
            let Some(f) = cfg.track_files.iter().find(|f| f.name == r.name) else {
                continue;
            };
            let w = r.weight.unwrap_or_else(|| f.weight.clamp(-254, 254) as i32);
            t.add_file(
                &f.name,
                weight(w, "track_file", &f.name),
                f.weight_reverse || r.reverse,
            );
        }
        for r in procs {
            // keepalived ignores a track entry naming nothing; the loader
            // already warned with its location.
            let Some(p) = cfg.track_processes.iter().find(|p| p.name == r.name) else {
                continue;
            };
            t.add_process(
                &p.name,
                weight(r.weight.unwrap_or(p.weight), "track_process", &p.name),
                p.weight_reverse || r.reverse,
                p.quorum,
                p.quorum_max,
            );
        }
        for r in pools {
            // Weight 0 unless written: a node that lost its backends
            // gives up the addresses in front of them.
            let w = weight(r.weight.unwrap_or(0), "track_virtual_server", &r.name);
            t.add_pool(&r.name, w, r.reverse);
        }
        t.last = t.compute(String::new(), None);
        t
    }

    /// The instance these trackers belong to.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A reload changed the instance's configured priority but not what it
    /// tracks: keep every tracker's state and recompute from the new base.
    pub fn set_base_priority(&mut self, base: u8) -> Option<TrackState> {
        if base == self.base {
            return None;
        }
        self.base = base;
        let next = self.compute(format!("configured priority {base}"), None);
        if next.effective_priority == self.last.effective_priority && next.fault == self.last.fault
        {
            self.last.reason = next.reason;
            return None;
        }
        self.last = next.clone();
        Some(next)
    }

    /// The current result.
    pub fn state(&self) -> &TrackState {
        &self.last
    }

    pub fn effective_priority(&self) -> u8 {
        self.last.effective_priority
    }

    pub fn fault(&self) -> bool {
        self.last.fault
    }

    /// True while a weight-0 script has not reported its first result:
    /// keepalived does not start the instance until then.
    pub fn is_pending(&self) -> bool {
        self.items.iter().any(|i| {
            i.weight == 0
                && matches!(&i.state, ItemState::Script(rf) if rf.status() == Status::Pending)
        })
    }

    /// Every tracker currently holding the instance in FAULT, described.
    pub fn fault_reasons(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|i| contribution(i).is_none())
            .map(describe)
            .collect()
    }

    /// Names of the scripts this instance tracks (to know which to run).
    pub fn scripts(&self) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(|i| i.kind == Kind::Script)
            .map(|i| i.name.as_str())
    }

    /// Names of the tracked items of one kind.
    /// Every tracked item as (kind, name, reading, priority offset it
    /// gives now): the reading is 1/0 for up/down (quorum for processes
    /// and virtual servers), the value for a track_file, `None` for a
    /// script without a result yet; the offset is `None` when the item
    /// holds the instance in FAULT.
    pub fn readings(&self) -> impl Iterator<Item = (Kind, &str, Option<i64>, Option<i64>)> {
        self.items.iter().map(|i| {
            let reading = match &i.state {
                ItemState::File(v) => Some(*v),
                ItemState::UpDown(up) => Some(i64::from(*up)),
                ItemState::Script(rf) => match rf.status() {
                    Status::Pending => None,
                    Status::Up => Some(1),
                    Status::Down => Some(0),
                },
            };
            (i.kind, i.name.as_str(), reading, contribution(i))
        })
    }

    pub fn tracked(&self, kind: Kind) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .filter(move |i| i.kind == kind)
            .map(|i| i.name.as_str())
    }

    /// A run of `vrrp_script` `name` ended. Unknown names are ignored, so
    /// the runtime can feed every result to every instance.
    pub fn script_result(&mut self, name: &str, result: ScriptResult) -> Option<TrackState> {
        let mut changed = None;
        for i in self
            .items
            .iter_mut()
            .filter(|i| i.kind == Kind::Script && i.name == name)
        {
            if let ItemState::Script(rf) = &mut i.state {
                changed = rf.record(result.is_success());
            }
        }
        let status = changed?;
        let reason = match (status, result) {
            (Status::Up, _) => format!("vrrp_script {name} up"),
            (_, r) => format!("vrrp_script {name} down ({r})"),
        };
        self.update(Kind::Script, name, reason)
    }

    /// An interface's link went up or down.
    pub fn interface_changed(&mut self, ifname: &str, up: bool) -> Option<TrackState> {
        self.set_updown(Kind::Interface, ifname, up)?;
        self.update(
            Kind::Interface,
            ifname,
            format!("interface {ifname} {}", if up { "up" } else { "down" }),
        )
    }

    /// A track_file's value changed (read with [`parse_track_file`]; a
    /// deleted file counts as 0, as in keepalived).
    pub fn file_value(&mut self, name: &str, value: i64) -> Option<TrackState> {
        let value = value.clamp(-254, 254);
        let mut any = false;
        for i in self
            .items
            .iter_mut()
            .filter(|i| i.kind == Kind::File && i.name == name)
        {
            if i.state != ItemState::File(value) {
                i.state = ItemState::File(value);
                any = true;
            }
        }
        if !any {
            return None;
        }
        self.update(Kind::File, name, format!("track_file {name} value {value}"))
    }

    /// The latest count of processes matching tracked process `name`
    /// (from [`count_processes`]): up when `quorum <= count <= quorum_max`.
    pub fn process_count(&mut self, name: &str, count: usize) -> Option<TrackState> {
        let (q, qmax) = self
            .items
            .iter()
            .find(|i| i.kind == Kind::Process && i.name == name)?
            .quorum?;
        self.process_quorum(name, quorum_ok(q, qmax, count))
    }

    /// A tracked process gained or lost its quorum.
    pub fn process_quorum(&mut self, name: &str, has_quorum: bool) -> Option<TrackState> {
        self.set_updown(Kind::Process, name, has_quorum)?;
        self.update(
            Kind::Process,
            name,
            format!(
                "track_process {name} {}",
                if has_quorum {
                    "has quorum"
                } else {
                    "lost quorum"
                }
            ),
        )
    }

    fn set_updown(&mut self, kind: Kind, name: &str, up: bool) -> Option<()> {
        let mut any = false;
        for i in self
            .items
            .iter_mut()
            .filter(|i| i.kind == kind && i.name == name)
        {
            if i.state != ItemState::UpDown(up) {
                i.state = ItemState::UpDown(up);
                any = true;
            }
        }
        any.then_some(())
    }

    fn update(&mut self, kind: Kind, name: &str, reason: String) -> Option<TrackState> {
        let next = self.compute(reason, Some((kind, name)));
        if next.effective_priority == self.last.effective_priority && next.fault == self.last.fault
        {
            // Keep the latest reason for logs even without a change.
            self.last.reason = next.reason;
            return None;
        }
        self.last = next.clone();
        Some(next)
    }

    fn compute(&self, reason: String, cause: Option<(Kind, &str)>) -> TrackState {
        let mut total = i64::from(self.base);
        let mut fault_reason = None;
        let mut cause_faulty = false;
        for i in &self.items {
            match contribution(i) {
                Some(c) => total += c,
                None => {
                    if cause == Some((i.kind, i.name.as_str())) {
                        cause_faulty = true;
                    } else if fault_reason.is_none() {
                        fault_reason = Some(describe(i));
                    }
                }
            }
        }
        let effective_priority = if self.base == PRIORITY_OWNER {
            PRIORITY_OWNER
        } else {
            total.clamp(1, i64::from(PRIORITY_OWNER) - 1) as u8
        };
        let fault = cause_faulty || fault_reason.is_some();
        // When in FAULT and the change itself is not the cause, say which
        // tracker holds the instance there.
        let reason = match fault_reason {
            Some(f) if !cause_faulty => {
                if reason.is_empty() {
                    f
                } else {
                    format!("{reason}; in FAULT: {f}")
                }
            }
            _ => reason,
        };
        TrackState {
            effective_priority,
            fault,
            reason,
        }
    }
}

/// keepalived's reading of a track file (`process_track_file`): the first
/// 127 bytes, parsed like `strtol(buf, NULL, 0)` (leading blanks, a sign,
/// `0x` hex, a leading `0` octal, stop at the first non-digit; nothing
/// parsable is 0), clamped to -254..254.
pub fn parse_track_file(bytes: &[u8]) -> i64 {
    let buf = &bytes[..bytes.len().min(127)];
    let mut i = 0;
    while i < buf.len() && (buf[i] == b' ' || (b'\t'..=b'\r').contains(&buf[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < buf.len() && (buf[i] == b'+' || buf[i] == b'-') {
        neg = buf[i] == b'-';
        i += 1;
    }
    let (radix, start) = if buf.get(i) == Some(&b'0')
        && matches!(buf.get(i + 1), Some(b'x' | b'X'))
        && buf.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        (16, i + 2)
    } else if buf.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut v: i64 = 0;
    for &c in &buf[start..] {
        let Some(d) = (c as char).to_digit(radix) else {
            break;
        };
        // Saturate: anything beyond the clamp is the clamp.
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
    }
    let v = if neg { -v } else { v };
    v.clamp(-254, 254)
}

/// Read a track file now (a missing or unreadable file is 0, like
/// keepalived). This is the only I/O here; the runtime calls it on inotify
/// events or on a timer.
pub fn read_track_file(path: &Path) -> i64 {
    std::fs::read(path)
        .map(|b| parse_track_file(&b))
        .unwrap_or(0)
}

/// `init_file [VALUE] [overwrite]`: create the file with VALUE if it does not
/// exist, or always with `overwrite`.
pub fn init_track_file(file: &conf::model::TrackFile) -> std::io::Result<()> {
    let Some(init) = &file.init_file else {
        return Ok(());
    };
    let path = Path::new(&file.file);
    if init.overwrite || !path.exists() {
        std::fs::write(path, format!("{}\n", init.value))?;
    }
    Ok(())
}

/// A `vrrp_track_process`: what to match and the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedProcess {
    pub name: String,
    /// The process name (`/proc/PID/comm`, at most 15 bytes), or with
    /// `full_command` the full `argv[0]`.
    pub process: String,
    pub params: Vec<String>,
    pub param_match: ParamMatch,
    pub full_command: bool,
    pub quorum: u32,
    /// `None`: no upper bound.
    pub quorum_max: Option<u32>,
}

impl TrackedProcess {
    pub fn from_config(p: &TrackProcess) -> Self {
        TrackedProcess {
            name: p.name.clone(),
            process: p.process.clone(),
            params: p.params.clone(),
            param_match: p.param_match.unwrap_or(ParamMatch::Exact),
            full_command: p.full_command,
            quorum: p.quorum,
            quorum_max: p.quorum_max,
        }
    }

    /// keepalived `have_quorum`: `quorum <= count <= quorum_max`.
    pub fn has_quorum(&self, count: usize) -> bool {
        quorum_ok(self.quorum, self.quorum_max, count)
    }

    /// Does a process with this `comm` and command line (argv) match?
    pub fn matches(&self, comm: &str, argv: &[String]) -> bool {
        let name_ok = if self.full_command {
            argv.first().is_some_and(|a0| *a0 == self.process)
        } else {
            // The kernel keeps 15 bytes of the name (TASK_COMM_LEN - 1).
            let want = truncate_comm(&self.process);
            comm == want
        };
        if !name_ok {
            return false;
        }
        if self.params.is_empty() {
            return true;
        }
        let args = argv.get(1..).unwrap_or(&[]);
        let p = &self.params[..];
        match self.param_match {
            ParamMatch::Exact => args == p,
            ParamMatch::Initial => args.starts_with(p),
            ParamMatch::Partial => args.windows(p.len()).any(|w| w == p),
        }
    }
}

/// keepalived's `fork_delay` / `terminate_delay` of a tracked process:
/// a quorum gained is reported only once it has held for `fork_delay`, a
/// quorum lost only once it has been lost for `terminate_delay`; a change
/// undone within its delay is never reported. Sans-IO: feed counts with
/// [`QuorumDelay::observe`], arm a timer at [`QuorumDelay::next_deadline`]
/// and call [`QuorumDelay::poll`] when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDelay {
    quorum: u32,
    quorum_max: Option<u32>,
    fork_delay: Duration,
    terminate_delay: Duration,
    /// The state last reported (`None` before the first report).
    reported: Option<bool>,
    /// A change waiting for its delay: the new state and when it counts.
    pending: Option<(bool, Instant)>,
}

impl QuorumDelay {
    pub fn new(p: &TrackProcess) -> Self {
        QuorumDelay {
            quorum: p.quorum,
            quorum_max: p.quorum_max,
            fork_delay: p.fork_delay,
            terminate_delay: p.terminate_delay,
            reported: None,
            pending: None,
        }
    }

    /// A new process count. Returns the quorum state to report now, if it
    /// changed and needs no delay (the first count is reported at once, as
    /// keepalived's initial scan).
    pub fn observe(&mut self, now: Instant, count: usize) -> Option<bool> {
        let up = quorum_ok(self.quorum, self.quorum_max, count);
        let Some(reported) = self.reported else {
            self.reported = Some(up);
            self.pending = None;
            return Some(up);
        };
        if up == reported {
            // Back where we were before the delay ran out: nothing happened.
            self.pending = None;
            return None;
        }
        if matches!(self.pending, Some((p, _)) if p == up) {
            return self.poll(now);
        }
        let delay = if up {
            self.fork_delay
        } else {
            self.terminate_delay
        };
        self.pending = Some((up, now + delay));
        self.poll(now)
    }

    /// When a pending change is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.map(|(_, at)| at)
    }

    /// Report a pending change whose delay has run out.
    pub fn poll(&mut self, now: Instant) -> Option<bool> {
        match self.pending {
            Some((up, at)) if at <= now => {
                self.pending = None;
                self.reported = Some(up);
                Some(up)
            }
            _ => None,
        }
    }
}

fn quorum_ok(quorum: u32, quorum_max: Option<u32>, count: usize) -> bool {
    let count = count as u64;
    count >= u64::from(quorum) && quorum_max.is_none_or(|m| count <= u64::from(m))
}

fn truncate_comm(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    &base[..end]
}

/// A process's name and command line from its `/proc/PID` directory;
/// `None` when it is gone. A kernel thread has an empty command line.
pub fn read_process(dir: &Path) -> Option<(String, Vec<String>)> {
    let mut comm = std::fs::read_to_string(dir.join("comm")).ok()?;
    comm.truncate(comm.trim_end_matches('\n').len());
    let argv = std::fs::read(dir.join("cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    Some((comm, argv))
}

/// Count, for each tracked process, how many running processes match it,
/// by scanning `proc_root` (normally `/proc`). Processes that vanish during
/// the scan are skipped.
pub fn count_processes(proc_root: &Path, tracked: &[TrackedProcess]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = tracked.iter().map(|t| (t.name.clone(), 0)).collect();
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return counts;
    };
    for entry in dir.flatten() {
        let fname = entry.file_name();
        let Some(pid) = fname.to_str() else { continue };
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Some((comm, argv)) = read_process(&entry.path()) else {
            continue;
        };
        for t in tracked {
            if t.matches(&comm, &argv) {
                if let Some(c) = counts.get_mut(&t.name) {
                    *c += 1;
                }
            }
        }
    }
    counts
}

/// A `vrrp_script` ready to run: the runtime starts it when
/// [`ScriptScheduler::due`] says so and feeds
/// `ScriptResult::from(&script.run().await)` to every instance's
/// [`Trackers::script_result`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    pub name: String,
    /// Split keepalived's way, run as its `user`/`group` or `script_user`,
    /// with its `timeout` (the model holds the effective one).
    pub script: Script,
    pub interval: Duration,
}

/// The `vrrp_script`s some instance or sync group tracks (keepalived does
/// not run unused ones), and the scripts refused: an unknown user or group,
/// an unparsable command line, or, with `enable_script_security`, a script
/// failing the security check (keepalived disables those).
pub fn track_scripts_from_config(cfg: &Config) -> (Vec<TrackScript>, Vec<(String, ScriptError)>) {
    let g = &cfg.global_defs;
    let mut refused = Vec::new();
    let default_user = match RunAs::default_for(
        g.script_user.as_deref(),
        g.script_group.as_deref(),
        g.enable_script_security,
    ) {
        Ok(u) => u,
        Err(e) => {
            // Without a usable default user no script may run as root
            // by mistake: refuse them all.
            for s in &cfg.vrrp_scripts {
                refused.push((s.name.clone(), e.clone()));
            }
            return (Vec::new(), refused);
        }
    };
    let used = |name: &str| {
        cfg.vrrp_instances
            .iter()
            .any(|i| i.track_script.iter().any(|r| r.name == name))
            || cfg
                .sync_groups
                .iter()
                .any(|sg| sg.track_script.iter().any(|r| r.name == name))
    };
    let mut out = Vec::new();
    for vs in cfg.vrrp_scripts.iter().filter(|s| used(&s.name)) {
        let built = (|| {
            let who = match &vs.user {
                Some(u) => Some(RunAs::resolve(u, vs.group.as_deref())?),
                None => default_user.clone(),
            };
            let script = Script::parse(&vs.script)?
                .run_as(who)
                .timeout(Some(vs.timeout));
            if g.enable_script_security {
                script.check_secure()?;
            }
            Ok::<_, ScriptError>(script)
        })();
        match built {
            Ok(script) => out.push(TrackScript {
                name: vs.name.clone(),
                script,
                interval: vs.interval,
            }),
            Err(e) => refused.push((vs.name.clone(), e)),
        }
    }
    (out, refused)
}

/// When each `vrrp_script` is due, keepalived's way
/// (`vrrp_script_thread`): all run once at start, then every `interval`
/// from the previous start; a run still going when the next is due is not
/// doubled: that turn is skipped.
#[derive(Debug, Clone, Default)]
pub struct ScriptScheduler {
    entries: BTreeMap<String, Sched>,
}

#[derive(Debug, Clone)]
struct Sched {
    interval: Duration,
    next: Option<Instant>,
    running: bool,
    skipped: u64,
}

impl ScriptScheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a script (not scheduled until [`ScriptScheduler::start`]).
    pub fn add(&mut self, name: &str, interval: Duration) {
        self.entries.insert(
            name.to_owned(),
            Sched {
                interval: interval.max(Duration::from_millis(1)),
                next: None,
                running: false,
                skipped: 0,
            },
        );
    }

    /// Every script is due now.
    pub fn start(&mut self, now: Instant) {
        for s in self.entries.values_mut() {
            s.next = Some(now);
        }
    }

    /// The earliest time a script is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().filter_map(|s| s.next).min()
    }

    /// The scripts to start now, marked running. Call
    /// [`ScriptScheduler::finished`] when each run ends.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for (name, s) in &mut self.entries {
            let Some(next) = s.next else { continue };
            if next > now {
                continue;
            }
            // The next turn counts from this one; turns missed entirely
            // (the runtime was late) are not made up.
            let mut n = next + s.interval;
            while n <= now {
                n += s.interval;
            }
            s.next = Some(n);
            if s.running {
                s.skipped += 1;
                tracing::info!(script = %name, "track script is still running, skipping this run");
                continue;
            }
            s.running = true;
            out.push(name.clone());
        }
        out
    }

    /// A run of `name` ended.
    pub fn finished(&mut self, name: &str) {
        if let Some(s) = self.entries.get_mut(name) {
            s.running = false;
        }
    }

    pub fn is_running(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(|s| s.running)
    }

    /// How many turns of `name` were skipped because it was still running.
    pub fn skipped(&self, name: &str) -> u64 {
        self.entries.get(name).map_or(0, |s| s.skipped)
    }
}

/// What a sync group asks of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAction {
    /// Go to FAULT because another member is (keepalived
    /// `vrrp_sync_fault`): `set_fault(true)` on top of its own trackers.
    Fault,
    /// The group left FAULT: drop the group-imposed fault (the member
    /// stays in FAULT if its own trackers say so).
    LeaveFault,
    /// Leave MASTER for BACKUP (`vrrp_sync_backup`).
    Backup,
    /// Become MASTER now (`vrrp_sync_master`).
    Master,
}

/// `vrrp_sync_group` rules (keepalived `vrrp_sync.c`), sans-IO. The
/// runtime reports each member's own tracker fault
/// ([`SyncGroup::member_fault`]) and each state change of its state machine
/// ([`SyncGroup::on_member_state`]); both return what the other members must
/// do. [`SyncGroup::take_group_change`] yields the group's own state changes
/// (for the GROUP notifications).
#[derive(Debug, Clone)]
pub struct SyncGroup {
    name: String,
    members: Vec<Member>,
    state: State,
    changed: Option<State>,
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    state: State,
    own_fault: bool,
    forced_fault: bool,
}

impl SyncGroup {
    pub fn new<I, S>(name: impl Into<String>, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SyncGroup {
            name: name.into(),
            members: members
                .into_iter()
                .map(|m| Member {
                    name: m.into(),
                    state: State::Initialize,
                    own_fault: false,
                    forced_fault: false,
                })
                .collect(),
            state: State::Backup,
            changed: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's state: FAULT while any member is faulty on its own,
    /// MASTER once members became master, else BACKUP.
    pub fn state(&self) -> State {
        self.state
    }

    pub fn contains(&self, member: &str) -> bool {
        self.members.iter().any(|m| m.name == member)
    }

    /// The group's state changed since the last call.
    pub fn take_group_change(&mut self) -> Option<State> {
        self.changed.take()
    }

    fn set_state(&mut self, s: State) {
        if self.state != s {
            tracing::info!(group = %self.name, "VRRP_Group({}) {} -> {}", self.name, self.state, s);
            self.state = s;
            self.changed = Some(s);
        }
    }

    /// Record a member's current state without acting on it (the group
    /// was rebuilt by a reload while its members kept running). The group
    /// state follows: FAULT if a member is faulty, MASTER if one is
    /// master, else BACKUP; no group notification is due.
    pub fn seed_member(&mut self, member: &str, state: State, own_fault: bool, forced_fault: bool) {
        let Some(m) = self.members.iter_mut().find(|m| m.name == member) else {
            return;
        };
        m.state = state;
        m.own_fault = own_fault;
        m.forced_fault = forced_fault;
        self.state = if self.members.iter().any(|m| m.own_fault) {
            State::Fault
        } else if self.members.iter().any(|m| m.state == State::Master) {
            State::Master
        } else {
            State::Backup
        };
        self.changed = None;
    }

    /// keepalived `vrrp_sync_can_goto_master`: a member may become master
    /// only if the group already is, or every other member wants to
    /// (`wants_master(other)`), to avoid thrashing.
    pub fn can_goto_master(&self, member: &str, wants_master: impl Fn(&str) -> bool) -> bool {
        self.state == State::Master
            || self
                .members
                .iter()
                .filter(|m| m.name != member)
                .all(|m| wants_master(&m.name))
    }

    /// A member's own trackers put it in FAULT or released it.
    pub fn member_fault(&mut self, member: &str, fault: bool) -> Vec<(String, SyncAction)> {
        let Some(m) = self.members.iter_mut().find(|m| m.name == member) else {
            return Vec::new();
        };
        if m.own_fault == fault {
            return Vec::new();
        }
        m.own_fault = fault;
        self.reconcile_fault(member)
    }

    fn reconcile_fault(&mut self, cause: &str) -> Vec<(String, SyncAction)> {
        let any_fault = self.members.iter().any(|m| m.own_fault);
        let mut out = Vec::new();
        if any_fault && self.state != State::Fault {
            // vrrp_sync_fault: every other member follows to FAULT.
            for m in self.members.iter_mut().filter(|m| m.name != cause) {
                if !m.forced_fault {
                    m.forced_fault = true;
                    out.push((m.name.clone(), SyncAction::Fault));
                }
            }
            self.set_state(State::Fault);
        } else if any_fault {
            // Already FAULT: a member newly faulty on its own needs nothing;
            // make sure everyone not yet forced is.
            for m in self.members.iter_mut().filter(|m| m.name != cause) {
                if !m.forced_fault && !m.own_fault {
                    m.forced_fault = true;
                    out.push((m.name.clone(), SyncAction::Fault));
                }
            }
        } else if self.state == State::Fault {
            // The last faulty member recovered: the others may leave FAULT,
            // and the group comes up as BACKUP (keepalived try_up_instance
            // → vrrp_sync_backup); a master election follows.
            for m in self.members.iter_mut() {
                if m.forced_fault {
                    m.forced_fault = false;
                    out.push((m.name.clone(), SyncAction::LeaveFault));
                }
            }
            self.set_state(State::Backup);
        }
        out
    }

    /// A member's state machine changed state.
    pub fn on_member_state(&mut self, member: &str, state: State) -> Vec<(String, SyncAction)> {
        let Some(m) = self.members.iter_mut().find(|m| m.name == member) else {
            return Vec::new();
        };
        let from = m.state;
        m.state = state;
        let mut out = Vec::new();
        match state {
            // FAULT follows from the trackers (member_fault); a member in
            // FAULT because of the group changes nothing.
            State::Fault | State::Initialize => {}
            State::Master if self.state == State::Backup => {
                // vrrp_sync_master: the others follow to MASTER.
                for o in self.members.iter().filter(|o| o.name != member) {
                    if o.state != State::Master {
                        out.push((o.name.clone(), SyncAction::Master));
                    }
                }
                self.set_state(State::Master);
            }
            State::Backup if self.state == State::Master && from == State::Master => {
                // vrrp_sync_backup: a member lost mastership (a better
                // master appeared); the others step down too.
                for o in self.members.iter().filter(|o| o.name != member) {
                    if o.state == State::Master {
                        out.push((o.name.clone(), SyncAction::Backup));
                    }
                }
                self.set_state(State::Backup);
            }
            State::Master | State::Backup => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_like_parsing() {
        assert_eq!(parse_track_file(b"5\n"), 5);
        assert_eq!(parse_track_file(b"  -7 trailing"), -7);
        assert_eq!(parse_track_file(b"0x10"), 16);
        assert_eq!(parse_track_file(b"010"), 8);
        assert_eq!(parse_track_file(b"+3"), 3);
        assert_eq!(parse_track_file(b"abc"), 0);
        assert_eq!(parse_track_file(b""), 0);
        assert_eq!(parse_track_file(b"99999999999999999999999"), 254);
        assert_eq!(parse_track_file(b"-1000"), -254);
    }

    #[test]
    fn comm_is_truncated_to_15_bytes() {
        assert_eq!(
            truncate_comm("/usr/sbin/a-very-long-daemon-name"),
            "a-very-long-dae"
        );
        assert_eq!(truncate_comm("haproxy"), "haproxy");
    }
}
