//! The checkers. Each one runs one attempt against a [`CheckSpec`] and
//! returns a [`CheckOutcome`]; retries and timing belong to the scheduler.

pub mod http;
pub mod misc;
pub mod tcp;

use std::time::Instant;

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, Kind};

/// Run one attempt of `spec`.
pub async fn run(spec: &CheckSpec) -> CheckOutcome {
    let start = Instant::now();
    match &spec.kind {
        Kind::Tcp => tcp::check(spec).await,
        Kind::Http(h) => http::check(spec, h).await,
        Kind::Misc(m) => misc::check(m).await,
        Kind::Unsupported(msg) => {
            CheckOutcome::down(Reason::Unsupported(msg.clone()), start.elapsed())
        }
        _ => CheckOutcome::down(
            Reason::Unsupported("checker not built yet".to_owned()),
            start.elapsed(),
        ),
    }
}
