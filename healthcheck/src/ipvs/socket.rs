//! The netlink transport: a blocking `NETLINK_GENERIC` socket that
//! resolves the IPVS family and sends one request at a time, waiting for
//! its acknowledgement.
//!
//! Blocking is deliberate: the kernel handles a generic netlink request
//! inside `sendmsg` and queues the reply and the ack before it returns, so
//! the `recv` that follows does not wait on anything but the kernel's own
//! work (microseconds). The sink runs batches of requests on tokio's
//! blocking pool all the same. A receive timeout guards against a reply
//! that never comes.

use std::io;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_GENERIC, Socket};
use nix::libc;

use super::msg::{self, IpvsInfo, Reply, Request, IPVS_GENL_NAME};
use super::IpvsError;

/// How long to wait for the kernel's answer to one request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Generic netlink messages for IPVS are small; a GET_INFO reply plus its
/// ack fit in a few hundred bytes. Dumps (not used) would need more.
const RECV_BUF: usize = 32 * 1024;

pub struct IpvsSocket {
    sock: Socket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for IpvsSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpvsSocket")
            .field("family", &self.family)
            .field("seq", &self.seq)
            .finish()
    }
}

/// What one request came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The kernel already had it that way: EEXIST on an add, ENOENT or
    /// ESRCH on a delete (rtnetlink's rule, STYLE item 10).
    AlreadyDone,
}

impl IpvsSocket {
    /// Open a socket and resolve the IPVS family. A kernel without IPVS
    /// gives [`IpvsError::NotAvailable`]. (The controller may ask the
    /// kernel to autoload `ip_vs` when it is installed as a module, as it
    /// does for ipvsadm; we never run modprobe ourselves.)
    pub fn open() -> Result<IpvsSocket, IpvsError> {
        let mut s = Self::open_generic()?;
        s.family = match s.resolve(IPVS_GENL_NAME) {
            Ok(id) => id,
            Err(IpvsError::Kernel { errno, .. }) if errno == libc::ENOENT => {
                return Err(IpvsError::NotAvailable)
            }
            Err(e) => return Err(e),
        };
        Ok(s)
    }

    /// A generic netlink socket with no family resolved yet.
    pub fn open_generic() -> Result<IpvsSocket, IpvsError> {
        let sock = daemon::netlink::blocking_socket(NETLINK_GENERIC, REPLY_TIMEOUT)
            .map_err(IpvsError::Socket)?;
        Ok(IpvsSocket {
            sock,
            family: 0,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// The IPVS family id (0 before [`IpvsSocket::open`] resolved it).
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// The family id of generic netlink family `name`
    /// (CTRL_CMD_GETFAMILY). An unknown family is the kernel's ENOENT.
    pub fn resolve(&mut self, name: &str) -> Result<u16, IpvsError> {
        let seq = self.next_seq();
        let what = format!("resolve generic netlink family {name}");
        self.send(&msg::get_family_request(name, seq), &what)?;
        let mut id = None;
        self.wait(seq, &what, |r| {
            if let Reply::Family { id: i, .. } = r {
                id = Some(*i);
            }
        })?;
        id.ok_or_else(|| IpvsError::Decode(format!("{what}: acknowledged without an answer")))
    }

    /// IPVS_CMD_GET_INFO: version and connection table size.
    pub fn info(&mut self) -> Result<IpvsInfo, IpvsError> {
        let seq = self.next_seq();
        let what = Request::GetInfo.to_string();
        self.send(&Request::GetInfo.encode(self.family, seq), &what)?;
        let mut info = None;
        self.wait(seq, &what, |r| {
            if let Reply::Info { info: i, .. } = r {
                info = Some(*i);
            }
        })?;
        info.ok_or_else(|| IpvsError::Decode("GET_INFO acknowledged without an answer".into()))
    }

    /// Send `req` and wait for its ack. EEXIST on an add and ENOENT/ESRCH
    /// on a delete are [`Outcome::AlreadyDone`]; other errors keep their
    /// errno in [`IpvsError::Kernel`].
    pub fn execute(&mut self, req: &Request) -> Result<Outcome, IpvsError> {
        let seq = self.next_seq();
        let what = req.to_string();
        self.send(&req.encode(self.family, seq), &what)?;
        match self.wait(seq, &what, |_| {}) {
            Ok(()) => Ok(Outcome::Done),
            Err(IpvsError::Kernel { errno, .. }) if already_done(req, errno) => {
                Ok(Outcome::AlreadyDone)
            }
            Err(e) => Err(e),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self, bytes: &[u8], what: &str) -> Result<(), IpvsError> {
        let n = self.sock.send(bytes, 0).map_err(|e| IpvsError::Io {
            request: what.to_owned(),
            source: e,
        })?;
        if n != bytes.len() {
            return Err(IpvsError::Io {
                request: what.to_owned(),
                source: io::Error::new(io::ErrorKind::WriteZero, "short netlink send"),
            });
        }
        Ok(())
    }

    /// Read until the ack (or error) of `seq`, giving every reply of
    /// `seq` to `on_reply`. Replies to other sequence numbers (a late
    /// answer to a request that timed out) are skipped.
    fn wait(
        &mut self,
        seq: u32,
        what: &str,
        mut on_reply: impl FnMut(&Reply),
    ) -> Result<(), IpvsError> {
        let family = (self.family != 0).then_some(self.family);
        loop {
            self.buf.clear();
            self.buf.reserve(RECV_BUF);
            match self.sock.recv(&mut self.buf, 0) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(IpvsError::Timeout {
                        request: what.to_owned(),
                        timeout: REPLY_TIMEOUT,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(IpvsError::Io {
                        request: what.to_owned(),
                        source: e,
                    })
                }
            }
            let replies = Reply::parse_all(&self.buf, family)
                .map_err(|e| IpvsError::Decode(format!("{what}: {e}")))?;
            for r in &replies {
                if r.seq() != seq {
                    tracing::debug!(?r, expected = seq, "skipping a stale netlink reply");
                    continue;
                }
                match r {
                    Reply::Ack { .. } => return Ok(()),
                    Reply::Error { errno, .. } => {
                        return Err(IpvsError::Kernel {
                            request: what.to_owned(),
                            errno: *errno,
                        })
                    }
                    other => on_reply(other),
                }
            }
        }
    }
}

/// STYLE item 10: "exists" on an add and "not there" on a delete mean the
/// kernel is already in the state we asked for. IPVS answers ESRCH for a
/// service it does not have, ENOENT for a destination.
pub fn already_done(req: &Request, errno: i32) -> bool {
    match req {
        Request::NewService(_) | Request::NewDest(..) => errno == libc::EEXIST,
        Request::DelService(_) | Request::DelDest(..) => {
            errno == libc::ENOENT || errno == libc::ESRCH
        }
        _ => false,
    }
}
