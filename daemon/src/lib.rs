//! What every daemon of the suite shares.
//!
//! # Layout
//!
//! - [`control`]: the root-only Unix control socket (one command, one
//!   JSON answer) and its client.
//! - [`logging`]: `tracing` to stderr (journald captures it under systemd);
//!   never syslog, which on some hosts writes to the console.
//! - [`metrics`]: the optional Prometheus `/metrics` listener and the text
//!   exposition format.
//! - [`signals`]: the Unix signals a daemon reacts to, as one async stream.
//! - [`notify`]: systemd `sd_notify` (READY, RELOADING, STOPPING, STATUS).
//! - [`pidfile`]: a pid file that removes itself.
//! - [`script`]: runs scripts keepalived's way (no shell, own process group,
//!   user switch, timeout that kills the group, script security check).

pub mod control;
pub mod logging;
pub mod metrics;
pub mod netlink;
pub mod notify;
pub mod pidfile;
pub mod script;
pub mod signals;
