//! Gratuitous ARP and unsolicited neighbour advertisements.
//!
//! When an instance becomes master it announces each virtual IP so that
//! hosts and switches move it to the master's MAC at once (RFC 5798 §6.4.1
//! (IPv4: gratuitous ARP; IPv6: unsolicited ND neighbour advertisement)).
//!
//! Both are whole Ethernet frames, built with `pnet_packet` by the pure
//! functions [`garp_frame`] and [`na_frame`] and sent through one
//! `AF_PACKET` socket bound to the interface, exactly as keepalived does
//! (`vrrp_arp.c`, `vrrp_ndisc.c`). Building the IPv6 header ourselves lets the
//! advertisement carry the VIP as its source, like keepalived, so it works
//! even before the interface's link-local address finishes DAD.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, NdpOption, NdpOptionTypes, NeighborAdvertFlags,
};
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;
use socket2::{Domain, Socket, Type};
use tokio::net::UdpSocket;

use super::{if_index, NetError};

const ETHERNET_HEADER: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_HEADER: usize = 40;
/// Neighbour advertisement: 24 bytes of message + one 8-byte target
/// link-layer address option (RFC 4861 §4.4, §4.6.1).
const NA_LEN: usize = 24 + 8;
/// RFC 4861 §7.1.2: receivers drop ND messages whose hop limit is not 255.
const ND_HOP_LIMIT: u8 = 255;
/// The all-nodes multicast group (RFC 4291 §2.7.1).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Its Ethernet mapping 33:33 + low 32 bits (RFC 2464 §7).
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Builds a gratuitous ARP request for `vip` (RFC 5227 §3 "ARP
/// Announcement"): broadcast, sender and target protocol address both the
/// VIP, sender hardware address `mac`. The target hardware address is
/// ff:ff:ff:ff:ff:ff as keepalived sends it (receivers ignore it, RFC 5227
/// §2.3), so captures of both implementations compare equal.
pub fn garp_frame(vip: Ipv4Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER + ARP_LEN];
    if let Some(mut eth) = MutableEthernetPacket::new(&mut frame) {
        eth.set_destination(BROADCAST_MAC.into());
        eth.set_source(mac.into());
        eth.set_ethertype(EtherTypes::Arp);
    }
    if let Some(mut arp) = MutableArpPacket::new(&mut frame[ETHERNET_HEADER..]) {
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperations::Request);
        arp.set_sender_hw_addr(mac.into());
        arp.set_sender_proto_addr(vip);
        arp.set_target_hw_addr(BROADCAST_MAC.into());
        arp.set_target_proto_addr(vip);
    }
    frame
}

/// Builds an unsolicited neighbour advertisement for `vip` (RFC 4861
/// §7.2.6): to all-nodes ff02::1, hop limit 255, Solicited clear, Override
/// set so that caches switch to `mac`, a Target Link-Layer Address option
/// carrying `mac`, and the Router flag as given (keepalived sets it when
/// IPv6 forwarding is on for the interface, so that hosts keep using us as a
/// router, RFC 4861 §7.2.5). The source address is the VIP, as keepalived
/// sends it.
pub fn na_frame(vip: Ipv6Addr, mac: [u8; 6], router: bool) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER + IPV6_HEADER + NA_LEN];
    if let Some(mut eth) = MutableEthernetPacket::new(&mut frame) {
        eth.set_destination(ALL_NODES_MAC.into());
        eth.set_source(mac.into());
        eth.set_ethertype(EtherTypes::Ipv6);
    }
    if let Some(mut ip) = MutableIpv6Packet::new(&mut frame[ETHERNET_HEADER..]) {
        ip.set_version(6);
        ip.set_payload_length(NA_LEN as u16);
        ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip.set_hop_limit(ND_HOP_LIMIT);
        ip.set_source(vip);
        ip.set_destination(ALL_NODES);
    }
    let icmp_start = ETHERNET_HEADER + IPV6_HEADER;
    if let Some(mut na) = MutableNeighborAdvertPacket::new(&mut frame[icmp_start..]) {
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(Icmpv6Code::new(0));
        let mut flags = NeighborAdvertFlags::Override;
        if router {
            flags |= NeighborAdvertFlags::Router;
        }
        na.set_flags(flags);
        na.set_target_addr(vip);
        na.set_options(&[NdpOption {
            option_type: NdpOptionTypes::TargetLLAddr,
            // Length in units of 8 octets, type and length included.
            length: 1,
            data: mac.to_vec(),
        }]);
    }
    let checksum = Icmpv6Packet::new(&frame[icmp_start..])
        .map(|p| icmpv6::checksum(&p, &vip, &ALL_NODES))
        .unwrap_or(0);
    frame[icmp_start + 2..icmp_start + 4].copy_from_slice(&checksum.to_be_bytes());
    frame
}

/// Sends announcements on one interface.
#[derive(Debug)]
///
/// As in [`super::VrrpSocket`], the packet socket is held as a
/// `tokio::net::UdpSocket` used only for its readiness and `send(2)`.
pub struct Announcer {
    sock: UdpSocket,
    ifname: String,
    ifindex: u32,
}

impl Announcer {
    /// Opens an `AF_PACKET` socket bound to `ifname`. Needs `CAP_NET_RAW`
    /// and a tokio runtime. The socket has protocol 0, so the kernel queues
    /// no received frames on it: it only sends.
    pub fn open(ifname: &str) -> Result<Self, NetError> {
        let ifindex = if_index(ifname)?;
        let io = |op: &'static str| {
            let ifname = ifname.to_owned();
            move |source: io::Error| NetError::Io { op, ifname, source }
        };
        let sock = Socket::new(Domain::PACKET, Type::RAW, None).map_err(io("socket"))?;
        // Binding needs a sockaddr_ll for the interface. getifaddrs hands one
        // out for every link (its AF_PACKET entry), which avoids building the
        // structure by hand; its protocol field is 0, which keeps the socket
        // send-only.
        let link = nix::ifaddrs::getifaddrs()
            .map_err(|e| io("getifaddrs")(e.into()))?
            .filter(|ifa| ifa.interface_name == ifname)
            .find_map(|ifa| ifa.address.and_then(|a| a.as_link_addr().copied()))
            .ok_or_else(|| NetError::NoSuchInterface(ifname.to_owned()))?;
        nix::sys::socket::bind(sock.as_raw_fd(), &link).map_err(|e| io("bind")(e.into()))?;
        sock.set_nonblocking(true).map_err(io("O_NONBLOCK"))?;
        let sock = UdpSocket::from_std(sock.into()).map_err(io("register with tokio"))?;
        Ok(Announcer {
            sock,
            ifname: ifname.to_owned(),
            ifindex,
        })
    }

    /// The interface index this announcer sends on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface name this announcer sends on.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Sends one gratuitous ARP for `vip` with sender MAC `mac` (the
    /// interface's MAC, or the VMAC).
    pub async fn garp(&self, vip: Ipv4Addr, mac: [u8; 6]) -> Result<(), NetError> {
        self.send(&garp_frame(vip, mac), "send gratuitous ARP")
            .await
    }

    /// Sends one unsolicited neighbour advertisement for `vip` with target
    /// link-layer address `mac`. The Router flag follows the interface's
    /// `net.ipv6.conf.<if>.forwarding`, as in keepalived.
    pub async fn unsolicited_na(&self, vip: Ipv6Addr, mac: [u8; 6]) -> Result<(), NetError> {
        let router = ipv6_forwarding(&self.ifname);
        self.send(&na_frame(vip, mac, router), "send neighbour advertisement")
            .await
    }

    async fn send(&self, frame: &[u8], op: &'static str) -> Result<(), NetError> {
        let err = |source| NetError::Io {
            op,
            ifname: self.ifname.clone(),
            source,
        };
        match self.sock.send(frame).await {
            Ok(n) if n == frame.len() => Ok(()),
            Ok(_) => Err(err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write on a packet socket",
            ))),
            Err(e) => Err(err(e)),
        }
    }
}

/// Reads `net.ipv6.conf.<ifname>.forwarding` in the caller's network
/// namespace; anything unreadable counts as "not a router".
fn ipv6_forwarding(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x01, 0x07];

    #[test]
    fn garp_golden_bytes() {
        let f = garp_frame(Ipv4Addr::new(192, 0, 2, 100), MAC);
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            // Ethernet: broadcast, source, ARP
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x02, 0x00, 0x5e, 0x00, 0x01, 0x07,
            0x08, 0x06,
            // ARP: Ethernet, IPv4, 6, 4, request
            0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
            0x02, 0x00, 0x5e, 0x00, 0x01, 0x07, 192, 0, 2, 100,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 0, 2, 100,
        ];
        assert_eq!(f, expected);
    }

    #[test]
    fn na_golden_bytes_and_checksum() {
        let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let f = na_frame(vip, MAC, false);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(&f[..6], &ALL_NODES_MAC);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let ip = &f[14..54];
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(&ip[4..6], &[0, 32]); // payload length
        assert_eq!(ip[6], 58); // ICMPv6
        assert_eq!(ip[7], 255); // hop limit
        assert_eq!(&ip[8..24], &vip.octets());
        assert_eq!(&ip[24..40], &ALL_NODES.octets());
        let na = &f[54..];
        assert_eq!(na[0], 136);
        assert_eq!(na[1], 0);
        assert_eq!(na[4], 0x20, "Override only");
        assert_eq!(&na[5..8], &[0, 0, 0]);
        assert_eq!(&na[8..24], &vip.octets());
        assert_eq!(&na[24..26], &[2, 1]); // target link-layer address, 8 bytes
        assert_eq!(&na[26..32], &MAC);

        // The checksum verifies: summing the pseudo-header and the message
        // with the checksum in place gives 0xffff (RFC 4443 §2.3).
        let mut sum: u32 = 0;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        };
        add(&vip.octets());
        add(&ALL_NODES.octets());
        add(&32u32.to_be_bytes());
        add(&[0, 0, 0, 58]);
        add(na);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }

    #[test]
    fn na_router_flag() {
        let f = na_frame("2001:db8::1".parse().unwrap(), MAC, true);
        assert_eq!(f[54 + 4], 0xa0, "Router and Override");
    }
}
