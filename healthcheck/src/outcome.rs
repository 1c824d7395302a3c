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
