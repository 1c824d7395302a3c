#![allow(clippy::unwrap_used)]
//! Golden files for the keepalived.conf lexer: `testdata/lexer/NAME.conf`
//! is parsed and the block tree and diagnostics are compared with
//! `testdata/lexer/NAME.expected`. Set `UPDATE_GOLDEN=1` to rewrite the
//! expected files after a deliberate change (then review the diff).

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use conf::keepalived::lexer::{parse_file, ParseOptions, ParseOutput};
use conf::keepalived::tree::Node;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lexer")
}

/// Paths are shown relative to testdata/lexer so the files do not depend
/// on where the repository is checked out.
fn rel(p: &Path) -> String {
    p.strip_prefix(dir()).unwrap_or(p).display().to_string()
}

fn render(out: &ParseOutput) -> String {
    fn walk(nodes: &[Node], depth: usize, s: &mut String) {
        for n in nodes {
            write!(
                s,
                "{:indent$}{}:{}:{} {}",
                "",
                rel(&n.loc.file),
                n.loc.line,
                n.loc.col,
                n.keyword,
                indent = depth * 2
            )
            .unwrap();
            for a in &n.args {
                if a.quoted {
                    write!(s, " {:?}@{}", a.text, a.loc.col).unwrap();
                } else {
                    write!(s, " {}@{}", a.text, a.loc.col).unwrap();
                }
            }
            s.push_str(if n.has_block() { " {\n" } else { "\n" });
            walk(n.children(), depth + 1, s);
        }
    }
    let mut s = String::from("# tree: file:line:col keyword word@col ...\n");
    walk(&out.nodes, 0, &mut s);
    s.push_str("# diagnostics\n");
    let base = format!("{}/", dir().display());
    s.push_str(&out.diagnostics.to_string().replace(&base, ""));
    s
}

fn golden(name: &str) {
    let conf = dir().join(format!("{name}.conf"));
    let opts = ParseOptions {
        config_id: Some("high".to_owned()),
        random_seed: Some(1),
        ..ParseOptions::default()
    };
    let got = render(&parse_file(&conf, &opts));
    let expected_path = dir().join(format!("{name}.expected"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&expected_path, &got).unwrap();
        return;
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_default();
    assert!(
        got == expected,
        "{name}: output differs from {} (UPDATE_GOLDEN=1 rewrites it)\n--- got ---\n{got}",
        expected_path.display()
    );
}

#[test]
fn features() {
    golden("features");
}

#[test]
fn bad() {
    golden("bad");
}
