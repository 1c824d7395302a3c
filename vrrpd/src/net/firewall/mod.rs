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
//!     set vips6_ll_name { type ipv6_addr . ifname; }  # only if some VIP needs it
//!     chain in  { type filter hook input  priority -1; policy accept;
//!         meta l4proto vrrp accept
//!         icmpv6 type 135-136 accept           # neighbour solicitation / advertisement
//!         ip daddr @vips4 drop
//!         ip6 daddr @vips6 drop
//!         ip6 daddr . iif @vips6_ll drop
//!         ip6 daddr . iifname @vips6_ll_name drop  # with its set
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
//!   another link. As in keepalived (`vrrp_nftables.c`, keepalived.conf(5)
//!   on `nftables_ifindex`), it is keyed by interface index, except for an
//!   instance with `dont_track_primary`: its interface may be deleted and
//!   made again while it stays master, with a new index, so its
//!   link-local VIPs on that interface (and its `no_track` ones) are keyed
//!   by interface name, in the set `vips6_ll_name`. `nftables_ifindex`
//!   keys them all by index. The name set and its rules exist only when
//!   some VIP is keyed by name.
//! - The output chain drops packets from the VIPs: a master in no_accept
//!   mode does not speak from them either (keepalived does the same).
//!
//! # Lifecycle
//!
//! At start the table of the same name left by an earlier run (a crash or
//! SIGKILL; keepalived's `ip` / `ip6` tables of that name too) is deleted,
//! unless nf_tables is a module that is not loaded (no table can exist
//! then, and asking would load it: see [`NfTablesProbe`]);
//! the table is created when some instance needs it; a reload creates,
//! rebuilds or deletes it as the new configuration needs; a clean exit
//! deletes it. If nf_tables cannot be used, one error says so and names
//! the instances whose VIPs will accept packets, and vrrpd carries on.
//! A reload that changes the table's settings (name, priority, counters,
//! which VIPs are keyed by interface name) replaces the table with the new
//! one, elements included, in one transaction.
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
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use tracing::{debug, error, info, warn};

use msg::{CmpOp, Expr, Hook, KeyType, MetaKey, NfProto, PayloadBase, Request, Verdict};
pub use msg::{Elem, IfName};
use socket::NfSocket;

/// The table and how its chains are made (`global_defs`: `nftables`,
/// `nftables_priority`, `nftables_counters`, `nftables_ifindex`), and which
/// link-local VIPs are keyed by interface name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub priority: i32,
    pub counters: bool,
    /// `nftables_ifindex`: every link-local VIP keyed by interface index.
    pub ifindex: bool,
    /// Instance -> its link-local VIPs keyed by interface name (empty with
    /// `nftables_ifindex`); see [`TableSpec::from_config`].
    pub by_name: BTreeMap<String, BTreeSet<Ipv6Addr>>,
}

impl TableSpec {
    /// keepalived (`nft_update_ipv6_address`) keys a link-local VIP by
    /// interface name when `nftables_ifindex` is not set, the instance has
    /// `dont_track_primary`, and the VIP is on the instance's own interface
    /// (its VMAC with `use_vmac`) or is `no_track`: those are the VIPs
    /// whose interface may vanish and come back, with another index,
    /// while the instance stays master. Every other one is keyed by index.
    pub fn from_config(c: &conf::model::Config) -> TableSpec {
        let g = &c.global_defs;
        let by_name = if g.nftables_ifindex {
            BTreeMap::new()
        } else {
            c.vrrp_instances
                .iter()
                .filter(|i| i.dont_track_primary)
                .filter_map(|i| {
                    let own = |a: &conf::model::IpAddress| {
                        a.dev.is_none() || (i.use_vmac.is_none() && a.dev == i.interface)
                    };
                    let ll: BTreeSet<Ipv6Addr> = i
                        .virtual_ipaddress
                        .iter()
                        .chain(&i.virtual_ipaddress_excluded)
                        .filter(|a| a.no_track || own(a))
                        .filter_map(|a| match a.address.ip() {
                            IpAddr::V6(v) if is_link_local(v) => Some(v),
                            _ => None,
                        })
                        .collect();
                    (!ll.is_empty()).then(|| (i.name.clone(), ll))
                })
                .collect()
        };
        TableSpec {
            name: g
                .nftables
                .clone()
                .unwrap_or_else(|| conf::model::DEFAULT_NFTABLES_TABLE.to_owned()),
            priority: g.nftables_priority,
            counters: g.nftables_counters,
            ifindex: g.nftables_ifindex,
            by_name,
        }
    }

    /// Whether some link-local VIP is keyed by name: the table then has the
    /// set `vips6_ll_name` and its rules.
    pub fn has_name_set(&self) -> bool {
        !self.by_name.is_empty()
    }

    fn keyed_by_name(&self, instance: &str, addr: &Ipv6Addr) -> bool {
        self.by_name.get(instance).is_some_and(|s| s.contains(addr))
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
const SETS: [(&str, u32, KeyType); 4] = [
    ("vips4", 1, KeyType::Ipv4Addr),
    ("vips6", 2, KeyType::Ipv6Addr),
    ("vips6_ll", 3, KeyType::Ipv6AddrIfindex),
    ("vips6_ll_name", 4, KeyType::Ipv6AddrIfname),
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
    V6LinkLocalName,
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
        AddrFamily::V6LinkLocalName => (
            NfProto::Ipv6,
            if input { 24 } else { 8 },
            16,
            KeyType::Ipv6AddrIfname,
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
    // The address fills register 1; the interface index (or name)
    // follows in register 2, making the 20-byte (32-byte) concatenated key.
    let iface = match (fam, input) {
        (AddrFamily::V6LinkLocal, true) => Some(MetaKey::Iif),
        (AddrFamily::V6LinkLocal, false) => Some(MetaKey::Oif),
        (AddrFamily::V6LinkLocalName, true) => Some(MetaKey::IifName),
        (AddrFamily::V6LinkLocalName, false) => Some(MetaKey::OifName),
        _ => None,
    };
    if let Some(key) = iface {
        m.push(Expr::Meta {
            key,
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
    let names = t.has_name_set();
    for (name, id, key) in SETS {
        if key != KeyType::Ipv6AddrIfname || names {
            r.push(Request::new_set(n, name, key, id));
        }
    }
    let mut families = vec![AddrFamily::V4, AddrFamily::V6, AddrFamily::V6LinkLocal];
    if names {
        families.push(AddrFamily::V6LinkLocalName);
    }
    for (chain, hook) in [("in", Hook::Input), ("out", Hook::Output)] {
        r.push(Request::new_rule(n, chain, &vrrp_rule(t.counters)));
        r.push(Request::new_rule(n, chain, &nd_rule(t.counters)));
        for fam in &families {
            r.push(Request::new_rule(
                n,
                chain,
                &drop_rule(*fam, hook, t.counters),
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

/// fe80::/10 (RFC 4291 §2.5.6).
fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The element that drops traffic for `addr` on interface `ifindex` (a
/// link-local one keyed by index; [`Firewall::hold`] keys it by name where
/// the configuration says so).
pub fn elem_of(addr: IpAddr, ifindex: u32) -> Elem {
    match addr {
        IpAddr::V4(a) => Elem::V4(a),
        IpAddr::V6(a) if is_link_local(a) => Elem::V6LinkLocal(a, ifindex),
        IpAddr::V6(a) => Elem::V6(a),
    }
}

fn addr_of(e: &Elem) -> IpAddr {
    match e {
        Elem::V4(a) => IpAddr::V4(*a),
        Elem::V6(a) | Elem::V6LinkLocal(a, _) | Elem::V6LinkLocalName(a, _) => IpAddr::V6(*a),
    }
}

/// `e` keyed as `spec` wants it for `instance`: a link-local element by
/// interface name or by index, converting with the interface as it is now
/// (the VIP is on it). If the interface cannot be found, `e` stays as it
/// is: it then matches nothing, which is what a VIP on a vanished
/// interface needs.
fn rekey(spec: &TableSpec, instance: &str, e: Elem) -> Elem {
    match e {
        Elem::V6LinkLocal(a, ix) if spec.keyed_by_name(instance, &a) => {
            match nix::net::if_::if_indextoname(ix) {
                Ok(n) => match n.to_str().ok().and_then(IfName::new) {
                    Some(name) => Elem::V6LinkLocalName(a, name),
                    None => e,
                },
                Err(err) => {
                    warn!(instance, vip = %a, ifindex = ix, "no name for the VIP's interface ({err}): keyed by index");
                    e
                }
            }
        }
        Elem::V6LinkLocalName(a, name) if !spec.keyed_by_name(instance, &a) => {
            match nix::net::if_::if_nametoindex(name.as_str()) {
                Ok(ix) => Elem::V6LinkLocal(a, ix),
                Err(err) => {
                    warn!(instance, vip = %a, ifname = name.as_str(), "no index for the VIP's interface ({err}): keyed by name");
                    e
                }
            }
        }
        _ => e,
    }
}

/// What the host says about nf_tables, read from files before any
/// netfilter socket is opened: opening a `NETLINK_NETFILTER` socket and
/// sending it an nf_tables batch make the kernel load `nfnetlink` and
/// `nf_tables` if they are modules, which a host that never uses nf_tables
/// should not get from a daemon that merely looks for stale tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfTablesProbe {
    /// `/sys/module/nf_tables` exists. Every loaded module has its
    /// directory there; built-in code only if it has parameters, which
    /// nf_tables has not (on this project's build host, nf_tables is
    /// built in and the directory is absent).
    pub sys_module: bool,
    /// `/proc/modules`: the loaded modules; absent on a kernel built
    /// without module support.
    pub proc_modules: Option<String>,
    /// `/lib/modules/RELEASE/modules.builtin`: the modules built into the
    /// running kernel, one path a line.
    pub modules_builtin: Option<String>,
}

impl NfTablesProbe {
    pub fn read() -> NfTablesProbe {
        let builtin = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| {
                std::fs::read_to_string(format!("/lib/modules/{}/modules.builtin", r.trim())).ok()
            });
        NfTablesProbe {
            sys_module: std::path::Path::new("/sys/module/nf_tables").exists(),
            proc_modules: std::fs::read_to_string("/proc/modules").ok(),
            modules_builtin: builtin,
        }
    }

    /// Whether an nf_tables table may exist: false only when nf_tables is
    /// known to be a module that is not loaded (its tables went with it).
    /// When it cannot be told whether nf_tables is built in, the answer
    /// is yes: a stale table left in place would keep dropping packets
    /// for VIPs, worse than loading a module.
    pub fn may_have_tables(&self) -> bool {
        if self.sys_module {
            return true;
        }
        // No module support: nf_tables is built in or absent, and the
        // socket cannot load anything.
        let Some(loaded) = &self.proc_modules else {
            return true;
        };
        if loaded
            .lines()
            .any(|l| l.split_whitespace().next() == Some("nf_tables"))
        {
            return true;
        }
        match &self.modules_builtin {
            Some(b) => b.lines().any(|l| l.trim_end().ends_with("/nf_tables.ko")),
            None => true,
        }
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
        if NfTablesProbe::read().may_have_tables() {
            fw.remove_stale();
        } else {
            debug!(
                "nf_tables is not loaded: no stale table to remove (the module is left unloaded)"
            );
        }
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
            "nftables_ifindex": self.spec.ifindex,
            "link_local_by_name": self.spec.by_name,
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
            let e = rekey(&self.spec, instance, e);
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
            if self.state == TableState::Installed && !self.needed() {
                info!(table = %self.table(), "no instance in no_accept mode any more");
                self.delete_table(&self.spec.name.clone());
                self.state = TableState::Absent;
            }
            let old = std::mem::replace(&mut self.spec, spec);
            // `nftables_ifindex` or the VIPs keyed by name may have
            // changed: the elements held follow before the new table is
            // made with them.
            self.rekey_held();
            if self.state == TableState::Installed {
                info!(
                    old = format!("inet {}", old.name),
                    table = %self.table(),
                    "nftables settings changed: replacing the table"
                );
                self.install(Some(&old.name));
            } else {
                self.state = TableState::Absent;
            }
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
            self.delete_table(&self.spec.name.clone());
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
            (TableState::Absent, true) => self.install(None),
            (TableState::Installed, false) => {
                info!(table = %self.table(), "no instance in no_accept mode any more");
                self.delete_table(&self.spec.name.clone());
                self.state = TableState::Absent;
            }
            _ => {}
        }
    }

    /// Every element held keyed as the current spec wants it, and the
    /// reference counts to match.
    fn rekey_held(&mut self) {
        let mut refs = BTreeMap::new();
        for (instance, mine) in self.held.iter_mut() {
            *mine = mine
                .iter()
                .map(|e| rekey(&self.spec, instance, *e))
                .collect();
            for e in mine.iter() {
                *refs.entry(*e).or_insert(0) += 1;
            }
        }
        self.refs = refs;
    }

    /// The table, its chains and rules, and every element held, in one
    /// transaction; with `replacing`, the table of that name is deleted in
    /// the same transaction, so there is no moment without a table.
    fn install(&mut self, replacing: Option<&str>) {
        let mut reqs: Vec<Request> = replacing
            .map(|old| Request::del_table(NfProto::Inet, old))
            .into_iter()
            .collect();
        reqs.extend(ruleset(&self.spec));
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
            // The old table is gone (ENOENT: flushed by someone) or the
            // new one was refused: the transaction did nothing, so the
            // steps are taken apart, the old table deleted on its own.
            Err(e) if replacing.is_some() => {
                debug!(table = %self.table(), "replacing the nftables table: {e}");
                if let Some(old) = replacing {
                    self.delete_table(old);
                }
                self.install(None);
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

    fn delete_table(&mut self, name: &str) {
        let req = Request::del_table(NfProto::Inet, name);
        let table = format!("inet {name}");
        match self.apply(std::slice::from_ref(&req)) {
            Ok(()) => info!(table, "nftables table removed"),
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                debug!(table, "nftables table already gone")
            }
            Err(e) => error!(table, "removing the nftables table: {e}"),
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

    fn spec_of(text: &str) -> TableSpec {
        let opts = conf::keepalived::lexer::ParseOptions::default();
        let loaded = conf::load_keepalived_str("t.conf", text, &opts);
        assert!(!loaded.diagnostics.has_errors(), "{}", loaded.diagnostics);
        TableSpec::from_config(&loaded.config)
    }

    fn ll(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    /// keepalived's rule: by name only for an instance with
    /// `dont_track_primary`, and only its VIPs on its own interface or
    /// `no_track`; `nftables_ifindex` keys everything by index.
    #[test]
    fn link_local_vips_are_keyed_by_name_as_keepalived_does() {
        let inst = |name: &str, vrid: u8, extra: &str| {
            format!(
                "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n no_accept\n{extra}\n                  virtual_ipaddress {{\n  fe80::{vrid}:1/64\n  fe80::{vrid}:2/64 dev eth1\n                   fe80::{vrid}:3/64 dev eth1 no_track\n  fe80::{vrid}:4/64 dev eth0\n  2001:db8::{vrid}/64\n }}\n}}\n"
            )
        };
        let text = format!(
            "{}{}",
            inst("A", 1, " dont_track_primary"),
            inst("B", 2, "")
        );
        let spec = spec_of(&text);
        assert!(!spec.ifindex);
        let a: Vec<Ipv6Addr> = spec.by_name["A"].iter().copied().collect();
        assert_eq!(a, vec![ll("fe80::1:1"), ll("fe80::1:3"), ll("fe80::1:4")]);
        assert!(!spec.by_name.contains_key("B"), "{spec:?}");
        assert!(spec.has_name_set());
        assert!(spec.keyed_by_name("A", &ll("fe80::1:1")));
        assert!(!spec.keyed_by_name("A", &ll("fe80::1:2")));
        assert!(!spec.keyed_by_name("B", &ll("fe80::2:1")));
        // The name set and its two rules are in the table only then.
        let names = |s: &TableSpec| {
            ruleset(s)
                .iter()
                .filter(|r| {
                    r.what.contains("vips6_ll_name")
                        || r.what.ends_with(" in")
                        || r.what.ends_with(" out")
                })
                .count()
        };
        let with = names(&spec);

        let with_ifindex = spec_of(&format!("global_defs {{\n nftables_ifindex\n}}\n{text}"));
        assert!(with_ifindex.ifindex);
        assert!(with_ifindex.by_name.is_empty());
        assert!(!with_ifindex.has_name_set());
        assert_eq!(with, names(&with_ifindex) + 1 + 2);
        assert_ne!(
            spec, with_ifindex,
            "a reload toggling it replaces the table"
        );

        // VMAC: the VIPs without `dev` go on the VMAC, the instance's
        // interface; `dev eth0` is then another interface.
        let vmac = spec_of(&inst("V", 3, " dont_track_primary\n use_vmac"));
        let v: Vec<Ipv6Addr> = vmac.by_name["V"].iter().copied().collect();
        assert_eq!(v, vec![ll("fe80::3:1"), ll("fe80::3:3")]);
    }

    #[test]
    fn stale_tables_are_looked_for_unless_nf_tables_is_an_unloaded_module() {
        let probe = |sys: bool, loaded: Option<&str>, builtin: Option<&str>| NfTablesProbe {
            sys_module: sys,
            proc_modules: loaded.map(str::to_owned),
            modules_builtin: builtin.map(str::to_owned),
        };
        let other = "kernel/net/ipv6/ipv6.ko\nkernel/drivers/net/veth.ko\n";
        let with = "kernel/net/netfilter/nfnetlink.ko\nkernel/net/netfilter/nf_tables.ko\n";
        let loaded =
            "nf_tables 348160 0 - Live 0x0000000000000000\nnfnetlink 20480 1 nf_tables, Live 0x0\n";
        let unloaded = "veth 40960 0 - Live 0x0\nnf_tables_set 1 0 - Live 0x0\n";
        // A loaded module: /sys/module/nf_tables, /proc/modules too.
        assert!(probe(true, Some(loaded), Some(other)).may_have_tables());
        assert!(probe(false, Some(loaded), Some(other)).may_have_tables());
        // This project's build host: built in, no /sys/module entry, no
        // module support at all (/proc/modules absent).
        assert!(probe(false, None, None).may_have_tables());
        // Built in on a modular kernel.
        assert!(probe(false, Some(unloaded), Some(with)).may_have_tables());
        // A module, not loaded (a name that only starts the same does not
        // count): no table can exist, the socket is not opened.
        assert!(!probe(false, Some(unloaded), Some(other)).may_have_tables());
        assert!(!probe(false, Some(""), Some("")).may_have_tables());
        // Cannot tell whether it is built in: look, as before.
        assert!(probe(false, Some(unloaded), None).may_have_tables());
    }

    /// Held elements follow the keying: by name for the instance the spec
    /// names, back to the index when it no longer does. Interface 1 is the
    /// loopback in every namespace.
    #[test]
    fn held_link_local_elements_are_rekeyed_with_the_spec() {
        let mut fw = offline(&[("A", true), ("B", true)]);
        let a = ll("fe80::10");
        fw.spec.by_name = [("A".to_owned(), [a].into_iter().collect())]
            .into_iter()
            .collect();
        let lo = IfName::new("lo").map(|n| Elem::V6LinkLocalName(a, n));
        fw.hold("A", [elem_of(IpAddr::V6(a), 1)]);
        fw.hold("B", [elem_of(IpAddr::V6(a), 1)]);
        assert_eq!(fw.held["A"].iter().next().copied(), lo);
        assert_eq!(fw.held_by("A"), vec!["fe80::10 . ifname lo".to_owned()]);
        assert_eq!(fw.held_by("B"), vec!["fe80::10 . ifindex 1".to_owned()]);
        assert_eq!(fw.refs.len(), 2);

        // nftables_ifindex (or the VIP no longer eligible): by index, and
        // the two holders now share one element.
        fw.spec.by_name.clear();
        fw.rekey_held();
        assert_eq!(fw.held_by("A"), vec!["fe80::10 . ifindex 1".to_owned()]);
        assert_eq!(fw.refs.get(&Elem::V6LinkLocal(a, 1)), Some(&2));
        assert_eq!(fw.refs.len(), 1);
        // Released by address, whatever the key.
        fw.release("A", [IpAddr::V6(a)]);
        fw.release_all("B");
        assert!(fw.refs.is_empty());
    }

    /// A firewall whose table is "installed" without a kernel: the
    /// bookkeeping alone (the kernel side is the netns test's).
    fn offline(modes: &[(&str, bool)]) -> Firewall {
        Firewall {
            spec: TableSpec {
                name: "t".into(),
                priority: -1,
                counters: false,
                ifindex: false,
                by_name: BTreeMap::new(),
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
