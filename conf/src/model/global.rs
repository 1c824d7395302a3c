//! `global_defs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, is_false, Origin, Script};

/// `smtp_server ADDR|NAME [PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpServer {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
}

fn default_smtp_port() -> u16 {
    25
}

/// `lvs_sync_daemon INTERFACE [VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsSyncDaemon {
    pub interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxlen: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
}

/// keepalived's nf_tables table name (`nftables` without an argument).
pub const DEFAULT_NFTABLES_TABLE: &str = "keepalived";
/// keepalived's base chain priority for that table.
pub const DEFAULT_NFTABLES_PRIORITY: i32 = -1;
/// Longest table name the kernel takes (`NFT_TABLE_MAXNAMELEN` 256 with
/// its NUL).
pub const NFTABLES_TABLE_MAX_LEN: usize = 255;

/// `vrrp_iptables [IN_CHAIN [OUT_CHAIN]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IptablesChains {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// `notify_fifo FIFO [user [group]]` and its `*_script` companion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFifo {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Script>,
}

/// `global_defs { ... }`. Values not written take keepalived's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalDefs {
    /// `router_id`; keepalived uses the host name when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// vrrpd extension: the default `lb_sink` of every virtual server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_sink: Option<super::lvs::LbSink>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_email: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_email_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_server: Option<SmtpServer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_helo_name: Option<String>,
    /// Default 30 s.
    #[serde(with = "duration")]
    pub smtp_connect_timeout: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert_vrrp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert_checker: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    pub no_email_faults: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub checker_log_all_failures: bool,
    /// Interface for VIPs with no `dev` and instances with no `interface`
    /// (keepalived: eth0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_interface: Option<String>,
    /// Default 224.0.0.18 (RFC 5798 §5.1.1.2).
    pub vrrp_mcast_group4: Ipv4Addr,
    /// Default ff02::12 (RFC 5798 §5.1.2.2).
    pub vrrp_mcast_group6: Ipv6Addr,
    /// Default VRRP version of instances (2); IPv6 instances always use 3.
    pub vrrp_version: u8,
    #[serde(with = "duration")]
    pub vrrp_garp_master_delay: Duration,
    pub vrrp_garp_master_repeat: u32,
    #[serde(with = "duration")]
    pub vrrp_garp_lower_prio_delay: Duration,
    pub vrrp_garp_lower_prio_repeat: u32,
    /// 0 disables periodic gratuitous ARPs while master.
    #[serde(with = "duration")]
    pub vrrp_garp_master_refresh: Duration,
    pub vrrp_garp_master_refresh_repeat: u32,
    /// Delay between gratuitous ARPs sent on one interface.
    #[serde(with = "duration")]
    pub vrrp_garp_interval: Duration,
    /// Delay between unsolicited neighbour adverts on one interface.
    #[serde(with = "duration")]
    pub vrrp_gna_interval: Duration,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_min_garp: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_lower_prio_no_advert: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_higher_prio_send_advert: bool,
    /// Master down timer in advert intervals (RFC 5798 §6.1: 3).
    pub vrrp_down_timer_adverts: u32,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_check_unicast_src: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_skip_check_adv_addr: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_strict: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_notify_priority_changes: bool,
    /// keepalived's iptables chains; vrrpd enforces `no_accept` with
    /// nftables instead (a warning says so where it is written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_iptables: Option<IptablesChains>,
    /// `nftables [TABLE]`: the nf_tables table (family `inet`) that drops
    /// packets for the VIPs of a master in `no_accept` mode. Not written:
    /// vrrpd uses nftables all the same, with keepalived's table name
    /// [`DEFAULT_NFTABLES_TABLE`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nftables: Option<String>,
    /// `nftables_priority N`: the priority of the table's base chains
    /// (keepalived: -1, just before the usual `filter` chains at 0).
    pub nftables_priority: i32,
    /// `nftables_counters`: a counter on every rule of the table.
    #[serde(skip_serializing_if = "is_false")]
    pub nftables_counters: bool,
    /// `nftables_ifindex`: key every link-local IPv6 VIP in the drop sets
    /// by interface index. Without it, as in keepalived, the VIPs of an
    /// instance with `dont_track_primary` that are on its own interface
    /// (or `no_track`) are keyed by interface name, so the interface may
    /// be deleted and made again under a new index; all others are keyed
    /// by index either way.
    #[serde(skip_serializing_if = "is_false")]
    pub nftables_ifindex: bool,
    #[serde(with = "duration")]
    pub vrrp_startup_delay: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    #[serde(skip_serializing_if = "is_false")]
    pub lvs_flush: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub lvs_flush_on_stop: bool,
    /// `script_user USER [GROUP]`: who scripts run as (keepalived: the
    /// `keepalived_script` user if it exists, else root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_group: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub enable_script_security: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_fifo: Option<NotifyFifo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvs_notify_fifo: Option<NotifyFifo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_script: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub startup_script_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_script: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub shutdown_script_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "is_false")]
    pub dynamic_interfaces: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub log_unknown_vrids: bool,
    /// Scheduling priority (nice value) of the VRRP process, -20..19.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_priority: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_priority: Option<i8>,
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_no_swap: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub checker_no_swap: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_rt_priority: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_rt_priority: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_process_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_process_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_auto_priority: Option<i32>,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            lb_sink: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(30),
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            no_email_faults: false,
            checker_log_all_failures: false,
            default_interface: None,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            vrrp_version: 2,
            // keepalived vrrp.h: VRRP_GARP_DELAY 5 s, VRRP_GARP_REP 5,
            // VRRP_GARP_REFRESH 0 (off), VRRP_GARP_REFRESH_REP 1. The lower
            // priority settings default to the master ones.
            vrrp_garp_master_delay: Duration::from_secs(5),
            vrrp_garp_master_repeat: 5,
            vrrp_garp_lower_prio_delay: Duration::from_secs(5),
            vrrp_garp_lower_prio_repeat: 5,
            vrrp_garp_master_refresh: Duration::ZERO,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_min_garp: false,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_down_timer_adverts: 3,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_strict: false,
            vrrp_notify_priority_changes: false,
            vrrp_iptables: None,
            nftables: None,
            nftables_priority: DEFAULT_NFTABLES_PRIORITY,
            nftables_counters: false,
            nftables_ifindex: false,
            vrrp_startup_delay: Duration::ZERO,
            lvs_sync_daemon: None,
            lvs_flush: false,
            lvs_flush_on_stop: false,
            script_user: None,
            script_group: None,
            enable_script_security: false,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            lvs_notify_fifo: None,
            startup_script: None,
            startup_script_timeout: None,
            shutdown_script: None,
            shutdown_script_timeout: None,
            dynamic_interfaces: false,
            log_unknown_vrids: false,
            vrrp_priority: None,
            checker_priority: None,
            vrrp_no_swap: false,
            checker_no_swap: false,
            vrrp_rt_priority: None,
            checker_rt_priority: None,
            process_name: None,
            vrrp_process_name: None,
            checker_process_name: None,
            umask: None,
            max_auto_priority: None,
            origin: Origin::default(),
        }
    }
}
