//! The block tree: what the keepalived.conf lexer produces and the model
//! builder consumes.
//!
//! After preprocessing (includes, conditionals, parameters, `~SEQ`/`~LST`,
//! continuation lines, comments), a keepalived.conf is a list of statements.
//! A statement is a keyword, its arguments, and optionally a `{ ... }` block of
//! child statements. Every keyword and argument keeps its position in the file
//! it came from, so the builder can name `file:line:col` in its errors.

pub use compact_str::CompactString;

use crate::diag::Location;

/// One word on a line. `quoted` is true if it was written in double quotes
/// (quotes removed); such a word is never a `{`/`}`.
///
/// Words are [`CompactString`]s: the same size as a `String`, but a word of
/// up to 24 bytes (nearly every keyword and value) needs no allocation of
/// its own; a large config has a million of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub text: CompactString,
    pub loc: Location,
    pub quoted: bool,
}

/// One statement: `keyword arg arg ...` optionally followed by a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub keyword: CompactString,
    pub loc: Location,
    pub args: Vec<Arg>,
    /// `Some` if the statement opened a `{ ... }` block (possibly empty).
    pub children: Option<Vec<Node>>,
}

impl Node {
    pub fn children(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }

    pub fn has_block(&self) -> bool {
        self.children.is_some()
    }
}
