//! Raw sockets for IP protocol 112 (VRRP), one per (interface, family).
//!
//! The socket moves opaque VRRP payload bytes: [`VrrpSocket::recv`] strips
//! whatever IP framing the kernel delivers and reports the fields the
//! receive checks of RFC 5798 §7.1 need (source, destination, TTL / hop
//! limit); the send calls hand the payload to the kernel, which builds the IP
//! header. Several VRRP instances on one interface share one socket (wrap it
//! in an `Arc`; every method takes `&self`) and the driver demultiplexes by
//! VRID.
//!
//! Checksums: the VRRPv3 checksum covers a pseudo-header with the IP source
//! and destination (RFC 5798 §5.2.8). The caller computes it, as keepalived
//! does; `IPV6_CHECKSUM` offload is deliberately not set, so the same bytes
//! go out whatever the version. The caller must therefore know the source:
//! send with an explicit one ([`VrrpSocket::send_from`] or
//! [`VrrpSocket::set_source`]), typically `Netlink::primary_address` (the
//! primary IPv4 address, or the IPv6 link-local, RFC 5798 §5.1.2.1).
//!
//! The socket is bound to the interface by name when opened; if the
//! interface is deleted and re-created, open a new socket.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use nix::sys::socket::{
    self as nixsock, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn,
    SockaddrIn6,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::{if_index, Family, NetError};

/// IANA protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: i32 = 112;
/// The IPv4 multicast group of VRRP (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit of every VRRP packet we send, and the only one accepted
/// on receive (RFC 5798 §5.1.1.3, §5.1.2.3, §7.1).
pub const VRRP_TTL: u32 = 255;
/// `IPTOS_PREC_INTERNETCONTROL`: keepalived marks adverts as network
/// control traffic so that QoS queues do not delay them.
const TOS_INTERNETCONTROL: u32 = 0xc0;
/// Minimum IPv4 header length.
const IPV4_MIN_HEADER: usize = 20;

/// What [`VrrpSocket::recv`] learnt about one received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The IP source address (the sender's primary or link-local address).
    pub src: IpAddr,
    /// The IP destination: the VRRP group, or one of our addresses when the
    /// peer uses unicast.
    pub dst: IpAddr,
    /// The IPv4 TTL or IPv6 hop limit as received; RFC 5798 §7.1 requires
    /// 255.
    pub ttl: u8,
    /// The interface the packet arrived on.
    pub ifindex: u32,
    /// Length of the VRRP payload now at the start of the caller's buffer.
    pub len: usize,
}

/// A raw VRRP socket bound to one interface and one address family.
///
/// The raw socket is held as a `tokio::net::UdpSocket`, used only as a
/// readiness-driven descriptor: every receive and send goes through
/// `async_io` with our own `recv` / `recvmsg` / `sendmsg` calls. This avoids
/// `AsyncFd::new`, deprecated as unsound, whose replacement is `unsafe`.
#[derive(Debug)]
pub struct VrrpSocket {
    sock: UdpSocket,
    /// Source for sends that do not name one (see `set_source`).
    source: Mutex<Option<IpAddr>>,
    family: Family,
    ifname: String,
    ifindex: u32,
}

impl VrrpSocket {
    /// Opens the socket for `ifname`, joins the VRRP group on it and sets the
    /// TTL / hop limit to 255. Needs `CAP_NET_RAW` and must be called inside
    /// a tokio runtime (the socket is registered with its reactor).
    pub fn open(ifname: &str, family: Family) -> Result<Self, NetError> {
        let ifindex = if_index(ifname)?;
        let io = |op: &'static str| {
            let ifname = ifname.to_owned();
            move |source: io::Error| NetError::Io { op, ifname, source }
        };
        let (domain, proto) = match family {
            Family::V4 => (Domain::IPV4, Protocol::from(IPPROTO_VRRP)),
            Family::V6 => (Domain::IPV6, Protocol::from(IPPROTO_VRRP)),
        };
        let sock = Socket::new(domain, Type::RAW, Some(proto)).map_err(io("socket"))?;
        // Only packets that arrived on this interface are ours, and our
        // adverts must leave through it whatever the routing table says.
        sock.bind_device(Some(ifname.as_bytes()))
            .map_err(io("SO_BINDTODEVICE"))?;
        match family {
            Family::V4 => {
                sock.join_multicast_v4_n(&VRRP_GROUP_V4, &InterfaceIndexOrAddress::Index(ifindex))
                    .map_err(io("IP_ADD_MEMBERSHIP"))?;
                // Do not receive groups joined by other sockets on the host.
                sock.set_multicast_all_v4(false)
                    .map_err(io("IP_MULTICAST_ALL"))?;
                // RFC 5798 §5.1.1.3: TTL 255, multicast and unicast alike.
                // The multicast output interface is the bound device
                // (SO_BINDTODEVICE feeds the route lookup's output interface).
                sock.set_multicast_ttl_v4(VRRP_TTL)
                    .map_err(io("IP_MULTICAST_TTL"))?;
                sock.set_ttl_v4(VRRP_TTL).map_err(io("IP_TTL"))?;
                sock.set_multicast_loop_v4(false)
                    .map_err(io("IP_MULTICAST_LOOP"))?;
                sock.set_tos_v4(TOS_INTERNETCONTROL).map_err(io("IP_TOS"))?;
            }
            Family::V6 => {
                sock.join_multicast_v6(&VRRP_GROUP_V6, ifindex)
                    .map_err(io("IPV6_ADD_MEMBERSHIP"))?;
                sock.set_multicast_all_v6(false)
                    .map_err(io("IPV6_MULTICAST_ALL"))?;
                sock.set_multicast_if_v6(ifindex)
                    .map_err(io("IPV6_MULTICAST_IF"))?;
                // RFC 5798 §5.1.2.3: hop limit 255.
                sock.set_multicast_hops_v6(VRRP_TTL)
                    .map_err(io("IPV6_MULTICAST_HOPS"))?;
                sock.set_unicast_hops_v6(VRRP_TTL)
                    .map_err(io("IPV6_UNICAST_HOPS"))?;
                sock.set_multicast_loop_v6(false)
                    .map_err(io("IPV6_MULTICAST_LOOP"))?;
                // Raw IPv6 sockets deliver no header: ask for the hop limit
                // and the destination as ancillary data.
                sock.set_recv_hoplimit_v6(true)
                    .map_err(io("IPV6_RECVHOPLIMIT"))?;
                nixsock::setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)
                    .map_err(|e| io("IPV6_RECVPKTINFO")(e.into()))?;
            }
        }
        sock.set_nonblocking(true).map_err(io("O_NONBLOCK"))?;
        let sock = UdpSocket::from_std(sock.into()).map_err(io("register with tokio"))?;
        Ok(VrrpSocket {
            sock,
            source: Mutex::new(None),
            family,
            ifname: ifname.to_owned(),
            ifindex,
        })
    }

    /// The address family of this socket.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface name this socket is bound to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface index this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn io_err(&self, op: &'static str) -> impl FnOnce(io::Error) -> NetError + '_ {
        move |source| NetError::Io {
            op,
            ifname: self.ifname.clone(),
            source,
        }
    }

    /// Receives one packet; on success `buf[..len]` holds the VRRP payload
    /// only. A buffer of 1500 bytes holds any VRRP packet on Ethernet (the
    /// IPv4 header is read into the same buffer and then stripped).
    ///
    /// [`NetError::Malformed`] concerns one packet only: log it, count it and
    /// call `recv` again. [`NetError::Io`] is a socket failure.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<Received, NetError> {
        let res = self
            .sock
            .async_io(Interest::READABLE, || match self.family {
                Family::V4 => recv_v4(&self.sock, buf),
                Family::V6 => recv_v6(&self.sock, buf),
            })
            .await;
        match res {
            Ok(Ok(rx)) => Ok(rx_with_index(rx, self.ifindex)),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(self.io_err("recvmsg")(e)),
        }
    }

    /// [`VrrpSocket::recv`] without waiting: `Ok(None)` when nothing is
    /// queued (as far as the reactor has seen; wait with
    /// [`VrrpSocket::readable`]).
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<Received>, NetError> {
        let res = self.sock.try_io(Interest::READABLE, || match self.family {
            Family::V4 => recv_v4(&self.sock, buf),
            Family::V6 => recv_v6(&self.sock, buf),
        });
        match res {
            Ok(Ok(rx)) => Ok(Some(rx_with_index(rx, self.ifindex))),
            Ok(Err(e)) => Err(e),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(self.io_err("recvmsg")(e)),
        }
    }

    /// Sends `payload` to the VRRP group (224.0.0.18 or ff02::12) on this
    /// interface, from the source set by [`VrrpSocket::set_source`] if any.
    pub async fn send_multicast(&self, payload: &[u8]) -> Result<(), NetError> {
        self.send_from(self.source(), self.group(), payload).await
    }

    /// Sends `payload` to one peer (keepalived's `unicast_peer`), from the
    /// source set by [`VrrpSocket::set_source`] if any.
    pub async fn send_to(&self, dst: IpAddr, payload: &[u8]) -> Result<(), NetError> {
        self.send_from(self.source(), dst, payload).await
    }

    /// Sends `payload` to `dst` (the group or a peer) from `src`, or from
    /// the address the kernel picks when `src` is `None` (IPv4: the
    /// interface's primary address; IPv6 to ff02::12: its link-local
    /// address, RFC 5798 §5.1.2.1). For instances sharing this socket with
    /// different configured sources.
    ///
    /// The source travels as `IP_PKTINFO` / `IPV6_PKTINFO` ancillary data
    /// rather than through `bind()`: a bound raw socket only receives
    /// packets addressed to the bound address, which would silence the
    /// group. The kernel rejects a source that is not a local address
    /// (EINVAL or ENETUNREACH), reported as [`NetError::Io`].
    pub async fn send_from(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        payload: &[u8],
    ) -> Result<(), NetError> {
        let dst = self.sockaddr(dst)?;
        if let Some(src) = src {
            self.sockaddr(src)?;
        }
        let res = self
            .sock
            .async_io(Interest::WRITABLE, || {
                send_with_source(&self.sock, self.ifindex, src, dst, payload)
            })
            .await;
        match res {
            Ok(n) if n == payload.len() => Ok(()),
            Ok(_) => Err(self.io_err("sendmsg")(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write on a raw socket",
            ))),
            Err(e) => Err(self.io_err("sendmsg")(e)),
        }
    }

    /// Sets the source address of what [`VrrpSocket::send_multicast`] and
    /// [`VrrpSocket::send_to`] send (keepalived's `unicast_src_ip` /
    /// `mcast_src_ip`). Receiving is unaffected. Fails only on a family
    /// mismatch; a non-local address is refused by the kernel at send time.
    pub fn set_source(&self, src: IpAddr) -> Result<(), NetError> {
        self.sockaddr(src)?;
        *self.source.lock().unwrap_or_else(|p| p.into_inner()) = Some(src);
        Ok(())
    }

    fn source(&self) -> Option<IpAddr> {
        *self.source.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn group(&self) -> IpAddr {
        match self.family {
            Family::V4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::V6 => IpAddr::V6(VRRP_GROUP_V6),
        }
    }

    fn sockaddr(&self, ip: IpAddr) -> Result<SocketAddr, NetError> {
        match (self.family, ip) {
            (Family::V4, IpAddr::V4(a)) => Ok(SocketAddr::V4(SocketAddrV4::new(a, 0))),
            // The scope id only matters for link-scoped destinations (the
            // group, link-local peers); the kernel ignores it otherwise.
            (Family::V6, IpAddr::V6(a)) => {
                Ok(SocketAddr::V6(SocketAddrV6::new(a, 0, 0, self.ifindex)))
            }
            (socket, addr) => Err(NetError::FamilyMismatch { socket, addr }),
        }
    }

    /// Waits until the socket is readable, without consuming anything. Lets
    /// the driver select over sockets without holding a buffer.
    pub async fn readable(&self) -> Result<(), NetError> {
        self.sock
            .ready(Interest::READABLE)
            .await
            .map(|_| ())
            .map_err(self.io_err("poll"))
    }
}

/// One `sendmsg`, with the source as packet-info ancillary data when given.
/// The destination port is 0: ignored by raw IPv4 sockets, and required
/// (or equal to the protocol) by raw IPv6 ones.
fn send_with_source(
    sock: &UdpSocket,
    ifindex: u32,
    src: Option<IpAddr>,
    dst: SocketAddr,
    payload: &[u8],
) -> io::Result<usize> {
    let fd = sock.as_raw_fd();
    let iov = [IoSlice::new(payload)];
    let sent = match (dst, src) {
        (SocketAddr::V4(dst), src) => {
            let info = src.and_then(|s| match s {
                IpAddr::V4(s) => Some(libc::in_pktinfo {
                    ipi_ifindex: i32::try_from(ifindex).unwrap_or(0),
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(s).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                }),
                IpAddr::V6(_) => None,
            });
            let cmsgs: Vec<ControlMessage<'_>> =
                info.iter().map(ControlMessage::Ipv4PacketInfo).collect();
            nixsock::sendmsg(
                fd,
                &iov,
                &cmsgs,
                MsgFlags::empty(),
                Some(&SockaddrIn::from(dst)),
            )
        }
        (SocketAddr::V6(dst), src) => {
            let info = src.and_then(|s| match s {
                IpAddr::V6(s) => Some(libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: s.octets(),
                    },
                    ipi6_ifindex: ifindex,
                }),
                IpAddr::V4(_) => None,
            });
            let cmsgs: Vec<ControlMessage<'_>> =
                info.iter().map(ControlMessage::Ipv6PacketInfo).collect();
            nixsock::sendmsg(
                fd,
                &iov,
                &cmsgs,
                MsgFlags::empty(),
                Some(&SockaddrIn6::from(dst)),
            )
        }
    };
    sent.map_err(io::Error::from)
}

fn rx_with_index(mut rx: Received, bound: u32) -> Received {
    // IPv4 raw sockets report no interface; the socket is bound to one.
    if rx.ifindex == 0 {
        rx.ifindex = bound;
    }
    rx
}

/// Reads one datagram from a raw IPv4 socket: the kernel delivers the IPv4
/// header, which gives the TTL and both addresses; it is then stripped.
fn recv_v4(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Result<Received, NetError>> {
    // MSG_TRUNC makes recv return the real datagram length, so a too small
    // buffer is reported instead of silently cutting the packet.
    let n = nixsock::recv(sock.as_raw_fd(), buf, MsgFlags::MSG_TRUNC)?;
    if n > buf.len() {
        return Ok(Err(NetError::Malformed(
            "datagram larger than the receive buffer",
        )));
    }
    Ok(strip_ipv4_header(&mut buf[..n]))
}

/// Parses the IPv4 header at the start of `pkt` and moves the payload to the
/// front. Public within the crate for unit tests.
pub(crate) fn strip_ipv4_header(pkt: &mut [u8]) -> Result<Received, NetError> {
    let n = pkt.len();
    if n < IPV4_MIN_HEADER {
        return Err(NetError::Malformed("shorter than an IPv4 header"));
    }
    if pkt[0] >> 4 != 4 {
        return Err(NetError::Malformed("not an IPv4 header"));
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < IPV4_MIN_HEADER || ihl > n {
        return Err(NetError::Malformed("bad IPv4 header length"));
    }
    // Trust the total length over the datagram size when it is shorter
    // (Ethernet padding is already gone on raw sockets, but be exact).
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    let end = if total >= ihl && total <= n { total } else { n };
    let ttl = pkt[8];
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    pkt.copy_within(ihl..end, 0);
    Ok(Received {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        ttl,
        ifindex: 0,
        len: end - ihl,
    })
}

/// Reads one datagram from a raw IPv6 socket: the payload comes alone, the
/// hop limit and destination as `IPV6_HOPLIMIT` / `IPV6_PKTINFO` ancillary
/// data.
fn recv_v6(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Result<Received, NetError>> {
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let buf_len = buf.len();
    let mut iov = [IoSliceMut::new(buf)];
    let msg = nixsock::recvmsg::<SockaddrIn6>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Ok(Err(NetError::Malformed(
            "datagram larger than the receive buffer",
        )));
    }
    let len = msg.bytes.min(buf_len);
    let Some(src) = msg.address.map(|a| a.ip()) else {
        return Ok(Err(NetError::Malformed("no source address")));
    };
    let mut ttl = None;
    let mut dst = None;
    let mut ifindex = 0;
    let cmsgs = match msg.cmsgs() {
        Ok(c) => c,
        Err(_) => return Ok(Err(NetError::Malformed("ancillary data truncated"))),
    };
    for c in cmsgs {
        match c {
            ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                ifindex = info.ipi6_ifindex;
            }
            _ => {}
        }
    }
    let (Some(ttl), Some(dst)) = (ttl, dst) else {
        return Ok(Err(NetError::Malformed("missing hop limit or destination")));
    };
    Ok(Ok(Received {
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        ttl,
        ifindex,
        len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(ihl_words: u8, total: u16, payload: &[u8]) -> Vec<u8> {
        let ihl = usize::from(ihl_words) * 4;
        let mut p = vec![0u8; ihl];
        p[0] = 0x40 | ihl_words;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[8] = 255;
        p[9] = 112;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[224, 0, 0, 18]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn strips_a_plain_header() {
        let mut p = ipv4(5, 24, &[0x31, 7, 100, 1]);
        let rx = strip_ipv4_header(&mut p).unwrap();
        assert_eq!(rx.len, 4);
        assert_eq!(&p[..4], &[0x31, 7, 100, 1]);
        assert_eq!(rx.ttl, 255);
        assert_eq!(rx.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(rx.dst, IpAddr::V4(VRRP_GROUP_V4));
    }

    #[test]
    fn strips_options_and_trailing_padding() {
        // 24-byte header (one option word), 2 payload bytes, 2 bytes of
        // padding beyond the total length.
        let mut p = ipv4(6, 26, &[9, 8, 0, 0]);
        let rx = strip_ipv4_header(&mut p).unwrap();
        assert_eq!(rx.len, 2);
        assert_eq!(&p[..2], &[9, 8]);
    }

    #[test]
    fn rejects_short_and_bad_headers() {
        let mut short = vec![0x45; 19];
        assert!(matches!(
            strip_ipv4_header(&mut short),
            Err(NetError::Malformed(_))
        ));
        let mut v6 = ipv4(5, 20, &[]);
        v6[0] = 0x65;
        assert!(matches!(
            strip_ipv4_header(&mut v6),
            Err(NetError::Malformed(_))
        ));
        let mut big_ihl = ipv4(5, 20, &[]);
        big_ihl[0] = 0x4f; // 60 bytes of header in a 20-byte datagram
        assert!(matches!(
            strip_ipv4_header(&mut big_ihl),
            Err(NetError::Malformed(_))
        ));
        let mut tiny_ihl = ipv4(5, 20, &[]);
        tiny_ihl[0] = 0x44;
        assert!(matches!(
            strip_ipv4_header(&mut tiny_ihl),
            Err(NetError::Malformed(_))
        ));
    }
}
