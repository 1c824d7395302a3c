//! The keepalived.conf front end.
//!
//! - [`lexer`]: reads files, applies keepalived's preprocessing (`include`,
//!   `@ID` conditionals, `$NAME` parameters, `~SEQ`/`~LST`, `\` continuation,
//!   `#`/`!` comments) and produces the [`tree`].
//! - [`tree`]: statements with positions.
//! - [`build`]: tree to [`crate::model`], with a diagnostic for every keyword
//!   that is wrong or not supported.

pub mod build;
pub mod lexer;
pub mod tree;
