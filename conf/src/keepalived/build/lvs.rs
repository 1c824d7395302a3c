//! `virtual_server_group`, `virtual_server`, `real_server` and checkers.

use std::net::IpAddr;
use std::time::Duration;

use super::{count, mark, origin_of, Builder};
use crate::keepalived::tree::{Arg, Node};
use crate::model::{
    CheckDefaults, CheckTarget, Checker, CheckerKind, DnsType, Family, LbSink, LvsMethod, Protocol,
    RealServer, Scheduler, SorryServer, StatusRange, Tunnel, TunnelChecksum, TunnelType, Url,
    VirtualServer, VirtualServerGroup, VsgEntry,
};

const TEN_YEARS: Duration = Duration::from_secs(315_360_000);
const SCHED_FLAGS: &[&str] = &[
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
];

/// `A.B.C.D-E`, `A-B` (two full addresses) or `A/nn` → first and last.
fn parse_range(text: &str) -> Option<(IpAddr, Option<IpAddr>)> {
    if let Some((ip, p)) = text.split_once('/') {
        let net = ipnetwork::IpNetwork::new(ip.parse().ok()?, p.parse().ok()?).ok()?;
        let first = net.network();
        let last = net.broadcast_or_last();
        return Some((first, (first != last).then_some(last)));
    }
    let Some((first, last)) = text.split_once('-') else {
        return Some((text.parse().ok()?, None));
    };
    let first: IpAddr = first.parse().ok()?;
    if let Ok(last) = last.parse::<IpAddr>() {
        return (last.is_ipv4() == first.is_ipv4() && last >= first).then_some((first, Some(last)));
    }
    let last = match first {
        IpAddr::V4(v4) => {
            let mut o = v4.octets();
            let end: u8 = last.parse().ok()?;
            if end < o[3] {
                return None;
            }
            o[3] = end;
            IpAddr::from(o)
        }
        IpAddr::V6(v6) => {
            let mut s = v6.segments();
            let end = u16::from_str_radix(last, 16).ok()?;
            if end < s[7] {
                return None;
            }
            s[7] = end;
            IpAddr::from(s)
        }
    };
    Some((first, Some(last)))
}

trait LastAddr {
    fn broadcast_or_last(&self) -> IpAddr;
}

impl LastAddr for ipnetwork::IpNetwork {
    fn broadcast_or_last(&self) -> IpAddr {
        match self {
            ipnetwork::IpNetwork::V4(n) => IpAddr::V4(n.broadcast()),
            ipnetwork::IpNetwork::V6(n) => {
                let host_bits = 128 - u32::from(n.prefix());
                let mask = if host_bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << host_bits) - 1
                };
                IpAddr::V6((u128::from(n.network()) | mask).into())
            }
        }
    }
}

impl Builder<'_> {
    pub(super) fn ssl(&mut self, n: &Node) {
        let Some(children) = self.block(n) else {
            return;
        };
        let mut ssl = self.cfg.ssl.take().unwrap_or_default();
        for c in children {
            let slot = match c.keyword.as_str() {
                "password" => &mut ssl.password,
                "ca" => &mut ssl.ca,
                "certificate" => &mut ssl.certificate,
                "key" => &mut ssl.key,
                _ => {
                    self.unknown(c, "SSL");
                    continue;
                }
            };
            if let Some(v) = self.string(c) {
                *slot = Some(v);
            }
        }
        self.cfg.ssl = Some(ssl);
    }

    pub(super) fn virtual_server_group(&mut self, n: &Node) {
        let Some(children) = self.block(n) else {
            return;
        };
        let name = match n.args.as_slice() {
            [a] => a.text.as_str().to_owned(),
            _ => {
                self.err(
                    &n.loc,
                    &n.keyword,
                    format!("expected 1 argument (a name), found {}", n.args.len()),
                );
                return;
            }
        };
        let mut g = VirtualServerGroup {
            name,
            entries: Vec::new(),
            origin: origin_of(n),
        };
        for l in children {
            if l.keyword == "fwmark" {
                if !self.nargs(l, 1, 2) {
                    continue;
                }
                let Some(mark) = self.int_text("fwmark", &l.args[0], 1u32, u32::MAX) else {
                    continue;
                };
                let family = match l.args.get(1).map(|a| a.text.as_str()) {
                    None => None,
                    Some("inet") => Some(Family::Inet),
                    Some("inet6") => Some(Family::Inet6),
                    Some(o) => {
                        self.err(
                            &l.args[1].loc,
                            "fwmark",
                            format!("expected inet or inet6, found `{o}`"),
                        );
                        continue;
                    }
                };
                g.entries.push(VsgEntry::Fwmark {
                    fwmark: mark,
                    family,
                });
                continue;
            }
            if l.args.len() > 1 {
                self.err(
                    &l.args[1].loc,
                    "virtual_server_group",
                    format!(
                        "expected `ADDR[-RANGE] [PORT]`, found {} words",
                        l.args.len() + 1
                    ),
                );
                continue;
            }
            let Some((ip, last_ip)) = parse_range(&l.keyword) else {
                self.err(
                    &l.loc,
                    "virtual_server_group",
                    format!(
                        "expected an IP address or range (A.B.C.D-E, A-B, A/nn), found `{}`",
                        l.keyword
                    ),
                );
                continue;
            };
            let port = match l.args.first() {
                Some(a) => match self.port_text("virtual_server_group", a) {
                    Some(p) => Some(p),
                    None => continue,
                },
                None => None,
            };
            g.entries.push(VsgEntry::Range { ip, last_ip, port });
        }
        self.cfg.virtual_server_groups.push(g);
    }

    pub(super) fn virtual_server(&mut self, n: &Node) {
        let Some(children) = self.block(n) else {
            return;
        };
        let mut vs = VirtualServer {
            real_servers: Vec::with_capacity(count(n, |k| k == "real_server")),
            origin: origin_of(n),
            ..VirtualServer::default()
        };
        let kw = "virtual_server";
        match n.args.as_slice() {
            [f, m] if f.text == "fwmark" => match self.int_text(kw, m, 1u32, u32::MAX) {
                Some(v) => vs.fwmark = Some(v),
                None => return,
            },
            [g, name] if g.text == "group" => vs.group = Some(name.text.as_str().to_owned()),
            [ip] => match self.ip_text(kw, ip) {
                Some(v) => vs.ip = Some(v),
                None => return,
            },
            [ip, port] => {
                let ip = self.ip_text(kw, ip);
                let port = self.port_text(kw, port);
                match (ip, port) {
                    (Some(ip), Some(port)) => {
                        vs.ip = Some(ip);
                        vs.port = Some(port);
                    }
                    _ => return,
                }
            }
            args => {
                let loc = args
                    .get(2)
                    .map(|a| a.loc.clone())
                    .unwrap_or_else(|| n.loc.clone());
                self.err(
                    &loc,
                    kw,
                    format!(
                        "expected `ADDR [PORT]`, `fwmark N` or `group NAME`, found {} arguments",
                        args.len()
                    ),
                );
                return;
            }
        }
        for c in children {
            if self.vs_kw(c, &mut vs) {
                mark(&mut vs.origin, c);
            }
        }

        // The scheduler only matters to IPVS (global_defs usually comes
        // first, so its lb_sink is known here).
        let ipvs = matches!(
            vs.lb_sink
                .as_ref()
                .or(self.cfg.global_defs.lb_sink.as_ref()),
            None | Some(LbSink::Ipvs)
        );
        if ipvs && !vs.origin.has("lb_algo") && !vs.origin.has("lvs_sched") {
            self.warn(
                &n.loc,
                kw,
                format!(
                    "virtual server {}: no scheduler set (lvs_sched), using the default `wlc`",
                    vs.describe()
                ),
            );
        }
        self.cfg.virtual_servers.push(vs);
    }

    /// `NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
    fn lvs_method(&mut self, c: &Node) -> Option<(LvsMethod, Option<Tunnel>)> {
        if !self.nargs(c, 1, usize::MAX) {
            return None;
        }
        let kw = c.keyword.as_str();
        let m = match c.args[0].text.as_str() {
            "NAT" => LvsMethod::Nat,
            "DR" => LvsMethod::Dr,
            "TUN" => LvsMethod::Tun,
            o => {
                self.err(
                    &c.args[0].loc,
                    kw,
                    format!("expected NAT, DR or TUN, found `{o}`"),
                );
                return None;
            }
        };
        if m != LvsMethod::Tun {
            if c.args.len() > 1 {
                self.err(
                    &c.args[1].loc,
                    kw,
                    format!("expected 1 argument, found {}", c.args.len()),
                );
                return None;
            }
            return Some((m, None));
        }
        let mut t = Tunnel::default();
        let mut any = false;
        let mut i = 1;
        let a = &c.args;
        while i < a.len() {
            any = true;
            match (a[i].text.as_str(), a.get(i + 1).map(|x| x.text.as_str())) {
                ("type", Some("ipip")) => t.tunnel_type = TunnelType::Ipip,
                ("type", Some("gue")) => t.tunnel_type = TunnelType::Gue,
                ("type", Some("gre")) => t.tunnel_type = TunnelType::Gre,
                ("port", Some(_)) => t.port = Some(self.int_text(kw, &a[i + 1], 1u16, 65535)?),
                ("nocsum", _) | ("csum", _) | ("remcsum", _) => {
                    t.checksum = Some(match a[i].text.as_str() {
                        "nocsum" => TunnelChecksum::Nocsum,
                        "csum" => TunnelChecksum::Csum,
                        _ => TunnelChecksum::Remcsum,
                    });
                    i += 1;
                    continue;
                }
                (o, _) => {
                    self.err(&a[i].loc, kw, format!("expected `type ipip|gue|gre`, `port N` or nocsum|csum|remcsum, found `{o}`"));
                    return None;
                }
            }
            i += 2;
        }
        if t.tunnel_type == TunnelType::Gue && t.port.is_none() {
            self.err(&c.loc, kw, "expected `port N` with tunnel type gue");
            return None;
        }
        Some((m, any.then_some(t)))
    }

    /// Checker defaults shared by virtual and real servers; `None` if `c`
    /// is not one of them.
    fn check_default_kw(&mut self, c: &Node, d: &mut CheckDefaults) -> Option<bool> {
        let ok = match c.keyword.as_str() {
            "alpha" => self.bool_opt(c).map(|v| d.alpha = Some(v)).is_some(),
            "connect_timeout" => self
                .secs(c, Duration::from_micros(1), TEN_YEARS)
                .map(|v| d.connect_timeout = Some(v))
                .is_some(),
            "retry" | "nb_get_retry" | "nb_sock_retry" => self
                .int(c, 0u32, u32::MAX)
                .map(|v| d.retry = Some(v))
                .is_some(),
            "delay_before_retry" => self
                .secs(c, Duration::ZERO, TEN_YEARS)
                .map(|v| d.delay_before_retry = Some(v))
                .is_some(),
            "warmup" => self
                .secs(c, Duration::ZERO, TEN_YEARS)
                .map(|v| d.warmup = Some(v))
                .is_some(),
            "delay_loop" => self
                .secs(c, Duration::from_micros(1), TEN_YEARS)
                .map(|v| d.delay_loop = Some(v))
                .is_some(),
            "inhibit_on_failure" => self
                .bool_opt(c)
                .map(|v| d.inhibit_on_failure = Some(v))
                .is_some(),
            "virtualhost" => self.string(c).map(|v| d.virtualhost = Some(v)).is_some(),
            "smtp_alert" => self.bool_opt(c).map(|v| d.smtp_alert = Some(v)).is_some(),
            _ => return None,
        };
        Some(ok)
    }

    fn vs_kw(&mut self, c: &Node, vs: &mut VirtualServer) -> bool {
        let kw = c.keyword.as_str();
        if kw == "delay_loop" {
            return self
                .secs(c, Duration::from_micros(1), TEN_YEARS)
                .map(|v| vs.delay_loop = v)
                .is_some();
        }
        if kw == "alpha" {
            return self.flag(c).then(|| vs.alpha = true).is_some();
        }
        if let Some(ok) = self.check_default_kw(c, &mut vs.check_defaults) {
            return ok;
        }
        match kw {
            "lb_algo" | "lvs_sched" => match self.string(c) {
                Some(s) => match Scheduler::parse(&s) {
                    Some(v) => {
                        vs.lb_algo = v;
                        true
                    }
                    None => {
                        self.err(&c.args[0].loc, kw, format!("expected rr|wrr|lc|wlc|lblc|sh|mh|dh|fo|ovf|lblcr|sed|nq|twos, found `{s}`"));
                        false
                    }
                },
                None => false,
            },
            "lb_kind" | "lvs_method" => match self.lvs_method(c) {
                Some((m, t)) => {
                    vs.lb_kind = m;
                    vs.tunnel = t;
                    true
                }
                None => false,
            },
            f if SCHED_FLAGS.contains(&f) => self
                .flag(c)
                .then(|| vs.sched_flags.push(f.to_owned()))
                .is_some(),
            "ops" => self.flag(c).then(|| vs.ops = true).is_some(),
            "persistence_timeout" => {
                if !self.nargs(c, 0, 1) {
                    return false;
                }
                // Written without a value: keepalived uses 6 minutes.
                let v = match c.args.first() {
                    Some(a) => self
                        .int_text(kw, a, 1u32, u32::MAX)
                        .map(|s| Duration::from_secs(u64::from(s))),
                    None => Some(Duration::from_secs(360)),
                };
                v.map(|v| vs.persistence_timeout = Some(v)).is_some()
            }
            "persistence_granularity" => self
                .ip(c)
                .map(|v| vs.persistence_granularity = Some(v))
                .is_some(),
            "persistence_engine" => self
                .string(c)
                .map(|v| vs.persistence_engine = Some(v))
                .is_some(),
            "protocol" => match self.string(c).as_deref() {
                Some("TCP") => {
                    vs.protocol = Protocol::Tcp;
                    true
                }
                Some("UDP") => {
                    vs.protocol = Protocol::Udp;
                    true
                }
                Some("SCTP") => {
                    vs.protocol = Protocol::Sctp;
                    true
                }
                Some(o) => {
                    self.err(
                        &c.args[0].loc,
                        kw,
                        format!("expected TCP, UDP or SCTP, found `{o}`"),
                    );
                    false
                }
                None => false,
            },
            "ha_suspend" => self.flag(c).then(|| vs.ha_suspend = true).is_some(),
            "snmp_name" => self.string(c).map(|v| vs.snmp_name = Some(v)).is_some(),
            "lb_sink" => self.lb_sink(c).map(|v| vs.lb_sink = Some(v)).is_some(),
            "omega" => self.flag(c).then(|| vs.omega = true).is_some(),
            "quorum" => self.int(c, 1u32, u32::MAX).map(|v| vs.quorum = v).is_some(),
            "hysteresis" => self
                .int(c, 0u32, u32::MAX)
                .map(|v| vs.hysteresis = v)
                .is_some(),
            "quorum_up" => self.script(c).map(|v| vs.quorum_up = Some(v)).is_some(),
            "quorum_down" => self.script(c).map(|v| vs.quorum_down = Some(v)).is_some(),
            "ip_family" => match self.string(c).as_deref() {
                Some("inet") => {
                    vs.ip_family = Some(Family::Inet);
                    true
                }
                Some("inet6") => {
                    vs.ip_family = Some(Family::Inet6);
                    true
                }
                Some(o) => {
                    self.err(
                        &c.args[0].loc,
                        kw,
                        format!("expected inet or inet6, found `{o}`"),
                    );
                    false
                }
                None => false,
            },
            "sorry_server" => {
                if !self.nargs(c, 1, 2) {
                    return false;
                }
                let ip = self.ip_text(kw, &c.args[0]);
                let port = match c.args.get(1) {
                    Some(a) => match self.port_text(kw, a) {
                        Some(p) => Some(p),
                        None => return false,
                    },
                    None => None,
                };
                let Some(ip) = ip else {
                    return false;
                };
                let old = vs.sorry_server.take();
                vs.sorry_server = Some(SorryServer {
                    ip,
                    port,
                    inhibit: old.as_ref().is_some_and(|o| o.inhibit),
                    lvs_method: old.and_then(|o| o.lvs_method),
                });
                true
            }
            "sorry_server_inhibit" => {
                if !self.flag(c) {
                    return false;
                }
                match &mut vs.sorry_server {
                    Some(s) => {
                        s.inhibit = true;
                        true
                    }
                    None => {
                        self.err(
                            &c.loc,
                            kw,
                            "expected `sorry_server` before `sorry_server_inhibit`",
                        );
                        false
                    }
                }
            }
            "sorry_server_lvs_method" => {
                let Some((m, _)) = self.lvs_method(c) else {
                    return false;
                };
                match &mut vs.sorry_server {
                    Some(s) => {
                        s.lvs_method = Some(m);
                        true
                    }
                    None => {
                        self.err(
                            &c.loc,
                            kw,
                            "expected `sorry_server` before `sorry_server_lvs_method`",
                        );
                        false
                    }
                }
            }
            "real_server" => {
                if let Some(rs) = self.real_server(c) {
                    vs.real_servers.push(rs);
                }
                true
            }
            "real_server_group" | "nftables_ipvs" | "ip_vs_proto" => {
                self.unsupported(c, "virtual_server");
                false
            }
            _ => {
                self.unknown(c, "virtual_server");
                false
            }
        }
    }

    /// `lb_sink ipvs | none | haproxy SOCKET BACKEND [drain] | script
    /// COMMAND [USER [GROUP]]` (vrrpd extension; also in `global_defs`).
    pub(crate) fn lb_sink(&mut self, c: &Node) -> Option<LbSink> {
        let kw = "lb_sink";
        if !self.nargs(c, 1, usize::MAX) {
            return None;
        }
        let kind = c.args[0].text.as_str();
        let rest = &c.args[1..];
        let too_many = |b: &mut Self, max: usize, usage: &str| -> bool {
            if rest.len() > max {
                b.err(
                    &rest[max].loc,
                    kw,
                    format!("unexpected argument: expected `lb_sink {usage}`"),
                );
                true
            } else {
                false
            }
        };
        match kind {
            "ipvs" | "none" => {
                if too_many(self, 0, kind) {
                    return None;
                }
                Some(if kind == "ipvs" {
                    LbSink::Ipvs
                } else {
                    LbSink::None
                })
            }
            "haproxy" => {
                let usage = "haproxy SOCKET BACKEND [drain]";
                if rest.len() < 2 {
                    self.err(&c.loc, kw, format!("expected `lb_sink {usage}`"));
                    return None;
                }
                if too_many(self, 3, usage) {
                    return None;
                }
                let drain = match rest.get(2) {
                    None => false,
                    Some(a) if a.text.as_str() == "drain" => true,
                    Some(a) => {
                        self.err(
                            &a.loc,
                            kw,
                            format!("expected `drain`, found `{}`", a.text.as_str()),
                        );
                        return None;
                    }
                };
                Some(LbSink::Haproxy {
                    socket: rest[0].text.as_str().to_owned(),
                    backend: rest[1].text.as_str().to_owned(),
                    drain,
                })
            }
            "script" => {
                if rest.is_empty() {
                    self.err(
                        &c.loc,
                        kw,
                        "expected `lb_sink script COMMAND [USER [GROUP]]`",
                    );
                    return None;
                }
                if too_many(self, 3, "script COMMAND [USER [GROUP]]") {
                    return None;
                }
                Some(LbSink::Script {
                    command: crate::model::Script {
                        command: rest[0].text.as_str().to_owned(),
                        user: rest.get(1).map(|a| a.text.as_str().to_owned()),
                        group: rest.get(2).map(|a| a.text.as_str().to_owned()),
                    },
                })
            }
            other => {
                self.err(
                    &c.args[0].loc,
                    kw,
                    format!("expected ipvs, none, haproxy or script, found `{other}`"),
                );
                None
            }
        }
    }

    fn real_server(&mut self, n: &Node) -> Option<RealServer> {
        let children = self.block(n)?;
        let kw = "real_server";
        let (ip, port) = match n.args.as_slice() {
            [ip] => (self.ip_text(kw, ip)?, None),
            [ip, port] => {
                let ip = self.ip_text(kw, ip);
                let port = self.port_text(kw, port);
                (ip?, Some(port?))
            }
            args => {
                let loc = args
                    .get(2)
                    .map(|a| a.loc.clone())
                    .unwrap_or_else(|| n.loc.clone());
                self.err(
                    &loc,
                    kw,
                    format!("expected `ADDR [PORT]`, found {} arguments", args.len()),
                );
                return None;
            }
        };
        let mut rs = RealServer {
            ip,
            port,
            checkers: Vec::with_capacity(count(n, |k| CheckerKind::parse(k).is_some())),
            origin: origin_of(n),
            ..RealServer::default()
        };
        for c in children {
            if self.rs_kw(c, &mut rs) {
                mark(&mut rs.origin, c);
            }
        }
        // A large config has tens of thousands of these: do not keep the
        // spare capacity of growing vectors.
        Some(rs)
    }

    fn rs_kw(&mut self, c: &Node, rs: &mut RealServer) -> bool {
        let kw = c.keyword.as_str();
        if let Some(kind) = CheckerKind::parse(kw) {
            if let Some(ck) = self.checker(c, kind) {
                rs.checkers.push(ck);
            }
            return true;
        }
        if kw == "inhibit_on_failure" {
            return self
                .bool_opt(c)
                .map(|v| rs.inhibit_on_failure = v)
                .is_some();
        }
        if let Some(ok) = self.check_default_kw(c, &mut rs.check_defaults) {
            return ok;
        }
        match kw {
            "weight" => self.int(c, 0i32, 65535).map(|v| rs.weight = v).is_some(),
            "lvs_method" => match self.lvs_method(c) {
                Some((m, t)) => {
                    rs.lvs_method = m;
                    rs.tunnel = t;
                    true
                }
                None => false,
            },
            "notify_up" => self.script(c).map(|v| rs.notify_up = Some(v)).is_some(),
            "notify_down" => self.script(c).map(|v| rs.notify_down = Some(v)).is_some(),
            "uthreshold" => self
                .int(c, 0u32, u32::MAX)
                .map(|v| rs.uthreshold = Some(v))
                .is_some(),
            "lthreshold" => self
                .int(c, 0u32, u32::MAX)
                .map(|v| rs.lthreshold = Some(v))
                .is_some(),
            "snmp_name" => self.string(c).map(|v| rs.snmp_name = Some(v)).is_some(),
            "haproxy_server" => self
                .string(c)
                .map(|v| rs.haproxy_server = Some(v))
                .is_some(),
            "track_file" | "rs_track_file" => {
                self.unsupported(c, "real_server");
                false
            }
            _ => {
                self.unknown(c, "real_server");
                false
            }
        }
    }

    fn checker(&mut self, n: &Node, kind: CheckerKind) -> Option<Checker> {
        let children = self.block(n)?;
        if !n.args.is_empty() {
            self.err(
                &n.args[0].loc,
                &n.keyword,
                format!("expected no arguments, found {}", n.args.len()),
            );
        }
        let mut ck = Checker::new(kind);
        ck.origin = origin_of(n);
        ck.url = Vec::with_capacity(count(n, |k| k == "url"));
        let ctx = kind.keyword();
        for c in children {
            let ok = self.checker_kw(c, &mut ck);
            match ok {
                Some(true) => mark(&mut ck.origin, c),
                Some(false) => {}
                None => self.unknown(c, ctx),
            }
        }
        match kind {
            CheckerKind::Misc if ck.misc_path.is_none() => {
                self.err(&n.loc, ctx, "expected `misc_path` in MISC_CHECK");
                return None;
            }
            CheckerKind::File if ck.track_file.is_none() => {
                self.err(&n.loc, ctx, "expected `track_file` in FILE_CHECK");
                return None;
            }
            CheckerKind::Bfd if ck.name.is_none() => {
                self.err(&n.loc, ctx, "expected `name` in BFD_CHECK");
                return None;
            }
            CheckerKind::HttpGet | CheckerKind::SslGet if ck.url.is_empty() => {
                self.warn(
                    &n.loc,
                    ctx,
                    "no `url` block: keepalived checks `/` for status 200-299",
                );
            }
            _ => {}
        }
        Some(ck)
    }

    /// One keyword of a checker block: `Some(ok)` if the checker kind takes
    /// it, `None` if not.
    fn checker_kw(&mut self, c: &Node, ck: &mut Checker) -> Option<bool> {
        use CheckerKind as K;
        let kind = ck.kind;
        let kw = c.keyword.as_str();
        let conn = !matches!(kind, K::Misc | K::File | K::Bfd);
        let timers = !matches!(kind, K::File | K::Bfd);
        let ok = match kw {
            "connect_ip" if conn => self.ip(c).map(|v| ck.connect_ip = Some(v)).is_some(),
            "connect_port" if conn => self
                .int(c, 0u16, 65535)
                .map(|v| ck.connect_port = Some(v))
                .is_some(),
            "bindto" if conn => self.ip(c).map(|v| ck.bindto = Some(v)).is_some(),
            "bind_if" if conn => self.string(c).map(|v| ck.bind_if = Some(v)).is_some(),
            "bind_port" if conn => self
                .int(c, 0u16, 65535)
                .map(|v| ck.bind_port = Some(v))
                .is_some(),
            "fwmark" if conn => self
                .int(c, 0u32, u32::MAX)
                .map(|v| ck.fwmark = Some(v))
                .is_some(),
            "alpha" if timers => self.bool_opt(c).map(|v| ck.alpha = v).is_some(),
            "connect_timeout" if timers => self
                .secs(c, Duration::from_micros(1), TEN_YEARS)
                .map(|v| ck.connect_timeout = v)
                .is_some(),
            "retry" | "nb_get_retry" | "nb_sock_retry" if timers => {
                self.int(c, 0u32, u32::MAX).map(|v| ck.retry = v).is_some()
            }
            "delay_before_retry" if timers => self
                .secs(c, Duration::ZERO, TEN_YEARS)
                .map(|v| ck.delay_before_retry = v)
                .is_some(),
            "warmup" if timers => self
                .secs(c, Duration::ZERO, TEN_YEARS)
                .map(|v| ck.warmup = v)
                .is_some(),
            "delay_loop" if timers => self
                .secs(c, Duration::from_micros(1), TEN_YEARS)
                .map(|v| ck.delay_loop = v)
                .is_some(),
            "log_all_failures" if timers => {
                self.bool_opt(c).map(|v| ck.log_all_failures = v).is_some()
            }
            "url" if matches!(kind, K::HttpGet | K::SslGet) => {
                if let Some(u) = self.url(c) {
                    ck.url.push(u);
                }
                true
            }
            "http_protocol" if matches!(kind, K::HttpGet | K::SslGet) => {
                match self.string(c).as_deref() {
                    Some(p @ ("1.0" | "1.0C" | "1.0c" | "1.1")) => {
                        ck.http_protocol = Some(p.to_uppercase());
                        true
                    }
                    Some(o) => {
                        self.err(
                            &c.args[0].loc,
                            kw,
                            format!("expected 1.0, 1.0C or 1.1, found `{o}`"),
                        );
                        false
                    }
                    None => false,
                }
            }
            "virtualhost" if matches!(kind, K::HttpGet | K::SslGet) => {
                self.string(c).map(|v| ck.virtualhost = Some(v)).is_some()
            }
            "fast_recovery" if matches!(kind, K::HttpGet | K::SslGet) => {
                self.bool_opt(c).map(|v| ck.fast_recovery = v).is_some()
            }
            "enable_sni" if kind == K::SslGet => {
                self.flag(c).then(|| ck.enable_sni = true).is_some()
            }
            "helo_name" if kind == K::Smtp => {
                self.string(c).map(|v| ck.helo_name = Some(v)).is_some()
            }
            "host" if kind == K::Smtp => {
                if let Some(t) = self.smtp_host(c) {
                    ck.host.push(t);
                }
                true
            }
            "type" if kind == K::Dns => match self.string(c) {
                Some(t) => match DnsType::parse(&t) {
                    Some(v) => {
                        ck.dns_type = Some(v);
                        true
                    }
                    None => {
                        self.err(
                            &c.args[0].loc,
                            kw,
                            format!("expected A|NS|CNAME|SOA|MX|TXT|AAAA, found `{t}`"),
                        );
                        false
                    }
                },
                None => false,
            },
            "name" if matches!(kind, K::Dns | K::Bfd) => {
                self.string(c).map(|v| ck.name = Some(v)).is_some()
            }
            "misc_path" if kind == K::Misc => {
                if self.nargs(c, 1, usize::MAX) {
                    ck.misc_path = Some(
                        c.args
                            .iter()
                            .map(|a| a.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                    true
                } else {
                    false
                }
            }
            "misc_timeout" if kind == K::Misc => self
                .secs(c, Duration::from_micros(1), TEN_YEARS)
                .map(|v| ck.misc_timeout = Some(v))
                .is_some(),
            "misc_dynamic" if kind == K::Misc => {
                self.flag(c).then(|| ck.misc_dynamic = true).is_some()
            }
            "user" if kind == K::Misc => {
                if self.nargs(c, 1, 2) {
                    ck.user = Some(c.args[0].text.as_str().to_owned());
                    ck.group = c.args.get(1).map(|a| a.text.as_str().to_owned());
                    true
                } else {
                    false
                }
            }
            "payload" if kind == K::Udp => {
                self.hex(c, false).map(|v| ck.payload = Some(v)).is_some()
            }
            "require_reply" if kind == K::Udp => {
                if c.args.is_empty() {
                    ck.require_reply = Some(String::new());
                    true
                } else {
                    self.hex(c, true)
                        .map(|v| ck.require_reply = Some(v))
                        .is_some()
                }
            }
            "min_reply_length" if kind == K::Udp => self
                .int(c, 0u16, 65535)
                .map(|v| ck.min_reply_length = Some(v))
                .is_some(),
            "max_reply_length" if kind == K::Udp => self
                .int(c, 0u16, 65535)
                .map(|v| ck.max_reply_length = Some(v))
                .is_some(),
            "track_file" | "file" if kind == K::File => {
                self.string(c).map(|v| ck.track_file = Some(v)).is_some()
            }
            "dynamic" if kind == K::File => self.flag(c).then(|| ck.dynamic = true).is_some(),
            "weight" if kind == K::File => {
                if self.nargs(c, 1, 2) {
                    let w = self.int_text("weight", &c.args[0], -2_147_483_647i64, 2_147_483_647);
                    ck.weight = w;
                    ck.reverse = c.args.get(1).map(|a| a.text == "reverse").unwrap_or(false);
                    w.is_some()
                } else {
                    false
                }
            }
            _ => return None,
        };
        Some(ok)
    }

    /// Hex data written freely (`Ab12f 3 456`), normalised to pairs.
    fn hex(&mut self, c: &Node, allow_x: bool) -> Option<String> {
        if !self.nargs(c, 1, usize::MAX) {
            return None;
        }
        let mut out = String::new();
        for a in &c.args {
            let ok = a
                .text
                .chars()
                .all(|ch| ch.is_ascii_hexdigit() || (allow_x && (ch == 'x' || ch == 'X')));
            if !ok {
                self.err(
                    &a.loc,
                    &c.keyword,
                    format!("expected hex digits, found `{}`", a.text),
                );
                return None;
            }
            // keepalived.conf(5): digits pair up from the left and a last
            // single digit is a byte of its own ("Ab12f 3" = AB 12 0F 03).
            let up = a.text.to_ascii_uppercase();
            let (pairs, last) = up.split_at(up.len() - up.len() % 2);
            out.push_str(pairs);
            if !last.is_empty() {
                out.push('0');
                out.push_str(last);
            }
        }
        Some(out)
    }

    fn smtp_host(&mut self, n: &Node) -> Option<CheckTarget> {
        let children = self.block(n)?;
        let mut t = CheckTarget::default();
        for c in children {
            match c.keyword.as_str() {
                "connect_ip" => t.connect_ip = self.ip(c),
                "connect_port" => t.connect_port = self.int(c, 0u16, 65535),
                "bindto" => t.bindto = self.ip(c),
                "bind_if" => t.bind_if = self.string(c),
                "bind_port" => t.bind_port = self.int(c, 0u16, 65535),
                "fwmark" => t.fwmark = self.int(c, 0u32, u32::MAX),
                _ => self.unknown(c, "SMTP_CHECK host"),
            }
        }
        Some(t)
    }

    fn url(&mut self, n: &Node) -> Option<Url> {
        let children = self.block(n)?;
        let mut u = Url {
            origin: origin_of(n),
            ..Url::default()
        };
        let mut have_path = false;
        for c in children {
            let kw = c.keyword.as_str();
            let ok = match kw {
                "path" => {
                    have_path = true;
                    self.string(c).map(|v| u.path = v).is_some()
                }
                "digest" => match self.string(c) {
                    Some(d) if d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        u.digest = Some(d.to_ascii_lowercase());
                        true
                    }
                    Some(d) => {
                        self.err(
                            &c.args[0].loc,
                            kw,
                            format!("expected an MD5 digest (32 hex digits), found `{d}`"),
                        );
                        false
                    }
                    None => false,
                },
                "status_code" => {
                    if self.nargs(c, 1, usize::MAX) {
                        let mut good = true;
                        for a in &c.args {
                            match StatusRange::parse(&a.text) {
                                Some(r) => u.status_code.push(r),
                                None => {
                                    self.err(&a.loc, kw, format!("expected a status code 100-999 or a range like 200-299, found `{}`", a.text));
                                    good = false;
                                }
                            }
                        }
                        good
                    } else {
                        false
                    }
                }
                "virtualhost" => self.string(c).map(|v| u.virtualhost = Some(v)).is_some(),
                "regex" => self.string(c).map(|v| u.regex = Some(v)).is_some(),
                "regex_no_match" => self.flag(c).then(|| u.regex_no_match = true).is_some(),
                "regex_options" => {
                    u.regex_options = c
                        .args
                        .iter()
                        .map(|a: &Arg| a.text.as_str().to_owned())
                        .collect();
                    true
                }
                "regex_min_offset" => self
                    .int(c, 0u64, u64::MAX)
                    .map(|v| u.regex_min_offset = Some(v))
                    .is_some(),
                "regex_max_offset" => self
                    .int(c, 0u64, u64::MAX)
                    .map(|v| u.regex_max_offset = Some(v))
                    .is_some(),
                "regex_stack" => {
                    self.unsupported(c, "url");
                    false
                }
                _ => {
                    self.unknown(c, "url");
                    false
                }
            };
            if ok {
                mark(&mut u.origin, c);
            }
        }
        if !have_path {
            self.err(&n.loc, "url", "expected `path` in url block");
            return None;
        }
        Some(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_range("10.0.0.1"), Some((ip("10.0.0.1"), None)));
        assert_eq!(
            parse_range("192.168.200.3-10"),
            Some((ip("192.168.200.3"), Some(ip("192.168.200.10"))))
        );
        assert_eq!(
            parse_range("ae00::2-9"),
            Some((ip("ae00::2"), Some(ip("ae00::9"))))
        );
        assert_eq!(
            parse_range("192.168.202.8/29"),
            Some((ip("192.168.202.8"), Some(ip("192.168.202.15"))))
        );
        assert_eq!(
            parse_range("10.0.0.250-10.0.1.10"),
            Some((ip("10.0.0.250"), Some(ip("10.0.1.10"))))
        );
        assert_eq!(parse_range("10.0.0.9-3"), None);
        assert_eq!(parse_range("10.0.0.x"), None);
    }
}
