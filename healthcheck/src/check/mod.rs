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
    match &spec.kind {
        Kind::Tcp => tcp::check(spec).await,
        Kind::Http(h) => http::check(spec, h).await,
        Kind::Misc(m) => misc::check(m).await,
        Kind::Smtp { helo, extra } => smtp::check(spec, helo, extra).await,
        Kind::Dns { qtype, name } => dns::check(spec, *qtype, name).await,
        Kind::Ping => ping::check(spec, ctx.map(|c| &c.ping)).await,
        Kind::Udp {
            payload,
            require_reply,
            min_len,
            max_len,
        } => udp::check(spec, payload, require_reply.as_deref(), *min_len, *max_len).await,
        Kind::File(f) => file::check(f).await,
        Kind::Unsupported(msg) => {
            CheckOutcome::down(Reason::Unsupported(msg.clone()), start.elapsed())
        }
    }
}
