//! Semantic checks shared by both front ends: ranges the types cannot
//! express, consistency inside an item, and references between items.
//!
//! Severity follows keepalived where it matters for safety: something
//! keepalived would refuse, or would silently "fix" in a way that changes
//! which addresses move, is an error; something keepalived ignores with a
//! log line (an unknown `track_script` name, an empty sync group) is a
//! warning.

use std::collections::HashMap;

use crate::keepalived::build::FnvBuild;
use std::net::IpAddr;
use std::time::Duration;

use crate::diag::{Diagnostic, Diagnostics, Location, SourceMap};
use crate::model::{CheckerKind, Config, LvsMethod, Origin, TrackedRef, VrrpInstance, VsgEntry};

/// Check `cfg`. `sources` fills in the source line of each diagnostic.
pub fn validate(cfg: &Config, sources: Option<&SourceMap>) -> Diagnostics {
    let mut v = V {
        d: Diagnostics::default(),
        sources,
    };
    v.global(cfg);
    v.names(cfg);
    for inst in &cfg.vrrp_instances {
        v.instance(cfg, inst);
    }
    v.vrids(cfg);
    v.sync_groups(cfg);
    v.virtual_servers(cfg);
    v.d
}

struct V<'s> {
    d: Diagnostics,
    sources: Option<&'s SourceMap>,
}

impl V<'_> {
    fn push(&mut self, d: Diagnostic) {
        let d = match self.sources {
            Some(s) => s.annotate(d),
            None => d,
        };
        self.d.push(d);
    }

    fn err(&mut self, loc: Option<&Location>, kw: &str, msg: impl Into<String>) {
        self.push(Diagnostic::error(loc.cloned(), Some(kw), msg));
    }

    fn warn(&mut self, loc: Option<&Location>, kw: &str, msg: impl Into<String>) {
        self.push(Diagnostic::warning(loc.cloned(), Some(kw), msg));
    }

    fn global(&mut self, cfg: &Config) {
        let g = &cfg.global_defs;
        if !(2..=3).contains(&g.vrrp_version) {
            self.err(
                g.origin.key("vrrp_version"),
                "vrrp_version",
                format!("expected 2 or 3, found `{}`", g.vrrp_version),
            );
        }
        // The TOML front end reaches here unchecked (the keepalived one
        // refused a bad name where it was written).
        if let Some(t) = &g.nftables {
            if t.is_empty() || t.len() > crate::model::NFTABLES_TABLE_MAX_LEN || t.contains('\0') {
                self.err(
                    g.origin.key("nftables"),
                    "nftables",
                    format!(
                        "expected a table name of 1-{} bytes without NUL, found `{}`",
                        crate::model::NFTABLES_TABLE_MAX_LEN,
                        t.escape_default()
                    ),
                );
            }
        }
        if let Some(l) = &g.lvs_sync_daemon {
            if let Some(name) = &l.vrrp_instance {
                if cfg.vrrp_instance(name).is_none() {
                    self.warn(
                        g.origin.key("lvs_sync_daemon"),
                        "lvs_sync_daemon",
                        format!("vrrp_instance `{name}` is not defined"),
                    );
                }
            }
        }
    }

    /// Empty and duplicate names of every named kind.
    fn names(&mut self, cfg: &Config) {
        let kinds: [(&str, Vec<(&str, &Origin)>); 7] = [
            (
                "vrrp_instance",
                cfg.vrrp_instances
                    .iter()
                    .map(|x| (x.name.as_str(), &x.origin))
                    .collect(),
            ),
            (
                "vrrp_script",
                cfg.vrrp_scripts
                    .iter()
                    .map(|x| (x.name.as_str(), &x.origin))
                    .collect(),
            ),
            (
                "vrrp_sync_group",
                cfg.sync_groups
                    .iter()
                    .map(|x| (x.name.as_str(), &x.origin))
                    .collect(),
            ),
            (
                "track_file",
                cfg.track_files
                    .iter()
                    .map(|x| (x.name.as_str(), &x.origin))
                    .collect(),
            ),
            (
                "vrrp_track_process",
                cfg.track_processes
                    .iter()
                    .map(|x| (x.name.as_str(), &x.origin))
                    .collect(),
            ),
            (
                "bfd_instance",
                cfg.bfd_instances
                    .iter()
                    .map(|x| (x.name.as_str(), &x.origin))
                    .collect(),
            ),
            (
                "virtual_server_group",
                cfg.virtual_server_groups
                    .iter()
                    .map(|x| (x.name.as_str(), &x.origin))
                    .collect(),
            ),
        ];
        for (kind, items) in kinds {
            let mut seen: HashMap<&str, &Origin> = HashMap::new();
            for (name, origin) in items {
                if name.is_empty() {
                    self.err(origin.at.as_ref(), kind, format!("{kind} without a name"));
                    continue;
                }
                match seen.get(name) {
                    Some(first) => {
                        let first_at = first
                            .at
                            .as_ref()
                            .map(|l| format!(" (first defined at {l})"))
                            .unwrap_or_default();
                        self.err(
                            origin.at.as_ref(),
                            kind,
                            format!("duplicate {kind} `{name}`{first_at}"),
                        );
                    }
                    None => {
                        seen.insert(name, origin);
                    }
                }
            }
        }
        for s in &cfg.vrrp_scripts {
            if s.script.is_empty() {
                self.err(
                    s.origin.at.as_ref(),
                    "vrrp_script",
                    format!("vrrp_script `{}` has no `script`", s.name),
                );
            }
        }
        for t in &cfg.track_files {
            if t.file.is_empty() {
                self.err(
                    t.origin.at.as_ref(),
                    "track_file",
                    format!("track_file `{}` has no `file`", t.name),
                );
            }
        }
        for t in &cfg.track_processes {
            if t.process.is_empty() {
                self.err(
                    t.origin.at.as_ref(),
                    "vrrp_track_process",
                    format!("vrrp_track_process `{}` has no `process`", t.name),
                );
            }
        }
    }

    fn instance(&mut self, cfg: &Config, i: &VrrpInstance) {
        let o = &i.origin;
        let name = &i.name;
        if i.virtual_router_id == 0 {
            self.err(
                o.at.as_ref(),
                "virtual_router_id",
                format!("({name}) missing `virtual_router_id` (1-255)"),
            );
        }
        if i.priority == 0 {
            self.err(
                o.key("priority"),
                "priority",
                format!("({name}) expected a priority 1-255, found `0`"),
            );
        }
        if !(2..=3).contains(&i.version) {
            self.err(
                o.key("version"),
                "version",
                format!("({name}) expected version 2 or 3, found `{}`", i.version),
            );
        }
        self.advert_int(i);
        if i.interface.is_none() && i.unicast_peer.is_empty() {
            self.err(
                o.at.as_ref(),
                "interface",
                format!("({name}) missing `interface` (required unless unicast_peer is used)"),
            );
        }
        // RFC 5798 §5.2.9: all addresses of one virtual router are one
        // family; keepalived rejects a VIP of the other family.
        let v6 = i.is_ipv6();
        let fam = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
        let mut seen: HashMap<IpAddr, &Origin, FnvBuild> = HashMap::default();
        for a in &i.virtual_ipaddress {
            if a.is_ipv4() == v6 {
                self.err(
                    a.origin.at.as_ref(),
                    "virtual_ipaddress",
                    format!(
                        "({name}) address {} is {} but the instance is {}: every virtual_ipaddress must be the same family (use virtual_ipaddress_excluded for the other family)",
                        a.address, fam(!v6), fam(v6)
                    ),
                );
            }
            if let Some(first) = seen.insert(a.ip(), &a.origin) {
                let at = first
                    .at
                    .as_ref()
                    .map(|l| format!(" (also at {l})"))
                    .unwrap_or_default();
                self.warn(
                    a.origin.at.as_ref(),
                    "virtual_ipaddress",
                    format!("({name}) address {} listed twice{at}", a.ip()),
                );
            }
        }
        if i.virtual_ipaddress.is_empty() {
            if i.version == 3 || v6 || i.strict_mode {
                self.err(
                    o.at.as_ref(),
                    "virtual_ipaddress",
                    format!("({name}) no virtual_ipaddress; at least one is required"),
                );
            } else {
                self.warn(
                    o.at.as_ref(),
                    "virtual_ipaddress",
                    format!("({name}) no virtual_ipaddress; at least one is sensible"),
                );
            }
        }
        for p in &i.unicast_peer {
            if p.address.is_ipv4() == v6 {
                self.err(
                    p.origin.at.as_ref(),
                    "unicast_peer",
                    format!(
                        "({name}) unicast peer {} is {} but the instance is {}",
                        p.address,
                        fam(!v6),
                        fam(v6)
                    ),
                );
            }
            if let (Some(a), Some(b)) = (p.min_ttl, p.max_ttl) {
                if a > b {
                    self.err(
                        p.origin.at.as_ref(),
                        "unicast_peer",
                        format!("({name}) min_ttl {a} is above max_ttl {b}"),
                    );
                }
            }
        }
        for (kw, ip) in [
            ("unicast_src_ip", i.unicast_src_ip),
            ("mcast_src_ip", i.mcast_src_ip),
        ] {
            if let Some(ip) = ip {
                if ip.is_ipv4() == v6 {
                    self.err(
                        o.key(kw),
                        kw,
                        format!(
                            "({name}) {ip} is {} but the instance is {}",
                            fam(!v6),
                            fam(v6)
                        ),
                    );
                }
            }
        }
        if !i.unicast_peer.is_empty() {
            if let Some(ip) = i.unicast_src_ip {
                if i.unicast_peer.iter().any(|p| p.address == ip) {
                    self.warn(
                        o.key("unicast_src_ip"),
                        "unicast_src_ip",
                        format!("({name}) unicast_src_ip {ip} is also a unicast peer"),
                    );
                }
            }
            if i.use_vmac.is_some() && !i.vmac_xmit_base {
                self.warn(
                    o.key("use_vmac"),
                    "use_vmac",
                    format!("({name}) use_vmac with unicast peers needs vmac_xmit_base"),
                );
            }
        }
        if i.authentication.is_some() {
            if i.version == 3 {
                self.warn(
                    o.key("authentication"),
                    "authentication",
                    format!("({name}) authentication is not part of VRRPv3 (RFC 5798), ignored"),
                );
            } else if i.strict_mode {
                self.warn(
                    o.key("authentication"),
                    "authentication",
                    format!("({name}) strict mode does not allow authentication, ignored"),
                );
            }
        }
        if !i.preempt && i.state == crate::model::State::Master && o.has("state") {
            self.warn(
                o.key("nopreempt"),
                "nopreempt",
                format!("({name}) nopreempt does not work with initial state MASTER"),
            );
        }
        if !i.preempt_delay.is_zero() && i.state == crate::model::State::Master && o.has("state") {
            self.warn(
                o.key("preempt_delay"),
                "preempt_delay",
                format!("({name}) preempt_delay does not work with initial state MASTER"),
            );
        }
        // keepalived.conf(5) `priority`: an address owner's priority is not
        // changed by tracking, so weights there have no effect.
        if i.priority == 255 {
            let weighted = i.track_interface.iter().any(|t| t.weight != 0)
                || [
                    &i.track_script,
                    &i.track_file,
                    &i.track_process,
                    &i.track_bfd,
                ]
                .iter()
                .any(|l| l.iter().any(|t| t.weight.is_some_and(|w| w != 0)));
            if weighted {
                self.warn(
                    o.key("priority"),
                    "priority",
                    format!("({name}) priority 255 (address owner) is not changed by tracking; track weights have no effect"),
                );
            }
        }
        // keepalived logs and ignores a track entry naming nothing.
        let refs: [(&str, &Vec<TrackedRef>, Vec<&str>); 4] = [
            (
                "track_script",
                &i.track_script,
                cfg.vrrp_scripts.iter().map(|s| s.name.as_str()).collect(),
            ),
            (
                "track_file",
                &i.track_file,
                cfg.track_files.iter().map(|s| s.name.as_str()).collect(),
            ),
            (
                "track_process",
                &i.track_process,
                cfg.track_processes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect(),
            ),
            (
                "track_bfd",
                &i.track_bfd,
                cfg.bfd_instances.iter().map(|s| s.name.as_str()).collect(),
            ),
        ];
        for (kw, list, known) in refs {
            self.refs(name, kw, list, &known);
        }
        // Naming every virtual server costs a string each: only for the
        // instances that track one (this runs once per instance).
        if !i.track_virtual_server.is_empty() {
            let vs_names: Vec<String> = cfg.virtual_servers.iter().map(|v| v.describe()).collect();
            let vs_names: Vec<&str> = vs_names.iter().map(String::as_str).collect();
            self.refs(
                name,
                "track_virtual_server",
                &i.track_virtual_server,
                &vs_names,
            );
        }
    }

    fn refs(&mut self, owner: &str, kw: &str, list: &[TrackedRef], known: &[&str]) {
        let what = match kw {
            "track_script" => "vrrp_script",
            "track_process" => "vrrp_track_process",
            "track_bfd" => "bfd_instance",
            "track_virtual_server" => "virtual_server",
            _ => "track_file",
        };
        for r in list {
            if !known.contains(&r.name.as_str()) {
                self.warn(
                    r.origin.at.as_ref(),
                    kw,
                    format!("({owner}) {kw} `{}` names no {what}, ignored", r.name),
                );
            }
        }
    }

    /// RFC 3768 §5.3.7 (v2: whole seconds, 1-255) and RFC 5798 §5.2.7 (v3:
    /// 12 bits of centiseconds, 0.01-40.95).
    fn advert_int(&mut self, i: &VrrpInstance) {
        let us = i.advert_int.as_micros();
        let loc = i.origin.key("advert_int");
        let shown = crate::model::duration::to_secs_f64(i.advert_int);
        let bad = match i.version {
            2 => us % 1_000_000 != 0 || !(1..=255).contains(&(us / 1_000_000)),
            3 => us % 10_000 != 0 || !(1..=4095).contains(&(us / 10_000)),
            _ => false,
        };
        if bad {
            let expected = if i.version == 2 {
                "whole seconds 1-255 for VRRP version 2"
            } else {
                "0.01-40.95 seconds in steps of 0.01 for VRRP version 3"
            };
            self.err(
                loc,
                "advert_int",
                format!("({}) expected {expected}, found `{shown}`", i.name),
            );
        }
    }

    /// Two instances with one VRID on one interface and family collide on
    /// the wire (RFC 5798 §5.2.3), unless they use unicast.
    fn vrids(&mut self, cfg: &Config) {
        let mut seen: HashMap<(u8, &str, bool), &VrrpInstance> = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for i in &cfg.vrrp_instances {
            // A second instance of the same name is already an error.
            if !names.insert(i.name.as_str()) {
                continue;
            }
            if i.virtual_router_id == 0 || !i.unicast_peer.is_empty() || i.mcast_dst_ip.is_some() {
                continue;
            }
            let Some(ifname) = i.interface.as_deref() else {
                continue;
            };
            let key = (i.virtual_router_id, ifname, i.is_ipv6());
            if let Some(first) = seen.get(&key) {
                self.err(
                    i.origin.key("virtual_router_id"),
                    "virtual_router_id",
                    format!(
                        "({}) virtual_router_id {} on {} is already used by vrrp_instance `{}`",
                        i.name, i.virtual_router_id, ifname, first.name
                    ),
                );
            } else {
                seen.insert(key, i);
            }
        }
    }

    fn sync_groups(&mut self, cfg: &Config) {
        let mut owner: HashMap<&str, &str> = HashMap::new();
        let scripts: Vec<&str> = cfg.vrrp_scripts.iter().map(|s| s.name.as_str()).collect();
        let files: Vec<&str> = cfg.track_files.iter().map(|s| s.name.as_str()).collect();
        let procs: Vec<&str> = cfg
            .track_processes
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let bfds: Vec<&str> = cfg.bfd_instances.iter().map(|s| s.name.as_str()).collect();
        let vs_owned: Vec<String> = cfg.virtual_servers.iter().map(|v| v.describe()).collect();
        let vs_names: Vec<&str> = vs_owned.iter().map(String::as_str).collect();
        for g in &cfg.sync_groups {
            if g.group.is_empty() {
                self.warn(
                    g.origin.at.as_ref(),
                    "vrrp_sync_group",
                    format!(
                        "sync group `{}` has no members (`group {{ ... }}`), ignored",
                        g.name
                    ),
                );
            } else if g.group.len() == 1 {
                self.warn(
                    g.origin.at.as_ref(),
                    "vrrp_sync_group",
                    format!("sync group `{}` has only one member", g.name),
                );
            }
            for (idx, m) in g.group.iter().enumerate() {
                let loc = g
                    .member_origins
                    .get(idx)
                    .and_then(|o| o.at.as_ref())
                    .or(g.origin.at.as_ref());
                if cfg.vrrp_instance(m).is_none() {
                    self.err(
                        loc,
                        "group",
                        format!(
                            "sync group `{}` names vrrp_instance `{m}`, which is not defined",
                            g.name
                        ),
                    );
                    continue;
                }
                if let Some(other) = owner.insert(m, &g.name) {
                    self.err(
                        loc,
                        "group",
                        format!("vrrp_instance `{m}` is already in sync group `{other}`"),
                    );
                }
            }
            self.refs(&g.name, "track_script", &g.track_script, &scripts);
            self.refs(&g.name, "track_file", &g.track_file, &files);
            self.refs(&g.name, "track_process", &g.track_process, &procs);
            self.refs(&g.name, "track_bfd", &g.track_bfd, &bfds);
            self.refs(
                &g.name,
                "track_virtual_server",
                &g.track_virtual_server,
                &vs_names,
            );
        }
    }

    fn virtual_servers(&mut self, cfg: &Config) {
        let files: Vec<&str> = cfg.track_files.iter().map(|s| s.name.as_str()).collect();
        for vs in &cfg.virtual_servers {
            let loc = vs.origin.at.as_ref();
            let forms = [vs.ip.is_some(), vs.fwmark.is_some(), vs.group.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if forms != 1 {
                self.err(
                    loc,
                    "virtual_server",
                    "expected exactly one of an address, `fwmark N` or `group NAME`",
                );
                continue;
            }
            let desc = vs.describe();
            // The family real servers must have (unless tunnelled).
            let mut family: Option<bool> = vs.ip.map(|ip| ip.is_ipv4());
            if let Some(g) = &vs.group {
                match cfg.virtual_server_group(g) {
                    None => self.err(
                        loc,
                        "virtual_server",
                        format!("virtual_server_group `{g}` is not defined"),
                    ),
                    Some(vsg) => {
                        family = vsg.entries.iter().find_map(|e| match e {
                            VsgEntry::Range { ip, .. } => Some(ip.is_ipv4()),
                            VsgEntry::Fwmark { .. } => None,
                        });
                    }
                }
            }
            if vs.ip.is_some() && vs.port.is_none() && vs.persistence_timeout.is_none() {
                self.err(loc, "virtual_server", format!("virtual server {desc}: the port can only be omitted for a persistent service (persistence_timeout)"));
            }
            if vs.hysteresis >= vs.quorum && vs.origin.has("hysteresis") {
                self.warn(
                    vs.origin.key("hysteresis"),
                    "hysteresis",
                    format!(
                        "virtual server {desc}: hysteresis {} is not below quorum {}",
                        vs.hysteresis, vs.quorum
                    ),
                );
            }
            if vs.real_servers.is_empty() && vs.sorry_server.is_none() {
                self.warn(
                    loc,
                    "virtual_server",
                    format!("virtual server {desc} has no real_server"),
                );
            }
            let mut seen: HashMap<(IpAddr, Option<u16>), &Origin, FnvBuild> =
                HashMap::with_capacity_and_hasher(vs.real_servers.len(), FnvBuild::default());
            for rs in &vs.real_servers {
                let rloc = rs.origin.at.as_ref();
                if rs.lvs_method != LvsMethod::Tun {
                    if let Some(v4) = family {
                        if rs.ip.is_ipv4() != v4 {
                            self.err(rloc, "real_server", format!("virtual server {desc}: real server {} is not the same address family (only TUN real servers may differ)", rs.ip));
                        }
                    }
                }
                if seen.insert((rs.ip, rs.port), &rs.origin).is_some() {
                    self.err(
                        rloc,
                        "real_server",
                        format!("virtual server {desc}: real server {} listed twice", rs.ip),
                    );
                }
                for ck in &rs.checkers {
                    if ck.kind == CheckerKind::File {
                        if let Some(f) = &ck.track_file {
                            if !files.contains(&f.as_str()) {
                                self.warn(
                                    ck.origin.key("track_file"),
                                    "track_file",
                                    format!(
                                        "FILE_CHECK names track_file `{f}`, which is not defined"
                                    ),
                                );
                            }
                        }
                    }
                    if ck.kind == CheckerKind::Bfd {
                        if let Some(n) = &ck.name {
                            if !cfg.bfd_instances.iter().any(|b| &b.name == n) {
                                self.warn(
                                    ck.origin.key("name"),
                                    "name",
                                    format!(
                                        "BFD_CHECK names bfd_instance `{n}`, which is not defined"
                                    ),
                                );
                            }
                        }
                    }
                    if ck.connect_timeout == Duration::ZERO {
                        self.err(
                            ck.origin.key("connect_timeout"),
                            "connect_timeout",
                            "connect_timeout must be above 0",
                        );
                    }
                    if let (Some(a), Some(b)) = (ck.min_reply_length, ck.max_reply_length) {
                        if a > b {
                            self.err(
                                ck.origin.key("min_reply_length"),
                                "min_reply_length",
                                format!("min_reply_length {a} is above max_reply_length {b}"),
                            );
                        }
                    }
                }
            }
        }
    }
}
