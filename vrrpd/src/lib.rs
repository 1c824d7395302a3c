//! VRRP v2/v3 speaker.
//!
//! # Layout
//!
//! - [`packet`]: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) packets as checked
//!   views, with checksums and receive validation.
//! - [`fsm`]: the sans-IO VRRP instance state machine (RFC 5798 §6).
//! - [`net`]: kernel I/O: raw VRRP sockets, netlink addresses, GARP / NA.
//! - [`cli`]: the command line (keepalived's flags and ours).

pub mod cli;
pub mod fsm;
pub mod net;
pub mod packet;
pub mod runtime;
pub mod setup;
