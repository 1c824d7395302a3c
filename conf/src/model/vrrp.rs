//! VRRP: `vrrp_script`, `track_file`, `vrrp_track_process`, `bfd_instance`,
//! `vrrp_sync_group` and `vrrp_instance`.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, is_false, IpAddress, Origin, Route, Rule, Script};

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VrrpScript {
    pub name: String,
    pub script: String,
    /// Default 1 s.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// keepalived's default is 0, meaning "the interval"; the model holds the
    /// effective value.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// -253..253, default 0 (failure means FAULT).
    pub weight: i32,
    #[serde(skip_serializing_if = "is_false")]
    pub weight_reverse: bool,
    /// Default 1.
    pub rise: u32,
    /// Default 1.
    pub fall: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub init_fail: bool,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for VrrpScript {
    fn default() -> Self {
        VrrpScript {
            name: String::new(),
            script: String::new(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            group: None,
            init_fail: false,
            origin: Origin::default(),
        }
    }
}

/// `init_file [VALUE] [overwrite]` of a track_file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitFile {
    #[serde(default)]
    pub value: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub overwrite: bool,
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file ... }`
/// (`vrrp_track_file` is a deprecated synonym).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackFile {
    pub name: String,
    pub file: String,
    /// Default 1.
    pub weight: i64,
    #[serde(skip_serializing_if = "is_false")]
    pub weight_reverse: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_file: Option<InitFile>,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for TrackFile {
    fn default() -> Self {
        TrackFile {
            name: String::new(),
            file: String::new(),
            weight: 1,
            weight_reverse: false,
            init_file: None,
            origin: Origin::default(),
        }
    }
}

/// `param_match initial|partial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    Exact,
    Initial,
    Partial,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackProcess {
    pub name: String,
    /// The process name (or path) to match.
    pub process: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_match: Option<ParamMatch>,
    /// Default 1.
    pub weight: i32,
    #[serde(skip_serializing_if = "is_false")]
    pub weight_reverse: bool,
    /// Minimum number of processes for success, default 1.
    pub quorum: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum_max: Option<u32>,
    #[serde(with = "duration")]
    pub fork_delay: Duration,
    #[serde(with = "duration")]
    pub terminate_delay: Duration,
    #[serde(skip_serializing_if = "is_false")]
    pub full_command: bool,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for TrackProcess {
    fn default() -> Self {
        TrackProcess {
            name: String::new(),
            process: String::new(),
            params: Vec::new(),
            param_match: None,
            weight: 1,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            full_command: false,
            origin: Origin::default(),
        }
    }
}

/// `bfd_instance NAME { ... }` (RFC 5880).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BfdInstance {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    /// Default 10 ms.
    #[serde(with = "duration")]
    pub min_rx: Duration,
    /// Default 10 ms.
    #[serde(with = "duration")]
    pub min_tx: Duration,
    /// Default 1000 ms.
    #[serde(with = "duration")]
    pub idle_tx: Duration,
    /// Default 5.
    pub multiplier: u8,
    #[serde(skip_serializing_if = "is_false")]
    pub passive: bool,
    /// Default 255.
    pub ttl: u8,
    /// Default 64.
    pub hoplimit: u8,
    pub max_hops: u8,
    pub weight: i32,
    #[serde(skip_serializing_if = "is_false")]
    pub weight_reverse: bool,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for BfdInstance {
    fn default() -> Self {
        BfdInstance {
            name: String::new(),
            neighbor_ip: None,
            source_ip: None,
            min_rx: Duration::from_millis(10),
            min_tx: Duration::from_millis(10),
            idle_tx: Duration::from_millis(1000),
            multiplier: 5,
            passive: false,
            ttl: 255,
            hoplimit: 64,
            max_hops: 0,
            weight: 0,
            weight_reverse: false,
            origin: Origin::default(),
        }
    }
}

/// One entry of `track_interface`: `IFNAME [weight N [reverse]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct TrackedInterface {
    pub name: String,
    /// 0 (default): the interface going down means FAULT.
    #[serde(default)]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// One entry of `track_script`, `track_file`, `track_process` or
/// `track_bfd`: a name and an optional weight overriding the tracked item's
/// own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct TrackedRef {
    pub name: String,
    /// `None`: the weight configured on the tracked item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
    #[serde(skip)]
    pub origin: Origin,
}

super::string_or_table!(
    TrackedInterface,
    "an interface name or a table with `name`",
    (
        |s: &str| {
            Ok(TrackedInterface {
                name: s.to_owned(),
                weight: 0,
                reverse: false,
                origin: Origin::default(),
            })
        },
        |t: &TrackedInterface| (t.weight == 0 && !t.reverse).then(|| t.name.clone())
    )
);

super::string_or_table!(
    TrackedRef,
    "a name or a table with `name`",
    (
        |s: &str| Ok(TrackedRef::new(s)),
        |t: &TrackedRef| (t.weight.is_none() && !t.reverse).then(|| t.name.clone())
    )
);

super::string_or_table!(
    UnicastPeer,
    "an address or a table with `address`",
    (
        |s: &str| {
            s.parse::<IpAddr>()
                .map(|address| UnicastPeer {
                    address,
                    min_ttl: None,
                    max_ttl: None,
                    origin: Origin::default(),
                })
                .map_err(|e| format!("invalid address `{s}`: {e}"))
        },
        |p: &UnicastPeer| (p.min_ttl.is_none() && p.max_ttl.is_none())
            .then(|| p.address.to_string())
    )
);

impl TrackedRef {
    pub fn new(name: impl Into<String>) -> Self {
        TrackedRef {
            name: name.into(),
            weight: None,
            reverse: false,
            origin: Origin::default(),
        }
    }
}

/// Notify scripts shared by instances and sync groups. In TOML this is a
/// `notify` sub-table: `notify.master`, `notify.backup`, ..., and
/// `notify.any` for keepalived's plain `notify` (run on every transition
/// with GROUP|INSTANCE, name, state and priority appended).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Notify {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Script>,
    /// `notify_deleted` with or without a script.
    #[serde(skip_serializing_if = "is_false")]
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_script: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_rx_lower_pri: Option<Script>,
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        *self == Notify::default()
    }
}

/// `vrrp_sync_group NAME { group { ... } ... }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncGroup {
    pub name: String,
    /// Names of the member `vrrp_instance`s.
    pub group: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<TrackedInterface>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_file: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_process: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_bfd: Vec<TrackedRef>,
    /// vrrpd extension: `track_virtual_server { 192.0.2.10:80 [weight N
    /// [reverse]] }` follows a virtual server's quorum; the name is the
    /// virtual server as `VirtualServer::describe` writes it (`ADDR:PORT`,
    /// `[ADDR6]:PORT`, quoted `"fwmark N"` or `"group NAME"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_virtual_server: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    #[serde(skip_serializing_if = "is_false")]
    pub notify_priority_changes: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    pub global_tracking: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub sync_group_tracking_weight: bool,
    /// Position of each `group` member, parallel to `group`.
    #[serde(skip)]
    pub member_origins: Vec<Origin>,
    #[serde(skip)]
    pub origin: Origin,
}

/// Initial state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Master,
    #[default]
    Backup,
}

/// `authentication { auth_type PASS|AH; auth_pass SECRET }` (VRRPv2 only;
/// RFC 3768 §5.3.6 removed it, keepalived still speaks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    Pass,
    Ah,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    pub auth_type: AuthType,
    /// Only the first 8 bytes are used on the wire.
    pub auth_pass: String,
}

/// One entry of `unicast_peer`: `ADDR [min_ttl N] [max_ttl N]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct UnicastPeer {
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<u8>,
    #[serde(skip)]
    pub origin: Origin,
}

/// `use_vmac [IFNAME] [MAC]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vmac {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// A MAC address as written (5 octets means "append the VRID").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// `use_ipvlan [IFNAME] [ADDRESS] [bridge|private|vepa]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ipvlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<ipnetwork::IpNetwork>,
    /// bridge (default), private or vepa.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `garp_extra_if [all] SECS`: periodic GARP/NA on the other interfaces of
/// the VIPs (0 disables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GarpExtraIf {
    #[serde(skip_serializing_if = "is_false")]
    pub all: bool,
    #[serde(with = "duration")]
    pub interval: Duration,
}

/// `vrrp_instance NAME { ... }`. Inheritable values hold the effective
/// value: the instance's own if written, else the `global_defs` one, else
/// keepalived's default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VrrpInstance {
    pub name: String,
    /// Effective initial state. keepalived: unset → MASTER if priority is
    /// 255, else BACKUP.
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// 1..255; 0 means "not set" and is rejected by validation.
    pub virtual_router_id: u8,
    /// Effective priority. keepalived: unset → 255 if `state MASTER`, else
    /// 100.
    pub priority: u8,
    /// Default 1 s. VRRPv2: whole seconds 1..255; VRRPv3: centiseconds
    /// 0.01..40.95 (RFC 5798 §5.2.7).
    #[serde(with = "duration")]
    pub advert_int: Duration,
    /// 2 or 3. Default the global `vrrp_version`; IPv6 instances use 3.
    pub version: u8,
    /// Preemption (default on; `nopreempt` turns it off).
    pub preempt: bool,
    #[serde(with = "duration")]
    pub preempt_delay: Duration,
    /// VRRPv3 Accept_Mode (RFC 5798 §6.1); default on unless strict mode.
    pub accept: bool,
    pub strict_mode: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcast_src_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unicast_src_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer: Vec<UnicastPeer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcast_dst_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unicast_ttl: Option<u8>,
    #[serde(skip_serializing_if = "is_false")]
    pub unicast_fault_no_peer: bool,
    pub check_unicast_src: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub track_src_ip: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress: Vec<IpAddress>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress_excluded: Vec<IpAddress>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_routes: Vec<Route>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_rules: Vec<Rule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<TrackedInterface>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_file: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_process: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_bfd: Vec<TrackedRef>,
    /// vrrpd extension: `track_virtual_server { 192.0.2.10:80 [weight N
    /// [reverse]] }` follows a virtual server's quorum; the name is the
    /// virtual server as `VirtualServer::describe` writes it (`ADDR:PORT`,
    /// `[ADDR6]:PORT`, quoted `"fwmark N"` or `"group NAME"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_virtual_server: Vec<TrackedRef>,
    #[serde(skip_serializing_if = "is_false")]
    pub dont_track_primary: bool,
    #[serde(skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    pub notify_priority_changes: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_vmac: Option<Vmac>,
    #[serde(skip_serializing_if = "is_false")]
    pub use_vmac_addr: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub vmac_xmit_base: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub native_ipv6: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub promote_secondaries: bool,
    #[serde(with = "duration")]
    pub garp_master_delay: Duration,
    pub garp_master_repeat: u32,
    #[serde(with = "duration")]
    pub garp_lower_prio_delay: Duration,
    pub garp_lower_prio_repeat: u32,
    #[serde(with = "duration")]
    pub garp_master_refresh: Duration,
    pub garp_master_refresh_repeat: u32,
    pub down_timer_adverts: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub skip_check_adv_addr: bool,
    /// 0..4, not used by keepalived either.
    #[serde(skip_serializing_if = "is_zero_u8")]
    pub debug: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_rx_buf_size: Option<u32>,
    /// VRF to operate in when unicasting without an interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_ipvlan: Option<Ipvlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub garp_extra_if: Option<GarpExtraIf>,
    /// `old_unicast_checksum [never]`: `Some(false)` = use the pre-1.3.6
    /// VRRPv3 checksum, `Some(true)` = `never` (no auto-detection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_unicast_checksum: Option<bool>,
    /// Deprecated (use linkbeat_interfaces).
    #[serde(skip_serializing_if = "is_false")]
    pub linkbeat_use_polling: bool,
    #[serde(skip)]
    pub origin: Origin,
}

fn is_zero_u8(v: &u8) -> bool {
    *v == 0
}

impl Default for VrrpInstance {
    fn default() -> Self {
        let g = super::GlobalDefs::default();
        VrrpInstance {
            name: String::new(),
            state: State::Backup,
            interface: None,
            virtual_router_id: 0,
            priority: 100,
            advert_int: Duration::from_secs(1),
            version: g.vrrp_version,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept: true,
            strict_mode: false,
            mcast_src_ip: None,
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            mcast_dst_ip: None,
            unicast_ttl: None,
            unicast_fault_no_peer: false,
            check_unicast_src: false,
            track_src_ip: false,
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            track_bfd: Vec::new(),
            track_virtual_server: Vec::new(),
            dont_track_primary: false,
            notify: Notify::default(),
            notify_priority_changes: false,
            smtp_alert: None,
            use_vmac: None,
            use_vmac_addr: false,
            vmac_xmit_base: false,
            native_ipv6: false,
            promote_secondaries: false,
            garp_master_delay: g.vrrp_garp_master_delay,
            garp_master_repeat: g.vrrp_garp_master_repeat,
            garp_lower_prio_delay: g.vrrp_garp_lower_prio_delay,
            garp_lower_prio_repeat: g.vrrp_garp_lower_prio_repeat,
            garp_master_refresh: g.vrrp_garp_master_refresh,
            garp_master_refresh_repeat: g.vrrp_garp_master_refresh_repeat,
            down_timer_adverts: g.vrrp_down_timer_adverts,
            lower_prio_no_advert: g.vrrp_lower_prio_no_advert,
            higher_prio_send_advert: g.vrrp_higher_prio_send_advert,
            skip_check_adv_addr: g.vrrp_skip_check_adv_addr,
            debug: 0,
            kernel_rx_buf_size: None,
            vrf: None,
            use_ipvlan: None,
            garp_extra_if: None,
            old_unicast_checksum: None,
            linkbeat_use_polling: false,
            origin: Origin::default(),
        }
    }
}

impl VrrpInstance {
    /// True if the instance is IPv6: its first VIP is IPv6, or
    /// `native_ipv6` is set.
    pub fn is_ipv6(&self) -> bool {
        match self.virtual_ipaddress.first() {
            Some(a) => !a.is_ipv4(),
            None => self.native_ipv6,
        }
    }

    /// RFC 5798 §6.1: priority 255 means the router owns the addresses.
    pub fn is_address_owner(&self) -> bool {
        self.priority == 255
    }
}
