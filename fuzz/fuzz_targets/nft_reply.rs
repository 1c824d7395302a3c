//! Fuzz the nf_tables answer decoder (vrrpd::net::firewall::msg): what the
//! kernel sends back for a batch.
//!
//! Invariants, beyond "no panic on any bytes":
//! - `Reply::parse` never claims more bytes than it was given, and never
//!   zero (the caller's loop over a datagram must advance);
//! - `Reply::parse_all` accepts a buffer exactly when parsing message by
//!   message does, and yields as many replies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vrrpd::net::firewall::msg::Reply;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut stepwise = Some(0usize);
    while !rest.is_empty() {
        match Reply::parse(rest) {
            Ok((_, used)) => {
                assert!(used > 0, "a reply that takes no bytes");
                assert!(used <= rest.len(), "took {used} of {}", rest.len());
                rest = &rest[used..];
                stepwise = stepwise.map(|n| n + 1);
            }
            Err(_) => {
                stepwise = None;
                break;
            }
        }
    }
    assert_eq!(Reply::parse_all(data).ok().map(|r| r.len()), stepwise);
});
