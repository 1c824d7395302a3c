//! The transport: a blocking `NETLINK_NETFILTER` socket that sends one
//! nf_tables batch at a time and waits for the kernel's answer to each of
//! its messages.
//!
//! Blocking is fine on the main loop: nfnetlink applies a batch inside the
//! `sendmsg` call and queues every acknowledgement before it returns, so
//! the reads that follow only collect what is already there (tens of
//! microseconds for our batches). A read timeout guards against an answer
//! that never comes.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use super::msg::{Batch, Reply, Request};
use super::FirewallError;

/// How long to wait for the kernel's answer to a batch.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers are an nlmsgerr each (36 bytes with `NETLINK_CAP_ACK`); a
/// batch of a few dozen messages fits many times over.
const RECV_BUF: usize = 64 * 1024;

pub struct NfSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for NfSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfSocket").field("seq", &self.seq).finish()
    }
}

impl NfSocket {
    pub fn open() -> Result<NfSocket, FirewallError> {
        let sock = daemon::netlink::blocking_socket(NETLINK_NETFILTER, REPLY_TIMEOUT)
            .map_err(FirewallError::Socket)?;
        // Sequence numbers from the clock, as nft does, so answers to a
        // previous process's socket can never be taken for ours.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(NfSocket {
            sock,
            seq,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Apply `requests` as one transaction: all of them or none. The first
    /// message the kernel refused is the error (with its errno).
    pub fn apply(&mut self, requests: &[Request]) -> Result<(), FirewallError> {
        if requests.is_empty() {
            return Ok(());
        }
        let batch = Batch::build(requests, self.seq);
        self.seq = batch.next_seq;
        let what = match requests {
            [one] => one.what.clone(),
            [first, ..] => format!("{} (and {} more)", first.what, requests.len() - 1),
            [] => String::new(),
        };
        let n = self
            .sock
            .send(&batch.bytes, 0)
            .map_err(|e| FirewallError::Io {
                request: what.clone(),
                source: e,
            })?;
        if n != batch.bytes.len() {
            return Err(FirewallError::Io {
                request: what,
                source: io::Error::new(io::ErrorKind::WriteZero, "short netlink send"),
            });
        }
        self.wait(&batch, &what)
    }

    /// Read until every message of `batch` is answered. The kernel answers
    /// every message even after one failed (nfnetlink reports all the
    /// errors of a batch) and then applies none of them.
    fn wait(&mut self, batch: &Batch, what: &str) -> Result<(), FirewallError> {
        let mut pending: BTreeMap<u32, &str> =
            batch.acked.iter().map(|(s, w)| (*s, w.as_str())).collect();
        let mut first_error: Option<FirewallError> = None;
        while !pending.is_empty() {
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
                    return Err(first_error.unwrap_or(FirewallError::Timeout {
                        request: what.to_owned(),
                        timeout: REPLY_TIMEOUT,
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(FirewallError::Io {
                        request: what.to_owned(),
                        source: e,
                    })
                }
            }
            let replies = Reply::parse_all(&self.buf)
                .map_err(|e| FirewallError::Decode(format!("{what}: {e}")))?;
            for r in replies {
                match r {
                    // The batch as a whole was refused (bad framing, or
                    // no nf_tables in this kernel).
                    Reply::Error { seq, errno } if seq == batch.begin_seq => {
                        return Err(FirewallError::Kernel {
                            request: what.to_owned(),
                            errno,
                        });
                    }
                    Reply::Error { seq, errno } => {
                        if let Some(w) = pending.remove(&seq) {
                            if first_error.is_none() {
                                first_error = Some(FirewallError::Kernel {
                                    request: w.to_owned(),
                                    errno,
                                });
                            }
                        }
                    }
                    Reply::Ack { seq } => {
                        pending.remove(&seq);
                    }
                    Reply::Other { seq, message_type } => {
                        tracing::debug!(seq, message_type, "nftables: skipping a netlink message");
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
