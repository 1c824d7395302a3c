//! Heartbeat-based resource takeover engine.
//!
//! Not built yet: DESIGN.md places heartbeats, membership, quorum, fencing and
//! the resource engine here, on top of `vrrpd`'s address and script
//! primitives. This crate exists so the workspace has the layout and the
//! dependency direction the design fixes (`vrrpd` → `takeover` →
//! `clusterctl`); it exports nothing until its issue is taken.
