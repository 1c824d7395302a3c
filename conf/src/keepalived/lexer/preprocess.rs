//! keepalived's line preprocessing (`read_line` in keepalived's
//! `lib/parser.c`): comments, conditionals, parameters, `~SEQ`/`~LST`,
//! includes, then the split at braces. See the parent module for the order
//! and for where we deliberately differ.
//!
//! A line is kept as bytes with one position per byte, so that text moved
//! around by expansion still points at the place it was written. Special
//! characters are all ASCII, and UTF-8 never uses ASCII bytes inside a
//! multi-byte character, so scanning bytes is safe and cutting at an ASCII
//! byte never splits a character.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{is_space, tokenize, ParseOptions, ParseOutput, TreeBuilder};
use crate::diag::{Diagnostic, Diagnostics, FileId, Location, SourceMap};
use crate::keepalived::tree::{Arg, CompactString, Node};

/// Expansion passes over one line before we call it recursive (`$A=$A`).
const MAX_PASSES: usize = 64;
/// Longest line expansion may produce.
const MAX_LINE: usize = 1 << 16;
/// Deepest nesting of `~SEQ`/`~LST`/multi-line parameter expansion.
const MAX_GEN_DEPTH: u32 = 64;
/// Bytes of generated text allowed per allowed generated line.
const GENERATED_BYTES_PER_LINE: u128 = 64;
/// Most patterns one `include` may expand to through `{a,b}` braces.
const MAX_BRACE_PATTERNS: usize = 1024;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pos {
    line: u32,
    col: u32,
}

/// Text with the position each byte was written at.
#[derive(Clone, Debug, Default)]
struct Line {
    text: Vec<u8>,
    pos: Vec<Pos>,
}

impl Line {
    fn clear(&mut self) {
        self.text.clear();
        self.pos.clear();
    }

    fn len(&self) -> usize {
        self.text.len()
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn push(&mut self, b: u8, p: Pos) {
        self.text.push(b);
        self.pos.push(p);
    }

    fn extend_at(&mut self, bytes: &[u8], p: Pos) {
        self.text.extend_from_slice(bytes);
        self.pos.extend(std::iter::repeat_n(p, bytes.len()));
    }

    fn extend_from(&mut self, other: &Line, from: usize, to: usize) {
        self.text.extend_from_slice(&other.text[from..to]);
        self.pos.extend_from_slice(&other.pos[from..to]);
    }

    fn slice(&self, from: usize, to: usize) -> Line {
        Line {
            text: self.text[from..to].to_vec(),
            pos: self.pos[from..to].to_vec(),
        }
    }

    fn drain_front(&mut self, n: usize) {
        self.text.drain(..n);
        self.pos.drain(..n);
    }

    fn truncate(&mut self, n: usize) {
        self.text.truncate(n);
        self.pos.truncate(n);
    }

    /// Position of byte `i`, or of the end of the line.
    fn pos_at(&self, i: usize) -> Pos {
        match self.pos.get(i) {
            Some(p) => *p,
            None => self.pos.last().map_or(Pos { line: 1, col: 1 }, |p| Pos {
                line: p.line,
                col: p.col.saturating_add(1),
            }),
        }
    }
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn skip_blanks(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && is_blank(t[i]) {
        i += 1;
    }
    i
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// What [`decomment`] found besides the text.
struct Decommented {
    /// The line ended in `\` (outside or inside a comment).
    cont: bool,
    /// Position of a `"` that is never closed.
    open_quote: Option<Pos>,
}

/// keepalived's `decomment()`: drop leading blanks, cut at `#`/`!` outside
/// quotes, turn `\#`/`\!` outside quotes into `#`/`!`, note a final `\`
/// (dropped), and drop trailing blanks. Appends to `out`.
fn decomment(input: impl Iterator<Item = (u8, Pos)>, out: &mut Line) -> Decommented {
    let base = out.len();
    let mut leading = true;
    let mut quote = false;
    let mut open_quote = None;
    let mut comment = false;
    let mut esc: Option<Pos> = None;
    for (b, p) in input {
        if leading {
            if is_blank(b) {
                continue;
            }
            leading = false;
        }
        if let Some(bp) = esc.take() {
            if comment {
                continue;
            }
            if !quote && (b == b'#' || b == b'!') {
                out.push(b, p);
            } else {
                out.push(b'\\', bp);
                out.push(b, p);
            }
            continue;
        }
        match b {
            b'\\' => esc = Some(p),
            _ if comment => {}
            b'"' => {
                quote = !quote;
                if quote {
                    open_quote = Some(p);
                }
                out.push(b, p);
            }
            b'#' | b'!' if !quote => comment = true,
            _ => out.push(b, p),
        }
    }
    let mut end = out.len();
    while end > base && is_blank(out.text[end - 1]) {
        end -= 1;
    }
    out.truncate(end);
    Decommented {
        cont: esc.is_some(),
        open_quote: if quote { open_quote } else { None },
    }
}

#[cfg(test)]
thread_local! {
    /// Tests compare the plain-line fast path with the general one.
    pub(super) static SLOW_PATH_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn slow_path_only() -> bool {
    SLOW_PATH_ONLY.with(std::cell::Cell::get)
}

#[cfg(not(test))]
fn slow_path_only() -> bool {
    false
}

/// Bytes that end the plain scan of [`plain_line`]: comment starts, the
/// characters only the general path handles, and non-ASCII bytes (whose
/// columns are not byte offsets).
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0x80;
    while i < 256 {
        t[i] = true;
        i += 1;
    }
    t[b'#' as usize] = true;
    t[b'!' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'"' as usize] = true;
    t[b'$' as usize] = true;
    t
};

/// Bytes that end a word of a plain line: keepalived's whitespace
/// ([`is_space`]) and the braces.
static WORD_END: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_space(i as u8) || i == b'{' as usize || i == b'}' as usize;
        i += 1;
    }
    t
};

/// The common line that needs none of the preprocessing beyond comment
/// removal: ASCII up to any comment, no `\`, `"` or `$` anywhere (a `\`
/// in a comment can still continue the line), not starting with `@` or `~`.
/// Returns the range [`decomment`] would keep: leading and trailing blanks
/// and the comment removed.
fn plain_line(raw: &[u8]) -> Option<(usize, usize)> {
    // One table lookup per byte: this runs over every byte of the file.
    let cut = raw
        .iter()
        .position(|&b| SPECIAL[usize::from(b)])
        .unwrap_or(raw.len());
    match raw.get(cut) {
        None => {}
        // A `\` in the comment may continue the line.
        Some(b'#' | b'!') if !raw[cut..].contains(&b'\\') => {}
        // A `\`, `"`, `$` or a non-ASCII byte before any comment.
        Some(_) => return None,
    }
    let start = skip_blanks(raw, 0).min(cut);
    let mut end = cut;
    while end > start && is_blank(raw[end - 1]) {
        end -= 1;
    }
    if start < end && matches!(raw[start], b'@' | b'~') {
        return None;
    }
    Some((start, end))
}

/// Bytes of a physical line with their positions (columns in characters).
fn raw_chars(raw: &[u8], line: u32) -> impl Iterator<Item = (u8, Pos)> + '_ {
    let mut col = 0u32;
    raw.iter().map(move |&b| {
        if b & 0xc0 != 0x80 {
            col = col.saturating_add(1);
        }
        (b, Pos { line, col })
    })
}

/// `$NAME=value` at the start of `t`: the name's range and where the value
/// starts. As in keepalived, no blanks are allowed before the `=`.
fn parse_definition(t: &[u8]) -> Option<(std::ops::Range<usize>, usize)> {
    if t.first() != Some(&b'$') || !t.get(1).copied().is_some_and(is_name_start) {
        return None;
    }
    let mut j = 2;
    while j < t.len() && t[j] != b'=' {
        if !is_name_char(t[j]) {
            return None;
        }
        j += 1;
    }
    if j >= t.len() {
        return None;
    }
    Some((1..j, skip_blanks(t, j + 1)))
}

/// Skip an `@ID ` / `@^ID ` prefix textually (for deciding whether a line
/// continued with `\` is a definition).
fn after_condition(t: &[u8]) -> usize {
    if t.first() != Some(&b'@') {
        return 0;
    }
    match t.iter().position(|&c| is_blank(c)) {
        Some(i) => skip_blanks(t, i),
        None => t.len(),
    }
}

/// A `$NAME` or `${NAME}` / `${NAME params}` reference.
struct ParamRef {
    name: std::ops::Range<usize>,
    params: Option<std::ops::Range<usize>>,
    end: usize,
}

/// Parse a reference at `t[j] == '$'` with keepalived's rules
/// (`find_definition`): a bare name must be followed by a blank, `,`, `)` or
/// the end of the line; a braced one may carry digit parameters.
fn parse_ref(t: &[u8], j: usize) -> Option<ParamRef> {
    let n = t.len();
    let mut k = j + 1;
    let braced = t.get(k) == Some(&b'{');
    if braced {
        k += 1;
    }
    if !t.get(k).copied().is_some_and(is_name_start) {
        return None;
    }
    let name_start = k;
    while k < n && is_name_char(t[k]) {
        k += 1;
    }
    let name = name_start..k;
    let mut params = None;
    if braced {
        let mut first = None;
        let mut last = 0;
        while k < n && (t[k] == b' ' || t[k].is_ascii_digit()) {
            if t[k] != b' ' {
                first.get_or_insert(k);
                last = k;
            }
            k += 1;
        }
        if let Some(f) = first {
            if last + 1 != k {
                return None;
            }
            params = Some(f..k);
        }
        if t.get(k) != Some(&b'}') {
            return None;
        }
        k += 1;
    } else if k < n && !matches!(t[k], b' ' | b'\t' | b',' | b')') {
        return None;
    }
    Some(ParamRef {
        name,
        params,
        end: k,
    })
}

/// C's `strtol(s, &end, 0)`: blanks, sign, `0x` hex or `0` octal prefix.
/// Returns the value (saturated) and the index after it, or `start` if no
/// digits were found.
fn strtol(t: &[u8], start: usize) -> (i64, usize) {
    let n = t.len();
    let mut p = start;
    while p < n && is_space(t[p]) {
        p += 1;
    }
    let mut neg = false;
    if p < n && (t[p] == b'+' || t[p] == b'-') {
        neg = t[p] == b'-';
        p += 1;
    }
    let base: i128 =
        if p + 2 < n && t[p] == b'0' && (t[p + 1] | 0x20) == b'x' && t[p + 2].is_ascii_hexdigit() {
            p += 2;
            16
        } else if p < n && t[p] == b'0' {
            8
        } else {
            10
        };
    let digits_start = p;
    let mut v: i128 = 0;
    while p < n {
        let d = match t[p] {
            c @ b'0'..=b'9' => i128::from(c - b'0'),
            c @ b'a'..=b'f' => i128::from(c - b'a' + 10),
            c @ b'A'..=b'F' => i128::from(c - b'A' + 10),
            _ => break,
        };
        if d >= base {
            break;
        }
        v = (v * base + d).min(i128::from(i64::MAX) + 1);
        p += 1;
    }
    if p == digits_start {
        return (0, start);
    }
    let v = if neg { -v } else { v };
    let v = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    (v as i64, p)
}

#[derive(Clone, Debug)]
enum DefValue {
    Text(String),
    Pwd,
    Instance,
    Random,
}

#[derive(Clone, Debug)]
struct Def {
    value: DefValue,
    multiline: bool,
    max_params: u8,
}

/// Which `include` variant; see keepalived.conf(5). Only the checks that
/// change what we report are kept: `W` makes an unmatched wildcard an error,
/// `R` makes an unusable file (directory, executable) an error.
#[derive(Clone, Copy, Debug)]
struct IncludeKind {
    wildcard_error: bool,
    read_error: bool,
}

fn is_include(t: &[u8]) -> Option<(IncludeKind, usize)> {
    if !t.starts_with(b"include") {
        return None;
    }
    let plain = IncludeKind {
        wildcard_error: false,
        read_error: false,
    };
    match t.get(7) {
        None => Some((plain, 7)),
        Some(&c) if is_space(c) => Some((plain, 8)),
        Some(&c) if t.get(8).copied().is_some_and(is_space) => {
            let kind = match c {
                b'r' | b'm' | b'b' => IncludeKind {
                    wildcard_error: false,
                    read_error: true,
                },
                b'w' | b'a' => IncludeKind {
                    wildcard_error: true,
                    read_error: true,
                },
                _ => return None,
            };
            Some((kind, 9))
        }
        _ => None,
    }
}

/// Expand csh-style `{a,b}` alternatives like glob(3)'s `GLOB_BRACE`.
fn expand_braces(p: &str, out: &mut Vec<String>) {
    if out.len() >= MAX_BRACE_PATTERNS {
        return;
    }
    let b = p.as_bytes();
    let mut i = 0;
    let mut open = None;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => {
                open = Some(i);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let Some(open) = open else {
        out.push(p.to_owned());
        return;
    };
    // Find the matching '}' and the top-level commas.
    let mut depth = 0usize;
    let mut commas = Vec::new();
    let mut close = None;
    let mut k = open + 1;
    while k < b.len() {
        match b[k] {
            b'\\' => k += 1,
            b'{' => depth += 1,
            b'}' if depth == 0 => {
                close = Some(k);
                break;
            }
            b'}' => depth -= 1,
            b',' if depth == 0 => commas.push(k),
            _ => {}
        }
        k += 1;
    }
    let Some(close) = close else {
        out.push(p.to_owned());
        return;
    };
    let prefix = &p[..open];
    let suffix = &p[close + 1..];
    let mut start = open + 1;
    for end in commas.into_iter().chain(std::iter::once(close)) {
        let alt = &p[start..end];
        expand_braces(&format!("{prefix}{alt}{suffix}"), out);
        start = end + 1;
    }
}

/// An include pattern after brace expansion, read the way glob(3) reads
/// it: `\\c` is a literal `c`. Returns the pattern in the `glob` crate's
/// syntax (which has no backslash escapes: a literal `*` is `[*]`), the
/// literal path (backslashes removed), and whether there is a wildcard.
fn glob_pattern(p: &str) -> (String, String, bool) {
    let mut pattern = String::with_capacity(p.len());
    let mut literal = String::with_capacity(p.len());
    let mut wild = false;
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else { break };
                literal.push(e);
                if matches!(e, '*' | '?' | '[' | ']') {
                    pattern.push('[');
                    pattern.push(e);
                    pattern.push(']');
                } else {
                    pattern.push(e);
                }
            }
            '*' | '?' | '[' => {
                wild = true;
                literal.push(c);
                pattern.push(c);
            }
            _ => {
                literal.push(c);
                pattern.push(c);
            }
        }
    }
    (pattern, literal, wild)
}

/// The file being read.
struct FileCtx {
    file: FileId,
    /// Directory relative includes are resolved against; `None` is the
    /// current directory.
    dir: Option<PathBuf>,
    /// How many includes deep this file is (the top level is 0).
    depth: usize,
    /// Expansion nesting of the line that included this file, so nesting
    /// is bounded across includes too.
    gen_base: u32,
}

impl FileCtx {
    fn loc(&self, p: Pos) -> Location {
        Location::at(self.file, p.line.max(1), p.col.max(1))
    }
}

pub(super) struct Preprocessor<'o> {
    opts: &'o ParseOptions,
    config_id: Option<String>,
    defs: HashMap<String, Def>,
    sources: SourceMap,
    /// The text of every file in `sources`, by path.
    texts: HashMap<FileId, Arc<String>>,
    diags: Diagnostics,
    tree: TreeBuilder<'o>,
    /// Canonical path and shown path of every file being read, outermost
    /// first, to refuse include cycles.
    include_stack: Vec<(PathBuf, Arc<Path>)>,
    generated: usize,
    generated_bytes: u128,
    budget_exhausted: bool,
    depth_reported: bool,
    warned_undefined: HashSet<String>,
    rng: u64,
    scratch: Line,
    args_scratch: Vec<Arg>,
    /// A runaway expansion was reported; parameters are no longer expanded.
    expansion_stopped: bool,
    /// Expansion nesting of the line being emitted (for includes in it).
    emit_depth: u32,
}

impl<'o> Preprocessor<'o> {
    pub(super) fn new(
        opts: &'o ParseOptions,
        sink: Option<&'o mut (dyn FnMut(Node) + 'o)>,
    ) -> Self {
        let config_id = opts.config_id.clone().or_else(short_hostname);
        let mut defs = HashMap::new();
        let std_def = |value, max_params| Def {
            value,
            multiline: false,
            max_params,
        };
        defs.insert("_PWD".to_owned(), std_def(DefValue::Pwd, 0));
        defs.insert("_INSTANCE".to_owned(), std_def(DefValue::Instance, 0));
        defs.insert("_RANDOM".to_owned(), std_def(DefValue::Random, 2));
        defs.insert(
            "_HASH".to_owned(),
            std_def(DefValue::Text("#".to_owned()), 0),
        );
        defs.insert(
            "_BANG".to_owned(),
            std_def(DefValue::Text("!".to_owned()), 0),
        );
        let seed = opts.random_seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        Preprocessor {
            opts,
            config_id,
            defs,
            sources: SourceMap::default(),
            texts: HashMap::new(),
            diags: Diagnostics::default(),
            tree: TreeBuilder::with_sink(sink),
            include_stack: Vec::new(),
            generated: 0,
            generated_bytes: 0,
            budget_exhausted: false,
            depth_reported: false,
            warned_undefined: HashSet::new(),
            rng: seed | 1,
            scratch: Line::default(),
            args_scratch: Vec::new(),
            expansion_stopped: false,
            emit_depth: 0,
        }
    }

    pub(super) fn run_top(
        &mut self,
        path: Arc<Path>,
        dir: Option<PathBuf>,
        canonical: Option<PathBuf>,
        text: Arc<String>,
    ) {
        self.add_source(&path, &text);
        if let Some(c) = canonical {
            self.include_stack.push((c, path.clone()));
        }
        let fc = FileCtx {
            file: FileId::intern(&path),
            dir,
            depth: 0,
            gen_base: 0,
        };
        self.run_file(&fc, &text);
    }

    pub(super) fn finish(mut self) -> ParseOutput {
        let tree = std::mem::take(&mut self.tree);
        let nodes = tree.finish(&mut self.diags);
        // Fill in source lines with an index per file: SourceMap::line
        // scans the file from the start each time, which is quadratic for
        // many diagnostics in a big file. Same result as
        // SourceMap::annotate (a line as `str::lines` gives it).
        let mut index: HashMap<FileId, Vec<usize>> = HashMap::new();
        let items = self
            .diags
            .items
            .into_iter()
            .map(|d| {
                let line = d.location.as_ref().and_then(|loc| {
                    let text = self.texts.get(&loc.file)?;
                    let starts = index.entry(loc.file).or_insert_with(|| {
                        std::iter::once(0)
                            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                            .collect()
                    });
                    let i = (loc.line as usize).checked_sub(1)?;
                    let start = *starts.get(i)?;
                    let end = starts.get(i + 1).map_or(text.len(), |e| e - 1);
                    if start >= text.len() {
                        return None;
                    }
                    let l = &text[start..end];
                    Some(l.strip_suffix('\r').unwrap_or(l).to_owned())
                });
                d.with_source_line(line)
            })
            .collect();
        ParseOutput {
            nodes,
            sources: self.sources,
            diagnostics: Diagnostics { items },
        }
    }

    fn add_source(&mut self, path: &Arc<Path>, text: &Arc<String>) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.texts.entry(FileId::intern(path))
        {
            e.insert(text.clone());
            self.sources.add_string(path.clone(), text.clone());
        }
    }

    fn error(&mut self, fc: &FileCtx, p: Pos, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(Some(fc.loc(p)), None, msg));
    }

    fn warning(&mut self, fc: &FileCtx, p: Pos, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(Some(fc.loc(p)), None, msg));
    }

    /// Read one file's lines.
    fn run_file(&mut self, fc: &FileCtx, text: &str) {
        let mut lines = text.split('\n');
        let mut lineno: u32 = 0;
        // The multi-line definition being read, if any.
        let mut multiline: Option<String> = None;
        while let Some(raw) = lines.next() {
            lineno = lineno.saturating_add(1);
            let raw_str = raw.trim_end_matches('\r');
            let raw = raw_str.as_bytes();
            if let Some(name) = multiline.take() {
                multiline = self.multiline_def_line(fc, name, raw, lineno);
                continue;
            }
            if raw.is_empty() {
                continue;
            }
            if fc.gen_base <= MAX_GEN_DEPTH && !slow_path_only() {
                if let Some((start, end)) = plain_line(raw) {
                    // What decomment + handle_line would do, without
                    // recording a position per byte: the line is ASCII, so
                    // the column of byte i is i + 1.
                    if start < end {
                        self.emit_depth = fc.gen_base;
                        let text = raw_str.get(start..end).unwrap_or_default();
                        self.emit_plain(fc, text, |i| Pos {
                            line: lineno,
                            col: u32::try_from(start + i + 1).unwrap_or(u32::MAX),
                        });
                    }
                    continue;
                }
            }
            let mut line = std::mem::take(&mut self.scratch);
            line.clear();
            let d = decomment(raw_chars(raw, lineno), &mut line);
            if let Some(q) = d.open_quote {
                self.unterminated_quote(fc, q);
            }
            let mut def_cont = false;
            if d.cont {
                let body = after_condition(&line.text);
                if parse_definition(&line.text[body..]).is_some() {
                    def_cont = true;
                } else {
                    // Not keepalived: join continued lines with one blank.
                    for next in lines.by_ref() {
                        lineno = lineno.saturating_add(1);
                        let next = next.trim_end_matches('\r').as_bytes();
                        if next.is_empty() {
                            break;
                        }
                        let before = line.len();
                        let sep = usize::from(before > 0);
                        if sep == 1 {
                            let p = line.pos_at(before - 1);
                            line.push(b' ', p);
                        }
                        let d = decomment(raw_chars(next, lineno), &mut line);
                        if line.len() == before + sep {
                            line.truncate(before);
                        }
                        if let Some(q) = d.open_quote {
                            self.unterminated_quote(fc, q);
                        }
                        if !d.cont {
                            break;
                        }
                    }
                }
            }
            if !line.is_empty() {
                multiline = self.handle_line(fc, &mut line, def_cont, fc.gen_base);
            }
            self.scratch = line;
        }
        if let Some(name) = multiline {
            self.end_multiline(&name);
        }
    }

    fn unterminated_quote(&mut self, fc: &FileCtx, q: Pos) {
        self.error(
            fc,
            q,
            "unterminated quote: this '\"' is not closed on its line",
        );
    }

    /// One more physical line of a multi-line `$NAME=` definition. Returns
    /// the name again while the definition continues.
    fn multiline_def_line(
        &mut self,
        fc: &FileCtx,
        name: String,
        raw: &[u8],
        lineno: u32,
    ) -> Option<String> {
        // keepalived: an empty line ends the definition; a line that is
        // empty only after removing comments is skipped.
        if raw.is_empty() {
            self.end_multiline(&name);
            return None;
        }
        let mut l = Line::default();
        let d = decomment(raw_chars(raw, lineno), &mut l);
        if let Some(q) = d.open_quote {
            self.unterminated_quote(fc, q);
        }
        if l.is_empty() && !d.cont {
            return Some(name);
        }
        let text = String::from_utf8_lossy(&l.text);
        if let Some(Def {
            value: DefValue::Text(v),
            ..
        }) = self.defs.get_mut(&name)
        {
            if !text.is_empty() {
                v.push_str(&text);
                if d.cont {
                    v.push('\n');
                }
            }
        }
        if d.cont {
            Some(name)
        } else {
            self.end_multiline(&name);
            None
        }
    }

    fn end_multiline(&mut self, name: &str) {
        if let Some(def) = self.defs.get_mut(name) {
            if matches!(&def.value, DefValue::Text(v) if v.is_empty()) {
                def.multiline = false;
            }
        }
    }

    /// The body of keepalived's `read_line` loop for one logical line:
    /// conditionals, definitions, `~SEQ`/`~LST`, expansion, then output.
    /// Returns the name of a multi-line definition this line starts.
    fn handle_line(
        &mut self,
        fc: &FileCtx,
        line: &mut Line,
        def_cont: bool,
        gen_depth: u32,
    ) -> Option<String> {
        if gen_depth > MAX_GEN_DEPTH {
            if !self.depth_reported {
                self.depth_reported = true;
                self.error(
                    fc,
                    line.pos_at(0),
                    format!(
                        "~SEQ/~LST/parameter expansion nested more than {MAX_GEN_DEPTH} deep \
                         (recursive definition?)"
                    ),
                );
            }
            return None;
        }
        let mut pending: Vec<Line> = Vec::new();
        let mut passes = 0;
        loop {
            if line.text.first() == Some(&b'@') && !self.condition_holds(line) {
                return None;
            }
            if let Some((name, value_start)) = parse_definition(&line.text) {
                let name = String::from_utf8_lossy(&line.text[name]).into_owned();
                let value = String::from_utf8_lossy(&line.text[value_start..]).into_owned();
                let multiline = def_cont;
                let mut value = value;
                if multiline && !value.is_empty() {
                    value.push('\n');
                }
                self.defs.insert(
                    name.clone(),
                    Def {
                        value: DefValue::Text(value),
                        multiline,
                        max_params: 0,
                    },
                );
                return multiline.then_some(name);
            }
            if line.text.starts_with(b"~SEQ") {
                self.expand_seq(fc, line, gen_depth);
                return None;
            }
            if line.text.starts_with(b"~LST") {
                self.expand_lst(fc, line, gen_depth);
                return None;
            }
            if line.text.first() == Some(&b'~') {
                break;
            }
            match self.expand_once(fc, line, &mut pending, &mut passes) {
                Expanded::Unchanged => break,
                Expanded::TooLong => return None,
                Expanded::Changed => {}
            }
            // keepalived runs decomment() again on the expanded line.
            let mut again = Line::default();
            let d = decomment(
                line.text.iter().copied().zip(line.pos.iter().copied()),
                &mut again,
            );
            if d.cont {
                let p = line.pos_at(line.len().saturating_sub(1));
                again.push(b'\\', p);
            }
            *line = again;
            let recheck = line.text.first() == Some(&b'@')
                || line.text.starts_with(b"~SEQ")
                || line.text.starts_with(b"~LST")
                || line.text.contains(&b'$');
            if !recheck {
                break;
            }
        }
        if line.text.contains(&b'$') && !self.expansion_stopped {
            self.warn_undefined(fc, line);
        }
        self.emit_depth = gen_depth;
        self.emit_line(fc, &line.text, |i| line.pos[i]);
        // Multi-line values can expand to themselves twice over; count their
        // lines like ~SEQ output so that cannot run away.
        let pending_bytes = pending.iter().map(Line::len).max().unwrap_or(0);
        if !pending.is_empty()
            && !self.spend(fc, line.pos_at(0), pending.len() as u128, pending_bytes)
        {
            return None;
        }
        for mut l in pending {
            if !l.is_empty() {
                self.handle_line(fc, &mut l, false, gen_depth + 1);
            }
        }
        None
    }

    /// `@ID rest` / `@^ID rest`: strip the prefix and keep the line if it
    /// applies to this config id.
    fn condition_holds(&self, line: &mut Line) -> bool {
        let t = &line.text;
        let (rev, ofs) = if t.get(1) == Some(&b'^') {
            (true, 2)
        } else {
            (false, 1)
        };
        // keepalived drops a line that has nothing after the id.
        let Some(ws) = t[ofs.min(t.len())..].iter().position(|&c| is_blank(c)) else {
            return false;
        };
        let id = &t[ofs..ofs + ws];
        let matches = self
            .config_id
            .as_deref()
            .is_some_and(|c| c.as_bytes() == id);
        if matches == rev {
            return false;
        }
        let rest = skip_blanks(t, ofs + ws);
        line.drain_front(rest);
        true
    }

    /// One expansion pass (bounded), as keepalived's `replace_param`. After
    /// a runaway expansion, report it once and stop expanding parameters for
    /// the rest of the parse: the configuration is in error anyway, and
    /// repeating the runaway on every later line would only cost time.
    fn expand_once(
        &mut self,
        fc: &FileCtx,
        line: &mut Line,
        pending: &mut Vec<Line>,
        passes: &mut usize,
    ) -> Expanded {
        if self.expansion_stopped || !line.text.contains(&b'$') {
            return Expanded::Unchanged;
        }
        *passes += 1;
        if *passes > MAX_PASSES {
            self.stop_expansion(
                fc,
                line.pos_at(0),
                "parameter expansion does not terminate (recursive definition?)".to_owned(),
            );
            return Expanded::Unchanged;
        }
        let r = self.replace_params(fc.dir.as_deref(), line, pending);
        if let Expanded::TooLong = r {
            pending.clear();
            self.stop_expansion(
                fc,
                line.pos_at(0),
                format!("parameter expansion makes this line longer than {MAX_LINE} bytes"),
            );
        }
        r
    }

    fn stop_expansion(&mut self, fc: &FileCtx, p: Pos, msg: String) {
        self.expansion_stopped = true;
        self.error(
            fc,
            p,
            format!("{msg}; parameters are not expanded after this point"),
        );
    }

    /// One expansion pass over the line. Multi-line values put their first
    /// line in place and their other lines into `pending`. The line is left
    /// unchanged if the result would be longer than [`MAX_LINE`].
    fn replace_params(
        &mut self,
        dir: Option<&Path>,
        line: &mut Line,
        pending: &mut Vec<Line>,
    ) -> Expanded {
        let t = &line.text;
        let n = t.len();
        let mut out = Line::default();
        let mut i = 0;
        let mut changed = false;
        // Disjoint borrows: definitions are read while the generator moves.
        let defs = &self.defs;
        let rng = &mut self.rng;
        let config_id = self.config_id.as_deref();
        while let Some(off) = t[i..].iter().position(|&c| c == b'$') {
            let j = i + off;
            out.extend_from(line, i, j);
            i = j + 1;
            let Some(r) = parse_ref(t, j) else {
                out.push(b'$', line.pos[j]);
                continue;
            };
            let name = String::from_utf8_lossy(&t[r.name.clone()]);
            let Some(def) = defs.get(name.as_ref()) else {
                out.push(b'$', line.pos[j]);
                continue;
            };
            if (def.multiline && r.end != n) || (r.params.is_some() && def.max_params == 0) {
                out.push(b'$', line.pos[j]);
                continue;
            }
            let params = r.params.as_ref().map(|p| &t[p.clone()]);
            let value = def_value(def, params, dir, config_id, rng);
            let p = line.pos[j];
            if def.multiline {
                let mut parts = value.split('\n');
                if let Some(first) = parts.next() {
                    out.extend_at(first.as_bytes(), p);
                }
                for rest in parts {
                    let mut l = Line::default();
                    l.extend_at(rest.as_bytes(), p);
                    pending.push(l);
                }
            } else {
                out.extend_at(value.as_bytes(), p);
            }
            if out.len() > MAX_LINE {
                return Expanded::TooLong;
            }
            i = r.end;
            changed = true;
            // keepalived stops replacing when a value starts a `~` line, so
            // that `~SEQ` in a definition is handled on the next pass.
            if value.trim_start_matches([' ', '\t']).starts_with('~') {
                out.extend_from(line, i, n);
                i = n;
                break;
            }
        }
        out.extend_from(line, i, n);
        if out.len() > MAX_LINE {
            return Expanded::TooLong;
        }
        if changed {
            *line = out;
            Expanded::Changed
        } else {
            Expanded::Unchanged
        }
    }

    /// Warn once per name about `$NAME` references left unexpanded.
    fn warn_undefined(&mut self, fc: &FileCtx, line: &Line) {
        let t = &line.text;
        let mut i = 0;
        while let Some(off) = t[i..].iter().position(|&c| c == b'$') {
            let j = i + off;
            i = j + 1;
            let Some(r) = parse_ref(t, j) else { continue };
            let name = String::from_utf8_lossy(&t[r.name.clone()]).into_owned();
            let msg = match self.defs.get(&name) {
                None => format!("parameter '${name}' is not defined; left as written"),
                Some(d) if d.multiline => format!(
                    "multi-line parameter '${name}' can only be used at the end of a line; \
                     left as written"
                ),
                Some(_) => format!("parameter '${name}' does not take arguments; left as written"),
            };
            if self.warned_undefined.insert(name) {
                self.warning(fc, line.pos[j], msg);
            }
        }
    }

    /// Spend `n` lines of `bytes` each from the generated-text budget:
    /// [`ParseOptions::max_generated_lines`] lines, and
    /// [`GENERATED_BYTES_PER_LINE`] times as many bytes (so a long line
    /// repeated many times cannot exhaust memory either).
    fn spend(&mut self, fc: &FileCtx, p: Pos, n: u128, bytes: usize) -> bool {
        if self.budget_exhausted {
            return false;
        }
        let max = self.opts.max_generated_lines;
        let left = max.saturating_sub(self.generated) as u128;
        let max_bytes = (max as u128).saturating_mul(GENERATED_BYTES_PER_LINE);
        let bytes_left = max_bytes.saturating_sub(self.generated_bytes);
        let want_bytes = n.saturating_mul(bytes as u128 + 1);
        if n > left || want_bytes > bytes_left {
            self.budget_exhausted = true;
            self.error(
                fc,
                p,
                format!(
                    "~SEQ/~LST/parameter expansion would generate more than {max} lines \
                     (or {max_bytes} bytes); expansion stopped"
                ),
            );
            return false;
        }
        self.generated += n as usize;
        self.generated_bytes += want_bytes;
        true
    }

    /// `~SEQ(var, end)`, `~SEQ(var, start, end)`, `~SEQ(var, start, step, end)`
    /// (and `~SEQx` for hex values) followed by text to repeat, with `$var`
    /// set to each value in turn (keepalived `add_seq`).
    fn expand_seq(&mut self, fc: &FileCtx, line: &Line, gen_depth: u32) {
        let t = &line.text;
        let n = t.len();
        let invalid = |this: &mut Self, at: usize, why: &str| {
            this.error(fc, line.pos_at(at), format!("invalid ~SEQ: {why}"));
        };
        let mut p = 4;
        let hex = t.get(4) == Some(&b'x');
        if hex {
            p += 1;
        }
        p = skip_blanks(t, p);
        if t.get(p) != Some(&b'(') {
            return invalid(self, p, "expected '(' after ~SEQ");
        }
        p = skip_blanks(t, p + 1);
        let var_start = p;
        while p < n && !matches!(t[p], b' ' | b'\t' | b',' | b')') {
            p += 1;
        }
        let var = var_start..p;
        p = skip_blanks(t, p);
        if var.is_empty() {
            return invalid(self, var_start, "expected a variable name");
        }
        if p >= n || t[p] != b',' {
            return invalid(self, p, "expected ',' and numbers after the variable name");
        }
        let params_start = skip_blanks(t, p + 1);
        let Some(close) = t[params_start..].iter().position(|&c| c == b')') else {
            return invalid(self, n, "missing ')'");
        };
        let close = params_start + close;
        // keepalived expands parameters inside the ~SEQ arguments.
        let mut params = line.slice(params_start, close + 1);
        let mut ml = Vec::new();
        let mut passes = 0;
        loop {
            match self.expand_once(fc, &mut params, &mut ml, &mut passes) {
                Expanded::Unchanged => break,
                Expanded::TooLong => return,
                Expanded::Changed => {}
            }
        }
        if !ml.is_empty() {
            return invalid(
                self,
                params_start,
                "a multi-line parameter cannot be used here",
            );
        }
        let q = &params.text;
        let at = |i: usize| params.pos_at(i);
        let invalid = |this: &mut Self, p: Pos, why: &str| {
            this.error(fc, p, format!("invalid ~SEQ: {why}"));
        };
        let (one, mut i) = strtol(q, 0);
        i = skip_blanks(q, i);
        let (start, step, end);
        if q.get(i) == Some(&b')') {
            end = one;
            step = if end < 1 { -1 } else { 1 };
            start = if end < 0 { -1 } else { 1 };
        } else {
            if q.get(i) != Some(&b',') {
                return invalid(self, at(i), "expected ',' or ')' after a number");
            }
            let (two, j) = strtol(q, i + 1);
            i = skip_blanks(q, j);
            if q.get(i) == Some(&b')') {
                start = one;
                end = two;
                step = if start <= end { 1 } else { -1 };
            } else {
                if q.get(i) != Some(&b',') {
                    return invalid(self, at(i), "expected ',' or ')' after a number");
                }
                let (three, j) = strtol(q, i + 1);
                i = skip_blanks(q, j);
                if q.get(i) != Some(&b')') {
                    return invalid(self, at(i), "expected ')' after the third number");
                }
                start = one;
                step = two;
                end = three;
                if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
                    return invalid(
                        self,
                        at(0),
                        &format!("step {step} never gets from {start} to {end}"),
                    );
                }
            }
        }
        if hex && (start < 0 || end < 0) {
            return invalid(self, at(0), "~SEQx only takes numbers >= 0");
        }
        let count = (i128::from(end) - i128::from(start)) / i128::from(step) + 1;
        let body_start = skip_blanks(t, close + 1);
        if !self.spend(fc, line.pos_at(0), count.max(0) as u128, n - body_start) {
            return;
        }
        let body = line.slice(body_start, n);
        let var = String::from_utf8_lossy(&t[var]).into_owned();
        let mut v = start;
        loop {
            let text = if hex {
                format!("{:x}", v as u64)
            } else {
                v.to_string()
            };
            self.set_text_def(&var, text);
            let mut l = body.clone();
            if !l.is_empty() {
                self.handle_line(fc, &mut l, false, gen_depth + 1);
            }
            match v.checked_add(step) {
                Some(next) if (step > 0 && next <= end) || (step < 0 && next >= end) => v = next,
                _ => break,
            }
        }
    }

    fn set_text_def(&mut self, name: &str, value: String) {
        self.defs.insert(
            name.to_owned(),
            Def {
                value: DefValue::Text(value),
                multiline: false,
                max_params: 0,
            },
        );
    }

    /// `~LST(var, v1, v2, ...)` or `~LST({a, b}, {1, 2}, {3, 4})` followed
    /// by text to repeat for each value (set) (keepalived `add_lst`).
    fn expand_lst(&mut self, fc: &FileCtx, line: &Line, gen_depth: u32) {
        let t = &line.text;
        let n = t.len();
        let invalid = |this: &mut Self, at: usize, why: &str| {
            this.error(fc, line.pos_at(at), format!("invalid ~LST: {why}"));
        };
        let at = |i: usize| t.get(i).copied().unwrap_or(0);
        let mut p = skip_blanks(t, 4);
        if at(p) != b'(' {
            return invalid(self, p, "expected '(' after ~LST");
        }
        p = skip_blanks(t, p + 1);
        let mut end_char = b',';
        if at(p) == b'{' {
            end_char = b'}';
            p = skip_blanks(t, p + 1);
        }
        let mut vars: Vec<String> = Vec::new();
        loop {
            let s = p;
            while p < n && !matches!(t[p], b' ' | b'\t' | b',' | b'}') {
                p += 1;
            }
            if s == p {
                return invalid(self, s, "expected a variable name");
            }
            vars.push(String::from_utf8_lossy(&t[s..p]).into_owned());
            p = skip_blanks(t, p);
            if at(p) == end_char {
                break;
            }
            if at(p) != b',' {
                return invalid(self, p, "expected ',' between variable names");
            }
            p = skip_blanks(t, p + 1);
        }
        if at(p) == b'}' {
            p = skip_blanks(t, p + 1);
        }
        if at(p) != b',' {
            return invalid(self, p, "expected ',' and values after the variable names");
        }
        p = skip_blanks(t, p + 1);
        let mut sets: Vec<Vec<String>> = Vec::new();
        loop {
            let mut end_char = b',';
            if at(p) == b'{' {
                end_char = b'}';
                p = skip_blanks(t, p + 1);
            }
            let mut values = Vec::new();
            loop {
                let s = p;
                while p < n && !matches!(t[p], b' ' | b'\t' | b',' | b'}' | b')') {
                    p += 1;
                }
                values.push(String::from_utf8_lossy(&t[s..p]).into_owned());
                p = skip_blanks(t, p);
                if at(p) == end_char || (at(p) == b')' && end_char == b',') {
                    break;
                }
                if at(p) != b',' {
                    return invalid(self, p, "expected ',' between values");
                }
                p = skip_blanks(t, p + 1);
                if values.len() >= vars.len() {
                    return invalid(self, p, "more values than variables");
                }
            }
            // Missing values are empty.
            values.resize(vars.len(), String::new());
            sets.push(values);
            if at(p) == b'}' && end_char == b'}' {
                p = skip_blanks(t, p + 1);
            }
            if at(p) == b')' {
                break;
            }
            if at(p) != b',' {
                return invalid(self, p, "expected ',' or ')' after a value");
            }
            p = skip_blanks(t, p + 1);
        }
        let body_start = skip_blanks(t, p + 1).min(n);
        if !self.spend(fc, line.pos_at(0), sets.len() as u128, n - body_start) {
            return;
        }
        let body = line.slice(body_start.min(n), n);
        for set in sets {
            for (var, value) in vars.iter().zip(set) {
                self.set_text_def(var, value);
            }
            let mut l = body.clone();
            if !l.is_empty() {
                self.handle_line(fc, &mut l, false, gen_depth + 1);
            }
        }
    }

    /// Split the finished line at braces and into words, handling an
    /// `include` at the start of any piece. `pos(i)` is where byte `i` of
    /// `t` was written.
    fn emit_line(&mut self, fc: &FileCtx, t: &[u8], pos: impl Fn(usize) -> Pos) {
        let n = t.len();
        let mut s = 0;
        loop {
            while s < n && is_space(t[s]) {
                s += 1;
            }
            if s >= n {
                break;
            }
            if let Some((kind, path_start)) = is_include(&t[s..]) {
                self.tree.barrier();
                self.include(fc, t, pos(s), s + path_start, kind);
                return;
            }
            match t[s] {
                b'{' => {
                    self.tree.open(fc.loc(pos(s)), &mut self.diags);
                    s += 1;
                    continue;
                }
                b'}' => {
                    self.tree.close(fc.loc(pos(s)), &mut self.diags);
                    s += 1;
                    continue;
                }
                _ => {}
            }
            let e = find_brace(t, s);
            let mut keyword: Option<Arg> = None;
            // Collected in a reused buffer, then copied into a vector of
            // exactly the right size: half a million statements with
            // growth slack would cost tens of MB.
            let mut args = std::mem::take(&mut self.args_scratch);
            args.clear();
            tokenize(
                &t[s..e],
                |i| fc.loc(pos(s + i)),
                |a| {
                    if keyword.is_none() {
                        keyword = Some(a);
                    } else {
                        args.push(a);
                    }
                },
            );
            if let Some(k) = keyword {
                let mut exact = Vec::with_capacity(args.len());
                exact.append(&mut args);
                self.tree.statement(Node {
                    keyword: k.text,
                    loc: k.loc,
                    args: exact,
                    children: None,
                });
            }
            self.args_scratch = args;
            s = e;
        }
    }

    /// [`Self::emit_line`] for a line [`plain_line`] accepted (ASCII, no
    /// quotes, no backslashes): the words are the runs of bytes between
    /// whitespace and braces, taken as they are, in one pass.
    fn emit_plain(&mut self, fc: &FileCtx, text: &str, pos: impl Fn(usize) -> Pos) {
        let t = text.as_bytes();
        let n = t.len();
        let mut s = 0;
        loop {
            while s < n && is_space(t[s]) {
                s += 1;
            }
            if s >= n {
                break;
            }
            if let Some((kind, path_start)) = is_include(&t[s..]) {
                self.tree.barrier();
                self.include(fc, t, pos(s), s + path_start, kind);
                return;
            }
            match t[s] {
                b'{' => {
                    self.tree.open(fc.loc(pos(s)), &mut self.diags);
                    s += 1;
                    continue;
                }
                b'}' => {
                    self.tree.close(fc.loc(pos(s)), &mut self.diags);
                    s += 1;
                    continue;
                }
                _ => {}
            }
            let mut keyword: Option<Arg> = None;
            let mut args = std::mem::take(&mut self.args_scratch);
            args.clear();
            // Words up to the next brace or the end of the line.
            while s < n && !matches!(t[s], b'{' | b'}') {
                let w = s;
                while s < n && !WORD_END[usize::from(t[s])] {
                    s += 1;
                }
                let a = Arg {
                    text: CompactString::new(text.get(w..s).unwrap_or_default()),
                    loc: fc.loc(pos(w)),
                    quoted: false,
                };
                if keyword.is_none() {
                    keyword = Some(a);
                } else {
                    args.push(a);
                }
                while s < n && is_space(t[s]) {
                    s += 1;
                }
            }
            if let Some(k) = keyword {
                let mut exact = Vec::with_capacity(args.len());
                exact.append(&mut args);
                self.tree.statement(Node {
                    keyword: k.text,
                    loc: k.loc,
                    args: exact,
                    children: None,
                });
            }
            self.args_scratch = args;
        }
    }

    fn include(&mut self, fc: &FileCtx, t: &[u8], p: Pos, path_start: usize, kind: IncludeKind) {
        let mut s = skip_blanks(t, path_start.min(t.len()));
        let mut e = t.len();
        while e > s && is_space(t[e - 1]) {
            e -= 1;
        }
        if e >= s + 2 && t[s] == b'"' && t[e - 1] == b'"' {
            s += 1;
            e -= 1;
        }
        let pattern = String::from_utf8_lossy(&t[s..e]).into_owned();
        if pattern.is_empty() {
            self.error(fc, p, "'include' needs a file name or pattern");
            return;
        }
        if !self.opts.follow_includes {
            self.warning(fc, p, format!("include of '{pattern}' not followed"));
            return;
        }
        let mut patterns = Vec::new();
        expand_braces(&pattern, &mut patterns);
        for pat in patterns {
            let (glob_pat, literal, wild) = glob_pattern(&pat);
            if wild {
                let full = match (&fc.dir, Path::new(&literal).is_absolute()) {
                    (Some(dir), false) => {
                        let dir = glob::Pattern::escape(&dir.to_string_lossy());
                        format!("{dir}/{glob_pat}")
                    }
                    _ => glob_pat,
                };
                let opts = glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: true,
                };
                let paths = match glob::glob_with(&full, opts) {
                    Ok(paths) => paths,
                    Err(e) => {
                        self.error(fc, p, format!("bad include pattern '{pat}': {e}"));
                        continue;
                    }
                };
                let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                matched.sort();
                if matched.is_empty() {
                    let msg = format!("no file matches include pattern '{pat}'");
                    if kind.wildcard_error {
                        self.error(fc, p, msg);
                    } else {
                        self.warning(fc, p, msg);
                    }
                }
                for m in matched {
                    self.include_file(fc, p, &m, kind);
                }
            } else {
                let path = match &fc.dir {
                    Some(dir) if !Path::new(&literal).is_absolute() => dir.join(&literal),
                    _ => PathBuf::from(&literal),
                };
                if std::fs::metadata(&path).is_err() && std::fs::symlink_metadata(&path).is_err() {
                    self.error(
                        fc,
                        p,
                        format!("included file '{}' does not exist", path.display()),
                    );
                    continue;
                }
                self.include_file(fc, p, &path, kind);
            }
        }
    }

    fn include_file(&mut self, fc: &FileCtx, p: Pos, path: &Path, kind: IncludeKind) {
        let skip = |this: &mut Self, msg: String| {
            if kind.read_error {
                this.error(fc, p, msg);
            } else {
                this.warning(fc, p, msg);
            }
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.error(
                    fc,
                    p,
                    format!("cannot read included file '{}': {e}", path.display()),
                );
                return;
            }
        };
        if meta.is_dir() {
            return skip(
                self,
                format!("'{}' is a directory; not included", path.display()),
            );
        }
        {
            use std::os::unix::fs::PermissionsExt;
            if !meta.is_file() || meta.permissions().mode() & 0o111 != 0 {
                return skip(
                    self,
                    format!(
                        "'{}' is not a regular non-executable file; keepalived skips it, \
                         so it is not included",
                        path.display()
                    ),
                );
            }
        }
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(i) = self.include_stack.iter().position(|(c, _)| *c == canonical) {
            let chain: Vec<String> = self.include_stack[i..]
                .iter()
                .map(|(_, shown)| shown.display().to_string())
                .chain(std::iter::once(path.display().to_string()))
                .collect();
            self.error(
                fc,
                p,
                format!("include cycle: {}", chain.join(" includes ")),
            );
            return;
        }
        if fc.depth + 1 > self.opts.max_include_depth {
            self.error(
                fc,
                p,
                format!(
                    "includes nested more than {} deep; '{}' not included",
                    self.opts.max_include_depth,
                    path.display()
                ),
            );
            return;
        }
        let text = match std::fs::read(path) {
            Ok(bytes) => super::text_of(bytes),
            Err(e) => {
                self.error(
                    fc,
                    p,
                    format!("cannot read included file '{}': {e}", path.display()),
                );
                return;
            }
        };
        let shown: Arc<Path> = Arc::from(path);
        self.add_source(&shown, &text);
        self.include_stack.push((canonical, shown.clone()));
        let child = FileCtx {
            file: FileId::intern(&shown),
            dir: path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(Path::to_path_buf),
            depth: fc.depth + 1,
            gen_base: self.emit_depth + 1,
        };
        self.run_file(&child, &text);
        self.include_stack.pop();
    }
}

/// The text a definition stands for. `params` are `${_RANDOM min max}`'s.
fn def_value<'d>(
    def: &'d Def,
    params: Option<&[u8]>,
    dir: Option<&Path>,
    config_id: Option<&str>,
    rng: &mut u64,
) -> Cow<'d, str> {
    match &def.value {
        DefValue::Text(v) => Cow::Borrowed(v),
        DefValue::Instance => Cow::Owned(config_id.unwrap_or_default().to_owned()),
        DefValue::Pwd => {
            // keepalived changes into the directory of each file it reads,
            // so `$_PWD` is that directory.
            let cwd = std::env::current_dir().unwrap_or_default();
            let dir = match dir {
                Some(d) => cwd.join(d),
                None => cwd,
            };
            Cow::Owned(dir.to_string_lossy().into_owned())
        }
        DefValue::Random => {
            let (mut min, mut max) = (0u64, 32767u64);
            if let Some(p) = params {
                let (a, e) = strtol(p, 0);
                min = a.max(0) as u64;
                if e < p.len() {
                    let (b, _) = strtol(p, e);
                    max = b.max(0) as u64;
                }
            }
            if max < min {
                std::mem::swap(&mut min, &mut max);
            }
            // xorshift64*: enough for keepalived's random().
            *rng ^= *rng >> 12;
            *rng ^= *rng << 25;
            *rng ^= *rng >> 27;
            let r = rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
            let span = max - min;
            let v = if span == u64::MAX {
                r
            } else {
                min + r % (span + 1)
            };
            Cow::Owned(v.to_string())
        }
    }
}

/// What one expansion pass did.
enum Expanded {
    Unchanged,
    Changed,
    /// The result would be longer than [`MAX_LINE`]; the line is unchanged.
    TooLong,
}

/// Index of the first `{` or `}` outside quotes at or after `s`, or the end.
fn find_brace(t: &[u8], s: usize) -> usize {
    let mut quote = false;
    let mut i = s;
    while i < t.len() {
        match t[i] {
            b'\\' => i += 1,
            b'"' => quote = !quote,
            b'{' | b'}' if !quote => return i,
            _ => {}
        }
        i += 1;
    }
    t.len()
}

/// keepalived's default config id: the host name up to the first '.'.
fn short_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let short = name.trim().split('.').next()?.to_owned();
    (!short.is_empty()).then_some(short)
}
