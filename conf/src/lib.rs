//! The suite's configuration: one validated model, two front ends.
//!
//! # Layout
//!
//! - [`diag`]: positions (`file:line:col`) and diagnostics shared by both
//!   front ends.
//! - [`keepalived`]: the keepalived.conf front end: a lexer and preprocessor
//!   that produce a block tree ([`keepalived::tree`]), and a builder that
//!   turns the tree into the model, checking every keyword.
//! - [`model`]: the typed model with keepalived's defaults.
//! - [`toml_front`]: the TOML front end (serde) and the TOML writer.
//! - [`validate`]: semantic checks shared by both front ends.

pub mod diag;
pub mod keepalived;
pub mod model;
pub mod toml_front;
pub mod validate;
