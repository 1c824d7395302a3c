//! keepalived.conf lexer on arbitrary text: it must not panic; every
//! position it reports (statements, words, diagnostics) must be a real
//! place in the input, with the source line filled in for diagnostics; and
//! the tree, written back out canonically (one statement per line, every
//! word quoted and escaped), must parse again to the same tree without any
//! diagnostic.
#![no_main]

use std::path::Path;

use conf::diag::Location;
use conf::keepalived::lexer::{parse_str, ParseOptions};
use conf::keepalived::tree::Node;
use libfuzzer_sys::fuzz_target;

const NAME: &str = "fuzz.conf";

/// Length in characters of each line of the input, as the lexer counts
/// them (split at '\n', trailing '\r' dropped).
fn line_lengths(text: &str) -> Vec<usize> {
    text.split('\n')
        .map(|l| l.trim_end_matches('\r').chars().count())
        .collect()
}

fn check_loc(loc: &Location, lines: &[usize], what: &str) {
    assert_eq!(&*loc.file, Path::new(NAME), "{what}: file");
    assert!(loc.line >= 1 && loc.col >= 1, "{what}: {loc}");
    let len = lines
        .get(loc.line as usize - 1)
        .unwrap_or_else(|| panic!("{what}: line {} beyond the input", loc.line));
    // One past the last character is where "missing ..." errors point.
    assert!(loc.col as usize <= len + 1, "{what}: {loc} past line end {len}");
}

fn check_nodes(nodes: &[Node], lines: &[usize], depth: usize) {
    // Statements at `depth` sit inside `depth` blocks.
    assert!(
        nodes.is_empty() || depth <= conf::keepalived::lexer::MAX_BLOCK_DEPTH,
        "statements {depth} blocks deep"
    );
    for n in nodes {
        check_loc(&n.loc, lines, "statement");
        for a in &n.args {
            check_loc(&a.loc, lines, "word");
            assert!(a.quoted || !a.text.is_empty(), "empty unquoted word");
        }
        check_nodes(n.children(), lines, depth + 1);
    }
}

/// Write `nodes` back as keepalived.conf text that means exactly them.
fn render(nodes: &[Node], out: &mut String) {
    for n in nodes {
        quote(&n.keyword, out);
        for a in &n.args {
            out.push(' ');
            quote(&a.text, out);
        }
        out.push('\n');
        if let Some(children) = &n.children {
            out.push_str("{\n");
            render(children, out);
            out.push_str("}\n");
        }
    }
}

fn quote(w: &str, out: &mut String) {
    out.push('"');
    for c in w.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The tree without positions.
fn shape(nodes: &[Node]) -> Vec<(String, Vec<String>, Option<Vec<()>>)> {
    let mut v = Vec::new();
    fn walk(nodes: &[Node], depth: usize, v: &mut Vec<(String, Vec<String>, Option<Vec<()>>)>) {
        for n in nodes {
            let args = n.args.iter().map(|a| a.text.as_str().to_owned()).collect();
            let block = n.children.as_ref().map(|c| vec![(); c.len()]);
            v.push((format!("{depth}:{}", n.keyword), args, block));
            walk(n.children(), depth + 1, v);
        }
    }
    walk(nodes, 0, &mut v);
    v
}

fn has_dollar(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| {
        n.keyword.contains('$') || n.args.iter().any(|a| a.text.contains('$')) || has_dollar(n.children())
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = ParseOptions {
        config_id: Some("fuzz".to_owned()),
        max_include_depth: 2,
        max_generated_lines: 5_000,
        random_seed: Some(1),
        follow_includes: false,
    };
    let out = parse_str(NAME, &text, &opts);
    let lines = line_lengths(&text);
    check_nodes(&out.nodes, &lines, 0);
    for d in &out.diagnostics.items {
        let loc = d.location.as_ref().expect("lexer diagnostics have a place");
        check_loc(loc, &lines, "diagnostic");
        assert!(d.source_line.is_some(), "source line missing: {d}");
        assert!(!d.message.is_empty());
    }

    // A `$` left in a word would be expanded differently the second time
    // (definitions are gone, or expansion had been stopped): skip those.
    if has_dollar(&out.nodes) {
        return;
    }
    let mut again = String::new();
    render(&out.nodes, &mut again);
    let out2 = parse_str(NAME, &again, &opts);
    assert!(
        out2.diagnostics.is_empty(),
        "canonical text did not parse cleanly:\n{}\n---\n{again}",
        out2.diagnostics
    );
    assert_eq!(shape(&out.nodes), shape(&out2.nodes), "---\n{again}");
});
