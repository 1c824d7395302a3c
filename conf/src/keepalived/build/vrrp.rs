//! `vrrp_script`, `track_file`, `vrrp_track_process`, `bfd_instance`,
//! `vrrp_sync_group`, `vrrp_instance`.

use std::time::Duration;

use super::{mark, origin_of, Builder};
use crate::keepalived::tree::Node;
use crate::model::{
    AuthType, Authentication, BfdInstance, InitFile, Notify, Origin, ParamMatch, State, SyncGroup,
    TrackFile, TrackProcess, TrackedInterface, TrackedRef, UnicastPeer, Vmac, VrrpInstance,
    VrrpScript,
};

/// Keywords keepalived has in a vrrp_instance that vrrpd does not act on.
const INSTANCE_UNSUPPORTED: &[&str] = &[
    "track_bfd_legacy",
    "garp_extra_if_vmac",
    "lvs_sync_daemon_interface",
    "notify_fifo",
];

impl Builder<'_> {
    /// The NAME of `block NAME { ... }`, or an error.
    fn block_name(&mut self, n: &Node) -> Option<String> {
        if n.args.len() != 1 {
            let loc = n
                .args
                .get(1)
                .map(|a| a.loc.clone())
                .unwrap_or_else(|| n.loc.clone());
            self.err(
                &loc,
                &n.keyword,
                format!("expected 1 argument (a name), found {}", n.args.len()),
            );
            return None;
        }
        Some(n.args[0].text.as_str().to_owned())
    }

    pub(super) fn vrrp_script(&mut self, n: &Node) {
        let (Some(name), Some(children)) = (self.block_name(n), self.block(n)) else {
            return;
        };
        let mut s = VrrpScript {
            name,
            origin: origin_of(n),
            ..VrrpScript::default()
        };
        let ctx = "vrrp_script";
        let max = Duration::from_secs(86_400 * 365);
        for c in children {
            let ok = match c.keyword.as_str() {
                "script" => {
                    // An unquoted script with arguments is written as several words.
                    if self.nargs(c, 1, usize::MAX) {
                        s.script = c
                            .args
                            .iter()
                            .map(|a| a.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ");
                        true
                    } else {
                        false
                    }
                }
                "interval" => self
                    .secs(c, Duration::from_micros(1), max)
                    .map(|v| s.interval = v)
                    .is_some(),
                "timeout" => self
                    .secs(c, Duration::ZERO, max)
                    .map(|v| s.timeout = v)
                    .is_some(),
                "weight" => {
                    if self.nargs(c, 1, 2) {
                        let w = self.int_text("weight", &c.args[0], -253i32, 253);
                        if let Some(w) = w {
                            s.weight = w;
                        }
                        match c.args.get(1).map(|a| a.text.as_str()) {
                            Some("reverse") => s.weight_reverse = true,
                            Some("noreverse") | Some("no_reverse") | None => {}
                            Some(o) => self.err(
                                &c.args[1].loc,
                                "weight",
                                format!("expected `reverse`, found `{o}`"),
                            ),
                        }
                        w.is_some()
                    } else {
                        false
                    }
                }
                "rise" => self.int(c, 1u32, u32::MAX).map(|v| s.rise = v).is_some(),
                "fall" => self.int(c, 1u32, u32::MAX).map(|v| s.fall = v).is_some(),
                "user" => {
                    if self.nargs(c, 1, 2) {
                        s.user = Some(c.args[0].text.as_str().to_owned());
                        s.group = c.args.get(1).map(|a| a.text.as_str().to_owned());
                        true
                    } else {
                        false
                    }
                }
                "init_fail" => self.flag(c).then(|| s.init_fail = true).is_some(),
                _ => {
                    self.unknown(c, ctx);
                    false
                }
            };
            if ok {
                mark(&mut s.origin, c);
            }
        }
        if s.script.is_empty() {
            // keepalived: "No script set for vrrp_script NAME - removing";
            // the config still loads (its sample conditional_conf hits this
            // when neither `@high` nor `@low` applies).
            self.warn(
                &n.loc,
                "vrrp_script",
                format!("vrrp_script `{}` has no `script`, removed", s.name),
            );
            return;
        }
        self.cfg.vrrp_scripts.push(s);
    }

    pub(super) fn track_file(&mut self, n: &Node) {
        let (Some(name), Some(children)) = (self.block_name(n), self.block(n)) else {
            return;
        };
        let mut t = TrackFile {
            name,
            origin: origin_of(n),
            ..TrackFile::default()
        };
        for c in children {
            let ok = match c.keyword.as_str() {
                "file" => self.string(c).map(|v| t.file = v).is_some(),
                "weight" => {
                    if self.nargs(c, 1, 2) {
                        let w =
                            self.int_text("weight", &c.args[0], -2_147_483_647i64, 2_147_483_647);
                        if let Some(w) = w {
                            t.weight = w;
                        }
                        t.weight_reverse =
                            c.args.get(1).map(|a| a.text == "reverse").unwrap_or(false);
                        w.is_some()
                    } else {
                        false
                    }
                }
                "init_file" => {
                    if self.nargs(c, 0, 2) {
                        let mut f = InitFile {
                            value: 0,
                            overwrite: false,
                        };
                        let mut good = true;
                        for a in &c.args {
                            if a.text == "overwrite" {
                                f.overwrite = true;
                            } else {
                                match self.int_text(
                                    "init_file",
                                    a,
                                    i64::from(i32::MIN),
                                    i64::from(i32::MAX),
                                ) {
                                    Some(v) => f.value = v,
                                    None => good = false,
                                }
                            }
                        }
                        t.init_file = Some(f);
                        good
                    } else {
                        false
                    }
                }
                _ => {
                    self.unknown(c, "track_file");
                    false
                }
            };
            if ok {
                mark(&mut t.origin, c);
            }
        }
        self.cfg.track_files.push(t);
    }

    pub(super) fn track_process(&mut self, n: &Node) {
        let (Some(name), Some(children)) = (self.block_name(n), self.block(n)) else {
            return;
        };
        let mut t = TrackProcess {
            name,
            origin: origin_of(n),
            ..TrackProcess::default()
        };
        let max = Duration::from_secs(86_400);
        for c in children {
            let ok = match c.keyword.as_str() {
                "process" => {
                    if self.nargs(c, 1, usize::MAX) {
                        t.process = c.args[0].text.as_str().to_owned();
                        t.params = c.args[1..]
                            .iter()
                            .map(|a| a.text.as_str().to_owned())
                            .collect();
                        true
                    } else {
                        false
                    }
                }
                "param_match" if c.args.is_empty() => {
                    // `param_match` alone: parameters must match exactly.
                    t.param_match = Some(ParamMatch::Exact);
                    true
                }
                "param_match" => match self.string(c).as_deref() {
                    Some("initial") => {
                        t.param_match = Some(ParamMatch::Initial);
                        true
                    }
                    Some("partial") => {
                        t.param_match = Some(ParamMatch::Partial);
                        true
                    }
                    Some(o) => {
                        self.err(
                            &c.args[0].loc,
                            "param_match",
                            format!("expected initial|partial, found `{o}`"),
                        );
                        false
                    }
                    None => false,
                },
                "weight" => {
                    if self.nargs(c, 1, 2) {
                        let w = self.int_text("weight", &c.args[0], -254i32, 254);
                        if let Some(w) = w {
                            t.weight = w;
                        }
                        t.weight_reverse =
                            c.args.get(1).map(|a| a.text == "reverse").unwrap_or(false);
                        w.is_some()
                    } else {
                        false
                    }
                }
                "quorum" => self.int(c, 0u32, 65535).map(|v| t.quorum = v).is_some(),
                "quorum_max" => self
                    .int(c, 0u32, 65535)
                    .map(|v| t.quorum_max = Some(v))
                    .is_some(),
                "fork_delay" => self
                    .secs(c, Duration::ZERO, max)
                    .map(|v| t.fork_delay = v)
                    .is_some(),
                "terminate_delay" => self
                    .secs(c, Duration::ZERO, max)
                    .map(|v| t.terminate_delay = v)
                    .is_some(),
                "delay" => self
                    .secs(c, Duration::ZERO, max)
                    .map(|v| {
                        t.fork_delay = v;
                        t.terminate_delay = v;
                    })
                    .is_some(),
                "full_command" => self.flag(c).then(|| t.full_command = true).is_some(),
                _ => {
                    self.unknown(c, "vrrp_track_process");
                    false
                }
            };
            if ok {
                mark(&mut t.origin, c);
            }
        }
        self.cfg.track_processes.push(t);
    }

    pub(super) fn bfd_instance(&mut self, n: &Node) {
        let (Some(name), Some(children)) = (self.block_name(n), self.block(n)) else {
            return;
        };
        let mut b = BfdInstance {
            name,
            origin: origin_of(n),
            ..BfdInstance::default()
        };
        let ms = |v: Duration| v / 1000;
        for c in children {
            let ok = match c.keyword.as_str() {
                "neighbor_ip" | "neighbour_ip" => {
                    self.ip(c).map(|v| b.neighbor_ip = Some(v)).is_some()
                }
                "source_ip" => self.ip(c).map(|v| b.source_ip = Some(v)).is_some(),
                // Written in milliseconds with microsecond resolution.
                "min_rx" => self
                    .secs(c, Duration::from_secs(1), Duration::from_secs(4_294_967))
                    .map(|v| b.min_rx = ms(v))
                    .is_some(),
                "min_tx" => self
                    .secs(c, Duration::from_secs(1), Duration::from_secs(4_294_967))
                    .map(|v| b.min_tx = ms(v))
                    .is_some(),
                "idle_tx" => self
                    .secs(c, Duration::from_secs(1), Duration::from_secs(4_294_967))
                    .map(|v| b.idle_tx = ms(v))
                    .is_some(),
                "multiplier" => self.int(c, 1u8, 255).map(|v| b.multiplier = v).is_some(),
                "passive" => self.flag(c).then(|| b.passive = true).is_some(),
                "ttl" => self.int(c, 1u8, 255).map(|v| b.ttl = v).is_some(),
                "hoplimit" => self.int(c, 1u8, 255).map(|v| b.hoplimit = v).is_some(),
                "max_hops" => self.int(c, 0u8, 255).map(|v| b.max_hops = v).is_some(),
                "weight" => {
                    if self.nargs(c, 1, 2) {
                        let w = self.int_text("weight", &c.args[0], -253i32, 253);
                        if let Some(w) = w {
                            b.weight = w;
                        }
                        b.weight_reverse =
                            c.args.get(1).map(|a| a.text == "reverse").unwrap_or(false);
                        w.is_some()
                    } else {
                        false
                    }
                }
                "vrrp" | "checker" => {
                    self.unsupported(c, "bfd_instance");
                    false
                }
                _ => {
                    self.unknown(c, "bfd_instance");
                    false
                }
            };
            if ok {
                mark(&mut b.origin, c);
            }
        }
        self.cfg.bfd_instances.push(b);
    }

    /// A `track_interface { IF [weight N [reverse]] ... }` block.
    fn tracked_interfaces(&mut self, n: &Node) -> Vec<TrackedInterface> {
        let Some(lines) = self.block(n) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for l in lines {
            let (w, r) = self.weight_opts(l, &l.args, -253, 253);
            out.push(TrackedInterface {
                name: l.keyword.as_str().to_owned(),
                weight: w.unwrap_or(0),
                reverse: r,
                origin: Origin::at(l.loc.clone()),
            });
        }
        out
    }

    /// A `track_script|track_file|track_process|track_bfd { NAME [weight N [reverse]] }` block.
    fn tracked_refs(&mut self, n: &Node, min: i32, max: i32) -> Vec<TrackedRef> {
        let Some(lines) = self.block(n) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for l in lines {
            let (w, r) = self.weight_opts(l, &l.args, min, max);
            out.push(TrackedRef {
                name: l.keyword.as_str().to_owned(),
                weight: w,
                reverse: r,
                origin: Origin::at(l.loc.clone()),
            });
        }
        out
    }

    /// track_* keywords shared by instances and sync groups; `None` if `c`
    /// is not one. keepalived's weight bounds: scripts and BFD ±253, files
    /// and processes ±254.
    fn track_kw(&mut self, c: &Node, t: TrackLists<'_>) -> Option<bool> {
        match c.keyword.as_str() {
            "track_interface" => {
                let l = self.tracked_interfaces(c);
                t.interface.extend(l);
            }
            "track_script" => {
                let l = self.tracked_refs(c, -253, 253);
                t.script.extend(l);
            }
            "track_file" => {
                let l = self.tracked_refs(c, -254, 254);
                t.file.extend(l);
            }
            "track_process" => {
                let l = self.tracked_refs(c, -254, 254);
                t.process.extend(l);
            }
            "track_bfd" => {
                let l = self.tracked_refs(c, -253, 253);
                t.bfd.extend(l);
            }
            "track_virtual_server" => {
                let l = self.tracked_refs(c, -254, 254);
                t.virtual_server.extend(l);
            }
            _ => return None,
        }
        Some(true)
    }

    /// notify_* keywords shared by instances and sync groups; `None` if `c`
    /// is not one of them.
    fn notify_kw(&mut self, c: &Node, notify: &mut Notify) -> Option<bool> {
        let slot = match c.keyword.as_str() {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify" => &mut notify.any,
            "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
            "notify_deleted" => {
                if !self.nargs(c, 0, 3) {
                    return Some(false);
                }
                notify.deleted = true;
                if !c.args.is_empty() {
                    notify.deleted_script = self.script(c);
                }
                return Some(true);
            }
            _ => return None,
        };
        let s = self.script(c);
        let ok = s.is_some();
        if s.is_some() {
            *slot = s;
        }
        Some(ok)
    }

    pub(super) fn sync_group(&mut self, n: &Node) {
        let (Some(name), Some(children)) = (self.block_name(n), self.block(n)) else {
            return;
        };
        let mut g = SyncGroup {
            name,
            origin: origin_of(n),
            ..SyncGroup::default()
        };
        let ctx = "vrrp_sync_group";
        for c in children {
            if let Some(ok) = self.notify_kw(c, &mut g.notify) {
                if ok {
                    mark(&mut g.origin, c);
                }
                continue;
            }
            let lists = TrackLists {
                interface: &mut g.track_interface,
                script: &mut g.track_script,
                file: &mut g.track_file,
                process: &mut g.track_process,
                bfd: &mut g.track_bfd,
                virtual_server: &mut g.track_virtual_server,
            };
            if let Some(ok) = self.track_kw(c, lists) {
                if ok {
                    mark(&mut g.origin, c);
                }
                continue;
            }
            let ok = match c.keyword.as_str() {
                "group" => {
                    if let Some(lines) = self.block(c) {
                        for l in lines {
                            g.group.push(l.keyword.as_str().to_owned());
                            g.member_origins.push(Origin::at(l.loc.clone()));
                            for a in &l.args {
                                g.group.push(a.text.as_str().to_owned());
                                g.member_origins.push(Origin::at(a.loc.clone()));
                            }
                        }
                        true
                    } else {
                        false
                    }
                }
                "notify_priority_changes" => self
                    .bool_opt(c)
                    .map(|v| g.notify_priority_changes = v)
                    .is_some(),
                "smtp_alert" => self.bool_opt(c).map(|v| g.smtp_alert = Some(v)).is_some(),
                "global_tracking" => {
                    self.warn(
                        &c.loc,
                        &c.keyword,
                        "`global_tracking` is deprecated (use track_* on the sync group)",
                    );
                    self.flag(c).then(|| g.global_tracking = true).is_some()
                }
                "sync_group_tracking_weight" => self
                    .flag(c)
                    .then(|| g.sync_group_tracking_weight = true)
                    .is_some(),
                "notify_fifo" => {
                    self.unsupported(c, ctx);
                    false
                }
                _ => {
                    self.unknown(c, ctx);
                    false
                }
            };
            if ok {
                mark(&mut g.origin, c);
            }
        }
        self.cfg.sync_groups.push(g);
    }

    pub(super) fn vrrp_instance(&mut self, n: &Node) {
        let (Some(name), Some(children)) = (self.block_name(n), self.block(n)) else {
            return;
        };
        let mut v = VrrpInstance {
            name,
            origin: origin_of(n),
            ..VrrpInstance::default()
        };
        for c in children {
            if let Some(ok) = self.notify_kw(c, &mut v.notify) {
                if ok {
                    mark(&mut v.origin, c);
                }
                continue;
            }
            let lists = TrackLists {
                interface: &mut v.track_interface,
                script: &mut v.track_script,
                file: &mut v.track_file,
                process: &mut v.track_process,
                bfd: &mut v.track_bfd,
                virtual_server: &mut v.track_virtual_server,
            };
            if let Some(ok) = self.track_kw(c, lists) {
                if ok {
                    mark(&mut v.origin, c);
                }
                continue;
            }
            if self.instance_kw(c, &mut v) {
                mark(&mut v.origin, c);
            }
        }

        self.cfg.vrrp_instances.push(v);
    }

    fn instance_kw(&mut self, c: &Node, v: &mut VrrpInstance) -> bool {
        let ctx = "vrrp_instance";
        let kw = c.keyword.as_str();
        let day = Duration::from_secs(86_400);
        match kw {
            "state" => match self.string(c).as_deref() {
                Some("MASTER") => {
                    v.state = State::Master;
                    true
                }
                Some("BACKUP") => {
                    v.state = State::Backup;
                    true
                }
                Some(o) => {
                    self.err(
                        &c.args[0].loc,
                        kw,
                        format!("expected MASTER or BACKUP, found `{o}`"),
                    );
                    false
                }
                None => false,
            },
            "interface" => self.string(c).map(|s| v.interface = Some(s)).is_some(),
            "virtual_router_id" => self
                .int(c, 1u8, 255)
                .map(|x| v.virtual_router_id = x)
                .is_some(),
            "priority" => self.int(c, 1u8, 255).map(|x| v.priority = x).is_some(),
            // keepalived reads 0.01..255 s here and checks the range per
            // version once the instance is complete (see validate).
            "advert_int" => self
                .secs(c, Duration::from_millis(10), Duration::from_secs(255))
                .map(|x| v.advert_int = x)
                .is_some(),
            "version" => self.int(c, 2u8, 3).map(|x| v.version = x).is_some(),
            "nopreempt" | "no_preempt" => self.flag(c).then(|| v.preempt = false).is_some(),
            "preempt" => self.flag(c).then(|| v.preempt = true).is_some(),
            "preempt_delay" => self
                .secs(c, Duration::ZERO, Duration::from_secs(1000))
                .map(|x| v.preempt_delay = x)
                .is_some(),
            "accept" => self.flag(c).then(|| v.accept = true).is_some(),
            "no_accept" => self.flag(c).then(|| v.accept = false).is_some(),
            "strict_mode" => self.bool_opt(c).map(|x| v.strict_mode = x).is_some(),
            "mcast_src_ip" => self.ip(c).map(|x| v.mcast_src_ip = Some(x)).is_some(),
            "unicast_src_ip" => self.ip(c).map(|x| v.unicast_src_ip = Some(x)).is_some(),
            "mcast_dst_ip" => {
                let ip = self.ip(c);
                match ip {
                    Some(ip) if ip.is_multicast() => {
                        v.mcast_dst_ip = Some(ip);
                        true
                    }
                    Some(_) => {
                        self.err(
                            &c.args[0].loc,
                            kw,
                            format!("expected a multicast address, found `{}`", c.args[0].text),
                        );
                        false
                    }
                    None => false,
                }
            }
            "unicast_peer" => {
                let Some(lines) = self.block(c) else {
                    return false;
                };
                for l in lines {
                    if let Some(p) = self.unicast_peer(l) {
                        v.unicast_peer.push(p);
                    }
                }
                true
            }
            "unicast_ttl" => self
                .int(c, 0u8, 255)
                .map(|x| v.unicast_ttl = Some(x))
                .is_some(),
            "unicast_fault_no_peer" => self
                .flag(c)
                .then(|| v.unicast_fault_no_peer = true)
                .is_some(),
            "check_unicast_src" => self.flag(c).then(|| v.check_unicast_src = true).is_some(),
            "track_src_ip" => self.flag(c).then(|| v.track_src_ip = true).is_some(),
            "authentication" => {
                let a = self.authentication(c);
                let ok = a.is_some();
                v.authentication = a.or(v.authentication.take());
                ok
            }
            "virtual_ipaddress" => {
                let Some(lines) = self.block(c) else {
                    return false;
                };
                let list = self.address_list(lines, "virtual_ipaddress");
                v.virtual_ipaddress.extend(list);
                true
            }
            "virtual_ipaddress_excluded" => {
                let Some(lines) = self.block(c) else {
                    return false;
                };
                let list = self.address_list(lines, "virtual_ipaddress_excluded");
                v.virtual_ipaddress_excluded.extend(list);
                true
            }
            "virtual_routes" => {
                let Some(lines) = self.block(c) else {
                    return false;
                };
                let list = self.route_list(lines, "virtual_routes");
                v.virtual_routes.extend(list);
                true
            }
            "virtual_rules" => {
                let Some(lines) = self.block(c) else {
                    return false;
                };
                let list = self.rule_list(lines, "virtual_rules");
                v.virtual_rules.extend(list);
                true
            }
            "dont_track_primary" => self.flag(c).then(|| v.dont_track_primary = true).is_some(),
            "notify_priority_changes" => self
                .bool_opt(c)
                .map(|x| v.notify_priority_changes = x)
                .is_some(),
            "smtp_alert" => self.bool_opt(c).map(|x| v.smtp_alert = Some(x)).is_some(),
            "use_vmac" => {
                if !self.nargs(c, 0, 2) {
                    return false;
                }
                let mut vm = Vmac::default();
                for a in &c.args {
                    // A MAC has colons; anything else is the interface name.
                    if a.text.contains(':') {
                        vm.mac = Some(a.text.as_str().to_owned());
                    } else {
                        vm.interface = Some(a.text.as_str().to_owned());
                    }
                }
                v.use_vmac = Some(vm);
                true
            }
            "use_vmac_addr" => self.flag(c).then(|| v.use_vmac_addr = true).is_some(),
            "vmac_xmit_base" => self.flag(c).then(|| v.vmac_xmit_base = true).is_some(),
            "native_ipv6" => self.flag(c).then(|| v.native_ipv6 = true).is_some(),
            "promote_secondaries" => self.flag(c).then(|| v.promote_secondaries = true).is_some(),
            "garp_master_delay" => self
                .secs(c, Duration::ZERO, day)
                .map(|x| v.garp_master_delay = x)
                .is_some(),
            "garp_master_repeat" => self
                .int(c, 0u32, 1_000_000)
                .map(|x| v.garp_master_repeat = x)
                .is_some(),
            "garp_lower_prio_delay" => self
                .secs(c, Duration::ZERO, day)
                .map(|x| v.garp_lower_prio_delay = x)
                .is_some(),
            "garp_lower_prio_repeat" => self
                .int(c, 0u32, 1_000_000)
                .map(|x| v.garp_lower_prio_repeat = x)
                .is_some(),
            "garp_master_refresh" => self
                .secs(c, Duration::ZERO, day)
                .map(|x| v.garp_master_refresh = x)
                .is_some(),
            "garp_master_refresh_repeat" => self
                .int(c, 1u32, 1_000_000)
                .map(|x| v.garp_master_refresh_repeat = x)
                .is_some(),
            "down_timer_adverts" => self
                .int(c, 1u32, 100)
                .map(|x| v.down_timer_adverts = x)
                .is_some(),
            "lower_prio_no_advert" => self
                .bool_opt(c)
                .map(|x| v.lower_prio_no_advert = x)
                .is_some(),
            "higher_prio_send_advert" => self
                .bool_opt(c)
                .map(|x| v.higher_prio_send_advert = x)
                .is_some(),
            "skip_check_adv_addr" => self
                .bool_opt(c)
                .map(|x| v.skip_check_adv_addr = x)
                .is_some(),
            "debug" => {
                if !self.nargs(c, 0, 1) {
                    return false;
                }
                match c.args.first() {
                    Some(a) => self.int_text(kw, a, 0u8, 4).map(|x| v.debug = x).is_some(),
                    None => true,
                }
            }
            "kernel_rx_buf_size" => self
                .int(c, 0u32, u32::MAX)
                .map(|x| v.kernel_rx_buf_size = Some(x))
                .is_some(),
            "vrf" => self.string(c).map(|x| v.vrf = Some(x)).is_some(),
            "use_ipvlan" => {
                if !self.nargs(c, 0, 3) {
                    return false;
                }
                let mut ip = crate::model::Ipvlan::default();
                for a in &c.args {
                    match a.text.as_str() {
                        m @ ("bridge" | "private" | "vepa") => ip.mode = Some(m.to_owned()),
                        t => {
                            match super::parse_net(t) {
                                Some(n) => ip.address = Some(n),
                                None if ip.interface.is_none() => ip.interface = Some(t.to_owned()),
                                None => {
                                    self.err(&a.loc, kw, format!("expected an address or bridge|private|vepa, found `{t}`"));
                                    return false;
                                }
                            }
                        }
                    }
                }
                v.use_ipvlan = Some(ip);
                true
            }
            "garp_extra_if" => {
                if !self.nargs(c, 1, 2) {
                    return false;
                }
                let all = c.args.len() == 2;
                if all && c.args[0].text != "all" {
                    self.err(
                        &c.args[0].loc,
                        kw,
                        format!(
                            "expected `all` or a number of seconds, found `{}`",
                            c.args[0].text
                        ),
                    );
                    return false;
                }
                let secs = self.secs_text(
                    kw,
                    &c.args[c.args.len() - 1],
                    Duration::ZERO,
                    Duration::from_secs(86_400),
                );
                secs.map(|interval| {
                    v.garp_extra_if = Some(crate::model::GarpExtraIf { all, interval })
                })
                .is_some()
            }
            "old_unicast_checksum" => {
                if !self.nargs(c, 0, 1) {
                    return false;
                }
                match c.args.first().map(|a| a.text.as_str()) {
                    None => {
                        v.old_unicast_checksum = Some(false);
                        true
                    }
                    Some("never") => {
                        v.old_unicast_checksum = Some(true);
                        true
                    }
                    Some(o) => {
                        self.err(&c.args[0].loc, kw, format!("expected `never`, found `{o}`"));
                        false
                    }
                }
            }
            "linkbeat_use_polling" => {
                self.warn(
                    &c.loc,
                    kw,
                    "`linkbeat_use_polling` is deprecated (use linkbeat_interfaces)",
                );
                self.flag(c)
                    .then(|| v.linkbeat_use_polling = true)
                    .is_some()
            }
            _ if INSTANCE_UNSUPPORTED.contains(&kw) => {
                self.unsupported(c, ctx);
                false
            }
            _ => {
                self.unknown(c, ctx);
                false
            }
        }
    }

    /// `ADDR [min_ttl N] [max_ttl N]`.
    fn unicast_peer(&mut self, l: &Node) -> Option<UnicastPeer> {
        let ip = match l.keyword.parse() {
            Ok(ip) => ip,
            Err(_) => {
                self.err(
                    &l.loc,
                    "unicast_peer",
                    format!("expected an IP address, found `{}`", l.keyword),
                );
                return None;
            }
        };
        let mut p = UnicastPeer {
            address: ip,
            min_ttl: None,
            max_ttl: None,
            origin: Origin::at(l.loc.clone()),
        };
        let mut i = 0;
        let mut ok = true;
        while i < l.args.len() {
            let a = &l.args[i];
            match (a.text.as_str(), l.args.get(i + 1)) {
                ("min_ttl", Some(v)) => p.min_ttl = self.int_text("min_ttl", v, 0u8, 255),
                ("max_ttl", Some(v)) => p.max_ttl = self.int_text("max_ttl", v, 0u8, 255),
                (o, _) => {
                    self.err(
                        &a.loc,
                        "unicast_peer",
                        format!("expected `min_ttl N` or `max_ttl N`, found `{o}`"),
                    );
                    ok = false;
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        ok.then_some(p)
    }

    fn authentication(&mut self, c: &Node) -> Option<Authentication> {
        let lines = self.block(c)?;
        let mut ty = None;
        let mut pass = None;
        for l in lines {
            match l.keyword.as_str() {
                "auth_type" => match self.string(l).as_deref() {
                    Some("PASS") => ty = Some(AuthType::Pass),
                    Some("AH") => ty = Some(AuthType::Ah),
                    Some(o) => self.err(
                        &l.args[0].loc,
                        "auth_type",
                        format!("expected PASS or AH, found `{o}`"),
                    ),
                    None => {}
                },
                "auth_pass" => {
                    if let Some(p) = self.string(l) {
                        if p.len() > 8 {
                            self.warn(
                                &l.args[0].loc,
                                "auth_pass",
                                "password longer than 8 characters, only the first 8 are used",
                            );
                        }
                        pass = Some(p);
                    }
                }
                _ => self.unknown(l, "authentication"),
            }
        }
        match (ty, pass) {
            (Some(auth_type), Some(auth_pass)) => Some(Authentication {
                auth_type,
                auth_pass,
            }),
            (Some(_), None) => {
                self.err(
                    &c.loc,
                    "authentication",
                    "expected `auth_pass` in authentication block",
                );
                None
            }
            (None, Some(auth_pass)) => Some(Authentication {
                auth_type: AuthType::Pass,
                auth_pass,
            }),
            (None, None) => {
                self.err(
                    &c.loc,
                    "authentication",
                    "expected `auth_type` and `auth_pass` in authentication block",
                );
                None
            }
        }
    }
}

/// The track_* lists a vrrp_instance and a vrrp_sync_group both have.
struct TrackLists<'a> {
    interface: &'a mut Vec<TrackedInterface>,
    script: &'a mut Vec<TrackedRef>,
    file: &'a mut Vec<TrackedRef>,
    process: &'a mut Vec<TrackedRef>,
    bfd: &'a mut Vec<TrackedRef>,
    virtual_server: &'a mut Vec<TrackedRef>,
}
