//! Accept mode (RFC 5798 §6.1 `Accept_Mode`, §6.4.3): a master that is
//! not the address owner must not accept packets addressed to its VIPs
//! unless Accept_Mode is set. keepalived's `no_accept` enforces this with
//! an nf_tables table that drops them; so does vrrpd, over netlink.
//!
//! # The table
//!
//! One `inet` table (keepalived's name `keepalived` unless `nftables NAME`
//! says otherwise; keepalived makes an `ip` and an `ip6` table of that
//! name, one `inet` table does the same work):
//!
//! ```text
//! table inet keepalived {
//!     set vips4    { type ipv4_addr; }
//!     set vips6    { type ipv6_addr; }
//!     set vips6_ll { type ipv6_addr . iface_index; }
//!     chain in  { type filter hook input  priority -1; policy accept;
//!         meta l4proto vrrp accept
//!         icmpv6 type 135-136 accept           # neighbour solicitation / advertisement
//!         ip daddr @vips4 drop
//!         ip6 daddr @vips6 drop
//!         ip6 daddr . iif @vips6_ll drop
//!     }
//!     chain out { type filter hook output priority -1; policy accept;
//!         (the same with saddr and oif)
//!     }
//! }
//! ```
//!
//! - The sets hold the VIPs of the masters in no_accept mode, added when
//!   an instance becomes MASTER (before its addresses are added) and
//!   removed when it leaves (after its addresses are gone), so there is no
//!   moment when the master holds the VIP and accepts traffic for it.
//! - Neighbour discovery keeps working (as in keepalived's table): the
//!   master must answer neighbour solicitations for the VIPs, or nobody
//!   could reach it. ARP is not IP and never reaches these hooks.
//! - VRRP itself is exempt (not in keepalived's table): adverts are never
//!   the traffic Accept_Mode is about, and a `unicast_src_ip` or a peer
//!   that happens to be another instance's VIP must still be heard.
//! - A link-local VIP (VRRPv3 over IPv6) is only dropped on the interface
//!   it lives on: the same fe80:: address may be a different host on
//!   another link. vrrpd keys it by interface index, which keepalived does
//!   with `nftables_ifindex`.
//! - The output chain drops packets from the VIPs: a master in no_accept
//!   mode does not speak from them either (keepalived does the same).
//!
//! # Lifecycle
//!
//! At start the table of the same name left by an earlier run (a crash or
//! SIGKILL; keepalived's `ip` / `ip6` tables of that name too) is deleted;
//! the table is created when some instance needs it; a reload creates,
//! rebuilds or deletes it as the new configuration needs; a clean exit
//! deletes it. If nf_tables cannot be used, one error says so and names
//! the instances whose VIPs will accept packets, and vrrpd carries on.
//!
//! # Layout
//!
//! - [`msg`]: the messages, sans-IO, tested byte for byte against `nft`.
//! - [`socket`]: the blocking `NETLINK_NETFILTER` transport.
//! - this module: [`Firewall`], which instances hold which elements, and
//!   when the table is made and removed.

pub mod msg;
pub mod socket;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use tracing::{debug, error, info, warn};

pub use msg::Elem;
use msg::{CmpOp, Expr, Hook, KeyType, MetaKey, NfProto, PayloadBase, Request, Verdict};
use socket::NfSocket;

/// The table and how its chains are made (`global_defs`: `nftables`,
/// `nftables_priority`, `nftables_counters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub priority: i32,
    pub counters: bool,
}

impl TableSpec {
    pub fn from_config(g: &conf::model::GlobalDefs) -> TableSpec {
        TableSpec {
            name: g
                .nftables
                .clone()
                .unwrap_or_else(|| conf::model::DEFAULT_NFTABLES_TABLE.to_owned()),
            priority: g.nftables_priority,
            counters: g.nftables_counters,
        }
    }
}

/// Errors of the nf_tables transport; kernel errors keep their errno.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("cannot open a NETLINK_NETFILTER socket: {0}")]
    Socket(#[source] io::Error),
    #[error("{request}: {source}")]
    Io {
        request: String,
        #[source]
        source: io::Error,
    },
    #[error("{request}: no answer from the kernel within {timeout:?}")]
    Timeout { request: String, timeout: Duration },
    #[error("{request}: {}", io::Error::from_raw_os_error(*errno))]
    Kernel { request: String, errno: i32 },
    #[error("undecodable netlink answer: {0}")]
    Decode(String),
}

impl FirewallError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            FirewallError::Kernel { errno, .. } => Some(*errno),
            FirewallError::Socket(e) | FirewallError::Io { source: e, .. } => e.raw_os_error(),
            _ => None,
        }
    }
}

/// The sets, their ids in the batch that creates them, and the family of
/// address each holds.
const SETS: [(&str, u32, KeyType); 3] = [
    ("vips4", 1, KeyType::Ipv4Addr),
    ("vips6", 2, KeyType::Ipv6Addr),
    ("vips6_ll", 3, KeyType::Ipv6AddrIfindex),
];

fn set_of(k: KeyType) -> (&'static str, u32) {
    match SETS.iter().find(|s| s.2 == k) {
        Some((name, id, _)) => (name, *id),
        // SETS names every key type.
        None => ("vips4", 1),
    }
}

/// Which address a drop rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrFamily {
    V4,
    V6,
    V6LinkLocal,
}

/// `ip daddr @vips4 drop` and its kin: the destination (input) or source
/// (output) address, for link-local ones with the interface, looked up in
/// the set of that family.
pub fn drop_rule(fam: AddrFamily, hook: Hook, counter: bool) -> Vec<Expr> {
    let input = hook == Hook::Input;
    // IPv4: saddr at 12, daddr at 16; IPv6: saddr at 8, daddr at 24.
    let (nfproto, offset, len, key) = match fam {
        AddrFamily::V4 => (
            NfProto::Ipv4,
            if input { 16 } else { 12 },
            4,
            KeyType::Ipv4Addr,
        ),
        AddrFamily::V6 => (
            NfProto::Ipv6,
            if input { 24 } else { 8 },
            16,
            KeyType::Ipv6Addr,
        ),
        AddrFamily::V6LinkLocal => (
            NfProto::Ipv6,
            if input { 24 } else { 8 },
            16,
            KeyType::Ipv6AddrIfindex,
        ),
    };
    let (set, set_id) = set_of(key);
    // An inet chain sees both families: match the family first.
    let mut m = meta_is(MetaKey::NfProto, nfproto.number()).to_vec();
    m.push(Expr::Payload {
        base: PayloadBase::Network,
        offset,
        len,
        dreg: msg::REG_1,
    });
    if fam == AddrFamily::V6LinkLocal {
        // The address fills register 1; the interface index follows in
        // register 2, making the 20-byte concatenated key.
        m.push(Expr::Meta {
            key: if input { MetaKey::Iif } else { MetaKey::Oif },
            dreg: msg::REG_2,
        });
    }
    m.push(Expr::Lookup {
        sreg: msg::REG_1,
        set: set.to_owned(),
        set_id,
    });
    rule(m, counter, Verdict::Drop)
}

/// `IPPROTO_VRRP` (RFC 5798 §5.1.1.4) and `IPPROTO_ICMPV6`.
const IPPROTO_VRRP: u8 = 112;
const IPPROTO_ICMPV6: u8 = 58;

/// `meta KEY VALUE`: a one-byte meta key (`nfproto`, `l4proto`) compared
/// with `value`.
fn meta_is(key: MetaKey, value: u8) -> [Expr; 2] {
    [
        Expr::Meta {
            key,
            dreg: msg::REG_1,
        },
        cmp(CmpOp::Eq, value),
    ]
}

fn cmp(op: CmpOp, value: u8) -> Expr {
    Expr::Cmp {
        sreg: msg::REG_1,
        op,
        data: vec![value],
    }
}

/// A rule as nft builds it: the matches, a counter if the table has them
/// (`nftables_counters`), then the verdict.
fn rule(matches: Vec<Expr>, counter: bool, verdict: Verdict) -> Vec<Expr> {
    let mut e = matches;
    if counter {
        e.push(Expr::Counter);
    }
    e.push(Expr::Verdict(verdict));
    e
}

/// `meta l4proto vrrp accept`.
fn vrrp_rule(counter: bool) -> Vec<Expr> {
    rule(
        meta_is(MetaKey::L4Proto, IPPROTO_VRRP).to_vec(),
        counter,
        Verdict::Accept,
    )
}

/// `icmpv6 type 135-136 accept`: neighbour solicitations (135) and
/// advertisements (136), RFC 4861 §4.3, §4.4.
fn nd_rule(counter: bool) -> Vec<Expr> {
    let mut m = meta_is(MetaKey::NfProto, NfProto::Ipv6.number()).to_vec();
    m.extend(meta_is(MetaKey::L4Proto, IPPROTO_ICMPV6));
    m.push(Expr::Payload {
        base: PayloadBase::Transport,
        offset: 0,
        len: 1,
        dreg: msg::REG_1,
    });
    m.push(cmp(CmpOp::Gte, 135));
    m.push(cmp(CmpOp::Lte, 136));
    rule(m, counter, Verdict::Accept)
}

/// Everything that makes the (empty) table, in the order nft sends it.
pub fn ruleset(t: &TableSpec) -> Vec<Request> {
    let n = t.name.as_str();
    let mut r = vec![
        Request::new_table(NfProto::Inet, n),
        Request::new_base_chain(n, "in", Hook::Input, t.priority),
        Request::new_base_chain(n, "out", Hook::Output, t.priority),
    ];
    for (name, id, key) in SETS {
        r.push(Request::new_set(n, name, key, id));
    }
    for (chain, hook) in [("in", Hook::Input), ("out", Hook::Output)] {
        r.push(Request::new_rule(n, chain, &vrrp_rule(t.counters)));
        r.push(Request::new_rule(n, chain, &nd_rule(t.counters)));
        for fam in [AddrFamily::V4, AddrFamily::V6, AddrFamily::V6LinkLocal] {
            r.push(Request::new_rule(
                n,
                chain,
                &drop_rule(fam, hook, t.counters),
            ));
        }
    }
    r
}

/// Elements added (or removed), one request per set.
fn elem_requests(table: &str, elems: &BTreeSet<Elem>, add: bool) -> Vec<Request> {
    let mut by_set: BTreeMap<KeyType, Vec<Elem>> = BTreeMap::new();
    for e in elems {
        by_set.entry(e.key_type()).or_default().push(*e);
    }
    by_set
        .into_iter()
        .map(|(k, es)| {
            let (set, id) = set_of(k);
            if add {
                Request::add_elems(table, set, id, &es)
            } else {
                Request::del_elems(table, set, &es)
            }
        })
        .collect()
}

/// The element that drops traffic for `addr` on interface `ifindex`.
pub fn elem_of(addr: IpAddr, ifindex: u32) -> Elem {
    match addr {
        IpAddr::V4(a) => Elem::V4(a),
        // fe80::/10 (RFC 4291 §2.5.6).
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => Elem::V6LinkLocal(a, ifindex),
        IpAddr::V6(a) => Elem::V6(a),
    }
}

fn addr_of(e: &Elem) -> IpAddr {
    match e {
        Elem::V4(a) => IpAddr::V4(*a),
        Elem::V6(a) | Elem::V6LinkLocal(a, _) => IpAddr::V6(*a),
    }
}

/// Where the table is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TableState {
    /// Not made: no instance needs it.
    Absent,
    Installed,
    /// nf_tables refused it (or is missing); logged once.
    Unavailable(String),
}

/// The accept-mode enforcer: which instances drop traffic for their VIPs,
/// which elements each holds, and the table that does it.
#[derive(Debug)]
pub struct Firewall {
    spec: TableSpec,
    sock: Option<NfSocket>,
    state: TableState,
    /// Instance name -> whether it drops traffic for its VIPs as master
    /// (`no_accept` and priority below 255).
    modes: HashMap<String, bool>,
    /// Instance name -> the elements it holds in the sets.
    held: HashMap<String, BTreeSet<Elem>>,
    /// How many instances hold each element: two instances may share a VIP,
    /// and it stays in the set until the last one leaves MASTER.
    refs: BTreeMap<Elem, u32>,
}

impl Firewall {
    /// A firewall for `modes` (instance, drops traffic for its VIPs). A
    /// stale table of the same name is removed; the table is made if some
    /// instance needs it.
    pub fn start(spec: TableSpec, modes: impl IntoIterator<Item = (String, bool)>) -> Firewall {
        let mut fw = Firewall {
            spec,
            sock: None,
            state: TableState::Absent,
            modes: modes.into_iter().collect(),
            held: HashMap::new(),
            refs: BTreeMap::new(),
        };
        fw.remove_stale();
        fw.sync_table();
        fw
    }

    /// Whether some instance drops traffic for its VIPs as master.
    pub fn needed(&self) -> bool {
        self.modes.values().any(|m| *m)
    }

    pub fn drops_for(&self, instance: &str) -> bool {
        self.modes.get(instance).copied().unwrap_or(false)
    }

    /// The VIPs `instance` currently has in the sets.
    pub fn held_by(&self, instance: &str) -> Vec<String> {
        self.held
            .get(instance)
            .map(|s| s.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The table's name and state for the status document.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "table": format!("inet {}", self.spec.name),
            "priority": self.spec.priority,
            "counters": self.spec.counters,
            "state": match &self.state {
                TableState::Absent => "absent (no instance in no_accept mode)".to_owned(),
                TableState::Installed => "installed".to_owned(),
                TableState::Unavailable(why) => format!("unavailable: {why}"),
            },
            "elements": self.refs.len(),
        })
    }

    /// The instance became MASTER: drop traffic for `elems` before its
    /// addresses are added. Nothing for an instance in accept mode.
    pub fn hold(&mut self, instance: &str, elems: impl IntoIterator<Item = Elem>) {
        if !self.drops_for(instance) {
            return;
        }
        let mine = self.held.entry(instance.to_owned()).or_default();
        let mut fresh = BTreeSet::new();
        for e in elems {
            if mine.insert(e) {
                let n = self.refs.entry(e).or_insert(0);
                *n += 1;
                if *n == 1 {
                    fresh.insert(e);
                }
            }
        }
        if fresh.is_empty() || self.state != TableState::Installed {
            return;
        }
        let reqs = elem_requests(&self.spec.name, &fresh, true);
        match self.apply(&reqs) {
            Ok(()) => info!(
                instance,
                vips = %join(&fresh),
                table = %self.table(),
                "no_accept: dropping packets for the VIPs (RFC 5798 §6.4.3)"
            ),
            // Someone deleted our table (`nft flush ruleset`): make it
            // again, with every element held.
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                warn!(table = %self.table(), "nftables table gone ({e}); creating it again");
                self.state = TableState::Absent;
                self.sync_table();
            }
            Err(e) => error!(
                instance,
                vips = %join(&fresh),
                "no_accept: cannot drop packets for the VIPs, they are accepted: {e}"
            ),
        }
    }

    /// The instance left MASTER (its addresses are gone): its elements
    /// among `addrs` leave the sets unless another instance holds them.
    pub fn release(&mut self, instance: &str, addrs: impl IntoIterator<Item = IpAddr>) {
        let Some(mine) = self.held.get_mut(instance) else {
            return;
        };
        let addrs: BTreeSet<IpAddr> = addrs.into_iter().collect();
        let going: Vec<Elem> = mine
            .iter()
            .filter(|e| addrs.contains(&addr_of(e)))
            .copied()
            .collect();
        let mut last = BTreeSet::new();
        for e in going {
            mine.remove(&e);
            if let Some(n) = self.refs.get_mut(&e) {
                *n -= 1;
                if *n == 0 {
                    self.refs.remove(&e);
                    last.insert(e);
                }
            }
        }
        if mine.is_empty() {
            self.held.remove(instance);
        }
        self.delete_elems(instance, &last);
    }

    /// Every element `instance` holds leaves the sets.
    pub fn release_all(&mut self, instance: &str) {
        let addrs: Vec<IpAddr> = self
            .held
            .get(instance)
            .map(|s| s.iter().map(addr_of).collect())
            .unwrap_or_default();
        self.release(instance, addrs);
    }

    /// A reload: new table settings and instance modes. Instances that
    /// switch to accept mode give their elements back; the caller holds
    /// the VIPs of masters that switched to no_accept (their names are
    /// returned). The table is rebuilt if its settings changed, made if it
    /// is now needed, removed if nothing needs it any more.
    pub fn reconfigure(
        &mut self,
        spec: TableSpec,
        modes: impl IntoIterator<Item = (String, bool)>,
    ) -> Vec<String> {
        let modes: HashMap<String, bool> = modes.into_iter().collect();
        let mut now_dropping = Vec::new();
        for (name, m) in &modes {
            match (self.drops_for(name), *m) {
                (true, false) => {
                    self.modes.insert(name.clone(), false);
                    self.release_all(name);
                }
                (false, true) => now_dropping.push(name.clone()),
                _ => {}
            }
        }
        // Instances that are gone released their elements when they were
        // retired; whatever they still hold goes now.
        let gone: Vec<String> = self
            .held
            .keys()
            .filter(|n| !modes.contains_key(*n))
            .cloned()
            .collect();
        for n in gone {
            self.release_all(&n);
        }
        self.modes = modes;
        if spec != self.spec {
            if self.state == TableState::Installed {
                if self.needed() {
                    info!(old = %self.table(), "nftables settings changed: rebuilding the table");
                } else {
                    info!(table = %self.table(), "no instance in no_accept mode any more");
                }
                self.delete_table();
            }
            self.spec = spec;
            self.state = TableState::Absent;
        }
        if matches!(self.state, TableState::Unavailable(_)) {
            // Try again: the reload may be the operator's answer to the
            // error (a module loaded, a name fixed).
            self.state = TableState::Absent;
        }
        self.sync_table();
        now_dropping
    }

    /// A clean exit: the table goes (with everything in it).
    pub fn shutdown(&mut self) {
        if self.state == TableState::Installed {
            self.delete_table();
        }
        self.state = TableState::Absent;
        self.held.clear();
        self.refs.clear();
    }

    fn table(&self) -> String {
        format!("inet {}", self.spec.name)
    }

    fn socket(&mut self) -> Result<&mut NfSocket, FirewallError> {
        if self.sock.is_none() {
            self.sock = Some(NfSocket::open()?);
        }
        match self.sock.as_mut() {
            Some(s) => Ok(s),
            None => Err(FirewallError::Decode("socket vanished".into())),
        }
    }

    fn apply(&mut self, reqs: &[Request]) -> Result<(), FirewallError> {
        self.socket()?.apply(reqs)
    }

    /// Make the table if needed and not there; remove it if there and not
    /// needed.
    fn sync_table(&mut self) {
        match (&self.state, self.needed()) {
            (TableState::Absent, true) => self.install(),
            (TableState::Installed, false) => {
                info!(table = %self.table(), "no instance in no_accept mode any more");
                self.delete_table();
                self.state = TableState::Absent;
            }
            _ => {}
        }
    }

    /// The table, its chains and rules, and every element held, in one
    /// transaction.
    fn install(&mut self) {
        let mut reqs = ruleset(&self.spec);
        let all: BTreeSet<Elem> = self.refs.keys().copied().collect();
        reqs.extend(elem_requests(&self.spec.name, &all, true));
        match self.apply(&reqs) {
            Ok(()) => {
                self.state = TableState::Installed;
                info!(
                    table = %self.table(),
                    priority = self.spec.priority,
                    counters = self.spec.counters,
                    elements = all.len(),
                    "nftables table created: masters in no_accept mode drop packets for their VIPs"
                );
            }
            Err(e) => {
                let mut names: Vec<&str> = self
                    .modes
                    .iter()
                    .filter(|(_, m)| **m)
                    .map(|(n, _)| n.as_str())
                    .collect();
                names.sort_unstable();
                error!(
                    table = %self.table(),
                    "nf_tables is not usable ({e}): no_accept is NOT enforced, the VIPs of {} \
                     accept packets as masters",
                    names.join(", ")
                );
                self.state = TableState::Unavailable(e.to_string());
            }
        }
    }

    fn delete_table(&mut self) {
        let req = Request::del_table(NfProto::Inet, &self.spec.name);
        match self.apply(std::slice::from_ref(&req)) {
            Ok(()) => info!(table = %self.table(), "nftables table removed"),
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                debug!(table = %self.table(), "nftables table already gone")
            }
            Err(e) => error!(table = %self.table(), "removing the nftables table: {e}"),
        }
    }

    /// Our table of the same name left by a crashed run, and keepalived's
    /// `ip` / `ip6` tables of that name: left in place, they would keep
    /// dropping packets for VIPs we may now hold in accept mode.
    fn remove_stale(&mut self) {
        for family in [NfProto::Inet, NfProto::Ipv4, NfProto::Ipv6] {
            let req = Request::del_table(family, &self.spec.name);
            match self.apply(std::slice::from_ref(&req)) {
                Ok(()) => info!(
                    table = format!("{} {}", family.name(), self.spec.name),
                    "removed a stale nftables table left by an earlier run"
                ),
                Err(e) if e.errno() == Some(libc::ENOENT) => {}
                // No nf_tables at all: said once when the table is needed.
                Err(e) => {
                    debug!(table = %self.spec.name, "checking for a stale nftables table: {e}");
                    return;
                }
            }
        }
    }

    fn delete_elems(&mut self, instance: &str, elems: &BTreeSet<Elem>) {
        if elems.is_empty() || self.state != TableState::Installed {
            return;
        }
        let reqs = elem_requests(&self.spec.name, elems, false);
        let res = match self.apply(&reqs) {
            // One missing element fails the whole batch: take them one by
            // one, "not there" being done.
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                let mut out = Ok(());
                for e in elems {
                    let one: BTreeSet<Elem> = [*e].into();
                    match self.apply(&elem_requests(&self.spec.name, &one, false)) {
                        Err(e) if e.errno() == Some(libc::ENOENT) => {}
                        Err(e) => out = Err(e),
                        Ok(()) => {}
                    }
                }
                out
            }
            r => r,
        };
        match res {
            Ok(()) => info!(
                instance,
                vips = %join(elems),
                "no_accept: VIPs no longer dropped (not master)"
            ),
            Err(e) => {
                error!(instance, vips = %join(elems), "no_accept: removing VIPs from the drop sets: {e}")
            }
        }
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn join(elems: &BTreeSet<Elem>) -> String {
    elems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn link_local_vips_are_keyed_by_interface() {
        let ll: Ipv6Addr = "fe80::12".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(elem_of(IpAddr::V6(ll), 7), Elem::V6LinkLocal(ll, 7));
        let g: Ipv6Addr = "2001:db8::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(elem_of(IpAddr::V6(g), 7), Elem::V6(g));
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(elem_of(IpAddr::V4(v4), 7), Elem::V4(v4));
    }

    #[test]
    fn elements_go_to_the_set_of_their_family_in_one_message_each() {
        let es: BTreeSet<Elem> = [
            Elem::V4(Ipv4Addr::new(192, 0, 2, 1)),
            Elem::V4(Ipv4Addr::new(192, 0, 2, 2)),
            Elem::V6("2001:db8::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)),
        ]
        .into();
        let r = elem_requests("t", &es, true);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].what,
            "add element inet t vips4 { 192.0.2.1, 192.0.2.2 }"
        );
        assert_eq!(r[1].what, "add element inet t vips6 { 2001:db8::1 }");
        let d = elem_requests("t", &es, false);
        assert!(d.iter().all(Request::is_delete));
    }

    /// A firewall whose table is "installed" without a kernel: the
    /// bookkeeping alone (the kernel side is the netns test's).
    fn offline(modes: &[(&str, bool)]) -> Firewall {
        Firewall {
            spec: TableSpec {
                name: "t".into(),
                priority: -1,
                counters: false,
            },
            sock: None,
            state: TableState::Absent,
            modes: modes.iter().map(|(n, m)| (n.to_string(), *m)).collect(),
            held: HashMap::new(),
            refs: BTreeMap::new(),
        }
    }

    #[test]
    fn shared_vips_stay_until_the_last_holder_leaves() {
        let mut fw = offline(&[("A", true), ("B", true), ("C", false)]);
        let vip = Ipv4Addr::new(192, 0, 2, 9);
        fw.hold("A", [Elem::V4(vip)]);
        fw.hold("B", [Elem::V4(vip)]);
        // Accept mode holds nothing.
        fw.hold("C", [Elem::V4(Ipv4Addr::new(192, 0, 2, 10))]);
        assert_eq!(fw.refs.get(&Elem::V4(vip)), Some(&2));
        assert!(fw.held_by("C").is_empty());
        fw.release("A", [IpAddr::V4(vip)]);
        assert_eq!(fw.refs.get(&Elem::V4(vip)), Some(&1));
        assert!(fw.held_by("A").is_empty());
        assert_eq!(fw.held_by("B"), vec!["192.0.2.9".to_owned()]);
        // Holding twice counts once.
        fw.hold("B", [Elem::V4(vip)]);
        assert_eq!(fw.refs.get(&Elem::V4(vip)), Some(&1));
        fw.release_all("B");
        assert!(fw.refs.is_empty());
        assert!(fw.held.is_empty());
    }
}
