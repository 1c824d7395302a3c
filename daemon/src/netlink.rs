//! A blocking netlink socket for request/acknowledge exchanges with the
//! kernel (nf_tables batches in vrrpd, IPVS commands in healthcheck), where
//! the answer is queued before the request's `sendmsg` returns and a read
//! timeout guards against one that never comes.

use std::io;
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr};

/// Opens a `protocol` netlink socket (`netlink_sys::protocols::*`), bound
/// to a kernel-chosen port and connected to the kernel, whose reads give up
/// after `reply_timeout`.
pub fn blocking_socket(protocol: isize, reply_timeout: Duration) -> io::Result<Socket> {
    let mut sock = Socket::new(protocol)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    // Errors echo only the request's header, not the whole request. Not
    // every kernel has it; without it we read the longer echo.
    let _ = sock.set_cap_ack(true);
    socket2::SockRef::from(&sock).set_read_timeout(Some(reply_timeout))?;
    Ok(sock)
}
