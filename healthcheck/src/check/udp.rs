//! UDP_CHECK: send `payload` on a connected UDP socket.
//!
//! keepalived's rules: without `require_reply`, the check passes unless an
//! ICMP error (port unreachable, seen as ECONNREFUSED on a connected socket)
//! comes back before `connect_timeout`; a reply passes at once. With
//! `require_reply`, a reply is needed: its length must be within
//! `min_reply_length` / `max_reply_length`, and its first bytes must equal
//! the expected ones, compared over the shorter of the two (keepalived's
//! rule: a reply shorter than `require_reply` passes if it is a prefix).

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, Local};

/// A UDP socket connected to `target`, from `local`.
pub(crate) async fn socket(target: SocketAddr, local: &Local) -> Result<UdpSocket, Reason> {
    let sock = super::tcp::socket(target, socket2::Type::DGRAM, local).map_err(|e| error(&e))?;
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock)).map_err(|e| error(&e))?;
    sock.connect(target).await.map_err(|e| error(&e))?;
    Ok(sock)
}

/// On a connected UDP socket ECONNREFUSED reports an ICMP port
/// unreachable.
pub(crate) fn error(e: &io::Error) -> Reason {
    match Reason::from_io(e) {
        Reason::Refused => Reason::Unreachable,
        r => r,
    }
}

fn accept_reply(
    reply: &[u8],
    require: Option<&[u8]>,
    min_len: Option<u16>,
    max_len: Option<u16>,
) -> bool {
    let len = reply.len();
    require.is_none_or(|want| {
        let n = len.min(want.len());
        reply.get(..n) == want.get(..n)
    }) && min_len.is_none_or(|m| len >= usize::from(m))
        && max_len.is_none_or(|m| len <= usize::from(m))
}

pub async fn check(
    spec: &CheckSpec,
    payload: &[u8],
    require: Option<&[u8]>,
    min_len: Option<u16>,
    max_len: Option<u16>,
) -> CheckOutcome {
    let start = Instant::now();
    let run = async {
        let sock = socket(spec.target, &spec.local).await?;
        sock.send(payload).await.map_err(|e| error(&e))?;
        let mut buf = vec![0u8; 65536];
        let n = sock.recv(&mut buf).await.map_err(|e| error(&e))?;
        if require.is_none()
            || accept_reply(buf.get(..n).unwrap_or_default(), require, min_len, max_len)
        {
            Ok(Reason::Ok)
        } else {
            Err(Reason::ReplyMismatch)
        }
    };
    match crate::deadline::within(spec.connect_timeout, run).await {
        Ok(Ok(r)) => CheckOutcome::up(r, start.elapsed()),
        Ok(Err(r)) => CheckOutcome::down(r, start.elapsed()),
        Err(_) if require.is_none() => CheckOutcome::up(Reason::NoError, start.elapsed()),
        Err(_) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_rules() {
        assert!(accept_reply(b"PONG!", Some(b"PONG"), None, None));
        assert!(!accept_reply(b"PING", Some(b"PONG"), None, None));
        // Compared over the shorter length, as keepalived does.
        assert!(accept_reply(b"PO", Some(b"PONG"), None, None));
        assert!(!accept_reply(b"PA", Some(b"PONG"), None, None));
        assert!(accept_reply(b"", Some(b""), None, None));
        assert!(!accept_reply(b"ab", Some(b""), Some(3), None));
        assert!(!accept_reply(b"abcd", Some(b""), None, Some(3)));
        assert!(accept_reply(b"abc", Some(b""), Some(3), Some(3)));
    }
}
