//! LVS: `virtual_server_group`, `virtual_server`, `real_server` and the
//! health checkers.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, is_false, Origin, Script};

/// vrrpd extension (`lb_sink`, in `global_defs` or a `virtual_server`):
/// where the pool's changes go. keepalived always programs IPVS; vrrpd can
/// also drive HAProxy or a script, or only check and notify. A virtual
/// server without `lb_sink` takes the one of `global_defs`, else IPVS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum LbSink {
    /// `lb_sink ipvs`: the kernel's IPVS table, as keepalived.
    Ipvs,
    /// `lb_sink none`: checks, logs and notify scripts only.
    None,
    /// `lb_sink haproxy SOCKET BACKEND [drain]`: HAProxy's runtime API on
    /// its admin stats socket (a path, or `ADDR:PORT`). Dead servers are
    /// put in `maint`, or `drain` when asked. A real server is the HAProxy
    /// server named by its `haproxy_server`, else the one of `BACKEND`
    /// with the same address and port.
    Haproxy {
        socket: String,
        backend: String,
        #[serde(default, skip_serializing_if = "is_false")]
        drain: bool,
    },
    /// `lb_sink script COMMAND`: run COMMAND with the change as arguments.
    Script { command: Script },
}

/// One line of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum VsgEntry {
    /// `ADDR[-LAST] [PORT]`: one address, or a range whose last address
    /// differs from the first only in its last part (`10.0.0.3-10`).
    Range {
        ip: IpAddr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_ip: Option<IpAddr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark {
        fwmark: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<Family>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Inet,
    Inet6,
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<VsgEntry>,
    #[serde(skip)]
    pub origin: Origin,
}

/// IPVS scheduler (`lvs_sched` / `lb_algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    /// IPVS's and keepalived's default.
    #[default]
    Wlc,
    Lblc,
    Lblcr,
    Sh,
    Mh,
    Dh,
    Fo,
    Ovf,
    Sed,
    Nq,
    Twos,
}

impl Scheduler {
    pub const ALL: [(&'static str, Scheduler); 14] = [
        ("rr", Scheduler::Rr),
        ("wrr", Scheduler::Wrr),
        ("lc", Scheduler::Lc),
        ("wlc", Scheduler::Wlc),
        ("lblc", Scheduler::Lblc),
        ("lblcr", Scheduler::Lblcr),
        ("sh", Scheduler::Sh),
        ("mh", Scheduler::Mh),
        ("dh", Scheduler::Dh),
        ("fo", Scheduler::Fo),
        ("ovf", Scheduler::Ovf),
        ("sed", Scheduler::Sed),
        ("nq", Scheduler::Nq),
        ("twos", Scheduler::Twos),
    ];

    pub fn parse(s: &str) -> Option<Scheduler> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .unwrap_or("wlc")
    }
}

/// Forwarding method (`lvs_method` / `lb_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LvsMethod {
    #[default]
    Nat,
    Dr,
    Tun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue,
    Gre,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    Nocsum,
    Csum,
    Remcsum,
}

/// `TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tunnel {
    #[serde(rename = "type")]
    pub tunnel_type: TunnelType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<TunnelChecksum>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

/// Checker settings written on a virtual or real server, inherited by the
/// checkers below it. `None` means "not written here".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub connect_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub delay_before_retry: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub warmup: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub delay_loop: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inhibit_on_failure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
}

/// `virtual_server (ADDR [PORT] | fwmark N | group NAME) { ... }`.
/// Exactly one of `ip`, `fwmark`, `group` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VirtualServer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Optional only for persistent services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `lvs_sched` / `lb_algo`; default wlc.
    pub lb_algo: Scheduler,
    /// `lvs_method` / `lb_kind`; default NAT.
    pub lb_kind: LvsMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// Scheduler flags: flag-1..3, sh-port, sh-fallback, mh-port, mh-fallback.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sched_flags: Vec<String>,
    /// One-packet scheduling (`ops`).
    #[serde(skip_serializing_if = "is_false")]
    pub ops: bool,
    pub protocol: Protocol,
    /// `persistence_timeout [N]`; written without a value: 360 s.
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub persistence_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence_granularity: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub ha_suspend: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snmp_name: Option<String>,
    /// vrrpd extension: where pool changes go (`None`: `global_defs`'s,
    /// else IPVS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_sink: Option<LbSink>,
    /// On start-up, consider every real server down until checked.
    #[serde(skip_serializing_if = "is_false")]
    pub alpha: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub omega: bool,
    /// Minimum total weight of live servers; default 1.
    pub quorum: u32,
    pub hysteresis: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum_up: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum_down: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<Family>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<SorryServer>,
    /// Default 60 s.
    #[serde(with = "duration")]
    pub delay_loop: Duration,
    /// Checker defaults written on the virtual server.
    #[serde(skip_serializing_if = "is_default_checks")]
    pub check_defaults: CheckDefaults,
    #[serde(rename = "real_server", skip_serializing_if = "Vec::is_empty")]
    pub real_servers: Vec<RealServer>,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for VirtualServer {
    fn default() -> Self {
        VirtualServer {
            ip: None,
            port: None,
            fwmark: None,
            group: None,
            lb_algo: Scheduler::Wlc,
            lb_kind: LvsMethod::Nat,
            tunnel: None,
            sched_flags: Vec::new(),
            ops: false,
            protocol: Protocol::Tcp,
            persistence_timeout: None,
            persistence_granularity: None,
            persistence_engine: None,
            ha_suspend: false,
            snmp_name: None,
            lb_sink: None,
            alpha: false,
            omega: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            ip_family: None,
            sorry_server: None,
            delay_loop: Duration::from_secs(60),
            check_defaults: CheckDefaults::default(),
            real_servers: Vec::new(),
            origin: Origin::default(),
        }
    }
}

fn is_default_checks(c: &CheckDefaults) -> bool {
    *c == CheckDefaults::default()
}

impl VirtualServer {
    /// `10.0.0.1:80`, `fwmark 1` or `group NAME`, for messages.
    pub fn describe(&self) -> String {
        if let Some(ip) = self.ip {
            match (ip, self.port) {
                (IpAddr::V6(ip), Some(p)) => format!("[{ip}]:{p}"),
                (ip, Some(p)) => format!("{ip}:{p}"),
                (ip, None) => ip.to_string(),
            }
        } else if let Some(m) = self.fwmark {
            format!("fwmark {m}")
        } else if let Some(g) = &self.group {
            format!("group {g}")
        } else {
            "(no address)".to_owned()
        }
    }
}

/// `sorry_server ADDR [PORT]` with its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SorryServer {
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_method: Option<LvsMethod>,
}

/// `real_server ADDR [PORT] { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RealServer {
    pub ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Default 1.
    pub weight: i32,
    /// Effective forwarding method: the virtual server's unless written.
    pub lvs_method: LvsMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// Set weight 0 instead of removing the server when a check fails.
    pub inhibit_on_failure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_up: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_down: Option<Script>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uthreshold: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lthreshold: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snmp_name: Option<String>,
    /// vrrpd extension: this server's name in HAProxy (`lb_sink haproxy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub haproxy_server: Option<String>,
    /// Checker defaults written on the real server.
    #[serde(skip_serializing_if = "is_default_checks")]
    pub check_defaults: CheckDefaults,
    #[serde(rename = "checker", skip_serializing_if = "Vec::is_empty")]
    pub checkers: Vec<Checker>,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for RealServer {
    fn default() -> Self {
        RealServer {
            ip: IpAddr::from([0, 0, 0, 0]),
            port: None,
            weight: 1,
            lvs_method: LvsMethod::Nat,
            tunnel: None,
            inhibit_on_failure: false,
            notify_up: None,
            notify_down: None,
            uthreshold: None,
            lthreshold: None,
            snmp_name: None,
            haproxy_server: None,
            check_defaults: CheckDefaults::default(),
            checkers: Vec::new(),
            origin: Origin::default(),
        }
    }
}

/// The kind of a health checker (the keepalived block name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CheckerKind {
    #[default]
    #[serde(rename = "TCP_CHECK")]
    Tcp,
    #[serde(rename = "HTTP_GET")]
    HttpGet,
    #[serde(rename = "SSL_GET")]
    SslGet,
    #[serde(rename = "SMTP_CHECK")]
    Smtp,
    #[serde(rename = "DNS_CHECK")]
    Dns,
    #[serde(rename = "MISC_CHECK")]
    Misc,
    #[serde(rename = "PING_CHECK")]
    Ping,
    #[serde(rename = "UDP_CHECK")]
    Udp,
    #[serde(rename = "FILE_CHECK")]
    File,
    #[serde(rename = "BFD_CHECK")]
    Bfd,
}

impl CheckerKind {
    pub const ALL: [(&'static str, CheckerKind); 10] = [
        ("TCP_CHECK", CheckerKind::Tcp),
        ("HTTP_GET", CheckerKind::HttpGet),
        ("SSL_GET", CheckerKind::SslGet),
        ("SMTP_CHECK", CheckerKind::Smtp),
        ("DNS_CHECK", CheckerKind::Dns),
        ("MISC_CHECK", CheckerKind::Misc),
        ("PING_CHECK", CheckerKind::Ping),
        ("UDP_CHECK", CheckerKind::Udp),
        ("FILE_CHECK", CheckerKind::File),
        ("BFD_CHECK", CheckerKind::Bfd),
    ];

    pub fn parse(s: &str) -> Option<CheckerKind> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    }

    pub fn keyword(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .unwrap_or("TCP_CHECK")
    }

    /// keepalived's default retry count: 3 for DNS, 0 for MISC, else 1.
    pub fn default_retry(self) -> u32 {
        match self {
            CheckerKind::Dns => 3,
            CheckerKind::Misc => 0,
            _ => 1,
        }
    }

    /// keepalived's default delay_before_retry: delay_loop for DNS, 3 s for
    /// HTTP/SSL, 1 s otherwise.
    pub fn default_delay_before_retry(self, delay_loop: Duration) -> Duration {
        match self {
            CheckerKind::Dns => delay_loop,
            CheckerKind::HttpGet | CheckerKind::SslGet => Duration::from_secs(3),
            _ => Duration::from_secs(1),
        }
    }
}

/// An inclusive HTTP status code range (`200-299`, or `503` = `503-503`).
/// In TOML: `"200-299"`, `"503"` or `{ start = 200, end = 299 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct StatusRange {
    pub start: u16,
    pub end: u16,
}

impl StatusRange {
    /// `200`, `200-299`; codes 100-999.
    pub fn parse(s: &str) -> Option<StatusRange> {
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?),
            None => {
                let v = s.trim().parse::<u16>().ok()?;
                (v, v)
            }
        };
        ((100..=999).contains(&a) && (100..=999).contains(&b) && a <= b)
            .then_some(StatusRange { start: a, end: b })
    }
}

super::string_or_table!(
    StatusRange,
    "a status code or range like \"200-299\"",
    (
        |s: &str| {
            StatusRange::parse(s).ok_or_else(|| {
                format!("invalid status code range `{s}`: expected CODE or FROM-TO, codes 100-999")
            })
        },
        |r: &StatusRange| Some(if r.start == r.end {
            r.start.to_string()
        } else {
            format!("{}-{}", r.start, r.end)
        })
    )
);

/// `url { ... }` of HTTP_GET / SSL_GET.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Url {
    pub path: String,
    /// MD5 of the body, lowercase hex (genhash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Accepted codes; empty means keepalived's default 200-299.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status_code: Vec<StatusRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub regex_no_match: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regex_options: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex_min_offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex_max_offset: Option<u64>,
    #[serde(skip)]
    pub origin: Origin,
}

impl Url {
    /// True if `code` is accepted (keepalived's default: 2xx).
    pub fn accepts(&self, code: u16) -> bool {
        if self.status_code.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.status_code
                .iter()
                .any(|r| (r.start..=r.end).contains(&code))
        }
    }
}

/// `host { connect_ip ...; connect_port ...; bindto ... }` of SMTP_CHECK.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindto: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_if: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
}

/// DNS_CHECK query type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsType {
    A,
    Ns,
    Cname,
    #[default]
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl DnsType {
    pub fn parse(s: &str) -> Option<DnsType> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => DnsType::A,
            "NS" => DnsType::Ns,
            "CNAME" => DnsType::Cname,
            "SOA" => DnsType::Soa,
            "MX" => DnsType::Mx,
            "TXT" => DnsType::Txt,
            "AAAA" => DnsType::Aaaa,
            _ => return None,
        })
    }
}

/// One health checker of a real server. The connection settings and
/// timers are common to every kind; the rest only apply to the kinds named
/// in their comment (the keepalived.conf builder rejects a keyword under a
/// checker that does not take it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Checker {
    #[serde(rename = "type")]
    pub kind: CheckerKind,
    /// Where to connect; `None`: the real server's address and port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindto: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_if: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// Effective values (own, else real server's, else virtual server's,
    /// else keepalived's default).
    pub alpha: bool,
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    pub retry: u32,
    #[serde(with = "duration")]
    pub delay_before_retry: Duration,
    #[serde(with = "duration")]
    pub warmup: Duration,
    #[serde(with = "duration")]
    pub delay_loop: Duration,
    #[serde(skip_serializing_if = "is_false")]
    pub log_all_failures: bool,
    /// HTTP_GET / SSL_GET.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<Url>,
    /// HTTP_GET / SSL_GET: 1.0, 1.0C or 1.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_protocol: Option<String>,
    /// HTTP_GET / SSL_GET: effective virtualhost (own, else real/virtual
    /// server's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub fast_recovery: bool,
    /// SSL_GET.
    #[serde(skip_serializing_if = "is_false")]
    pub enable_sni: bool,
    /// SMTP_CHECK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helo_name: Option<String>,
    /// SMTP_CHECK: extra `host { }` targets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host: Vec<CheckTarget>,
    /// DNS_CHECK query type (default SOA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_type: Option<DnsType>,
    /// DNS_CHECK query name (default `.`) / BFD_CHECK instance name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MISC_CHECK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misc_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", with = "duration::option")]
    pub misc_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "is_false")]
    pub misc_dynamic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// UDP_CHECK: payload as hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// UDP_CHECK: `require_reply [HEX]`; `Some("")` without data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_reply: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_reply_length: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reply_length: Option<u16>,
    /// FILE_CHECK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_file: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub dynamic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    #[serde(skip_serializing_if = "is_false")]
    pub reverse: bool,
    #[serde(skip)]
    pub origin: Origin,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new(CheckerKind::Tcp)
    }
}

impl Checker {
    /// A checker of `kind` with keepalived's defaults and delay_loop 60 s.
    pub fn new(kind: CheckerKind) -> Self {
        let delay_loop = Duration::from_secs(60);
        Checker {
            kind,
            connect_ip: None,
            connect_port: None,
            bindto: None,
            bind_if: None,
            bind_port: None,
            fwmark: None,
            alpha: false,
            connect_timeout: Duration::from_secs(5),
            retry: kind.default_retry(),
            delay_before_retry: kind.default_delay_before_retry(delay_loop),
            warmup: delay_loop,
            delay_loop,
            log_all_failures: false,
            url: Vec::new(),
            http_protocol: None,
            virtualhost: None,
            fast_recovery: false,
            enable_sni: false,
            helo_name: None,
            host: Vec::new(),
            dns_type: None,
            name: None,
            misc_path: None,
            misc_timeout: None,
            misc_dynamic: false,
            user: None,
            group: None,
            payload: None,
            require_reply: None,
            min_reply_length: None,
            max_reply_length: None,
            track_file: None,
            dynamic: false,
            weight: None,
            reverse: false,
            origin: Origin::default(),
        }
    }
}

/// The top-level `SSL { ... }` block: the TLS context of SSL_GET checkers.
/// keepalived generates one if none of these is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ssl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
