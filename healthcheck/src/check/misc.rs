//! MISC_CHECK: run a script; exit 0 is up.
//!
//! keepalived's exit code rules: 0 up, 1 down; with `misc_dynamic`, 2..=255
//! is up with weight `code - 2`; without it any non-zero code is down. The
//! script runs in its own process group which is killed as a whole when
//! `misc_timeout` expires (see [`crate::script`], keepalived's sequence).

use std::time::Instant;

use crate::outcome::{CheckOutcome, Reason};
use crate::script::{self, Outcome, ScriptError};
use crate::spec::MiscSpec;

/// Map how the script ended to an outcome (keepalived's rules, see module
/// doc).
pub fn judge(status: &Outcome, dynamic: bool) -> (bool, Reason, Option<i64>) {
    match *status {
        Outcome::Exited(0) => (true, Reason::Ok, None),
        Outcome::Exited(code) if dynamic && (2..=255).contains(&code) => {
            (true, Reason::ScriptExit(code), Some(i64::from(code) - 2))
        }
        Outcome::Exited(code) => (false, Reason::ScriptExit(code), None),
        Outcome::Signaled(sig) => (false, Reason::ScriptSignal(sig), None),
        Outcome::TimedOut => (false, Reason::Timeout, None),
        Outcome::SpawnFailed(ref e) => (false, Reason::Io(e.clone()), None),
    }
}

pub async fn check(spec: &MiscSpec) -> CheckOutcome {
    let start = Instant::now();
    let res = script::run(
        &spec.command,
        &[],
        spec.user.as_deref(),
        spec.group.as_deref(),
        spec.timeout,
    )
    .await;
    match res {
        Ok(status) => {
            let (up, reason, weight) = judge(&status, spec.dynamic);
            CheckOutcome {
                up,
                reason,
                latency: start.elapsed(),
                weight,
            }
        }
        Err(ScriptError::Timeout(_)) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
        Err(ScriptError::Empty) => CheckOutcome::down(
            Reason::Unsupported("empty misc_path".to_owned()),
            start.elapsed(),
        ),
        Err(e) => CheckOutcome::down(Reason::Io(e.to_string()), start.elapsed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let exit = |c: i32| Outcome::Exited(c);
        assert_eq!(judge(&exit(0), false), (true, Reason::Ok, None));
        assert_eq!(judge(&exit(1), true), (false, Reason::ScriptExit(1), None));
        assert_eq!(judge(&exit(5), false), (false, Reason::ScriptExit(5), None));
        assert_eq!(
            judge(&exit(5), true),
            (true, Reason::ScriptExit(5), Some(3))
        );
        assert_eq!(
            judge(&exit(255), true),
            (true, Reason::ScriptExit(255), Some(253))
        );
        assert_eq!(
            judge(&Outcome::Signaled(9), false),
            (false, Reason::ScriptSignal(9), None)
        );
    }
}
