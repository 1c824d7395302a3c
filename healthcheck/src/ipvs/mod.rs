//! IPVS through generic netlink: services, destinations, schedulers and
//! forwarding methods, driven by pool events.
//!
//! # Layout
//!
//! - [`msg`]: the IPVS messages, sans-IO: [`Request`] to bytes and back,
//!   replies ([`Reply`]: ack, errno, GET_INFO, the controller's family).
//! - [`socket`]: the blocking `NETLINK_GENERIC` socket: family
//!   resolution, one request at a time with its ack; [`probe`].
//! - [`sink`]: [`IpvsPlan`], the sans-IO mapping of pool events to
//!   requests, and [`IpvsSink`], the [`crate::sink::Sink`] that runs them.
//!
//! # Use (vrrpd)
//!
//! ```no_run
//! # async fn demo(config: conf::Config, engine: healthcheck::engine::Engine) {
//! use healthcheck::ipvs::{self, IpvsSink};
//! use healthcheck::sink::{self, Sink};
//!
//! let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
//! let mut ipvs_handle = None;
//! match ipvs::probe().and_then(|info| {
//!     tracing::info!(%info, "IPVS");
//!     IpvsSink::from_config(&config)
//! }) {
//!     Ok(s) => {
//!         ipvs_handle = Some(s.handle());
//!         sinks.push(Box::new(s));
//!     }
//!     // On this kernel: "IPVS not available: the kernel has no ip_vs
//!     // module (modprobe ip_vs); virtual servers will be checked but no
//!     // IPVS table is programmed".
//!     Err(e) => tracing::warn!("{e}"),
//! }
//! let (tx, rx) = tokio::sync::mpsc::channel(1024);
//! let dispatch = tokio::spawn(sink::dispatch(rx, sinks));
//! let _snapshot = engine.run(64, tx, async { /* SIGTERM */ }).await;
//! let _ = dispatch.await;
//! if let Some(h) = ipvs_handle {
//!     // keepalived removes its services when it stops.
//!     if let Err(e) = h.shutdown().await {
//!         tracing::warn!("{e}");
//!     }
//! }
//! // On reload: IpvsSink::from_config_with(&new_config, &old_handle).
//! # }
//! ```
//!
//! # Crates, and why
//!
//! Framing (nlmsghdr, genlmsghdr, attribute headers and padding,
//! NLMSG_ERROR) comes from `netlink-packet-core` 0.9 and
//! `netlink-packet-generic` 0.5 (whose `GenlCtrl` also builds the
//! controller's CTRL_CMD_GETFAMILY), the socket from `netlink-sys` 0.9.
//! They are the rust-netlink crates `rtnetlink` 0.24 is built on, already
//! in our lock file at these versions, maintained together, MIT, and
//! without `unsafe` on our side. The IPVS attribute layer is ours.
//!
//! STYLE.md had named `nlrs` 0.2 (CleverCloud) for IPVS. We did not take
//! it: it brings its own netlink stack next to the rust-netlink one we
//! already build (a second socket and attribute implementation, 47
//! `unsafe` blocks of its own), its IPVS types would then be what our
//! sink is written against, and we need to control the byte layout
//! anyway to test it against the kernel header. The trait boundary STYLE
//! asked for is [`crate::sink::Sink`].

pub mod msg;
pub mod sink;
pub mod socket;

use std::time::Duration;

pub use msg::{
    Dest, ForwardMethod, IpvsInfo, Netmask, Protocol, Reply, Request, Service, ServiceKey,
};
pub use sink::{IpvsHandle, IpvsPlan, IpvsSink};
pub use socket::{IpvsSocket, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The controller does not know the "IPVS" family: no ip_vs in this
    /// kernel (not built, not loaded and not loadable).
    #[error(
        "IPVS not available: the kernel has no ip_vs module (modprobe ip_vs); \
         virtual servers will be checked but no IPVS table is programmed"
    )]
    NotAvailable,
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("IPVS {request}: {source}")]
    Io {
        request: String,
        source: std::io::Error,
    },
    /// The kernel refused a request; `errno` as it sent it (positive).
    #[error("IPVS {request}: {}{}", std::io::Error::from_raw_os_error(*errno),
        if *errno == nix::libc::EPERM { " (IPVS needs CAP_NET_ADMIN)" } else { "" })]
    Kernel { request: String, errno: i32 },
    #[error("IPVS {request}: no answer from the kernel within {timeout:?}")]
    Timeout { request: String, timeout: Duration },
    #[error("malformed netlink reply: {0}")]
    Decode(String),
    /// A virtual server the IPVS table cannot express.
    #[error("{vs}: {reason}")]
    Config { vs: String, reason: String },
}

impl IpvsError {
    /// The kernel's errno, for errors that carry one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            IpvsError::Socket(e) | IpvsError::Io { source: e, .. } => e.raw_os_error(),
            _ => None,
        }
    }
}

/// Is IPVS usable here? Opens a generic netlink socket, resolves the
/// "IPVS" family and asks for its version. Call it at start-up and log
/// the error as it is: [`IpvsError::NotAvailable`] says what it means
/// for the daemon.
pub fn probe() -> Result<IpvsInfo, IpvsError> {
    IpvsSocket::open()?.info()
}
