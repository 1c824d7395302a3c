//! Control plane and the suite's command line.
//!
//! Not built yet: DESIGN.md places the API-server VIP role, the leader
//! singletons and the `clusterctl` binary here. This crate holds the place in
//! the workspace and exports nothing until its issue is taken.
