//! The IPVS generic netlink messages, sans-IO.
//!
//! Layouts follow the kernel's `include/uapi/linux/ip_vs.h` and what
//! ipvsadm's `libipvs/libipvs.c` puts on the wire. A request is
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       nlmsg_len (u32)                         |  struct nlmsghdr
//! +-------------------------------+-------------------------------+
//! |   nlmsg_type (family id)      |  nlmsg_flags (REQUEST|ACK)    |
//! +-------------------------------+-------------------------------+
//! |                       nlmsg_seq (u32)                         |
//! +---------------------------------------------------------------+
//! |                       nlmsg_pid (u32, 0)                      |
//! +---------------+---------------+-------------------------------+
//! |   cmd (u8)    | version (1)   |        reserved (0)           |  struct genlmsghdr
//! +---------------+---------------+-------------------------------+
//! |  nla_len      | IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED          |  service
//! |    nested: AF, PROTOCOL, ADDR, PORT | FWMARK, SCHED_NAME,       |
//! |            [PE_NAME], FLAGS, TIMEOUT, NETMASK                 |
//! +---------------------------------------------------------------+
//! |  nla_len      | IPVS_CMD_ATTR_DEST | NLA_F_NESTED             |  destination
//! |    nested: ADDR_FAMILY, ADDR, PORT, FWD_METHOD, WEIGHT,       |  (dest commands)
//! |            U_THRESH, L_THRESH, [TUN_TYPE, TUN_PORT, TUN_FLAGS]|
//! +---------------------------------------------------------------+
//! ```
//!
//! Every netlink field is in host byte order except the ports
//! (`__be16`) and an IPv4 persistence netmask (`__be32`), which the kernel
//! reads as they are. Attributes are padded to 4 bytes (`NLA_ALIGNTO`);
//! `nla_len` counts the header and the value, not the padding.
//!
//! Framing (nlmsghdr, genlmsghdr, attribute headers, padding, NLMSG_ERROR)
//! is done by `netlink-packet-core` / `netlink-packet-generic`; this module
//! only knows the IPVS attributes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NlaBuffer, NlasIterator, ParseableParametrized, NLA_F_NESTED, NLA_TYPE_MASK,
    NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_generic::constants::GENL_ID_CTRL;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};

/// `CTRL_ATTR_FAMILY_ID` / `CTRL_ATTR_FAMILY_NAME` (linux/genetlink.h).
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// `IPVS_GENL_NAME`: the name the controller resolves to a family id.
pub const IPVS_GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`.
pub const IPVS_GENL_VERSION: u8 = 1;

/// `AF_INET` / `AF_INET6` as Linux numbers them.
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// Commands (`enum { IPVS_CMD_UNSPEC = 0, ... }` in ip_vs.h).
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    /// Only used as the command of the GET_INFO reply.
    pub const SET_INFO: u8 = 14;
    pub const GET_INFO: u8 = 15;
    pub const FLUSH: u8 = 17;
}

/// First-level attributes (`IPVS_CMD_ATTR_*`).
pub mod cmd_attr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
}

/// Attributes nested in `IPVS_CMD_ATTR_SERVICE` (`IPVS_SVC_ATTR_*`).
pub mod svc_attr {
    /// u16 address family.
    pub const AF: u16 = 1;
    /// u16 IP protocol number.
    pub const PROTOCOL: u16 = 2;
    /// 16 bytes (`union nf_inet_addr`), an IPv4 address in the first 4.
    pub const ADDR: u16 = 3;
    /// `__be16`.
    pub const PORT: u16 = 4;
    /// u32.
    pub const FWMARK: u16 = 5;
    /// NUL-terminated string, at most 16 bytes with the NUL.
    pub const SCHED_NAME: u16 = 6;
    /// `struct ip_vs_flags { __u32 flags; __u32 mask; }`.
    pub const FLAGS: u16 = 7;
    /// u32 persistence timeout in seconds.
    pub const TIMEOUT: u16 = 8;
    /// u32: a `__be32` mask for IPv4, a prefix length for IPv6.
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    /// NUL-terminated string (persistence engine, e.g. `sip`).
    pub const PE_NAME: u16 = 11;
}

/// Attributes nested in `IPVS_CMD_ATTR_DEST` (`IPVS_DEST_ATTR_*`).
pub mod dest_attr {
    pub const ADDR: u16 = 1;
    /// `__be16`.
    pub const PORT: u16 = 2;
    /// u32, `IP_VS_CONN_F_FWD_MASK` bits.
    pub const FWD_METHOD: u16 = 3;
    /// u32 (an `int` in the kernel, never negative).
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    /// u16 address family of the destination (may differ from the
    /// service's for tunnelled destinations).
    pub const ADDR_FAMILY: u16 = 11;
    /// u8 `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    pub const TUN_TYPE: u16 = 13;
    /// `__be16` (GUE's UDP port).
    pub const TUN_PORT: u16 = 14;
    /// u16 `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    pub const TUN_FLAGS: u16 = 15;
}

/// Attributes of the GET_INFO reply (`IPVS_INFO_ATTR_*`).
pub mod info_attr {
    pub const VERSION: u16 = 1;
    pub const CONN_TAB_SIZE: u16 = 2;
}

/// Service flags (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    pub const PERSISTENT: u32 = 0x0001;
    pub const ONEPACKET: u32 = 0x0004;
    pub const SCHED1: u32 = 0x0008;
    pub const SCHED2: u32 = 0x0010;
    pub const SCHED3: u32 = 0x0020;
}

/// `IP_VS_SCHEDNAME_MAXLEN` / `IP_VS_PENAME_MAXLEN`, NUL included.
pub const NAME_MAXLEN: usize = 16;

/// IP protocol of a service. Unknown numbers are kept (smoltcp's
/// "never fail to parse" rule), so a dump of a foreign table round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Unknown(u16),
}

impl From<u16> for Protocol {
    fn from(v: u16) -> Self {
        match v {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            v => Protocol::Unknown(v),
        }
    }
}

impl From<Protocol> for u16 {
    fn from(p: Protocol) -> u16 {
        match p {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Unknown(v) => v,
        }
    }
}

/// Forwarding method of a destination (`IP_VS_CONN_F_*` under
/// `IP_VS_CONN_F_FWD_MASK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMethod {
    /// NAT (`IP_VS_CONN_F_MASQ`, 0).
    Masq,
    /// `IP_VS_CONN_F_LOCALNODE`, 1.
    LocalNode,
    /// IP-in-IP / GUE / GRE (`IP_VS_CONN_F_TUNNEL`, 2).
    Tunnel,
    /// Direct routing (`IP_VS_CONN_F_DROUTE`, 3).
    DirectRoute,
    /// `IP_VS_CONN_F_BYPASS`, 4.
    Bypass,
    Unknown(u32),
}

impl From<u32> for ForwardMethod {
    fn from(v: u32) -> Self {
        match v {
            0 => ForwardMethod::Masq,
            1 => ForwardMethod::LocalNode,
            2 => ForwardMethod::Tunnel,
            3 => ForwardMethod::DirectRoute,
            4 => ForwardMethod::Bypass,
            v => ForwardMethod::Unknown(v),
        }
    }
}

impl From<ForwardMethod> for u32 {
    fn from(m: ForwardMethod) -> u32 {
        match m {
            ForwardMethod::Masq => 0,
            ForwardMethod::LocalNode => 1,
            ForwardMethod::Tunnel => 2,
            ForwardMethod::DirectRoute => 3,
            ForwardMethod::Bypass => 4,
            ForwardMethod::Unknown(v) => v,
        }
    }
}

/// Encapsulation of a tunnelled destination (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelType {
    Ipip,
    Gue,
    Gre,
    Unknown(u8),
}

impl From<u8> for TunnelType {
    fn from(v: u8) -> Self {
        match v {
            0 => TunnelType::Ipip,
            1 => TunnelType::Gue,
            2 => TunnelType::Gre,
            v => TunnelType::Unknown(v),
        }
    }
}

impl From<TunnelType> for u8 {
    fn from(t: TunnelType) -> u8 {
        match t {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
            TunnelType::Unknown(v) => v,
        }
    }
}

/// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
pub mod tun_flags {
    pub const NOCSUM: u16 = 0;
    pub const CSUM: u16 = 1 << 0;
    pub const REMCSUM: u16 = 1 << 1;
}

/// Tunnel settings of a destination; only sent with
/// [`ForwardMethod::Tunnel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelType,
    /// GUE's destination UDP port (the kernel refuses GUE without one).
    pub port: Option<u16>,
    /// `tun_flags::*`.
    pub flags: Option<u16>,
}

/// What identifies a virtual service in the kernel's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `protocol addr:port`; port 0 for an all-ports persistent service.
    Addr {
        protocol: Protocol,
        addr: IpAddr,
        port: u16,
    },
    /// `fwmark N` of one address family.
    Fwmark { family: u16, mark: u32 },
}

impl ServiceKey {
    pub fn family(&self) -> u16 {
        match self {
            ServiceKey::Addr { addr, .. } => family_of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                let p = match protocol {
                    Protocol::Tcp => "TCP".to_owned(),
                    Protocol::Udp => "UDP".to_owned(),
                    Protocol::Sctp => "SCTP".to_owned(),
                    Protocol::Unknown(n) => format!("proto {n}"),
                };
                write!(f, "{p} {}", std::net::SocketAddr::new(*addr, *port))
            }
            ServiceKey::Fwmark { family, mark } => {
                let fam = if *family == AF_INET6 { " IPv6" } else { "" };
                write!(f, "FWM {mark}{fam}")
            }
        }
    }
}

/// Persistence granularity: which client addresses share a persistent
/// template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Netmask {
    /// IPv4 services: a mask, sent as `__be32` (its octets in order).
    V4(Ipv4Addr),
    /// IPv6 services: a prefix length 1..=128, sent as a host-order u32.
    V6(u32),
}

impl Netmask {
    /// ipvsadm's default: one client address per template.
    pub fn host(family: u16) -> Netmask {
        if family == AF_INET6 {
            Netmask::V6(128)
        } else {
            Netmask::V4(Ipv4Addr::BROADCAST)
        }
    }

    fn to_bytes(self) -> [u8; 4] {
        match self {
            Netmask::V4(m) => m.octets(),
            Netmask::V6(len) => len.to_ne_bytes(),
        }
    }

    fn from_bytes(family: u16, b: [u8; 4]) -> Netmask {
        if family == AF_INET6 {
            Netmask::V6(u32::from_ne_bytes(b))
        } else {
            Netmask::V4(Ipv4Addr::from(b))
        }
    }
}

/// A virtual service, all the attributes a NEW_SERVICE needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler module name without `ip_vs_` (`wlc`, `rr`, ...).
    pub scheduler: String,
    /// `svc_flags::*`; sent with mask `!0` (every flag set or cleared),
    /// as libipvs does.
    pub flags: u32,
    /// Persistence timeout in seconds (0: not persistent).
    pub timeout: u32,
    pub netmask: Netmask,
    /// Persistence engine (`sip`).
    pub pe_name: Option<String>,
}

/// A destination (real server) of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    pub method: ForwardMethod,
    pub weight: u32,
    /// Upper/lower connection thresholds; 0 = none.
    pub u_thresh: u32,
    pub l_thresh: u32,
    pub tunnel: Option<Tunnel>,
}

impl Dest {
    /// What the kernel identifies a destination of a service by.
    pub fn key(&self) -> (IpAddr, u16) {
        (self.addr, self.port)
    }
}

/// The requests we send to the IPVS family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    NewService(Service),
    SetService(Service),
    DelService(Service),
    NewDest(Service, Dest),
    SetDest(Service, Dest),
    DelDest(Service, Dest),
    GetInfo,
    /// Remove every service and destination (not ours only: never sent
    /// by the sink, there for tools and tests).
    Flush,
}

impl Request {
    pub fn command(&self) -> u8 {
        match self {
            Request::NewService(_) => cmd::NEW_SERVICE,
            Request::SetService(_) => cmd::SET_SERVICE,
            Request::DelService(_) => cmd::DEL_SERVICE,
            Request::NewDest(..) => cmd::NEW_DEST,
            Request::SetDest(..) => cmd::SET_DEST,
            Request::DelDest(..) => cmd::DEL_DEST,
            Request::GetInfo => cmd::GET_INFO,
            Request::Flush => cmd::FLUSH,
        }
    }

    fn attributes(&self) -> Vec<DefaultNla> {
        match self {
            Request::NewService(s) | Request::SetService(s) | Request::DelService(s) => {
                vec![nested(cmd_attr::SERVICE, &service_attrs(s))]
            }
            Request::NewDest(s, d) | Request::SetDest(s, d) | Request::DelDest(s, d) => vec![
                nested(cmd_attr::SERVICE, &service_attrs(s)),
                nested(cmd_attr::DEST, &dest_attrs(d)),
            ],
            Request::GetInfo | Request::Flush => Vec::new(),
        }
    }

    /// The request as a netlink message for family `family_id` (as the
    /// controller resolved it) with sequence number `seq`:
    /// `NLM_F_REQUEST | NLM_F_ACK`, port id 0 (the kernel fills in ours).
    pub fn encode(&self, family_id: u16, seq: u32) -> Vec<u8> {
        let mut genl =
            GenlMessage::from_payload(IpvsPayload::new(self.command(), self.attributes()));
        genl.set_resolved_family_id(family_id);
        frame(genl, seq)
    }

    /// Parse a request back (for tests, tracing and fuzzing): the inverse
    /// of [`Request::encode`]. Returns the family id and sequence number.
    pub fn decode(buf: &[u8]) -> Result<(u16, u32, Request), DecodeError> {
        let nl = NetlinkBuffer::new_checked(buf)?;
        let (family, seq) = (nl.message_type(), nl.sequence_number());
        let msg: GenlMessage<IpvsPayload> =
            GenlMessage::parse_with_param(nl.payload(), nl.message_type())?;
        let p = msg.payload;
        let mut svc = None;
        let mut dest = None;
        for a in NlasIterator::new(&p.raw[..]) {
            let a = a?;
            match a.kind() & NLA_TYPE_MASK {
                cmd_attr::SERVICE => svc = Some(parse_service(a.value())?),
                cmd_attr::DEST => dest = Some(parse_dest(a.value())?),
                _ => {}
            }
        }
        let need_svc = || {
            svc.clone()
                .ok_or_else(|| DecodeError::from("no service attribute"))
        };
        let need_dest = || {
            dest.clone()
                .ok_or_else(|| DecodeError::from("no dest attribute"))
        };
        let req = match p.cmd {
            cmd::NEW_SERVICE => Request::NewService(need_svc()?),
            cmd::SET_SERVICE => Request::SetService(need_svc()?),
            cmd::DEL_SERVICE => Request::DelService(need_svc()?),
            cmd::NEW_DEST => Request::NewDest(need_svc()?, need_dest()?),
            cmd::SET_DEST => Request::SetDest(need_svc()?, need_dest()?),
            cmd::DEL_DEST => Request::DelDest(need_svc()?, need_dest()?),
            cmd::GET_INFO => Request::GetInfo,
            cmd::FLUSH => Request::Flush,
            c => return Err(format!("unknown IPVS command {c}").into()),
        };
        Ok((family, seq, req))
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::NewService(s) => write!(f, "add service {} {}", s.key, s.scheduler),
            Request::SetService(s) => write!(f, "edit service {} {}", s.key, s.scheduler),
            Request::DelService(s) => write!(f, "delete service {}", s.key),
            Request::NewDest(s, d) => write!(
                f,
                "add {} to {} ({:?}, weight {})",
                std::net::SocketAddr::new(d.addr, d.port),
                s.key,
                d.method,
                d.weight
            ),
            Request::SetDest(s, d) => write!(
                f,
                "set {} of {} to weight {}",
                std::net::SocketAddr::new(d.addr, d.port),
                s.key,
                d.weight
            ),
            Request::DelDest(s, d) => write!(
                f,
                "delete {} from {}",
                std::net::SocketAddr::new(d.addr, d.port),
                s.key
            ),
            Request::GetInfo => write!(f, "get info"),
            Request::Flush => write!(f, "flush"),
        }
    }
}

/// The controller's `CTRL_CMD_GETFAMILY` for `name` (`CTRL_ATTR_FAMILY_NAME`,
/// NUL-terminated), sent to `GENL_ID_CTRL` with `NLM_F_REQUEST | NLM_F_ACK`.
pub fn get_family_request(name: &str, seq: u32) -> Vec<u8> {
    let genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_owned())],
    });
    frame(genl, seq)
}

fn frame<F>(genl: GenlMessage<F>, seq: u32) -> Vec<u8>
where
    F: GenlFamily + Emitable + std::fmt::Debug,
{
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    // Fills nlmsg_len and nlmsg_type (the family id) from the payload.
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// An IPVS message body: its command and its attributes, raw. Replies are
/// interpreted by [`Reply::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct IpvsPayload {
    cmd: u8,
    attrs: Vec<DefaultNla>,
    /// The attribute bytes as received (empty when built for sending).
    raw: Vec<u8>,
}

impl IpvsPayload {
    fn new(cmd: u8, attrs: Vec<DefaultNla>) -> Self {
        IpvsPayload {
            cmd,
            attrs,
            raw: Vec::new(),
        }
    }
}

impl GenlFamily for IpvsPayload {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsPayload {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsPayload {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(IpvsPayload {
            cmd: header.cmd,
            attrs: Vec::new(),
            raw: buf.to_vec(),
        })
    }
}

fn nla(kind: u16, value: impl Into<Vec<u8>>) -> DefaultNla {
    DefaultNla::new(kind, value.into())
}

/// A nested attribute (`NLA_F_NESTED` set, as `nla_nest_start` does).
fn nested(kind: u16, inner: &[DefaultNla]) -> DefaultNla {
    let mut value = vec![0; inner.buffer_len()];
    inner.emit(&mut value);
    nla(kind | NLA_F_NESTED, value)
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn family_of(addr: &IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first 4.
fn inet_addr(addr: &IpAddr) -> [u8; 16] {
    let mut b = [0; 16];
    match addr {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b = a.octets(),
    }
    b
}

fn service_attrs(s: &Service) -> Vec<DefaultNla> {
    // The order libipvs uses (ipvs_nl_fill_service_attr).
    let mut v = vec![nla(svc_attr::AF, s.key.family().to_ne_bytes())];
    match &s.key {
        ServiceKey::Fwmark { mark, .. } => v.push(nla(svc_attr::FWMARK, mark.to_ne_bytes())),
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            v.push(nla(svc_attr::PROTOCOL, u16::from(*protocol).to_ne_bytes()));
            v.push(nla(svc_attr::ADDR, inet_addr(addr)));
            v.push(nla(svc_attr::PORT, port.to_be_bytes()));
        }
    }
    v.push(nla(svc_attr::SCHED_NAME, nul_terminated(&s.scheduler)));
    if let Some(pe) = &s.pe_name {
        v.push(nla(svc_attr::PE_NAME, nul_terminated(pe)));
    }
    let mut flags = s.flags.to_ne_bytes().to_vec();
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    v.push(nla(svc_attr::FLAGS, flags));
    v.push(nla(svc_attr::TIMEOUT, s.timeout.to_ne_bytes()));
    v.push(nla(svc_attr::NETMASK, s.netmask.to_bytes()));
    v
}

fn dest_attrs(d: &Dest) -> Vec<DefaultNla> {
    // The order libipvs uses (ipvs_nl_fill_dest_attr).
    let mut v = vec![
        nla(dest_attr::ADDR_FAMILY, family_of(&d.addr).to_ne_bytes()),
        nla(dest_attr::ADDR, inet_addr(&d.addr)),
        nla(dest_attr::PORT, d.port.to_be_bytes()),
        nla(dest_attr::FWD_METHOD, u32::from(d.method).to_ne_bytes()),
        nla(dest_attr::WEIGHT, d.weight.to_ne_bytes()),
        nla(dest_attr::U_THRESH, d.u_thresh.to_ne_bytes()),
        nla(dest_attr::L_THRESH, d.l_thresh.to_ne_bytes()),
    ];
    if let (ForwardMethod::Tunnel, Some(t)) = (d.method, d.tunnel) {
        v.push(nla(dest_attr::TUN_TYPE, [u8::from(t.kind)]));
        if let Some(p) = t.port {
            v.push(nla(dest_attr::TUN_PORT, p.to_be_bytes()));
        }
        if let Some(f) = t.flags {
            v.push(nla(dest_attr::TUN_FLAGS, f.to_ne_bytes()));
        }
    }
    v
}

fn fixed<const N: usize>(what: &str, v: &[u8]) -> Result<[u8; N], DecodeError> {
    v.try_into()
        .map_err(|_| DecodeError::from(format!("{what}: {} bytes, expected {N}", v.len())))
}

fn u16_ne(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    fixed::<2>(what, v).map(u16::from_ne_bytes)
}

fn u32_ne(what: &str, v: &[u8]) -> Result<u32, DecodeError> {
    fixed::<4>(what, v).map(u32::from_ne_bytes)
}

fn be16(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    fixed::<2>(what, v).map(u16::from_be_bytes)
}

fn c_string(what: &str, v: &[u8]) -> Result<String, DecodeError> {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec())
        .map_err(|_| DecodeError::from(format!("{what}: not UTF-8")))
}

fn ip_of(family: u16, v: &[u8]) -> Result<IpAddr, DecodeError> {
    let b = fixed::<16>("address", v)?;
    Ok(match family {
        AF_INET => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        AF_INET6 => IpAddr::V6(Ipv6Addr::from(b)),
        f => return Err(format!("unknown address family {f}").into()),
    })
}

fn attrs_of(buf: &[u8]) -> Result<Vec<NlaBuffer<&[u8]>>, DecodeError> {
    NlasIterator::new(buf).collect()
}

fn parse_service(buf: &[u8]) -> Result<Service, DecodeError> {
    let attrs = attrs_of(buf)?;
    let (mut family, mut protocol, mut addr, mut port, mut mark) = (None, None, None, None, None);
    let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (None, 0, 0, None, None);
    for a in &attrs {
        let v = a.value();
        match a.kind() & NLA_TYPE_MASK {
            svc_attr::AF => family = Some(u16_ne("AF", v)?),
            svc_attr::PROTOCOL => protocol = Some(Protocol::from(u16_ne("PROTOCOL", v)?)),
            svc_attr::ADDR => addr = Some(v),
            svc_attr::PORT => port = Some(be16("PORT", v)?),
            svc_attr::FWMARK => mark = Some(u32_ne("FWMARK", v)?),
            svc_attr::SCHED_NAME => sched = Some(c_string("SCHED_NAME", v)?),
            svc_attr::FLAGS => flags = u32_ne("FLAGS", v.get(..4).unwrap_or(v))?,
            svc_attr::TIMEOUT => timeout = u32_ne("TIMEOUT", v)?,
            svc_attr::NETMASK => netmask = Some(fixed::<4>("NETMASK", v)?),
            svc_attr::PE_NAME => pe = Some(c_string("PE_NAME", v)?),
            _ => {}
        }
    }
    let family = family.ok_or("service without AF")?;
    let key = match (mark, protocol, addr, port) {
        (Some(mark), ..) if mark != 0 => ServiceKey::Fwmark { family, mark },
        (_, Some(protocol), Some(addr), Some(port)) => ServiceKey::Addr {
            protocol,
            addr: ip_of(family, addr)?,
            port,
        },
        _ => return Err("service without fwmark nor protocol/address/port".into()),
    };
    Ok(Service {
        key,
        scheduler: sched.unwrap_or_default(),
        flags,
        timeout,
        netmask: netmask.map_or(Netmask::host(family), |b| Netmask::from_bytes(family, b)),
        pe_name: pe,
    })
}

fn parse_dest(buf: &[u8]) -> Result<Dest, DecodeError> {
    let attrs = attrs_of(buf)?;
    let (mut family, mut addr, mut port, mut method) = (None, None, 0, ForwardMethod::Masq);
    let (mut weight, mut u, mut l) = (0, 0, 0);
    let (mut tun_type, mut tun_port, mut tun_flags) = (None, None, None);
    for a in &attrs {
        let v = a.value();
        match a.kind() & NLA_TYPE_MASK {
            dest_attr::ADDR_FAMILY => family = Some(u16_ne("ADDR_FAMILY", v)?),
            dest_attr::ADDR => addr = Some(v),
            dest_attr::PORT => port = be16("PORT", v)?,
            dest_attr::FWD_METHOD => method = ForwardMethod::from(u32_ne("FWD_METHOD", v)?),
            dest_attr::WEIGHT => weight = u32_ne("WEIGHT", v)?,
            dest_attr::U_THRESH => u = u32_ne("U_THRESH", v)?,
            dest_attr::L_THRESH => l = u32_ne("L_THRESH", v)?,
            dest_attr::TUN_TYPE => {
                tun_type = Some(TunnelType::from(fixed::<1>("TUN_TYPE", v)?[0]));
            }
            dest_attr::TUN_PORT => tun_port = Some(be16("TUN_PORT", v)?),
            dest_attr::TUN_FLAGS => tun_flags = Some(u16_ne("TUN_FLAGS", v)?),
            _ => {}
        }
    }
    let addr = addr.ok_or("destination without ADDR")?;
    // Kernels before 4.x send no ADDR_FAMILY: then the address is the
    // service's family, which we do not know here; an all-zero tail
    // is the IPv4 layout.
    let family = family.unwrap_or(if addr.len() == 16 && addr[4..].iter().all(|b| *b == 0) {
        AF_INET
    } else {
        AF_INET6
    });
    Ok(Dest {
        addr: ip_of(family, addr)?,
        port,
        method,
        weight,
        u_thresh: u,
        l_thresh: l,
        tunnel: tun_type.map(|kind| Tunnel {
            kind,
            port: tun_port,
            flags: tun_flags,
        }),
    })
}

/// IPVS's answer to GET_INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpvsInfo {
    /// `IP_VS_VERSION_CODE`, e.g. 0x010201 for 1.2.1.
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

impl std::fmt::Display for IpvsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IPVS {}.{}.{} (connection table size {})",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff,
            self.conn_tab_size
        )
    }
}

/// One message received on the socket, as far as we care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `NLMSG_ERROR` with error 0: the request `seq` succeeded.
    Ack {
        seq: u32,
    },
    /// `NLMSG_ERROR`: the request `seq` failed with this (positive) errno.
    Error {
        seq: u32,
        errno: i32,
    },
    /// The controller's NEWFAMILY reply to GETFAMILY.
    Family {
        seq: u32,
        id: u16,
        name: String,
    },
    /// The reply to GET_INFO (command SET_INFO).
    Info {
        seq: u32,
        info: IpvsInfo,
    },
    Done {
        seq: u32,
    },
    /// Anything else (kept so the caller can log and skip it).
    Other {
        seq: u32,
        message_type: u16,
    },
}

impl Reply {
    /// Parse the first message of `buf` (a datagram may hold several).
    /// `ipvs_family` is the resolved IPVS family id, if known. Returns the
    /// reply and the number of bytes it took, padding included.
    pub fn parse(buf: &[u8], ipvs_family: Option<u16>) -> Result<(Reply, usize), DecodeError> {
        let nl = NetlinkBuffer::new_checked(buf)?;
        let len = nl.length() as usize;
        let used = (len + 3) & !3;
        let seq = nl.sequence_number();
        let payload = nl.payload();
        let reply = match nl.message_type() {
            NLMSG_ERROR => {
                let e = ErrorBuffer::new_checked(payload)?;
                match e.code() {
                    None => Reply::Ack { seq },
                    // The kernel sends the negative errno.
                    Some(c) => Reply::Error {
                        seq,
                        errno: c.get().saturating_abs(),
                    },
                }
            }
            NLMSG_DONE => Reply::Done { seq },
            GENL_ID_CTRL => {
                // Our own checked walk over the attributes after the 4-byte
                // generic header, not netlink-packet-generic's controller
                // parser: that one panics on an attribute whose length is
                // below the 4-byte header (found by the ipvs_netlink fuzz
                // target). Only the family id and name matter here.
                let attrs = payload
                    .get(4..)
                    .ok_or("controller reply shorter than its generic header")?;
                let mut id = None;
                let mut name = String::new();
                for a in attrs_of(attrs)? {
                    match a.kind() & NLA_TYPE_MASK {
                        CTRL_ATTR_FAMILY_ID => id = Some(u16_ne("FAMILY_ID", a.value())?),
                        CTRL_ATTR_FAMILY_NAME => name = c_string("FAMILY_NAME", a.value())?,
                        _ => {}
                    }
                }
                match id {
                    Some(id) => Reply::Family { seq, id, name },
                    None => return Err("controller reply without CTRL_ATTR_FAMILY_ID".into()),
                }
            }
            t if Some(t) == ipvs_family => {
                let m: GenlMessage<IpvsPayload> = GenlMessage::parse_with_param(payload, t)?;
                if m.payload.cmd == cmd::SET_INFO {
                    let (mut version, mut size) = (None, None);
                    for a in attrs_of(&m.payload.raw)? {
                        match a.kind() & NLA_TYPE_MASK {
                            info_attr::VERSION => version = Some(u32_ne("VERSION", a.value())?),
                            info_attr::CONN_TAB_SIZE => {
                                size = Some(u32_ne("CONN_TAB_SIZE", a.value())?)
                            }
                            _ => {}
                        }
                    }
                    match (version, size) {
                        (Some(version), Some(conn_tab_size)) => Reply::Info {
                            seq,
                            info: IpvsInfo {
                                version,
                                conn_tab_size,
                            },
                        },
                        _ => return Err("GET_INFO reply without VERSION/CONN_TAB_SIZE".into()),
                    }
                } else {
                    Reply::Other {
                        seq,
                        message_type: t,
                    }
                }
            }
            t => Reply::Other {
                seq,
                message_type: t,
            },
        };
        Ok((reply, used.min(buf.len())))
    }

    /// Every message of a datagram.
    pub fn parse_all(buf: &[u8], ipvs_family: Option<u16>) -> Result<Vec<Reply>, DecodeError> {
        let mut out = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            let (r, used) = Reply::parse(rest, ipvs_family)?;
            out.push(r);
            if used == 0 {
                break;
            }
            rest = &rest[used..];
        }
        Ok(out)
    }

    pub fn seq(&self) -> u32 {
        match self {
            Reply::Ack { seq }
            | Reply::Error { seq, .. }
            | Reply::Family { seq, .. }
            | Reply::Info { seq, .. }
            | Reply::Done { seq }
            | Reply::Other { seq, .. } => *seq,
        }
    }
}

/// The GET_INFO reply the kernel would send (cmd SET_INFO, VERSION and
/// CONN_TAB_SIZE), for tests of the reply path.
pub fn encode_info_reply(family_id: u16, seq: u32, info: IpvsInfo) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(IpvsPayload::new(
        cmd::SET_INFO,
        vec![
            nla(info_attr::VERSION, info.version.to_ne_bytes()),
            nla(info_attr::CONN_TAB_SIZE, info.conn_tab_size.to_ne_bytes()),
        ],
    ));
    genl.set_resolved_family_id(family_id);
    let mut header = NetlinkHeader::default();
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Service {
        Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: "2001:db8::10".parse().unwrap(),
                port: 53,
            },
            scheduler: "sh".into(),
            flags: svc_flags::PERSISTENT | svc_flags::SCHED2,
            timeout: 600,
            netmask: Netmask::V6(64),
            pe_name: Some("sip".into()),
        }
    }

    #[test]
    fn every_request_round_trips() {
        let d = Dest {
            addr: "2001:db8::1".parse().unwrap(),
            port: 5353,
            method: ForwardMethod::Tunnel,
            weight: 7,
            u_thresh: 100,
            l_thresh: 10,
            tunnel: Some(Tunnel {
                kind: TunnelType::Gue,
                port: Some(6080),
                flags: Some(tun_flags::CSUM),
            }),
        };
        for r in [
            Request::NewService(svc()),
            Request::SetService(svc()),
            Request::DelService(svc()),
            Request::NewDest(svc(), d.clone()),
            Request::SetDest(svc(), d.clone()),
            Request::DelDest(svc(), d),
            Request::GetInfo,
            Request::Flush,
        ] {
            let bytes = r.encode(0x1d, 9);
            assert_eq!(bytes.len() % 4, 0);
            assert_eq!(Request::decode(&bytes).unwrap(), (0x1d, 9, r));
        }
    }

    #[test]
    fn truncated_requests_are_errors_not_panics() {
        let bytes = Request::NewDest(
            svc(),
            Dest {
                addr: "192.0.2.1".parse().unwrap(),
                port: 80,
                method: ForwardMethod::Masq,
                weight: 1,
                u_thresh: 0,
                l_thresh: 0,
                tunnel: None,
            },
        )
        .encode(30, 1);
        for cut in 0..bytes.len() {
            let _ = Request::decode(&bytes[..cut]);
            let _ = Reply::parse_all(&bytes[..cut], Some(30));
        }
    }

    #[test]
    fn scheduler_names_fit_the_kernel_limit() {
        for (name, _) in conf::model::Scheduler::ALL {
            assert!(name.len() < NAME_MAXLEN, "{name}");
        }
    }
}
