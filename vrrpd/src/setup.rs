//! From the validated `conf` model to what the runtime runs.
//!
//! The `conf` model describes everything keepalived.conf can say; this module
//! picks what the VRRP speaker needs for each instance and derives the
//! effective values keepalived derives (family from the addresses, version 3
//! for IPv6, the advertised address list).

use crate::fsm::InstanceConfig;
use crate::net::addr::AddressOptions;
use crate::net::route::{rtn, RouteSpec, RuleSpec};
use crate::notify::NotifierConfig;
use crate::packet::{Advertisement, Auth, ChecksumMode, Expect, Family, Version};
use crate::track::{track_scripts_from_config, Kind, TrackedProcess, Trackers};
use crate::watch::WatchSpec;
use conf::model::{Config, VrrpInstance};
use rtnetlink::packet_route::address::AddressFlags;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A virtual address as the runtime installs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    /// `dev`: the interface the address goes on (and is announced from)
    /// when it is not the instance's; `None`: the instance's interface (its
    /// VMAC with `use_vmac`).
    pub dev: Option<String>,
    /// `scope`: `RT_SCOPE_*`; `None` is global.
    pub scope: Option<u8>,
    /// `brd`, resolved as ip-address(8) does (`+` / `-` from the prefix).
    pub broadcast: Option<Ipv4Addr>,
    /// `peer ADDR[/LEN]`.
    pub peer: Option<(IpAddr, u8)>,
    /// `home`, `mngtmpaddr`, `noprefixroute`, `autojoin`.
    pub flags: AddressFlags,
    /// `preferred_lft` in seconds; `forever` is `u32::MAX`.
    pub preferred_lft: Option<u32>,
    /// `no_track`: not followed (keepalived `dont_track`): its interface
    /// going down is no FAULT, and its removal by someone else is left
    /// alone instead of being undone.
    pub no_track: bool,
}

impl Vip {
    /// A plain address on the instance's interface.
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        Vip {
            addr,
            prefix,
            label: None,
            dev: None,
            scope: None,
            broadcast: None,
            peer: None,
            flags: AddressFlags::empty(),
            preferred_lft: None,
            no_track: false,
        }
    }

    /// What the netlink request carries besides the address.
    pub fn options(&self) -> AddressOptions {
        AddressOptions {
            label: self.label.clone(),
            scope: self.scope,
            broadcast: self.broadcast,
            peer: self.peer,
            flags: self.flags,
            preferred_lft: self.preferred_lft,
        }
    }
}

/// What a master installs and a leaving master removes: the VIPs, then the
/// routes, then the rules (removal goes the other way round).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Virtuals {
    pub vips: Vec<Vip>,
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
}

impl Virtuals {
    /// What `self` has that `other` does not: what a reload removes (old
    /// minus new) or adds (new minus old). An entry that changed in any
    /// option counts as removed and added.
    pub fn minus(&self, other: &Virtuals) -> Virtuals {
        fn diff<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
            a.iter().filter(|x| !b.contains(x)).cloned().collect()
        }
        Virtuals {
            vips: diff(&self.vips, &other.vips),
            routes: diff(&self.routes, &other.routes),
            rules: diff(&self.rules, &other.rules),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.vips.is_empty() && self.routes.is_empty() && self.rules.is_empty()
    }
}

/// keepalived's `use_vmac`: a macvlan carrying the virtual router MAC
/// (00-00-5E-00-01-{VRID}, RFC 5798 §7.3), on which the VIPs live and from
/// which adverts and gratuitous ARPs leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacSpec {
    /// Default `vrrp.{VRID}`, as keepalived names it.
    pub name: String,
    pub mac: [u8; 6],
    /// `vmac_xmit_base`: send adverts from the parent interface instead.
    pub xmit_base: bool,
}

/// Everything the runtime needs to run one `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    pub name: String,
    pub interface: String,
    pub family: Family,
    pub version: Version,
    pub fsm: InstanceConfig,
    /// Installed on becoming master: `virtual_ipaddress` then
    /// `virtual_ipaddress_excluded`.
    pub vips: Vec<Vip>,
    /// `virtual_routes`, installed after the VIPs on becoming master and
    /// removed before them.
    pub routes: Vec<RouteSpec>,
    /// `virtual_rules`, installed after the routes, removed first.
    pub rules: Vec<RuleSpec>,
    /// Carried in adverts: `virtual_ipaddress` of the instance's family only
    /// (keepalived leaves the excluded ones out of the packet).
    pub advertised: Vec<IpAddr>,
    /// Empty: multicast to 224.0.0.18 / ff02::12.
    pub unicast_peers: Vec<IpAddr>,
    /// Per-peer TTL bounds (`unicast_peer { ADDR min_ttl N max_ttl M }`).
    pub peer_ttl: Vec<(IpAddr, Option<u8>, Option<u8>)>,
    /// `check_unicast_src`: accept unicast adverts only from listed peers.
    pub check_unicast_src: bool,
    /// `unicast_src_ip`, else `mcast_src_ip`; `None`: the interface's address.
    pub source: Option<IpAddr>,
    pub auth: Auth,
    pub checksum_mode: ChecksumMode,
    pub skip_check_adv_addr: bool,
    /// Gratuitous ARPs / NAs sent per announcement (`garp_master_repeat`).
    pub garp_repeat: u32,
    /// Gratuitous ARPs / NAs per announcement when a master hears a lower
    /// priority master (`garp_lower_prio_repeat`, default
    /// `garp_master_repeat`); 0: none, as in keepalived.
    pub garp_lower_prio_repeat: u32,
    /// keepalived's second burst after a lower priority advert
    /// (`garp_lower_prio_delay`, default `garp_master_delay`); `None`: no
    /// second burst.
    pub garp_lower_prio_delay: Option<Duration>,
    pub vmac: Option<VmacSpec>,
    /// Accept mode (RFC 5798 §6.1 `Accept_Mode`; keepalived's `accept` /
    /// `no_accept`).
    pub accept: bool,
    /// The instance's tracking configuration as written, so a reload that
    /// only changes trackers counts as a change of the instance.
    pub track_fingerprint: String,
}

impl InstanceSpec {
    /// Whether, as master, it drops packets addressed to its VIPs: not in
    /// accept mode and not the address owner (RFC 5798 §6.4.3: a master
    /// that is not the owner must not accept them unless Accept_Mode is
    /// true; the owner always accepts).
    pub fn drops_vip_traffic(&self) -> bool {
        !self.accept && self.fsm.priority != 255
    }

    /// The VIPs, routes and rules this instance installs as master.
    pub fn virtuals(&self) -> Virtuals {
        Virtuals {
            vips: self.vips.clone(),
            routes: self.routes.clone(),
            rules: self.rules.clone(),
        }
    }

    /// Whether a unicast advert from `src` with `ttl` may be this
    /// instance's: keepalived's `check_unicast_src` and per-peer
    /// `min_ttl` / `max_ttl`. Multicast instances accept any source.
    pub fn unicast_source_ok(&self, src: IpAddr, ttl: u8) -> Result<(), &'static str> {
        if self.unicast_peers.is_empty() {
            return Ok(());
        }
        if self.check_unicast_src && !self.unicast_peers.contains(&src) {
            return Err("unicast_src");
        }
        if let Some((_, min, max)) = self.peer_ttl.iter().find(|(a, _, _)| *a == src) {
            if min.is_some_and(|m| ttl < m) || max.is_some_and(|m| ttl > m) {
                return Err("ttl");
            }
        }
        Ok(())
    }

    /// What a received advert must match to be this instance's (RFC 5798
    /// §7.1). `master` is the router we follow, which keepalived's
    /// `skip_check_adv_addr` exempts from the address-list check.
    pub fn expect(&self, master: Option<IpAddr>) -> Expect<'_> {
        Expect {
            vrid: self.fsm.vrid,
            version: self.version,
            auth: &self.auth,
            adver_int_cs: interval_cs(self.fsm.advert_interval),
            addrs: &self.advertised,
            skip_check_adv_addr: self.skip_check_adv_addr,
            current_master: master,
            // keepalived checks the TTL / hop limit only for multicast:
            // unicast peers may be routed (vrrp.c, "but not if unicast"),
            // and keepalived itself sends IPv6 unicast with hop limit 64.
            // Per-peer min_ttl / max_ttl are checked by the runtime.
            check_ttl: self.unicast_peers.is_empty(),
            checksum_mode: self.checksum_mode,
        }
    }

    /// The advert this instance sends at `priority`.
    pub fn advert(&self, priority: u8) -> Advertisement {
        Advertisement {
            version: self.version,
            vrid: self.fsm.vrid,
            priority,
            max_adver_int: interval_cs(self.fsm.advert_interval),
            auth: self.auth,
            addrs: self.advertised.clone(),
        }
    }
}

/// The advert interval in centiseconds as VRRPv3 carries it (RFC 5798
/// §5.2.7), clamped to the 12-bit field. v2 packets carry whole seconds and
/// the codec converts.
pub fn interval_cs(d: Duration) -> u16 {
    let cs = d.as_millis() / 10;
    cs.clamp(1, 0x0fff) as u16
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SetupError {
    #[error("vrrp_instance {name}: tracking: {detail}")]
    Track { name: String, detail: String },
    #[error("notify: {0}")]
    Notify(String),
    #[error("vrrp_instance {name}: use_vmac: {detail}")]
    Vmac { name: String, detail: String },
    #[error("vrrp_instance {0}: no interface")]
    NoInterface(String),
    #[error("vrrp_instance {name}: version {version} is not 2 or 3")]
    BadVersion { name: String, version: u8 },
    /// A `virtual_ipaddress` line the kernel would refuse or that cannot
    /// mean what it says (a label not starting with the interface name).
    #[error("{at}vrrp_instance {name}: VIP {addr}: {detail}")]
    Address {
        at: String,
        name: String,
        addr: IpAddr,
        detail: String,
    },
    /// A `virtual_routes` / `virtual_rules` line that names something that
    /// does not exist (a table or protocol name).
    #[error("{at}vrrp_instance {name}: {what}: {detail}")]
    Route {
        at: String,
        name: String,
        what: &'static str,
        detail: String,
    },
}

/// Everything the runtime runs for one configuration.
pub struct Plan {
    pub specs: Vec<InstanceSpec>,
    /// One per spec, same order.
    pub trackers: Vec<Trackers>,
    pub watch: WatchSpec,
    pub notifier: NotifierConfig,
    pub sync_groups: Vec<crate::track::SyncGroup>,
    /// Scripts refused by script security (`enable_script_security`), with
    /// why: each is logged, and a refused `vrrp_script` counts as failing.
    pub refused: Vec<(String, String)>,
    /// What the configuration asks for that this vrrpd does not do yet,
    /// with where it was written: logged as warnings at start and reload,
    /// never silently ignored.
    pub unsupported: Vec<String>,
    /// The nf_tables table that enforces `no_accept`.
    pub firewall: crate::net::firewall::TableSpec,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("specs", &self.specs)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// Instances, their trackers, what to watch and how to notify.
pub fn plan(config: &Config) -> Result<Plan, SetupError> {
    let specs = instances(config)?;
    let mut trackers = Vec::with_capacity(specs.len());
    for inst in &config.vrrp_instances {
        let mut t = Trackers::from_config(config, inst);
        for ifname in address_interfaces(inst) {
            t.add_interface(ifname, 0, false);
        }
        trackers.push(t);
    }
    let mut watch = WatchSpec::default();
    let used = |kind: Kind| -> std::collections::BTreeSet<String> {
        trackers
            .iter()
            .flat_map(|t| t.tracked(kind).map(str::to_owned).collect::<Vec<_>>())
            .collect()
    };
    let scripts_used = used(Kind::Script);
    let (scripts, refused) = track_scripts_from_config(config);
    watch.scripts = scripts
        .into_iter()
        .filter(|s| scripts_used.contains(&s.name))
        .collect();
    let mut refused: Vec<(String, String)> = refused
        .into_iter()
        .map(|(n, e)| (n, e.to_string()))
        .collect();
    watch.interfaces = used(Kind::Interface).into_iter().collect();
    let files_used = used(Kind::File);
    watch.files = config
        .track_files
        .iter()
        .filter(|f| files_used.contains(&f.name))
        .map(|f| (f.name.clone(), std::path::PathBuf::from(&f.file)))
        .collect();
    let procs_used = used(Kind::Process);
    watch.processes = config
        .track_processes
        .iter()
        .filter(|p| procs_used.contains(&p.name))
        .map(TrackedProcess::from_config)
        .collect();
    let (notifier, notify_refused) =
        NotifierConfig::from_config(config).map_err(|e| SetupError::Notify(e.to_string()))?;
    refused.extend(
        notify_refused
            .into_iter()
            .map(|e| ("notify".to_owned(), e.to_string())),
    );
    let sync_groups = config
        .sync_groups
        .iter()
        .map(|g| crate::track::SyncGroup::new(g.name.clone(), g.group.iter().cloned()))
        .collect();
    Ok(Plan {
        specs,
        trackers,
        watch,
        notifier,
        sync_groups,
        refused,
        unsupported: unsupported(config),
        firewall: crate::net::firewall::TableSpec::from_config(config),
    })
}

/// Configured behaviour the runtime does not implement yet, one line each.
fn unsupported(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let at = |o: &conf::model::Origin| o.at.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
    if !config.static_ipaddress.is_empty()
        || !config.static_routes.is_empty()
        || !config.static_rules.is_empty()
    {
        out.push(
            "static_ipaddress / static_routes / static_rules are not applied by vrrpd yet".into(),
        );
    }
    for i in &config.vrrp_instances {
        let w = at(&i.origin);
        let name = &i.name;
        for a in i
            .virtual_ipaddress
            .iter()
            .chain(&i.virtual_ipaddress_excluded)
        {
            let wa = at(&a.origin);
            let addr = a.address;
            let mut not_applied = Vec::new();
            for (set, what) in [
                (a.use_vmac, "use_vmac"),
                (a.track_group.is_some(), "track_group"),
            ] {
                if set {
                    not_applied.push(what);
                }
            }
            if !a.is_ipv4() {
                if a.label.is_some() {
                    not_applied.push("label (IPv6 addresses have no labels)");
                }
                if a.brd.is_some() {
                    not_applied.push("brd (IPv6 has no broadcast)");
                }
            }
            if !not_applied.is_empty() {
                out.push(format!(
                    "{wa}vrrp_instance {name}: VIP {addr}: {} not applied",
                    not_applied.join(", ")
                ));
            }
        }
        for r in &i.virtual_routes {
            let mut not_applied = Vec::new();
            for (set, what) in [
                (r.or_via.is_some(), "`or` (alternative gateway)"),
                (r.realms.is_some(), "realms"),
                (r.vrf.is_some(), "vrf"),
                (!r.nexthops.is_empty(), "nexthop (multipath)"),
                (r.pref.is_some(), "pref"),
                (r.append, "append"),
                (r.track_group.is_some(), "track_group"),
            ] {
                if set {
                    not_applied.push(what);
                }
            }
            if r.via.is_some_and(|v| v.is_ipv4() != r.to.is_ipv4()) {
                not_applied.push("a gateway of the other address family (RTA_VIA): route skipped");
            }
            if !not_applied.is_empty() {
                out.push(format!(
                    "{}vrrp_instance {name}: virtual_routes {}: {} not applied",
                    at(&r.origin),
                    r.to,
                    not_applied.join(", ")
                ));
            }
        }
        for r in &i.virtual_rules {
            let mut not_applied = Vec::new();
            for (set, what) in [
                (r.realms.is_some(), "realms"),
                (r.suppress_ifgroup.is_some(), "suppress_ifgroup"),
                (r.l3mdev, "l3mdev"),
                (r.track_group.is_some(), "track_group"),
                (
                    r.ip_proto.as_deref().is_some_and(|p| ip_proto(p).is_none()),
                    "ipproto (unknown protocol name)",
                ),
            ] {
                if set {
                    not_applied.push(what);
                }
            }
            if !not_applied.is_empty() {
                out.push(format!(
                    "{}vrrp_instance {name}: virtual_rules: {} not applied",
                    at(&r.origin),
                    not_applied.join(", ")
                ));
            }
        }
        if !i.track_bfd.is_empty() {
            out.push(format!(
                "{w}vrrp_instance {name}: track_bfd is not supported yet"
            ));
        }
        if i.lower_prio_no_advert || i.higher_prio_send_advert {
            out.push(format!("{w}vrrp_instance {name}: lower_prio_no_advert / higher_prio_send_advert are not supported yet"));
        }
    }
    out
}

/// The instances to run, in config order.
pub fn instances(config: &Config) -> Result<Vec<InstanceSpec>, SetupError> {
    config
        .vrrp_instances
        .iter()
        .map(|i| instance(config, i))
        .collect()
}

fn instance(config: &Config, i: &VrrpInstance) -> Result<InstanceSpec, SetupError> {
    let interface = i
        .interface
        .clone()
        .ok_or_else(|| SetupError::NoInterface(i.name.clone()))?;
    // keepalived decides an instance's family from its first VIP, then its
    // unicast source or peers; IPv4 when nothing says otherwise.
    let family = i
        .virtual_ipaddress
        .first()
        .map(|a| Family::of(&a.ip()))
        .or_else(|| i.unicast_src_ip.as_ref().map(Family::of))
        .or_else(|| i.unicast_peer.first().map(|p| Family::of(&p.address)))
        .unwrap_or(Family::V4);
    // VRRPv2 is IPv4-only (RFC 3768); keepalived runs IPv6 instances as v3.
    let version = match (family, i.version) {
        (Family::V6, _) | (_, 3) => Version::V3,
        (_, 2) => Version::V2,
        (_, v) => {
            return Err(SetupError::BadVersion {
                name: i.name.clone(),
                version: v,
            })
        }
    };
    let vips: Vec<Vip> = i
        .virtual_ipaddress
        .iter()
        .chain(&i.virtual_ipaddress_excluded)
        .map(|a| vip(i, &interface, a))
        .collect::<Result<_, _>>()?;
    let routes = i
        .virtual_routes
        .iter()
        .filter(|r| r.via.is_none_or(|v| v.is_ipv4() == r.to.is_ipv4()))
        .map(|r| route(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let rules = i
        .virtual_rules
        .iter()
        .map(|r| rule(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let advertised: Vec<IpAddr> = i
        .virtual_ipaddress
        .iter()
        .map(|a| a.ip())
        .filter(|a| Family::of(a) == family)
        .collect();
    let auth = match (&i.authentication, version) {
        (Some(a), Version::V2) if a.auth_type == conf::model::AuthType::Pass => {
            Auth::pass(&a.auth_pass)
        }
        _ => Auth::None,
    };
    let source = i.unicast_src_ip.or(i.mcast_src_ip);
    let vmac = match &i.use_vmac {
        None => None,
        Some(v) => Some(VmacSpec {
            name: v
                .interface
                .clone()
                .unwrap_or_else(|| format!("vrrp.{}", i.virtual_router_id)),
            mac: match &v.mac {
                Some(text) => {
                    parse_vmac(text, i.virtual_router_id).ok_or_else(|| SetupError::Vmac {
                        name: i.name.clone(),
                        detail: format!("bad MAC address {text:?}"),
                    })?
                }
                None => crate::net::virtual_router_mac(family, i.virtual_router_id),
            },
            xmit_base: i.vmac_xmit_base,
        }),
    };
    let unspecified = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let garp_refresh = (!i.garp_master_refresh.is_zero()).then_some(i.garp_master_refresh);
    let garp_delay = (!i.garp_master_delay.is_zero()).then_some(i.garp_master_delay);
    let fsm = InstanceConfig {
        name: i.name.clone(),
        vrid: i.virtual_router_id,
        version,
        priority: i.priority,
        advert_interval: i.advert_int,
        preempt: i.preempt,
        preempt_delay: i.preempt_delay,
        start_as_master: i.state == conf::model::State::Master,
        // The runtime fills in the interface address when no source is set.
        primary_addr: source.unwrap_or(unspecified),
        // With a VMAC both routers own the virtual MAC: nothing needs time
        // to move (no client ARP cache changes), and an old master that
        // keeps the VIPs answers the new master's gratuitous ARP from the
        // virtual MAC, steering the switch back to itself until the next
        // advert (seen as ~1 advert interval of loss). Release at once.
        release_hold: if vmac.is_some() {
            Duration::ZERO
        } else {
            release_hold(i.advert_int)
        },
        garp_master_delay: garp_delay,
        garp_master_refresh: garp_refresh,
    };
    let _ = config;
    Ok(InstanceSpec {
        name: i.name.clone(),
        interface,
        family,
        version,
        fsm,
        vips,
        routes,
        rules,
        advertised,
        unicast_peers: i.unicast_peer.iter().map(|p| p.address).collect(),
        peer_ttl: i
            .unicast_peer
            .iter()
            .filter(|p| p.min_ttl.is_some() || p.max_ttl.is_some())
            .map(|p| (p.address, p.min_ttl, p.max_ttl))
            .collect(),
        check_unicast_src: i.check_unicast_src,
        source,
        auth,
        checksum_mode: ChecksumMode::default(),
        skip_check_adv_addr: i.skip_check_adv_addr,
        garp_repeat: i.garp_master_repeat,
        garp_lower_prio_repeat: i.garp_lower_prio_repeat,
        garp_lower_prio_delay: (!i.garp_lower_prio_delay.is_zero())
            .then_some(i.garp_lower_prio_delay),
        vmac,
        accept: i.accept,
        track_fingerprint: format!(
            "{:?}{:?}{:?}{:?}{}{:?}",
            i.track_interface,
            i.track_script,
            i.track_file,
            i.track_process,
            i.dont_track_primary,
            address_interfaces(i)
        ),
    })
}

/// The other interfaces an instance's VIPs and routes depend on, which it
/// tracks as keepalived does (weight 0: down means FAULT): a VIP on
/// another interface (`dev`) cannot be held while that link is down, and
/// the kernel deletes the routes through a link that goes down. `no_track`
/// on the VIP or route opts out, as in keepalived. The instance's own
/// interface is tracked (or not, `dont_track_primary`) on its own account.
fn address_interfaces(inst: &VrrpInstance) -> Vec<&str> {
    let own = inst.interface.as_deref();
    let vips = inst
        .virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
        .filter(|a| !a.no_track)
        .filter_map(|a| a.dev.as_deref());
    let routes = inst
        .virtual_routes
        .iter()
        .filter(|r| !r.no_track)
        .filter_map(|r| r.dev.as_deref());
    let mut out: Vec<&str> = Vec::new();
    for d in vips.chain(routes) {
        if Some(d) != own && !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Where a list entry was written, as a prefix for messages.
fn located(o: &conf::model::Origin) -> String {
    o.at.as_ref().map(|l| format!("{l}: ")).unwrap_or_default()
}

/// One `virtual_ipaddress` line as the runtime installs it.
fn vip(i: &VrrpInstance, interface: &str, a: &conf::model::IpAddress) -> Result<Vip, SetupError> {
    let refuse = |detail: String| SetupError::Address {
        at: located(&a.origin),
        name: i.name.clone(),
        addr: a.ip(),
        detail,
    };
    // `dev` naming the instance's own interface is the common way of
    // writing "here" (and with use_vmac it still means the VMAC).
    let dev = a.dev.clone().filter(|d| d != interface);
    let on = dev.as_deref().unwrap_or(interface);
    if let Some(label) = &a.label {
        // keepalived and ip-address(8) require this: the label is how
        // ifconfig-era tools name an alias (eth0:web), and the kernel keeps
        // it in a 16-byte field.
        let vmac = i.use_vmac.as_ref().and_then(|v| v.interface.clone());
        let prefixed = label.starts_with(on)
            || (dev.is_none() && vmac.as_deref().is_some_and(|v| label.starts_with(v)));
        if !prefixed {
            return Err(refuse(format!(
                "label {label:?} must start with the interface name {on:?} (as keepalived and ip-address(8) require)"
            )));
        }
        if label.len() > 15 {
            return Err(refuse(format!(
                "label {label:?} is longer than 15 characters (IFNAMSIZ)"
            )));
        }
    }
    let prefix = a.address.prefix();
    let broadcast = match (a.ip(), a.brd) {
        (IpAddr::V4(addr), Some(b)) => broadcast(addr, prefix, b).map_err(refuse)?,
        _ => None,
    };
    Ok(Vip {
        addr: a.ip(),
        prefix,
        label: a.label.clone().filter(|_| a.is_ipv4()),
        dev,
        scope: a.scope.map(conf::model::Scope::value),
        broadcast,
        peer: a.peer.map(|p| (p.ip(), p.prefix())),
        flags: [
            (a.home, AddressFlags::Homeaddress),
            (a.mngtmpaddr, AddressFlags::Managetempaddr),
            (a.noprefixroute, AddressFlags::Noprefixroute),
            (a.autojoin, AddressFlags::Mcautojoin),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .fold(AddressFlags::empty(), |acc, (_, f)| acc | f),
        preferred_lft: a.preferred_lft.map(|p| match p {
            conf::model::PreferredLft::Forever => u32::MAX,
            conf::model::PreferredLft::Seconds(s) => s,
        }),
        no_track: a.no_track,
    })
}

/// `brd` resolved as ip-address(8) does: `+` sets the host bits, `-` clears
/// them, and neither means anything for a /31 or /32 (RFC 3021), where
/// ip(8) sets no broadcast.
fn broadcast(
    addr: Ipv4Addr,
    prefix: u8,
    brd: conf::model::Broadcast,
) -> Result<Option<Ipv4Addr>, String> {
    use conf::model::Broadcast;
    let host_mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    let net = u32::from(addr) & !host_mask;
    Ok(match brd {
        Broadcast::Address(IpAddr::V4(b)) => Some(b),
        Broadcast::Address(b) => return Err(format!("brd {b} is not an IPv4 address")),
        Broadcast::Set if prefix <= 30 => Some(Ipv4Addr::from(net | host_mask)),
        Broadcast::Clear if prefix <= 30 => Some(Ipv4Addr::from(net)),
        Broadcast::Set | Broadcast::Clear => None,
    })
}

/// A routing table number: as written, or from iproute2's `rt_tables`.
fn table_id(t: &conf::model::Table) -> Result<u32, String> {
    match t {
        conf::model::Table::Id(n) => Ok(*n),
        conf::model::Table::Name(name) => iproute2_name("rt_tables", name)
            .ok_or_else(|| format!("table {name:?} is not a number and not in rt_tables")),
    }
}

/// A routing protocol: a number, a name iproute2 knows, or one from
/// `rt_protos`.
fn protocol_id(p: Option<&str>) -> Result<u8, String> {
    let Some(p) = p else {
        return Ok(crate::net::route::RTPROT_KEEPALIVED);
    };
    let known = match p {
        "unspec" => Some(0),
        "redirect" => Some(1),
        "kernel" => Some(2),
        "boot" => Some(3),
        "static" => Some(4),
        "ra" => Some(9),
        "mrt" => Some(10),
        "zebra" => Some(11),
        "bird" => Some(12),
        "dhcp" => Some(16),
        "keepalived" => Some(18),
        "babel" => Some(42),
        "bgp" => Some(186),
        "isis" => Some(187),
        "ospf" => Some(188),
        "rip" => Some(189),
        "eigrp" => Some(192),
        _ => p.parse::<u8>().ok(),
    };
    known
        .or_else(|| iproute2_name("rt_protos", p).and_then(|n| u8::try_from(n).ok()))
        .ok_or_else(|| format!("protocol {p:?} is not a number or a known name"))
}

/// An IP protocol by number or by the few names rules use.
fn ip_proto(p: &str) -> Option<u8> {
    match p {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "gre" => Some(47),
        "esp" => Some(50),
        "ah" => Some(51),
        "ipv6-icmp" | "icmpv6" => Some(58),
        "sctp" => Some(132),
        _ => p.parse().ok(),
    }
}

/// Looks `name` up in iproute2's `file` (`/etc/iproute2`, then the
/// distribution defaults in `/usr/share/iproute2`, and `file.d/*.conf`):
/// lines of `NUMBER NAME`, `#` comments.
fn iproute2_name(file: &str, name: &str) -> Option<u32> {
    let mut paths = Vec::new();
    for dir in ["/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"] {
        paths.push(std::path::PathBuf::from(dir).join(file));
        if let Ok(entries) = std::fs::read_dir(std::path::Path::new(dir).join(format!("{file}.d")))
        {
            let mut more: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            more.sort();
            paths.extend(more);
        }
    }
    paths.iter().find_map(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        text.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let id = words.next()?;
            (words.next()? == name).then(|| parse_id(id)).flatten()
        })
    })
}

fn parse_id(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// One `virtual_routes` line, resolved. What it says that is not applied
/// is reported by [`unsupported`].
fn route(i: &VrrpInstance, r: &conf::model::Route) -> Result<RouteSpec, SetupError> {
    use conf::model::RouteType;
    let refuse = |detail: String| SetupError::Route {
        at: located(&r.origin),
        name: i.name.clone(),
        what: "virtual_routes",
        detail,
    };
    let mut s = RouteSpec::new(r.to.network(), r.to.prefix());
    s.kind = match r.route_type {
        RouteType::Unicast => rtn::UNICAST,
        RouteType::Local => rtn::LOCAL,
        RouteType::Broadcast => rtn::BROADCAST,
        RouteType::Anycast => rtn::ANYCAST,
        RouteType::Multicast => rtn::MULTICAST,
        RouteType::Blackhole => rtn::BLACKHOLE,
        RouteType::Unreachable => rtn::UNREACHABLE,
        RouteType::Prohibit => rtn::PROHIBIT,
        RouteType::Throw => rtn::THROW,
        RouteType::Nat => rtn::NAT,
    };
    s.via = r.via;
    s.src = r.src;
    s.dev = r.dev.clone();
    s.scope = r.scope.map(conf::model::Scope::value);
    if let Some(t) = &r.table {
        s.table = table_id(t).map_err(refuse)?;
    }
    s.metric = r.metric;
    s.protocol = protocol_id(r.protocol.as_deref()).map_err(refuse)?;
    s.tos = r.tos.unwrap_or(0);
    s.onlink = r.onlink;
    s.metrics.mtu = r.mtu;
    s.metrics.advmss = r.advmss;
    s.metrics.hoplimit = r.hoplimit.map(u32::from);
    s.metrics.initcwnd = r.initcwnd;
    s.metrics.initrwnd = r.initrwnd;
    s.no_track = r.no_track;
    Ok(s)
}

/// One `virtual_rules` line, resolved.
fn rule(i: &VrrpInstance, r: &conf::model::Rule) -> Result<RuleSpec, SetupError> {
    let refuse = |detail: String| SetupError::Route {
        at: located(&r.origin),
        name: i.name.clone(),
        what: "virtual_rules",
        detail,
    };
    // ip-rule(8): the family comes from the addresses, `inet6` forces IPv6.
    let v6 = r.inet6 || r.from.is_some_and(|f| f.is_ipv6()) || r.to.is_some_and(|t| t.is_ipv6());
    let mut s = RuleSpec::new(if v6 { Family::V6 } else { Family::V4 });
    s.from = r.from.map(|f| (f.network(), f.prefix()));
    s.to = r.to.map(|t| (t.network(), t.prefix()));
    s.invert = r.not;
    s.table = r.table.as_ref().map(table_id).transpose().map_err(refuse)?;
    s.goto = r.goto;
    s.priority = r.preference;
    s.iif = r.iif.clone();
    s.oif = r.oif.clone();
    s.tos = r.tos.unwrap_or(0);
    s.fwmark = r.fwmark;
    s.fwmask = r.fwmask;
    s.suppress_prefixlen = r.suppress_prefixlength;
    s.uidrange = r.uidrange;
    s.ip_proto = r.ip_proto.as_deref().and_then(ip_proto);
    s.sport = r.sport.map(|p| (p.start, p.end));
    s.dport = r.dport.map(|p| (p.start, p.end));
    s.protocol = protocol_id(r.protocol.as_deref()).map_err(refuse)?;
    s.no_track = r.no_track;
    Ok(s)
}

/// A MAC as `use_vmac` writes it; five octets mean "append the VRID"
/// (keepalived.conf(5)).
fn parse_vmac(text: &str, vrid: u8) -> Option<[u8; 6]> {
    let octets: Vec<u8> = text
        .split(':')
        .map(|o| u8::from_str_radix(o, 16).ok())
        .collect::<Option<_>>()?;
    match octets.as_slice() {
        [a, b, c, d, e] => Some([*a, *b, *c, *d, *e, vrid]),
        [a, b, c, d, e, f] => Some([*a, *b, *c, *d, *e, *f]),
        _ => None,
    }
}

/// How long a master that is stopping keeps its VIPs after the new master's
/// first advert: long enough for the new master's gratuitous ARP / NA to
/// reach the clients and for packets already in flight to us to be
/// answered, short enough not to hold a duplicate address for long.
fn release_hold(advert: Duration) -> Duration {
    advert.clamp(Duration::from_millis(20), Duration::from_millis(200))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(text: &str) -> Vec<InstanceSpec> {
        let opts = conf::keepalived::lexer::ParseOptions::default();
        let out = conf::keepalived::lexer::parse_str("t.conf", text, &opts);
        assert!(!out.diagnostics.has_errors(), "{}", out.diagnostics);
        let (config, diags) = conf::keepalived::build::build(&out.nodes, &out.sources);
        assert!(!diags.has_errors(), "{diags}");
        instances(&config).unwrap()
    }

    #[test]
    fn ipv6_instance_runs_v3_and_advertises_only_its_family() {
        let s = specs(
            "vrrp_instance V6 {\n interface eth0\n virtual_router_id 9\n priority 120\n advert_int 0.5\n version 3\n virtual_ipaddress {\n  2001:db8::1/64\n }\n virtual_ipaddress_excluded {\n  192.0.2.9/32\n }\n}\n",
        );
        let s = &s[0];
        assert_eq!(s.family, Family::V6);
        assert_eq!(s.version, Version::V3);
        assert_eq!(s.advertised, vec!["2001:db8::1".parse::<IpAddr>().unwrap()]);
        // Excluded addresses are installed but not advertised.
        assert_eq!(s.vips.len(), 2);
        assert_eq!(s.vips[0].prefix, 64);
        assert_eq!(s.advert(120).max_adver_int, 50);
        assert!(s.expect(None).check_ttl);
    }

    #[test]
    fn v2_password_and_keepalived_defaults() {
        let s = specs(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 51\n authentication {\n  auth_type PASS\n  auth_pass secretpassword\n }\n virtual_ipaddress {\n  192.0.2.200\n }\n}\n",
        );
        let s = &s[0];
        assert_eq!(s.version, Version::V2);
        assert_eq!(s.fsm.priority, 100);
        assert_eq!(s.fsm.advert_interval, Duration::from_secs(1));
        assert!(s.fsm.preempt);
        assert_eq!(s.garp_repeat, 5);
        // Only the first 8 bytes of auth_pass go on the wire (RFC 2338 §5.3.6.1).
        assert_eq!(s.auth, Auth::pass("secretpa"));
        assert_eq!(s.vips[0].prefix, 32);
    }

    #[test]
    fn use_vmac_defaults_to_the_rfc_mac_and_keepalived_name() {
        let s = specs(
            "vrrp_instance M {\n interface eth0\n virtual_router_id 51\n use_vmac\n virtual_ipaddress {\n  192.0.2.50\n }\n}\nvrrp_instance N {\n interface eth0\n virtual_router_id 52\n use_vmac vm52 02:00:00:00:aa\n vmac_xmit_base\n virtual_ipaddress {\n  192.0.2.51\n }\n}\n",
        );
        let m = s[0].vmac.clone().unwrap();
        assert_eq!(m.name, "vrrp.51");
        assert_eq!(m.mac, [0x00, 0x00, 0x5e, 0x00, 0x01, 51]);
        assert!(!m.xmit_base);
        let n = s[1].vmac.clone().unwrap();
        assert_eq!(n.name, "vm52");
        assert_eq!(n.mac, [0x02, 0, 0, 0, 0xaa, 52]);
        assert!(n.xmit_base);
    }

    fn load(text: &str) -> Result<Plan, SetupError> {
        let opts = conf::keepalived::lexer::ParseOptions::default();
        let loaded = conf::load_keepalived_str("t.conf", text, &opts);
        assert!(!loaded.diagnostics.has_errors(), "{}", loaded.diagnostics);
        plan(&loaded.config)
    }

    #[test]
    fn what_vrrpd_does_not_do_yet_is_named_with_its_location() {
        let p = load(
            "vrrp_instance R {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.7/24 dev eth1 track_group G\n }\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1 or 192.0.2.2\n }\n virtual_rules {\n  from 192.0.2.7 table 100 realms 3\n }\n}\n",
        )
        .unwrap();
        let has = |at: &str, what: &str| {
            p.unsupported
                .iter()
                .any(|u| u.starts_with(at) && u.contains(what))
        };
        assert!(has("t.conf:5:", "track_group"), "{:?}", p.unsupported);
        assert!(has("t.conf:8:", "`or`"), "{:?}", p.unsupported);
        assert!(has("t.conf:11:", "realms"), "{:?}", p.unsupported);
        // What is applied is not reported.
        assert!(!p.unsupported.iter().any(|u| u.contains("`dev`")));
    }

    #[test]
    fn vip_options_are_resolved() {
        let s = specs(
            "vrrp_instance O {\n interface eth0\n virtual_router_id 8\n virtual_ipaddress {\n  192.0.2.10/24 brd + scope link label eth0:web\n  192.0.2.11/24 brd - dev eth1\n  192.0.2.12/32 brd + dev eth0\n  192.0.2.13 peer 192.0.2.99/32 scope host\n  192.0.2.14/24 brd 192.0.2.127 noprefixroute preferred_lft 0\n }\n}\n",
        );
        let v = &s[0].vips;
        assert_eq!(v[0].broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        assert_eq!(v[0].scope, Some(253));
        assert_eq!(v[0].label.as_deref(), Some("eth0:web"));
        assert_eq!(v[0].dev, None);
        assert_eq!(v[1].broadcast, Some(Ipv4Addr::new(192, 0, 2, 0)));
        assert_eq!(v[1].dev.as_deref(), Some("eth1"));
        // ip(8) sets no broadcast on a /31 or /32; `dev` naming the
        // instance's interface is the instance's interface.
        assert_eq!(v[2].broadcast, None);
        assert_eq!(v[2].dev, None);
        assert_eq!(v[3].peer, Some(("192.0.2.99".parse().unwrap(), 32)));
        assert_eq!(v[3].scope, Some(254));
        assert_eq!(v[4].broadcast, Some(Ipv4Addr::new(192, 0, 2, 127)));
        assert_eq!(v[4].flags, AddressFlags::Noprefixroute);
        assert_eq!(v[4].preferred_lft, Some(0));
    }

    /// keepalived's own sample files: what they say about addresses,
    /// routes and rules is accepted by the planner (or reported as not
    /// applied), never refused. The routes and rules samples plan fully.
    #[test]
    fn every_keepalived_sample_plans() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/keepalived-samples");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("keepalived.conf") {
                continue;
            }
            let opts = conf::keepalived::lexer::ParseOptions::default();
            let loaded = conf::load_file(&path, &opts);
            assert!(
                !loaded.diagnostics.has_errors(),
                "{name}: {}",
                loaded.diagnostics
            );
            // Other refusals (an undefined track_script, say) are not
            // this test's business.
            if let Err(e) = plan(&loaded.config) {
                assert!(
                    !matches!(e, SetupError::Address { .. } | SetupError::Route { .. }),
                    "{name}: {e}"
                );
            }
            if name.ends_with(".routes") || name.ends_with(".rules") {
                let p = plan(&loaded.config).unwrap();
                let (routes, rules): (usize, usize) = p
                    .specs
                    .iter()
                    .map(|s| (s.routes.len(), s.rules.len()))
                    .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
                assert!(routes + rules > 0, "{name}: {:?}", p.unsupported);
            }
            n += 1;
        }
        assert_eq!(n, 25);
    }

    #[test]
    fn interfaces_of_vips_and_routes_are_tracked_unless_no_track() {
        let p = load(
            "vrrp_instance T {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  192.0.2.10/24 dev eth1\n  192.0.2.11/24 dev eth2 no_track\n  192.0.2.12/24 dev eth0\n }\n virtual_routes {\n  198.51.100.0/24 via 203.0.113.1 dev eth3\n  203.0.113.0/24 dev eth4 no_track\n }\n}\n",
        )
        .unwrap();
        let tracked: Vec<&str> = p.trackers[0].tracked(Kind::Interface).collect();
        assert_eq!(tracked, vec!["eth0", "eth1", "eth3"]);
        assert_eq!(p.watch.interfaces, vec!["eth0", "eth1", "eth3"]);
    }

    #[test]
    fn a_label_must_start_with_the_interface_name() {
        let e = load(
            "vrrp_instance L {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  192.0.2.10/24 label web\n }\n}\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("t.conf:5:"), "{text}");
        assert!(
            text.contains("must start with the interface name \"eth0\""),
            "{text}"
        );
        // With `dev`, the label follows that interface.
        let e = load(
            "vrrp_instance L {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  192.0.2.10/24 dev eth1 label eth0:x\n }\n}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"eth1\""), "{e}");
        assert!(load(
            "vrrp_instance L {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  192.0.2.10/24 dev eth1 label eth1:x\n }\n}\n",
        )
        .is_ok());
    }

    #[test]
    fn routes_and_rules_are_resolved() {
        let s = specs(
            "vrrp_instance R {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.7/24\n }\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1 dev eth0\n  blackhole 203.0.113.0/24\n  src 192.0.2.7 to 198.51.100.128/25 via 192.0.2.1 table 100 metric 5 protocol static\n }\n virtual_rules {\n  from 192.0.2.200 table 100 preference 1000\n  not to 2001:db8::/32 fwmark 0x10/0xff iif eth0 lookup main\n }\n}\n",
        );
        let r = &s[0].routes;
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].to_string(), "198.51.100.0/24 via 192.0.2.1 dev eth0");
        assert_eq!(r[0].protocol, crate::net::route::RTPROT_KEEPALIVED);
        assert_eq!(r[1].kind, rtn::BLACKHOLE);
        assert_eq!(r[2].table, 100);
        assert_eq!(r[2].metric, Some(5));
        assert_eq!(r[2].protocol, 4);
        assert_eq!(r[2].src, Some("192.0.2.7".parse().unwrap()));
        let u = &s[0].rules;
        assert_eq!(u[0].to_string(), "pref 1000 from 192.0.2.200/32 lookup 100");
        assert_eq!(u[1].family, Family::V6);
        assert!(u[1].invert);
        assert_eq!(u[1].fwmark, Some(0x10));
        assert_eq!(u[1].fwmask, Some(0xff));
        assert_eq!(u[1].table, Some(254));
    }

    #[test]
    fn a_reload_difference_names_only_what_changed() {
        let old = specs(
            "vrrp_instance D {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.7/24\n  192.0.2.8/24 label eth0:a\n }\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1\n  blackhole 203.0.113.0/24\n }\n virtual_rules {\n  from 192.0.2.200 table 100\n }\n}\n",
        );
        let new = specs(
            "vrrp_instance D {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.7/24\n  192.0.2.8/24 label eth0:b\n }\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1\n }\n virtual_rules {\n  from 192.0.2.200 table 100\n }\n}\n",
        );
        let (o, n) = (old[0].virtuals(), new[0].virtuals());
        assert!(o.minus(&o).is_empty());
        let gone = o.minus(&n);
        assert_eq!(gone.vips.len(), 1);
        assert_eq!(gone.vips[0].label.as_deref(), Some("eth0:a"));
        assert_eq!(gone.routes.len(), 1);
        assert_eq!(gone.routes[0].kind, rtn::BLACKHOLE);
        assert!(gone.rules.is_empty());
        let added = n.minus(&o);
        assert_eq!(added.vips.len(), 1);
        assert!(added.routes.is_empty() && added.rules.is_empty());
    }

    #[test]
    fn an_unknown_table_name_is_refused_with_its_location() {
        let e = load(
            "vrrp_instance R {\n interface eth0\n virtual_router_id 7\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1 table no_such_table\n }\n}\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("t.conf:5:"), "{e}");
        assert!(e.to_string().contains("no_such_table"), "{e}");
    }

    #[test]
    fn lower_prio_garp_settings_default_to_the_master_ones() {
        let s = specs(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n garp_master_repeat 3\n garp_master_delay 2\n virtual_ipaddress {\n  192.0.2.1\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n garp_lower_prio_repeat 0\n garp_lower_prio_delay 0\n virtual_ipaddress {\n  192.0.2.2\n }\n}\n",
        );
        assert_eq!(s[0].garp_lower_prio_repeat, 3);
        assert_eq!(s[0].garp_lower_prio_delay, Some(Duration::from_secs(2)));
        assert_eq!(s[1].garp_lower_prio_repeat, 0);
        assert_eq!(s[1].garp_lower_prio_delay, None);
    }

    #[test]
    fn unicast_skips_the_ttl_check_but_honours_peer_bounds() {
        let s = specs(
            "vrrp_instance U {\n interface eth0\n virtual_router_id 3\n unicast_src_ip 192.0.2.1\n check_unicast_src\n unicast_peer {\n  192.0.2.2 min_ttl 250\n  192.0.2.3\n }\n virtual_ipaddress {\n  192.0.2.100\n }\n}\n",
        );
        let s = &s[0];
        assert!(!s.expect(None).check_ttl);
        assert_eq!(s.source, Some("192.0.2.1".parse().unwrap()));
        let p2: IpAddr = "192.0.2.2".parse().unwrap();
        let p3: IpAddr = "192.0.2.3".parse().unwrap();
        let stranger: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(s.unicast_source_ok(p2, 255), Ok(()));
        assert_eq!(s.unicast_source_ok(p2, 249), Err("ttl"));
        assert_eq!(s.unicast_source_ok(p3, 64), Ok(()));
        assert_eq!(s.unicast_source_ok(stranger, 255), Err("unicast_src"));
    }
}
