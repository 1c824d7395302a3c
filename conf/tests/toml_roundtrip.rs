#![allow(clippy::unwrap_used)]
//! keepalived.conf → model → TOML → model gives the same model, for every
//! sample; TOML errors carry line:col.

use std::path::PathBuf;

use conf::{from_toml_str, load_keepalived_file, to_toml_string, ParseOptions};

fn samples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/work/shared/testdata/keepalived-samples")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("keepalived.conf")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_sample_round_trips_through_toml() {
    for f in samples() {
        let l = load_keepalived_file(&f, &ParseOptions::default());
        assert!(!l.diagnostics.has_errors(), "{}", l.diagnostics);
        let text = to_toml_string(&l.config);
        let (back, diags) = from_toml_str("roundtrip.toml", &text);
        let back = back.unwrap_or_else(|| panic!("{}: {diags}\n{text}", f.display()));
        assert!(!diags.has_errors(), "{}: {diags}\n{text}", f.display());
        assert_eq!(back, l.config, "{}:\n{text}", f.display());
    }
}

#[test]
fn example_toml_loads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("example.toml");
    let l = conf::load_file(&path, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    let c = &l.config;
    let vi = c.vrrp_instance("VI_1").unwrap();
    assert_eq!(vi.virtual_router_id, 51);
    assert_eq!(vi.priority, 150);
    assert_eq!(vi.advert_int, std::time::Duration::from_millis(500));
    assert_eq!(vi.version, 3);
    // Not written in the file: inherited from [global_defs].
    assert_eq!(vi.garp_master_delay, std::time::Duration::from_secs(2));
    let vs = &c.virtual_servers[0];
    let ck = &vs.real_servers[0].checkers[0];
    // Written on the virtual server only.
    assert_eq!(ck.delay_loop, std::time::Duration::from_secs(10));
    assert_eq!(ck.kind, conf::model::CheckerKind::HttpGet);
    assert_eq!(ck.url[0].status_code[0].start, 200);
}

#[test]
fn toml_type_error_has_line_and_column() {
    let text = "[global_defs]\nrouter_id = \"a\"\n\n[[vrrp_instance]]\nname = \"VI_1\"\nvirtual_router_id = \"fifty\"\n";
    let (c, d) = from_toml_str("bad.toml", text);
    assert!(c.is_none());
    let e = d.errors().next().unwrap();
    let loc = e.location.as_ref().unwrap();
    assert_eq!((loc.line, loc.col), (6, 21));
    assert!(e.message.contains("invalid type"), "{e}");
    assert_eq!(e.keyword.as_deref(), Some("virtual_router_id"));
    assert_eq!(
        e.source_line.as_deref(),
        Some("virtual_router_id = \"fifty\"")
    );
}

#[test]
fn toml_unknown_field_is_an_error() {
    let text = "[[vrrp_instance]]\nname = \"VI_1\"\nvirtual_router_id = 5\ninterface = \"eth0\"\npriorty = 100\n";
    let (c, d) = from_toml_str("bad.toml", text);
    assert!(c.is_none());
    let e = d.errors().next().unwrap();
    assert_eq!(e.location.as_ref().unwrap().line, 5);
    assert!(e.message.contains("unknown field `priorty`"), "{e}");
}

#[test]
fn toml_validation_errors_have_locations() {
    let text = "\
[[vrrp_instance]]
name = \"VI_1\"
interface = \"eth0\"
virtual_router_id = 7
advert_int = 1.5
virtual_ipaddress = [{ address = \"192.0.2.1/24\" }]
track_script = [{ name = \"nope\" }]
";
    let (c, d) = from_toml_str("v.toml", text);
    assert!(c.is_some());
    let e = d.errors().next().unwrap();
    assert_eq!(e.to_string().lines().next().unwrap(),
        "v.toml:5:1: error: 'advert_int': (VI_1) expected whole seconds 1-255 for VRRP version 2, found `1.5`");
    let w = d
        .warnings()
        .find(|w| w.keyword.as_deref() == Some("track_script"))
        .unwrap();
    assert_eq!(w.location.as_ref().unwrap().line, 7);
}

#[test]
fn toml_defaults_match_keepalived() {
    // A minimal instance in TOML gets the same effective values as in
    // keepalived.conf.
    let kc = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n state MASTER\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n";
    let l = conf::load_keepalived_str("k.conf", kc, &ParseOptions::default());
    assert!(l.is_ok(), "{}", l.diagnostics);
    let tc = "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 9\nstate = \"MASTER\"\nvirtual_ipaddress = [{ address = \"192.0.2.1/32\" }]\n";
    let (t, d) = from_toml_str("t.toml", tc);
    assert!(!d.has_errors(), "{d}");
    let t = t.unwrap();
    assert_eq!(t, l.config);
    // state MASTER without a priority: keepalived makes it the address owner.
    assert_eq!(t.vrrp_instances[0].priority, 255);
}
