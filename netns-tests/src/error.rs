//! The harness's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building a topology or running a drill.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed; `context` says what we were doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A system call through nix failed.
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: nix::Error,
    },
    /// A set-up command (`ip ...`) exited unsuccessfully.
    #[error("command `{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {waited_ms} ms waiting for {what}")]
    Timeout { what: String, waited_ms: u64 },
    /// A record file or command output could not be understood.
    #[error("cannot parse {what}: {detail}")]
    Parse { what: String, detail: String },
    /// A binary the harness needs is missing.
    #[error("binary not found: {0}")]
    BinaryNotFound(String),
    /// The caller asked for something the harness cannot do.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A process the harness relies on died early; its logs are in `log_dir`.
    #[error("process {label} exited early ({status}); logs in {log_dir}")]
    ProcessDied {
        label: String,
        status: String,
        log_dir: PathBuf,
    },
}

/// Result with the harness error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn parse(what: impl Into<String>, detail: impl ToString) -> Self {
        Error::Parse {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}
