//! Block tree → [`crate::model::Config`].
//!
//! Each block has one function that walks its statements and matches on
//! the keyword. A keyword that is wrong (bad value, wrong number of
//! arguments, value out of range) is an error naming `file:line:col` of the
//! word at fault and what was expected; a keyword we do not know, or know
//! but do not support, is a warning with its position, and is ignored. The
//! builder never stops at the first problem: it reports all of them.
//!
//! After the tree is read, [`crate::model::resolve`] fills in inherited and
//! derived values (global defaults, VS → RS → checker settings), using
//! each item's [`Origin`] to know which keywords were written.

mod addr;
mod global;
mod keywords;

pub(crate) use keywords::FnvBuild;

/// Every keyword (and keyword-like value) the builder recognises.
pub fn known_keywords() -> &'static [&'static str] {
    keywords::KEYWORDS
}
mod lvs;
mod vrrp;

use std::net::IpAddr;
use std::time::Duration;

use ipnetwork::IpNetwork;

use crate::diag::{Diagnostic, Diagnostics, Location, SourceMap};
use crate::model::{duration, resolve, Config, Origin, Script};

use super::tree::{Arg, Node};

/// Build the model from a parsed keepalived.conf. Inherited values are
/// resolved; semantic checks across items are [`crate::validate`]'s job.
pub fn build(nodes: &[Node], sources: &SourceMap) -> (Config, Diagnostics) {
    let mut b = Builder {
        sources,
        diags: Diagnostics::default(),
        cfg: Config::default(),
    };
    b.top(nodes);
    b.finish();
    (b.cfg, b.diags)
}

/// [`build`], taking the tree by value and freeing each top-level block as
/// soon as it is built: the memory of the tree is reused for the model, so
/// a large config needs about the larger of the two, not their sum.
pub fn build_owned(nodes: Vec<Node>, sources: &SourceMap) -> (Config, Diagnostics) {
    let mut b = Builder {
        sources,
        diags: Diagnostics::default(),
        cfg: Config::default(),
    };
    for n in nodes {
        b.top_one(&n);
    }
    b.finish();
    (b.cfg, b.diags)
}

/// Parse the keepalived.conf at `path` and build the model in one pass:
/// each top-level block is built and freed as soon as it is complete, so
/// the block tree of a large config never exists as a whole. The same
/// results as [`super::lexer::parse_file`] then [`build_owned`]: the parse
/// output (with no `nodes`), the model, and the builder's diagnostics.
pub fn parse_and_build_file(
    path: &std::path::Path,
    opts: &super::lexer::ParseOptions,
) -> (super::lexer::ParseOutput, Config, Diagnostics) {
    streamed(|sink| super::lexer::parse_file_streaming(path, opts, sink))
}

/// [`parse_and_build_file`] for text in memory, as
/// [`super::lexer::parse_str`] reads it.
pub fn parse_and_build_str(
    name: &str,
    text: &str,
    opts: &super::lexer::ParseOptions,
) -> (super::lexer::ParseOutput, Config, Diagnostics) {
    streamed(|sink| super::lexer::parse_str_streaming(name, text, opts, sink))
}

fn streamed(
    parse: impl FnOnce(&mut dyn FnMut(Node)) -> super::lexer::ParseOutput,
) -> (super::lexer::ParseOutput, Config, Diagnostics) {
    // The files are not all read yet while blocks are built: source lines
    // are filled in at the end, from the complete map (a file's lines do
    // not change once read, so they are the ones build_owned would show).
    let none = SourceMap::default();
    let mut b = Builder {
        sources: &none,
        diags: Diagnostics::default(),
        cfg: Config::default(),
    };
    let out = parse(&mut |n: Node| b.top_one(&n));
    b.finish();
    let items = b.diags.items.into_iter().map(|d| out.sources.annotate(d));
    let diags = Diagnostics {
        items: items.collect(),
    };
    (out, b.cfg, diags)
}

pub(crate) struct Builder<'s> {
    sources: &'s SourceMap,
    diags: Diagnostics,
    cfg: Config,
}

/// How to describe a number range in "expected ..." messages.
fn range_text<T: std::fmt::Display + PartialEq>(min: T, max: T) -> String {
    format!("{min}-{max}")
}

impl Builder<'_> {
    // ---- diagnostics -------------------------------------------------

    fn push(&mut self, d: Diagnostic) {
        let d = self.sources.annotate(d);
        self.diags.push(d);
    }

    pub(crate) fn err(&mut self, loc: &Location, kw: &str, msg: impl Into<String>) {
        self.push(Diagnostic::error(Some(loc.clone()), Some(kw), msg));
    }

    pub(crate) fn warn(&mut self, loc: &Location, kw: &str, msg: impl Into<String>) {
        self.push(Diagnostic::warning(Some(loc.clone()), Some(kw), msg));
    }

    /// A keyword this block does not have.
    pub(crate) fn unknown(&mut self, n: &Node, ctx: &str) {
        self.warn(
            &n.loc,
            &n.keyword,
            format!("unknown keyword `{}` in {ctx}, ignored", n.keyword),
        );
    }

    /// A keyword keepalived has but vrrpd does not implement yet.
    pub(crate) fn unsupported(&mut self, n: &Node, ctx: &str) {
        self.warn(
            &n.loc,
            &n.keyword,
            format!("`{}` in {ctx} is not supported yet, ignored", n.keyword),
        );
    }

    /// A keyword that does not take a block was given one.
    fn stray_block(&mut self, n: &Node) {
        if n.has_block() {
            self.warn(
                &n.loc,
                &n.keyword,
                format!(
                    "`{}` does not take a `{{ }}` block, block ignored",
                    n.keyword
                ),
            );
        }
    }

    // ---- argument helpers --------------------------------------------

    /// Check the argument count is within `min..=max`.
    pub(crate) fn nargs(&mut self, n: &Node, min: usize, max: usize) -> bool {
        self.stray_block(n);
        let found = n.args.len();
        if found >= min && found <= max {
            return true;
        }
        let expected = match (min, max) {
            (a, b) if a == b && a == 0 => "no arguments".to_owned(),
            (a, b) if a == b && a == 1 => "1 argument".to_owned(),
            (a, b) if a == b => format!("{a} arguments"),
            (a, usize::MAX) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
            (a, b) => format!("{a} to {b} arguments"),
        };
        let loc = if found > max {
            n.args[max].loc.clone()
        } else {
            n.loc.clone()
        };
        self.err(
            &loc,
            &n.keyword,
            format!("expected {expected}, found {found}"),
        );
        false
    }

    /// The block of `n`, or an error if it has none.
    pub(crate) fn block<'n>(&mut self, n: &'n Node) -> Option<&'n [Node]> {
        match &n.children {
            Some(c) => Some(c),
            None => {
                self.err(
                    &n.loc,
                    &n.keyword,
                    format!("expected a `{{ ... }}` block after `{}`", n.keyword),
                );
                None
            }
        }
    }

    pub(crate) fn int_text<T>(&mut self, kw: &str, a: &Arg, min: T, max: T) -> Option<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        match a.text.parse::<T>() {
            Ok(v) if v >= min && v <= max => Some(v),
            _ => {
                self.err(
                    &a.loc,
                    kw,
                    format!(
                        "expected an integer {}, found `{}`",
                        range_text(min, max),
                        a.text
                    ),
                );
                None
            }
        }
    }

    /// `kw N` with exactly one integer argument in `min..=max`.
    pub(crate) fn int<T>(&mut self, n: &Node, min: T, max: T) -> Option<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        if !self.nargs(n, 1, 1) {
            return None;
        }
        self.int_text(&n.keyword, &n.args[0], min, max)
    }

    pub(crate) fn secs_text(
        &mut self,
        kw: &str,
        a: &Arg,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        match duration::parse_seconds(&a.text) {
            Some(d) if d >= min && d <= max => Some(d),
            _ => {
                self.err(
                    &a.loc,
                    kw,
                    format!(
                        "expected a number of seconds {}-{}, found `{}`",
                        duration::to_secs_f64(min),
                        duration::to_secs_f64(max),
                        a.text
                    ),
                );
                None
            }
        }
    }

    /// `kw SECONDS` (decimal allowed) in `min..=max`.
    pub(crate) fn secs(&mut self, n: &Node, min: Duration, max: Duration) -> Option<Duration> {
        if !self.nargs(n, 1, 1) {
            return None;
        }
        self.secs_text(&n.keyword, &n.args[0], min, max)
    }

    pub(crate) fn ip_text(&mut self, kw: &str, a: &Arg) -> Option<IpAddr> {
        match a.text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    &a.loc,
                    kw,
                    format!("expected an IP address, found `{}`", a.text),
                );
                None
            }
        }
    }

    /// `kw ADDR`.
    pub(crate) fn ip(&mut self, n: &Node) -> Option<IpAddr> {
        if !self.nargs(n, 1, 1) {
            return None;
        }
        self.ip_text(&n.keyword, &n.args[0])
    }

    /// `ADDR[/PREFIX]`; no prefix means a host prefix.
    pub(crate) fn net_text(&mut self, kw: &str, a: &Arg) -> Option<IpNetwork> {
        match parse_net(&a.text) {
            Some(n) => Some(n),
            None => {
                self.err(
                    &a.loc,
                    kw,
                    format!(
                        "expected an IP address with optional /prefix, found `{}`",
                        a.text
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn port_text(&mut self, kw: &str, a: &Arg) -> Option<u16> {
        self.int_text(kw, a, 0u16, 65535)
    }

    /// `kw [BOOL]`: no argument means true.
    pub(crate) fn bool_opt(&mut self, n: &Node) -> Option<bool> {
        if !self.nargs(n, 0, 1) {
            return None;
        }
        match n.args.first() {
            None => Some(true),
            Some(a) => match parse_bool(&a.text) {
                Some(b) => Some(b),
                None => {
                    self.err(
                        &a.loc,
                        &n.keyword,
                        format!("expected on|off|true|false|yes|no, found `{}`", a.text),
                    );
                    None
                }
            },
        }
    }

    /// `kw` with no argument.
    pub(crate) fn flag(&mut self, n: &Node) -> bool {
        self.nargs(n, 0, 0)
    }

    /// `kw STRING`.
    pub(crate) fn string(&mut self, n: &Node) -> Option<String> {
        if !self.nargs(n, 1, 1) {
            return None;
        }
        Some(n.args[0].text.as_str().to_owned())
    }

    /// `kw SCRIPT [USER [GROUP]]`.
    pub(crate) fn script(&mut self, n: &Node) -> Option<Script> {
        if !self.nargs(n, 1, 3) {
            return None;
        }
        Some(Script {
            command: n.args[0].text.as_str().to_owned(),
            user: n.args.get(1).map(|a| a.text.as_str().to_owned()),
            group: n.args.get(2).map(|a| a.text.as_str().to_owned()),
        })
    }

    /// `NAME [weight N [reverse|noreverse]]` entries of a track_* block.
    pub(crate) fn weight_opts(
        &mut self,
        n: &Node,
        args: &[Arg],
        min: i32,
        max: i32,
    ) -> (Option<i32>, bool) {
        let mut weight = None;
        let mut reverse = false;
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            match a.text.as_str() {
                "weight" => match args.get(i + 1) {
                    Some(v) => {
                        weight = self.int_text("weight", v, min, max);
                        i += 1;
                    }
                    None => self.err(
                        &a.loc,
                        "weight",
                        format!("expected an integer {min}-{max} after `weight`"),
                    ),
                },
                "reverse" => reverse = true,
                "noreverse" | "no_reverse" => reverse = false,
                other => self.err(
                    &a.loc,
                    &n.keyword,
                    format!("expected `weight N` or `reverse`, found `{other}`"),
                ),
            }
            i += 1;
        }
        (weight, reverse)
    }

    // ---- top level ---------------------------------------------------

    fn top(&mut self, nodes: &[Node]) {
        for n in nodes {
            self.top_one(n);
        }
    }

    fn top_one(&mut self, n: &Node) {
        {
            match n.keyword.as_str() {
                "global_defs" => self.global_defs(n),
                "static_ipaddress" => {
                    if let Some(c) = self.block(n) {
                        let list = self.address_list(c, "static_ipaddress");
                        self.cfg.static_ipaddress.extend(list);
                    }
                }
                "static_routes" => {
                    if let Some(c) = self.block(n) {
                        let list = self.route_list(c, "static_routes");
                        self.cfg.static_routes.extend(list);
                    }
                }
                "static_rules" => {
                    if let Some(c) = self.block(n) {
                        let list = self.rule_list(c, "static_rules");
                        self.cfg.static_rules.extend(list);
                    }
                }
                "vrrp_script" => self.vrrp_script(n),
                "track_file" | "vrrp_track_file" => self.track_file(n),
                "vrrp_track_process" | "track_process" => self.track_process(n),
                "bfd_instance" => self.bfd_instance(n),
                "vrrp_sync_group" => self.sync_group(n),
                "vrrp_instance" => self.vrrp_instance(n),
                "virtual_server_group" => self.virtual_server_group(n),
                "virtual_server" => self.virtual_server(n),
                "SSL" => self.ssl(n),
                "garp_group"
                | "linkbeat_interfaces"
                | "track_group"
                | "static_track_group"
                | "net_namespace"
                | "net_namespace_ipvs"
                | "namespace_with_ipsets"
                | "instance"
                | "use_pid_dir"
                | "child_wait_time"
                | "interface_up_down_delays"
                | "vrrp_track_interface" => self.unsupported(n, "the top level"),
                _ => self.warn(
                    &n.loc,
                    &n.keyword,
                    format!("unknown top-level keyword `{}`, ignored", n.keyword),
                ),
            }
        }
    }

    /// Resolve inheritance once everything is read.
    fn finish(&mut self) {
        resolve::global(&mut self.cfg.global_defs);
        for s in &mut self.cfg.vrrp_scripts {
            resolve::vrrp_script(s);
        }
        let g = self.cfg.global_defs.clone();
        let mut notes = Vec::new();
        for inst in &mut self.cfg.vrrp_instances {
            for (key, msg) in resolve::instance(inst, &g) {
                if let Some(loc) = inst.origin.key(key) {
                    notes.push((loc.clone(), key, format!("({}) {msg}", inst.name)));
                }
            }
        }
        for (loc, key, msg) in notes {
            self.warn(&loc, key, msg);
        }
        for vs in &mut self.cfg.virtual_servers {
            resolve::virtual_server(vs);
        }
    }
}

/// `ADDR[/PREFIX]`; no prefix means /32 or /128.
pub(crate) fn parse_net(text: &str) -> Option<IpNetwork> {
    match text.split_once('/') {
        Some((ip, p)) => {
            let ip: IpAddr = ip.parse().ok()?;
            let p: u8 = p.parse().ok()?;
            IpNetwork::new(ip, p).ok()
        }
        None => {
            let ip: IpAddr = text.parse().ok()?;
            Some(IpNetwork::from(ip))
        }
    }
}

/// keepalived's `check_true_false`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Record that keyword `n` was written in an item. Known keywords are
/// stored as `&'static str`: a large config marks hundreds of thousands.
pub(crate) fn mark(origin: &mut Origin, n: &Node) {
    let key = match keywords::intern(&n.keyword) {
        Some(k) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Owned(n.keyword.as_str().to_owned()),
    };
    origin.keys.push((key, n.loc.clone()));
}

/// The origin of block `n`, with room for a key per statement in it (a
/// large config has tens of thousands of blocks: no growing vectors).
pub(crate) fn origin_of(n: &Node) -> Origin {
    Origin {
        at: Some(n.loc.clone()),
        keys: Vec::with_capacity(n.children().len()),
    }
}

/// How many statements of block `n` have a keyword satisfying `f`.
pub(crate) fn count(n: &Node, f: impl Fn(&str) -> bool) -> usize {
    n.children().iter().filter(|c| f(&c.keyword)).count()
}
