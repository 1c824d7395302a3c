//! The checkers. Each one runs one attempt against a [`CheckSpec`] and
//! returns a [`CheckOutcome`]; retries and timing belong to the scheduler.

pub mod dns;
pub mod file;
pub mod http;
pub mod misc;
pub mod ping;
pub mod smtp;
pub mod tcp;
pub mod udp;

use std::time::Instant;

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, Kind};

/// What the attempts run by one driver share: today, the ICMP sockets.
#[derive(Default)]
pub struct Context {
    ping: ping::Shared,
}

impl Context {
    pub fn new() -> Self {
        Context::default()
    }

    /// Run one attempt of `spec` with the shared resources.
    pub async fn run(&self, spec: &CheckSpec) -> CheckOutcome {
        run_in(Some(self), spec).await
    }
}

/// Run one attempt of `spec` on its own (nothing shared).
pub async fn run(spec: &CheckSpec) -> CheckOutcome {
    run_in(None, spec).await
}

async fn run_in(ctx: Option<&Context>, spec: &CheckSpec) -> CheckOutcome {
    let start = Instant::now();
    // Every checker but TCP_CHECK is boxed: an async match holds room for
    // its largest arm (HTTP with TLS is several KiB), and the driver
    // allocates and moves that per attempt. Boxed, a TCP_CHECK attempt,
    // most of a large fleet, stays a few hundred bytes, and only the
    // checkers that need the room pay for it.
    match &spec.kind {
        Kind::Tcp => tcp::check(spec).await,
        Kind::Http(h) => Box::pin(http::check(spec, h)).await,
        Kind::Misc(m) => Box::pin(misc::check(m)).await,
        Kind::Smtp { helo, extra } => Box::pin(smtp::check(spec, helo, extra)).await,
        Kind::Dns { qtype, name } => Box::pin(dns::check(spec, *qtype, name)).await,
        Kind::Ping => Box::pin(ping::check(spec, ctx.map(|c| &c.ping))).await,
        Kind::Udp {
            payload,
            require_reply,
            min_len,
            max_len,
        } => {
            Box::pin(udp::check(
                spec,
                payload,
                require_reply.as_deref(),
                *min_len,
                *max_len,
            ))
            .await
        }
        Kind::File(f) => Box::pin(file::check(f)).await,
        Kind::Unsupported(msg) => {
            CheckOutcome::down(Reason::Unsupported(msg.clone()), start.elapsed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_attempt_is_small() {
        // What the driver allocates per attempt (see run_in).
        let spec = CheckSpec {
            target: "127.0.0.1:1".parse().unwrap_or_else(|e| panic!("{e}")),
            local: Default::default(),
            connect_timeout: std::time::Duration::from_secs(1),
            kind: Kind::Tcp,
        };
        let ctx = Context::new();
        let size = std::mem::size_of_val(&ctx.run(&spec));
        assert!(size < 1024, "attempt future is {size} bytes");
    }
}
