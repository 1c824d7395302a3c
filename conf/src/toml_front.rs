//! The TOML front end: the model's serde form, read and written.
//!
//! The TOML layout mirrors keepalived.conf: `[global_defs]`,
//! `[[vrrp_instance]]` with `name = "VI_1"`, `[[virtual_server]]` with
//! `[[virtual_server.real_server]]` and
//! `[[virtual_server.real_server.checker]]` (`type = "HTTP_GET"`), ...
//! See `conf/example.toml`.
//!
//! Values not written inherit exactly as in keepalived.conf (global
//! defaults, virtual server → real server → checker), through
//! [`crate::model::resolve`]. To know which keys were written, and to give
//! every diagnostic a `file:line:col`, the text is also parsed into toml's
//! spanned document tree and each item's [`Origin`] is filled from it.

use std::path::Path;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{inline_path, Diagnostic, Diagnostics, Location, SourceMap};
use crate::model::{resolve, Config, Origin};
use crate::validate;

/// Parse, resolve and validate a TOML config. `None` if it could not be
/// deserialized; otherwise the model, with validation diagnostics (which may
/// contain errors).
pub fn from_toml_str(name: &str, text: &str) -> (Option<Config>, Diagnostics) {
    from_toml_str_at(inline_path(name), text)
}

/// Read `path` and do what [`from_toml_str`] does.
pub fn from_toml_file(path: &Path) -> (Option<Config>, Diagnostics) {
    match std::fs::read_to_string(path) {
        Ok(text) => from_toml_str_at(Arc::from(path), &text),
        Err(e) => {
            let mut d = Diagnostics::default();
            d.push(Diagnostic::error(
                None,
                None,
                format!("cannot read {}: {e}", path.display()),
            ));
            (None, d)
        }
    }
}

/// The TOML form of `cfg`. Every effective value is written, so reading it
/// back gives an equal model.
pub fn to_toml_string(cfg: &Config) -> String {
    // Serializing the model cannot fail: every map key is a string and
    // every value has a TOML form. Fall back to an explanatory comment
    // rather than panic if that ever changes.
    toml::to_string_pretty(cfg).unwrap_or_else(|e| format!("# cannot serialize config: {e}\n"))
}

struct Lines {
    file: Arc<Path>,
    starts: Vec<usize>,
    text: Arc<str>,
}

impl Lines {
    fn new(file: Arc<Path>, text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines {
            file,
            starts,
            text: Arc::from(text),
        }
    }

    fn loc(&self, offset: usize) -> Location {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let end = offset.min(self.text.len());
        let col = self
            .text
            .get(start..end)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Location::new(self.file.clone(), line as u32 + 1, col as u32)
    }
}

fn from_toml_str_at(file: Arc<Path>, text: &str) -> (Option<Config>, Diagnostics) {
    let lines = Lines::new(file.clone(), text);
    let mut sources = SourceMap::default();
    sources.add(file, lines.text.clone());
    let mut diags = Diagnostics::default();
    let mut cfg: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let loc = e.span().map(|s| lines.loc(s.start));
            let kw = e.span().and_then(|sp| key_at(text, sp.start));
            let msg = e.message().trim().to_owned();
            diags.push(sources.annotate(Diagnostic::error(loc, kw.as_deref(), msg)));
            return (None, diags);
        }
    };
    // The spanned tree says which keys were written; without it every value
    // would be taken as inherited, so a failure here is an error.
    match DeTable::parse(text) {
        Ok(doc) => attach_origins(&mut cfg, doc.get_ref(), &lines),
        Err(e) => {
            let loc = e.span().map(|s| lines.loc(s.start));
            diags.push(sources.annotate(Diagnostic::error(loc, None, e.message().trim())));
            return (None, diags);
        }
    }
    resolve_all(&mut cfg, &mut diags, &sources);
    diags.extend(validate::validate(&cfg, Some(&sources)));
    (Some(cfg), diags)
}

/// The key a TOML error is about: the `key` of the `key = value` line at
/// `offset`, or the name of a `[table]` header there.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?.trim();
    let key = match line.split_once('=') {
        Some((k, _)) => k.trim(),
        None => line.trim_start_matches('[').trim_end_matches(']'),
    };
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && key.len() < 64).then(|| key.to_owned())
}

/// Inheritance for a model whose origins say which keys were written.
fn resolve_all(cfg: &mut Config, diags: &mut Diagnostics, sources: &SourceMap) {
    resolve::global(&mut cfg.global_defs);
    for s in &mut cfg.vrrp_scripts {
        resolve::vrrp_script(s);
    }
    let g = cfg.global_defs.clone();
    for inst in &mut cfg.vrrp_instances {
        for (key, msg) in resolve::instance(inst, &g) {
            diags.push(sources.annotate(Diagnostic::warning(
                inst.origin.key(key).cloned(),
                Some(key),
                format!("({}) {msg}", inst.name),
            )));
        }
    }
    for vs in &mut cfg.virtual_servers {
        resolve::virtual_server(vs);
    }
}

type T<'a> = DeTable<'a>;

fn get<'a, 'i>(t: &'a T<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

/// The elements of array `key` of `t`: each a table (or `None` for the
/// short string form) and where it starts.
fn elements<'a, 'i>(t: Option<&'a T<'i>>, key: &str) -> Vec<(Option<&'a T<'i>>, usize)> {
    match t.and_then(|t| get(t, key)).map(|v| v.get_ref()) {
        Some(DeValue::Array(a)) => a
            .iter()
            .map(|v| (v.get_ref().as_table(), v.span().start))
            .collect(),
        _ => Vec::new(),
    }
}

/// The origin of a table: where it starts, and each key.
fn origin(t: &T<'_>, start: usize, lines: &Lines) -> Origin {
    let mut o = Origin::at(lines.loc(start));
    for (k, _) in t.iter() {
        o.set_key(k.get_ref(), lines.loc(k.span().start));
    }
    // `notify.master` etc. are reported under keepalived's names.
    if let Some(n) = get(t, "notify").and_then(|v| v.get_ref().as_table()) {
        for (k, _) in n.iter() {
            o.set_key(
                &format!("notify_{}", k.get_ref()),
                lines.loc(k.span().start),
            );
        }
    }
    o
}

/// Fill the `Origin` of each item of `items` from the array `key` of `t`,
/// and call `inner` for nested items.
fn each<X>(
    t: Option<&T<'_>>,
    key: &str,
    items: &mut [X],
    lines: &Lines,
    mut inner: impl FnMut(&mut X, Option<&T<'_>>, Origin),
) {
    for (item, (tab, start)) in items.iter_mut().zip(elements(t, key)) {
        let o = match tab {
            Some(tab) => origin(tab, start, lines),
            None => Origin::at(lines.loc(start)),
        };
        inner(item, tab, o);
    }
}

fn attach_origins(cfg: &mut Config, doc: &T<'_>, lines: &Lines) {
    if let Some(v) = get(doc, "global_defs") {
        if let Some(t) = v.get_ref().as_table() {
            cfg.global_defs.origin = origin(t, v.span().start, lines);
        }
    }
    let doc = Some(doc);
    each(
        doc,
        "vrrp_script",
        &mut cfg.vrrp_scripts,
        lines,
        |x, _, o| x.origin = o,
    );
    each(doc, "track_file", &mut cfg.track_files, lines, |x, _, o| {
        x.origin = o
    });
    each(
        doc,
        "vrrp_track_process",
        &mut cfg.track_processes,
        lines,
        |x, _, o| x.origin = o,
    );
    each(
        doc,
        "bfd_instance",
        &mut cfg.bfd_instances,
        lines,
        |x, _, o| x.origin = o,
    );
    each(
        doc,
        "virtual_server_group",
        &mut cfg.virtual_server_groups,
        lines,
        |x, _, o| x.origin = o,
    );
    each(
        doc,
        "static_ipaddress",
        &mut cfg.static_ipaddress,
        lines,
        |x, _, o| x.origin = o,
    );
    each(
        doc,
        "static_routes",
        &mut cfg.static_routes,
        lines,
        |x, _, o| x.origin = o,
    );
    each(
        doc,
        "static_rules",
        &mut cfg.static_rules,
        lines,
        |x, _, o| x.origin = o,
    );
    each(
        doc,
        "vrrp_sync_group",
        &mut cfg.sync_groups,
        lines,
        |g, t, o| {
            g.origin = o;
            g.member_origins = elements(t, "group")
                .into_iter()
                .map(|(_, start)| Origin::at(lines.loc(start)))
                .collect();
            each(t, "track_script", &mut g.track_script, lines, |x, _, o| {
                x.origin = o
            });
            each(t, "track_file", &mut g.track_file, lines, |x, _, o| {
                x.origin = o
            });
            each(
                t,
                "track_process",
                &mut g.track_process,
                lines,
                |x, _, o| x.origin = o,
            );
            each(t, "track_bfd", &mut g.track_bfd, lines, |x, _, o| {
                x.origin = o
            });
            each(
                t,
                "track_virtual_server",
                &mut g.track_virtual_server,
                lines,
                |x, _, o| x.origin = o,
            );
            each(
                t,
                "track_interface",
                &mut g.track_interface,
                lines,
                |x, _, o| x.origin = o,
            );
        },
    );
    each(
        doc,
        "vrrp_instance",
        &mut cfg.vrrp_instances,
        lines,
        |i, t, o| {
            i.origin = o;
            each(
                t,
                "virtual_ipaddress",
                &mut i.virtual_ipaddress,
                lines,
                |x, _, o| x.origin = o,
            );
            each(
                t,
                "virtual_ipaddress_excluded",
                &mut i.virtual_ipaddress_excluded,
                lines,
                |x, _, o| x.origin = o,
            );
            each(
                t,
                "virtual_routes",
                &mut i.virtual_routes,
                lines,
                |x, _, o| x.origin = o,
            );
            each(
                t,
                "virtual_rules",
                &mut i.virtual_rules,
                lines,
                |x, _, o| x.origin = o,
            );
            each(t, "unicast_peer", &mut i.unicast_peer, lines, |x, _, o| {
                x.origin = o
            });
            each(
                t,
                "track_interface",
                &mut i.track_interface,
                lines,
                |x, _, o| x.origin = o,
            );
            each(t, "track_script", &mut i.track_script, lines, |x, _, o| {
                x.origin = o
            });
            each(t, "track_file", &mut i.track_file, lines, |x, _, o| {
                x.origin = o
            });
            each(
                t,
                "track_process",
                &mut i.track_process,
                lines,
                |x, _, o| x.origin = o,
            );
            each(t, "track_bfd", &mut i.track_bfd, lines, |x, _, o| {
                x.origin = o
            });
            each(
                t,
                "track_virtual_server",
                &mut i.track_virtual_server,
                lines,
                |x, _, o| x.origin = o,
            );
        },
    );
    each(
        doc,
        "virtual_server",
        &mut cfg.virtual_servers,
        lines,
        |vs, t, o| {
            vs.origin = o;
            each(t, "real_server", &mut vs.real_servers, lines, |rs, t, o| {
                rs.origin = o;
                each(t, "checker", &mut rs.checkers, lines, |ck, t, o| {
                    ck.origin = o;
                    each(t, "url", &mut ck.url, lines, |u, _, o| u.origin = o);
                });
            });
        },
    );
}
