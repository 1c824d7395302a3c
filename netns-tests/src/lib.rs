//! Network-namespace test harness: real daemons on a virtual LAN, a client
//! probing the virtual IP every millisecond, faults injected and measured.
//!
//! # Layout
//!
//! - [`topology`]: builds the switch / node / client namespaces joined by a
//!   bridge, runs and tracks processes inside them, injects link faults, and
//!   removes everything on drop (also on panic and, through [`registry`], on
//!   Ctrl-C).
//! - [`config`]: generates the `keepalived.conf` that both keepalived and our
//!   vrrpd read.
//! - [`daemon`]: which VRRP daemon to run, where its binary is, and its
//!   command line.
//! - [`wire`]: the probe datagram, the record formats the agent writes, and a
//!   small VRRP advertisement parser for the capture.
//! - [`agent`]: the UDP echo responder, the 1 ms prober and the advert
//!   capture; run as subcommands of the `netns-tests-agent` binary inside a
//!   namespace.
//! - [`analysis`]: detection gap, client outage and lost probes from the
//!   records.
//! - [`drill`]: scenario runner, hdrhistogram aggregation and the report.
//! - [`resources`]: RSS and CPU of a daemon's processes from `/proc`.
//! - [`scale`]: the scale benchmark (1,000 instances over several links):
//!   CPU, RSS and advert send jitter.
//! - [`env`]: "skip outside CI, fail in CI" checks for tests.
//! - [`clock`]: the monotonic microsecond clock shared by all processes.

pub mod agent;
pub mod analysis;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod drill;
pub mod env;
pub mod error;
pub mod http;
pub mod registry;
pub mod resources;
pub mod scale;
pub mod topology;
pub mod wire;

pub use config::{Family, InitialState, Instance, KeepalivedConf, Peers, Version};
pub use daemon::Daemon;
pub use error::{Error, Result};
pub use topology::{cleanup_stale, Node, Topology, TopologyOptions};
