//! Generates the `keepalived.conf` that both keepalived and vrrpd read, so a
//! drill compares the two daemons on exactly the same input.

use std::fmt::Write as _;
use std::net::IpAddr;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// RFC 3768 (IPv4 only, whole-second advert interval).
    V2,
    /// RFC 5798 (IPv4 and IPv6, centisecond advert interval).
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

impl std::str::FromStr for Version {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "2" | "v2" => Ok(Version::V2),
            "3" | "v3" => Ok(Version::V3),
            _ => Err(crate::Error::Invalid(format!("VRRP version {s:?}: 2 or 3"))),
        }
    }
}

/// Address family of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

impl std::str::FromStr for Family {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "ipv4" | "v4" | "4" => Ok(Family::V4),
            "ipv6" | "v6" | "6" => Ok(Family::V6),
            _ => Err(crate::Error::Invalid(format!("family {s:?}: ipv4 or ipv6"))),
        }
    }
}

/// `state` keyword: the state an instance starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Backup,
    Master,
}

/// How adverts are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peers {
    /// To 224.0.0.18 / ff02::12 (RFC 5798 §5.1.1.2, §5.1.2.2).
    Multicast,
    /// keepalived's `unicast_src_ip` / `unicast_peer` extension.
    Unicast { src: IpAddr, peers: Vec<IpAddr> },
}

/// One `vrrp_instance` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    pub version: Version,
    /// Seconds; fractions need VRRPv3.
    pub advert_int: f64,
    pub family: Family,
    /// Virtual addresses with their prefix length.
    pub vips: Vec<(IpAddr, u8)>,
    pub preempt: bool,
    pub peers: Peers,
    pub state: InitialState,
    /// Lines written inside the `vrrp_instance` block (trackers, notify).
    pub extra: String,
}

impl Instance {
    /// A multicast, preempting instance on `eth0` starting as BACKUP, with
    /// the family's default VIP (192.0.2.200/32 or 2001:db8::200/128).
    pub fn new(vrid: u8, priority: u8, version: Version, family: Family, advert_int: f64) -> Self {
        Instance {
            name: format!("VI_{vrid}"),
            interface: "eth0".to_string(),
            vrid,
            priority,
            version,
            advert_int,
            family,
            vips: vec![vip(family, 0)],
            preempt: true,
            peers: Peers::Multicast,
            state: InitialState::Backup,
            extra: String::new(),
        }
    }

    pub fn with_vips(mut self, vips: Vec<(IpAddr, u8)>) -> Self {
        self.vips = vips;
        self
    }

    pub fn with_preempt(mut self, preempt: bool) -> Self {
        self.preempt = preempt;
        self
    }

    pub fn with_state(mut self, state: InitialState) -> Self {
        self.state = state;
        self
    }

    pub fn with_peers(mut self, peers: Peers) -> Self {
        self.peers = peers;
        self
    }

    /// The instance runs on `ifname` (its VIPs are added there too).
    pub fn with_interface(mut self, ifname: impl Into<String>) -> Self {
        self.interface = ifname.into();
        self
    }

    /// The `vrrp_instance` name; must be unique within a file (the default
    /// `VI_<vrid>` is not once several interfaces reuse the VRIDs).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Extra lines for the instance block, as written in keepalived.conf.
    pub fn with_extra(mut self, text: impl Into<String>) -> Self {
        self.extra = text.into();
        self
    }
}

/// The `n`-th VIP (0-based) of a family, with a host prefix: 192.0.2.200..254
/// then 198.51.100.1..254 (IPv4); 2001:db8::200 + n (IPv6). Panics never;
/// IPv4 wraps within 198.51.100.0/24 past 309 instances.
pub fn vip(family: Family, n: usize) -> (IpAddr, u8) {
    match family {
        Family::V4 => {
            let addr = if n < 55 {
                std::net::Ipv4Addr::new(192, 0, 2, 200 + n as u8)
            } else {
                std::net::Ipv4Addr::new(198, 51, 100, 1 + ((n - 55) % 254) as u8)
            };
            (IpAddr::V4(addr), 32)
        }
        Family::V6 => {
            let base = u128::from(
                "2001:db8::200"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED),
            );
            (IpAddr::V6(std::net::Ipv6Addr::from(base + n as u128)), 128)
        }
    }
}

/// `count` distinct VIPs for instances on link `link` of a multi-link
/// topology (see [`crate::topology::link_subnets`]), one per instance:
///
/// - IPv4: host addresses .1 to .254 of the link's /24, in order, skipping
///   `taken` (the nodes' and the client's own addresses), as /32. A /24
///   holds 254 hosts, so at most 254 minus the taken ones.
/// - IPv6: `2001:db8:<link>::1:0` + n as /128, clear of the hosts
///   (`::11`..) of the link's /64.
///
/// Errors when the link has no IPv4 range or too few free addresses.
pub fn link_vips(
    link: usize,
    family: Family,
    count: usize,
    taken: &[IpAddr],
) -> crate::Result<Vec<(IpAddr, u8)>> {
    let (v4, v6) = crate::topology::link_subnets(link);
    match family {
        Family::V4 => {
            let net = v4.ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "link {link} has no IPv4 documentation range (only links 0-2 do)"
                ))
            })?;
            let [a, b, c, _] = net.octets();
            let vips: Vec<(IpAddr, u8)> = (1..=254u8)
                .map(|h| IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, h)))
                .filter(|ip| !taken.contains(ip))
                .take(count)
                .map(|ip| (ip, 32))
                .collect();
            if vips.len() < count {
                return Err(crate::Error::Invalid(format!(
                    "link {link}: only {} free IPv4 addresses in {net}/24 for {count} VIPs",
                    vips.len()
                )));
            }
            Ok(vips)
        }
        Family::V6 => {
            let base = u128::from(v6) + 0x1_0000;
            Ok((0..count)
                .map(|n| (IpAddr::V6(std::net::Ipv6Addr::from(base + n as u128)), 128))
                .collect())
        }
    }
}

/// A whole configuration file for one node.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepalivedConf {
    pub router_id: String,
    pub instances: Vec<Instance>,
    /// Top-level blocks written before the instances (`vrrp_script`,
    /// `vrrp_sync_group`, `global_defs` additions are not merged).
    pub extra: String,
}

impl KeepalivedConf {
    pub fn new(router_id: impl Into<String>, instances: Vec<Instance>) -> Self {
        KeepalivedConf {
            router_id: router_id.into(),
            instances,
            extra: String::new(),
        }
    }

    /// Renders the file in keepalived syntax.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# generated by netns-tests");
        let _ = writeln!(s, "global_defs {{");
        let _ = writeln!(s, "    router_id {}", self.router_id);
        let _ = writeln!(s, "}}");
        if !self.extra.is_empty() {
            let _ = writeln!(s);
            s.push_str(&self.extra);
            if !self.extra.ends_with('\n') {
                s.push('\n');
            }
        }
        for i in &self.instances {
            let _ = writeln!(s);
            let _ = writeln!(s, "vrrp_instance {} {{", i.name);
            let state = match i.state {
                InitialState::Backup => "BACKUP",
                InitialState::Master => "MASTER",
            };
            let _ = writeln!(s, "    state {state}");
            let _ = writeln!(s, "    interface {}", i.interface);
            let _ = writeln!(s, "    virtual_router_id {}", i.vrid);
            let _ = writeln!(s, "    priority {}", i.priority);
            let _ = writeln!(s, "    version {}", i.version.number());
            let _ = writeln!(s, "    advert_int {}", format_secs(i.advert_int));
            if !i.preempt {
                let _ = writeln!(s, "    nopreempt");
            }
            if let Peers::Unicast { src, peers } = &i.peers {
                let _ = writeln!(s, "    unicast_src_ip {src}");
                let _ = writeln!(s, "    unicast_peer {{");
                for p in peers {
                    let _ = writeln!(s, "        {p}");
                }
                let _ = writeln!(s, "    }}");
            }
            let _ = writeln!(s, "    virtual_ipaddress {{");
            for (addr, len) in &i.vips {
                let _ = writeln!(s, "        {addr}/{len} dev {}", i.interface);
            }
            let _ = writeln!(s, "    }}");
            for line in i.extra.lines() {
                let _ = writeln!(s, "    {line}");
            }
            let _ = writeln!(s, "}}");
        }
        s
    }

    /// Top-level blocks to write before the instances.
    pub fn with_extra(mut self, text: impl Into<String>) -> Self {
        self.extra = text.into();
        self
    }
}

/// Seconds without a trailing ".0" and without float noise ("0.1", "1").
fn format_secs(secs: f64) -> String {
    let cs = (secs * 100.0).round() as u64;
    if cs % 100 == 0 {
        format!("{}", cs / 100)
    } else if cs % 10 == 0 {
        format!("{}.{}", cs / 100, (cs % 100) / 10)
    } else {
        format!("{}.{:02}", cs / 100, cs % 100)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_a_v3_ipv6_unicast_instance() {
        let i = Instance::new(7, 150, Version::V3, Family::V6, 0.1)
            .with_preempt(false)
            .with_peers(Peers::Unicast {
                src: "2001:db8::11".parse().unwrap(),
                peers: vec!["2001:db8::12".parse().unwrap()],
            });
        let text = KeepalivedConf::new("n1", vec![i]).render();
        for want in [
            "router_id n1",
            "vrrp_instance VI_7 {",
            "state BACKUP",
            "virtual_router_id 7",
            "priority 150",
            "version 3",
            "advert_int 0.1\n",
            "nopreempt",
            "unicast_src_ip 2001:db8::11",
            "        2001:db8::12\n",
            "2001:db8::200/128 dev eth0",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn seconds_format() {
        assert_eq!(format_secs(1.0), "1");
        assert_eq!(format_secs(0.1), "0.1");
        assert_eq!(format_secs(0.01), "0.01");
        assert_eq!(format_secs(2.5), "2.5");
    }

    #[test]
    fn link_vips_are_unique_and_skip_taken_addresses() {
        let taken: Vec<IpAddr> = vec![
            "192.0.2.11".parse().unwrap(),
            "192.0.2.12".parse().unwrap(),
            "192.0.2.100".parse().unwrap(),
        ];
        let v = link_vips(0, Family::V4, 250, &taken).unwrap();
        assert_eq!(v.len(), 250);
        assert_eq!(v[0], ("192.0.2.1".parse().unwrap(), 32));
        assert_eq!(v[10].0.to_string(), "192.0.2.13");
        let mut uniq = v.clone();
        uniq.sort_by_key(|x| x.0);
        uniq.dedup();
        assert_eq!(uniq.len(), 250);
        assert!(v.iter().all(|(a, _)| !taken.contains(a)));
        assert_eq!(
            link_vips(1, Family::V4, 1, &[]).unwrap()[0].0.to_string(),
            "198.51.100.1"
        );
        assert_eq!(
            link_vips(2, Family::V4, 1, &[]).unwrap()[0].0.to_string(),
            "203.0.113.1"
        );
        assert!(link_vips(0, Family::V4, 252, &taken).is_err());
        assert!(link_vips(3, Family::V4, 1, &[]).is_err());
        let v6 = link_vips(3, Family::V6, 250, &[]).unwrap();
        assert_eq!(v6[0], ("2001:db8:3::1:0".parse().unwrap(), 128));
        assert_eq!(v6[249].0.to_string(), "2001:db8:3::1:f9");
    }

    #[test]
    fn instance_on_another_interface() {
        let i = Instance::new(7, 150, Version::V3, Family::V4, 1.0)
            .with_interface("eth2")
            .with_name("VI_2_7")
            .with_vips(vec![("203.0.113.7".parse().unwrap(), 32)]);
        let text = KeepalivedConf::new("n1", vec![i]).render();
        for want in [
            "vrrp_instance VI_2_7 {",
            "interface eth2\n",
            "203.0.113.7/32 dev eth2",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn vips_stay_in_documentation_ranges() {
        assert_eq!(vip(Family::V4, 0).0.to_string(), "192.0.2.200");
        assert_eq!(vip(Family::V4, 54).0.to_string(), "192.0.2.254");
        assert_eq!(vip(Family::V4, 55).0.to_string(), "198.51.100.1");
        assert_eq!(vip(Family::V4, 249).0.to_string(), "198.51.100.195");
        assert_eq!(vip(Family::V6, 0x10).0.to_string(), "2001:db8::210");
    }
}
