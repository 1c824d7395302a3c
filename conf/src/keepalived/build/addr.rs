//! Address, route and rule lines (`ip address/route/rule add` syntax).

use super::{parse_net, Builder};
use crate::keepalived::tree::{Arg, Node};
use crate::model::{
    Broadcast, IpAddress, NextHop, Origin, PortRange, PreferredLft, Route, RouteType, Rule, Scope,
    Table,
};

/// The words of a list line: the keyword followed by the arguments.
fn words(n: &Node) -> Vec<Arg> {
    let mut v = Vec::with_capacity(n.args.len() + 1);
    v.push(Arg {
        text: n.keyword.clone(),
        loc: n.loc.clone(),
        quoted: false,
    });
    v.extend(n.args.iter().cloned());
    v
}

impl Builder<'_> {
    /// The value after option word `w[i]`, or an error.
    fn value<'a>(&mut self, w: &'a [Arg], i: usize, what: &str) -> Option<&'a Arg> {
        match w.get(i + 1) {
            Some(v) => Some(v),
            None => {
                self.err(
                    &w[i].loc,
                    &w[i].text,
                    format!("expected {what} after `{}`", w[i].text),
                );
                None
            }
        }
    }

    pub(super) fn address_list(&mut self, lines: &[Node], ctx: &str) -> Vec<IpAddress> {
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            if l.has_block() {
                self.err(&l.loc, &l.keyword, format!("unexpected block in {ctx}"));
                continue;
            }
            if let Some(a) = self.address_line(l, ctx) {
                out.push(a);
            }
        }
        out
    }

    /// `<IPADDR>[/<MASK>] [brd ADDR|+|-] [dev IF] [scope S] [label L] [peer ADDR] ...`
    pub(super) fn address_line(&mut self, l: &Node, ctx: &str) -> Option<IpAddress> {
        let w = words(l);
        let kw = ctx;
        let address = match parse_net(&w[0].text) {
            Some(a) => a,
            None => {
                self.err(
                    &w[0].loc,
                    kw,
                    format!(
                        "expected an IP address with optional /prefix, found `{}`",
                        w[0].text
                    ),
                );
                return None;
            }
        };
        let mut a = IpAddress::new(address);
        a.origin = Origin::at(l.loc.clone());
        let mut ok = true;
        let mut i = 1;
        while i < w.len() {
            let opt = w[i].text.as_str();
            let mut step = 1;
            match opt {
                "brd" | "broadcast" => {
                    step = 2;
                    if let Some(v) = self.value(&w, i, "an address, `+` or `-`") {
                        a.brd = match v.text.as_str() {
                            "+" => Some(Broadcast::Set),
                            "-" => Some(Broadcast::Clear),
                            t => match t.parse() {
                                Ok(ip) => Some(Broadcast::Address(ip)),
                                Err(_) => {
                                    self.err(
                                        &v.loc,
                                        opt,
                                        format!("expected an IP address, `+` or `-`, found `{t}`"),
                                    );
                                    ok = false;
                                    None
                                }
                            },
                        }
                    } else {
                        ok = false;
                    }
                }
                "dev" => {
                    step = 2;
                    match self.value(&w, i, "an interface name") {
                        Some(v) => a.dev = Some(v.text.as_str().to_owned()),
                        None => ok = false,
                    }
                }
                "scope" => {
                    step = 2;
                    match self.value(&w, i, "a scope") {
                        Some(v) => match Scope::parse(&v.text) {
                            Some(s) => a.scope = Some(s),
                            None => {
                                self.err(
                                    &v.loc,
                                    opt,
                                    format!(
                                        "expected site|link|host|nowhere|global, found `{}`",
                                        v.text
                                    ),
                                );
                                ok = false;
                            }
                        },
                        None => ok = false,
                    }
                }
                "label" => {
                    step = 2;
                    match self.value(&w, i, "a label") {
                        Some(v) if v.text.len() < 16 => a.label = Some(v.text.as_str().to_owned()),
                        Some(v) => {
                            self.err(
                                &v.loc,
                                opt,
                                format!(
                                    "expected a label of at most 15 characters, found `{}`",
                                    v.text
                                ),
                            );
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                "peer" => {
                    step = 2;
                    match self.value(&w, i, "an address") {
                        Some(v) => match self.net_text(opt, v) {
                            Some(p) => a.peer = Some(p),
                            None => ok = false,
                        },
                        None => ok = false,
                    }
                }
                "preferred_lft" => {
                    step = 2;
                    match self.value(&w, i, "a lifetime") {
                        Some(v) if v.text == "forever" => {
                            a.preferred_lft = Some(PreferredLft::Forever)
                        }
                        Some(v) => match self.int_text(opt, v, 0u32, u32::MAX) {
                            Some(s) => a.preferred_lft = Some(PreferredLft::Seconds(s)),
                            None => ok = false,
                        },
                        None => ok = false,
                    }
                }
                "track_group" => {
                    step = 2;
                    match self.value(&w, i, "a track group name") {
                        Some(v) => a.track_group = Some(v.text.as_str().to_owned()),
                        None => ok = false,
                    }
                }
                "use_vmac" => a.use_vmac = true,
                "home" => a.home = true,
                "-nodad" | "nodad" => a.nodad = true,
                "mngtmpaddr" => a.mngtmpaddr = true,
                "noprefixroute" => a.noprefixroute = true,
                "autojoin" => a.autojoin = true,
                "no_track" => a.no_track = true,
                other => {
                    self.err(
                        &w[i].loc,
                        kw,
                        format!("unknown address option `{other}`: expected brd|dev|scope|label|peer|home|-nodad|mngtmpaddr|noprefixroute|autojoin|no_track|preferred_lft|use_vmac|track_group"),
                    );
                    // The rest of the line cannot be read without knowing
                    // this option's arity.
                    return None;
                }
            }
            i += step;
        }
        ok.then_some(a)
    }

    pub(super) fn route_list(&mut self, lines: &[Node], ctx: &str) -> Vec<Route> {
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            if let Some(r) = self.route_line(l, ctx) {
                out.push(r);
            }
        }
        out
    }

    /// `[src ADDR] [to] [TYPE] DEST [via|gw ADDR [or ADDR]] [dev IF] [scope S] [table T] ...`
    fn route_line(&mut self, l: &Node, ctx: &str) -> Option<Route> {
        let w = words(l);
        let mut r = Route::new(ipnetwork::IpNetwork::from(std::net::IpAddr::from([
            0, 0, 0, 0,
        ])));
        r.origin = Origin::at(l.loc.clone());
        let mut have_dest = false;
        let mut ok = true;
        let mut i = 0;
        while i < w.len() {
            let opt = w[i].text.as_str();
            let mut step = 2;
            macro_rules! val {
                ($what:expr) => {
                    match self.value(&w, i, $what) {
                        Some(v) => v,
                        None => {
                            ok = false;
                            break;
                        }
                    }
                };
            }
            match opt {
                "src" => {
                    let v = val!("an address");
                    r.src = self.ip_text(opt, v);
                    ok &= r.src.is_some();
                }
                "via" | "gw" => {
                    let v = val!("a gateway address");
                    r.via = self.ip_text(opt, v);
                    ok &= r.via.is_some();
                }
                "or" => {
                    let v = val!("a gateway address");
                    r.or_via = self.ip_text(opt, v);
                    ok &= r.or_via.is_some();
                }
                "dev" | "oif" => r.dev = Some(val!("an interface name").text.as_str().to_owned()),
                "scope" => {
                    let v = val!("a scope");
                    r.scope = Scope::parse(&v.text);
                    if r.scope.is_none() {
                        self.err(
                            &v.loc,
                            opt,
                            format!("expected site|link|host|nowhere|global, found `{}`", v.text),
                        );
                        ok = false;
                    }
                }
                "table" => r.table = Some(Table::parse(&val!("a table").text)),
                "metric" | "priority" | "preference" => {
                    let v = val!("a number");
                    r.metric = self.int_text(opt, v, 0u32, u32::MAX);
                    ok &= r.metric.is_some();
                }
                "protocol" | "proto" => {
                    r.protocol = Some(val!("a protocol").text.as_str().to_owned())
                }
                "tos" | "dsfield" => {
                    let v = val!("a number");
                    r.tos = parse_u8_any(&v.text);
                    if r.tos.is_none() {
                        self.err(
                            &v.loc,
                            opt,
                            format!("expected an integer 0-255, found `{}`", v.text),
                        );
                        ok = false;
                    }
                }
                "mtu" | "advmss" | "initcwnd" | "initrwnd" => {
                    let mut v = val!("a number");
                    if v.text == "lock" {
                        i += 1;
                        v = val!("a number");
                    }
                    let n = self.int_text(opt, v, 0u32, u32::MAX);
                    ok &= n.is_some();
                    match opt {
                        "mtu" => r.mtu = n,
                        "advmss" => r.advmss = n,
                        "initcwnd" => r.initcwnd = n,
                        _ => r.initrwnd = n,
                    }
                }
                "hoplimit" => {
                    let v = val!("a number");
                    r.hoplimit = self.int_text(opt, v, 1u8, 255);
                    ok &= r.hoplimit.is_some();
                }
                "pref" => r.pref = Some(val!("low|medium|high").text.as_str().to_owned()),
                "realms" => r.realms = Some(val!("realms").text.as_str().to_owned()),
                "vrf" => r.vrf = Some(val!("a VRF name").text.as_str().to_owned()),
                "track_group" => {
                    r.track_group = Some(val!("a track group").text.as_str().to_owned())
                }
                "nexthop" => {
                    let (nh, used) = self.nexthop(&w[i + 1..]);
                    r.nexthops.push(nh);
                    step = 1 + used;
                }
                "onlink" => {
                    r.onlink = true;
                    step = 1;
                }
                "append" => {
                    r.append = true;
                    step = 1;
                }
                "prepend" => step = 1,
                "inet6" => {
                    r.inet6 = true;
                    step = 1;
                }
                "no_track" => {
                    r.no_track = true;
                    step = 1;
                }
                "to" if !have_dest => step = 1,
                "rtt" | "rttvar" | "reordering" | "window" | "cwnd" | "ssthresh" | "rto_min"
                | "features" | "quickack" | "congctl" | "fastopen_no_cookie" | "expires"
                | "ttl-propagate" | "encap" => {
                    self.warn(
                        &w[i].loc,
                        opt,
                        format!("route option `{opt}` in {ctx} is not supported yet, ignored"),
                    );
                    // Skip its value(s) up to the next word we know.
                    step = 1;
                    while i + step < w.len() && !is_route_word(&w[i + step].text) {
                        step += 1;
                    }
                }
                t if !have_dest => {
                    step = 1;
                    if let Some(rt) = RouteType::parse(t) {
                        if rt != RouteType::Unicast || w.get(i + 1).is_some() {
                            r.route_type = rt;
                            i += 1;
                            continue;
                        }
                    }
                    match parse_net(t) {
                        Some(n) => {
                            r.to = n;
                            have_dest = true;
                        }
                        None if t == "default" => {
                            r.to = ipnetwork::IpNetwork::from(std::net::IpAddr::from([0, 0, 0, 0]));
                            r.to = ipnetwork::IpNetwork::new(r.to.ip(), 0).unwrap_or(r.to);
                            have_dest = true;
                        }
                        None => {
                            self.err(
                                &w[i].loc,
                                ctx,
                                format!("expected a route destination ADDR[/PREFIX], found `{t}`"),
                            );
                            return None;
                        }
                    }
                }
                other => {
                    self.err(&w[i].loc, ctx, format!("unknown route option `{other}`"));
                    return None;
                }
            }
            i += step;
        }
        if !have_dest && ok {
            self.err(&l.loc, ctx, "expected a route destination ADDR[/PREFIX]");
            return None;
        }
        ok.then_some(r)
    }

    /// `nexthop via ADDR [dev IF] [weight N] [onlink]`; returns how many
    /// words were used.
    fn nexthop(&mut self, w: &[Arg]) -> (NextHop, usize) {
        let mut nh = NextHop {
            via: None,
            dev: None,
            weight: None,
            onlink: false,
        };
        let mut i = 0;
        while i < w.len() {
            match w[i].text.as_str() {
                "via" | "gw" if i + 1 < w.len() => {
                    nh.via = self.ip_text("via", &w[i + 1]);
                    i += 2;
                }
                "dev" if i + 1 < w.len() => {
                    nh.dev = Some(w[i + 1].text.as_str().to_owned());
                    i += 2;
                }
                "weight" if i + 1 < w.len() => {
                    nh.weight = self.int_text("weight", &w[i + 1], 1u16, 256);
                    i += 2;
                }
                "onlink" => {
                    nh.onlink = true;
                    i += 1;
                }
                _ => break,
            }
        }
        (nh, i)
    }

    pub(super) fn rule_list(&mut self, lines: &[Node], ctx: &str) -> Vec<Rule> {
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            if let Some(r) = self.rule_line(l, ctx) {
                out.push(r);
            }
        }
        out
    }

    fn rule_line(&mut self, l: &Node, ctx: &str) -> Option<Rule> {
        let w = words(l);
        let mut r = Rule {
            origin: Origin::at(l.loc.clone()),
            ..Rule::default()
        };
        let mut i = 0;
        let mut ok = true;
        while i < w.len() {
            let opt = w[i].text.as_str();
            let mut step = 2;
            macro_rules! val {
                ($what:expr) => {
                    match self.value(&w, i, $what) {
                        Some(v) => v,
                        None => {
                            ok = false;
                            break;
                        }
                    }
                };
            }
            match opt {
                "from" | "to" => {
                    let v = val!("a prefix");
                    let net = if v.text == "all" {
                        None
                    } else {
                        match parse_net(&v.text) {
                            Some(n) => Some(n),
                            None => {
                                // keepalived reports a rule with an invalid
                                // address and skips it, without failing the
                                // config (doc/samples keepalived.conf.vrrp.rules
                                // has one), so this is a warning.
                                self.warn(
                                    &v.loc,
                                    opt,
                                    format!(
                                        "invalid address `{}` in {ctx} rule, rule ignored",
                                        v.text
                                    ),
                                );
                                return None;
                            }
                        }
                    };
                    if opt == "from" {
                        r.from = net;
                    } else {
                        r.to = net;
                    }
                }
                "not" => {
                    r.not = true;
                    step = 1;
                }
                "table" | "lookup" => r.table = Some(Table::parse(&val!("a table").text)),
                "preference" | "priority" | "pref" | "order" => {
                    let v = val!("a number");
                    r.preference = self.int_text(opt, v, 0u32, u32::MAX);
                    ok &= r.preference.is_some();
                }
                "iif" | "dev" => r.iif = Some(val!("an interface").text.as_str().to_owned()),
                "oif" => r.oif = Some(val!("an interface").text.as_str().to_owned()),
                "tos" | "dsfield" => {
                    let v = val!("a number");
                    r.tos = parse_u8_any(&v.text);
                    if r.tos.is_none() {
                        self.err(
                            &v.loc,
                            opt,
                            format!("expected an integer 0-255, found `{}`", v.text),
                        );
                        ok = false;
                    }
                }
                "fwmark" => {
                    let v = val!("MARK[/MASK]");
                    let (m, mask) = match v.text.split_once('/') {
                        Some((m, k)) => (parse_u32_any(m), parse_u32_any(k).map(Some)),
                        None => (parse_u32_any(&v.text), Some(None)),
                    };
                    match (m, mask) {
                        (Some(m), Some(k)) => {
                            r.fwmark = Some(m);
                            r.fwmask = k;
                        }
                        _ => {
                            self.err(
                                &v.loc,
                                opt,
                                format!("expected MARK[/MASK], found `{}`", v.text),
                            );
                            ok = false;
                        }
                    }
                }
                "realms" => r.realms = Some(val!("realms").text.as_str().to_owned()),
                "goto" => {
                    let v = val!("a preference");
                    r.goto = self.int_text(opt, v, 0u32, u32::MAX);
                    ok &= r.goto.is_some();
                }
                "suppress_prefixlength" | "sup_pl" => {
                    let v = val!("a number");
                    r.suppress_prefixlength = self.int_text(opt, v, 0u32, 128);
                    ok &= r.suppress_prefixlength.is_some();
                }
                "suppress_ifgroup" | "sup_group" => {
                    r.suppress_ifgroup = Some(val!("a group").text.as_str().to_owned())
                }
                "uidrange" => {
                    let v = val!("START-END");
                    match v
                        .text
                        .split_once('-')
                        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    {
                        Some((a, b)) => r.uidrange = Some((a, b)),
                        None => {
                            self.err(
                                &v.loc,
                                opt,
                                format!("expected START-END, found `{}`", v.text),
                            );
                            ok = false;
                        }
                    }
                }
                "ip_proto" | "ipproto" => {
                    r.ip_proto = Some(val!("a protocol").text.as_str().to_owned())
                }
                "sport" | "dport" => {
                    let v = val!("PORT[-PORT]");
                    let pr = match v.text.split_once('-') {
                        Some((a, b)) => a.parse().ok().zip(b.parse().ok()),
                        None => v.text.parse().ok().map(|p| (p, p)),
                    };
                    match pr {
                        Some((start, end)) if start <= end => {
                            let pr = Some(PortRange { start, end });
                            if opt == "sport" {
                                r.sport = pr;
                            } else {
                                r.dport = pr;
                            }
                        }
                        _ => {
                            self.err(
                                &v.loc,
                                opt,
                                format!("expected PORT[-PORT], found `{}`", v.text),
                            );
                            ok = false;
                        }
                    }
                }
                "protocol" => r.protocol = Some(val!("a protocol").text.as_str().to_owned()),
                "track_group" => {
                    r.track_group = Some(val!("a track group").text.as_str().to_owned())
                }
                "l3mdev" => {
                    r.l3mdev = true;
                    step = 1;
                }
                "inet6" => {
                    r.inet6 = true;
                    step = 1;
                }
                "no_track" => {
                    r.no_track = true;
                    step = 1;
                }
                other => {
                    self.err(&w[i].loc, ctx, format!("unknown rule option `{other}`"));
                    return None;
                }
            }
            i += step;
        }
        ok.then_some(r)
    }
}

fn is_route_word(s: &str) -> bool {
    matches!(
        s,
        "src"
            | "via"
            | "gw"
            | "or"
            | "dev"
            | "oif"
            | "scope"
            | "table"
            | "metric"
            | "priority"
            | "preference"
            | "protocol"
            | "proto"
            | "tos"
            | "dsfield"
            | "mtu"
            | "advmss"
            | "initcwnd"
            | "initrwnd"
            | "hoplimit"
            | "pref"
            | "realms"
            | "vrf"
            | "track_group"
            | "nexthop"
            | "onlink"
            | "append"
            | "prepend"
            | "inet6"
            | "no_track"
            | "rtt"
            | "rttvar"
            | "reordering"
            | "window"
            | "cwnd"
            | "ssthresh"
            | "rto_min"
            | "features"
            | "quickack"
            | "congctl"
            | "fastopen_no_cookie"
            | "expires"
            | "ttl-propagate"
            | "encap"
    )
}

fn parse_u32_any(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_u8_any(s: &str) -> Option<u8> {
    parse_u32_any(s).and_then(|v| u8::try_from(v).ok())
}
