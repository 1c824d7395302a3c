//! VRRP v2/v3 speaker.
//!
//! # Layout
//!
//! - [`packet`]: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) packets as checked
//!   views, with checksums and receive validation.
//! - [`fsm`]: the sans-IO VRRP instance state machine (RFC 5798 §6).
//! - [`net`]: kernel I/O: raw VRRP sockets, netlink addresses, GARP / NA.
//! - [`cli`]: the command line (keepalived's flags and ours).
//! - [`track`]: keepalived tracking, sans-IO: track_script/interface/file/
//!   process weights → effective priority and FAULT; script scheduling;
//!   sync group rules; a /proc process counter.
//! - [`notify`]: notify scripts and `notify_fifo` lines for state changes,
//!   delivered in order by a task of their own.

pub mod checkers;
pub mod cli;
pub mod fsm;
pub mod net;
pub mod notify;
pub mod packet;
pub mod runtime;
pub mod setup;
pub mod track;
pub mod watch;
