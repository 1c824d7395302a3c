//! The tokio shell around the sans-IO instances.
//!
//! # Task and channel topology
//!
//! ```text
//!  VrrpSocket (eth0, v4) --recv task--+
//!  VrrpSocket (eth0, v6) --recv task--+--> mpsc<Inbound> --+
//!  ...                                                      |
//!  Signals (TERM/INT/HUP/USR1/USR2) -----------------------+--> main loop
//!  address/route/rule removals, one batch per burst -------+  (reconcile)
//!  one sleep until the earliest fsm deadline ---------------+      |
//!                                                                  v
//!                         owns every fsm::Instance; drains their actions in
//!                         order and performs them inline: netlink address
//!                         add/remove, advert send, GARP/NA, state log lines
//! ```
//!
//! The main loop is the only owner of instance state, so there are no locks:
//! a receive task only parses nothing and forwards bytes. Performing actions
//! inline keeps their order (add the VIP, then announce it) without a queue.

use crate::fsm::{Action, AnnounceCause, Instance, ReceivedAdvert, State};
use crate::net::addr::Netlink;
use crate::net::announce::Announcer;
use crate::net::socket::VrrpSocket;
use crate::notify::{Notifier, NotifyEvent, NotifyState};
use crate::packet::{self, Family, Packet, RxMeta};
use crate::setup::{InstanceSpec, Plan, Vip, Virtuals};
use crate::track::{ScriptResult, SyncAction, SyncGroup, TrackState, Trackers};
use crate::watch::{TrackInput, WatchSpec, Watchers};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

mod reconcile;
mod wake;

/// IANA multicast groups for VRRP (RFC 5798 §5.1.1.2, §5.1.2.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Largest VRRP payload we accept: header plus 255 IPv6 addresses.
const RECV_BUF: usize = 16 + 255 * 16 + 64;

/// One (interface, family) pair: one raw socket, shared by every instance on
/// it; the driver demultiplexes by VRID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LinkKey {
    ifname: String,
    family: Family,
}

struct Link {
    key: LinkKey,
    ifindex: u32,
    mac: [u8; 6],
    socket: Arc<VrrpSocket>,
    announcer: Announcer,
    /// The source of our adverts when no `unicast_src_ip`/`mcast_src_ip` is
    /// set: the interface's primary IPv4 address, or its IPv6 link-local
    /// address (RFC 5798 §5.1.2.1).
    primary: IpAddr,
    /// Its receive task runs.
    listening: bool,
}

/// A packet handed from a receive task to the main loop.
struct Inbound {
    link: usize,
    received: crate::net::socket::Received,
    payload: Vec<u8>,
}

struct Slot {
    spec: InstanceSpec,
    fsm: Instance,
    /// Where its adverts are received (the configured interface).
    link: usize,
    /// Where its VIPs live and its gratuitous ARPs leave: the VMAC with
    /// `use_vmac`, else `link`.
    vip_link: usize,
    /// Where its adverts leave: the VMAC unless `vmac_xmit_base`.
    tx_link: usize,
    /// A second link its adverts may arrive on: an IPv6 VMAC, which sees
    /// the peers' adverts only while it is up (see [`V6Vmac`]).
    alt_rx: Option<usize>,
    vmac: Option<VmacState>,
    src: IpAddr,
    /// When we last announced (GARP/NA), for logs and tests.
    vips_installed: bool,
    /// keepalived's delayed second burst after a lower priority advert
    /// (`garp_lower_prio_delay`); dropped (aborted) when the VIPs go.
    lower_prio_burst: Option<DelayedBurst>,
    stopped: bool,
    trackers: Trackers,
    /// FAULT imposed by a sync group partner (keepalived: one member's
    /// fault puts the whole group in FAULT).
    group_fault: bool,
    /// The last state changes, newest last, for the status command.
    history: std::collections::VecDeque<Transition>,
    /// The deadline this slot has in [`Runtime::timers`], if any.
    queued: Option<Instant>,
    /// FAULT because a VIP could not be added (why), until it could be
    /// again ([`reconcile`]).
    vip_fault: Option<String>,
    /// A VIP that failed to go on while draining (why), turned into a
    /// VIP FAULT once the drain is done.
    vip_add_failed: Option<String>,
    /// What this instance put back after someone else removed it, and
    /// its VIP FAULT retries.
    reinstate: reconcile::SlotReinstate,
}

/// A VMAC interface an instance uses, and what to undo at exit.
struct VmacState {
    ifindex: u32,
    name: String,
    /// We created it (it did not exist): we delete it.
    created: bool,
    parent: String,
    /// The parent's settings before we changed them.
    parent_old: Vec<(String, String)>,
    v6: Option<V6Vmac>,
}

/// An IPv6 VMAC is up only while its instance is master.
///
/// Every node's VMAC has the same MAC, and an IPv6 interface that is up
/// speaks on its own: MLD reports for the groups it joins (ff02::12 and the
/// solicited-node group of its link-local address) and neighbour adverts
/// for that address. Unlike IGMP for 224.0.0.0/24, MLD has no switch to
/// turn the link-local reports off, and any such frame from a backup moves
/// the switch's entry for the virtual MAC, and the master's clients, to the
/// backup. keepalived keeps backups' VMACs up and has this problem. A
/// backup's VMAC is down instead, so it sends nothing; the backup hears the
/// master on the parent (macvlan hands a frame from the virtual MAC to a
/// VMAC with that MAC only while that VMAC is up, so the master listens on
/// its VMAC).
///
/// The VMAC has no automatic link-local address (`addr_gen_mode` none: it
/// would be the same EUI-64 address on every node, RFC 5798 §7.4); the
/// adverts' source address is added to it when it comes up, as keepalived
/// does, so they leave with the virtual MAC from our own link-local address.
struct V6Vmac {
    /// The adverts' source (the parent's link-local address unless
    /// configured), added to the VMAC while it is up.
    source: Ipv6Addr,
    up: bool,
}

/// One state change as the status command reports it.
#[derive(Debug, Clone)]
struct Transition {
    at: std::time::SystemTime,
    from: State,
    to: State,
    reason: String,
}

/// State changes kept per instance for `status`.
const HISTORY: usize = 16;

/// Packets discarded, by reason (RFC 5798 §7.1 checks and ours).
#[derive(Debug, Default)]
pub struct RejectCounters {
    by_reason: BTreeMap<&'static str, u64>,
    last_logged: HashMap<&'static str, Instant>,
}

impl RejectCounters {
    /// Count a discarded packet and log it, at most once a second per reason
    /// so a misconfigured neighbour cannot flood the log.
    fn reject(&mut self, now: Instant, reason: &'static str, detail: std::fmt::Arguments<'_>) {
        *self.by_reason.entry(reason).or_default() += 1;
        let due = self
            .last_logged
            .get(reason)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(1));
        if due {
            self.last_logged.insert(reason, now);
            warn!(
                reason,
                total = self.by_reason[reason],
                "discarded VRRP packet: {detail}"
            );
        } else {
            debug!(reason, "discarded VRRP packet: {detail}");
        }
    }

    pub fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.by_reason
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("interface {ifname}: {source}")]
    Link {
        ifname: String,
        #[source]
        source: crate::net::NetError,
    },
    #[error("interface {ifname} has no {family:?} address to send adverts from; set unicast_src_ip or mcast_src_ip")]
    NoSource { ifname: String, family: Family },
    #[error("netlink: {0}")]
    Netlink(#[source] crate::net::NetError),
    #[error("timerfd: {0}")]
    Timer(#[source] std::io::Error),
}

/// Reads the configuration again on SIGHUP. `None`: the new file is bad (the
/// loader has logged why) and the running configuration stays.
pub type Reloader = Box<dyn FnMut() -> Option<(Plan, conf::model::Config)> + Send>;

pub struct Runtime {
    netlink: Netlink,
    links: Vec<Link>,
    slots: Vec<Slot>,
    rejects: RejectCounters,
    inbound_tx: mpsc::Sender<Inbound>,
    inbound_rx: mpsc::Receiver<Inbound>,
    recv_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// keepalived's `--dont-release-vrrp`: leave VIPs alone at start and stop.
    dont_release: bool,
    notifier: Notifier,
    sync_groups: Vec<SyncGroup>,
    /// Sync group moves decided while draining one instance, applied to
    /// the others once that instance's actions are done (in order).
    sync_queue: std::collections::VecDeque<(String, SyncAction)>,
    /// What the watcher tasks must observe; taken when they start.
    watch: Option<WatchSpec>,
    watchers: Watchers,
    track_tx: mpsc::Sender<TrackInput>,
    track_rx: mpsc::Receiver<TrackInput>,
    /// `vrrp_script`s refused by script security: they count as failing.
    refused_scripts: Vec<String>,
    /// Health checks of the `virtual_server` blocks, if any.
    checkers: Option<crate::checkers::Checkers>,
    /// `igmp_link_local_mcast_reports` as it was before our first IPv4
    /// VMAC turned it off; put back when the last VMAC goes.
    igmp_llm_reports_old: Option<String>,
    /// Every instance's next deadline, earliest first: (deadline, slot).
    /// An entry is stale once its slot's `queued` differs (a newer entry
    /// was pushed then) and is dropped when it comes up. With 1,000
    /// instances this replaces a scan of every instance per loop turn.
    timers: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, usize)>>,
    /// (link, VRID) -> slot of the running instance, for received adverts.
    by_vrid: HashMap<(usize, u8), usize>,
    /// Address/route/rule removals by others, and the VIP FAULT retry.
    monitor: reconcile::Monitor,
    /// `no_accept`: the nf_tables sets that drop packets for the VIPs of
    /// masters not in accept mode.
    firewall: crate::net::firewall::Firewall,
    /// Wakes the loop at the next deadline.
    wake: wake::WakeTimer,
    /// Origin of the grid masters' timers are served on (see
    /// [`Runtime::next_deadline`]).
    epoch: Instant,
}

impl Runtime {
    pub async fn new(plan: Plan, dont_release: bool) -> Result<Self, RuntimeError> {
        let netlink = Netlink::new().map_err(RuntimeError::Netlink)?;
        let (inbound_tx, inbound_rx) = mpsc::channel(1024);
        let (track_tx, track_rx) = mpsc::channel(256);
        let refused_scripts = log_refused(&plan.refused);
        for u in &plan.unsupported {
            warn!("{u}");
        }
        let firewall = crate::net::firewall::Firewall::start(
            plan.firewall.clone(),
            plan.specs
                .iter()
                .map(|s| (s.name.clone(), s.drops_vip_traffic())),
        );
        let mut rt = Runtime {
            netlink,
            links: Vec::new(),
            slots: Vec::new(),
            rejects: RejectCounters::default(),
            inbound_tx,
            inbound_rx,
            recv_tasks: Vec::new(),
            dont_release,
            notifier: Notifier::spawn(plan.notifier),
            sync_groups: plan.sync_groups,
            sync_queue: Default::default(),
            watch: Some(plan.watch),
            watchers: Watchers::default(),
            track_tx,
            track_rx,
            refused_scripts,
            checkers: None,
            igmp_llm_reports_old: None,
            timers: Default::default(),
            by_vrid: HashMap::new(),
            monitor: Default::default(),
            firewall,
            wake: wake::WakeTimer::new().map_err(RuntimeError::Timer)?,
            epoch: Instant::now(),
        };
        for (spec, trackers) in plan.specs.into_iter().zip(plan.trackers) {
            rt.add_instance(spec, trackers).await?;
        }
        rt.refresh_sync_groups(Instant::now());
        Ok(rt)
    }

    /// Start the health checks of `config`'s virtual servers (none: a no-op).
    pub fn start_checkers(&mut self, config: &conf::model::Config) {
        self.checkers = crate::checkers::Checkers::start(
            config,
            &crate::checkers::Stopped::default(),
            self.track_tx.clone(),
        );
    }

    /// Read the current state of everything tracked, give it to the
    /// trackers (before the instances start, so none starts on a guess),
    /// then start the watcher tasks.
    async fn start_watching(&mut self) {
        let Some(watch) = self.watch.take() else {
            return;
        };
        let now = Instant::now();
        for input in watch.initial(&self.netlink).await {
            self.on_track_input(now, input).await;
        }
        for name in self.refused_scripts.clone() {
            let input = TrackInput::Script {
                name,
                result: ScriptResult::Failure,
            };
            self.on_track_input(now, input).await;
        }
        self.watchers = watch.spawn(&self.netlink, self.track_tx.clone()).await;
    }

    /// One observation: every instance tracking it re-evaluates, and any
    /// change of effective priority or FAULT goes to its state machine.
    async fn on_track_input(&mut self, now: Instant, input: TrackInput) {
        for i in 0..self.slots.len() {
            if self.slots[i].stopped {
                continue;
            }
            let t = &mut self.slots[i].trackers;
            let changed = match &input {
                TrackInput::Script { name, result } => t.script_result(name, *result),
                TrackInput::Link { ifname, up } => t.interface_changed(ifname, *up),
                TrackInput::File { name, value } => t.file_value(name, *value),
                TrackInput::Process { name, count } => t.process_count(name, *count),
                TrackInput::Pool { name, up } => t.pool_quorum(name, *up),
            };
            if let Some(state) = changed {
                self.apply_track_state(i, now, state).await;
            }
        }
    }

    async fn apply_track_state(&mut self, i: usize, now: Instant, state: TrackState) {
        info!(
            instance = %self.slots[i].spec.name,
            effective_priority = state.effective_priority,
            fault = state.fault,
            "trackers: {}",
            state.reason
        );
        let own = state.fault || self.slots[i].vip_fault.is_some();
        let fault = own || self.slots[i].group_fault;
        self.slots[i]
            .fsm
            .set_effective_priority(now, state.effective_priority);
        self.slots[i].fsm.set_fault(now, fault);
        self.drain(i).await;
        // keepalived: a member's own fault puts the whole sync group in
        // FAULT, and the group leaves FAULT when the last member recovers.
        let name = self.slots[i].spec.name.clone();
        let mut actions = Vec::new();
        for g in &mut self.sync_groups {
            if g.contains(&name) {
                actions.extend(g.member_fault(&name, own));
            }
        }
        self.apply_sync_actions(now, actions).await;
    }

    async fn apply_sync_actions(&mut self, now: Instant, actions: Vec<(String, SyncAction)>) {
        self.sync_queue.extend(actions);
        self.run_sync_queue(now).await;
    }

    /// Apply the queued sync group moves; each may queue more (a member
    /// that becomes MASTER pulls its partners along), so loop until none
    /// is left. Every move is a no-op when the member is already there,
    /// which bounds the loop by the number of members.
    async fn run_sync_queue(&mut self, now: Instant) {
        while let Some((member, action)) = self.sync_queue.pop_front() {
            let Some(j) = self
                .slots
                .iter()
                .position(|s| s.spec.name == member && !s.stopped)
            else {
                continue;
            };
            match action {
                SyncAction::Fault | SyncAction::LeaveFault => {
                    let group_fault = action == SyncAction::Fault;
                    self.slots[j].group_fault = group_fault;
                    let fault = group_fault || self.own_fault(j);
                    self.slots[j].fsm.set_fault(now, fault);
                }
                SyncAction::Master => self.slots[j].fsm.sync_master(now),
                SyncAction::Backup => self.slots[j].fsm.sync_backup(now),
            }
            self.drain_one(j).await;
        }
        self.notify_group_changes();
    }

    /// A gated member's down timer fired: it becomes MASTER if its group
    /// lets it (keepalived `vrrp_sync_can_goto_master`); its partners
    /// follow through the group's `on_member_state`.
    fn on_want_master(&mut self, i: usize) {
        let name = self.slots[i].spec.name.clone();
        let Some(g) = self.sync_groups.iter().find(|g| g.contains(&name)) else {
            self.sync_queue.push_back((name, SyncAction::Master));
            return;
        };
        let slots = &self.slots;
        let ready = g.can_goto_master(&name, |other| {
            slots.iter().any(|s| {
                s.spec.name == other
                    && !s.stopped
                    && (s.fsm.state() == State::Master || s.fsm.wants_master())
            })
        });
        if ready {
            info!(instance = %name, group = %g.name(), "sync group ready: taking MASTER");
            self.sync_queue.push_back((name, SyncAction::Master));
        } else {
            info!(instance = %name, group = %g.name(),
                "no master heard, but the sync group partners still have one: staying BACKUP");
        }
    }

    /// After start-up or a reload: gate exactly the instances that are in
    /// a sync group of two or more running members, and tell the groups
    /// their members' current states (no notification: nothing changed).
    fn refresh_sync_groups(&mut self, now: Instant) {
        for g in &mut self.sync_groups {
            for s in self.slots.iter().filter(|s| !s.stopped) {
                if g.contains(&s.spec.name) {
                    g.seed_member(
                        &s.spec.name,
                        s.fsm.state(),
                        s.trackers.fault() || s.vip_fault.is_some(),
                        s.group_fault,
                    );
                }
            }
        }
        // Per group, its running members; a group of one gates nobody.
        let mut gated = vec![false; self.slots.len()];
        for g in &self.sync_groups {
            let members: Vec<usize> = (0..self.slots.len())
                .filter(|&i| !self.slots[i].stopped && g.contains(&self.slots[i].spec.name))
                .collect();
            if members.len() > 1 {
                for i in members {
                    gated[i] = true;
                }
            }
        }
        for (i, gated) in gated.into_iter().enumerate() {
            self.slots[i].fsm.set_sync_gated(now, gated);
        }
    }

    fn notify_group_changes(&mut self) {
        for g in &mut self.sync_groups {
            if let Some(state) = g.take_group_change() {
                if let Some(ns) = NotifyState::from_fsm(state) {
                    info!(group = %g.name(), state = %state, "sync group state");
                    self.notifier.notify(NotifyEvent::group(g.name(), ns));
                }
            }
        }
    }

    /// The link for (`ifname`, `family`), opened on first use. `listen`:
    /// also start its receive task, if it has none yet (a link opened only
    /// to send, for `vmac_xmit_base`, may later be wanted for receiving by
    /// another instance on the same interface).
    async fn link_for(
        &mut self,
        ifname: &str,
        family: Family,
        listen: bool,
    ) -> Result<usize, RuntimeError> {
        let key = LinkKey {
            ifname: ifname.to_owned(),
            family,
        };
        if let Some(i) = self.links.iter().position(|l| l.key == key) {
            if listen && !self.links[i].listening {
                self.listen(i);
            }
            return Ok(i);
        }
        let wrap = |source| RuntimeError::Link {
            ifname: ifname.to_owned(),
            source,
        };
        let ifindex = self.netlink.link_index(ifname).await.map_err(wrap)?;
        let mac = self.netlink.link_mac(ifindex).await.map_err(wrap)?;
        let primary = self
            .netlink
            .primary_address(ifindex, family)
            .await
            .map_err(wrap)?;
        let socket = Arc::new(VrrpSocket::open(ifname, family).map_err(wrap)?);
        let announcer = Announcer::open(ifname).map_err(wrap)?;
        let index = self.links.len();
        let primary = match primary {
            Some(p) => p,
            None => {
                // Without an address we cannot send until unicast_src_ip is
                // used; the caller checks that per instance.
                match family {
                    Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                }
            }
        };
        info!(interface = ifname, ?family, ifindex, %primary, listen, "VRRP socket open");
        self.links.push(Link {
            key,
            ifindex,
            mac,
            socket,
            announcer,
            primary,
            listening: false,
        });
        if listen {
            self.listen(index);
        }
        Ok(index)
    }

    /// Start the receive task of link `index`: at each wake-up it reads
    /// everything queued, and the main loop takes the batch in one turn.
    ///
    /// Measured at 1,000 instances, 0.1 s: reading on a 1 ms grid instead
    /// (about ten adverts per wake-up) raised the backup's CPU by half (the
    /// grid's own timer wake-ups), and it would have restarted down timers
    /// up to a step late, enough to reorder backups a few priority points
    /// apart. Reads follow the socket.
    fn listen(&mut self, index: usize) {
        self.links[index].listening = true;
        let tx = self.inbound_tx.clone();
        let sock = self.links[index].socket.clone();
        self.recv_tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; RECV_BUF];
            loop {
                loop {
                    match sock.try_recv(&mut buf) {
                        Ok(Some(received)) => {
                            let payload = buf[..received.len].to_vec();
                            let msg = Inbound {
                                link: index,
                                received,
                                payload,
                            };
                            if tx.send(msg).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        // One bad datagram: drop it and read the next.
                        Err(e @ crate::net::NetError::Malformed(_)) => {
                            debug!("receive on link {index}: {e}");
                        }
                        // A socket error that persists (interface gone) must
                        // not spin the CPU; the interface may come back.
                        Err(e) => {
                            warn!("receive on link {index}: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            break;
                        }
                    }
                }
                if let Err(e) = sock.readable().await {
                    warn!("receive on link {index}: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }

    /// Create (or reuse) the VMAC of an instance and set keepalived's
    /// interface settings on it and its parent.
    /// Returns the VMAC's link, what to undo at exit, and the parent's
    /// primary address (the source of the adverts, as keepalived sends them).
    async fn open_vmac(
        &mut self,
        parent: &str,
        family: Family,
        v: &crate::setup::VmacSpec,
    ) -> Result<(usize, VmacState, IpAddr), RuntimeError> {
        let wrap = |source| RuntimeError::Link {
            ifname: v.name.clone(),
            source,
        };
        let wrap_parent = |source| RuntimeError::Link {
            ifname: parent.to_owned(),
            source,
        };
        let parent_ix = self.netlink.link_index(parent).await.map_err(wrap_parent)?;
        let parent_primary = self
            .netlink
            .primary_address(parent_ix, family)
            .await
            .map_err(wrap_parent)?
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let (ifindex, created) = self
            .netlink
            .add_vmac(parent_ix, &v.name, v.mac)
            .await
            .map_err(wrap)?;
        let io = |source: std::io::Error| RuntimeError::Link {
            ifname: v.name.clone(),
            source: crate::net::NetError::Io {
                op: "interface settings",
                ifname: v.name.clone(),
                source,
            },
        };
        if family == Family::V6 {
            // Set while the VMAC is down: nothing of IPv6's own
            // autoconfiguration may leave it with the virtual MAC.
            for (key, value) in crate::net::sysctl::VMAC_V6 {
                crate::net::sysctl::set_ipv6(&v.name, key, value).map_err(io)?;
            }
        } else {
            crate::net::sysctl::apply(&v.name, crate::net::sysctl::VMAC).map_err(io)?;
        }
        if family == Family::V4 {
            // An IPv4 VMAC must never send IPv6 (link-local DAD, MLD
            // reports, router solicitations): those frames carry the
            // virtual MAC, so a backup's VMAC would steer the switch, and
            // the master's clients, to itself until the next advert.
            match crate::net::sysctl::set_ipv6(&v.name, "disable_ipv6", "1") {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        if family == Family::V4 && self.igmp_llm_reports_old.is_none() {
            // Receiving the adverts on the VMAC joins 224.0.0.18 there, and
            // the IGMP reports that follows carry the virtual MAC: a backup
            // would steer the switch, and the master's clients, to itself
            // until the master's next frame. Reports for 224.0.0.0/24 are
            // never needed (switches flood those groups, RFC 4541 §2.1.2).
            match crate::net::sysctl::igmp_link_local_reports() {
                Ok(old) if old != "0" => {
                    crate::net::sysctl::set_igmp_link_local_reports("0").map_err(io)?;
                    info!(vmac = %v.name, "net.ipv4.igmp_link_local_mcast_reports set to 0 while VMACs are in use (restored at exit)");
                    self.igmp_llm_reports_old = Some(old);
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(vmac = %v.name, "net.ipv4.igmp_link_local_mcast_reports: {e}; a backup's VMAC may announce the virtual MAC")
                }
            }
        }
        let v6 = if family == Family::V6 {
            // Down until master (see V6Vmac); one we did not create may be
            // up from an earlier run.
            self.netlink.set_link_down(ifindex).await.map_err(wrap)?;
            Some(V6Vmac {
                source: Ipv6Addr::UNSPECIFIED,
                up: false,
            })
        } else {
            if created {
                self.netlink.set_link_up(ifindex).await.map_err(wrap)?;
            }
            None
        };
        // ARP settings on the parent are an IPv4 matter (keepalived sets
        // them for IPv4 instances only).
        let parent_old = if family == Family::V4 {
            crate::net::sysctl::apply(parent, crate::net::sysctl::VMAC_PARENT).map_err(io)?
        } else {
            Vec::new()
        };
        if family == Family::V4
            && crate::net::sysctl::get("all", "rp_filter").is_ok_and(|v| v != "0")
        {
            warn!(vmac = %v.name, "net.ipv4.conf.all.rp_filter is not 0: traffic to the VIPs on the VMAC may be dropped");
        }
        info!(vmac = %v.name, ifindex, created, parent, "VMAC ready");
        let vl = self.link_for(&v.name, family, true).await?;
        Ok((
            vl,
            VmacState {
                ifindex,
                name: v.name.clone(),
                created,
                parent: parent.to_owned(),
                parent_old,
                v6,
            },
            parent_primary,
        ))
    }

    /// A stopping master keeps its VIPs until its successor speaks, but its
    /// VMAC must no longer answer ARP: the successor's gratuitous ARP
    /// requests for the VIPs come right after its first advert, and a reply
    /// from our VMAC (the same MAC) would steer the switch back to us just
    /// as we leave. IP traffic to the VIPs is still answered; nobody needs
    /// our ARP, every client already has the virtual MAC.
    fn quiet_vmac(&self, i: usize) {
        let Some(v) = &self.slots[i].vmac else {
            return;
        };
        // arp_ignore 8: do not reply for any local address.
        if let Err(e) = crate::net::sysctl::set(&v.name, "arp_ignore", "8") {
            warn!(vmac = %v.name, "arp_ignore 8 before the hand-over: {e}");
        }
    }

    /// Bring an IPv6 VMAC up as its instance becomes master, with the
    /// adverts' source address on it (see [`V6Vmac`]). A failure is logged:
    /// the adverts then fail to leave, and the peers take over.
    async fn vmac_v6_up(&mut self, i: usize) {
        let Some(v) = self.slots[i].vmac.as_ref() else {
            return;
        };
        let Some(v6) = v.v6.as_ref().filter(|v6| !v6.up) else {
            return;
        };
        let (ifindex, source, name) = (v.ifindex, v6.source, v.name.clone());
        if let Err(e) = self.netlink.set_link_up(ifindex).await {
            warn!(vmac = %name, "bringing the IPv6 VMAC up: {e}");
            return;
        }
        // The kernel drops a link-local address when the link goes down, so
        // it is added at every up; NODAD: our own address, on another of
        // our interfaces, is no duplicate.
        if let Err(e) = self
            .netlink
            .add_address(ifindex, IpAddr::V6(source), 64, None)
            .await
        {
            warn!(vmac = %name, %source, "adding the advert source to the IPv6 VMAC: {e}");
        }
        if let Some(v6) = self.slots[i].vmac.as_mut().and_then(|v| v.v6.as_mut()) {
            v6.up = true;
        }
        info!(vmac = %name, %source, "IPv6 VMAC up");
    }

    /// Take an IPv6 VMAC down as its instance stops being master.
    async fn vmac_v6_down(&mut self, i: usize) {
        let Some(v) = self.slots[i].vmac.as_ref() else {
            return;
        };
        if !v.v6.as_ref().is_some_and(|v6| v6.up) {
            return;
        }
        let (ifindex, name) = (v.ifindex, v.name.clone());
        match self.netlink.set_link_down(ifindex).await {
            Ok(()) => info!(vmac = %name, "IPv6 VMAC down"),
            Err(e) => warn!(vmac = %name, "taking the IPv6 VMAC down: {e}"),
        }
        if let Some(v6) = self.slots[i].vmac.as_mut().and_then(|v| v.v6.as_mut()) {
            v6.up = false;
        }
    }

    /// Undo [`Runtime::open_vmac`]: delete a VMAC we created, and put the
    /// parent's settings back when no other instance uses a VMAC on it.
    async fn close_vmac(&mut self, i: usize) {
        let Some(v) = self.slots[i].vmac.take() else {
            return;
        };
        if v.created {
            match self.netlink.del_link(v.ifindex).await {
                Ok(_) => info!(vmac = %v.name, "VMAC removed"),
                Err(e) => warn!(vmac = %v.name, "removing VMAC: {e}"),
            }
        }
        let parent_in_use = self
            .slots
            .iter()
            .any(|s| !s.stopped && s.vmac.as_ref().is_some_and(|o| o.parent == v.parent));
        let any_vmac = self.slots.iter().any(|s| !s.stopped && s.vmac.is_some());
        if !any_vmac {
            if let Some(old) = self.igmp_llm_reports_old.take() {
                match crate::net::sysctl::set_igmp_link_local_reports(&old) {
                    Ok(()) => info!("net.ipv4.igmp_link_local_mcast_reports restored to {old}"),
                    Err(e) => warn!("restoring net.ipv4.igmp_link_local_mcast_reports: {e}"),
                }
            }
        }
        if !parent_in_use {
            for (key, value) in &v.parent_old {
                if let Err(e) = crate::net::sysctl::set(&v.parent, key, value) {
                    warn!(interface = %v.parent, key, "restoring setting: {e}");
                }
            }
        }
    }

    async fn add_instance(
        &mut self,
        spec: InstanceSpec,
        trackers: Trackers,
    ) -> Result<(), RuntimeError> {
        // With a VMAC everything happens on the VMAC, receiving included:
        // a peer's advert carries the same virtual MAC as our own VMAC, and
        // the kernel hands such a frame to our VMAC only, never to the
        // parent (macvlan treats it as looped back).
        let (link, vip_link, tx_link, mut vmac, primary) = match spec.vmac.clone() {
            None => {
                let l = self.link_for(&spec.interface, spec.family, true).await?;
                (l, l, l, None, self.links[l].primary)
            }
            Some(v) => {
                let (vl, state, parent_primary) =
                    self.open_vmac(&spec.interface, spec.family, &v).await?;
                let tx = if v.xmit_base {
                    self.link_for(&spec.interface, spec.family, false).await?
                } else {
                    vl
                };
                (vl, vl, tx, Some(state), parent_primary)
            }
        };
        // An IPv6 backup's VMAC is down: it hears the master on the parent
        // (see V6Vmac).
        let alt_rx = match &vmac {
            Some(v) if v.v6.is_some() => {
                Some(self.link_for(&spec.interface, spec.family, true).await?)
            }
            _ => None,
        };
        let src = match spec.source {
            Some(s) => s,
            None => primary,
        };
        if src.is_unspecified() {
            return Err(RuntimeError::NoSource {
                ifname: spec.interface.clone(),
                family: spec.family,
            });
        }
        if let (Some(V6Vmac { source, .. }), IpAddr::V6(s)) =
            (vmac.as_mut().and_then(|v| v.v6.as_mut()), src)
        {
            *source = s;
        }
        let mut fsm_cfg = spec.fsm.clone();
        fsm_cfg.primary_addr = src;
        // A predecessor killed with SIGKILL leaves its VIPs behind; holding
        // them as a backup would answer for an address another node owns.
        // keepalived does the same at start-up ("removing VIPs"), also for
        // priority 255: its VIPs are added when it becomes master.
        if !self.dont_release {
            // Routes and rules too: they carry our routing protocol number,
            // so only ours match (see net::route).
            self.remove_vips(vip_link, &spec.virtuals(), &spec.name, "start-up cleanup")
                .await;
        }
        self.slots.push(Slot {
            fsm: Instance::new(fsm_cfg),
            spec,
            link,
            vip_link,
            tx_link,
            alt_rx,
            vmac,
            src,
            vips_installed: false,
            lower_prio_burst: None,
            stopped: false,
            trackers,
            group_fault: false,
            history: std::collections::VecDeque::new(),
            queued: None,
            vip_fault: None,
            vip_add_failed: None,
            reinstate: Default::default(),
        });
        let i = self.slots.len() - 1;
        self.index_vrid(i);
        Ok(())
    }

    /// Run until SIGTERM/SIGINT and the hand-over are done.
    pub async fn run(
        mut self,
        mut signals: daemon::signals::Signals,
        mut reloader: Reloader,
        mut control: mpsc::Receiver<daemon::control::Command>,
    ) -> anyhow::Result<()> {
        self.start_watching().await;
        self.start_monitor();
        let now = Instant::now();
        for i in 0..self.slots.len() {
            self.slots[i].fsm.handle_startup(now);
            self.drain(i).await;
        }
        daemon::notify::ready(&format!("{} VRRP instances", self.slots.len()));
        let mut stopping = false;
        // The watchdog is pinged from the main loop itself: if the loop
        // stalls, systemd notices and restarts us.
        let mut watchdog = daemon::notify::watchdog_interval().map(tokio::time::interval);
        loop {
            if stopping && self.slots.iter().all(|s| s.stopped) {
                break;
            }
            let next = self.next_deadline();
            let deadline = next.map(|(d, _)| d);
            let vip_retry = self.monitor.retry_at;
            let armed = match deadline.map(|d| self.wake.arm(d)) {
                Some(Ok(())) => true,
                // Cannot happen with a valid time; the coarse timer below
                // still serves the deadline (up to a millisecond late).
                Some(Err(e)) => {
                    error!("arming the timerfd: {e}");
                    false
                }
                None => false,
            };
            let wake = &mut self.wake;
            let sleep = async {
                match next {
                    Some(_) if armed => {
                        if let Err(e) = wake.fired().await {
                            error!("waiting for the timerfd: {e}");
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    Some((d, _)) => {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await
                    }
                    None => std::future::pending().await,
                }
                // A backup's timeout may race an advert that arrived in the
                // same instant: give the receive tasks one turn (tokio's
                // yield lets the reactor run first). The loop polls the
                // packet channel before this timer, so such an advert is
                // handled first and may cancel the timeout. A master's
                // timers, most wake-ups, need no such turn.
                if next.is_some_and(|(_, master)| !master) {
                    tokio::task::yield_now().await;
                }
            };
            tokio::select! {
                biased;
                req = signals.next() => match req {
                    daemon::signals::Request::Stop => {
                        if !stopping {
                            info!("stop requested: handing over");
                            daemon::notify::stopping();
                            stopping = true;
                            let now = Instant::now();
                            for i in 0..self.slots.len() {
                                self.quiet_vmac(i);
                                self.slots[i].fsm.handle_shutdown(now);
                                self.drain(i).await;
                            }
                        } else {
                            info!("second stop request: releasing now");
                            break;
                        }
                    }
                    daemon::signals::Request::Reload if !stopping => {
                        daemon::notify::reloading();
                        match reloader() {
                            Some((plan, config)) => {
                                self.reload(plan).await;
                                // Checks that exist in both configurations
                                // keep their state: no server flaps.
                                let last = match self.checkers.take() {
                                    Some(c) => c.stop().await,
                                    None => Default::default(),
                                };
                                self.checkers = crate::checkers::Checkers::start(
                                    &config,
                                    &last,
                                    self.track_tx.clone(),
                                );
                                // A load balancer no longer configured keeps
                                // nothing of ours.
                                if self.checkers.is_none() {
                                    last.remove_ipvs().await;
                                }
                            }
                            None => warn!("reload: new configuration rejected; running configuration kept"),
                        }
                        daemon::notify::ready(&format!("{} VRRP instances", self.slots.len()));
                    }
                    daemon::signals::Request::Reload => {
                        info!("reload ignored: stopping");
                    }
                    daemon::signals::Request::DumpState | daemon::signals::Request::DumpStats => {
                        self.log_status();
                    }
                },
                _ = async {
                    match watchdog.as_mut() {
                        Some(w) => w.tick().await,
                        None => std::future::pending().await,
                    }
                } => daemon::notify::watchdog(),
                Some(input) = self.track_rx.recv() => {
                    self.on_track_input(Instant::now(), input).await;
                }
                Some(cmd) = control.recv() => {
                    let answer = self.control(&cmd.line);
                    let _ = cmd.reply.send(answer);
                }
                Some(inb) = self.inbound_rx.recv() => {
                    // The receive tasks hand over a batch at a time (see
                    // `listen`): all of it in this turn, not one loop
                    // iteration (and one re-arm of every branch) each.
                    self.on_packet(inb).await;
                    while let Ok(inb) = self.inbound_rx.try_recv() {
                        self.on_packet(inb).await;
                    }
                }
                // Someone else removed addresses, routes or rules. Not while
                // stopping: the hand-over removes ours on purpose.
                Some(batch) = self.monitor.rx.recv(), if !stopping => {
                    self.on_removals(batch).await;
                }
                () = async {
                    match vip_retry {
                        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                        None => std::future::pending().await,
                    }
                }, if !stopping => self.retry_vip_faults().await,
                () = sleep => {
                    // In deadline order, each with the time it is served at:
                    // sending 1,000 adverts takes tens of ms, and timers
                    // re-armed from one shared `now` would merge every
                    // instance into one burst (late by its position in it).
                    loop {
                        let now = Instant::now();
                        let Some((i, at)) = self.pop_due(now) else { break };
                        self.slots[i].fsm.handle_timeout(at);
                        self.drain(i).await;
                    }
                }
            }
        }
        self.release_all().await;
        self.firewall.shutdown();
        for t in &self.recv_tasks {
            t.abort();
        }
        self.watchers = Watchers::default();
        if let Some(c) = self.checkers.take() {
            // keepalived removes the IPVS services it created on exit.
            c.stop().await.remove_ipvs().await;
        }
        // Let the last notifications (STOP) run before the process exits.
        let notifier = std::mem::replace(&mut self.notifier, Notifier::spawn(Default::default()));
        notifier.shutdown().await;
        Ok(())
    }

    /// Apply a new configuration: instances whose configuration did not
    /// change keep running untouched (a master stays master, its VIPs are not
    /// touched); removed ones give up at once (priority 0, VIPs removed);
    /// changed ones keeping their identity are updated in place
    /// ([`Runtime::update_in_place`]); the others are replaced by a fresh
    /// instance.
    async fn reload(&mut self, plan: Plan) {
        let now = Instant::now();
        let Plan {
            specs,
            trackers,
            watch,
            notifier,
            sync_groups,
            refused,
            unsupported,
            firewall,
        } = plan;
        for u in &unsupported {
            warn!("{u}");
        }
        let (mut kept, mut updated, mut retired, mut added) = (0, 0, 0, 0);
        let mut trackers: Vec<Option<Trackers>> = trackers.into_iter().map(Some).collect();
        for i in 0..self.slots.len() {
            if self.slots[i].stopped {
                continue;
            }
            let cur = &self.slots[i].spec;
            match specs.iter().position(|n| n.name == cur.name) {
                Some(k) if specs[k] == *cur => kept += 1,
                Some(k) if same_identity(&specs[k], cur) => {
                    let t = trackers[k].take();
                    self.update_in_place(i, now, specs[k].clone(), t).await;
                    updated += 1;
                }
                _ => {
                    self.retire(i, now).await;
                    retired += 1;
                }
            }
        }
        self.slots.retain(|s| !s.stopped);
        self.reindex();
        // Accept mode: masters that now drop traffic for their VIPs hold
        // them (those that now accept gave them back in `reconfigure`).
        let now_dropping = self.firewall.reconfigure(
            firewall,
            specs
                .iter()
                .map(|s| (s.name.clone(), s.drops_vip_traffic())),
        );
        for name in now_dropping {
            if let Some(i) = self
                .slots
                .iter()
                .position(|s| s.spec.name == name && s.vips_installed)
            {
                let (link, vips, name) = self.slot_vips(i);
                let placed = self.place_vips(link, &vips, &name).await;
                self.firewall.hold(
                    &name,
                    placed
                        .iter()
                        .map(|(v, ix)| crate::net::firewall::elem_of(v.addr, *ix)),
                );
            }
        }
        // New notify settings apply from now on; the old notifier finishes
        // what it has queued on its own.
        let old = std::mem::replace(&mut self.notifier, Notifier::spawn(notifier));
        tokio::spawn(old.shutdown());
        self.sync_groups = sync_groups;
        self.refused_scripts = log_refused(&refused);
        let mut fresh = Vec::new();
        for (spec, t) in specs.into_iter().zip(trackers) {
            let Some(t) = t else { continue };
            if self.slots.iter().any(|s| s.spec.name == spec.name) {
                continue;
            }
            let name = spec.name.clone();
            match self.add_instance(spec, t).await {
                Ok(()) => fresh.push(self.slots.len() - 1),
                Err(e) => error!(instance = %name, "reload: cannot start: {e}"),
            }
        }
        // Watchers restart with the new configuration; kept instances keep
        // their tracker states, new ones get the current readings first.
        self.watchers = Watchers::default();
        self.watch = Some(watch);
        self.start_watching().await;
        self.refresh_sync_groups(Instant::now());
        for i in fresh {
            self.slots[i].fsm.handle_startup(Instant::now());
            self.drain(i).await;
            added += 1;
        }
        // Sync group gating may have moved kept instances; and every
        // deadline is queued again for the new slot indexes.
        for i in 0..self.slots.len() {
            self.drain(i).await;
        }
        self.reindex();
        info!(kept, updated, retired, added, "configuration reloaded");
    }

    /// A changed instance that keeps its identity (link, family, version,
    /// VRID, VMAC, source) is updated without leaving its state: a master
    /// keeps the VIPs that stay, gains the new ones (announced) and loses
    /// only the removed ones. No VIP that did not change is touched.
    async fn update_in_place(
        &mut self,
        i: usize,
        now: Instant,
        spec: InstanceSpec,
        trackers: Option<Trackers>,
    ) {
        // Only the difference is applied: VIPs, routes and rules that stay
        // are not touched (no flap, no log line).
        let old = self.slots[i].spec.virtuals();
        let gone = old.minus(&spec.virtuals());
        let new = spec.virtuals().minus(&old);
        let name = spec.name.clone();
        let link = self.slots[i].vip_link;
        let tracking_changed = spec.track_fingerprint != self.slots[i].spec.track_fingerprint;
        let mut cfg = spec.fsm.clone();
        cfg.primary_addr = self.slots[i].src;
        self.slots[i].spec = spec;
        if !gone.vips.is_empty() {
            // A pending lower-priority burst would announce a VIP we drop.
            self.slots[i].lower_prio_burst = None;
        }
        if self.slots[i].vips_installed {
            self.remove_vips(link, &gone, &name, "removed by reload")
                .await;
            let failed = self.add_vips(link, &new, &name).await;
            if !failed.is_empty() {
                self.slots[i].vip_add_failed = Some(failed.join("; "));
            }
            if !new.vips.is_empty() {
                self.announce(i).await;
            }
        }
        self.slots[i].fsm.reconfigure(now, cfg);
        // What it tracks changed: fresh trackers (their first readings come
        // from the watchers, restarted below). Otherwise the trackers keep
        // their state and only the base priority moves.
        let base = self.slots[i].spec.fsm.priority;
        let state = match (tracking_changed, trackers) {
            (true, Some(t)) => {
                self.slots[i].trackers = t;
                Some(self.slots[i].trackers.state().clone())
            }
            _ => self.slots[i].trackers.set_base_priority(base),
        };
        if let Some(state) = state {
            if !self.slots[i].trackers.is_pending() {
                self.apply_track_state(i, now, state).await;
            }
        }
        self.drain(i).await;
    }

    /// Stop an instance now, without the make-before-break wait: its
    /// replacement may use the same VRID on the same link.
    async fn retire(&mut self, i: usize, now: Instant) {
        if self.slots[i].fsm.state() == State::Master {
            self.send_advert(i, 0).await;
        }
        if self.slots[i].vips_installed && !self.dont_release {
            let (link, vips, name) = self.slot_vips(i);
            self.remove_vips(link, &vips, &name, "removed by reload")
                .await;
        }
        self.slots[i].vips_installed = false;
        self.slots[i].stopped = true;
        if !self.dont_release {
            self.close_vmac(i).await;
        }
        info!(instance = %self.slots[i].spec.name, state = %self.slots[i].fsm.state(), at = ?now, "instance retired by reload");
    }

    /// Whatever is still installed goes: a second SIGTERM, or instances that
    /// never finished their hand-over.
    async fn release_all(&mut self) {
        if self.dont_release {
            return;
        }
        for i in 0..self.slots.len() {
            if self.slots[i].vips_installed {
                let (link, vips, name) = self.slot_vips(i);
                self.remove_vips(link, &vips, &name, "exit").await;
                self.slots[i].vips_installed = false;
            }
        }
        // Nothing left behind: VMACs we created go, parents get their
        // settings back.
        for i in 0..self.slots.len() {
            self.slots[i].stopped = true;
            self.close_vmac(i).await;
        }
    }

    /// Answer a control-socket command.
    fn control(&self, line: &str) -> String {
        match line {
            "status" | "" => self.status().to_string(),
            "metrics" => self.metrics(),
            other => {
                serde_json::json!({ "error": format!("unknown command {other:?}; try status") })
                    .to_string()
            }
        }
    }

    /// The running state as JSON: what `clusterctl status` shows.
    pub fn status(&self) -> serde_json::Value {
        use serde_json::json;
        let instances: Vec<_> = self
            .slots
            .iter()
            .filter(|s| !s.stopped)
            .map(|s| {
                let st = s.fsm.stats();
                let link = &self.links[s.link];
                json!({
                    "name": s.spec.name,
                    "vrid": s.spec.fsm.vrid,
                    "interface": link.key.ifname,
                    "family": match s.spec.family { Family::V4 => "ipv4", Family::V6 => "ipv6" },
                    "version": s.spec.version.number(),
                    "state": s.fsm.state().to_string(),
                    "priority": s.spec.fsm.priority,
                    "effective_priority": s.fsm.effective_priority(),
                    "advert_interval_ms": s.spec.fsm.advert_interval.as_millis() as u64,
                    "master_adver_interval_ms": s.fsm.master_adver_interval().as_millis() as u64,
                    "master": s.fsm.master_addr().map(|a| a.to_string()),
                    "source": s.src.to_string(),
                    "vips": s.spec.vips.iter().map(|v| format!("{}/{}", v.addr, v.prefix)).collect::<Vec<_>>(),
                    "routes": s.spec.routes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "rules": s.spec.rules.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "vips_installed": s.vips_installed,
                    "accept": s.spec.accept,
                    "drops_vip_traffic": s.spec.drops_vip_traffic(),
                    "vips_dropped": self.firewall.held_by(&s.spec.name),
                    "unicast_peers": s.spec.unicast_peers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "trackers": {
                        "effective_priority": s.trackers.effective_priority(),
                        "fault": s.trackers.fault(),
                        "group_fault": s.group_fault,
                        "vip_fault": s.vip_fault,
                        "fault_reasons": s.trackers.fault_reasons(),
                        "last_change": s.trackers.state().reason,
                        "scripts": s.trackers.tracked(crate::track::Kind::Script).collect::<Vec<_>>(),
                        "interfaces": s.trackers.tracked(crate::track::Kind::Interface).collect::<Vec<_>>(),
                        "files": s.trackers.tracked(crate::track::Kind::File).collect::<Vec<_>>(),
                        "processes": s.trackers.tracked(crate::track::Kind::Process).collect::<Vec<_>>(),
                    },
                    "counters": {
                        "transitions": st.transitions,
                        "adverts_in": st.adverts_in,
                        "adverts_out": st.adverts_out,
                        "priority_zero_in": st.priority_zero_in,
                        "priority_zero_out": st.priority_zero_out,
                        "became_master": st.became_master,
                        "released_master": st.released_master,
                        "vips_readded": s.reinstate.readded.vips,
                        "routes_readded": s.reinstate.readded.routes,
                        "rules_readded": s.reinstate.readded.rules,
                    },
                    "transitions": s.history.iter().map(|t| json!({
                        "at_unix_ms": t.at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
                        "from": t.from.to_string(),
                        "to": t.to.to_string(),
                        "reason": t.reason,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "daemon": "vrrpd",
            "pid": std::process::id(),
            "instances": instances,
            "packets_discarded": self.rejects.counts(),
            "removals_by_others": self.monitor.status(),
            "firewall": self.firewall.status(),
            "health_checks": self.checkers.as_ref().map(|c| json!({
                "virtual_servers": c.names,
                "sinks": c.sink_lines,
                "checks": healthcheck::stats::to_json(&c.stats()),
            })),
        })
    }

    /// Prometheus text exposition of the same facts as [`Runtime::status`].
    pub fn metrics(&self) -> String {
        use daemon::metrics::Exposition;
        let mut e = Exposition::default();
        let live: Vec<&Slot> = self.slots.iter().filter(|s| !s.stopped).collect();
        let label = |s: &Slot| {
            (
                s.spec.name.clone(),
                s.spec.fsm.vrid.to_string(),
                self.links[s.link].key.ifname.clone(),
            )
        };
        e.family(
            "vrrp_state",
            "gauge",
            "Instance state: 0 init, 1 backup, 2 master, 3 fault.",
        );
        for s in &live {
            let (n, v, i) = label(s);
            let code = match s.fsm.state() {
                State::Initialize => 0.0,
                State::Backup => 1.0,
                State::Master => 2.0,
                State::Fault => 3.0,
            };
            e.sample(
                "vrrp_state",
                &[("instance", &n), ("vrid", &v), ("interface", &i)],
                code,
            );
        }
        type Counter = fn(&Slot) -> u64;
        let counters: [(&str, &str, Counter); 8] = [
            ("vrrp_transitions_total", "State changes.", |s| {
                s.fsm.stats().transitions
            }),
            (
                "vrrp_adverts_received_total",
                "Valid adverts received.",
                |s| s.fsm.stats().adverts_in,
            ),
            ("vrrp_adverts_sent_total", "Adverts sent.", |s| {
                s.fsm.stats().adverts_out
            }),
            (
                "vrrp_became_master_total",
                "Times this instance became master.",
                |s| s.fsm.stats().became_master,
            ),
            (
                "vrrp_priority_zero_received_total",
                "Priority 0 adverts received.",
                |s| s.fsm.stats().priority_zero_in,
            ),
            (
                "vrrp_vip_readded_total",
                "VIPs a master added again after someone else removed them.",
                |s| s.reinstate.readded.vips,
            ),
            (
                "vrrp_route_readded_total",
                "Virtual routes a master added again after they were removed.",
                |s| s.reinstate.readded.routes,
            ),
            (
                "vrrp_rule_readded_total",
                "Virtual rules a master added again after they were removed.",
                |s| s.reinstate.readded.rules,
            ),
        ];
        for (name, help, get) in counters {
            e.family(name, "counter", help);
            for s in &live {
                let (n, v, i) = label(s);
                e.sample(
                    name,
                    &[("instance", &n), ("vrid", &v), ("interface", &i)],
                    get(s) as f64,
                );
            }
        }
        e.family(
            "vrrp_effective_priority",
            "gauge",
            "Priority after trackers.",
        );
        for s in &live {
            let (n, v, i) = label(s);
            e.sample(
                "vrrp_effective_priority",
                &[("instance", &n), ("vrid", &v), ("interface", &i)],
                f64::from(s.fsm.effective_priority()),
            );
        }
        e.family(
            "vrrp_tracker_fault",
            "gauge",
            "1 while the instance's trackers (or its sync group, or a VIP it cannot add) hold it in FAULT.",
        );
        for s in &live {
            let (n, v, i) = label(s);
            let fault = s.trackers.fault() || s.group_fault || s.vip_fault.is_some();
            e.sample(
                "vrrp_tracker_fault",
                &[("instance", &n), ("vrid", &v), ("interface", &i)],
                if fault { 1.0 } else { 0.0 },
            );
        }
        e.family(
            "vrrp_tracker_reading",
            "gauge",
            "Each tracked item's reading: 1 up / 0 down (quorum for processes and virtual servers), the value of a track_file; absent while a script has no result.",
        );
        for s in &live {
            let (n, v, i) = label(s);
            for (kind, name, reading, _) in s.trackers.readings() {
                if let Some(r) = reading {
                    let k = kind.to_string();
                    e.sample(
                        "vrrp_tracker_reading",
                        &[
                            ("instance", &n),
                            ("vrid", &v),
                            ("interface", &i),
                            ("kind", &k),
                            ("tracker", name),
                        ],
                        r as f64,
                    );
                }
            }
        }
        e.family(
            "vrrp_tracker_fault_cause",
            "gauge",
            "1 while this tracked item alone would hold the instance in FAULT.",
        );
        for s in &live {
            let (n, v, i) = label(s);
            for (kind, name, _, offset) in s.trackers.readings() {
                let k = kind.to_string();
                e.sample(
                    "vrrp_tracker_fault_cause",
                    &[
                        ("instance", &n),
                        ("vrid", &v),
                        ("interface", &i),
                        ("kind", &k),
                        ("tracker", name),
                    ],
                    if offset.is_none() { 1.0 } else { 0.0 },
                );
            }
        }
        e.family(
            "vrrp_packets_discarded_total",
            "counter",
            "Received VRRP packets discarded, by reason (RFC 5798 section 7.1).",
        );
        for (reason, n) in self.rejects.counts() {
            e.sample(
                "vrrp_packets_discarded_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
        let mut out = e.finish();
        if let Some(c) = &self.checkers {
            // healthcheck_* families: per-check counts, failures by reason
            // and latency quantiles.
            healthcheck::stats::to_prometheus(&c.stats(), &mut out);
        }
        out
    }

    fn log_status(&self) {
        for s in &self.slots {
            info!(
                instance = %s.spec.name,
                state = ?s.fsm.state(),
                priority = s.fsm.effective_priority(),
                "status"
            );
        }
        info!(rejected = ?self.rejects.counts(), "packets discarded by reason");
    }

    async fn on_packet(&mut self, inb: Inbound) {
        let now = Instant::now();
        let link = &self.links[inb.link];
        let r = &inb.received;
        let meta = RxMeta {
            src: r.src,
            dst: r.dst,
            ttl: r.ttl,
        };
        // The VRID picks the instance whose expectations the packet is
        // checked against (RFC 5798 §7.1); a packet too short to carry one is
        // counted under the codec's reason.
        let vrid = match Packet::new_checked(&inb.payload[..], link.key.family) {
            Ok(p) => p.vrid(),
            Err(e) => {
                let ifname = link.key.ifname.clone();
                self.rejects.reject(
                    now,
                    e.reason(),
                    format_args!("from {} on {ifname}: {e}", r.src),
                );
                return;
            }
        };
        let indexed = self
            .by_vrid
            .get(&(inb.link, vrid))
            .copied()
            .filter(|&i| self.slots.get(i).is_some_and(|s| !s.stopped));
        let Some(i) = indexed.or_else(|| {
            self.slots.iter().position(|s| {
                (s.link == inb.link || s.alt_rx == Some(inb.link))
                    && s.spec.fsm.vrid == vrid
                    && !s.stopped
            })
        }) else {
            // Other routers' VRIDs share the LAN: counted, logged at debug
            // only (RFC 5798 §7.1 says discard).
            *self.rejects.by_reason.entry("vrid").or_default() += 1;
            debug!(vrid, src = %r.src, "advert for a VRID we do not run");
            return;
        };
        let slot = &self.slots[i];
        // Our own adverts come back when a unicast set-up lists us as a
        // peer; they are not another router.
        if r.src == slot.src {
            return;
        }
        if let Err(reason) = slot.spec.unicast_source_ok(r.src, r.ttl) {
            let name = slot.spec.name.clone();
            self.rejects.reject(
                now,
                reason,
                format_args!(
                    "{name}: unicast advert from {} (ttl {}) refused",
                    r.src, r.ttl
                ),
            );
            return;
        }
        let expect = slot.spec.expect(slot.fsm.master_addr());
        let adv = match packet::validate(&inb.payload, &meta, &expect) {
            Ok(a) => a,
            Err(e) => {
                let name = slot.spec.name.clone();
                self.rejects
                    .reject(now, e.reason(), format_args!("{name}: from {}: {e}", r.src));
                return;
            }
        };
        let received = ReceivedAdvert {
            src: r.src,
            priority: adv.priority,
            max_adver_int: Duration::from_millis(u64::from(adv.max_adver_int) * 10),
        };
        self.slots[i].fsm.handle_advert(now, &received);
        self.drain(i).await;
    }
    /// Perform the instance's actions in the order it emitted them, then
    /// the sync group moves they caused.
    async fn drain(&mut self, i: usize) {
        self.drain_one(i).await;
        if !self.sync_queue.is_empty() {
            self.run_sync_queue(Instant::now()).await;
        }
    }

    /// Queue slot `i`'s deadline if it moved.
    ///
    /// A deadline that moved later keeps the slot's earlier entry: a
    /// backup's down timer moves with every advert it hears, and a push for
    /// each (at 10,000 adverts a second, tens of thousands of stale entries
    /// in the heap) cost more than checking the one entry again when it
    /// comes up ([`Runtime::next_deadline`] then queues the real deadline).
    fn requeue(&mut self, i: usize) {
        let s = &mut self.slots[i];
        let next = if s.stopped {
            None
        } else {
            s.fsm.next_deadline()
        };
        match (next, s.queued) {
            (Some(n), Some(q)) if n >= q => {}
            (Some(n), _) => {
                s.queued = Some(n);
                self.timers.push(std::cmp::Reverse((n, i)));
            }
            (None, _) => s.queued = None,
        }
    }

    /// Enter slot `i` in the (link, VRID) index, on each link its adverts
    /// may arrive on.
    fn index_vrid(&mut self, i: usize) {
        let s = &self.slots[i];
        let vrid = s.spec.fsm.vrid;
        for link in std::iter::once(s.link).chain(s.alt_rx) {
            self.by_vrid.insert((link, vrid), i);
        }
    }

    /// Rebuild the timer heap and the VRID index (slot indexes changed).
    fn reindex(&mut self) {
        self.timers.clear();
        self.by_vrid.clear();
        for i in 0..self.slots.len() {
            self.slots[i].queued = None;
            self.requeue(i);
            if !self.slots[i].stopped {
                self.index_vrid(i);
            }
        }
    }

    /// When to wake for the earliest deadline of any running instance, and
    /// whether it is a master's.
    ///
    /// A master's timers (adverts, announcements) are served on a grid
    /// ([`master_grid`]: 2 % of its advert interval, 1 to 10 ms, from
    /// [`Runtime::epoch`]), up to one grid step early, so that the masters
    /// due within a step share one wake-up: at 1,000 masters and 1 s, about
    /// 10 adverts per wake-up instead of one. The cadence does not move:
    /// the fsm re-arms from the due time, so each master keeps the same
    /// place in its step and its adverts stay exactly one interval apart.
    /// A backup's down timer is never early: backups' skew times can be
    /// tens of µs apart.
    fn next_deadline(&mut self) -> Option<(Instant, bool)> {
        while let Some(&std::cmp::Reverse((d, i))) = self.timers.peek() {
            if let Some(s) = self.slots.get_mut(i).filter(|s| s.queued == Some(d)) {
                // The slot's entry; its deadline may have moved later since
                // (see `requeue`).
                match s.fsm.next_deadline().filter(|_| !s.stopped) {
                    Some(real) if real == d => {
                        if s.fsm.state() == State::Master {
                            let grid = master_grid(s.fsm.advert_interval());
                            return Some((grid_floor(self.epoch, d, grid), true));
                        }
                        return Some((d, false));
                    }
                    Some(real) => {
                        s.queued = Some(real);
                        self.timers.pop();
                        self.timers.push(std::cmp::Reverse((real, i)));
                        continue;
                    }
                    None => s.queued = None,
                }
            }
            self.timers.pop();
        }
        None
    }

    /// The slot whose deadline is the earliest and has come (see
    /// [`Runtime::next_deadline`] for a master's grid), taken off the heap.
    /// Returns the slot and the time to hand its state machine: `now`, or
    /// the deadline itself when served early, so its timer does fire.
    fn pop_due(&mut self, now: Instant) -> Option<(usize, Instant)> {
        let (wake, _) = self.next_deadline()?;
        if wake > now {
            return None;
        }
        let std::cmp::Reverse((due, i)) = self.timers.pop()?;
        self.slots[i].queued = None;
        Some((i, now.max(due)))
    }

    /// [`Runtime::drain`] without the sync group moves (they are queued).
    async fn drain_one(&mut self, i: usize) {
        loop {
            self.drain_actions(i).await;
            // A VIP that could not be added: FAULT (its actions, priority 0
            // and removing the rest, are drained in the next turn).
            match self.slots[i].vip_add_failed.take() {
                Some(why) => self.vip_fault(i, why),
                None => break,
            }
        }
        self.requeue(i);
    }

    async fn drain_actions(&mut self, i: usize) {
        while let Some(action) = self.slots[i].fsm.poll_action() {
            match action {
                Action::SendAdvert { priority } => {
                    if priority > 0 {
                        self.vmac_v6_up(i).await;
                    }
                    self.send_advert(i, priority).await
                }
                Action::AddVips => {
                    self.vmac_v6_up(i).await;
                    let (link, vips, name) = self.slot_vips(i);
                    let failed = self.add_vips(link, &vips, &name).await;
                    self.slots[i].vips_installed = true;
                    if failed.is_empty() {
                        self.slots[i].reinstate.failures = 0;
                    } else {
                        self.slots[i].vip_add_failed = Some(failed.join("; "));
                    }
                }
                Action::RemoveVips => {
                    // A delayed lower-priority burst must not announce
                    // addresses we no longer hold.
                    self.slots[i].lower_prio_burst = None;
                    let (link, vips, name) = self.slot_vips(i);
                    if !self.dont_release || !self.slots[i].vips_installed {
                        self.remove_vips(link, &vips, &name, "state change").await;
                        self.vmac_v6_down(i).await;
                    }
                    self.slots[i].vips_installed = false;
                }
                Action::Announce => self.announce(i).await,
                // The fsm logs every transition itself (instance, from, to,
                // reason); the shell only tells systemd.
                Action::StateChanged { from, to, reason } => {
                    let h = &mut self.slots[i].history;
                    if h.len() == HISTORY {
                        h.pop_front();
                    }
                    h.push_back(Transition {
                        at: std::time::SystemTime::now(),
                        from,
                        to,
                        reason: reason.to_string(),
                    });
                    if let Some(ns) = NotifyState::from_fsm(to) {
                        let prio = self.slots[i].fsm.effective_priority();
                        let ev = NotifyEvent::instance(self.slots[i].spec.name.clone(), ns, prio);
                        if !self.notifier.notify(ev) {
                            warn!(instance = %self.slots[i].spec.name, "notification queue full: {to} notification dropped");
                        }
                    }
                    let name = self.slots[i].spec.name.clone();
                    for g in &mut self.sync_groups {
                        if g.contains(&name) {
                            self.sync_queue.extend(g.on_member_state(&name, to));
                        }
                    }
                    self.notify_group_changes();
                    if to == State::Master {
                        daemon::notify::status(&format!("{} is MASTER", self.slots[i].spec.name));
                    }
                }
                Action::WantMaster => self.on_want_master(i),
                Action::Stopped => {
                    self.slots[i].stopped = true;
                    let ev = NotifyEvent::instance(
                        self.slots[i].spec.name.clone(),
                        NotifyState::Stop,
                        self.slots[i].fsm.effective_priority(),
                    );
                    self.notifier.notify(ev);
                }
            }
        }
    }

    /// Where the instance's VIPs live, what it installs as master (VIPs,
    /// routes, rules) and its name.
    fn slot_vips(&self, i: usize) -> (usize, Virtuals, String) {
        let s = &self.slots[i];
        (s.vip_link, s.spec.virtuals(), s.spec.name.clone())
    }

    /// One `sendmsg` per advert. Measured with the scale bench (1,000
    /// masters): batching with `sendmmsg` and caching the encoded bytes
    /// saved nothing, because masters' deadlines are spread over the
    /// interval and a wake-up serves about 3 adverts; ~90 % of the cost is
    /// the kernel's per-packet path, half of it the receivers' softirq work
    /// that runs on return from our `sendmsg`.
    async fn send_advert(&mut self, i: usize, priority: u8) {
        let slot = &self.slots[i];
        let link = &self.links[slot.tx_link];
        let adv = slot.spec.advert(priority);
        let group = match slot.spec.family {
            Family::V4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::V6 => IpAddr::V6(VRRP_GROUP_V6),
        };
        let dsts: &[IpAddr] = if slot.spec.unicast_peers.is_empty() {
            std::slice::from_ref(&group)
        } else {
            &slot.spec.unicast_peers
        };
        for dst in dsts {
            // The v3 checksum covers a pseudo-header with both addresses
            // (RFC 5798 §5.2.8), so each destination gets its own bytes.
            let bytes = match adv.emit_with(slot.src, *dst, slot.spec.checksum_mode) {
                Ok(b) => b,
                Err(e) => {
                    error!(instance = %slot.spec.name, "building advert: {e}");
                    return;
                }
            };
            if let Err(e) = link.socket.send_from(Some(slot.src), *dst, &bytes).await {
                error!(instance = %slot.spec.name, %dst, "sending advert: {e}");
            }
        }
    }
    /// Gratuitous ARPs / unsolicited NAs for the instance's VIPs, each
    /// from the interface it lives on (a `dev` VIP from its own interface,
    /// as keepalived does). How many depends on why the fsm announces
    /// ([`crate::fsm::AnnounceCause`]).
    async fn announce(&mut self, i: usize) {
        let slot = &self.slots[i];
        let kind = slot.fsm.last_announce_cause();
        let name = slot.spec.name.clone();
        let repeat = burst_size(&slot.spec, kind);
        if repeat == 0 {
            // keepalived: garp_lower_prio_repeat 0 sends nothing.
            info!(instance = %name, "lower priority master heard: garp_lower_prio_repeat is 0, not re-announcing");
            return;
        }
        let targets = self.announce_targets(i).await;
        let vip_link = self.slots[i].vip_link;
        let link = &self.links[vip_link];
        for t in &targets {
            let own;
            let announcer = if t.ifname == link.key.ifname {
                &link.announcer
            } else {
                match Announcer::open(&t.ifname) {
                    Ok(a) => {
                        own = a;
                        &own
                    }
                    Err(e) => {
                        warn!(instance = %name, interface = %t.ifname, "announce: {e}");
                        continue;
                    }
                }
            };
            send_burst(announcer, t, repeat, &name).await;
        }
        debug!(instance = %name, ?kind, repeat, vips = self.slots[i].spec.vips.len(), "announced VIPs");
        if let (AnnounceCause::LowerPriority { first: true }, Some(delay)) =
            (kind, self.slots[i].spec.garp_lower_prio_delay)
        {
            // keepalived sends the lower-priority burst again after
            // garp_lower_prio_delay. A newer burst replaces a pending one.
            let task = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for t in &targets {
                    match Announcer::open(&t.ifname) {
                        Ok(a) => send_burst(&a, t, repeat, &name).await,
                        Err(e) => warn!(instance = %name, interface = %t.ifname, "announce: {e}"),
                    }
                }
                debug!(instance = %name, repeat, ?delay, "garp_lower_prio_delay: announced VIPs again");
            });
            self.slots[i].lower_prio_burst = Some(DelayedBurst(task));
        }
    }

    /// The instance's VIPs grouped by the interface they are announced
    /// from, with that interface's MAC (the VMAC's for VIPs on it).
    async fn announce_targets(&self, i: usize) -> Vec<AnnounceTarget> {
        let slot = &self.slots[i];
        let link = &self.links[slot.vip_link];
        let mut targets: Vec<AnnounceTarget> = Vec::new();
        for vip in &slot.spec.vips {
            let ifname = vip.dev.as_deref().unwrap_or(&link.key.ifname);
            if let Some(t) = targets.iter_mut().find(|t| t.ifname == ifname) {
                t.addrs.push(vip.addr);
                continue;
            }
            let mac = match &vip.dev {
                None => link.mac,
                Some(dev) => {
                    let mac = match self.netlink.link_index(dev).await {
                        Ok(ix) => self.netlink.link_mac(ix).await,
                        Err(e) => Err(e),
                    };
                    match mac {
                        Ok(m) => m,
                        Err(e) => {
                            warn!(instance = %slot.spec.name, vip = %vip.addr, interface = %dev, "announce: {e}");
                            continue;
                        }
                    }
                }
            };
            targets.push(AnnounceTarget {
                ifname: ifname.to_owned(),
                mac,
                addrs: vec![vip.addr],
            });
        }
        targets
    }

    /// The interface index a VIP goes on: its `dev`, else the instance's
    /// VIP link. `None` (logged) when that interface does not exist.
    async fn vip_ifindex(&self, link: usize, vip: &Vip, name: &str) -> Option<u32> {
        match &vip.dev {
            None => Some(self.links[link].ifindex),
            Some(dev) => match self.netlink.link_index(dev).await {
                Ok(ix) => Some(ix),
                Err(e) => {
                    error!(instance = name, vip = %vip.addr, interface = %dev, "VIP interface: {e}");
                    None
                }
            },
        }
    }

    /// The index of a route's `dev`, `Ok(None)` when it names none.
    async fn route_oif(&self, dev: Option<&str>) -> Result<Option<u32>, crate::net::NetError> {
        match dev {
            None => Ok(None),
            Some(d) => self.netlink.link_index(d).await.map(Some),
        }
    }

    /// Install what a master holds: the VIPs first, then the routes (which
    /// may use a VIP as gateway subnet or source), then the rules.
    /// "Already there" is not an error (a restart, a re-entered MASTER).
    /// Returns the tracked (not `no_track`) VIPs that could not be added,
    /// with why: the instance cannot be master without them.
    async fn add_vips(&mut self, link: usize, v: &Virtuals, name: &str) -> Vec<String> {
        let placed = self.place_vips(link, v, name).await;
        let mut failed: Vec<String> = v
            .vips
            .iter()
            .filter(|vip| !vip.no_track && !placed.iter().any(|(p, _)| std::ptr::eq(*p, *vip)))
            .map(|vip| format!("{}: no interface {:?}", vip.addr, vip.dev))
            .collect();
        // RFC 5798 §6.4.3: a master not in Accept_Mode drops packets for
        // its VIPs; the drop is in place before the addresses are.
        self.firewall.hold(
            name,
            placed
                .iter()
                .map(|(v, ix)| crate::net::firewall::elem_of(v.addr, *ix)),
        );
        for (vip, ifindex) in placed {
            match self
                .netlink
                .add_address_with(ifindex, vip.addr, vip.prefix, &vip.options())
                .await
            {
                Ok(_) => {
                    info!(instance = name, vip = %vip.addr, prefix = vip.prefix, ifindex, "VIP added")
                }
                Err(e) => {
                    error!(instance = name, vip = %vip.addr, "adding VIP: {e}");
                    if !vip.no_track {
                        failed.push(format!("{}: {e}", vip.addr));
                    }
                }
            }
        }
        for r in &v.routes {
            let res = match self.route_oif(r.dev.as_deref()).await {
                Ok(oif) => self.netlink.add_route(r, oif).await,
                Err(e) => Err(e),
            };
            match res {
                Ok(true) => info!(instance = name, route = %r, "virtual route added"),
                Ok(false) => debug!(instance = name, route = %r, "virtual route already there"),
                Err(e) => error!(instance = name, route = %r, "adding virtual route: {e}"),
            }
        }
        for r in &v.rules {
            match self.netlink.add_rule(r).await {
                Ok(true) => info!(instance = name, rule = %r, "virtual rule added"),
                Ok(false) => debug!(instance = name, rule = %r, "virtual rule already there"),
                Err(e) => error!(instance = name, rule = %r, "adding virtual rule: {e}"),
            }
        }
        failed
    }

    /// Each VIP with the interface it goes on (those whose interface is
    /// missing are left out, and logged by [`Runtime::vip_ifindex`]).
    async fn place_vips<'v>(
        &self,
        link: usize,
        v: &'v Virtuals,
        name: &str,
    ) -> Vec<(&'v Vip, u32)> {
        let mut placed = Vec::with_capacity(v.vips.len());
        for vip in &v.vips {
            if let Some(ifindex) = self.vip_ifindex(link, vip, name).await {
                placed.push((vip, ifindex));
            }
        }
        placed
    }

    /// Remove what a master held, in the reverse order of [`add_vips`]:
    /// rules, routes, VIPs, then the VIPs' drop rules (no_accept). "Not
    /// there" is not an error.
    async fn remove_vips(&mut self, link: usize, v: &Virtuals, name: &str, why: &str) {
        for r in &v.rules {
            match self.netlink.del_rule(r).await {
                Ok(true) => info!(instance = name, rule = %r, "virtual rule removed ({why})"),
                Ok(false) => {}
                Err(e) => error!(instance = name, rule = %r, "removing virtual rule: {e}"),
            }
        }
        for r in &v.routes {
            let oif = match self.route_oif(r.dev.as_deref()).await {
                Ok(oif) => oif,
                // The interface is gone, and its routes with it.
                Err(crate::net::NetError::NoSuchInterface(_)) => continue,
                Err(e) => {
                    error!(instance = name, route = %r, "removing virtual route: {e}");
                    continue;
                }
            };
            match self.netlink.del_route(r, oif).await {
                Ok(true) => info!(instance = name, route = %r, "virtual route removed ({why})"),
                Ok(false) => {}
                Err(e) => error!(instance = name, route = %r, "removing virtual route: {e}"),
            }
        }
        for vip in &v.vips {
            let ifindex = match &vip.dev {
                None => self.links[link].ifindex,
                Some(dev) => match self.netlink.link_index(dev).await {
                    Ok(ix) => ix,
                    // Gone with its interface.
                    Err(_) => continue,
                },
            };
            match self
                .netlink
                .del_address_with(ifindex, vip.addr, vip.prefix, vip.peer)
                .await
            {
                Ok(true) => info!(instance = name, vip = %vip.addr, "VIP removed ({why})"),
                Ok(false) => {}
                Err(e) => error!(instance = name, vip = %vip.addr, "removing VIP: {e}"),
            }
        }
        self.firewall
            .release(name, v.vips.iter().map(|vip| vip.addr));
    }
}

/// Gratuitous ARPs / NAs per address for an announcement of `kind`.
fn burst_size(spec: &InstanceSpec, kind: AnnounceCause) -> u32 {
    match kind {
        AnnounceCause::Master => spec.garp_repeat.max(1),
        // keepalived: 0 means none.
        AnnounceCause::LowerPriority { .. } => spec.garp_lower_prio_repeat,
    }
}

/// One interface's share of an announcement.
#[derive(Debug, Clone)]
struct AnnounceTarget {
    ifname: String,
    mac: [u8; 6],
    addrs: Vec<IpAddr>,
}

/// `repeat` gratuitous ARPs / NAs for each of `t`'s addresses.
async fn send_burst(announcer: &Announcer, t: &AnnounceTarget, repeat: u32, name: &str) {
    for _ in 0..repeat {
        for addr in &t.addrs {
            let res = match addr {
                IpAddr::V4(a) => announcer.garp(*a, t.mac).await,
                IpAddr::V6(a) => announcer.unsolicited_na(*a, t.mac).await,
            };
            if let Err(e) = res {
                warn!(instance = name, vip = %addr, "announce: {e}");
            }
        }
    }
}

/// A pending `garp_lower_prio_delay` burst; aborted when dropped.
struct DelayedBurst(tokio::task::JoinHandle<()>);

impl Drop for DelayedBurst {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Log each script refused by script security; return the refused
/// `vrrp_script` names (they count as failing).
fn log_refused(refused: &[(String, String)]) -> Vec<String> {
    for (name, why) in refused {
        error!(script = %name, "{why}");
    }
    refused
        .iter()
        .filter(|(n, _)| n != "notify")
        .map(|(n, _)| n.clone())
        .collect()
}

/// The step of the grid a master with advert interval `interval` serves
/// its timers on: the longest of 10, 5, 2 and 1 ms that is at most 2 % of
/// the interval and divides it (intervals are whole centiseconds, RFC 5798
/// §5.2.7), so that every advert of an instance falls at the same place in
/// its step. Below 50 ms: no grid (served at the deadline). An advert goes
/// out at most one step early; backups are unaffected (their timers restart
/// when an advert arrives) and the interval between two adverts is exact.
///
/// Measured at 1,000 instances (see `netns-tests` scale): the master's
/// own CPU is mostly per wake-up (the timer interrupt, `epoll_wait`, the
/// scheduler), not per advert. At 0.1 s, a 2 ms step instead of 1 ms took
/// the master from about 0.6 to 0.45 of keepalived's CPU. A slack instead
/// of a grid (wake at the earliest deadline, serve what is due within
/// 1.5 ms) did not lower CPU and doubled the jitter p99: the batches
/// changed from round to round.
fn master_grid(interval: Duration) -> Duration {
    [10u64, 5, 2, 1]
        .into_iter()
        .map(Duration::from_millis)
        .find(|g| *g * 50 <= interval && interval.as_nanos() % g.as_nanos() == 0)
        .unwrap_or(Duration::ZERO)
}

/// The grid point at or before `at` (grid of step `step` from `epoch`).
fn grid_floor(epoch: Instant, at: Instant, step: Duration) -> Instant {
    match at.checked_duration_since(epoch) {
        Some(since) if !step.is_zero() => {
            let floor = since.as_nanos() - since.as_nanos() % step.as_nanos();
            // Fits u64 for 584 years of uptime.
            u64::try_from(floor).map_or(at, |n| epoch + Duration::from_nanos(n))
        }
        _ => at,
    }
}

/// Whether a reload may update an instance in place: everything that
/// decides which socket, link and source it speaks with is the same.
fn same_identity(a: &InstanceSpec, b: &InstanceSpec) -> bool {
    a.interface == b.interface
        && a.family == b.family
        && a.version == b.version
        && a.fsm.vrid == b.fsm.vrid
        && a.vmac == b.vmac
        && a.source == b.source
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsm::ReceivedAdvert;

    fn spec(extra: &str) -> InstanceSpec {
        let text = format!(
            "vrrp_instance G {{\n interface eth0\n virtual_router_id 5\n priority 200\n advert_int 1\n unicast_src_ip 192.0.2.1\n {extra}\n virtual_ipaddress {{\n  192.0.2.200\n }}\n}}\n"
        );
        let opts = conf::keepalived::lexer::ParseOptions::default();
        let loaded = conf::load_keepalived_str("t.conf", &text, &opts);
        assert!(!loaded.diagnostics.has_errors(), "{}", loaded.diagnostics);
        crate::setup::instances(&loaded.config).unwrap().remove(0)
    }

    /// The causes of the fsm's `Announce` actions, as the driver reads them.
    fn announces(fsm: &mut Instance) -> Vec<AnnounceCause> {
        let mut out = Vec::new();
        while let Some(a) = fsm.poll_action() {
            if a == Action::Announce {
                out.push(fsm.last_announce_cause());
            }
        }
        out
    }

    /// Every `Announce` the real fsm emits is classified by its cause:
    /// becoming master and the garp_master_delay burst as master bursts, a
    /// lower-priority master's advert and the fsm's follow-up to it as
    /// lower-priority bursts, and a rate-limited lower-priority advert does
    /// not make the next master burst a lower-priority one.
    #[test]
    fn announcements_are_told_apart_on_the_real_fsm() {
        let s = spec("");
        let mut fsm = Instance::new(s.fsm.clone());
        let t0 = Instant::now();
        fsm.handle_startup(t0);
        assert!(announces(&mut fsm).is_empty());
        // Nobody else: the down timer makes it master.
        let t1 = fsm.next_deadline().unwrap();
        fsm.handle_timeout(t1);
        assert_eq!(fsm.state(), State::Master);
        assert_eq!(announces(&mut fsm), vec![AnnounceCause::Master]);
        // A lower priority master is heard.
        let lower = ReceivedAdvert {
            src: "192.0.2.2".parse().unwrap(),
            priority: 100,
            max_adver_int: Duration::from_secs(1),
        };
        let t2 = t1 + Duration::from_millis(10);
        fsm.handle_advert(t2, &lower);
        assert_eq!(
            announces(&mut fsm),
            vec![AnnounceCause::LowerPriority { first: true }]
        );
        // Its follow-up.
        let t3 = fsm.timer(crate::fsm::Timer::Reannounce).unwrap();
        fsm.handle_timeout(t3);
        assert_eq!(
            announces(&mut fsm),
            vec![AnnounceCause::LowerPriority { first: false }]
        );
        // Again within Master_Down_Interval: answered, not re-announced.
        let t4 = t2 + Duration::from_secs(2);
        fsm.handle_advert(t4, &lower);
        assert!(announces(&mut fsm).is_empty());
        // The garp_master_delay burst (5 s by default) is a master burst.
        let t5 = fsm.timer(crate::fsm::Timer::GarpDelay).unwrap();
        let mut kinds = Vec::new();
        let mut t = t4;
        while t < t5 {
            t = fsm.next_deadline().unwrap();
            fsm.handle_timeout(t);
            kinds.extend(announces(&mut fsm));
        }
        assert_eq!(kinds, vec![AnnounceCause::Master]);
    }

    #[test]
    fn master_grid_divides_the_interval_and_is_at_most_two_percent() {
        let ms = Duration::from_millis;
        assert_eq!(master_grid(ms(1000)), ms(10));
        assert_eq!(master_grid(ms(100)), ms(2));
        assert_eq!(master_grid(ms(250)), ms(5));
        assert_eq!(master_grid(ms(150)), ms(2));
        assert_eq!(master_grid(ms(50)), ms(1));
        assert_eq!(master_grid(ms(40)), Duration::ZERO);
        assert_eq!(master_grid(ms(10)), Duration::ZERO);
        for cs in 1..=4095u64 {
            let interval = ms(cs * 10);
            let g = master_grid(interval);
            if !g.is_zero() {
                assert_eq!(interval.as_nanos() % g.as_nanos(), 0, "{cs} cs");
                assert!(g * 50 <= interval, "{cs} cs");
            }
        }
    }

    #[test]
    fn grid_floor_keeps_an_instance_at_the_same_place_in_its_step() {
        let epoch = Instant::now();
        let step = Duration::from_millis(10);
        let first = epoch + Duration::from_micros(123_456);
        let wake = grid_floor(epoch, first, step);
        assert_eq!(wake, epoch + Duration::from_millis(120));
        // Re-armed from the due time, every later deadline is served as
        // early: the intervals between sends stay exact.
        for k in 1..1000u32 {
            let due = first + Duration::from_secs(1) * k;
            assert_eq!(due - grid_floor(epoch, due, step), first - wake);
        }
        assert_eq!(grid_floor(epoch, first, Duration::ZERO), first);
        // Before the epoch (cannot happen) or on a grid point: unchanged.
        assert_eq!(grid_floor(first, epoch, step), epoch);
        assert_eq!(grid_floor(epoch, wake, step), wake);
    }

    #[test]
    fn burst_sizes_follow_the_configuration() {
        let first = AnnounceCause::LowerPriority { first: true };
        // keepalived's defaults: the lower-priority settings follow the
        // master ones (5 and 5 s): re-announcing is the default.
        let d = spec("");
        assert_eq!(burst_size(&d, AnnounceCause::Master), 5);
        assert_eq!(burst_size(&d, first), 5);
        assert_eq!(d.garp_lower_prio_delay, Some(Duration::from_secs(5)));
        let c = spec("garp_master_repeat 3\n garp_lower_prio_repeat 2\n garp_lower_prio_delay 1");
        assert_eq!(burst_size(&c, AnnounceCause::Master), 3);
        assert_eq!(burst_size(&c, first), 2);
        assert_eq!(
            burst_size(&c, AnnounceCause::LowerPriority { first: false }),
            2
        );
        assert_eq!(c.garp_lower_prio_delay, Some(Duration::from_secs(1)));
        let off = spec("garp_lower_prio_repeat 0\n garp_lower_prio_delay 0");
        assert_eq!(burst_size(&off, first), 0);
        assert_eq!(off.garp_lower_prio_delay, None);
    }
}
