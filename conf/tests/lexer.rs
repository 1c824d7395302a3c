#![allow(clippy::unwrap_used)]
//! The keepalived.conf lexer and preprocessor: every lexical feature, the
//! errors for bad input, and keepalived's own sample files.

use std::fs;
use std::path::{Path, PathBuf};

use conf::diag::Severity;
use conf::keepalived::lexer::{parse_file, parse_str, ParseOptions, ParseOutput, MAX_BLOCK_DEPTH};
use conf::keepalived::tree::Node;

fn opts() -> ParseOptions {
    ParseOptions {
        config_id: Some("high".to_owned()),
        random_seed: Some(7),
        ..ParseOptions::default()
    }
}

fn parse(text: &str) -> ParseOutput {
    parse_str("test.conf", text, &opts())
}

/// Parse and insist on no diagnostics at all.
fn ok(text: &str) -> Vec<Node> {
    let out = parse(text);
    assert!(
        out.diagnostics.is_empty(),
        "unexpected diagnostics:\n{}",
        out.diagnostics
    );
    out.nodes
}

/// Keyword and arguments of a statement.
fn words(n: &Node) -> Vec<&str> {
    std::iter::once(n.keyword.as_str())
        .chain(n.args.iter().map(|a| a.text.as_str()))
        .collect()
}

/// Every statement as "depth:keyword args", in order, to compare shapes.
fn flat(nodes: &[Node]) -> Vec<String> {
    fn walk(nodes: &[Node], depth: usize, out: &mut Vec<String>) {
        for n in nodes {
            let block = if n.has_block() { " {}" } else { "" };
            out.push(format!("{depth}:{}{block}", words(n).join(" ")));
            walk(n.children(), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(nodes, 0, &mut out);
    out
}

fn lc(n: &Node) -> (u32, u32) {
    (n.loc.line, n.loc.col)
}

/// (severity, line, col, message) of every diagnostic.
fn diags(out: &ParseOutput) -> Vec<(Severity, u32, u32, String)> {
    out.diagnostics
        .items
        .iter()
        .map(|d| {
            let (l, c) = d.location.as_ref().map_or((0, 0), |l| (l.line, l.col));
            (d.severity, l, c, d.message.clone())
        })
        .collect()
}

fn only_error(out: &ParseOutput) -> (u32, u32, String) {
    let errs: Vec<_> = out.diagnostics.errors().collect();
    assert_eq!(
        errs.len(),
        1,
        "expected one error, got:\n{}",
        out.diagnostics
    );
    let d = errs[0];
    let loc = d.location.as_ref().expect("error has a location");
    assert!(d.source_line.is_some(), "source line filled in: {d:?}");
    (loc.line, loc.col, d.message.clone())
}

// ---------------------------------------------------------------- blocks

#[test]
fn statements_blocks_and_positions() {
    let nodes = ok("global_defs {\n    router_id LVS_1\n}\n\nvrrp_instance VI_1 {\n\tstate MASTER\n\tvirtual_ipaddress {\n\t\t192.0.2.1/24 dev eth0\n\t}\n}\n");
    assert_eq!(
        flat(&nodes),
        [
            "0:global_defs {}",
            "1:router_id LVS_1",
            "0:vrrp_instance VI_1 {}",
            "1:state MASTER",
            "1:virtual_ipaddress {}",
            "2:192.0.2.1/24 dev eth0",
        ]
    );
    assert_eq!(lc(&nodes[0]), (1, 1));
    let g = &nodes[0].children()[0];
    assert_eq!(lc(g), (2, 5));
    assert_eq!((g.args[0].loc.line, g.args[0].loc.col), (2, 15));
    assert_eq!(&*g.args[0].loc.file, Path::new("test.conf"));
    let vip = &nodes[1].children()[1].children()[0];
    // Tabs count as one column each.
    assert_eq!(lc(vip), (8, 3));
    assert_eq!((vip.args[0].loc.line, vip.args[0].loc.col), (8, 16));
    assert_eq!((vip.args[1].loc.line, vip.args[1].loc.col), (8, 20));
    assert!(!nodes[1].children()[0].has_block());
}

#[test]
fn brace_on_next_line_and_after_comments() {
    let nodes = ok("vrrp_instance X\n{\n  state BACKUP\n}\nvrrp_script chk\n# a comment\n\n   {\n script true\n }\n");
    assert_eq!(
        flat(&nodes),
        [
            "0:vrrp_instance X {}",
            "1:state BACKUP",
            "0:vrrp_script chk {}",
            "1:script true",
        ]
    );
}

#[test]
fn several_braces_on_one_line_and_words_attached_to_braces() {
    let nodes = ok("a { b { c 1 } d } e{\nf}g {}\nh {\n}\n");
    assert_eq!(
        flat(&nodes),
        ["0:a {}", "1:b {}", "2:c 1", "1:d", "0:e {}", "1:f", "0:g {}", "0:h {}",]
    );
    // Positions of statements that follow a brace on the same line.
    assert_eq!(lc(&nodes[0].children()[1]), (1, 15));
    assert_eq!(lc(&nodes[1]), (1, 19));
    assert_eq!(lc(&nodes[2]), (2, 3));
    assert_eq!(nodes[2].children.as_deref(), Some(&[][..]));
}

#[test]
fn closing_brace_followed_by_more_statements() {
    let nodes = ok("a {\n x 1\n} b 2\nc\n");
    assert_eq!(flat(&nodes), ["0:a {}", "1:x 1", "0:b 2", "0:c"]);
    assert_eq!(lc(&nodes[1]), (3, 3));
}

#[test]
fn extra_closing_brace_is_an_error_at_its_position() {
    let out = parse("a {\n  b\n}\n  }\nc\n");
    assert_eq!(
        only_error(&out),
        (4, 3, "unexpected '}': no block is open".to_owned())
    );
    assert_eq!(flat(&out.nodes), ["0:a {}", "1:b", "0:c"]);
}

#[test]
fn unclosed_block_is_an_error_at_its_opening_brace() {
    let out = parse("global_defs {\n  router_id x\n}\nvrrp_instance VI_1\n{\n  state MASTER\n  track_script {\n   chk\n");
    let errs: Vec<_> = out.diagnostics.errors().collect();
    assert_eq!(errs.len(), 2, "{}", out.diagnostics);
    let first = errs[0];
    let l = first.location.as_ref().unwrap();
    assert_eq!((l.line, l.col), (5, 1));
    assert_eq!(first.keyword.as_deref(), Some("vrrp_instance"));
    assert!(first.message.contains("block opened here is never closed"));
    assert_eq!(first.source_line.as_deref(), Some("{"));
    let second = errs[1].location.as_ref().unwrap();
    assert_eq!((second.line, second.col), (7, 16));
    assert_eq!(errs[1].keyword.as_deref(), Some("track_script"));
    // The tree is still built as far as it goes.
    assert_eq!(
        flat(&out.nodes),
        [
            "0:global_defs {}",
            "1:router_id x",
            "0:vrrp_instance VI_1 {}",
            "1:state MASTER",
            "1:track_script {}",
            "2:chk",
        ]
    );
}

#[test]
fn brace_without_statement_is_an_error() {
    let out = parse("{\n a\n}\nb\n");
    let (line, col, msg) = only_error(&out);
    assert_eq!((line, col), (1, 1));
    assert!(msg.contains("unexpected '{'"), "{msg}");
    // keepalived ignores the '{' and reads on: contents stay at top level.
    assert_eq!(flat(&out.nodes), ["0:a", "0:b"]);
    let out = parse("a {\n}\n{\n}\n");
    assert_eq!(only_error(&out).0, 3);
}

#[test]
fn block_nesting_is_limited() {
    let depth = MAX_BLOCK_DEPTH + 10;
    let text = "a {\n".repeat(depth) + &"}\n".repeat(depth) + "after\n";
    let out = parse(&text);
    let (l, c, m) = only_error(&out);
    assert_eq!((l, c), (MAX_BLOCK_DEPTH as u32 + 1, 3));
    assert_eq!(m, format!("blocks nested more than {MAX_BLOCK_DEPTH} deep"));
    let mut blocks = 0;
    let mut n = &out.nodes[0];
    while n.has_block() {
        blocks += 1;
        match n.children().first() {
            Some(c) if c.has_block() => n = c,
            _ => break,
        }
    }
    assert_eq!(blocks, MAX_BLOCK_DEPTH);
    // The statements whose '{' was refused stay in the deepest block.
    assert_eq!(n.children().len(), 10);
    assert_eq!(flat(&out.nodes).last().unwrap(), "0:after");
}

// ------------------------------------------------------ comments, quotes

#[test]
fn comments_with_hash_and_bang_anywhere() {
    let nodes = ok(
        "# top\n! also top\na 1 # trailing\nb 2! bang\nc#glued\n  ! indented\nd \\#literal \\!x\n",
    );
    assert_eq!(flat(&nodes), ["0:a 1", "0:b 2", "0:c", "0:d #literal !x"]);
}

#[test]
fn quoted_strings() {
    let nodes = ok(concat!(
        "notify_master \"/etc/ka/notify.sh master # not a comment { }\" root\n",
        "smtp_helo \"\"\n",
        "x \"a\\tb\\\"c\\\\d\\x41\\101\"\n",
        "y pre\"mid dle\"post\n",
        "z a\\tb\n",
    ));
    let n = &nodes[0];
    assert_eq!(
        n.args[0].text,
        "/etc/ka/notify.sh master # not a comment { }"
    );
    assert!(n.args[0].quoted);
    assert_eq!((n.args[0].loc.line, n.args[0].loc.col), (1, 15));
    assert_eq!(n.args[1].text, "root");
    assert!(!n.args[1].quoted);
    assert!(!n.has_block());
    assert_eq!(nodes[1].args[0].text, "");
    assert!(nodes[1].args[0].quoted);
    // keepalived.conf(5) escapes inside quotes.
    assert_eq!(nodes[2].args[0].text, "a\tb\"c\\dAA");
    // Quoted sections join with the surrounding word.
    assert_eq!(nodes[3].args[0].text, "premid dlepost");
    // Outside quotes a backslash is kept.
    assert_eq!(nodes[4].args[0].text, "a\\tb");
    // ... but does not join words.
    let nodes = ok("w a\\ b \\\"c\n");
    assert_eq!(words(&nodes[0]), ["w", "a\\", "b", "\\\"c"]);
    assert!(!nodes[0].args[2].quoted);
}

#[test]
fn unterminated_quote_is_an_error_at_the_quote() {
    let out = parse("global_defs {\n  router_id \"abc\n}\n");
    let errs: Vec<_> = out.diagnostics.errors().collect();
    let l = errs[0].location.as_ref().unwrap();
    assert_eq!((l.line, l.col), (2, 13));
    assert!(errs[0].message.contains("unterminated quote"));
    assert_eq!(errs[0].source_line.as_deref(), Some("  router_id \"abc"));
}

#[test]
fn backslash_continues_a_line() {
    let nodes = ok("lvs_sync_daemon eth0 \\\n    inst VI_1 \\\n  id 5\nnext\n");
    assert_eq!(
        flat(&nodes),
        ["0:lvs_sync_daemon eth0 inst VI_1 id 5", "0:next"]
    );
    let n = &nodes[0];
    assert_eq!((n.args[1].loc.line, n.args[1].loc.col), (2, 5));
    assert_eq!((n.args[4].loc.line, n.args[4].loc.col), (3, 6));
    assert_eq!(lc(&nodes[1]), (4, 1));
    // A line that is only a `\`, continued lines that are only comments.
    let nodes = ok("\\\nx\ny \\\n  # c \\\n z\n");
    assert_eq!(flat(&nodes), ["0:x", "0:y z"]);
}

#[test]
fn crlf_line_ends() {
    let nodes = ok("a {\r\n b 1\r\n}\r\n");
    assert_eq!(flat(&nodes), ["0:a {}", "1:b 1"]);
}

// ----------------------------------------------------------- conditionals

#[test]
fn config_id_conditionals() {
    let text = "@high a 1\n@low a 2\n@^high b 1\n@^low b 2\n@high\tc {\n  x\n}\n@high\n";
    let nodes = ok(text);
    assert_eq!(flat(&nodes), ["0:a 1", "0:b 2", "0:c {}", "1:x"]);
    assert_eq!(lc(&nodes[0]), (1, 7));
    let low = ParseOptions {
        config_id: Some("low".to_owned()),
        ..ParseOptions::default()
    };
    let out = parse_str("t", text, &low);
    // The dropped line took its '{' with it, as in keepalived, so the
    // block's '}' is now unexpected.
    assert_eq!(flat(&out.nodes), ["0:a 2", "0:b 1", "0:x"]);
    assert_eq!(only_error(&out).0, 7);
}

#[test]
fn config_id_defaults_to_short_hostname() {
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let short = host.trim().split('.').next().unwrap().to_owned();
    let text = format!("@{short} mine\n@^{short} theirs\n");
    let out = parse_str("t", &text, &ParseOptions::default());
    assert_eq!(flat(&out.nodes), ["0:mine"]);
}

// -------------------------------------------------------------- parameters

#[test]
fn parameter_definitions_and_expansion() {
    let nodes = ok(concat!(
        "$IF=eth0\n",
        "$PRIO= 100\n",
        "vrrp_instance VI_1 {\n",
        "  interface $IF\n",
        "  priority ${PRIO}\n",
        "  notify \"/bin/n ${IF}.x\"\n",
        "  list $IF,$PRIO\n",
        "}\n",
        "$IF=eth1\n",
        "iface $IF\n",
    ));
    assert_eq!(
        flat(&nodes),
        [
            "0:vrrp_instance VI_1 {}",
            "1:interface eth0",
            "1:priority 100",
            "1:notify /bin/n eth0.x",
            "1:list eth0,100",
            "0:iface eth1",
        ]
    );
    // Expanded text is placed where the reference was written.
    let prio = &nodes[0].children()[1];
    assert_eq!((prio.args[0].loc.line, prio.args[0].loc.col), (5, 12));
}

#[test]
fn parameters_expand_recursively_and_may_hold_blocks() {
    let nodes = ok(concat!(
        "$A=x $B\n",
        "$B=y\n",
        "$OPEN=vrrp_instance V {\n",
        "$OPEN\n",
        "  state $A\n",
        "}\n",
    ));
    assert_eq!(flat(&nodes), ["0:vrrp_instance V {}", "1:state x y"]);
}

#[test]
fn standard_parameters() {
    let nodes = ok("a $_INSTANCE\nb \"${_HASH}${_BANG}\"\nc ${_RANDOM 5 5}\nd $_PWD\n");
    assert_eq!(nodes[0].args[0].text, "high");
    assert_eq!(nodes[1].args[0].text, "#!");
    assert_eq!(nodes[2].args[0].text, "5");
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(nodes[3].args[0].text, cwd.to_string_lossy());
}

#[test]
fn undefined_parameter_is_left_as_written_with_a_warning() {
    let out = parse("auth_pass $SECRET\nother $SECRET\nx $5 a$\n");
    assert_eq!(out.nodes[0].args[0].text, "$SECRET");
    assert_eq!(out.nodes[2].args[0].text, "$5");
    assert!(!out.diagnostics.has_errors());
    assert_eq!(
        diags(&out),
        [(
            Severity::Warning,
            1,
            11,
            "parameter '$SECRET' is not defined; left as written".to_owned()
        )]
    );
}

#[test]
fn bare_parameter_needs_a_separator_after_it() {
    // keepalived only expands `$NAME` followed by a blank, ',', ')' or the
    // end of the line; `${NAME}` works anywhere.
    let out = parse("$X=1\na $X.y ${X}.y\n");
    assert_eq!(words(&out.nodes[0]), ["a", "$X.y", "1.y"]);
}

#[test]
fn multi_line_parameter() {
    let nodes = ok(concat!(
        "$VIPS=192.0.2.1/24 \\\n",
        "   # comment lines inside are skipped\n",
        "   192.0.2.2/24 \\\n",
        "   192.0.2.3/24\n",
        "virtual_ipaddress {\n",
        "  $VIPS\n",
        "}\n",
    ));
    assert_eq!(
        flat(&nodes),
        [
            "0:virtual_ipaddress {}",
            "1:192.0.2.1/24",
            "1:192.0.2.2/24",
            "1:192.0.2.3/24",
        ]
    );
    assert_eq!(lc(&nodes[0].children()[2]), (6, 3));
}

#[test]
fn multi_line_parameter_ends_at_an_empty_line() {
    let nodes = ok("$M=\\\n a 1 \\\n b 2 \\\n\nc 3\n$M\n");
    assert_eq!(flat(&nodes), ["0:c 3", "0:a 1", "0:b 2"]);
}

#[test]
fn self_expanding_multi_line_parameter_is_bounded() {
    // Each expansion of $M yields two more: without a bound this doubles
    // forever.
    let o = ParseOptions {
        max_generated_lines: 1000,
        ..opts()
    };
    let out = parse_str("t", "$M=\\\n x $M \\\n$M\n\n$M\n", &o);
    assert!(out.diagnostics.has_errors());
    assert!(out.nodes.len() <= 1000, "{}", out.nodes.len());
}

#[test]
fn recursive_parameter_is_an_error_not_a_hang() {
    let out = parse("$A=$A\nx $A\n");
    let (line, col, msg) = only_error(&out);
    assert_eq!((line, col), (2, 1));
    assert!(msg.contains("does not terminate"), "{msg}");
    let out = parse("$A=${A}${A}\n$B=1\nx $A\ny $B\n");
    let (line, _, msg) = only_error(&out);
    assert_eq!(line, 3);
    assert!(msg.contains("longer than"), "{msg}");
    // After a runaway expansion, parameters are left as written (the
    // configuration is in error anyway) instead of repeating the runaway.
    assert_eq!(flat(&out.nodes), ["0:y $B"]);
    // In ~SEQ arguments too.
    let out = parse("$A=${A}${A}\n~SEQ(i, $A) x\n");
    assert!(only_error(&out).2.contains("longer than"));
    assert!(out.nodes.is_empty());
}

// ------------------------------------------------------------ ~SEQ / ~LST

#[test]
fn seq_forms() {
    let nodes = ok(concat!(
        "~SEQ(i, 3) a $i\n",
        "~SEQ(i, 5, 3) b $i\n",
        "~SEQ(i, 0, 5, 10) c $i\n",
        "~SEQ(i, -2) d $i\n",
        "~SEQx(i, 9, 3, 15) e $i\n",
        "$N=2\n",
        "~SEQ(i, $N) f $i\n",
    ));
    assert_eq!(
        flat(&nodes),
        [
            "0:a 1", "0:a 2", "0:a 3", "0:b 5", "0:b 4", "0:b 3", "0:c 0", "0:c 5", "0:c 10",
            "0:d -1", "0:d -2", "0:e 9", "0:e c", "0:e f", "0:f 1", "0:f 2",
        ]
    );
    // Repeated text keeps its position on the ~SEQ line.
    assert_eq!(lc(&nodes[1]), (1, 12));
    assert_eq!(
        (nodes[1].args[0].loc.line, nodes[1].args[0].loc.col),
        (1, 14)
    );
}

#[test]
fn seq_nested_and_building_blocks() {
    let nodes = ok(concat!(
        "~SEQ(vs, 1, 2) virtual_server 192.0.2.$vs 80 { lb_algo rr }\n",
        "~SEQ(i, 2) ~SEQ(j, 2) p ${i}-$j\n",
        "~SEQ(i, 2) vrrp_instance VI_$i { virtual_router_id $i }\n",
    ));
    assert_eq!(
        flat(&nodes),
        [
            "0:virtual_server 192.0.2.1 80 {}",
            "1:lb_algo rr",
            "0:virtual_server 192.0.2.2 80 {}",
            "1:lb_algo rr",
            "0:p 1-1",
            "0:p 1-2",
            "0:p 2-1",
            "0:p 2-2",
            "0:vrrp_instance VI_1 {}",
            "1:virtual_router_id 1",
            "0:vrrp_instance VI_2 {}",
            "1:virtual_router_id 2",
        ]
    );
}

#[test]
fn bad_seq_syntax() {
    let cases: &[(&str, u32, &str)] = &[
        ("~SEQ i, 3) x\n", 6, "expected '('"),
        ("~SEQ(i) x\n", 7, "expected ','"),
        ("~SEQ(i, 1, 2\n", 13, "missing ')'"),
        ("~SEQ(i, 1, 0, 5) x\n", 9, "never gets from 1 to 5"),
        ("~SEQ(i, 5, 1, 1) x\n", 9, "never gets from 5 to 1"),
        ("~SEQ(i, a) x\n", 9, "expected ',' or ')'"),
        ("~SEQx(i, -3) x\n", 10, ">= 0"),
        ("~SEQ(, 3) x\n", 6, "variable name"),
    ];
    for (text, col, msg) in cases {
        let out = parse(text);
        let (l, c, m) = only_error(&out);
        assert_eq!((l, c), (1, *col), "{text:?}: {m}");
        assert!(
            m.starts_with("invalid ~SEQ") && m.contains(msg),
            "{text:?}: {m}"
        );
        assert!(out.nodes.is_empty(), "{text:?}");
    }
}

#[test]
fn seq_output_is_bounded() {
    let o = ParseOptions {
        max_generated_lines: 100,
        ..opts()
    };
    let out = parse_str("t", "~SEQ(i, 0, 1, 9223372036854775807) x $i\n", &o);
    let (_, _, msg) = only_error(&out);
    assert!(msg.contains("more than 100 lines"), "{msg}");
    // Few lines, but long ones: the byte budget (64 per line) applies.
    let long = format!("~SEQ(i, 50) x{}\n", " y".repeat(100));
    let out = parse_str("t", &long, &o);
    assert!(only_error(&out).2.contains("6400 bytes"));
    assert!(out.nodes.is_empty());
    let out = parse_str("t", "~SEQ(i, 20) ~SEQ(j, 20) x $i $j\n", &o);
    assert_eq!(out.diagnostics.errors().count(), 1, "{}", out.diagnostics);
    assert!(out.nodes.len() < 100);
}

#[test]
fn deeply_nested_seq_is_an_error_not_a_stack_overflow() {
    let text = "~SEQ(a, 1) ".repeat(200) + "x $a\n";
    // Run on a small stack, as a tokio worker would.
    let out = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || parse(&text))
        .unwrap()
        .join()
        .unwrap();
    let (l, c, m) = only_error(&out);
    assert_eq!((l, c), (1, 1 + 11 * 65));
    assert!(m.contains("nested more than 64 deep"), "{m}");
    assert!(out.nodes.is_empty());
}

#[test]
fn lst_forms() {
    let nodes = ok(concat!(
        "~LST(dev, eth0, eth1) track $dev\n",
        "~LST({ip, pfx}, {192.0.2.1, 24}, {192.0.2.2}, {192.0.2.3,25}) addr ${ip}/$pfx\n",
        "~LST(x, a) bare $x/y\n",
    ));
    assert_eq!(
        flat(&nodes),
        [
            "0:track eth0",
            "0:track eth1",
            "0:addr 192.0.2.1/24",
            "0:addr 192.0.2.2/",
            "0:addr 192.0.2.3/25",
            // keepalived does not expand a bare `$x` followed by '/'.
            "0:bare $x/y",
        ]
    );
}

#[test]
fn bad_lst_syntax() {
    let out = parse("~LST({a}, {1, 2}) x $a\n");
    let (l, c, m) = only_error(&out);
    assert_eq!((l, c), (1, 15));
    assert!(m.contains("more values than variables"), "{m}");
    let out = parse("~LST(a 1) x\n");
    assert!(only_error(&out).2.starts_with("invalid ~LST"));
}

// --------------------------------------------------------------- includes

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn include_relative_to_including_file_and_inside_blocks() {
    let d = tempfile::tempdir().unwrap();
    let main = write(
        d.path(),
        "keepalived.conf",
        "include conf.d/globals.conf\nvrrp_instance V {\n  include conf.d/inst.conf\n}\n",
    );
    write(
        d.path(),
        "conf.d/globals.conf",
        "global_defs {\n include ../more/x.conf\n}\n",
    );
    write(d.path(), "more/x.conf", "router_id R1\n");
    write(d.path(), "conf.d/inst.conf", "\n\nstate MASTER\n");
    let out = parse_file(&main, &opts());
    assert!(out.diagnostics.is_empty(), "{}", out.diagnostics);
    assert_eq!(
        flat(&out.nodes),
        [
            "0:global_defs {}",
            "1:router_id R1",
            "0:vrrp_instance V {}",
            "1:state MASTER",
        ]
    );
    let state = &out.nodes[1].children()[0];
    assert_eq!(&*state.loc.file, d.path().join("conf.d/inst.conf"));
    assert_eq!(lc(state), (3, 1));
    assert_eq!(out.sources.files().count(), 4);
}

#[test]
fn include_glob_in_order_and_brace_patterns() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "c/b.conf", "b\n");
    write(d.path(), "c/a.conf", "a\n");
    write(d.path(), "c/c.txt", "c\n");
    write(d.path(), "one.conf", "one\n");
    write(d.path(), "two.conf", "two\n");
    let main = write(
        d.path(),
        "main.conf",
        "include c/*.conf\ninclude {one,two}.conf\n",
    );
    let out = parse_file(&main, &opts());
    assert!(out.diagnostics.is_empty(), "{}", out.diagnostics);
    assert_eq!(flat(&out.nodes), ["0:a", "0:b", "0:one", "0:two"]);
}

#[test]
fn include_glob_without_match_is_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let main = write(d.path(), "main.conf", "a\n  include nothing/*.conf\nb\n");
    let out = parse_file(&main, &opts());
    assert_eq!(
        diags(&out),
        [(
            Severity::Warning,
            2,
            3,
            "no file matches include pattern 'nothing/*.conf'".to_owned()
        )]
    );
    assert_eq!(flat(&out.nodes), ["0:a", "0:b"]);
    // includew/includea make it an error.
    let main = write(d.path(), "main.conf", "includea nothing/*.conf\n");
    let out = parse_file(&main, &opts());
    assert_eq!(only_error(&out).0, 1);
}

#[test]
fn include_of_missing_file_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let main = write(d.path(), "main.conf", "a {\n    include missing.conf\n}\n");
    let out = parse_file(&main, &opts());
    let (l, c, m) = only_error(&out);
    assert_eq!((l, c), (2, 5));
    assert_eq!(
        m,
        format!(
            "included file '{}' does not exist",
            d.path().join("missing.conf").display()
        )
    );
    assert!(out.diagnostics.items[0]
        .to_string()
        .contains("main.conf:2:5: error:"));
}

#[test]
fn include_cycle_is_an_error_at_the_include_line() {
    let d = tempfile::tempdir().unwrap();
    let a = write(d.path(), "a.conf", "from_a\ninclude b.conf\n");
    let b = write(d.path(), "b.conf", "from_b\n\n  include a.conf\n");
    let out = parse_file(&a, &opts());
    let errs: Vec<_> = out.diagnostics.errors().collect();
    assert_eq!(errs.len(), 1, "{}", out.diagnostics);
    let loc = errs[0].location.as_ref().unwrap();
    assert_eq!(&*loc.file, b.as_path());
    assert_eq!((loc.line, loc.col), (3, 3));
    assert_eq!(
        errs[0].message,
        format!(
            "include cycle: {} includes {} includes {}",
            a.display(),
            b.display(),
            d.path().join("a.conf").display()
        )
    );
    assert_eq!(errs[0].source_line.as_deref(), Some("  include a.conf"));
    assert_eq!(flat(&out.nodes), ["0:from_a", "0:from_b"]);
}

#[test]
fn include_path_is_the_rest_of_the_line() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "with space.conf", "spaced\n");
    write(d.path(), "q.conf", "quoted\n");
    write(d.path(), "x/[ab].conf", "bracket\n");
    let main = write(
        d.path(),
        "main.conf",
        "include with space.conf   # comment\ninclude \"q.conf\"\ninclude {x/\\[ab\\].conf}\nincluder q.conf\n",
    );
    let out = parse_file(&main, &opts());
    assert!(out.diagnostics.is_empty(), "{}", out.diagnostics);
    assert_eq!(
        flat(&out.nodes),
        ["0:spaced", "0:quoted", "0:bracket", "0:quoted"]
    );
    // A directory or an executable file is skipped, as keepalived does.
    fs::create_dir(d.path().join("dir.conf")).unwrap();
    let exe = write(d.path(), "exe.conf", "exe\n");
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let main = write(
        d.path(),
        "main.conf",
        "include dir.conf\nincluder exe.conf\nlast\n",
    );
    let out = parse_file(&main, &opts());
    assert_eq!(flat(&out.nodes), ["0:last"]);
    let d: Vec<_> = diags(&out).into_iter().map(|(s, l, _, _)| (s, l)).collect();
    assert_eq!(d, [(Severity::Warning, 1), (Severity::Error, 2)]);
}

#[test]
fn self_include_through_glob_is_a_cycle() {
    let d = tempfile::tempdir().unwrap();
    let main = write(d.path(), "x.conf", "include *.conf\nv\n");
    let out = parse_file(&main, &opts());
    assert!(only_error(&out).2.starts_with("include cycle"));
    assert_eq!(flat(&out.nodes), ["0:v"]);
}

#[test]
fn include_depth_is_limited() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..10 {
        write(
            d.path(),
            &format!("f{i}.conf"),
            &format!("level {i}\ninclude f{}.conf\n", i + 1),
        );
    }
    write(d.path(), "f10.conf", "bottom\n");
    let o = ParseOptions {
        max_include_depth: 4,
        ..opts()
    };
    let out = parse_file(&d.path().join("f0.conf"), &o);
    let errs: Vec<_> = out.diagnostics.errors().collect();
    assert_eq!(errs.len(), 1, "{}", out.diagnostics);
    let loc = errs[0].location.as_ref().unwrap();
    assert_eq!(&*loc.file, d.path().join("f4.conf"));
    assert_eq!(loc.line, 2);
    assert!(errs[0].message.contains("nested more than 4 deep"));
    assert_eq!(out.nodes.len(), 5);
    // With the default limit the whole chain is read.
    let out = parse_file(&d.path().join("f0.conf"), &opts());
    assert!(out.diagnostics.is_empty(), "{}", out.diagnostics);
    assert_eq!(out.nodes.len(), 11);
}

#[test]
fn unreadable_top_level_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nope.conf");
    let out = parse_file(&p, &opts());
    assert_eq!(out.diagnostics.items.len(), 1);
    let e = &out.diagnostics.items[0];
    assert!(e.is_error());
    assert!(e.location.is_none());
    assert!(
        e.message.contains(&p.display().to_string()),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("No such file or directory"),
        "{}",
        e.message
    );
    assert!(out.nodes.is_empty());
}

#[test]
fn include_with_parameter_and_condition() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "high.conf", "for_high\n");
    write(d.path(), "low.conf", "for_low\n");
    let main = write(
        d.path(),
        "main.conf",
        "$WHO=high\ninclude ${WHO}.conf\n@low include low.conf\n",
    );
    let out = parse_file(&main, &opts());
    assert!(out.diagnostics.is_empty(), "{}", out.diagnostics);
    assert_eq!(flat(&out.nodes), ["0:for_high"]);
}

#[test]
fn includes_can_be_left_unfollowed() {
    let o = ParseOptions {
        follow_includes: false,
        ..opts()
    };
    let out = parse_str(
        "t",
        "a\ninclude /etc/*
b\n",
        &o,
    );
    assert_eq!(flat(&out.nodes), ["0:a", "0:b"]);
    assert_eq!(
        diags(&out),
        [(
            Severity::Warning,
            2,
            1,
            "include of '/etc/*' not followed".to_owned()
        )]
    );
}

// ------------------------------------------------------------ the samples

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/keepalived-samples")
}

fn count(nodes: &[Node], kw: &str) -> usize {
    nodes
        .iter()
        .map(|n| usize::from(n.keyword == kw) + count(n.children(), kw))
        .sum()
}

#[test]
fn keepalived_samples_lex_without_errors() {
    let mut files: Vec<PathBuf> = fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("keepalived.conf"))
        })
        .collect();
    files.sort();
    // The README says 24, but keepalived's doc/samples holds these 25.
    assert_eq!(files.len(), 25);
    for f in &files {
        let out = parse_file(f, &opts());
        assert!(
            out.diagnostics.is_empty(),
            "{}:\n{}",
            f.display(),
            out.diagnostics
        );
        assert!(!out.nodes.is_empty(), "{}", f.display());
    }
    // (file, top-level keywords, vrrp_instance, virtual_server, real_server)
    let expect: &[(&str, &[&str], usize, usize, usize)] = &[
        (
            "sample",
            &["global_defs", "vrrp_instance", "virtual_server"],
            1,
            1,
            1,
        ),
        (
            "vrrp.sync",
            &["vrrp_sync_group", "vrrp_sync_group", "vrrp_instance"],
            9,
            0,
            0,
        ),
        ("quorum", &["virtual_server"], 0, 1, 10),
        ("SMTP_CHECK", &["global_defs", "virtual_server"], 0, 1, 3),
        (
            "conditional_conf",
            &["net_namespace", "vrrp_script", "vrrp_instance"],
            1,
            0,
            0,
        ),
        ("vrrp.localcheck", &["vrrp_script"], 9, 0, 0),
    ];
    for (name, top, vi, vs, rs) in expect {
        let out = parse_file(
            &samples_dir().join(format!("keepalived.conf.{name}")),
            &opts(),
        );
        let tops: Vec<&str> = out.nodes.iter().map(|n| n.keyword.as_str()).collect();
        assert_eq!(&tops[..top.len()], *top, "{name}");
        assert_eq!(count(&out.nodes, "vrrp_instance"), *vi, "{name}");
        assert_eq!(count(&out.nodes, "virtual_server"), *vs, "{name}");
        assert_eq!(count(&out.nodes, "real_server"), *rs, "{name}");
    }
}

#[test]
fn sample_details() {
    let out = parse_file(&samples_dir().join("keepalived.conf.sample"), &opts());
    let vi = out
        .nodes
        .iter()
        .find(|n| n.keyword == "vrrp_instance")
        .unwrap();
    assert_eq!(words(vi), ["vrrp_instance", "VI_1"]);
    let vips = vi
        .children()
        .iter()
        .find(|n| n.keyword == "virtual_ipaddress")
        .unwrap();
    assert_eq!(
        flat(vips.children()),
        ["0:192.168.200.11", "0:192.168.200.12", "0:192.168.200.13"]
    );
    assert_eq!(lc(&vips.children()[2]), (22, 9));
    let out = parse_file(
        &samples_dir().join("keepalived.conf.misc_check_arg"),
        &opts(),
    );
    let misc = &out.nodes[1].children()[5].children()[1].children()[0];
    assert_eq!(misc.keyword, "misc_path");
    assert_eq!(misc.args[0].text, "/usr/local/bin/script.sh arg1 arg2");
    assert!(misc.args[0].quoted);
}

// ------------------------------------------------------------- large input

#[test]
fn large_generated_config() {
    use std::fmt::Write;
    let mut s = String::new();
    for i in 0..1000 {
        writeln!(
            s,
            "vrrp_instance VI_{i} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {}\n    priority 100\n    virtual_ipaddress {{\n        198.51.100.{}/24\n    }}\n}}",
            i % 255 + 1,
            i % 250 + 1
        )
        .unwrap();
    }
    for v in 0..2000 {
        writeln!(
            s,
            "virtual_server 203.0.113.{} {} {{\n    lb_algo rr\n    protocol TCP",
            v % 250,
            1000 + v
        )
        .unwrap();
        for r in 0..20 {
            writeln!(s, "    real_server 192.0.2.{r} 80 {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}").unwrap();
        }
        s.push_str("}\n");
    }
    let lines = s.lines().count();
    assert!(lines > 250_000, "{lines}");
    let out = parse_str("big.conf", &s, &opts());
    assert!(out.diagnostics.is_empty());
    assert_eq!(out.nodes.len(), 3000);
    assert_eq!(count(&out.nodes, "real_server"), 40_000);
    let last = out.nodes.last().unwrap();
    assert_eq!(lc(last), ((9000 + 1999 * 124 + 1) as u32, 1));
}
