//! Links and addresses through rtnetlink.
//!
//! Requests are built by plain functions ([`add_message`], [`del_message`])
//! apart from their execution, so what we ask the kernel is unit-tested
//! without privileges. Execution keeps the kernel's errno: "already there"
//! on add and "not there" on delete are no-ops reported as `Ok(false)`, so a
//! daemon that restarts, or a master that re-enters the state, can replay
//! its address set without special cases.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt, TryStreamExt};
use nix::errno::Errno;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, MacVlanMode};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkMacVlan, MulticastGroup};
use tokio::task::JoinHandle;

use super::{Family, NetError};

/// One address of an interface: the address, its prefix length and its
/// label (`IFA_LABEL`: for IPv4 the interface name unless another label was
/// given; always `None` for IPv6, which has no labels).
pub type IfAddress = (IpAddr, u8, Option<String>);

/// A link came up or went down (or was removed, reported as down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkEvent {
    pub ifindex: u32,
    /// Administratively up and running (`IFF_UP | IFF_RUNNING`), the test
    /// keepalived applies to tracked interfaces.
    pub up: bool,
}

/// Aborts the rtnetlink connection task when its owner goes away.
#[derive(Debug)]
struct ConnTask(JoinHandle<()>);

impl Drop for ConnTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A route-netlink connection for link and address queries and changes.
///
/// The netlink socket lives in the network namespace of the thread that
/// calls [`Netlink::new`]; its connection runs as a task on the current
/// tokio runtime and stops when this value is dropped.
#[derive(Debug)]
pub struct Netlink {
    handle: Handle,
    _conn: ConnTask,
}

/// Maps an rtnetlink error to ours, keeping the errno.
pub(super) fn nl_err(op: &'static str, e: rtnetlink::Error) -> NetError {
    match e {
        rtnetlink::Error::NetlinkError(msg) => NetError::Netlink {
            op,
            errno: Errno::from_raw(msg.raw_code().abs()),
        },
        other => NetError::NetlinkProtocol {
            op,
            detail: other.to_string(),
        },
    }
}

fn link_up(msg: &LinkMessage) -> bool {
    msg.header
        .flags
        .contains(LinkFlags::Up | LinkFlags::Running)
}

/// The local address carried by an address message: `IFA_LOCAL` when
/// present (on point-to-point links `IFA_ADDRESS` is the peer), otherwise
/// `IFA_ADDRESS`.
fn message_address(msg: &AddressMessage) -> Option<IpAddr> {
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => return Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    address
}

fn message_flags(msg: &AddressMessage) -> AddressFlags {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Flags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits())))
}

fn message_label(msg: &AddressMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Label(l) => Some(l.clone()),
        _ => None,
    })
}

fn is_ipv6_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// What `virtual_ipaddress` can say about an address besides the address
/// itself (ip-address(8) options, as keepalived passes them to the kernel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressOptions {
    /// `label`: IPv4 only (`IFA_LABEL`); the kernel keeps no labels for
    /// IPv6.
    pub label: Option<String>,
    /// `scope`: the kernel's `RT_SCOPE_*` value; `None` is global.
    pub scope: Option<u8>,
    /// `brd`, already resolved (`+` / `-` computed from the prefix):
    /// `IFA_BROADCAST`, IPv4 only.
    pub broadcast: Option<Ipv4Addr>,
    /// `peer ADDR[/LEN]`: the other end of a point-to-point address. The
    /// message then carries the peer as `IFA_ADDRESS` and its prefix length.
    pub peer: Option<(IpAddr, u8)>,
    /// `home`, `mngtmpaddr`, `noprefixroute`, `autojoin`: `IFA_F_*` bits
    /// sent in `IFA_FLAGS` (most do not fit the header's byte).
    pub flags: AddressFlags,
    /// `preferred_lft` in seconds (`None`: forever, except the deprecated
    /// IPv6 /128 VIP below).
    pub preferred_lft: Option<u32>,
}

// By hand: the flags type has no `Default`.
impl Default for AddressOptions {
    fn default() -> Self {
        AddressOptions {
            label: None,
            scope: None,
            broadcast: None,
            peer: None,
            flags: AddressFlags::empty(),
            preferred_lft: None,
        }
    }
}

/// Builds the `RTM_NEWADDR` message that adds a virtual IP.
///
/// IPv4: `IFA_LOCAL` = the VIP, `IFA_ADDRESS` = the VIP (or the peer), no
/// broadcast unless configured (keepalived sets one only when asked), the
/// label if given. IPv6: `IFA_F_NODAD` so the address is usable at once and
/// can never end up "dadfailed" during a transient split brain (VRRP is its
/// own duplicate detection; keepalived does the same), and a /128 VIP gets a
/// preferred lifetime of 0 (deprecated, RFC 4862 §5.5.4) so that local
/// connections do not pick it as source, as keepalived does. Labels and
/// broadcasts are IPv4-only in the kernel and left out for IPv6.
pub fn add_message(
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
) -> AddressMessage {
    let opts = AddressOptions {
        label: label.map(str::to_owned),
        ..AddressOptions::default()
    };
    add_message_with(ifindex, addr, prefix_len, &opts)
}

/// [`add_message`] with every option of [`AddressOptions`].
pub fn add_message_with(
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
    opts: &AddressOptions,
) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = ifindex;
    msg.header.prefix_len = opts.peer.map_or(prefix_len, |(_, len)| len);
    if let Some(scope) = opts.scope {
        msg.header.scope = AddressScope::from(scope);
    }
    let remote = opts.peer.map_or(addr, |(p, _)| p);
    match addr {
        IpAddr::V4(_) => {
            msg.header.family = AddressFamily::Inet;
            msg.attributes.push(AddressAttribute::Local(addr));
            msg.attributes.push(AddressAttribute::Address(remote));
            if let Some(brd) = opts.broadcast {
                msg.attributes.push(AddressAttribute::Broadcast(brd));
            }
            if let Some(label) = &opts.label {
                msg.attributes.push(AddressAttribute::Label(label.clone()));
            }
            if !opts.flags.is_empty() {
                msg.attributes.push(AddressAttribute::Flags(opts.flags));
            }
            if let Some(preferred) = opts.preferred_lft {
                msg.attributes
                    .push(AddressAttribute::CacheInfo(lifetimes(preferred)));
            }
        }
        IpAddr::V6(_) => {
            msg.header.family = AddressFamily::Inet6;
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes.push(AddressAttribute::Local(addr));
            msg.attributes.push(AddressAttribute::Address(remote));
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad | opts.flags));
            let preferred = match opts.preferred_lft {
                Some(p) => Some(p),
                None if prefix_len == 128 && opts.peer.is_none() => Some(0),
                None => None,
            };
            if let Some(p) = preferred {
                msg.attributes
                    .push(AddressAttribute::CacheInfo(lifetimes(p)));
            }
        }
    }
    msg
}

/// Address lifetimes: preferred for `preferred` seconds (0: deprecated at
/// once), valid forever.
fn lifetimes(preferred: u32) -> CacheInfo {
    let mut c = CacheInfo::default();
    c.ifa_preferred = preferred;
    c.ifa_valid = u32::MAX;
    c
}

/// Builds the `RTM_DELADDR` message that removes a virtual IP.
pub fn del_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    del_message_with(ifindex, addr, prefix_len, None)
}

/// [`del_message`] for an address with a `peer`: the kernel matches the
/// peer (`IFA_ADDRESS`) and its prefix length too.
pub fn del_message_with(
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
    peer: Option<(IpAddr, u8)>,
) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = ifindex;
    msg.header.prefix_len = peer.map_or(prefix_len, |(_, len)| len);
    msg.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.attributes.push(AddressAttribute::Local(addr));
    msg.attributes
        .push(AddressAttribute::Address(peer.map_or(addr, |(p, _)| p)));
    msg
}

/// The virtual router MAC address of RFC 5798 §7.3:
/// 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
pub fn virtual_router_mac(family: Family, vrid: u8) -> [u8; 6] {
    let kind = match family {
        Family::V4 => 1,
        Family::V6 => 2,
    };
    [0x00, 0x00, 0x5e, 0x00, kind, vrid]
}

/// Builds the `RTM_NEWLINK` message that creates a VMAC interface
/// (keepalived's `use_vmac`): a macvlan on `parent` in private mode (VMACs
/// of one parent must not talk to each other, each is a different router),
/// with the virtual router MAC, created up.
/// The VMAC is created down: the runtime first turns off what would make
/// the kernel speak from it on its own (IPv6 autoconfiguration on an IPv4
/// VMAC: DAD, MLD reports and router solicitations with the virtual MAC as
/// source, which move the switch's forwarding entry for that MAC to a
/// backup), then brings it up with [`Netlink::set_link_up`].
pub fn vmac_message(parent: u32, name: &str, mac: [u8; 6]) -> LinkMessage {
    LinkMacVlan::new(name, parent, MacVlanMode::Private)
        .address(mac.to_vec())
        .build()
}

fn link_mac_of(msg: &LinkMessage) -> Option<[u8; 6]> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(mac) => <[u8; 6]>::try_from(mac.as_slice()).ok(),
        _ => None,
    })
}

fn link_parent_of(msg: &LinkMessage) -> Option<u32> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Link(p) => Some(*p),
        _ => None,
    })
}

impl Netlink {
    /// Opens a route-netlink socket in the current thread's network
    /// namespace and spawns its connection on the current tokio runtime.
    pub fn new() -> Result<Self, NetError> {
        let (conn, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(|e| NetError::Netlink {
                op: "socket",
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })?;
        let task = tokio::spawn(conn);
        Ok(Netlink {
            handle,
            _conn: ConnTask(task),
        })
    }

    /// The rtnetlink handle, for the route and rule requests of
    /// [`super::route`].
    pub(super) fn handle(&self) -> &Handle {
        &self.handle
    }

    async fn link_by_index(&self, ifindex: u32) -> Result<LinkMessage, NetError> {
        let mut links = self.handle.link().get().match_index(ifindex).execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(NetError::NoSuchLink(ifindex)),
            Err(e) => match nl_err("get link", e) {
                NetError::Netlink {
                    errno: Errno::ENODEV,
                    ..
                } => Err(NetError::NoSuchLink(ifindex)),
                other => Err(other),
            },
        }
    }

    /// The index of the interface called `name`.
    pub async fn link_index(&self, name: &str) -> Result<u32, NetError> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(msg.header.index),
            Ok(None) => Err(NetError::NoSuchInterface(name.to_owned())),
            Err(e) => match nl_err("get link", e) {
                NetError::Netlink {
                    errno: Errno::ENODEV,
                    ..
                } => Err(NetError::NoSuchInterface(name.to_owned())),
                other => Err(other),
            },
        }
    }

    /// The interface's MAC address. Fails with [`NetError::NoSuchLink`] for
    /// a link without a 6-byte hardware address.
    pub async fn link_mac(&self, ifindex: u32) -> Result<[u8; 6], NetError> {
        let msg = self.link_by_index(ifindex).await?;
        link_mac_of(&msg).ok_or(NetError::NoSuchLink(ifindex))
    }

    /// Whether the interface is up and running (`IFF_UP | IFF_RUNNING`).
    pub async fn link_is_up(&self, ifindex: u32) -> Result<bool, NetError> {
        Ok(link_up(&self.link_by_index(ifindex).await?))
    }

    async fn dump_addresses(&self, ifindex: u32) -> Result<Vec<AddressMessage>, NetError> {
        self.handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err("get addresses", e))
    }

    /// The address VRRP adverts are sent from when no source is configured:
    /// IPv4, the interface's first primary (non-secondary) address; IPv6, its
    /// link-local address (RFC 5798 §5.1.2.1), preferring one that has
    /// finished duplicate address detection.
    pub async fn primary_address(
        &self,
        ifindex: u32,
        family: Family,
    ) -> Result<Option<IpAddr>, NetError> {
        let msgs = self.dump_addresses(ifindex).await?;
        Ok(select_primary(&msgs, family))
    }

    /// All addresses of the interface, in the kernel's order (for IPv4,
    /// primary addresses come before their secondaries).
    pub async fn list_addresses(&self, ifindex: u32) -> Result<Vec<IfAddress>, NetError> {
        let msgs = self.dump_addresses(ifindex).await?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                let addr = message_address(m)?;
                Some((addr, m.header.prefix_len, message_label(m)))
            })
            .collect())
    }

    /// Adds `addr/prefix_len` to the interface. `Ok(true)` when added,
    /// `Ok(false)` when it was already there (EEXIST).
    pub async fn add_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> Result<bool, NetError> {
        let opts = AddressOptions {
            label: label.map(str::to_owned),
            ..AddressOptions::default()
        };
        self.add_address_with(ifindex, addr, prefix_len, &opts)
            .await
    }

    /// [`Netlink::add_address`] with scope, broadcast, label and peer.
    pub async fn add_address_with(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        opts: &AddressOptions,
    ) -> Result<bool, NetError> {
        let mut req = self.handle.address().add(ifindex, addr, prefix_len);
        *req.message_mut() = add_message_with(ifindex, addr, prefix_len, opts);
        match req.execute().await.map_err(|e| nl_err("add address", e)) {
            Ok(()) => Ok(true),
            Err(NetError::Netlink {
                errno: Errno::EEXIST,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes `addr/prefix_len` from the interface. `Ok(true)` when
    /// removed, `Ok(false)` when it was not there (EADDRNOTAVAIL, ENOENT).
    pub async fn del_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<bool, NetError> {
        self.del_address_with(ifindex, addr, prefix_len, None).await
    }

    /// [`Netlink::del_address`] for an address that may have a `peer`.
    pub async fn del_address_with(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        peer: Option<(IpAddr, u8)>,
    ) -> Result<bool, NetError> {
        let req = self
            .handle
            .address()
            .del(del_message_with(ifindex, addr, prefix_len, peer));
        match req.execute().await.map_err(|e| nl_err("delete address", e)) {
            Ok(()) => Ok(true),
            Err(NetError::Netlink {
                errno: Errno::EADDRNOTAVAIL | Errno::ENOENT,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the VMAC interface `name` on `parent` with `mac` (see
    /// [`vmac_message`]) and returns its index and whether it was created.
    /// An existing link of that name on the same parent with the same MAC
    /// is reused (`Ok((index, false))`, e.g. after a restart); any other
    /// link of that name is [`NetError::Exists`].
    ///
    /// Not done here: the per-interface sysctls keepalived also sets on a
    /// VMAC (`arp_ignore`, `arp_filter`, `accept_local`, `rp_filter`).
    pub async fn add_vmac(
        &self,
        parent: u32,
        name: &str,
        mac: [u8; 6],
    ) -> Result<(u32, bool), NetError> {
        let req = self.handle.link().add(vmac_message(parent, name, mac));
        match req.execute().await.map_err(|e| nl_err("add vmac", e)) {
            Ok(()) => Ok((self.link_index(name).await?, true)),
            Err(NetError::Netlink {
                errno: Errno::EEXIST,
                ..
            }) => {
                let mut links = self.handle.link().get().match_name(name).execute();
                let existing = links
                    .try_next()
                    .await
                    .map_err(|e| nl_err("get link", e))?
                    .ok_or_else(|| NetError::NoSuchInterface(name.to_owned()))?;
                if link_mac_of(&existing) == Some(mac) && link_parent_of(&existing) == Some(parent)
                {
                    Ok((existing.header.index, false))
                } else {
                    Err(NetError::Exists)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Sets a link up (a VMAC, once its settings are in place).
    pub async fn set_link_up(&self, ifindex: u32) -> Result<(), NetError> {
        self.handle
            .link()
            .set(rtnetlink::LinkUnspec::new_with_index(ifindex).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("set link up", e))
    }

    /// Sets a link down (an IPv6 VMAC while its instance is not master).
    pub async fn set_link_down(&self, ifindex: u32) -> Result<(), NetError> {
        self.handle
            .link()
            .set(
                rtnetlink::LinkUnspec::new_with_index(ifindex)
                    .down()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("set link down", e))
    }

    /// Deletes a link (a VMAC). `Ok(false)` when it was already gone.
    pub async fn del_link(&self, ifindex: u32) -> Result<bool, NetError> {
        match self
            .handle
            .link()
            .del(ifindex)
            .execute()
            .await
            .map_err(|e| nl_err("delete link", e))
        {
            Ok(()) => Ok(true),
            Err(NetError::Netlink {
                errno: Errno::ENODEV,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Subscribes to link changes (`RTMGRP_LINK`). Each `RTM_NEWLINK`
    /// yields the link's current up/running state (the kernel sends one for
    /// many kinds of change, so consumers should act on transitions only);
    /// `RTM_DELLINK` yields `up: false`. Uses its own netlink socket, in the
    /// caller's network namespace; the subscription ends when the stream is
    /// dropped. (A method for convenience: it does not share this
    /// connection.)
    pub fn link_events(&self) -> Result<LinkEvents, NetError> {
        let (conn, _handle, messages) =
            rtnetlink::new_multicast_connection(&[MulticastGroup::Link]).map_err(|e| {
                NetError::Netlink {
                    op: "subscribe to link events",
                    errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                }
            })?;
        let task = tokio::spawn(conn);
        Ok(LinkEvents {
            messages,
            _conn: ConnTask(task),
        })
    }
}

type NlMessages = UnboundedReceiver<(
    NetlinkMessage<RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

/// The stream returned by [`Netlink::link_events`].
#[derive(Debug)]
pub struct LinkEvents {
    messages: NlMessages,
    _conn: ConnTask,
}

impl Stream for LinkEvents {
    type Item = LinkEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LinkEvent>> {
        loop {
            match self.messages.poll_next_unpin(cx) {
                Poll::Ready(Some((msg, _))) => {
                    let event = match msg.payload {
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                            LinkEvent {
                                ifindex: l.header.index,
                                up: link_up(&l),
                            }
                        }
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
                            LinkEvent {
                                ifindex: l.header.index,
                                up: false,
                            }
                        }
                        _ => continue,
                    };
                    return Poll::Ready(Some(event));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Picks the advert source address among an interface's addresses.
fn select_primary(msgs: &[AddressMessage], family: Family) -> Option<IpAddr> {
    match family {
        Family::V4 => msgs
            .iter()
            .filter(|m| m.header.family == AddressFamily::Inet)
            .filter(|m| !message_flags(m).contains(AddressFlags::Secondary))
            .find_map(|m| match message_address(m) {
                Some(IpAddr::V4(a)) if a != Ipv4Addr::UNSPECIFIED => Some(IpAddr::V4(a)),
                _ => None,
            }),
        Family::V6 => {
            let link_locals: Vec<(Ipv6Addr, AddressFlags)> = msgs
                .iter()
                .filter(|m| m.header.family == AddressFamily::Inet6)
                .filter_map(|m| match message_address(m) {
                    Some(IpAddr::V6(a)) if is_ipv6_link_local(&a) => Some((a, message_flags(m))),
                    _ => None,
                })
                .collect();
            let unusable = AddressFlags::Tentative | AddressFlags::Dadfailed;
            link_locals
                .iter()
                .find(|(_, f)| !f.intersects(unusable))
                .or_else(|| link_locals.first())
                .map(|(a, _)| IpAddr::V6(*a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(a))
    }

    #[test]
    fn ipv4_add_message_has_local_address_and_label_but_no_broadcast() {
        let m = add_message(7, v4([192, 0, 2, 10]), 32, Some("veth0:vip"));
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.prefix_len, 32);
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert!(m.header.flags.is_empty());
        assert_eq!(
            m.attributes,
            vec![
                AddressAttribute::Local(v4([192, 0, 2, 10])),
                AddressAttribute::Address(v4([192, 0, 2, 10])),
                AddressAttribute::Label("veth0:vip".into()),
            ]
        );
    }

    #[test]
    fn ipv6_add_message_is_nodad_and_deprecated_for_a_128() {
        let vip: IpAddr = "2001:db8::100".parse().unwrap();
        let m = add_message(3, vip, 128, Some("ignored"));
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert_eq!(m.header.flags, AddressHeaderFlags::Nodad);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
        assert!(m.attributes.iter().any(|a| matches!(
            a,
            AddressAttribute::CacheInfo(CacheInfo {
                ifa_preferred: 0,
                ifa_valid: u32::MAX,
                ..
            })
        )));
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Label(_))));

        let m64 = add_message(3, vip, 64, None);
        assert!(!m64
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::CacheInfo(_))));
    }

    #[test]
    fn del_message_names_the_address_and_prefix() {
        let m = del_message(9, v4([192, 0, 2, 10]), 24);
        assert_eq!(m.header.index, 9);
        assert_eq!(m.header.prefix_len, 24);
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Local(v4([192, 0, 2, 10]))));
    }

    #[test]
    fn options_set_scope_broadcast_label_and_peer() {
        let opts = AddressOptions {
            label: Some("eth0:web".into()),
            scope: Some(253),
            broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
            ..AddressOptions::default()
        };
        let m = add_message_with(4, v4([192, 0, 2, 10]), 24, &opts);
        assert_eq!(m.header.scope, AddressScope::Link);
        assert_eq!(m.header.prefix_len, 24);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Broadcast(Ipv4Addr::new(192, 0, 2, 255))));
        assert!(m
            .attributes
            .contains(&AddressAttribute::Label("eth0:web".into())));

        // A point-to-point address: IFA_ADDRESS is the peer, with its prefix.
        let opts = AddressOptions {
            peer: Some((v4([192, 0, 2, 99]), 32)),
            ..AddressOptions::default()
        };
        let m = add_message_with(4, v4([192, 0, 2, 10]), 32, &opts);
        assert_eq!(
            &m.attributes[..2],
            &[
                AddressAttribute::Local(v4([192, 0, 2, 10])),
                AddressAttribute::Address(v4([192, 0, 2, 99])),
            ]
        );
        let d = del_message_with(4, v4([192, 0, 2, 10]), 32, opts.peer);
        assert!(d
            .attributes
            .contains(&AddressAttribute::Address(v4([192, 0, 2, 99]))));

        // IPv6 carries neither labels nor broadcasts, but scopes.
        let opts = AddressOptions {
            label: Some("x".into()),
            scope: Some(254),
            broadcast: Some(Ipv4Addr::BROADCAST),
            ..AddressOptions::default()
        };
        let m = add_message_with(4, "2001:db8::5".parse().unwrap(), 64, &opts);
        assert_eq!(m.header.scope, AddressScope::Host);
        assert!(!m.attributes.iter().any(|a| matches!(
            a,
            AddressAttribute::Label(_) | AddressAttribute::Broadcast(_)
        )));
    }

    #[test]
    fn flags_and_preferred_lifetime() {
        let opts = AddressOptions {
            flags: AddressFlags::Noprefixroute,
            preferred_lft: Some(30),
            ..AddressOptions::default()
        };
        let m = add_message_with(4, v4([192, 0, 2, 10]), 24, &opts);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Noprefixroute)));
        assert!(m
            .attributes
            .contains(&AddressAttribute::CacheInfo(lifetimes(30))));
        // IPv6 keeps NODAD; a configured lifetime wins over the /128
        // deprecation.
        let opts = AddressOptions {
            flags: AddressFlags::Mcautojoin,
            preferred_lft: Some(u32::MAX),
            ..AddressOptions::default()
        };
        let m = add_message_with(4, "2001:db8::5".parse().unwrap(), 128, &opts);
        assert!(m.attributes.contains(&AddressAttribute::Flags(
            AddressFlags::Nodad | AddressFlags::Mcautojoin
        )));
        assert!(m
            .attributes
            .contains(&AddressAttribute::CacheInfo(lifetimes(u32::MAX))));
    }

    #[test]
    fn virtual_router_macs() {
        assert_eq!(virtual_router_mac(Family::V4, 7), [0, 0, 0x5e, 0, 1, 7]);
        assert_eq!(virtual_router_mac(Family::V6, 255), [0, 0, 0x5e, 0, 2, 255]);
    }

    #[test]
    fn vmac_message_is_a_private_macvlan_with_the_mac_created_down() {
        use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoMacVlan, LinkInfo};
        let m = vmac_message(4, "vrrp.7", [0, 0, 0x5e, 0, 1, 7]);
        assert!(!m.header.flags.contains(LinkFlags::Up));
        assert!(m
            .attributes
            .contains(&LinkAttribute::IfName("vrrp.7".into())));
        assert!(m.attributes.contains(&LinkAttribute::Link(4)));
        assert!(m
            .attributes
            .contains(&LinkAttribute::Address(vec![0, 0, 0x5e, 0, 1, 7])));
        let info = m
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::LinkInfo(i) => Some(i.clone()),
                _ => None,
            })
            .unwrap();
        assert!(info.contains(&LinkInfo::Kind(InfoKind::MacVlan)));
        assert!(
            info.contains(&LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Private
            )])))
        );
    }

    fn dumped(addr: IpAddr, prefix: u8, flags: AddressFlags) -> AddressMessage {
        let mut m = del_message(1, addr, prefix);
        m.header.flags = AddressHeaderFlags::from_bits_retain(flags.bits() as u8);
        m.attributes.push(AddressAttribute::Flags(flags));
        m
    }

    #[test]
    fn primary_v4_skips_secondaries() {
        let msgs = vec![
            dumped(v4([192, 0, 2, 50]), 24, AddressFlags::Secondary),
            dumped(v4([192, 0, 2, 1]), 24, AddressFlags::Permanent),
            dumped("2001:db8::1".parse().unwrap(), 64, AddressFlags::Permanent),
        ];
        assert_eq!(select_primary(&msgs, Family::V4), Some(v4([192, 0, 2, 1])));
    }

    #[test]
    fn primary_v6_is_the_usable_link_local() {
        let msgs = vec![
            dumped("2001:db8::1".parse().unwrap(), 64, AddressFlags::Permanent),
            dumped("fe80::1".parse().unwrap(), 64, AddressFlags::Tentative),
            dumped("fe80::2".parse().unwrap(), 64, AddressFlags::Permanent),
        ];
        assert_eq!(
            select_primary(&msgs, Family::V6),
            Some("fe80::2".parse().unwrap())
        );
        // Only a tentative one: still better than nothing.
        assert_eq!(
            select_primary(&msgs[..2], Family::V6),
            Some("fe80::1".parse().unwrap())
        );
        assert_eq!(select_primary(&msgs[..1], Family::V6), None);
        assert_eq!(select_primary(&msgs[..1], Family::V4), None);
    }
}
