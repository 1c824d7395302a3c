//! A master puts back what someone else removed.
//!
//! keepalived has no answer when a master's VIP is removed by hand or by a
//! network restart (keepalived issue #534, PR #478): the master keeps
//! advertising while its clients reach nobody. Here the kernel's removal
//! notifications ([`crate::net::monitor`]) arrive in one batch per burst,
//! and each batch is checked against what every MASTER should hold *now*:
//!
//! - a VIP (not `no_track`) of a MASTER that is gone is added again,
//!   announced (gratuitous ARP / NA, a master's burst) and counted; since
//!   the kernel drops the routes that depended on an address without any
//!   notification, that instance's virtual routes and rules are then
//!   checked too;
//! - a virtual route or rule (not `no_track`) of a MASTER that is gone is
//!   added again and counted;
//! - a VIP that cannot be added again (its interface is gone, IPv6 was
//!   disabled on it) puts the instance in FAULT, so the backup takes over;
//!   it leaves FAULT once the address could be held again, checked every
//!   second.
//!
//! Our own removals need no bookkeeping: the main loop performs every
//! change inline, so by the time a batch is handled, an instance that gave
//! up its addresses (a state change, a reload, the hand-over at exit) is no
//! longer a MASTER holding them, or no longer has them in its
//! configuration; and re-adding is idempotent (an address that is back is
//! `EEXIST`, not counted, not logged as a warning). Batches are ignored
//! while the daemon stops.

use super::{Runtime, State};
use crate::net::monitor::{self, Removal};
use crate::setup::{Vip, Virtuals};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// How often an instance in FAULT for a VIP it could not add checks
/// whether it could hold it again: every second at first; doubled for
/// each failure in a row (leaving FAULT, winning, and failing to add the
/// VIP again), up to [`VIP_RETRY_MAX`], so a cause the check cannot see
/// does not make the instance flap every second.
const VIP_RETRY: Duration = Duration::from_secs(1);
const VIP_RETRY_MAX: Duration = Duration::from_secs(32);

/// The removal subscription and the VIP-fault retry timer.
pub(super) struct Monitor {
    pub(super) rx: mpsc::Receiver<Vec<Removal>>,
    tx: Option<mpsc::Sender<Vec<Removal>>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// When to check again whether instances in VIP FAULT may leave it.
    pub(super) retry_at: Option<Instant>,
    /// Batches handled (one reconciliation pass each) and the removals
    /// they carried, for `status`.
    batches: u64,
    removals: u64,
}

impl Monitor {
    pub(super) fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "following": self.task.is_some(),
            "batches": self.batches,
            "removals": self.removals,
        })
    }
}

impl Default for Monitor {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(16);
        Monitor {
            rx,
            tx: Some(tx),
            task: None,
            retry_at: None,
            batches: 0,
            removals: 0,
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// What an instance put back, for `status` and `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Readded {
    pub(super) vips: u64,
    pub(super) routes: u64,
    pub(super) rules: u64,
}

/// Per instance: what it put back, and its VIP FAULT retries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotReinstate {
    pub(super) readded: Readded,
    /// VIP FAULTs in a row (reset once its VIPs were all added).
    pub(super) failures: u32,
    /// When to check whether it may leave its VIP FAULT.
    retry_at: Option<Instant>,
}

/// The wait before the `failures`-th retry (1 s, 2 s, 4 s ... 32 s).
fn retry_delay(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(5);
    (VIP_RETRY * (1u32 << shift)).min(VIP_RETRY_MAX)
}

/// The prefix length the kernel reports for a VIP: the peer's for a
/// point-to-point address.
fn reported_prefix(v: &Vip) -> u8 {
    v.peer.map_or(v.prefix, |(_, len)| len)
}

/// Which of `held`'s tracked entries `batch` reports removed. `vip_ifindex`
/// gives the interface index a VIP lives on (`None`: its interface is
/// gone, so it is certainly not there). An overrun means anything may be
/// gone: every tracked entry is checked.
pub(super) fn affected(
    held: &Virtuals,
    vip_ifindex: impl Fn(&Vip) -> Option<u32>,
    batch: &[Removal],
) -> Virtuals {
    let all = batch.contains(&Removal::Overrun);
    let vips = held
        .vips
        .iter()
        .filter(|v| !v.no_track)
        .filter(|v| {
            all || batch.iter().any(|r| match r {
                Removal::Address {
                    ifindex,
                    addr,
                    prefix,
                } => {
                    *addr == v.addr
                        && *prefix == reported_prefix(v)
                        && vip_ifindex(v).is_none_or(|ix| ix == *ifindex)
                }
                _ => false,
            })
        })
        .cloned()
        .collect();
    let routes = held
        .routes
        .iter()
        .filter(|s| !s.no_track)
        .filter(|s| {
            all || batch.iter().any(|r| match r {
                Removal::Route {
                    family,
                    table,
                    dst,
                    prefix,
                    protocol,
                } => {
                    *family == s.family()
                        && *table == s.table
                        && *prefix == s.prefix
                        && *protocol == s.protocol
                        && (s.prefix == 0 || *dst == Some(s.dst))
                }
                _ => false,
            })
        })
        .cloned()
        .collect();
    let rules = held
        .rules
        .iter()
        .filter(|s| !s.no_track)
        .filter(|s| {
            all || batch.iter().any(|r| match r {
                Removal::Rule {
                    family,
                    protocol,
                    priority,
                } => {
                    *family == s.family
                        && *protocol == s.protocol
                        && s.priority.is_none_or(|p| *priority == Some(p))
                }
                _ => false,
            })
        })
        .cloned()
        .collect();
    Virtuals {
        vips,
        routes,
        rules,
    }
}

impl Runtime {
    /// Subscribe to removals (once; the subscription does not depend on
    /// the configuration, so it survives reloads).
    pub(super) fn start_monitor(&mut self) {
        let Some(tx) = self.monitor.tx.take() else {
            return;
        };
        match self.netlink.removals() {
            Ok(removals) => {
                self.monitor.task = Some(tokio::spawn(monitor::debounce(
                    removals,
                    tx,
                    monitor::QUIET,
                    monitor::MAX_HOLD,
                )));
            }
            Err(e) => warn!(
                "cannot follow address and route removals; a VIP removed by someone else goes unnoticed: {e}"
            ),
        }
    }

    /// The instance's own fault: its trackers, or a VIP it could not add.
    pub(super) fn own_fault(&self, i: usize) -> bool {
        self.slots[i].trackers.fault() || self.slots[i].vip_fault.is_some()
    }

    /// Whether slot `i` holds its virtuals now, as a MASTER does.
    fn holds_virtuals(&self, i: usize) -> bool {
        let s = &self.slots[i];
        !s.stopped && s.fsm.state() == State::Master && s.vips_installed && s.vip_fault.is_none()
    }

    /// The interface index of a VIP: its `dev`'s, else the instance's VIP
    /// link's. `None` when its `dev` does not exist.
    fn vip_index(&self, link: usize, v: &Vip) -> Option<u32> {
        match &v.dev {
            None => Some(self.links[link].ifindex),
            Some(dev) => crate::net::if_index(dev).ok(),
        }
    }

    fn vip_ifname<'a>(&'a self, link: usize, v: &'a Vip) -> &'a str {
        v.dev.as_deref().unwrap_or(&self.links[link].key.ifname)
    }

    /// One batch of removals: put back what a MASTER should hold.
    pub(super) async fn on_removals(&mut self, batch: Vec<Removal>) {
        debug!(removals = batch.len(), "address/route/rule removals");
        self.monitor.batches += 1;
        self.monitor.removals += batch.len() as u64;
        let any_address = batch.iter().any(|r| matches!(r, Removal::Address { .. }));
        for i in 0..self.slots.len() {
            if !self.holds_virtuals(i) {
                continue;
            }
            let link = self.slots[i].vip_link;
            let held = self.slots[i].spec.virtuals();
            let mut gone = affected(&held, |v| self.vip_index(link, v), &batch);
            // IPv4 drops the routes through an address that goes away
            // (its subnet, its source) without a notification: any
            // address removal means our routes are checked (adding is
            // idempotent, only a missing one is added and counted).
            if any_address {
                gone.routes = held.routes.into_iter().filter(|r| !r.no_track).collect();
            }
            if !gone.is_empty() {
                self.reinstate(i, gone).await;
            }
        }
    }

    /// Add `gone` back for slot `i` (a MASTER); see the module comment.
    async fn reinstate(&mut self, i: usize, gone: Virtuals) {
        let name = self.slots[i].spec.name.clone();
        let link = self.slots[i].vip_link;
        let mut readded: Vec<IpAddr> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        for vip in &gone.vips {
            let ifname = self.vip_ifname(link, vip).to_owned();
            let Some(ifindex) = self.vip_index(link, vip) else {
                failed.push(format!("{} on {ifname}: no such interface", vip.addr));
                continue;
            };
            match self
                .netlink
                .add_address_with(ifindex, vip.addr, vip.prefix, &vip.options())
                .await
            {
                Ok(true) => {
                    warn!(instance = %name, vip = %vip.addr, interface = %ifname,
                        "VIP {}/{} was removed from {ifname} by someone else: re-added", vip.addr, vip.prefix);
                    self.slots[i].reinstate.readded.vips += 1;
                    readded.push(vip.addr);
                }
                // Back already (put back by whoever removed it).
                Ok(false) => debug!(instance = %name, vip = %vip.addr, "VIP is back"),
                Err(e) => failed.push(format!("{} on {ifname}: {e}", vip.addr)),
            }
        }
        if !failed.is_empty() {
            self.vip_fault(i, failed.join("; "));
            self.drain(i).await;
            return;
        }
        // The kernel removes the routes that used an address (as gateway
        // subnet or source) with it, without a notification: after a VIP
        // came back, every route and rule of the instance is checked.
        let (routes, rules) = if readded.is_empty() {
            (gone.routes, gone.rules)
        } else {
            let all = self.slots[i].spec.virtuals();
            (
                all.routes.into_iter().filter(|r| !r.no_track).collect(),
                all.rules.into_iter().filter(|r| !r.no_track).collect(),
            )
        };
        for r in &routes {
            let oif = match r.dev.as_deref() {
                None => Ok(None),
                Some(d) => crate::net::if_index(d).map(Some),
            };
            let res = match oif {
                Ok(oif) => self.netlink.add_route(r, oif).await,
                Err(e) => Err(e),
            };
            match res {
                Ok(true) => {
                    warn!(instance = %name, route = %r, "virtual route {r} was removed by someone else: re-added");
                    self.slots[i].reinstate.readded.routes += 1;
                }
                Ok(false) => {}
                Err(e) => error!(instance = %name, route = %r, "re-adding virtual route: {e}"),
            }
        }
        for r in &rules {
            match self.netlink.add_rule(r).await {
                Ok(true) => {
                    warn!(instance = %name, rule = %r, "virtual rule {r} was removed by someone else: re-added");
                    self.slots[i].reinstate.readded.rules += 1;
                }
                Ok(false) => {}
                Err(e) => error!(instance = %name, rule = %r, "re-adding virtual rule: {e}"),
            }
        }
        if !readded.is_empty() {
            self.announce_readded(i, &readded).await;
        }
    }

    /// A master's burst of gratuitous ARPs / NAs for the re-added VIPs:
    /// neighbours may have dropped or moved their entries meanwhile.
    async fn announce_readded(&mut self, i: usize, addrs: &[IpAddr]) {
        let name = self.slots[i].spec.name.clone();
        let repeat = self.slots[i].spec.garp_repeat.max(1);
        let own = self.links[self.slots[i].vip_link].key.ifname.clone();
        let mut targets = self.announce_targets(i).await;
        for t in &mut targets {
            t.addrs.retain(|a| addrs.contains(a));
        }
        for t in targets.iter().filter(|t| !t.addrs.is_empty()) {
            if t.ifname == own {
                let announcer = &self.links[self.slots[i].vip_link].announcer;
                super::send_burst(announcer, t, repeat, &name).await;
            } else {
                match crate::net::Announcer::open(&t.ifname) {
                    Ok(a) => super::send_burst(&a, t, repeat, &name).await,
                    Err(e) => warn!(instance = %name, interface = %t.ifname, "announce: {e}"),
                }
            }
        }
    }

    /// Slot `i` cannot hold a VIP: FAULT (its partners in a sync group
    /// follow), retried every [`VIP_RETRY`]. The caller drains the slot.
    pub(super) fn vip_fault(&mut self, i: usize, reason: String) {
        let now = Instant::now();
        let name = self.slots[i].spec.name.clone();
        error!(instance = %name, "cannot hold VIP ({reason}): FAULT until it can be added again");
        self.slots[i].vip_fault = Some(reason);
        self.slots[i].fsm.set_fault(now, true);
        for g in &mut self.sync_groups {
            if g.contains(&name) {
                self.sync_queue.extend(g.member_fault(&name, true));
            }
        }
        let r = &mut self.slots[i].reinstate;
        r.failures = r.failures.saturating_add(1);
        r.retry_at = Some(now + retry_delay(r.failures));
        self.rearm_retry();
    }

    /// The earliest retry of any instance in VIP FAULT.
    fn rearm_retry(&mut self) {
        self.monitor.retry_at = self
            .slots
            .iter()
            .filter(|s| !s.stopped && s.vip_fault.is_some())
            .filter_map(|s| s.reinstate.retry_at)
            .min();
    }

    /// The retry timer: every instance in VIP FAULT whose VIPs could be
    /// held again leaves it (then becomes BACKUP, or MASTER when it wins;
    /// adding failing again puts it back in FAULT).
    pub(super) async fn retry_vip_faults(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if s.stopped || s.vip_fault.is_none() || s.reinstate.retry_at.is_some_and(|t| t > now) {
                continue;
            }
            if let Err(why) = self.could_hold(i) {
                debug!(instance = %self.slots[i].spec.name, "still cannot hold its VIPs: {why}");
                self.slots[i].reinstate.retry_at = Some(now + VIP_RETRY);
                continue;
            }
            self.slots[i].reinstate.retry_at = None;
            let name = self.slots[i].spec.name.clone();
            info!(instance = %name, "its VIPs can be added again: leaving FAULT");
            self.slots[i].vip_fault = None;
            let fault = self.own_fault(i) || self.slots[i].group_fault;
            self.slots[i].fsm.set_fault(now, fault);
            let own = self.own_fault(i);
            for g in &mut self.sync_groups {
                if g.contains(&name) {
                    self.sync_queue.extend(g.member_fault(&name, own));
                }
            }
            self.drain(i).await;
        }
        self.rearm_retry();
    }

    /// Whether slot `i`'s tracked VIPs could be added: each one's interface
    /// exists, and IPv6 is not disabled on it (the two ways a re-add fails
    /// on a sound configuration). Checked without adding anything: the
    /// backup holds the addresses meanwhile.
    fn could_hold(&self, i: usize) -> Result<(), String> {
        let link = self.slots[i].vip_link;
        for v in self.slots[i].spec.vips.iter().filter(|v| !v.no_track) {
            let ifname = self.vip_ifname(link, v);
            if crate::net::if_index(ifname).is_err() {
                return Err(format!("no interface {ifname}"));
            }
            if v.addr.is_ipv6() {
                let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
                match std::fs::read_to_string(&path) {
                    Ok(s) if s.trim() == "0" => {}
                    Ok(_) => return Err(format!("IPv6 is disabled on {ifname}")),
                    Err(e) => return Err(format!("{path}: {e}")),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::route::{RouteSpec, RuleSpec};
    use crate::packet::Family;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn held() -> Virtuals {
        let mut dev = Vip::new(ip("192.0.2.20"), 32);
        dev.dev = Some("eth1".into());
        let mut untracked = Vip::new(ip("192.0.2.30"), 32);
        untracked.no_track = true;
        let mut peer = Vip::new(ip("192.0.2.40"), 32);
        peer.peer = Some((ip("192.0.2.41"), 31));
        let mut route = RouteSpec::new(ip("198.51.100.0"), 24);
        route.table = 100;
        let mut rule = RuleSpec::new(Family::V4);
        rule.priority = Some(50);
        Virtuals {
            vips: vec![
                Vip::new(ip("192.0.2.10"), 32),
                dev,
                untracked,
                peer,
                Vip::new(ip("2001:db8::10"), 64),
            ],
            routes: vec![route],
            rules: vec![rule],
        }
    }

    fn index(v: &Vip) -> Option<u32> {
        match v.dev.as_deref() {
            None => Some(2),
            Some("eth1") => Some(3),
            Some(_) => None,
        }
    }

    fn addr(ifindex: u32, a: &str, prefix: u8) -> Removal {
        Removal::Address {
            ifindex,
            addr: ip(a),
            prefix,
        }
    }

    #[test]
    fn only_tracked_entries_named_by_the_batch_are_affected() {
        let h = held();
        let got = affected(
            &h,
            index,
            &[
                addr(2, "192.0.2.10", 32),
                // The same address on another interface is not ours.
                addr(9, "192.0.2.20", 32),
                // no_track: left alone.
                addr(2, "192.0.2.30", 32),
                // A peer address is reported with the peer's length.
                addr(2, "192.0.2.40", 31),
                addr(2, "2001:db8::10", 64),
            ],
        );
        let vips: Vec<IpAddr> = got.vips.iter().map(|v| v.addr).collect();
        assert_eq!(
            vips,
            vec![ip("192.0.2.10"), ip("192.0.2.40"), ip("2001:db8::10")]
        );
        assert!(got.routes.is_empty() && got.rules.is_empty());

        // Another prefix length of the same address (an operator's /24
        // that shares the VIP's address) is not the VIP.
        assert!(affected(&h, index, &[addr(2, "192.0.2.10", 24)]).is_empty());
        // The dev VIP on its own interface.
        let got = affected(&h, index, &[addr(3, "192.0.2.20", 32)]);
        assert_eq!(got.vips.len(), 1);
    }

    #[test]
    fn routes_and_rules_match_on_table_protocol_and_priority() {
        let h = held();
        let ours = |table: u32, protocol: u8| Removal::Route {
            family: Family::V4,
            table,
            dst: Some(ip("198.51.100.0")),
            prefix: 24,
            protocol,
        };
        assert_eq!(affected(&h, index, &[ours(100, 18)]).routes.len(), 1);
        // Same destination in another table, or another protocol's (an
        // operator's `proto static` route): not ours.
        assert!(affected(&h, index, &[ours(254, 18)]).is_empty());
        assert!(affected(&h, index, &[ours(100, 4)]).is_empty());
        let rule = |priority: Option<u32>, protocol: u8| Removal::Rule {
            family: Family::V4,
            protocol,
            priority,
        };
        assert_eq!(affected(&h, index, &[rule(Some(50), 18)]).rules.len(), 1);
        assert!(affected(&h, index, &[rule(Some(51), 18)]).is_empty());
        assert!(affected(&h, index, &[rule(Some(50), 0)]).is_empty());
    }

    #[test]
    fn retries_back_off_up_to_a_bound() {
        let secs: Vec<u64> = (1..=8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(retry_delay(u32::MAX), VIP_RETRY_MAX);
    }

    #[test]
    fn an_overrun_checks_every_tracked_entry() {
        let got = affected(&held(), index, &[Removal::Overrun]);
        assert_eq!(got.vips.len(), 4, "all but the no_track VIP");
        assert_eq!((got.routes.len(), got.rules.len()), (1, 1));
    }
}
