//! The sans-IO VRRP instance state machine (RFC 5798 §6, RFC 3768 §6),
//! with keepalived's behaviour where it differs from the RFCs.
//!
//! # Driving it
//!
//! An [`Instance`] never reads a clock or touches a socket. The runtime:
//!
//! 1. calls [`Instance::handle_startup`] once, then feeds events:
//!    [`Instance::handle_advert`] for every advertisement that passed
//!    [`crate::packet::validate`], [`Instance::handle_timeout`] whenever
//!    `now >= next_deadline()`, [`Instance::handle_shutdown`] on SIGTERM,
//!    and the tracker inputs [`Instance::set_effective_priority`] /
//!    [`Instance::set_fault`];
//! 2. after each call, drains [`Instance::poll_action`] until `None` and
//!    performs the actions **in the order returned**;
//! 3. sleeps until [`Instance::next_deadline`] (one deadline: the minimum of
//!    the timer table) or the next packet.
//!
//! # Drain order
//!
//! Actions come out in the order their effects must happen. Becoming
//! master yields `SendAdvert`, `AddVips`, `Announce`, `StateChanged`: the
//! advert goes first so the old master drops the addresses before our
//! gratuitous ARPs move the traffic (keepalived `vrrp_state_master_tx`).
//! Leaving master yields the optional `SendAdvert { priority: 0 }`, then
//! `RemoveVips`, then `StateChanged`. `Stopped` is always last.
//!
//! # keepalived versus the RFC
//!
//! Where keepalived (2.x, `vrrp.c`, `vrrp_scheduler.c`) and RFC 5798 differ,
//! this machine does what keepalived does unless stated:
//!
//! - **Skew_Time** uses the effective priority and is computed in whole
//!   microseconds as keepalived does: v2 `(256 − p) × 1 s / 256` (RFC 3768
//!   §6.1), v3 `(256 − p) × Master_Adver_Interval / 256` (RFC 5798 §6.1),
//!   truncated to the microsecond.
//! - **A master receiving a lower-priority advert** answers at once with
//!   its own advert (keepalived's default, without `lower_prio_no_advert`);
//!   the RFC only discards it. The Adver_Timer is not reset by that answer.
//!   It also re-announces its addresses (`Announce`), at most once per
//!   Master_Down_Interval, because the other router was master too and
//!   clients may follow its gratuitous ARP; keepalived does this only with
//!   `garp_lower_prio_repeat`.
//! - **A master receiving priority 0** sends an advert and resets the
//!   Adver_Timer (RFC 5798 §6.4.3; keepalived sends without resetting).
//! - **Two address owners**: a master with priority 255 hearing another
//!   owner lowers its own priority to 254 and yields (keepalived's
//!   "CONFIGURATION ERROR ... reducing local priority").
//! - **`state MASTER` (`start_as_master`) for a non-owner** does not make
//!   the instance master at start-up: keepalived 2.x enters BACKUP with the
//!   full Master_Down_Interval and wins the election like anyone else. Its
//!   one effect, as in keepalived, is that `nopreempt` and `preempt_delay`
//!   are cleared. Priority 255 behaves as `state MASTER` and becomes master
//!   at once (keepalived: a 1 µs down timer); `nopreempt` is cleared for an
//!   owner.
//! - **`nopreempt`**: a backup resets its timer on every advert, whatever
//!   its priority (RFC 5798 §6.4.2 with Preempt_Mode false).
//! - **`preempt_delay`** (keepalived semantics): the first lower-priority
//!   advert starts a `preempt_delay` clock; until it runs out lower-priority
//!   adverts still reset the down timer; after it, they are discarded, so
//!   the backup takes over one Master_Down_Interval after the last advert it
//!   accepted. An advert of equal or higher priority cancels the clock;
//!   entering BACKUP clears it.
//! - **VRRPv2 interval mismatch** never reaches the machine: the codec
//!   drops it (RFC 3768 §7.1). A v3 backup learns the master's interval
//!   (RFC 5798 §6.4.2), on entering BACKUP from MASTER too.
//! - **Gratuitous ARP**: one `Announce` on becoming master, a second one
//!   `garp_master_delay` later, then every `garp_master_refresh`.
//!   keepalived checks the refresh only when it sends an advert; here it is
//!   its own timer (fires at most one advert interval earlier).
//! - **Shutdown is make-before-break** (ours; keepalived sends priority 0
//!   and removes the addresses at once): see [`Instance::handle_shutdown`].
//! - **Fault** (trackers): a master sends priority 0 and removes its
//!   addresses (keepalived `down_instance`); adverts are ignored in FAULT;
//!   leaving FAULT enters BACKUP with a fresh down timer, or MASTER at once
//!   for an owner (keepalived `try_up_instance`).

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use crate::packet::Version;

/// Priority of the address owner (RFC 5798 §5.2.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a master sends when it stops (RFC 5798 §5.2.4).
pub const PRIORITY_STOP: u8 = 0;

/// VRRP instance state (RFC 5798 §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or stopped (RFC 5798 §6.4.1).
    Initialize,
    /// Following a master (RFC 5798 §6.4.2).
    Backup,
    /// Owning the virtual addresses (RFC 5798 §6.4.3).
    Master,
    /// A tracker reports the instance unusable (keepalived FAULT).
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// The configuration one instance runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// keepalived `vrrp_instance` name, for logs.
    pub name: String,
    /// Virtual router ID.
    pub vrid: u8,
    /// Protocol version.
    pub version: Version,
    /// Configured priority; 255 means address owner. 0 is not a valid
    /// configuration and is raised to 1.
    pub priority: u8,
    /// Advertisement interval: whole seconds 1..=255 for v2, centiseconds
    /// 1..=4095 for v3 (rounded to the nearest unit and clamped).
    pub advert_interval: Duration,
    /// Preempt a lower-priority master (keepalived: default true,
    /// `nopreempt` sets false).
    pub preempt: bool,
    /// keepalived `preempt_delay`.
    pub preempt_delay: Duration,
    /// keepalived `state MASTER` (see the module notes).
    pub start_as_master: bool,
    /// Our source address, for the equal-priority tie-break (RFC 5798
    /// §6.4.3).
    pub primary_addr: IpAddr,
    /// Make-before-break: how long a shutting-down master keeps its
    /// addresses after hearing the new master.
    pub release_hold: Duration,
    /// keepalived `garp_master_delay`: second gratuitous ARP burst after
    /// becoming master (keepalived default 5 s).
    pub garp_master_delay: Option<Duration>,
    /// keepalived `garp_master_refresh`: repeat the announcement while
    /// master.
    pub garp_master_refresh: Option<Duration>,
}

/// The parts of a validated advertisement the machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedAdvert {
    /// Source address of the IP packet.
    pub src: IpAddr,
    /// Priority field.
    pub priority: u8,
    /// Advertisement interval the sender carries (v3: Max Adver Int).
    pub max_adver_int: Duration,
}

/// Why a state changed. Displayed in the transition log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Start-up into BACKUP (RFC 5798 §6.4.1).
    Startup,
    /// Start-up (or recovery) of the address owner into MASTER.
    AddressOwner,
    /// The Master_Down_Timer fired (RFC 5798 §6.4.2).
    MasterDownTimer,
    /// The down timer fired after we discarded adverts of a lower priority
    /// (preemption, RFC 5798 §6.4.2).
    PreemptLowerPriority {
        /// Priority of the master we preempted.
        priority: u8,
    },
    /// The down timer, shortened to Skew_Time by a priority 0 advert, fired.
    PriorityZeroReceived,
    /// A master heard a higher priority (RFC 5798 §6.4.3).
    HigherPriorityAdvert {
        /// Priority heard.
        priority: u8,
        /// Its sender.
        src: IpAddr,
    },
    /// A master heard its own priority from a higher address (RFC 5798
    /// §6.4.3 tie-break).
    TieBreakLost {
        /// The winning address.
        src: IpAddr,
    },
    /// Shutdown (SIGTERM).
    Shutdown,
    /// A tracker reported a fault.
    Fault,
    /// The fault cleared.
    FaultCleared,
    /// The instance's sync group moved it (keepalived `vrrp_sync_master` /
    /// `vrrp_sync_backup`).
    SyncGroup,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => write!(f, "startup"),
            Reason::AddressOwner => write!(f, "address owner"),
            Reason::MasterDownTimer => write!(f, "master down timer"),
            Reason::PreemptLowerPriority { priority } => {
                write!(f, "preempting lower priority {priority} master")
            }
            Reason::PriorityZeroReceived => write!(f, "master released (priority 0)"),
            Reason::HigherPriorityAdvert { priority, src } => {
                write!(f, "higher priority {priority} advert from {src}")
            }
            Reason::TieBreakLost { src } => {
                write!(f, "equal priority advert from higher address {src}")
            }
            Reason::Shutdown => write!(f, "shutdown"),
            Reason::Fault => write!(f, "fault"),
            Reason::FaultCleared => write!(f, "fault cleared"),
            Reason::SyncGroup => write!(f, "sync group"),
        }
    }
}

/// An effect for the runtime to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority and
    /// [`Instance::advert_interval_cs`].
    SendAdvert {
        /// Priority to put in the packet (0: we stop being master).
        priority: u8,
    },
    /// Add the virtual addresses.
    AddVips,
    /// Remove the virtual addresses.
    RemoveVips,
    /// Send gratuitous ARP / unsolicited NA for every virtual address (the
    /// runtime does the repeats of one burst).
    Announce,
    /// The state changed (for notify scripts, logs, metrics).
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// Shutdown finished: the runtime may drop the instance.
    Stopped,
    /// A sync group member's Master_Down_Timer fired: it stays BACKUP until
    /// the runtime calls [`Instance::sync_master`] (every member is ready)
    /// or an advert arrives. See [`Instance::set_sync_gated`].
    WantMaster,
}

/// Why the machine emitted an [`Action::Announce`]: it decides how many
/// gratuitous ARPs / NAs the runtime sends (see
/// [`Instance::last_announce_cause`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceCause {
    /// On becoming master, `garp_master_delay` later, every
    /// `garp_master_refresh`, and the follow-up after becoming master:
    /// `garp_master_repeat` each.
    Master,
    /// A master heard a lower priority master (`first`), or the follow-up
    /// to that one interval later: `garp_lower_prio_repeat` each.
    LowerPriority { first: bool },
}

/// Counters of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// State changes.
    pub transitions: u64,
    /// Adverts handed to [`Instance::handle_advert`].
    pub adverts_in: u64,
    /// `SendAdvert` actions emitted.
    pub adverts_out: u64,
    /// Priority 0 adverts received.
    pub priority_zero_in: u64,
    /// Priority 0 adverts sent.
    pub priority_zero_out: u64,
    /// Times we became master.
    pub became_master: u64,
    /// Times we left master.
    pub released_master: u64,
    /// Lower-priority adverts a preempting backup discarded.
    pub lower_priority_discarded: u64,
    /// Lower-priority adverts a master answered.
    pub lower_priority_answered: u64,
}

/// The timers of an instance: one table, one next deadline (STYLE.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Master: send the next advertisement (Adver_Timer).
    Advert = 0,
    /// Backup: Master_Down_Timer.
    MasterDown = 1,
    /// Master: second gratuitous ARP burst (`garp_master_delay`).
    GarpDelay = 2,
    /// Master: periodic announcement (`garp_master_refresh`).
    GarpRefresh = 3,
    /// Shutting-down master: release the addresses.
    Release = 4,
    /// Master: the follow-up re-announcement after hearing a lower
    /// priority master (see `master_rx`).
    Reannounce = 5,
}

impl Timer {
    const ALL: [Timer; 6] = [
        Timer::Advert,
        Timer::MasterDown,
        Timer::GarpDelay,
        Timer::GarpRefresh,
        Timer::Release,
        Timer::Reannounce,
    ];
}

#[derive(Debug, Clone, Default)]
struct TimerTable([Option<Instant>; Timer::ALL.len()]);

impl TimerTable {
    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }
    fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }
    fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }
    fn stop_all(&mut self) {
        self.0 = [None; Timer::ALL.len()];
    }
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
    /// The earliest timer due at `now` (ties in [`Timer::ALL`] order).
    fn expired(&self, now: Instant) -> Option<Timer> {
        Timer::ALL
            .iter()
            .filter_map(|t| self.get(*t).filter(|at| *at <= now).map(|at| (at, *t)))
            .min_by_key(|(at, t)| (*at, *t as usize))
            .map(|(_, t)| t)
    }
}

/// The spans of time the machine derives from its configuration and
/// state; [`Instance::span`] is the only place that computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    /// Our own Advertisement_Interval.
    AdvertInterval,
    /// Skew_Time at our effective priority.
    Skew,
    /// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
    MasterDown,
    /// How long a shutting-down master waits for a successor: the
    /// Master_Down_Interval of a priority 1 backup plus one interval.
    ReleaseBound,
}

/// Shutdown progress of a master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// Not shutting down.
    No,
    /// Sent priority 0, waiting for a successor.
    Waiting,
    /// Heard a successor; the Release timer holds the addresses a little
    /// longer.
    Holding,
}

/// One VRRP instance. See the module documentation for how to drive it.
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    effective_priority: u8,
    /// Our interval in centiseconds (v2: a multiple of 100).
    adver_int_cs: u16,
    /// Master_Adver_Interval in centiseconds (RFC 5798 §6.1).
    master_adver_int_cs: u16,
    timers: TimerTable,
    actions: VecDeque<Action>,
    stats: InstanceStats,
    /// keepalived `preempt_time`.
    preempt_at: Option<Instant>,
    /// Source of the master we follow.
    master_addr: Option<IpAddr>,
    /// The reason to give if the down timer fires now.
    next_master_reason: Reason,
    release: Release,
    fault: bool,
    started: bool,
    stopped: bool,
    /// When a master last re-announced its VIPs because another master
    /// was heard (split brain healing), to bound the GARP rate.
    last_reannounce: Option<Instant>,
    /// The armed [`Timer::Reannounce`] follows a lower-priority
    /// re-announce (else it follows becoming master).
    reannounce_lower: bool,
    /// The cause of each `Announce` still in `actions`, in order.
    announce_causes: VecDeque<AnnounceCause>,
    /// The cause of the last `Announce` handed out by `poll_action`.
    last_announce: AnnounceCause,
    /// Member of a sync group: the down timer asks ([`Action::WantMaster`])
    /// instead of taking MASTER on its own.
    sync_gated: bool,
    /// The down timer fired while gated and no master has been heard since.
    wants_master: bool,
}

impl Instance {
    /// Creates an instance in INITIALIZE, normalising the configuration the
    /// way keepalived does (see the module notes); each change is logged.
    pub fn new(cfg: InstanceConfig) -> Self {
        let mut cfg = cfg;
        if cfg.priority == 0 {
            tracing::warn!(instance = %cfg.name, "priority 0 is reserved; using 1");
            cfg.priority = 1;
        }
        if cfg.priority == PRIORITY_OWNER {
            if !cfg.preempt {
                tracing::warn!(instance = %cfg.name, "nopreempt is incompatible with priority 255; clearing");
                cfg.preempt = true;
            }
            cfg.start_as_master = true;
        }
        if cfg.start_as_master {
            if !cfg.preempt {
                tracing::warn!(instance = %cfg.name, "nopreempt does not work with initial state MASTER; clearing");
                cfg.preempt = true;
            }
            if !cfg.preempt_delay.is_zero() {
                tracing::warn!(instance = %cfg.name, "preempt_delay does not work with initial state MASTER; clearing");
                cfg.preempt_delay = Duration::ZERO;
            }
        }
        if !cfg.preempt && !cfg.preempt_delay.is_zero() {
            tracing::warn!(instance = %cfg.name, "preempt_delay is incompatible with nopreempt; clearing");
            cfg.preempt_delay = Duration::ZERO;
        }
        let adver_int_cs = interval_cs(cfg.version, cfg.advert_interval);
        Instance {
            effective_priority: cfg.priority,
            adver_int_cs,
            master_adver_int_cs: adver_int_cs,
            cfg,
            state: State::Initialize,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            stats: InstanceStats::default(),
            preempt_at: None,
            master_addr: None,
            next_master_reason: Reason::MasterDownTimer,
            release: Release::No,
            fault: false,
            started: false,
            stopped: false,
            last_reannounce: None,
            reannounce_lower: false,
            announce_causes: VecDeque::new(),
            last_announce: AnnounceCause::Master,
            sync_gated: false,
            wants_master: false,
        }
    }

    // ----- inputs -----

    /// Leaves INITIALIZE (RFC 5798 §6.4.1): the address owner becomes
    /// master at once, anyone else enters BACKUP with the full
    /// Master_Down_Interval; with a pending fault, FAULT.
    pub fn handle_startup(&mut self, now: Instant) {
        if self.started || self.stopped {
            return;
        }
        self.started = true;
        self.master_adver_int_cs = self.adver_int_cs;
        if self.fault {
            self.change_state(now, State::Fault, Reason::Fault);
        } else if self.effective_priority == PRIORITY_OWNER {
            // RFC 5798 §6.4.1: "If the Priority = 255 ... transition to
            // {Master}".
            self.change_state(now, State::Master, Reason::AddressOwner);
        } else {
            self.change_state(now, State::Backup, Reason::Startup);
        }
    }

    /// An advertisement that passed [`crate::packet::validate`].
    pub fn handle_advert(&mut self, now: Instant, adv: &ReceivedAdvert) {
        if self.stopped {
            return;
        }
        self.stats.adverts_in += 1;
        if adv.priority == PRIORITY_STOP {
            self.stats.priority_zero_in += 1;
        }
        match self.state {
            // RFC 5798 §6.4.1: INITIALIZE does not process adverts;
            // keepalived ignores them in FAULT.
            State::Initialize | State::Fault => {}
            State::Backup => self.backup_rx(now, adv),
            State::Master if self.release != Release::No => self.releasing_rx(now, adv),
            State::Master => self.master_rx(now, adv),
        }
    }

    /// Fires every timer due at `now`. Call it when `now >=
    /// next_deadline()`; an early call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while !self.stopped {
            let Some(timer) = self.timers.expired(now) else {
                return;
            };
            let due = self.timers.get(timer).unwrap_or(now);
            self.timers.stop(timer);
            match timer {
                Timer::Advert => self.advert_timer(now, due),
                Timer::MasterDown if self.sync_gated => {
                    // keepalived `vrrp_sync_can_goto_master`: a sync group
                    // member becomes master only with its partners, so ask.
                    tracing::info!(instance = %self.cfg.name, vrid = self.cfg.vrid,
                        "master down timer fired: waiting for the sync group");
                    self.wants_master = true;
                    self.push(Action::WantMaster);
                }
                Timer::MasterDown => {
                    // RFC 5798 §6.4.2: the Master_Down_Timer fires.
                    let reason = self.next_master_reason;
                    self.change_state(now, State::Master, reason);
                }
                Timer::GarpDelay => self.push_announce(AnnounceCause::Master),
                Timer::GarpRefresh => {
                    self.push_announce(AnnounceCause::Master);
                    if let Some(every) = self.garp_refresh() {
                        self.timers.set(Timer::GarpRefresh, now + every);
                    }
                }
                Timer::Release => self.finish_release(now),
                Timer::Reannounce => {
                    let cause = if self.reannounce_lower {
                        AnnounceCause::LowerPriority { first: false }
                    } else {
                        AnnounceCause::Master
                    };
                    self.push_announce(cause);
                }
            }
        }
    }

    /// SIGTERM. A BACKUP, FAULT or INITIALIZE instance stops at once. A
    /// MASTER hands over make-before-break:
    ///
    /// 1. it sends priority 0 (RFC 5798 §6.4.3 "Shutdown") so the best
    ///    backup takes over after its Skew_Time, and **keeps** its
    ///    addresses; it repeats priority 0 every advert interval and never
    ///    again sends a nonzero priority;
    /// 2. on the first advert with a nonzero priority from another router
    ///    (the new master announcing itself), it arms `release_hold`;
    /// 3. when that runs out it emits `RemoveVips`, `StateChanged(MASTER ->
    ///    INIT, Shutdown)` and `Stopped`.
    ///
    /// If nobody speaks up within the Master_Down_Interval of a priority 1
    /// backup plus one advert interval, it releases anyway. A second call
    /// while releasing releases at once.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        match (self.state, self.release) {
            (State::Master, Release::No) => {
                tracing::info!(instance = %self.cfg.name, vrid = self.cfg.vrid,
                    "shutdown: sending priority 0, keeping addresses until a new master speaks");
                self.release = Release::Waiting;
                self.send_advert(PRIORITY_STOP);
                self.timers.stop_all();
                self.timers
                    .set(Timer::Advert, now + self.span(Span::AdvertInterval));
                self.timers
                    .set(Timer::Release, now + self.span(Span::ReleaseBound));
            }
            (State::Master, _) => self.finish_release(now),
            (State::Initialize, _) => self.stop(),
            (State::Backup | State::Fault, _) => {
                self.change_state(now, State::Initialize, Reason::Shutdown);
                self.stop();
            }
        }
    }

    /// Trackers changed the priority. The owner's priority never changes;
    /// others are clamped to 1..=254 (keepalived
    /// `vrrp_set_effective_priority`). A backup moves its running down
    /// timer by the change in Skew_Time; a master carries the new priority
    /// in its next advert.
    pub fn set_effective_priority(&mut self, now: Instant, prio: u8) {
        let _ = now;
        if self.stopped || self.cfg.priority == PRIORITY_OWNER {
            return;
        }
        let prio = prio.clamp(1, PRIORITY_OWNER - 1);
        if prio == self.effective_priority {
            return;
        }
        tracing::info!(instance = %self.cfg.name, vrid = self.cfg.vrid,
            "effective priority {} -> {}", self.effective_priority, prio);
        let old_down = self.span(Span::MasterDown);
        self.effective_priority = prio;
        let new_down = self.span(Span::MasterDown);
        if self.state == State::Backup {
            if let Some(at) = self.timers.get(Timer::MasterDown) {
                let at = if new_down >= old_down {
                    at + (new_down - old_down)
                } else {
                    at.checked_sub(old_down - new_down).unwrap_or(at)
                };
                self.timers.set(Timer::MasterDown, at);
            }
        }
    }

    /// A reload changed this instance's configuration but not its identity
    /// (same VRID, version and link): take the new values without leaving
    /// the current state, so a master stays master and keeps its addresses.
    ///
    /// The new base priority becomes the effective one (the runtime's
    /// trackers then apply their offsets again); a master sends its next
    /// advert at the new interval at the latest; a backup's down timer is
    /// recomputed from the new priority. A master whose new priority is
    /// lower than a backup's is preempted by the protocol, as after any
    /// priority change.
    pub fn reconfigure(&mut self, now: Instant, cfg: InstanceConfig) {
        let fresh = Instance::new(cfg);
        let base_changed = fresh.cfg.priority != self.cfg.priority;
        tracing::info!(instance = %fresh.cfg.name, vrid = fresh.cfg.vrid, state = %self.state,
            "configuration updated in place");
        self.cfg = fresh.cfg;
        self.adver_int_cs = fresh.adver_int_cs;
        if self.state != State::Backup {
            self.master_adver_int_cs = self.adver_int_cs;
        }
        if base_changed {
            if self.cfg.priority == PRIORITY_OWNER {
                self.effective_priority = PRIORITY_OWNER;
            } else {
                // Clear the owner marker first so set_effective_priority
                // does not refuse the change.
                let target = self.cfg.priority;
                self.effective_priority = self.effective_priority.min(PRIORITY_OWNER - 1);
                self.set_effective_priority(now, target);
            }
        }
        if self.state == State::Master && self.release == Release::No {
            let next = now + self.span(Span::AdvertInterval);
            if self.timers.get(Timer::Advert).is_none_or(|t| t > next) {
                self.timers.set(Timer::Advert, next);
            }
            if self.cfg.garp_master_refresh.is_none() {
                self.timers.stop(Timer::GarpRefresh);
            }
        }
    }

    /// When a master announces its VIPs again after a possible race with
    /// another master: one advert interval, at most 100 ms.
    fn follow_up(&self) -> Duration {
        self.span(Span::AdvertInterval)
            .min(Duration::from_millis(100))
    }

    /// A tracker reports a fault (`true`) or its end (`false`).
    pub fn set_fault(&mut self, now: Instant, fault: bool) {
        if self.stopped || self.fault == fault {
            return;
        }
        self.fault = fault;
        match (self.state, fault) {
            // Not started: handle_startup will look at the flag.
            (State::Initialize, _) => {}
            // The link is gone: holding the addresses for a successor is
            // pointless; finish the shutdown now.
            (State::Master, true) if self.release != Release::No => self.finish_release(now),
            (State::Master | State::Backup, true) => {
                self.change_state(now, State::Fault, Reason::Fault)
            }
            (State::Fault, false) => {
                let to = if self.effective_priority == PRIORITY_OWNER {
                    State::Master
                } else {
                    State::Backup
                };
                self.change_state(now, to, Reason::FaultCleared);
            }
            _ => {}
        }
    }

    /// Make this instance a sync group member (`true`) or a lone one.
    /// A member whose down timer fires emits [`Action::WantMaster`] and
    /// waits, instead of taking MASTER alone; ungating a waiting member
    /// lets it take MASTER at once.
    pub fn set_sync_gated(&mut self, now: Instant, gated: bool) {
        self.sync_gated = gated;
        if !gated && self.wants_master && self.state == State::Backup {
            let reason = self.next_master_reason;
            self.change_state(now, State::Master, reason);
        }
    }

    /// The down timer fired while gated and no master was heard since.
    pub fn wants_master(&self) -> bool {
        self.wants_master
    }

    /// The sync group moves this member to MASTER with its partners
    /// (keepalived `vrrp_sync_master`). Only a running BACKUP moves.
    pub fn sync_master(&mut self, now: Instant) {
        if !self.stopped && self.state == State::Backup {
            self.change_state(now, State::Master, Reason::SyncGroup);
        }
    }

    /// A partner lost mastership to a better router: this member steps
    /// down too (keepalived `vrrp_sync_backup`). It sends no priority 0:
    /// the peer's group takes all members over together.
    pub fn sync_backup(&mut self, now: Instant) {
        if !self.stopped && self.state == State::Master && self.release == Release::No {
            self.change_state(now, State::Backup, Reason::SyncGroup);
        }
    }

    // ----- outputs -----

    /// The next action to perform, in the documented order.
    pub fn poll_action(&mut self) -> Option<Action> {
        let a = self.actions.pop_front()?;
        if a == Action::Announce {
            if let Some(c) = self.announce_causes.pop_front() {
                self.last_announce = c;
            }
        }
        Some(a)
    }

    /// Why the `Announce` that [`Instance::poll_action`] returned last was
    /// emitted.
    pub fn last_announce_cause(&self) -> AnnounceCause {
        self.last_announce
    }

    /// When [`Instance::handle_timeout`] must be called next.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        self.timers.next()
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Priority we advertise (and compare with).
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// Master_Adver_Interval (RFC 5798 §6.1): learned from the master in a
    /// v3 backup, our own interval otherwise.
    pub fn master_adver_interval(&self) -> Duration {
        cs_to_duration(self.master_adver_int_cs)
    }

    /// Our advertisement interval in centiseconds, for the packet.
    pub fn advert_interval_cs(&self) -> u16 {
        self.adver_int_cs
    }

    /// Our advertisement interval as the machine uses it (after rounding).
    pub fn advert_interval(&self) -> Duration {
        cs_to_duration(self.adver_int_cs)
    }

    /// Counters.
    pub fn stats(&self) -> &InstanceStats {
        &self.stats
    }

    /// The configuration after keepalived's normalisation.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Source address of the master this backup follows (for keepalived's
    /// `skip_check_adv_addr`).
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master_addr
    }

    /// A timer's deadline, for diagnostics and tests.
    pub fn timer(&self, t: Timer) -> Option<Instant> {
        self.timers.get(t)
    }

    /// A master that is handing over after [`Instance::handle_shutdown`].
    pub fn is_releasing(&self) -> bool {
        self.release != Release::No
    }

    /// Shutdown finished (`Stopped` was emitted).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    // ----- event handlers -----

    /// RFC 5798 §6.4.2, "If an ADVERTISEMENT is received".
    fn backup_rx(&mut self, now: Instant, adv: &ReceivedAdvert) {
        if adv.priority == PRIORITY_STOP {
            // "If the Priority in the ADVERTISEMENT is zero, then: Set the
            // Master_Down_Timer to Skew_Time."
            tracing::debug!(instance = %self.cfg.name, src = %adv.src, "backup received priority 0");
            self.wants_master = false;
            self.timers
                .set(Timer::MasterDown, now + self.span(Span::Skew));
            self.next_master_reason = Reason::PriorityZeroReceived;
            return;
        }
        let delaying =
            !self.cfg.preempt_delay.is_zero() && self.preempt_at.is_none_or(|at| at > now);
        if !self.cfg.preempt || adv.priority >= self.effective_priority || delaying {
            // "If Preempt_Mode is False, or if the Priority in the
            // ADVERTISEMENT is greater than or equal to the local Priority":
            // learn Master_Adver_Interval (v3), reset the down timer.
            if self.cfg.version == Version::V3 {
                self.master_adver_int_cs = duration_to_cs(adv.max_adver_int);
            }
            self.wants_master = false;
            self.timers
                .set(Timer::MasterDown, now + self.span(Span::MasterDown));
            self.master_addr = Some(adv.src);
            self.next_master_reason = Reason::MasterDownTimer;
            if !self.cfg.preempt_delay.is_zero() {
                // keepalived: equal or higher priority stops the preempt
                // delay; the first lower one starts it.
                if adv.priority >= self.effective_priority {
                    self.preempt_at = None;
                } else if self.preempt_at.is_none() {
                    tracing::info!(instance = %self.cfg.name, "lower priority {} master: preempt delay started", adv.priority);
                    self.preempt_at = Some(now + self.cfg.preempt_delay);
                }
            }
        } else {
            // "Else ... Discard the ADVERTISEMENT": the down timer keeps
            // running and we preempt when it fires.
            tracing::info!(instance = %self.cfg.name, src = %adv.src,
                "received lower priority ({}) advert, discarding", adv.priority);
            self.stats.lower_priority_discarded += 1;
            self.master_addr = Some(adv.src);
            self.next_master_reason = Reason::PreemptLowerPriority {
                priority: adv.priority,
            };
        }
    }

    /// RFC 5798 §6.4.3, "If an ADVERTISEMENT is received".
    fn master_rx(&mut self, now: Instant, adv: &ReceivedAdvert) {
        if adv.priority == PRIORITY_STOP {
            // "If the Priority in the ADVERTISEMENT is zero, then: Send an
            // ADVERTISEMENT; Reset the Adver_Timer".
            self.send_advert(self.effective_priority);
            self.timers
                .set(Timer::Advert, now + self.span(Span::AdvertInterval));
            return;
        }
        let ours = self.effective_priority;
        if adv.priority == ours {
            if adv.src == self.cfg.primary_addr {
                tracing::warn!(instance = %self.cfg.name, "equal priority advert from our own address");
                return;
            }
            if ours == PRIORITY_OWNER {
                tracing::warn!(instance = %self.cfg.name, src = %adv.src,
                    "CONFIGURATION ERROR: another address owner; reducing local priority to 254");
                self.effective_priority = PRIORITY_OWNER - 1;
            }
        }
        let ours = self.effective_priority;
        let wins = adv.priority > ours || (adv.priority == ours && adv.src > self.cfg.primary_addr);
        if wins {
            // "If the Priority in the ADVERTISEMENT is greater than the
            // local Priority, or ... equal ... and the primary IPvX Address
            // of the sender is greater": Set Master_Adver_Interval (v3),
            // Master_Down_Timer, transition to Backup.
            if self.cfg.version == Version::V3 {
                self.master_adver_int_cs = duration_to_cs(adv.max_adver_int);
            }
            self.master_addr = Some(adv.src);
            let reason = if adv.priority > ours {
                Reason::HigherPriorityAdvert {
                    priority: adv.priority,
                    src: adv.src,
                }
            } else {
                Reason::TieBreakLost { src: adv.src }
            };
            self.change_state(now, State::Backup, reason);
        } else {
            // RFC: discard. keepalived: answer at once so the lower
            // priority router, which believes it is master, sees us and
            // yields ("forcing new election").
            tracing::info!(instance = %self.cfg.name, src = %adv.src,
                "received lower priority ({}) advert, ours {}, answering", adv.priority, ours);
            self.stats.lower_priority_answered += 1;
            self.send_advert(ours);
            // The lower priority router was master too (a split brain that
            // is healing, or a backup whose timer fired): clients may have
            // followed its gratuitous ARP / NA. Re-announce so they come
            // back, at most once per Master_Down_Interval; keepalived only
            // does this with garp_lower_prio_repeat set, and its users keep
            // finding clients stuck on the loser.
            let due = self
                .last_reannounce
                .is_none_or(|t| now.duration_since(t) >= self.span(Span::MasterDown));
            if due {
                self.last_reannounce = Some(now);
                self.push_announce(AnnounceCause::LowerPriority { first: true });
                self.reannounce_lower = true;
                // The loser may send its own gratuitous ARP after ours: it
                // became master at nearly the same moment and announces
                // when its addresses are up, before it hears us. Announce
                // once more when it has surely given up.
                self.timers.set(Timer::Reannounce, now + self.follow_up());
            }
        }
    }

    /// A shutting-down master listens only for its successor.
    fn releasing_rx(&mut self, now: Instant, adv: &ReceivedAdvert) {
        if self.release == Release::Waiting
            && adv.priority != PRIORITY_STOP
            && adv.src != self.cfg.primary_addr
        {
            tracing::info!(instance = %self.cfg.name, src = %adv.src,
                "shutdown: new master (priority {}) heard, releasing addresses in {:?}", adv.priority, self.cfg.release_hold);
            self.release = Release::Holding;
            self.timers.stop(Timer::Advert);
            let hold = now + self.cfg.release_hold;
            let at = self
                .timers
                .get(Timer::Release)
                .map_or(hold, |b| b.min(hold));
            self.timers.set(Timer::Release, at);
        }
    }

    /// `due`: when the timer was set to fire. The next advert is due one
    /// interval after that, not after `now`: a runtime serving a thousand
    /// instances reaches some of them late, and re-arming from the moment
    /// it got there would add that delay to every interval (drift) and
    /// vary it from one interval to the next (jitter). A master more than
    /// an interval behind starts again from `now`, without a catch-up
    /// burst.
    fn advert_timer(&mut self, now: Instant, due: Instant) {
        if self.state != State::Master {
            return;
        }
        match self.release {
            // RFC 5798 §6.4.3: "If the Adver_Timer fires, then: Send an
            // ADVERTISEMENT; Reset the Adver_Timer".
            Release::No => self.send_advert(self.effective_priority),
            // Repeat the release in case it was lost.
            Release::Waiting => self.send_advert(PRIORITY_STOP),
            Release::Holding => return,
        }
        let interval = self.span(Span::AdvertInterval);
        let next = if due + interval > now {
            due + interval
        } else {
            now + interval
        };
        self.timers.set(Timer::Advert, next);
    }

    fn finish_release(&mut self, now: Instant) {
        self.change_state(now, State::Initialize, Reason::Shutdown);
        self.stop();
    }

    fn stop(&mut self) {
        self.timers.stop_all();
        self.stopped = true;
        self.push(Action::Stopped);
        tracing::info!(instance = %self.cfg.name, vrid = self.cfg.vrid, "stopped");
    }

    // ----- the one state-change function -----

    /// Every state change goes through here: exit actions of the old
    /// state, entry actions of the new one, the log line, the counter and
    /// the `StateChanged` action.
    fn change_state(&mut self, now: Instant, to: State, reason: Reason) {
        let from = self.state;
        // Exit actions.
        if from == State::Master && to != State::Master {
            self.stats.released_master += 1;
            // RFC 5798 §6.4.3 "Shutdown" and keepalived `down_instance`:
            // a master that stops or fails tells the backups. A master
            // yielding to a better one does not (it has nothing to tell),
            // nor one that already sent it while releasing.
            if matches!(to, State::Fault | State::Initialize) && self.release == Release::No {
                self.send_advert(PRIORITY_STOP);
            }
            self.push(Action::RemoveVips);
            self.release = Release::No;
        }
        self.timers.stop_all();
        self.wants_master = false;
        self.state = to;
        // Entry actions.
        match to {
            State::Master => {
                // RFC 5798 §6.4.1/§6.4.2 "transition to {Master}": send an
                // ADVERTISEMENT, (broadcast gratuitous ARP), set the
                // Adver_Timer. The advert goes before the addresses so the
                // old master releases first (keepalived).
                self.master_adver_int_cs = self.adver_int_cs;
                self.master_addr = None;
                self.stats.became_master += 1;
                self.send_advert(self.effective_priority);
                self.push(Action::AddVips);
                self.push_announce(AnnounceCause::Master);
                self.reannounce_lower = false;
                self.timers
                    .set(Timer::Advert, now + self.span(Span::AdvertInterval));
                // Two backups whose timers fire within the same fraction of
                // a millisecond both become master; the loser's gratuitous
                // ARP can reach clients after ours, and it then yields and
                // drops the VIP. Announce once more when any such loser has
                // heard us and given up.
                self.timers.set(Timer::Reannounce, now + self.follow_up());
                if let Some(d) = self.cfg.garp_master_delay {
                    self.timers.set(Timer::GarpDelay, now + d);
                }
                if let Some(every) = self.garp_refresh() {
                    self.timers.set(Timer::GarpRefresh, now + every);
                }
            }
            State::Backup => {
                // RFC 5798 §6.4.1 / §6.4.3: Master_Down_Timer =
                // Master_Down_Interval. Leaving FAULT or INITIALIZE starts
                // from our own interval.
                if from != State::Master {
                    self.master_adver_int_cs = self.adver_int_cs;
                }
                self.preempt_at = None;
                self.next_master_reason = Reason::MasterDownTimer;
                self.timers
                    .set(Timer::MasterDown, now + self.span(Span::MasterDown));
            }
            State::Fault | State::Initialize => {
                self.master_addr = None;
                self.master_adver_int_cs = self.adver_int_cs;
            }
        }
        self.stats.transitions += 1;
        tracing::info!(instance = %self.cfg.name, vrid = self.cfg.vrid, %from, %to, %reason,
            "{from} -> {to} ({reason})");
        self.push(Action::StateChanged { from, to, reason });
    }

    // ----- the one timer-arithmetic function -----

    /// Computes a span from the configuration and the current state
    /// (RFC 5798 §6.1, RFC 3768 §6.1), in whole microseconds as keepalived.
    fn span(&self, span: Span) -> Duration {
        let skew_us = |prio: u8| -> u64 {
            let weight = 256 - u64::from(prio);
            match self.cfg.version {
                // RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 s.
                Version::V2 => weight * 1_000_000 / 256,
                // RFC 5798 §6.1: ((256 - Priority) * Master_Adver_Interval)
                // / 256, with the interval in centiseconds = 10_000 µs.
                Version::V3 => weight * u64::from(self.master_adver_int_cs) * 10_000 / 256,
            }
        };
        let mai_us = u64::from(self.master_adver_int_cs) * 10_000;
        let us = match span {
            Span::AdvertInterval => u64::from(self.adver_int_cs) * 10_000,
            Span::Skew => skew_us(self.effective_priority),
            Span::MasterDown => 3 * mai_us + skew_us(self.effective_priority),
            Span::ReleaseBound => {
                let own = u64::from(self.adver_int_cs) * 10_000;
                let lowest_skew = match self.cfg.version {
                    Version::V2 => 255 * 1_000_000 / 256,
                    Version::V3 => 255 * own / 256,
                };
                3 * own + lowest_skew + own
            }
        };
        Duration::from_micros(us)
    }

    // ----- helpers -----

    fn send_advert(&mut self, priority: u8) {
        self.stats.adverts_out += 1;
        if priority == PRIORITY_STOP {
            self.stats.priority_zero_out += 1;
        }
        self.push(Action::SendAdvert { priority });
    }

    /// The refresh period, if any; zero means none (it would fire forever).
    fn garp_refresh(&self) -> Option<Duration> {
        self.cfg.garp_master_refresh.filter(|d| !d.is_zero())
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn push_announce(&mut self, cause: AnnounceCause) {
        self.announce_causes.push_back(cause);
        self.push(Action::Announce);
    }
}

/// The configured interval in centiseconds: whole seconds 1..=255 for v2,
/// 1..=4095 cs for v3, rounded to the nearest unit.
fn interval_cs(version: Version, d: Duration) -> u16 {
    let ms = d.as_millis();
    match version {
        Version::V2 => {
            let secs = ((ms + 500) / 1000).clamp(1, 255);
            // At most 255 * 100.
            (secs * 100) as u16
        }
        Version::V3 => ((ms + 5) / 10).clamp(1, 4095) as u16,
    }
}

/// A received interval in centiseconds, at least 1 (an interval of zero
/// would make the down timer pure skew).
fn duration_to_cs(d: Duration) -> u16 {
    ((d.as_millis() + 5) / 10).clamp(1, 4095) as u16
}

fn cs_to_duration(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}
