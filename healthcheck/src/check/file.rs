//! FILE_CHECK: read a tracked file holding an integer.
//!
//! keepalived's rules: with weight 0, any non-zero value fails the real
//! server; otherwise the server stays up with weight
//! `base_weight + value * weight` (negated with `reverse`), clamped to
//! IPVS's range 0..=65535. keepalived watches the file with inotify; we
//! read it at every check (`delay_loop`). A missing or unparseable file
//! fails the check (keepalived reads garbage as 0; failing is the safer
//! reading of a broken tracking file and is logged with its reason).

use std::time::Instant;

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::FileSpec;

/// IPVS's largest weight.
const WEIGHT_MAX: i64 = 65535;

pub fn judge(spec: &FileSpec, value: i64) -> (bool, Reason, Option<i64>) {
    if spec.weight == 0 {
        if value == 0 {
            (true, Reason::Ok, None)
        } else {
            (false, Reason::FileValue(value), None)
        }
    } else {
        let delta = value.saturating_mul(spec.weight);
        let delta = if spec.reverse { -delta } else { delta };
        let w = spec.base_weight.saturating_add(delta).clamp(0, WEIGHT_MAX);
        (true, Reason::FileValue(value), Some(w))
    }
}

pub async fn check(spec: &FileSpec) -> CheckOutcome {
    let start = Instant::now();
    let text = match tokio::fs::read_to_string(&spec.path).await {
        Ok(t) => t,
        Err(e) => {
            return CheckOutcome::down(Reason::File(format!("{}: {e}", spec.path)), start.elapsed())
        }
    };
    let Ok(value) = text.trim().parse::<i64>() else {
        return CheckOutcome::down(
            Reason::File(format!("{}: not a number", spec.path)),
            start.elapsed(),
        );
    };
    let (up, reason, weight) = judge(spec, value);
    CheckOutcome {
        up,
        reason,
        latency: start.elapsed(),
        weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(weight: i64, reverse: bool) -> FileSpec {
        FileSpec {
            path: String::new(),
            weight,
            reverse,
            base_weight: 10,
        }
    }

    #[test]
    fn values() {
        assert_eq!(judge(&spec(0, false), 0), (true, Reason::Ok, None));
        assert_eq!(
            judge(&spec(0, false), 1),
            (false, Reason::FileValue(1), None)
        );
        assert_eq!(judge(&spec(2, false), 3).2, Some(16));
        assert_eq!(judge(&spec(2, true), 3).2, Some(4));
        assert_eq!(judge(&spec(2, true), 100).2, Some(0));
        assert_eq!(judge(&spec(1000, false), 1000).2, Some(65535));
    }
}
