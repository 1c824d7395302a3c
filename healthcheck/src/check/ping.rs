//! PING_CHECK: one ICMP (RFC 792) / ICMPv6 (RFC 4443 §4.1) echo request;
//! an echo reply before `connect_timeout` is up.
//!
//! surge-ping opens an unprivileged ICMP datagram socket when the kernel
//! allows it (`net.ipv4.ping_group_range`) and falls back to a raw socket,
//! which needs root or CAP_NET_RAW. A raw ICMP socket receives a copy of
//! every ICMP packet of the host, so the driver shares one socket per
//! family between all its pings ([`Shared`]); a check with its own
//! `bindto`/`bind_if` gets a socket of its own. Replies are matched by
//! (address, identifier, sequence), so every echo gets a fresh sequence.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, SurgeError, ICMP};

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::CheckSpec;

/// Payload of the echo request.
const PAYLOAD: &[u8] = b"healthcheck-ping";

/// surge-ping's own timeout is `connect_timeout` twice (the longest
/// [`crate::deadline::within`] can take) plus this: it never decides.
const BACKSTOP: std::time::Duration = std::time::Duration::from_secs(1);

/// One ICMP socket per family, created on first use.
#[derive(Default)]
pub struct Shared {
    v4: Mutex<Option<Client>>,
    v6: Mutex<Option<Client>>,
    counter: AtomicU32,
}

impl Shared {
    fn client(&self, ip: IpAddr) -> std::io::Result<Client> {
        let (slot, kind) = if ip.is_ipv4() {
            (&self.v4, ICMP::V4)
        } else {
            (&self.v6, ICMP::V6)
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Client::new(&Config::builder().kind(kind).build())?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }
}

pub async fn check(spec: &CheckSpec, shared: Option<&Shared>) -> CheckOutcome {
    let start = Instant::now();
    let ip = spec.target.ip();
    let own_socket = spec.local.addr.is_some() || spec.local.interface.is_some();
    let (client, n) = match shared {
        Some(s) if !own_socket => (s.client(ip), s.next()),
        _ => {
            let mut builder =
                Config::builder().kind(if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 });
            if let Some(b) = spec.local.addr {
                builder = builder.bind(std::net::SocketAddr::new(b.ip(), 0));
            }
            if let Some(ifname) = &spec.local.interface {
                builder = builder.interface(ifname);
            }
            (Client::new(&builder.build()), rand::random())
        }
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => return CheckOutcome::down(Reason::Io(e.to_string()), start.elapsed()),
    };
    // The low 16 bits make the sequence, the next 16 the identifier: a
    // shared socket never has two echoes in flight with the same pair.
    let mut pinger = client
        .pinger(
            ip,
            PingIdentifier((n >> 16) as u16 ^ std::process::id() as u16),
        )
        .await;
    // The verdict "no reply in time" is ours (crate::deadline), not
    // surge-ping's: its timer decides the moment it is seen expired, even
    // when the reply is already in the socket and only its receive task
    // has not run yet (our runtime was behind). Its own timeout is left as
    // a backstop beyond the longest our deadline can be extended to.
    pinger.timeout(spec.connect_timeout.saturating_mul(2) + BACKSTOP);
    let ping = pinger.ping(PingSequence(n as u16), PAYLOAD);
    match crate::deadline::within(spec.connect_timeout, ping).await {
        Ok(Ok(_)) => CheckOutcome::up(Reason::Ok, start.elapsed()),
        Err(_) | Ok(Err(SurgeError::Timeout { .. })) => {
            CheckOutcome::down(Reason::Timeout, start.elapsed())
        }
        Ok(Err(SurgeError::IOError(e))) => CheckOutcome::down(Reason::from_io(&e), start.elapsed()),
        Ok(Err(SurgeError::NetworkError)) => {
            CheckOutcome::down(Reason::Unreachable, start.elapsed())
        }
        Ok(Err(e)) => CheckOutcome::down(Reason::Io(e.to_string()), start.elapsed()),
    }
}
