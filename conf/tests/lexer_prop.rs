#![allow(clippy::unwrap_used)]
//! Round trip: a random statement tree, written out with a random mix of
//! the layouts keepalived accepts, parses back to the same tree, and every
//! statement's position points at its keyword in the text.

use conf::keepalived::lexer::{parse_str, ParseOptions};
use conf::keepalived::tree::Node;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Word {
    text: String,
    quoted: bool,
}

#[derive(Debug, Clone)]
struct Stmt {
    keyword: String,
    args: Vec<Word>,
    block: Option<Vec<Stmt>>,
}

/// How one statement is written.
#[derive(Debug, Clone)]
struct Layout {
    indent: String,
    /// 0: `kw {`, 1: `kw{` (attached), 2: `kw` then `{` on the next line.
    open: u8,
    /// Text after the statement or `{` on its line: "" or a comment.
    comment: String,
    /// Blank or comment lines before the statement.
    blank_before: bool,
    /// Write the next sibling right after this block's `}`.
    join_after_close: bool,
}

fn word() -> impl Strategy<Value = Word> {
    prop_oneof![
        "[A-Za-z0-9_./:-]{1,10}".prop_map(|text| Word {
            text,
            quoted: false
        }),
        // Quoted text may hold blanks, braces and comment characters.
        "[A-Za-z0-9 #!{}._-]{0,12}".prop_map(|text| Word { text, quoted: true }),
    ]
}

fn keyword() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,11}".prop_filter("not include", |k| !k.starts_with("include"))
}

fn stmt() -> impl Strategy<Value = Stmt> {
    let leaf = (keyword(), prop::collection::vec(word(), 0..4)).prop_map(|(keyword, args)| Stmt {
        keyword,
        args,
        block: None,
    });
    leaf.prop_recursive(3, 40, 5, |inner| {
        (
            keyword(),
            prop::collection::vec(word(), 0..3),
            prop::option::weighted(0.7, prop::collection::vec(inner, 0..5)),
        )
            .prop_map(|(keyword, args, block)| Stmt {
                keyword,
                args,
                block,
            })
    })
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        "[ \t]{0,4}",
        0u8..3,
        prop_oneof![
            Just(String::new()),
            Just(" # note".to_owned()),
            Just("\t! x {".to_owned())
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(indent, open, comment, blank_before, join_after_close)| Layout {
                indent,
                open,
                comment,
                blank_before,
                join_after_close,
            },
        )
}

fn render_word(w: &Word) -> String {
    if w.quoted {
        format!("\"{}\"", w.text)
    } else {
        w.text.clone()
    }
}

/// Write `stmts`; `layouts` is cycled through. Returns the text and, per
/// statement in pre-order, the (line, col) of its keyword.
fn render(stmts: &[Stmt], layouts: &[Layout]) -> (String, Vec<(u32, u32)>) {
    struct W<'a> {
        out: String,
        line: u32,
        col: u32,
        locs: Vec<(u32, u32)>,
        layouts: &'a [Layout],
        next: usize,
    }
    impl W<'_> {
        fn push(&mut self, s: &str) {
            for c in s.chars() {
                self.out.push(c);
                if c == '\n' {
                    self.line += 1;
                    self.col = 1;
                } else {
                    self.col += 1;
                }
            }
        }
        fn layout(&mut self) -> Layout {
            let l = self.layouts[self.next % self.layouts.len()].clone();
            self.next += 1;
            l
        }
        fn stmts(&mut self, stmts: &[Stmt]) {
            let mut joined = false;
            for s in stmts {
                let l = self.layout();
                if !joined {
                    if l.blank_before {
                        self.push("\n  ! between\n");
                    }
                    self.push(&l.indent);
                }
                self.locs.push((self.line, self.col));
                self.push(&s.keyword);
                for a in &s.args {
                    self.push(" ");
                    self.push(&render_word(a));
                }
                joined = false;
                match &s.block {
                    None => {
                        self.push(&l.comment);
                        self.push("\n");
                    }
                    Some(children) => {
                        match l.open {
                            0 => self.push(" {"),
                            1 => self.push("{"),
                            _ => {
                                self.push(&l.comment);
                                self.push("\n");
                                self.push(&l.indent);
                                self.push("{");
                            }
                        }
                        self.push(&l.comment);
                        self.push("\n");
                        self.stmts(children);
                        self.push(&l.indent);
                        self.push("}");
                        if l.join_after_close {
                            self.push(" ");
                            joined = true;
                        } else {
                            self.push("\n");
                        }
                    }
                }
            }
            if joined {
                self.push("\n");
            }
        }
    }
    let mut w = W {
        out: String::new(),
        line: 1,
        col: 1,
        locs: Vec::new(),
        layouts,
        next: 0,
    };
    w.stmts(stmts);
    (w.out, w.locs)
}

fn same(got: &[Node], want: &[Stmt], locs: &mut std::slice::Iter<'_, (u32, u32)>) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.keyword, w.keyword);
        assert_eq!(Some(&(g.loc.line, g.loc.col)), locs.next(), "{}", g.keyword);
        let args: Vec<(&str, bool)> = g.args.iter().map(|a| (a.text.as_str(), a.quoted)).collect();
        let want_args: Vec<(&str, bool)> =
            w.args.iter().map(|a| (a.text.as_str(), a.quoted)).collect();
        assert_eq!(args, want_args, "{}", g.keyword);
        assert_eq!(g.has_block(), w.block.is_some(), "{}", g.keyword);
        same(g.children(), w.block.as_deref().unwrap_or(&[]), locs);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn layouts_round_trip(
        stmts in prop::collection::vec(stmt(), 0..6),
        layouts in prop::collection::vec(layout(), 1..8),
    ) {
        let (text, locs) = render(&stmts, &layouts);
        let out = parse_str("p.conf", &text, &ParseOptions::default());
        prop_assert!(out.diagnostics.is_empty(), "{}\n---\n{}", out.diagnostics, text);
        same(&out.nodes, &stmts, &mut locs.iter());
    }
}
