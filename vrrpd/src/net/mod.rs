//! Kernel-facing I/O for VRRP: raw sockets, netlink and announcements.
//!
//! # Layout
//!
//! - [`socket`]: [`VrrpSocket`], one raw IP-protocol-112 socket per
//!   (interface, family), shared by every instance on that interface. It
//!   moves opaque VRRP payload bytes and reports the source, destination and
//!   TTL / hop limit the receive checks need (RFC 5798 §7.1).
//! - [`addr`]: [`Netlink`], rtnetlink requests for links and addresses
//!   (virtual IPs added and removed idempotently), VMAC interfaces and link
//!   events.
//! - [`route`]: virtual routes and policy rules (`virtual_routes`,
//!   `virtual_rules`), requests built apart from their execution and tagged
//!   with keepalived's routing protocol number so that only ours are
//!   removed.
//! - [`monitor`]: address, route and rule removals reported by the kernel,
//!   batched per burst, so a master notices what someone else removed.
//! - [`proc_events`]: the kernel's process events connector (fork, exec,
//!   name change, exit) for `vrrp_track_process`.
//! - [`firewall`]: accept mode (`no_accept`, RFC 5798 §6.4.3): an
//!   nf_tables table, programmed over `NETLINK_NETFILTER`, that drops
//!   packets for the VIPs of masters that must not accept them.
//! - [`announce`]: [`Announcer`], gratuitous ARP (RFC 5227 §3) and
//!   unsolicited neighbour advertisements (RFC 4861 §7.2.6) sent when an
//!   instance becomes master (RFC 5798 §6.4.1).
//!
//! Nothing here knows the VRRP packet format: the driver encodes and decodes
//! with `crate::packet` and demultiplexes by VRID.

pub mod addr;
pub mod announce;
pub mod firewall;
pub mod monitor;
pub mod proc_events;
pub mod route;
pub mod socket;
pub mod sysctl;

use std::io;

pub use addr::{virtual_router_mac, LinkEvent, Netlink};
pub use announce::Announcer;
pub use socket::{Received, VrrpSocket};

/// The IP version a socket or an address query is for: the codec's, so the
/// driver passes one value to both.
pub use crate::packet::Family;

/// Errors of the kernel-facing I/O. Netlink and socket errors keep their
/// errno so callers can tell "try again" from "misconfigured".
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The named interface does not exist (in this network namespace).
    #[error("no such interface {0:?}")]
    NoSuchInterface(String),
    /// No link with this index.
    #[error("no link with index {0}")]
    NoSuchLink(u32),
    /// The address is already on the interface (netlink EEXIST).
    #[error("address already exists")]
    Exists,
    /// The address is not on the interface (netlink EADDRNOTAVAIL/ENOENT).
    #[error("address not found")]
    NotFound,
    /// A netlink request failed with this errno.
    #[error("netlink {op}: {errno}")]
    Netlink {
        op: &'static str,
        errno: nix::errno::Errno,
    },
    /// The netlink exchange itself failed (unexpected message, closed
    /// connection): not an errno from the kernel.
    #[error("netlink {op}: {detail}")]
    NetlinkProtocol { op: &'static str, detail: String },
    /// A socket call failed.
    #[error("{op} on {ifname}: {source}")]
    Io {
        op: &'static str,
        ifname: String,
        #[source]
        source: io::Error,
    },
    /// A received packet was too short or malformed to even locate the VRRP
    /// payload (the VRRP codec checks the rest).
    #[error("malformed packet from the kernel: {0}")]
    Malformed(&'static str),
    /// The address family of an argument does not match the socket's.
    #[error("address family mismatch: socket is {socket:?}, address is {addr}")]
    FamilyMismatch {
        socket: Family,
        addr: std::net::IpAddr,
    },
}

impl NetError {
    /// The errno behind this error, if the kernel returned one.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            NetError::Netlink { errno, .. } => Some(*errno),
            NetError::Exists => Some(nix::errno::Errno::EEXIST),
            NetError::NotFound => Some(nix::errno::Errno::EADDRNOTAVAIL),
            NetError::Io { source, .. } => source.raw_os_error().map(nix::errno::Errno::from_raw),
            _ => None,
        }
    }
}

/// Resolves an interface name to its index in the current network namespace.
pub fn if_index(ifname: &str) -> Result<u32, NetError> {
    nix::net::if_::if_nametoindex(ifname).map_err(|_| NetError::NoSuchInterface(ifname.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver shares sockets between tasks (`Arc<VrrpSocket>`) and moves
    /// the netlink handle and event stream into tasks.
    #[test]
    fn handles_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<VrrpSocket>();
        send_sync::<Announcer>();
        send_sync::<Netlink>();
        send::<addr::LinkEvents>();
        send_sync::<NetError>();
    }

    #[test]
    fn errors_keep_their_errno() {
        let e = NetError::Netlink {
            op: "add address",
            errno: nix::errno::Errno::EPERM,
        };
        assert_eq!(e.errno(), Some(nix::errno::Errno::EPERM));
        assert_eq!(NetError::Exists.errno(), Some(nix::errno::Errno::EEXIST));
        let io = NetError::Io {
            op: "sendmsg",
            ifname: "eth0".into(),
            source: std::io::Error::from_raw_os_error(libc::ENETDOWN),
        };
        assert_eq!(io.errno(), Some(nix::errno::Errno::ENETDOWN));
        assert_eq!(
            io.to_string(),
            "sendmsg on eth0: Network is down (os error 100)"
        );
        assert_eq!(NetError::Malformed("x").errno(), None);
    }
}
