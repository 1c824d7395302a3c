//! PING_CHECK: one ICMP (RFC 792) / ICMPv6 (RFC 4443 §4.1) echo request;
//! an echo reply before `connect_timeout` is up.
//!
//! surge-ping opens an unprivileged ICMP datagram socket when the kernel
//! allows it (`net.ipv4.ping_group_range`) and falls back to a raw socket,
//! which needs root or CAP_NET_RAW. Each attempt opens its own socket.

use std::time::Instant;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, SurgeError, ICMP};

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::CheckSpec;

/// Payload of the echo request (keepalived sends a few bytes too).
const PAYLOAD: &[u8] = b"healthcheck-ping";

pub async fn check(spec: &CheckSpec) -> CheckOutcome {
    let start = Instant::now();
    let ip = spec.target.ip();
    let mut builder = Config::builder().kind(if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 });
    if let Some(b) = spec.local.addr {
        builder = builder.bind(std::net::SocketAddr::new(b.ip(), 0));
    }
    if let Some(ifname) = &spec.local.interface {
        builder = builder.interface(ifname);
    }
    let client = match Client::new(&builder.build()) {
        Ok(c) => c,
        Err(e) => return CheckOutcome::down(Reason::Io(e.to_string()), start.elapsed()),
    };
    let mut pinger = client.pinger(ip, PingIdentifier(rand::random())).await;
    pinger.timeout(spec.connect_timeout);
    match pinger.ping(PingSequence(0), PAYLOAD).await {
        Ok(_) => CheckOutcome::up(Reason::Ok, start.elapsed()),
        Err(SurgeError::Timeout { .. }) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
        Err(SurgeError::IOError(e)) => CheckOutcome::down(Reason::from_io(&e), start.elapsed()),
        Err(SurgeError::NetworkError) => CheckOutcome::down(Reason::Unreachable, start.elapsed()),
        Err(e) => CheckOutcome::down(Reason::Io(e.to_string()), start.elapsed()),
    }
}
