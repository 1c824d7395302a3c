//! The result of one check attempt.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// What one check attempt found. `latency` is measured from the start of
/// the attempt to its verdict (success, failure or deadline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    pub up: bool,
    pub reason: Reason,
    pub latency: Duration,
    /// A weight reported by the check itself (MISC_CHECK with
    /// `misc_dynamic`, FILE_CHECK); `None` keeps the configured weight.
    pub weight: Option<i64>,
}

impl CheckOutcome {
    pub fn up(reason: Reason, latency: Duration) -> Self {
        CheckOutcome {
            up: true,
            reason,
            latency,
            weight: None,
        }
    }

    pub fn down(reason: Reason, latency: Duration) -> Self {
        CheckOutcome {
            up: false,
            reason,
            latency,
            weight: None,
        }
    }

    pub fn with_weight(mut self, weight: Option<i64>) -> Self {
        self.weight = weight;
        self
    }
}

/// Why a check went the way it did. `Display` gives the short text an
/// operator sees in logs (`refused`, `timeout`, `status 503`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// The check passed.
    Ok,
    /// UDP_CHECK without `require_reply`: no ICMP error within the timeout,
    /// which keepalived counts as success.
    NoError,
    /// TCP RST on connect.
    Refused,
    /// The single deadline (`connect_timeout`, or `misc_timeout`) expired.
    Timeout,
    /// HTTP status not in the accepted ranges.
    Status(u16),
    /// MD5 of the body differs from `digest`.
    DigestMismatch { expected: String, got: String },
    /// The body does not match `regex` (or matches with `regex_no_match`).
    RegexMismatch { no_match: bool },
    /// TLS handshake or record error.
    Tls(String),
    /// An HTTP protocol error (malformed response, ...).
    Http(String),
    /// SMTP: unexpected reply code (or unparseable line) at a stage.
    Smtp { stage: &'static str, reply: String },
    /// DNS: a reply that does not answer the query.
    Dns(String),
    /// MISC_CHECK: the script exited with this code.
    ScriptExit(i32),
    /// MISC_CHECK: the script was killed by this signal.
    ScriptSignal(i32),
    /// ICMP: destination unreachable (port unreachable for UDP_CHECK).
    Unreachable,
    /// UDP_CHECK: reply does not match `require_reply` or its length limits.
    ReplyMismatch,
    /// FILE_CHECK: the file is missing, unreadable or not a number.
    File(String),
    /// FILE_CHECK: the value read makes the server fail.
    FileValue(i64),
    /// Any other I/O error, with its text.
    Io(String),
    /// The checker is not supported (BFD_CHECK) or misconfigured.
    Unsupported(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Ok => f.write_str("ok"),
            Reason::NoError => f.write_str("no error before timeout"),
            Reason::Refused => f.write_str("refused"),
            Reason::Timeout => f.write_str("timeout"),
            Reason::Status(c) => write!(f, "status {c}"),
            Reason::DigestMismatch { expected, got } => {
                write!(f, "digest mismatch (expected {expected}, got {got})")
            }
            Reason::RegexMismatch { no_match: false } => f.write_str("regex not matched"),
            Reason::RegexMismatch { no_match: true } => {
                f.write_str("regex matched (regex_no_match)")
            }
            Reason::Tls(e) => write!(f, "tls error: {e}"),
            Reason::Http(e) => write!(f, "http error: {e}"),
            Reason::Smtp { stage, reply } => write!(f, "smtp {stage}: {reply}"),
            Reason::Dns(e) => write!(f, "dns: {e}"),
            Reason::ScriptExit(c) => write!(f, "script exit {c}"),
            Reason::ScriptSignal(s) => write!(f, "script killed by signal {s}"),
            Reason::Unreachable => f.write_str("unreachable"),
            Reason::ReplyMismatch => f.write_str("reply mismatch"),
            Reason::File(e) => write!(f, "file: {e}"),
            Reason::FileValue(v) => write!(f, "file value {v}"),
            Reason::Io(e) => write!(f, "io error: {e}"),
            Reason::Unsupported(e) => write!(f, "unsupported: {e}"),
        }
    }
}

impl Reason {
    /// Every class [`Reason::class`] returns, for tests and documentation.
    pub const CLASSES: [&'static str; 18] = [
        "ok",
        "no_error",
        "refused",
        "timeout",
        "wrong_status",
        "digest_mismatch",
        "regex_mismatch",
        "tls",
        "http",
        "smtp",
        "dns",
        "script_exit",
        "script_signal",
        "unreachable",
        "reply_mismatch",
        "file",
        "io",
        "unsupported",
    ];

    /// A short, fixed name for the kind of reason, without its details:
    /// what failure counters are keyed by (a Prometheus label value must
    /// come from a small set, so `status 503` and `status 404` are both
    /// `wrong_status`). A timed-out script is `timeout` here; the stats
    /// layer, which knows the check's kind, calls it `script_timeout`.
    pub fn class(&self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::NoError => "no_error",
            Reason::Refused => "refused",
            Reason::Timeout => "timeout",
            Reason::Status(_) => "wrong_status",
            Reason::DigestMismatch { .. } => "digest_mismatch",
            Reason::RegexMismatch { .. } => "regex_mismatch",
            Reason::Tls(_) => "tls",
            Reason::Http(_) => "http",
            Reason::Smtp { .. } => "smtp",
            Reason::Dns(_) => "dns",
            Reason::ScriptExit(_) => "script_exit",
            Reason::ScriptSignal(_) => "script_signal",
            Reason::Unreachable => "unreachable",
            Reason::ReplyMismatch => "reply_mismatch",
            Reason::File(_) | Reason::FileValue(_) => "file",
            Reason::Io(_) => "io",
            Reason::Unsupported(_) => "unsupported",
        }
    }

    /// Classify an I/O error from a connect/read/write.
    pub fn from_io(e: &std::io::Error) -> Reason {
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Reason::Refused,
            std::io::ErrorKind::TimedOut => Reason::Timeout,
            _ => match e.raw_os_error() {
                Some(code) if code == nix::libc::EHOSTUNREACH || code == nix::libc::ENETUNREACH => {
                    Reason::Unreachable
                }
                _ => Reason::Io(e.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_short_fixed_and_listed() {
        let samples = [
            Reason::Ok,
            Reason::NoError,
            Reason::Refused,
            Reason::Timeout,
            Reason::Status(503),
            Reason::DigestMismatch {
                expected: "a".into(),
                got: "b".into(),
            },
            Reason::RegexMismatch { no_match: true },
            Reason::Tls("bad cert".into()),
            Reason::Http("malformed".into()),
            Reason::Smtp {
                stage: "helo",
                reply: "554".into(),
            },
            Reason::Dns("nxdomain".into()),
            Reason::ScriptExit(1),
            Reason::ScriptSignal(9),
            Reason::Unreachable,
            Reason::ReplyMismatch,
            Reason::File("missing".into()),
            Reason::FileValue(-1),
            Reason::Io("reset".into()),
            Reason::Unsupported("BFD_CHECK".into()),
        ];
        for r in &samples {
            let c = r.class();
            assert!(Reason::CLASSES.contains(&c), "{c} not listed");
            assert!(
                c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c} is not a label-safe name"
            );
        }
        assert_eq!(Reason::Status(404).class(), Reason::Status(500).class());
        assert_eq!(Reason::Status(404).class(), "wrong_status");
        assert_eq!(Reason::Refused.class(), "refused");
        assert_eq!(Reason::Timeout.class(), "timeout");
        assert_eq!(
            Reason::from_io(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)).class(),
            "refused"
        );
        // Every listed class is produced by some reason.
        for c in Reason::CLASSES {
            assert!(samples.iter().any(|r| r.class() == c), "{c} unused");
        }
    }
}
