//! keepalived's inheritance and derived defaults, shared by both front ends.
//!
//! A front end parses an item, records which keys were written in the
//! item's [`super::Origin`], and calls the function here; every key not
//! written takes its value from the enclosing scope (`global_defs` for instances; virtual server → real
//! server → checker for LVS) or from keepalived's rule. The functions
//! return notes (keyword, message) for values keepalived would change,
//! which the front end reports as warnings.

use std::time::Duration;

use super::{Checker, GlobalDefs, State, VirtualServer, VrrpInstance, VrrpScript};

pub type Notes = Vec<(&'static str, String)>;

/// `vrrp_garp_lower_prio_*` default to the master values.
pub fn global(g: &mut GlobalDefs) {
    let w = &g.origin;
    if !w.has("vrrp_garp_lower_prio_delay") {
        g.vrrp_garp_lower_prio_delay = g.vrrp_garp_master_delay;
    }
    if !w.has("vrrp_garp_lower_prio_repeat") {
        g.vrrp_garp_lower_prio_repeat = g.vrrp_garp_master_repeat;
    }
}

/// keepalived: a script timeout of 0 (unset) means the interval.
pub fn vrrp_script(s: &mut VrrpScript) {
    if !s.origin.has("timeout") || s.timeout.is_zero() {
        s.timeout = s.interval;
    }
}

/// Defaults of a `vrrp_instance` from `global_defs` and keepalived's
/// derivation rules (vrrp.c `vrrp_complete_instance`).
pub fn instance(i: &mut VrrpInstance, g: &GlobalDefs) -> Notes {
    let mut notes = Notes::new();
    let w = &i.origin;
    if !w.has("garp_master_delay") {
        i.garp_master_delay = g.vrrp_garp_master_delay;
    }
    if !w.has("garp_master_repeat") {
        i.garp_master_repeat = g.vrrp_garp_master_repeat;
    }
    if !w.has("garp_lower_prio_delay") {
        i.garp_lower_prio_delay = if w.has("garp_master_delay") {
            i.garp_master_delay
        } else {
            g.vrrp_garp_lower_prio_delay
        };
    }
    if !w.has("garp_lower_prio_repeat") {
        i.garp_lower_prio_repeat = if w.has("garp_master_repeat") {
            i.garp_master_repeat
        } else {
            g.vrrp_garp_lower_prio_repeat
        };
    }
    if !w.has("garp_master_refresh") {
        i.garp_master_refresh = g.vrrp_garp_master_refresh;
    }
    if !w.has("garp_master_refresh_repeat") {
        i.garp_master_refresh_repeat = g.vrrp_garp_master_refresh_repeat;
    }
    if !w.has("down_timer_adverts") {
        i.down_timer_adverts = g.vrrp_down_timer_adverts;
    }
    if !w.has("lower_prio_no_advert") {
        i.lower_prio_no_advert = g.vrrp_lower_prio_no_advert;
    }
    if !w.has("higher_prio_send_advert") {
        i.higher_prio_send_advert = g.vrrp_higher_prio_send_advert;
    }
    if !w.has("skip_check_adv_addr") {
        i.skip_check_adv_addr = g.vrrp_skip_check_adv_addr;
    }
    if !w.has("strict_mode") {
        i.strict_mode = g.vrrp_strict;
    }
    if !w.has("check_unicast_src") {
        i.check_unicast_src = g.vrrp_check_unicast_src;
    }
    // Specifying min_ttl or max_ttl on a peer turns on check_unicast_src.
    if i.unicast_peer
        .iter()
        .any(|p| p.min_ttl.is_some() || p.max_ttl.is_some())
    {
        i.check_unicast_src = true;
    }
    if !w.has("notify_priority_changes") {
        i.notify_priority_changes = g.vrrp_notify_priority_changes;
    }
    // IPv6 instances always use VRRPv3 (RFC 5798 is the only VRRP for IPv6).
    if !w.has("version") {
        i.version = if i.is_ipv6() { 3 } else { g.vrrp_version };
    } else if i.version == 2 && i.is_ipv6() {
        notes.push((
            "version",
            "VRRP version 2 cannot be used with IPv6, using version 3".to_owned(),
        ));
        i.version = 3;
    }
    // keepalived: no priority → 255 if state MASTER else 100; no state →
    // MASTER if priority 255 else BACKUP.
    let has_prio = w.has("priority");
    let has_state = w.has("state");
    if !has_prio {
        i.priority = if has_state && i.state == State::Master {
            255
        } else {
            100
        };
    }
    if !has_state {
        i.state = if i.priority == 255 {
            State::Master
        } else {
            State::Backup
        };
    } else if i.strict_mode && ((i.state == State::Master) != (i.priority == 255)) {
        notes.push((
            "state",
            "in strict mode, state MASTER must match being address owner (priority 255); \
             state set from the priority"
                .to_owned(),
        ));
        i.state = if i.priority == 255 {
            State::Master
        } else {
            State::Backup
        };
    }
    // Accept mode (RFC 5798 §6.1 Accept_Mode, keepalived vrrp.c
    // `vrrp_complete_instance`): unless written, on for the address owner
    // (priority 255, which always accepts, RFC 5798 §6.4.3) and otherwise
    // on unless strict mode is. An explicit `accept` stays in strict mode
    // except with VRRPv2: RFC 3768 has no Accept_Mode, a non-owner master
    // must not accept packets for the VIPs (§6.4.3), so keepalived resets it.
    if !w.has("accept") && !w.has("no_accept") {
        i.accept = i.priority == 255 || !i.strict_mode;
    } else if i.accept && i.strict_mode && i.version == 2 && i.priority != 255 {
        notes.push((
            "accept",
            "accept mode with VRRP version 2 does not comply with RFC 3768 in strict mode: \
             no_accept used"
                .to_owned(),
        ));
        i.accept = false;
    }
    // keepalived: "nopreempt is incompatible with priority 255. resetting
    // nopreempt" (RFC 5798 §6.4.3: an owner always preempts).
    if i.priority == 255 && !i.preempt {
        notes.push((
            "nopreempt",
            "nopreempt is incompatible with priority 255 (address owner), preempt kept on"
                .to_owned(),
        ));
        i.preempt = true;
    }
    notes
}

/// Copy the virtual server's settings down to its real servers and their
/// checkers.
pub fn virtual_server(vs: &mut VirtualServer) {
    let vsd = &vs.check_defaults;
    let vs_delay_loop = vs.delay_loop;
    // keepalived: `alpha` on the virtual server makes every checker start
    // down (the block-level default, not only the check_defaults one).
    let vs_alpha = vs.alpha;
    for rs in vs.real_servers.iter_mut() {
        if !rs.origin.has("lvs_method") {
            rs.lvs_method = vs.lb_kind;
            rs.tunnel = vs.tunnel;
        }
        if !rs.origin.has("inhibit_on_failure") {
            rs.inhibit_on_failure = rs
                .check_defaults
                .inhibit_on_failure
                .or(vsd.inhibit_on_failure)
                .unwrap_or(false);
        }
        let rsd = &rs.check_defaults;
        for ck in rs.checkers.iter_mut() {
            checker(ck, rsd, vsd, vs_delay_loop, vs_alpha);
        }
    }
}

fn pick<T: Clone>(rs: &Option<T>, vs: &Option<T>) -> Option<T> {
    rs.clone().or_else(|| vs.clone())
}

fn checker(
    ck: &mut Checker,
    rsd: &super::CheckDefaults,
    vsd: &super::CheckDefaults,
    vs_delay_loop: Duration,
    vs_alpha: bool,
) {
    // One pass over the written keys (this runs for every checker of a
    // config that may have tens of thousands).
    let (mut dl, mut al, mut ct, mut re, mut dbr, mut wu, mut vh) =
        (false, false, false, false, false, false, false);
    for (k, _) in &ck.origin.keys {
        match k.as_ref() {
            "delay_loop" => dl = true,
            "alpha" => al = true,
            "connect_timeout" => ct = true,
            "retry" | "nb_get_retry" | "nb_sock_retry" => re = true,
            "delay_before_retry" => dbr = true,
            "warmup" => wu = true,
            "virtualhost" => vh = true,
            _ => {}
        }
    }
    if !dl {
        ck.delay_loop = pick(&rsd.delay_loop, &vsd.delay_loop).unwrap_or(vs_delay_loop);
    }
    if !al {
        ck.alpha = pick(&rsd.alpha, &vsd.alpha).unwrap_or(vs_alpha);
    }
    if !ct {
        ck.connect_timeout =
            pick(&rsd.connect_timeout, &vsd.connect_timeout).unwrap_or(Duration::from_secs(5));
    }
    if !re {
        ck.retry = pick(&rsd.retry, &vsd.retry).unwrap_or(ck.kind.default_retry());
    }
    if !dbr {
        ck.delay_before_retry = pick(&rsd.delay_before_retry, &vsd.delay_before_retry)
            .unwrap_or(ck.kind.default_delay_before_retry(ck.delay_loop));
    }
    if !wu {
        ck.warmup = pick(&rsd.warmup, &vsd.warmup).unwrap_or(ck.delay_loop);
    }
    if !vh {
        ck.virtualhost = pick(&rsd.virtualhost, &vsd.virtualhost);
    }
}
