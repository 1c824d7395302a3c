//! Address, route and rule removals reported by the kernel
//! (`RTNLGRP_IPV4_IFADDR`, `IPV6_IFADDR`, `IPV4_ROUTE`, `IPV6_ROUTE`,
//! `IPV4_RULE`, `IPV6_RULE`), so that a master notices a VIP, virtual route
//! or virtual rule that someone else removed (`ip addr del`, a network
//! restart, `ip route flush`) instead of advertising an address nobody
//! answers for.
//!
//! This module only observes and batches: [`removal_of`] reduces a
//! notification to a [`Removal`] (unit-tested without privileges), and
//! [`debounce`] turns a storm (a flush of a thousand addresses) into one
//! batch, so the runtime makes one reconciliation pass per burst. Whether a
//! removal was ours (a state change, a reload, the exit) is decided by the
//! runtime against its own state: only what a MASTER should hold at that
//! moment is put back.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt};
use nix::errno::Errno;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::packet_route::rule::RuleAttribute;
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::MulticastGroup;
use tokio::sync::mpsc;

use super::addr::Netlink;
use super::{Family, NetError};

/// Something the kernel reports gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// `RTM_DELADDR`: `addr/prefix` left interface `ifindex` (for a `peer`
    /// address, `prefix` is the peer's length, as the kernel reports it).
    Address {
        ifindex: u32,
        addr: IpAddr,
        prefix: u8,
    },
    /// `RTM_DELROUTE` of a route carrying routing protocol `protocol`.
    Route {
        family: Family,
        table: u32,
        /// `None` for a default route.
        dst: Option<IpAddr>,
        prefix: u8,
        protocol: u8,
    },
    /// `RTM_DELRULE` of a rule carrying routing protocol `protocol`.
    Rule {
        family: Family,
        protocol: u8,
        priority: Option<u32>,
    },
    /// The notification socket overflowed (`ENOBUFS`): removals were lost,
    /// everything must be checked.
    Overrun,
}

fn family_of(f: AddressFamily) -> Option<Family> {
    match f {
        AddressFamily::Inet => Some(Family::V4),
        AddressFamily::Inet6 => Some(Family::V6),
        _ => None,
    }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The removal a notification reports, if it reports one (additions and
/// other messages: `None`).
pub fn removal_of(msg: &NetlinkPayload<RouteNetlinkMessage>) -> Option<Removal> {
    let inner = match msg {
        NetlinkPayload::InnerMessage(m) => m,
        NetlinkPayload::Overrun(_) => return Some(Removal::Overrun),
        _ => return None,
    };
    match inner {
        RouteNetlinkMessage::DelAddress(a) => {
            family_of(a.header.family)?;
            // IFA_LOCAL is the address itself; on point-to-point links
            // IFA_ADDRESS is the peer.
            let mut local = None;
            let mut address = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(x) => local = Some(*x),
                    AddressAttribute::Address(x) => address = Some(*x),
                    _ => {}
                }
            }
            Some(Removal::Address {
                ifindex: a.header.index,
                addr: local.or(address)?,
                prefix: a.header.prefix_len,
            })
        }
        RouteNetlinkMessage::DelRoute(r) => {
            let family = family_of(r.header.address_family)?;
            let mut table = u32::from(r.header.table);
            let mut dst = None;
            for attr in &r.attributes {
                match attr {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Destination(d) => dst = route_ip(d),
                    _ => {}
                }
            }
            Some(Removal::Route {
                family,
                table,
                dst,
                prefix: r.header.destination_prefix_length,
                protocol: u8::from(r.header.protocol),
            })
        }
        RouteNetlinkMessage::DelRule(r) => {
            let family = family_of(r.header.family)?;
            let mut protocol = 0;
            let mut priority = None;
            for attr in &r.attributes {
                match attr {
                    RuleAttribute::Protocol(p) => protocol = u8::from(*p),
                    RuleAttribute::Priority(p) => priority = Some(*p),
                    _ => {}
                }
            }
            Some(Removal::Rule {
                family,
                protocol,
                priority,
            })
        }
        _ => None,
    }
}

type NlMessages = UnboundedReceiver<(
    NetlinkMessage<RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

/// The stream of [`Removal`]s from [`Netlink::removals`].
pub struct Removals {
    messages: NlMessages,
    conn: tokio::task::JoinHandle<()>,
}

impl Drop for Removals {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl Stream for Removals {
    type Item = Removal;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Removal>> {
        loop {
            match self.messages.poll_next_unpin(cx) {
                Poll::Ready(Some((msg, _))) => {
                    if let Some(r) = removal_of(&msg.payload) {
                        return Poll::Ready(Some(r));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Netlink {
    /// Subscribes to address, route and rule notifications of both
    /// families, on a socket of its own in the caller's network namespace.
    pub fn removals(&self) -> Result<Removals, NetError> {
        let groups = [
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
            MulticastGroup::Ipv4Route,
            MulticastGroup::Ipv6Route,
            MulticastGroup::Ipv4Rule,
            MulticastGroup::Ipv6Rule,
        ];
        let (mut conn, _handle, messages) =
            rtnetlink::new_multicast_connection(&groups).map_err(|e| NetError::Netlink {
                op: "subscribe to address and route events",
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })?;
        // A flush of many addresses (each also removing its local and
        // broadcast routes) comes as thousands of notifications at once;
        // a larger buffer makes an overrun (answered with a full check)
        // rarer. Best effort: the default still works.
        {
            use rtnetlink::sys::AsyncSocket;
            let _ = conn.socket_mut().socket_ref().set_rx_buf_sz(4 << 20);
        }
        let conn = tokio::spawn(conn);
        Ok(Removals { messages, conn })
    }
}

/// How long a burst must be quiet before its batch is handed over, and the
/// longest a batch is held while removals keep coming.
pub const QUIET: Duration = Duration::from_millis(20);
pub const MAX_HOLD: Duration = Duration::from_millis(200);

/// Forward removals in batches: the first removal opens a batch, which is
/// sent once no removal came for `quiet`, or after `max_hold` at the
/// latest. Ends when either side closes.
pub async fn debounce<S>(
    mut removals: S,
    tx: mpsc::Sender<Vec<Removal>>,
    quiet: Duration,
    max_hold: Duration,
) where
    S: Stream<Item = Removal> + Unpin,
{
    while let Some(first) = removals.next().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + max_hold;
        loop {
            let wait = (tokio::time::Instant::now() + quiet).min(until);
            match tokio::time::timeout_at(wait, removals.next()).await {
                Ok(Some(r)) => {
                    // An overrun makes everything else redundant.
                    if r == Removal::Overrun {
                        batch = vec![Removal::Overrun];
                    } else if batch != [Removal::Overrun] && !batch.contains(&r) {
                        batch.push(r);
                    }
                }
                Ok(None) => {
                    let _ = tx.send(batch).await;
                    return;
                }
                Err(_) => break,
            }
        }
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::address::AddressMessage;
    use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol};
    use rtnetlink::packet_route::rule::RuleMessage;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn deleted_addresses_routes_and_rules_are_reported() {
        // What `ip addr del 192.0.2.10/32 dev eth0` produces: the message
        // our own delete request is built like.
        let a = super::super::addr::del_message(7, ip("192.0.2.10"), 32);
        let p = NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a.clone()));
        assert_eq!(
            removal_of(&p),
            Some(Removal::Address {
                ifindex: 7,
                addr: ip("192.0.2.10"),
                prefix: 32
            })
        );
        // A peer address: the local one is named, not the peer.
        let a = super::super::addr::del_message_with(
            7,
            ip("192.0.2.10"),
            32,
            Some((ip("192.0.2.99"), 24)),
        );
        let p = NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a));
        assert_eq!(
            removal_of(&p),
            Some(Removal::Address {
                ifindex: 7,
                addr: ip("192.0.2.10"),
                prefix: 24
            })
        );
        // An addition is not a removal.
        let add = NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(
            AddressMessage::default(),
        ));
        assert_eq!(removal_of(&add), None);

        let mut spec = crate::net::route::RouteSpec::new(ip("198.51.100.0"), 24);
        spec.table = 1000;
        let r = crate::net::route::route_message(&spec, Some(3), true);
        let p = NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(r));
        assert_eq!(
            removal_of(&p),
            Some(Removal::Route {
                family: Family::V4,
                table: 1000,
                dst: Some(ip("198.51.100.0")),
                prefix: 24,
                protocol: crate::net::route::RTPROT_KEEPALIVED
            })
        );
        let mut def = RouteMessage::default();
        def.header.address_family = AddressFamily::Inet6;
        def.header.table = 254;
        def.header.protocol = RouteProtocol::Boot;
        let p = NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(def));
        assert_eq!(
            removal_of(&p),
            Some(Removal::Route {
                family: Family::V6,
                table: 254,
                dst: None,
                prefix: 0,
                protocol: 3
            })
        );

        let mut rule = crate::net::route::RuleSpec::new(Family::V6);
        rule.priority = Some(100);
        let m = crate::net::route::rule_message(&rule);
        let p = NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRule(m));
        assert_eq!(
            removal_of(&p),
            Some(Removal::Rule {
                family: Family::V6,
                protocol: crate::net::route::RTPROT_KEEPALIVED,
                priority: Some(100)
            })
        );
        // A family we do not run is ignored.
        let mut other = RuleMessage::default();
        other.header.family = AddressFamily::Mpls;
        let p = NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRule(other));
        assert_eq!(removal_of(&p), None);
        assert_eq!(
            removal_of(&NetlinkPayload::Overrun(Vec::new())),
            Some(Removal::Overrun)
        );
    }

    fn addr(n: u8) -> Removal {
        Removal::Address {
            ifindex: 1,
            addr: IpAddr::from([192, 0, 2, n]),
            prefix: 32,
        }
    }

    /// A storm of removals is one batch; a later, separate removal is a
    /// batch of its own; an overrun replaces the batch.
    #[tokio::test]
    async fn bursts_become_one_batch() {
        let (in_tx, in_rx) = futures::channel::mpsc::unbounded();
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(debounce(in_rx, tx, QUIET, MAX_HOLD));
        for n in 0..250u8 {
            in_tx.unbounded_send(addr(n)).unwrap();
            // The same address twice is kept once.
            in_tx.unbounded_send(addr(n)).unwrap();
        }
        let batch = rx.recv().await.unwrap();
        assert_eq!(batch.len(), 250);
        assert!(rx.try_recv().is_err());
        tokio::time::sleep(MAX_HOLD).await;
        in_tx.unbounded_send(addr(1)).unwrap();
        assert_eq!(rx.recv().await.unwrap(), vec![addr(1)]);
        in_tx.unbounded_send(addr(2)).unwrap();
        in_tx.unbounded_send(Removal::Overrun).unwrap();
        in_tx.unbounded_send(addr(3)).unwrap();
        assert_eq!(rx.recv().await.unwrap(), vec![Removal::Overrun]);
        // A stream that never goes quiet is still cut at MAX_HOLD.
        let feeder = tokio::spawn(async move {
            for n in 0..100u8 {
                in_tx.unbounded_send(addr(n)).unwrap();
                tokio::time::sleep(QUIET / 2).await;
            }
        });
        let first = rx.recv().await.unwrap();
        assert!(first.len() < 100, "held past MAX_HOLD: {}", first.len());
        feeder.await.unwrap();
        task.abort();
    }
}
