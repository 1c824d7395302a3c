//! Fuzz the process events connector parser
//! (vrrpd::net::proc_events::parse_datagram), which reads whatever the
//! NETLINK_CONNECTOR socket delivers.
//!
//! Invariants: no panic; a datagram yields at most one result per 16 bytes
//! (a netlink header's worth, so the walk always advances); a parsed
//! process name is at most the kernel's 16 bytes of comm.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vrrpd::net::proc_events::{parse_datagram, ProcEvent};

fuzz_target!(|data: &[u8]| {
    let results = parse_datagram(data);
    assert!(results.len() <= data.len() / 16 + 1);
    for r in results.into_iter().flatten() {
        if let ProcEvent::Comm { comm, .. } = r {
            // Lossy UTF-8 may widen invalid bytes to U+FFFD (3 bytes each).
            assert!(comm.chars().count() <= 16);
        }
    }
});
