//! Control plane and the suite's command line.
//!
//! # Layout
//!
//! - [`status`]: renders a daemon's `status` answer (JSON from its control
//!   socket) as the table `clusterctl status` prints.
//!
//! The control-plane roles DESIGN.md places here (API-server VIP, leader
//! singletons, `clusterctl agent`) are not built yet: they come with their
//! own issue, on top of `takeover`.

pub mod status;
