//! DNS_CHECK: one query over UDP (RFC 1035 §4.1); the check is up when a
//! reply with our id, QR set and RCODE 0 (NOERROR) arrives before
//! `connect_timeout`, whatever its answer section holds (keepalived's rule:
//! any answer from the server proves it serves; an empty NOERROR is still
//! an answer). Any other RCODE fails. Datagrams that are not the reply to
//! our query (other id, QR clear, shorter than a header) are ignored, as
//! keepalived does, so a stray packet cannot fail or pass the check.

use std::time::Instant;

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::CheckSpec;

/// Build a query for `name`/`qtype`, class IN, recursion desired.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    // Flags: RD (RFC 1035 §4.1.1), like keepalived.
    q.extend_from_slice(&0x0100u16.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1, AN=NS=AR=0
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        // RFC 1035 §2.3.4: labels of at most 63 octets.
        let len = u8::try_from(label.len()).ok().filter(|l| *l <= 63)?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // class IN
    Some(q)
}

/// What a datagram says about our query: `None` if it is not the reply
/// to `id` (ignored), else the verdict.
pub fn judge_reply(id: u16, reply: &[u8]) -> Option<Result<(), Reason>> {
    let hdr = reply.get(..12)?;
    if u16::from_be_bytes([hdr[0], hdr[1]]) != id {
        return None;
    }
    let flags = u16::from_be_bytes([hdr[2], hdr[3]]);
    if flags & 0x8000 == 0 {
        // A query, not a response.
        return None;
    }
    let rcode = flags & 0x000f;
    if rcode != 0 {
        return Some(Err(Reason::Dns(format!("rcode {rcode}"))));
    }
    Some(Ok(()))
}

pub async fn check(spec: &CheckSpec, qtype: u16, name: &str) -> CheckOutcome {
    let start = Instant::now();
    let id: u16 = rand::random();
    let Some(query) = build_query(id, name, qtype) else {
        return CheckOutcome::down(
            Reason::Unsupported(format!("invalid DNS name {name}")),
            start.elapsed(),
        );
    };
    let run = async {
        let sock = super::udp::socket(spec.target, &spec.local).await?;
        sock.send(&query).await.map_err(|e| udp_error(&e))?;
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| udp_error(&e))?;
            if let Some(verdict) = judge_reply(id, buf.get(..n).unwrap_or_default()) {
                return verdict;
            }
        }
    };
    match crate::deadline::within(spec.connect_timeout, run).await {
        Ok(Ok(())) => CheckOutcome::up(Reason::Ok, start.elapsed()),
        Ok(Err(r)) => CheckOutcome::down(r, start.elapsed()),
        Err(_) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
    }
}

fn udp_error(e: &std::io::Error) -> Reason {
    super::udp::error(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        let q = build_query(0x1234, "example.test.", 6).unwrap();
        let mut want = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x07example\x04test\x00\x00\x06\x00\x01");
        assert_eq!(q, want);
        // The root.
        assert_eq!(
            &build_query(1, ".", 6).unwrap()[12..],
            b"\x00\x00\x06\x00\x01"
        );
        assert!(build_query(1, &"a".repeat(64), 1).is_none());
    }

    #[test]
    fn replies() {
        let ok = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        assert_eq!(judge_reply(0x1234, &ok), Some(Ok(())));
        assert_eq!(judge_reply(0x9999, &ok), None);
        assert_eq!(judge_reply(0x1234, &ok[..11]), None);
        let nx = [0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            judge_reply(0x1234, &nx),
            Some(Err(Reason::Dns("rcode 3".into())))
        );
        // NOERROR with an empty answer section (NODATA) still answers.
        let empty = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(judge_reply(0x1234, &empty), Some(Ok(())));
        let query = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        assert_eq!(judge_reply(0x1234, &query), None);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any datagram: no panic, and only a reply carrying our id and QR
        /// can decide the check.
        #[test]
        fn arbitrary_datagrams(id in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if judge_reply(id, &data).is_some() {
                prop_assert!(data.len() >= 12);
                prop_assert_eq!(u16::from_be_bytes([data[0], data[1]]), id);
                prop_assert!(data[2] & 0x80 != 0);
            }
        }

        /// A query is never taken for its own reply (QR clear), and labels
        /// come out in order.
        #[test]
        fn queries_are_not_replies(id in any::<u16>(), labels in proptest::collection::vec("[a-z0-9]{1,20}", 0..5)) {
            let name = labels.join(".");
            let q = build_query(id, &name, 1).unwrap();
            prop_assert_eq!(judge_reply(id, &q), None);
            prop_assert_eq!(q.len(), 12 + name.len() + usize::from(!name.is_empty()) + 1 + 4);
        }
    }
}
