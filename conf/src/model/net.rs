//! Addresses, routes and rules: `virtual_ipaddress`, `static_routes`,
//! `virtual_rules` and friends. The syntax is `ip address/route/rule add`'s.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::{is_false, Origin};

/// Address scope (`scope site|link|host|nowhere|global` or a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "global" | "0" => Scope::Global,
            "site" | "200" => Scope::Site,
            "link" | "253" => Scope::Link,
            "host" | "254" => Scope::Host,
            "nowhere" | "255" => Scope::Nowhere,
            _ => return None,
        })
    }

    /// The kernel's `RT_SCOPE_*` value.
    pub fn value(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
        }
    }
}

/// `brd` of an address: an address, or `+`/`-` to set or clear the host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Broadcast {
    Address(IpAddr),
    /// `brd +`: host bits set.
    Set,
    /// `brd -`: host bits cleared.
    Clear,
}

/// `preferred_lft nn|forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreferredLft {
    Forever,
    Seconds(u32),
}

/// One line of `virtual_ipaddress`, `virtual_ipaddress_excluded` or
/// `static_ipaddress`:
/// `<IPADDR>[/<MASK>] [brd <IPADDR>] [dev <STRING>] [scope <SCOPE>] [label <LABEL>] ...`.
/// Without a mask the prefix is /32 (IPv4) or /128 (IPv6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct IpAddress {
    pub address: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brd: Option<Broadcast>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpNetwork>,
    /// Configure this address on a VMAC of its own (`use_vmac`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_vmac: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub home: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub nodad: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub mngtmpaddr: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub noprefixroute: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub autojoin: bool,
    /// Deleting the address does not take the instance out of MASTER.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_track: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_lft: Option<PreferredLft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_group: Option<String>,
    #[serde(skip)]
    pub origin: Origin,
}

super::string_or_table!(
    IpAddress,
    "an address `ADDR[/PREFIX]` or a table with `address`",
    (
        |s: &str| {
            s.parse::<IpNetwork>()
                .map(IpAddress::new)
                .map_err(|e| format!("invalid address `{s}`: {e}"))
        },
        |a: &IpAddress| (*a == IpAddress::new(a.address)).then(|| a.address.to_string())
    )
);

impl IpAddress {
    pub fn new(address: IpNetwork) -> Self {
        IpAddress {
            address,
            brd: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            use_vmac: false,
            home: false,
            nodad: false,
            mngtmpaddr: false,
            noprefixroute: false,
            autojoin: false,
            no_track: false,
            preferred_lft: None,
            track_group: None,
            origin: Origin::default(),
        }
    }

    pub fn ip(&self) -> IpAddr {
        self.address.ip()
    }

    pub fn is_ipv4(&self) -> bool {
        self.address.is_ipv4()
    }
}

/// A routing table: a number, or a name from `/etc/iproute2/rt_tables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Table {
    Id(u32),
    Name(String),
}

impl Table {
    pub fn parse(s: &str) -> Table {
        match s {
            "main" => Table::Id(254),
            "local" => Table::Id(255),
            "default" => Table::Id(253),
            _ => s
                .parse()
                .map(Table::Id)
                .unwrap_or_else(|_| Table::Name(s.to_owned())),
        }
    }
}

/// The route type written before the destination (`blackhole 10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    #[default]
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
}

impl RouteType {
    pub fn parse(s: &str) -> Option<RouteType> {
        Some(match s {
            "unicast" => RouteType::Unicast,
            "local" => RouteType::Local,
            "broadcast" => RouteType::Broadcast,
            "anycast" => RouteType::Anycast,
            "multicast" => RouteType::Multicast,
            "blackhole" => RouteType::Blackhole,
            "unreachable" => RouteType::Unreachable,
            "prohibit" => RouteType::Prohibit,
            "throw" => RouteType::Throw,
            "nat" => RouteType::Nat,
            _ => return None,
        })
    }

    pub fn keyword(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Anycast => "anycast",
            RouteType::Multicast => "multicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
            RouteType::Nat => "nat",
        }
    }
}

/// One `nexthop via ADDR [dev IF] [weight N] [onlink]` of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub onlink: bool,
}

/// One line of `virtual_routes` / `static_routes`:
/// `[src IP] [to] [TYPE] DEST [via|gw IP [or IP]] [dev IF] [scope S] [table T] ...`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub to: IpNetwork,
    #[serde(default, rename = "type", skip_serializing_if = "is_unicast")]
    pub route_type: RouteType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    /// keepalived's `or ADDR`: a second gateway tried if the first is not
    /// reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or_via: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
    /// `metric` / `priority` / `preference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hoplimit: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initcwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nexthops: Vec<NextHop>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub onlink: bool,
    /// `append`: add after matching routes (`ip route append`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub append: bool,
    /// `inet6`: force IPv6 for a route that could be either.
    #[serde(default, skip_serializing_if = "is_false")]
    pub inet6: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_track: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_group: Option<String>,
    #[serde(skip)]
    pub origin: Origin,
}

fn is_unicast(t: &RouteType) -> bool {
    *t == RouteType::Unicast
}

impl Route {
    pub fn new(to: IpNetwork) -> Self {
        Route {
            to,
            route_type: RouteType::Unicast,
            src: None,
            via: None,
            or_via: None,
            dev: None,
            scope: None,
            table: None,
            metric: None,
            protocol: None,
            tos: None,
            mtu: None,
            advmss: None,
            hoplimit: None,
            initcwnd: None,
            initrwnd: None,
            pref: None,
            realms: None,
            vrf: None,
            nexthops: Vec::new(),
            onlink: false,
            append: false,
            inet6: false,
            no_track: false,
            track_group: None,
            origin: Origin::default(),
        }
    }
}

/// A port or port range of a rule (`sport 10-20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

/// One line of `virtual_rules` / `static_rules`:
/// `[not] [from P] [to P] [table T] [preference N] [iif IF] [oif IF] ...`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IpNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<IpNetwork>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub not: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefixlength: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_ifgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidrange: Option<(u32, u32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_proto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub l3mdev: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub inet6: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_track: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_group: Option<String>,
    #[serde(skip)]
    pub origin: Origin,
}
