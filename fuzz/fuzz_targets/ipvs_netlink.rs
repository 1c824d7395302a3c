//! Fuzz the IPVS generic-netlink decoders (healthcheck::ipvs::msg): what
//! the kernel sends back, and requests decoded from bytes.
//!
//! Invariants, beyond "no panic on any bytes":
//! - `Reply::parse` never claims more bytes than it was given, and never
//!   zero (the caller's loop over a datagram must advance);
//! - `Reply::parse_all` accepts a buffer exactly when parsing message by
//!   message does;
//! - a request that decodes re-encodes to a message that decodes to the
//!   same request.
#![no_main]

use healthcheck::ipvs::msg::{Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, bytes)) = data.split_first() else {
        return;
    };
    let family = (ctl & 1 == 1).then_some(0x1a);

    let mut rest = bytes;
    let mut stepwise_ok = true;
    while !rest.is_empty() {
        match Reply::parse(rest, family) {
            Ok((_, used)) => {
                assert!(used > 0, "a reply that takes no bytes");
                assert!(used <= rest.len() + 3, "took {used} of {}", rest.len());
                rest = &rest[used.min(rest.len())..];
            }
            Err(_) => {
                stepwise_ok = false;
                break;
            }
        }
    }
    assert_eq!(Reply::parse_all(bytes, family).is_ok(), stepwise_ok);

    if let Ok((fam, seq, req)) = Request::decode(bytes) {
        let again = req.encode(fam, seq);
        let (fam2, seq2, req2) = Request::decode(&again).expect("re-encoded request decodes");
        assert_eq!((fam2, seq2), (fam, seq));
        assert_eq!(req2, req);
    }
});
