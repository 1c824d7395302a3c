//! Virtual routes and policy rules (`virtual_routes`, `virtual_rules`)
//! through rtnetlink.
//!
//! As for addresses, requests are built by plain functions
//! ([`route_message`], [`rule_message`]) apart from their execution, so what
//! we ask the kernel is unit-tested without privileges; execution keeps the
//! errno so that "exists" on add and "not there" on delete are no-ops
//! (`Ok(false)`).
//!
//! Every route and rule we install carries a routing protocol number
//! (`RTPROT_KEEPALIVED`, 18, unless the configuration names another), as
//! keepalived does. The kernel matches the protocol on delete (IPv4
//! `fib_table_delete`, IPv6 `ip6_route_del`, rules `rule_find`), so
//! removing "our" route never removes an identical one an operator or a
//! routing daemon installed with another protocol. That is also what makes
//! the start-up cleanup after a SIGKILL safe.

use std::fmt;
use std::net::IpAddr;

use nix::errno::Errno;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric,
    RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{
    RuleAction, RuleAttribute, RuleFlags, RuleMessage, RulePortRange, RuleUidRange,
};
use rtnetlink::packet_route::{AddressFamily, IpProtocol};

use super::addr::{nl_err, Netlink};
use super::{Family, NetError};

/// `RTPROT_KEEPALIVED` (linux/rtnetlink.h): the protocol keepalived tags its
/// routes and rules with; we use it too, so `ip route show proto
/// keepalived` lists what either daemon installed.
pub const RTPROT_KEEPALIVED: u8 = 18;

/// `RTN_*` route types (linux/rtnetlink.h).
pub mod rtn {
    pub const UNICAST: u8 = 1;
    pub const LOCAL: u8 = 2;
    pub const BROADCAST: u8 = 3;
    pub const ANYCAST: u8 = 4;
    pub const MULTICAST: u8 = 5;
    pub const BLACKHOLE: u8 = 6;
    pub const UNREACHABLE: u8 = 7;
    pub const PROHIBIT: u8 = 8;
    pub const THROW: u8 = 9;
    pub const NAT: u8 = 10;
}

/// `RT_SCOPE_*` values used for defaults.
const SCOPE_UNIVERSE: u8 = 0;
const SCOPE_LINK: u8 = 253;
const SCOPE_HOST: u8 = 254;
/// On delete, "any scope" (what ip-route(8) sends).
const SCOPE_NOWHERE: u8 = 255;
const TABLE_MAIN: u32 = 254;

/// TCP metrics of a route (`RTA_METRICS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMetrics {
    pub mtu: Option<u32>,
    pub advmss: Option<u32>,
    pub hoplimit: Option<u32>,
    pub initcwnd: Option<u32>,
    pub initrwnd: Option<u32>,
}

impl RouteMetrics {
    fn is_empty(&self) -> bool {
        *self == RouteMetrics::default()
    }
}

/// One `virtual_routes` line, resolved to kernel numbers (interface names
/// stay names: they are resolved when the route is installed, since the
/// interface may come and go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub prefix: u8,
    /// An `RTN_*` value (see [`rtn`]).
    pub kind: u8,
    pub via: Option<IpAddr>,
    /// `src`: the preferred source address (`RTA_PREFSRC`).
    pub src: Option<IpAddr>,
    pub dev: Option<String>,
    /// `None`: ip-route(8)'s default for the route type.
    pub scope: Option<u8>,
    pub table: u32,
    /// `metric` / `priority` / `preference` (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    pub protocol: u8,
    pub tos: u8,
    pub onlink: bool,
    pub metrics: RouteMetrics,
    /// `no_track`: a removal by someone else is left alone (see
    /// `net::monitor`); not part of any request.
    pub no_track: bool,
}

impl RouteSpec {
    /// A unicast route in the main table, tagged as ours.
    pub fn new(dst: IpAddr, prefix: u8) -> Self {
        RouteSpec {
            dst,
            prefix,
            kind: rtn::UNICAST,
            via: None,
            src: None,
            dev: None,
            scope: None,
            table: TABLE_MAIN,
            metric: None,
            protocol: RTPROT_KEEPALIVED,
            tos: 0,
            onlink: false,
            metrics: RouteMetrics::default(),
            no_track: false,
        }
    }

    pub fn family(&self) -> Family {
        Family::of(&self.dst)
    }

    /// The scope ip-route(8) gives a route when none is written: host for
    /// local and NAT routes, link for broadcast, multicast, anycast and for
    /// a unicast route without a gateway (a directly connected one),
    /// universe otherwise.
    pub fn effective_scope(&self) -> u8 {
        if let Some(s) = self.scope {
            return s;
        }
        match self.kind {
            rtn::LOCAL | rtn::NAT => SCOPE_HOST,
            rtn::BROADCAST | rtn::MULTICAST | rtn::ANYCAST => SCOPE_LINK,
            rtn::UNICAST if self.via.is_none() => SCOPE_LINK,
            _ => SCOPE_UNIVERSE,
        }
    }
}

fn kind_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        rtn::LOCAL => "local",
        rtn::BROADCAST => "broadcast",
        rtn::ANYCAST => "anycast",
        rtn::MULTICAST => "multicast",
        rtn::BLACKHOLE => "blackhole",
        rtn::UNREACHABLE => "unreachable",
        rtn::PROHIBIT => "prohibit",
        rtn::THROW => "throw",
        rtn::NAT => "nat",
        _ => return None,
    })
}

/// ip-route(8) syntax, for logs.
impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(k) = kind_name(self.kind) {
            write!(f, "{k} ")?;
        }
        write!(f, "{}/{}", self.dst, self.prefix)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        if self.table != TABLE_MAIN {
            write!(f, " table {}", self.table)?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        Ok(())
    }
}

/// One `virtual_rules` line, resolved to kernel numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub family: Family,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    /// `not`: `FIB_RULE_INVERT`.
    pub invert: bool,
    /// The table looked up (`lookup` / `table`); main when neither this nor
    /// `goto` is set, as ip-rule(8) does.
    pub table: Option<u32>,
    pub goto: Option<u32>,
    /// `preference` / `priority`; `None` lets the kernel choose.
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub tos: u8,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub suppress_prefixlen: Option<u32>,
    pub uidrange: Option<(u32, u32)>,
    pub ip_proto: Option<u8>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub protocol: u8,
    /// `no_track`: a removal by someone else is left alone (see
    /// `net::monitor`); not part of any request.
    pub no_track: bool,
}

impl RuleSpec {
    /// A rule of `family` that looks up the main table, tagged as ours.
    pub fn new(family: Family) -> Self {
        RuleSpec {
            family,
            from: None,
            to: None,
            invert: false,
            table: None,
            goto: None,
            priority: None,
            iif: None,
            oif: None,
            tos: 0,
            fwmark: None,
            fwmask: None,
            suppress_prefixlen: None,
            uidrange: None,
            ip_proto: None,
            sport: None,
            dport: None,
            protocol: RTPROT_KEEPALIVED,
            no_track: false,
        }
    }
}

/// ip-rule(8) syntax, for logs.
impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(p) = self.priority {
            parts.push(format!("pref {p}"));
        }
        if self.invert {
            parts.push("not".into());
        }
        parts.push(match self.from {
            Some((a, l)) => format!("from {a}/{l}"),
            None => "from all".into(),
        });
        if let Some((a, l)) = self.to {
            parts.push(format!("to {a}/{l}"));
        }
        if let Some(m) = self.fwmark {
            match self.fwmask {
                Some(k) => parts.push(format!("fwmark {m:#x}/{k:#x}")),
                None => parts.push(format!("fwmark {m:#x}")),
            }
        }
        if let Some(i) = &self.iif {
            parts.push(format!("iif {i}"));
        }
        if let Some(o) = &self.oif {
            parts.push(format!("oif {o}"));
        }
        match (self.goto, self.table) {
            (Some(g), _) => parts.push(format!("goto {g}")),
            (None, t) => parts.push(format!("lookup {}", t.unwrap_or(TABLE_MAIN))),
        }
        f.write_str(&parts.join(" "))
    }
}

fn inet(family: Family) -> AddressFamily {
    match family {
        Family::V4 => AddressFamily::Inet,
        Family::V6 => AddressFamily::Inet6,
    }
}

/// Builds the `RTM_NEWROUTE` (`delete == false`) or `RTM_DELROUTE` message
/// for `spec`, `oif` being the resolved index of its `dev`.
///
/// As ip-route(8) does: the table goes in the header when it fits in a
/// byte, and always in `RTA_TABLE`; a delete without a configured scope
/// says `RT_SCOPE_NOWHERE` ("any"). Unlike ip-route(8), a delete names the
/// type and the protocol, so only our route of that type matches.
pub fn route_message(spec: &RouteSpec, oif: Option<u32>, delete: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    let h = &mut msg.header;
    h.address_family = inet(spec.family());
    h.destination_prefix_length = spec.prefix;
    h.tos = spec.tos;
    h.table = u8::try_from(spec.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    h.protocol = RouteProtocol::from(spec.protocol);
    h.scope = RouteScope::from(if delete {
        spec.scope.unwrap_or(SCOPE_NOWHERE)
    } else {
        spec.effective_scope()
    });
    h.kind = RouteType::from(spec.kind);
    if spec.onlink {
        h.flags |= RouteFlags::Onlink;
    }
    let a = &mut msg.attributes;
    a.push(RouteAttribute::Table(spec.table));
    // A default route (prefix 0) carries no destination, as ip-route(8)
    // sends it.
    if spec.prefix > 0 {
        a.push(RouteAttribute::Destination(RouteAddress::from(spec.dst)));
    }
    if let Some(via) = spec.via {
        a.push(RouteAttribute::Gateway(RouteAddress::from(via)));
    }
    if let Some(src) = spec.src {
        a.push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    if let Some(oif) = oif {
        a.push(RouteAttribute::Oif(oif));
    }
    if let Some(m) = spec.metric {
        a.push(RouteAttribute::Priority(m));
    }
    if !delete && !spec.metrics.is_empty() {
        let m = &spec.metrics;
        let metrics: Vec<RouteMetric> = [
            m.mtu.map(RouteMetric::Mtu),
            m.advmss.map(RouteMetric::Advmss),
            m.hoplimit.map(RouteMetric::Hoplimit),
            m.initcwnd.map(RouteMetric::InitCwnd),
            m.initrwnd.map(RouteMetric::InitRwnd),
        ]
        .into_iter()
        .flatten()
        .collect();
        a.push(RouteAttribute::Metrics(metrics));
    }
    msg
}

/// Builds the `RTM_NEWRULE` / `RTM_DELRULE` message for `spec` (both carry
/// the same selector: the kernel deletes the rule whose given attributes
/// all match, the protocol included).
pub fn rule_message(spec: &RuleSpec) -> RuleMessage {
    let mut msg = RuleMessage::default();
    let h = &mut msg.header;
    h.family = inet(spec.family);
    h.tos = spec.tos;
    if spec.invert {
        h.flags |= RuleFlags::Invert;
    }
    let a = &mut msg.attributes;
    match spec.goto {
        Some(target) => {
            h.action = RuleAction::Goto;
            a.push(RuleAttribute::Goto(target));
        }
        None => {
            h.action = RuleAction::ToTable;
            let table = spec.table.unwrap_or(TABLE_MAIN);
            match u8::try_from(table) {
                Ok(t) => h.table = t,
                Err(_) => {
                    h.table = RouteHeader::RT_TABLE_UNSPEC;
                    a.push(RuleAttribute::Table(table));
                }
            }
        }
    }
    if let Some((addr, len)) = spec.from {
        h.src_len = len;
        a.push(RuleAttribute::Source(addr));
    }
    if let Some((addr, len)) = spec.to {
        h.dst_len = len;
        a.push(RuleAttribute::Destination(addr));
    }
    if let Some(p) = spec.priority {
        a.push(RuleAttribute::Priority(p));
    }
    if let Some(i) = &spec.iif {
        a.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &spec.oif {
        a.push(RuleAttribute::Oifname(o.clone()));
    }
    if let Some(m) = spec.fwmark {
        a.push(RuleAttribute::FwMark(m));
    }
    if let Some(m) = spec.fwmask {
        a.push(RuleAttribute::FwMask(m));
    }
    if let Some(l) = spec.suppress_prefixlen {
        a.push(RuleAttribute::SuppressPrefixLen(l));
    }
    if let Some((start, end)) = spec.uidrange {
        a.push(RuleAttribute::UidRange(RuleUidRange { start, end }));
    }
    if let Some(p) = spec.ip_proto {
        a.push(RuleAttribute::IpProtocol(IpProtocol::from(p)));
    }
    if let Some((start, end)) = spec.sport {
        a.push(RuleAttribute::SourcePortRange(RulePortRange { start, end }));
    }
    if let Some((start, end)) = spec.dport {
        a.push(RuleAttribute::DestinationPortRange(RulePortRange {
            start,
            end,
        }));
    }
    a.push(RuleAttribute::Protocol(RouteProtocol::from(spec.protocol)));
    msg
}

/// `Ok(true)` on success, `Ok(false)` when the errno is one of `benign`.
fn outcome(
    res: Result<(), rtnetlink::Error>,
    op: &'static str,
    benign: &[Errno],
) -> Result<bool, NetError> {
    match res.map_err(|e| nl_err(op, e)) {
        Ok(()) => Ok(true),
        Err(NetError::Netlink { errno, .. }) if benign.contains(&errno) => Ok(false),
        Err(e) => Err(e),
    }
}

impl Netlink {
    /// Installs a route. `Ok(false)` when an identical one exists (EEXIST).
    pub async fn add_route(&self, spec: &RouteSpec, oif: Option<u32>) -> Result<bool, NetError> {
        let req = self.handle().route().add(route_message(spec, oif, false));
        outcome(req.execute().await, "add route", &[Errno::EEXIST])
    }

    /// Removes our route. `Ok(false)` when it is not there (ESRCH; ENOENT
    /// when its table does not exist).
    pub async fn del_route(&self, spec: &RouteSpec, oif: Option<u32>) -> Result<bool, NetError> {
        let req = self.handle().route().del(route_message(spec, oif, true));
        outcome(
            req.execute().await,
            "delete route",
            &[Errno::ESRCH, Errno::ENOENT],
        )
    }

    /// Installs a rule. `Ok(false)` when an identical one exists (EEXIST).
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<bool, NetError> {
        let mut req = self.handle().rule().add();
        *req.message_mut() = rule_message(spec);
        outcome(req.execute().await, "add rule", &[Errno::EEXIST])
    }

    /// Removes our rule. `Ok(false)` when it is not there (ENOENT).
    pub async fn del_rule(&self, spec: &RuleSpec) -> Result<bool, NetError> {
        let req = self.handle().rule().del(rule_message(spec));
        outcome(
            req.execute().await,
            "delete rule",
            &[Errno::ENOENT, Errno::ESRCH],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn gateway_route_in_main_is_universe_scope_and_ours() {
        let mut r = RouteSpec::new(ip("198.51.100.0"), 24);
        r.via = Some(ip("192.0.2.1"));
        let m = route_message(&r, Some(3), false);
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert_eq!(m.header.destination_prefix_length, 24);
        assert_eq!(m.header.table, 254);
        assert_eq!(m.header.scope, RouteScope::Universe);
        assert_eq!(m.header.kind, RouteType::Unicast);
        assert_eq!(m.header.protocol, RouteProtocol::KeepAlived);
        assert_eq!(
            m.attributes,
            vec![
                RouteAttribute::Table(254),
                RouteAttribute::Destination(RouteAddress::Inet("198.51.100.0".parse().unwrap())),
                RouteAttribute::Gateway(RouteAddress::Inet("192.0.2.1".parse().unwrap())),
                RouteAttribute::Oif(3),
            ]
        );
        assert_eq!(r.to_string(), "198.51.100.0/24 via 192.0.2.1");
    }

    #[test]
    fn delete_matches_any_scope_but_only_our_protocol_and_type() {
        let mut r = RouteSpec::new(ip("203.0.113.0"), 24);
        r.kind = rtn::BLACKHOLE;
        let add = route_message(&r, None, true);
        assert_eq!(add.header.scope, RouteScope::NoWhere);
        assert_eq!(add.header.kind, RouteType::BlackHole);
        assert_eq!(add.header.protocol, RouteProtocol::KeepAlived);
        assert_eq!(r.to_string(), "blackhole 203.0.113.0/24");
    }

    #[test]
    fn default_scopes_follow_ip_route() {
        let mut r = RouteSpec::new(ip("198.51.100.0"), 24);
        assert_eq!(r.effective_scope(), SCOPE_LINK, "connected: link");
        r.kind = rtn::LOCAL;
        assert_eq!(r.effective_scope(), SCOPE_HOST);
        r.kind = rtn::UNREACHABLE;
        assert_eq!(r.effective_scope(), SCOPE_UNIVERSE);
        r.scope = Some(200);
        assert_eq!(r.effective_scope(), 200);
    }

    #[test]
    fn big_table_ids_go_in_the_attribute_only_and_metrics_are_sent() {
        let mut r = RouteSpec::new(ip("2001:db8:5::"), 48);
        r.table = 1000;
        r.metric = Some(50);
        r.src = Some(ip("2001:db8::1"));
        r.metrics.mtu = Some(1400);
        r.onlink = true;
        let m = route_message(&r, None, false);
        assert_eq!(m.header.address_family, AddressFamily::Inet6);
        assert_eq!(m.header.table, 0);
        assert!(m.header.flags.contains(RouteFlags::Onlink));
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
        assert!(m.attributes.contains(&RouteAttribute::Priority(50)));
        assert!(m
            .attributes
            .contains(&RouteAttribute::Metrics(vec![RouteMetric::Mtu(1400)])));
        assert!(m
            .attributes
            .contains(&RouteAttribute::PrefSource(RouteAddress::Inet6(
                "2001:db8::1".parse().unwrap()
            ))));
        // A delete does not carry metrics (they do not select a route).
        let d = route_message(&r, None, true);
        assert!(!d
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Metrics(_))));
    }

    #[test]
    fn default_route_has_no_destination() {
        let mut r = RouteSpec::new(ip("0.0.0.0"), 0);
        r.via = Some(ip("192.0.2.1"));
        let m = route_message(&r, None, false);
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(_))));
    }

    #[test]
    fn rule_from_address_to_table() {
        let mut r = RuleSpec::new(Family::V4);
        r.from = Some((ip("192.0.2.200"), 32));
        r.table = Some(100);
        r.priority = Some(1000);
        let m = rule_message(&r);
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert_eq!(m.header.action, RuleAction::ToTable);
        assert_eq!(m.header.table, 100);
        assert_eq!(m.header.src_len, 32);
        assert!(m.header.flags.is_empty());
        assert_eq!(
            m.attributes,
            vec![
                RuleAttribute::Source(ip("192.0.2.200")),
                RuleAttribute::Priority(1000),
                RuleAttribute::Protocol(RouteProtocol::KeepAlived),
            ]
        );
        assert_eq!(r.to_string(), "pref 1000 from 192.0.2.200/32 lookup 100");
    }

    #[test]
    fn rule_options() {
        let mut r = RuleSpec::new(Family::V6);
        r.invert = true;
        r.to = Some((ip("2001:db8::"), 32));
        r.table = Some(5000);
        r.fwmark = Some(0x10);
        r.fwmask = Some(0xff);
        r.iif = Some("eth1".into());
        r.oif = Some("eth0".into());
        r.uidrange = Some((1000, 2000));
        r.ip_proto = Some(6);
        r.dport = Some((80, 80));
        let m = rule_message(&r);
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert!(m.header.flags.contains(RuleFlags::Invert));
        assert_eq!(m.header.table, 0);
        assert_eq!(m.header.dst_len, 32);
        for want in [
            RuleAttribute::Table(5000),
            RuleAttribute::FwMark(0x10),
            RuleAttribute::FwMask(0xff),
            RuleAttribute::Iifname("eth1".into()),
            RuleAttribute::Oifname("eth0".into()),
            RuleAttribute::UidRange(RuleUidRange {
                start: 1000,
                end: 2000,
            }),
            RuleAttribute::IpProtocol(IpProtocol::Tcp),
            RuleAttribute::DestinationPortRange(RulePortRange { start: 80, end: 80 }),
        ] {
            assert!(
                m.attributes.contains(&want),
                "{want:?} in {:?}",
                m.attributes
            );
        }
        let mut g = RuleSpec::new(Family::V4);
        g.goto = Some(32000);
        let m = rule_message(&g);
        assert_eq!(m.header.action, RuleAction::Goto);
        assert!(m.attributes.contains(&RuleAttribute::Goto(32000)));
    }
}
