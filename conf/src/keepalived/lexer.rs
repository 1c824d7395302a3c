//! The keepalived.conf lexer and preprocessor: text in, [`Node`]s out.
//!
//! keepalived reads its configuration line by line (`lib/parser.c`,
//! `read_line`). Each physical line goes through, in this order:
//!
//! 1. comment removal: `#` and `!` outside double quotes end the line;
//!    `\#` and `\!` outside quotes are a literal `#`/`!`; a `\` at the very
//!    end marks a continuation;
//! 2. `@ID` / `@^ID` conditional prefixes (compared with the config id, `-i`);
//! 3. `$NAME=value` parameter definitions (a trailing `\` makes a multi-line
//!    definition, continued until a line without `\` or an empty line);
//! 4. `~SEQ(...)` / `~SEQx(...)` / `~LST(...)` line repetition;
//! 5. `$NAME` / `${NAME}` expansion, repeated while it changes the line;
//! 6. `include` (and `includer`/`includem`/`includew`/`includeb`/`includea`);
//! 7. splitting at `{` and `}` outside quotes, so `foo{`, `} bar {` and
//!    `a { b }` on one line work, then splitting into words.
//!
//! The words and braces then build the block tree: a `{` opens a block for
//! the statement right before it (on the same line or an earlier one).
//!
//! Details kept from keepalived, which can surprise:
//! - a bare `$NAME` is only expanded when followed by a blank, `,`, `)` or
//!   the end of the line (`$IF.x` stays as written; write `${IF}.x`); an
//!   undefined name is left as written (we add a warning);
//! - a multi-line parameter expands only at the end of a line; its lines
//!   after the first become lines of their own;
//! - `~SEQ`/`~LST` variables stay defined after the repetition;
//! - the `include` path is the rest of the line (it may contain blanks and
//!   `{a,b}` alternatives); relative paths are relative to the directory of
//!   the including file; executable files and directories are skipped;
//! - a `@ID` line that is dropped takes its braces with it;
//! - only the start of a line is checked for `@ID`, `$NAME=` and `~SEQ`,
//!   not the text after a `{` or `}` on the same line.
//!
//! Words: a word runs to the next whitespace; double-quoted sections may
//! hold whitespace, braces, `#` and `!`, and lose their quotes
//! (`a" b "c` is one word `a b c`, [`Arg::quoted`] set). Inside quotes the
//! escapes of keepalived.conf(5) apply (`\t`, `\n`, `\"`, `\\`, `\xXX`,
//! `\nnn`, `\cC`, ...). keepalived itself only unescapes quoted text
//! for script keywords (`alloc_strvec_quoted_escaped`); we unescape every
//! quoted word, which gives scripts the text keepalived would run and leaves
//! ordinary values unchanged unless they contain a backslash.
//!
//! Deliberate differences from keepalived, each a superset that keepalived
//! would reject or mangle anyway:
//! - a `\` at the end of an ordinary line joins it with the next line
//!   (keepalived only continues multi-line `$NAME=` definitions);
//! - an include cycle or nesting deeper than
//!   [`ParseOptions::max_include_depth`] is an error (keepalived loops);
//! - expansion that does not terminate (`$A=$A`), and `~SEQ`/`~LST` output
//!   beyond [`ParseOptions::max_generated_lines`], are errors (keepalived
//!   hangs or runs out of memory).
//! - blocks nested deeper than [`MAX_BLOCK_DEPTH`] are an error;
//! - the plain `include` reports a missing file as an error and an unmatched
//!   wildcard as a warning (keepalived only logs both unless
//!   `include_check` is set; `includew`/`includea` make the wildcard case an
//!   error here too). `include_check` itself is not interpreted here.
//!
//! Every position (`file:line:col`, columns in characters from 1) refers to
//! where the text was written: text that came from a `$NAME` expansion is
//! placed at the `$`, text repeated by `~SEQ` at its place on the `~SEQ` line.

mod preprocess;

use std::path::Path;
use std::sync::Arc;

use crate::diag::{self, Diagnostic, Diagnostics, Location, SourceMap};
use crate::keepalived::tree::{Arg, CompactString, Node};

/// How to read a keepalived.conf.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// The config id that `@ID` line prefixes are compared with (keepalived's
    /// `-i`). `None` means the short host name (up to the first `.`), as
    /// keepalived does.
    pub config_id: Option<String>,
    /// Deepest chain of nested `include`s accepted; one more is an error.
    pub max_include_depth: usize,
    /// Most lines `~SEQ`, `~LST` and multi-line parameters may generate in
    /// one parse (and 64 times as many bytes); beyond it expansion stops
    /// with an error. The default, a million lines, is far beyond any real
    /// configuration and keeps a hostile one to a few hundred MB.
    pub max_generated_lines: usize,
    /// Seed for `${_RANDOM}`; `None` seeds from the clock like keepalived.
    pub random_seed: Option<u64>,
    /// Read the files `include` names. When false an `include` is only
    /// reported (a warning), for checking text whose includes must not be
    /// opened (fuzzing, untrusted input).
    pub follow_includes: bool,
}

/// Deepest block nesting accepted. keepalived's deepest real block is 5
/// levels; the limit keeps recursive walks of the tree (and its drop) far
/// from the end of the stack whatever the input.
pub const MAX_BLOCK_DEPTH: usize = 128;

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            config_id: None,
            max_include_depth: 32,
            max_generated_lines: 1_000_000,
            random_seed: None,
            follow_includes: true,
        }
    }
}

/// What a parse produced: the statements (possibly partial if there were
/// errors), the text of every file read, and the diagnostics, each with its
/// source line filled in.
#[derive(Debug, Clone, Default)]
pub struct ParseOutput {
    pub nodes: Vec<Node>,
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
}

/// Parse the keepalived.conf at `path` and everything it includes. Relative
/// includes are resolved against the directory of the file that includes
/// them. An unreadable top-level file gives one error without a location.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> ParseOutput {
    parse_file_inner(path, opts, None)
}

/// [`parse_file`], handing each top-level statement (with its block) to
/// `sink` as soon as it is complete instead of keeping the whole tree:
/// the returned `nodes` are empty. The statements and diagnostics are the
/// same, in the same order.
pub fn parse_file_streaming(
    path: &Path,
    opts: &ParseOptions,
    sink: &mut dyn FnMut(Node),
) -> ParseOutput {
    parse_file_inner(path, opts, Some(sink))
}

fn parse_file_inner<'a>(
    path: &Path,
    opts: &'a ParseOptions,
    sink: Option<&'a mut (dyn FnMut(Node) + 'a)>,
) -> ParseOutput {
    let text = match std::fs::read(path) {
        Ok(bytes) => text_of(bytes),
        Err(e) => {
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(Diagnostic::error(
                None,
                None,
                format!("cannot read {}: {e}", path.display()),
            ));
            return ParseOutput {
                diagnostics,
                ..ParseOutput::default()
            };
        }
    };
    let file: Arc<Path> = Arc::from(path);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf);
    let canonical = std::fs::canonicalize(path).ok();
    let mut pre = preprocess::Preprocessor::new(opts, sink);
    pre.run_top(file, dir, canonical, text);
    pre.finish()
}

/// A file's bytes as text (invalid UTF-8 replaced), shared between the
/// parse and the [`SourceMap`]: valid UTF-8 is kept in the buffer it was
/// read into, not copied.
pub(crate) fn text_of(bytes: Vec<u8>) -> Arc<String> {
    Arc::new(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Parse keepalived.conf text that did not come from a file (tests,
/// fuzzing, stdin). `name` is the file name shown in diagnostics; relative
/// includes are resolved against the current directory.
pub fn parse_str(name: &str, text: &str, opts: &ParseOptions) -> ParseOutput {
    let mut pre = preprocess::Preprocessor::new(opts, None);
    pre.run_top(
        diag::inline_path(name),
        None,
        None,
        Arc::new(text.to_owned()),
    );
    pre.finish()
}

/// [`parse_str`], handing each complete top-level statement to `sink` as
/// [`parse_file_streaming`] does.
pub fn parse_str_streaming(
    name: &str,
    text: &str,
    opts: &ParseOptions,
    sink: &mut dyn FnMut(Node),
) -> ParseOutput {
    let mut pre = preprocess::Preprocessor::new(opts, Some(sink));
    pre.run_top(
        diag::inline_path(name),
        None,
        None,
        Arc::new(text.to_owned()),
    );
    pre.finish()
}

/// Builds the block tree from statements and braces as the preprocessor
/// produces them. Blocks may span include files, as in keepalived, which
/// reads all files as one stream.
///
/// The statements of all open blocks live in one vector, each block's
/// after the previous ones; closing a block moves its statements into a
/// vector of exactly their number (a large config has hundreds of
/// thousands of blocks, and growth slack would be most of the tree).
#[derive(Default)]
pub(crate) struct TreeBuilder<'s> {
    /// Statements of the top level and of every open block, in order.
    nodes: Vec<Node>,
    /// The open blocks, outermost first (the top level has no frame).
    stack: Vec<Frame>,
    /// True right after a statement: a `{` now opens that statement's block.
    can_open: bool,
    /// `{`s ignored beyond [`MAX_BLOCK_DEPTH`] whose `}` is still to come.
    too_deep: usize,
    /// Where complete top-level statements go, if they are not to be kept.
    sink: Option<&'s mut (dyn FnMut(Node) + 's)>,
}

#[derive(Debug)]
struct Frame {
    /// The statement owning the block; `None` for a stray `{` (whose
    /// contents are kept at the enclosing level, as keepalived ignores the
    /// `{` and reads on).
    node: Option<Node>,
    /// Index in `nodes` of the block's first statement.
    start: usize,
    /// Where the `{` is.
    open: Location,
}

impl<'s> TreeBuilder<'s> {
    pub(crate) fn with_sink(sink: Option<&'s mut (dyn FnMut(Node) + 's)>) -> Self {
        TreeBuilder {
            sink,
            ..TreeBuilder::default()
        }
    }

    /// Hand the top-level statements to the sink, if there is one. Only
    /// called when no block is open and the last statement can no longer
    /// open one.
    fn flush(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            for n in self.nodes.drain(..) {
                sink(n);
            }
        }
    }

    pub(crate) fn statement(&mut self, node: Node) {
        if self.stack.is_empty() {
            // The statements before this one are complete.
            self.flush();
        }
        self.nodes.push(node);
        self.can_open = true;
    }

    /// Something that is neither a statement nor a brace (an `include`)
    /// came between a statement and a `{`.
    pub(crate) fn barrier(&mut self) {
        self.can_open = false;
    }

    pub(crate) fn open(&mut self, loc: Location, diags: &mut Diagnostics) {
        // The top level counts as a level, as it always did.
        if self.stack.len() + 1 > MAX_BLOCK_DEPTH || self.too_deep > 0 {
            if self.too_deep == 0 {
                diags.push(Diagnostic::error(
                    Some(loc),
                    None,
                    format!("blocks nested more than {MAX_BLOCK_DEPTH} deep"),
                ));
            }
            // Keep the contents at the deepest level allowed, and swallow
            // the matching '}'.
            self.too_deep += 1;
            self.can_open = false;
            return;
        }
        // `can_open` means the last statement is in the innermost block.
        let node = if self.can_open {
            self.nodes.pop()
        } else {
            None
        };
        if node.is_none() {
            diags.push(Diagnostic::error(
                Some(loc.clone()),
                None,
                "unexpected '{': no statement before it to open a block for",
            ));
        }
        self.stack.push(Frame {
            node,
            start: self.nodes.len(),
            open: loc,
        });
        self.can_open = false;
    }

    pub(crate) fn close(&mut self, loc: Location, diags: &mut Diagnostics) {
        self.can_open = false;
        if self.too_deep > 0 {
            self.too_deep -= 1;
            return;
        }
        if self.stack.is_empty() {
            diags.push(Diagnostic::error(
                Some(loc),
                None,
                "unexpected '}': no block is open",
            ));
            return;
        }
        self.pop_frame();
        if self.stack.is_empty() {
            self.flush();
        }
    }

    fn pop_frame(&mut self) {
        if let Some(frame) = self.stack.pop() {
            // A stray `{`'s statements simply stay where they are, at the
            // enclosing level.
            if let Some(mut node) = frame.node {
                node.children = Some(self.nodes.drain(frame.start..).collect());
                self.nodes.push(node);
            }
        }
    }

    pub(crate) fn finish(mut self, diags: &mut Diagnostics) -> Vec<Node> {
        // Report unclosed blocks outermost first, the order they appear in.
        for frame in &self.stack {
            if let Some(node) = &frame.node {
                diags.push(Diagnostic::error(
                    Some(frame.open.clone()),
                    Some(&node.keyword),
                    "block opened here is never closed (missing '}')",
                ));
            }
        }
        while !self.stack.is_empty() {
            self.pop_frame();
        }
        self.flush();
        self.nodes.shrink_to_fit();
        self.nodes
    }
}

/// Split `text` (one piece of a line, holding no `{`/`}` outside quotes)
/// into words. `col_of(i)` gives the position of byte `i`.
///
/// A word runs to the next whitespace; double-quoted sections inside it may
/// hold whitespace, `{`, `}`, `#` and `!`, and lose their quotes
/// (`abc" d "ef` is the one word `abc d ef`). Inside quotes the escapes of
/// keepalived.conf(5) apply: `\a \b \E \f \n \r \t \v`, `\nnn` (octal),
/// `\xXX` (hex), `\cC` (control-C), and `\C` for any other C is C itself.
/// Outside quotes a backslash is kept as written and only stops the next
/// character from starting a quote or a block.
pub(crate) fn tokenize(
    text: &[u8],
    mut loc_of: impl FnMut(usize) -> Location,
    mut word: impl FnMut(Arg),
) {
    let n = text.len();
    let mut i = 0;
    let mut buf: Vec<u8> = Vec::new();
    while i < n {
        while i < n && is_space(text[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        let mut quoted = false;
        let mut in_quote = false;
        buf.clear();
        while i < n {
            let c = text[i];
            if in_quote {
                match c {
                    b'"' => {
                        in_quote = false;
                        i += 1;
                    }
                    b'\\' if i + 1 < n => {
                        i = unescape(text, i + 1, &mut buf);
                    }
                    _ => {
                        buf.push(c);
                        i += 1;
                    }
                }
            } else {
                match c {
                    _ if is_space(c) => break,
                    b'"' => {
                        in_quote = true;
                        quoted = true;
                        i += 1;
                    }
                    // The escaped character cannot start a quote, but
                    // whitespace still ends the word (keepalived splits
                    // words at whitespace, whatever precedes it).
                    b'\\' if i + 1 < n && !is_space(text[i + 1]) => {
                        buf.push(c);
                        buf.push(text[i + 1]);
                        i += 2;
                    }
                    _ => {
                        buf.push(c);
                        i += 1;
                    }
                }
            }
        }
        word(Arg {
            text: CompactString::from_utf8_lossy(&buf),
            loc: loc_of(start),
            quoted,
        });
    }
}

/// keepalived's whitespace set (`WHITE_SPACE_STR` in `lib/parser.c`).
pub(crate) const fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Decode the escape whose first character (after the `\`) is at `i`;
/// returns the index after it. Non-ASCII code points are decoded as whole
/// characters so the word stays valid UTF-8.
fn unescape(text: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    let c = text[i];
    let push_byte = |out: &mut Vec<u8>, b: u8| {
        let mut tmp = [0u8; 4];
        out.extend_from_slice(char::from(b).encode_utf8(&mut tmp).as_bytes());
    };
    match c {
        b'x' if text.get(i + 1).is_some_and(u8::is_ascii_hexdigit) => {
            let mut v: u8 = 0;
            let mut j = i + 1;
            while j < text.len() && j < i + 3 && text[j].is_ascii_hexdigit() {
                v = (v << 4) | hex_val(text[j]);
                j += 1;
            }
            push_byte(out, v);
            j
        }
        b'c' if i + 1 < text.len() && text[i + 1].is_ascii() => {
            push_byte(out, text[i + 1] & 0x1f);
            i + 2
        }
        b'0'..=b'7' => {
            let mut v: u32 = 0;
            let mut j = i;
            while j < text.len() && j < i + 3 && (b'0'..=b'7').contains(&text[j]) {
                v = v * 8 + u32::from(text[j] - b'0');
                j += 1;
            }
            // Like C's `char`, keep the low 8 bits of `\777`.
            push_byte(out, (v & 0xff) as u8);
            j
        }
        b'a' => simple(out, 0x07, i),
        b'b' => simple(out, 0x08, i),
        b'E' => simple(out, 0x1b, i),
        b'f' => simple(out, 0x0c, i),
        b'n' => simple(out, b'\n', i),
        b'r' => simple(out, b'\r', i),
        b't' => simple(out, b'\t', i),
        b'v' => simple(out, 0x0b, i),
        _ => {
            // Any other character stands for itself; copy a whole UTF-8
            // sequence if it is one.
            let len = utf8_len(c);
            let end = (i + len).min(text.len());
            out.extend_from_slice(&text[i..end]);
            end
        }
    }
}

fn simple(out: &mut Vec<u8>, b: u8, i: usize) -> usize {
    out.push(b);
    i + 1
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<(String, bool)> {
        let mut v = Vec::new();
        let file = diag::inline_path("t");
        tokenize(
            s.as_bytes(),
            |i| Location::new(file.clone(), 1, i as u32 + 1),
            |a| v.push((a.text.into_string(), a.quoted)),
        );
        v
    }

    /// Parsing and building in one pass gives what parsing, then building,
    /// gives: the same model (origins included), the same diagnostics.
    fn same_as_two_passes(name: &str, text: &str) {
        use crate::keepalived::build;
        let opts = ParseOptions {
            config_id: Some("node1".to_owned()),
            random_seed: Some(7),
            follow_includes: false,
            ..ParseOptions::default()
        };
        let two = parse_str(name, text, &opts);
        let (cfg2, d2) = build::build_owned(two.nodes.clone(), &two.sources);
        let (one, cfg1, d1) = build::parse_and_build_str(name, text, &opts);
        assert!(one.nodes.is_empty());
        assert_eq!(one.diagnostics, two.diagnostics, "{name}");
        assert_eq!(d1, d2, "{name}");
        assert_eq!(format!("{cfg1:?}"), format!("{cfg2:?}"), "{name}");
        let mut streamed = Vec::new();
        parse_str_streaming(name, text, &opts, &mut |n| streamed.push(n));
        assert_eq!(streamed, two.nodes, "{name}");
    }

    /// The plain-line fast path gives what the general path gives.
    fn fast_same_as_slow(name: &str, text: &str) {
        let opts = ParseOptions {
            config_id: Some("node1".to_owned()),
            random_seed: Some(7),
            follow_includes: false,
            ..ParseOptions::default()
        };
        let fast = parse_str(name, text, &opts);
        preprocess::SLOW_PATH_ONLY.with(|c| c.set(true));
        let slow = parse_str(name, text, &opts);
        preprocess::SLOW_PATH_ONLY.with(|c| c.set(false));
        assert_eq!(fast.nodes, slow.nodes, "{name}");
        assert_eq!(fast.diagnostics, slow.diagnostics, "{name}");
    }

    #[test]
    fn plain_lines_parse_as_the_general_path_does() {
        fast_same_as_slow(
            "inline",
            "  global_defs{router_id a}   # c\n\tvrrp_instance VI_1 ! c \\\nx y\n{\n \
             state\x0bMASTER\x0c\r\n a{b{c}d}e\n}}\n{\n@node1 a b\n~x y\nq \\# r\n\
             include\nincludew\tx\n} include y\nk includer z\n \t \n#only\nwörd é{\n}\n\
             end\\",
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/keepalived-samples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        assert!(files.len() > 20, "keepalived samples in {}", dir.display());
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                fast_same_as_slow(&f.display().to_string(), &text);
            }
        }
    }

    #[test]
    fn streaming_matches_the_whole_tree() {
        same_as_two_passes(
            "inline",
            "global_defs\n{\n router_id a\n}\nvrrp_instance VI_1 {\n state MASTER\n \
             interface eth0\n virtual_router_id 5\n priority 300\n bogus 1\n \
             virtual_ipaddress {\n 192.0.2.1/24\n }\n}\n} stray\n{ x }\nunknown_top\n\
             vrrp_instance VI_2 {\n interface eth1\n virtual_router_id 6\n",
        );
        same_as_two_passes("empty", "");
        same_as_two_passes(
            "open",
            "virtual_server 192.0.2.1 80 {\n real_server 198.51.100.1 80 {",
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/keepalived-samples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        assert!(files.len() > 20, "keepalived samples in {}", dir.display());
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                same_as_two_passes(&f.display().to_string(), &text);
            }
        }
    }

    #[test]
    fn tokenize_quotes_and_escapes() {
        assert_eq!(
            words(r#"abcd" efg h jkl "mnop"#),
            vec![("abcd efg h jkl mnop".to_owned(), true)]
        );
        assert_eq!(
            words(r#"abcd "efg h jkl" mnop"#),
            vec![
                ("abcd".to_owned(), false),
                ("efg h jkl".to_owned(), true),
                ("mnop".to_owned(), false)
            ]
        );
        assert_eq!(
            words(r#""a\tb\x41\101\cA\"\\z""#),
            vec![("a\tbAA\u{1}\"\\z".to_owned(), true)]
        );
        assert_eq!(words(r"a\tb"), vec![(r"a\tb".to_owned(), false)]);
        assert_eq!(words(r#""""#), vec![(String::new(), true)]);
    }
}
