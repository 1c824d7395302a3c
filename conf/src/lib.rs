//! The suite's configuration: one validated model, two front ends.
//!
//! # Layout
//!
//! - [`diag`]: positions (`file:line:col`) and diagnostics shared by both
//!   front ends.
//! - [`keepalived`]: the keepalived.conf front end: a lexer and preprocessor
//!   that produce a block tree ([`keepalived::tree`]), and a builder that
//!   turns the tree into the model, checking every keyword.
//! - [`model`]: the typed model with keepalived's defaults, and
//!   [`model::resolve`], the inheritance rules both front ends apply.
//! - [`toml_front`]: the TOML front end (serde) and the TOML writer.
//! - [`validate`]: semantic checks shared by both front ends.
//!
//! The loaders below run a front end and validation and return the model
//! with every diagnostic; a caller refuses the config if
//! `diagnostics.has_errors()`.

pub mod diag;
pub mod keepalived;
pub mod model;
pub mod toml_front;
pub mod validate;

use std::path::Path;

pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use keepalived::lexer::ParseOptions;
pub use model::Config;
pub use toml_front::{from_toml_file, from_toml_str, to_toml_string};

/// A configuration and everything found wrong with it. The model is
/// always returned (built from whatever could be understood); it must not be
/// used if `diagnostics.has_errors()`.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: model::Config,
    pub diagnostics: Diagnostics,
}

impl Loaded {
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.has_errors()
    }
}

/// Read a keepalived.conf (with its includes): lexer, builder, validation.
pub fn load_keepalived_file(path: &Path, opts: &ParseOptions) -> Loaded {
    let out = keepalived::lexer::parse_file(path, opts);
    finish_keepalived(out)
}

/// The same for text in memory; `name` is the file name shown in
/// diagnostics (includes are resolved relative to the current directory).
pub fn load_keepalived_str(name: &str, text: &str, opts: &ParseOptions) -> Loaded {
    let out = keepalived::lexer::parse_str(name, text, opts);
    finish_keepalived(out)
}

fn finish_keepalived(out: keepalived::lexer::ParseOutput) -> Loaded {
    let mut diagnostics = out.diagnostics;
    let (config, build_diags) = keepalived::build::build_owned(out.nodes, &out.sources);
    diagnostics.extend(build_diags);
    diagnostics.extend(validate::validate(&config, Some(&out.sources)));
    Loaded {
        config,
        diagnostics,
    }
}

/// Read a TOML config: deserialization, inheritance, validation. If the
/// file cannot be deserialized the model is empty and the error says why.
pub fn load_toml_file(path: &Path) -> Loaded {
    let (config, diagnostics) = toml_front::from_toml_file(path);
    Loaded {
        config: config.unwrap_or_default(),
        diagnostics,
    }
}

/// `.toml` → the TOML front end; anything else → keepalived.conf.
pub fn load_file(path: &Path, opts: &ParseOptions) -> Loaded {
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        load_toml_file(path)
    } else {
        load_keepalived_file(path, opts)
    }
}
