//! From the validated `conf` model to what the runtime runs.
//!
//! The `conf` model describes everything keepalived.conf can say; this module
//! picks what the VRRP speaker needs for each instance and derives the
//! effective values keepalived derives (family from the addresses, version 3
//! for IPv6, the advertised address list).

use crate::fsm::InstanceConfig;
use crate::notify::NotifierConfig;
use crate::packet::{Advertisement, Auth, ChecksumMode, Expect, Family, Version};
use crate::track::{track_scripts_from_config, Kind, TrackedProcess, Trackers};
use crate::watch::WatchSpec;
use conf::model::{Config, VrrpInstance};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A virtual address as the runtime installs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
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
    pub vmac: Option<VmacSpec>,
    /// The instance's tracking configuration as written, so a reload that
    /// only changes trackers counts as a change of the instance.
    pub track_fingerprint: String,
}

impl InstanceSpec {
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
        trackers.push(
            Trackers::from_config(config, inst).map_err(|e| SetupError::Track {
                name: inst.name.clone(),
                detail: e.to_string(),
            })?,
        );
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
    if !config.virtual_servers.is_empty() {
        out.push(format!(
            "{} virtual_server blocks: health checks, pools and notify scripts run, but no load balancer is updated yet (no IPVS / HAProxy sink is configured)",
            config.virtual_servers.len()
        ));
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
            if a.dev
                .as_deref()
                .is_some_and(|d| Some(d) != i.interface.as_deref())
            {
                out.push(format!("{wa}vrrp_instance {name}: VIP {} `dev` other than the instance interface is not supported yet; it goes on the instance interface", a.address));
            }
            if a.scope.is_some() || a.brd.is_some() || a.peer.is_some() {
                out.push(format!(
                    "{wa}vrrp_instance {name}: VIP {} options scope/brd/peer are not applied yet",
                    a.address
                ));
            }
        }
        if !i.virtual_routes.is_empty() || !i.virtual_rules.is_empty() {
            out.push(format!(
                "{w}vrrp_instance {name}: virtual_routes / virtual_rules are not applied yet"
            ));
        }
        if !i.accept {
            out.push(format!("{w}vrrp_instance {name}: no_accept is not enforced yet (the master accepts packets for its VIPs)"));
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
    if config.sync_groups.iter().any(|g| g.group.len() > 1) {
        out.push("vrrp_sync_group: FAULT spreads to all members and group notifications run, but members do not yet move to MASTER / BACKUP together".into());
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
        .map(|a| Vip {
            addr: a.ip(),
            prefix: a.address.prefix(),
            label: a.label.clone(),
        })
        .collect();
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
        // An IPv6 VMAC needs its own link-local address handling (every
        // node's VMAC has the same MAC, so the same EUI-64 address).
        Some(_) if family == Family::V6 => {
            return Err(SetupError::Vmac {
                name: i.name.clone(),
                detail: "IPv6 instances with use_vmac are not supported yet".into(),
            })
        }
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
        release_hold: release_hold(i.advert_int),
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
        vmac,
        track_fingerprint: format!(
            "{:?}{:?}{:?}{:?}{}",
            i.track_interface, i.track_script, i.track_file, i.track_process, i.dont_track_primary
        ),
    })
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

    #[test]
    fn what_vrrpd_does_not_do_yet_is_named_with_its_location() {
        let opts = conf::keepalived::lexer::ParseOptions::default();
        let loaded = conf::load_keepalived_str(
            "t.conf",
            "vrrp_instance R {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.7/24 dev eth1\n }\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.1\n }\n}\n",
            &opts,
        );
        assert!(!loaded.diagnostics.has_errors(), "{}", loaded.diagnostics);
        let p = plan(&loaded.config).unwrap();
        assert!(
            p.unsupported
                .iter()
                .any(|u| u.starts_with("t.conf:5:") && u.contains("`dev`")),
            "{:?}",
            p.unsupported
        );
        assert!(
            p.unsupported.iter().any(|u| u.contains("virtual_routes")),
            "{:?}",
            p.unsupported
        );
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
