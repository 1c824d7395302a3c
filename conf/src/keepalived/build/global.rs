//! `global_defs`.

use std::time::Duration;

use super::{mark, origin_of, Builder};
use crate::keepalived::tree::Node;
use crate::model::{IptablesChains, LvsSyncDaemon, NotifyFifo, SmtpServer};

const CTX: &str = "global_defs";

/// Keywords of keepalived's global_defs that vrrpd does not act on. They
/// are accepted with a warning so an existing file loads.
const UNSUPPORTED: &[&str] = &[
    "tmp_config_directory",
    "config_save_dir",
    "process_names",
    "bfd_process_name",
    "lvs_timeouts",
    "lvs_sync_daemon_interface",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "disable_local_igmp",
    "min_auto_priority_delay",
    "bfd_priority",
    "bfd_no_swap",
    "vrrp_cpu_affinity",
    "checker_cpu_affinity",
    "bfd_cpu_affinity",
    "bfd_rt_priority",
    "vrrp_rlimit_rttime",
    "checker_rlimit_rttime",
    "bfd_rlimit_rttime",
    "vrrp_rlimit_rtime",
    "checker_rlimit_rtime",
    "bfd_rlimit_rtime",
    "snmp_socket",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_traps",
    "enable_dbus",
    "dbus_service_name",
    "fifo_write_vrrp_states_on_reload",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "rs_init_notifies",
    "no_checker_emails",
    "vmac_prefix",
    "vmac_addr_prefix",
    "random_seed",
    "reload_check_config",
    "include_check",
    "reload_time_file",
    "reload_repeat",
    "reload_file",
    "data_use_instance",
    "vrrp_garp_extra_if",
    "vrrp_garp_extra_if_vmac",
    "linkbeat_use_polling",
    "instance",
    "net_namespace",
    "use_pid_dir",
    "script_security",
    "vrrp_dont_flush_vmacs",
    "vrrp_owner_ignore_adverts",
    "vrrp_autosync_group",
];

impl Builder<'_> {
    pub(super) fn global_defs(&mut self, n: &Node) {
        let Some(children) = self.block(n) else {
            return;
        };
        if self.cfg.global_defs.origin.at.is_none() {
            self.cfg.global_defs.origin = origin_of(n);
        }
        for c in children {
            if self.global_kw(c) {
                mark(&mut self.cfg.global_defs.origin, c);
            }
        }
    }

    /// One global_defs keyword; true if it was understood.
    fn global_kw(&mut self, c: &Node) -> bool {
        let day = Duration::from_secs(86_400);
        let kw = c.keyword.as_str();
        // Parse into a local, then store, so the borrow of `self` for
        // diagnostics does not overlap the borrow of the model.
        macro_rules! set {
            ($field:ident, $e:expr) => {{
                if let Some(v) = $e {
                    self.cfg.global_defs.$field = v;
                    true
                } else {
                    false
                }
            }};
        }
        macro_rules! set_opt {
            ($field:ident, $e:expr) => {{
                if let Some(v) = $e {
                    self.cfg.global_defs.$field = Some(v);
                    true
                } else {
                    false
                }
            }};
        }
        match kw {
            "router_id" | "lvs_id" => set_opt!(router_id, self.string(c)),
            "lb_sink" => set_opt!(lb_sink, self.lb_sink(c)),
            "notification_email" => {
                let Some(list) = self.block(c) else {
                    return false;
                };
                for e in list {
                    self.cfg
                        .global_defs
                        .notification_email
                        .push(e.keyword.as_str().to_owned());
                    for a in &e.args {
                        self.cfg
                            .global_defs
                            .notification_email
                            .push(a.text.as_str().to_owned());
                    }
                }
                true
            }
            "notification_email_from" => set_opt!(notification_email_from, self.string(c)),
            "smtp_server" => {
                if !self.nargs(c, 1, 2) {
                    return false;
                }
                let port = match c.args.get(1) {
                    Some(a) => match self.int_text(kw, a, 1u16, 65535) {
                        Some(p) => p,
                        None => return false,
                    },
                    None => 25,
                };
                self.cfg.global_defs.smtp_server = Some(SmtpServer {
                    host: c.args[0].text.as_str().to_owned(),
                    port,
                });
                true
            }
            "smtp_helo_name" => set_opt!(smtp_helo_name, self.string(c)),
            "smtp_connect_timeout" => set!(
                smtp_connect_timeout,
                self.secs(c, Duration::from_secs(1), day)
            ),
            "smtp_alert" => set_opt!(smtp_alert, self.bool_opt(c)),
            "smtp_alert_vrrp" => set_opt!(smtp_alert_vrrp, self.bool_opt(c)),
            "smtp_alert_checker" => set_opt!(smtp_alert_checker, self.bool_opt(c)),
            "no_email_faults" => set!(no_email_faults, self.flag(c).then_some(true)),
            "checker_log_all_failures" => set!(checker_log_all_failures, self.bool_opt(c)),
            "default_interface" => set_opt!(default_interface, self.string(c)),
            "vrrp_mcast_group4" => {
                let ip = self.ip(c);
                match ip {
                    Some(std::net::IpAddr::V4(v4)) if v4.is_multicast() => {
                        self.cfg.global_defs.vrrp_mcast_group4 = v4;
                        true
                    }
                    Some(_) => {
                        self.err(
                            &c.args[0].loc,
                            kw,
                            format!(
                                "expected an IPv4 multicast address, found `{}`",
                                c.args[0].text
                            ),
                        );
                        false
                    }
                    None => false,
                }
            }
            "vrrp_mcast_group6" => {
                let ip = self.ip(c);
                match ip {
                    Some(std::net::IpAddr::V6(v6)) if v6.is_multicast() => {
                        self.cfg.global_defs.vrrp_mcast_group6 = v6;
                        true
                    }
                    Some(_) => {
                        self.err(
                            &c.args[0].loc,
                            kw,
                            format!(
                                "expected an IPv6 multicast address, found `{}`",
                                c.args[0].text
                            ),
                        );
                        false
                    }
                    None => false,
                }
            }
            "vrrp_version" => set!(vrrp_version, self.int(c, 2u8, 3)),
            "vrrp_garp_master_delay" => {
                set!(vrrp_garp_master_delay, self.secs(c, Duration::ZERO, day))
            }
            "vrrp_garp_master_repeat" => {
                set!(vrrp_garp_master_repeat, self.int(c, 0u32, 1_000_000))
            }
            "vrrp_garp_lower_prio_delay" => set!(
                vrrp_garp_lower_prio_delay,
                self.secs(c, Duration::ZERO, day)
            ),
            "vrrp_garp_lower_prio_repeat" => {
                set!(vrrp_garp_lower_prio_repeat, self.int(c, 0u32, 1_000_000))
            }
            "vrrp_garp_master_refresh" => {
                set!(vrrp_garp_master_refresh, self.secs(c, Duration::ZERO, day))
            }
            "vrrp_garp_master_refresh_repeat" => set!(
                vrrp_garp_master_refresh_repeat,
                self.int(c, 1u32, 1_000_000)
            ),
            "vrrp_garp_interval" => set!(
                vrrp_garp_interval,
                self.secs(c, Duration::ZERO, Duration::from_secs(1))
            ),
            "vrrp_gna_interval" => set!(
                vrrp_gna_interval,
                self.secs(c, Duration::ZERO, Duration::from_secs(1))
            ),
            "vrrp_min_garp" => set!(vrrp_min_garp, self.bool_opt(c)),
            "vrrp_lower_prio_no_advert" => set!(vrrp_lower_prio_no_advert, self.bool_opt(c)),
            "vrrp_higher_prio_send_advert" => set!(vrrp_higher_prio_send_advert, self.bool_opt(c)),
            "vrrp_down_timer_adverts" => set!(vrrp_down_timer_adverts, self.int(c, 1u32, 100)),
            "vrrp_check_unicast_src" => set!(vrrp_check_unicast_src, self.flag(c).then_some(true)),
            "vrrp_skip_check_adv_addr" => set!(vrrp_skip_check_adv_addr, self.bool_opt(c)),
            "vrrp_strict" => set!(vrrp_strict, self.flag(c).then_some(true)),
            "vrrp_notify_priority_changes" => set!(vrrp_notify_priority_changes, self.bool_opt(c)),
            "vrrp_iptables" => {
                if !self.nargs(c, 0, 2) {
                    return false;
                }
                self.cfg.global_defs.vrrp_iptables = Some(IptablesChains {
                    input: c.args.first().map(|a| a.text.as_str().to_owned()),
                    output: c.args.get(1).map(|a| a.text.as_str().to_owned()),
                });
                // keepalived itself moves to nftables when iptables is the
                // nf_tables front end; vrrpd always does.
                self.warn(
                    &c.loc,
                    kw,
                    "vrrpd enforces no_accept with nftables, not iptables: the chains are \
                     not used (see `nftables`)",
                );
                true
            }
            "vrrp_ipsets" => {
                self.warn(
                    &c.loc,
                    kw,
                    "vrrpd enforces no_accept with nftables sets, not ipsets: ignored",
                );
                false
            }
            "nftables" => {
                if !self.nargs(c, 0, 1) {
                    return false;
                }
                let name = match c.args.first() {
                    None => crate::model::DEFAULT_NFTABLES_TABLE.to_owned(),
                    Some(a) => {
                        let t = a.text.as_str();
                        if t.is_empty() || t.len() > crate::model::NFTABLES_TABLE_MAX_LEN {
                            self.err(
                                &a.loc,
                                kw,
                                format!(
                                    "expected a table name of 1-{} bytes, found `{t}`",
                                    crate::model::NFTABLES_TABLE_MAX_LEN
                                ),
                            );
                            return false;
                        }
                        t.to_owned()
                    }
                };
                self.cfg.global_defs.nftables = Some(name);
                true
            }
            "nftables_priority" => set!(nftables_priority, self.int(c, i32::MIN, i32::MAX)),
            "nftables_counters" => set!(nftables_counters, self.flag(c).then_some(true)),
            "nftables_ifindex" => set!(nftables_ifindex, self.flag(c).then_some(true)),
            "vrrp_startup_delay" => set!(
                vrrp_startup_delay,
                self.secs(c, Duration::ZERO, Duration::from_secs(3600))
            ),
            "lvs_sync_daemon" => {
                let v = self.lvs_sync_daemon(c);
                set_opt!(lvs_sync_daemon, v)
            }
            "lvs_flush" => set!(lvs_flush, self.flag(c).then_some(true)),
            "lvs_flush_on_stop" => {
                if !self.nargs(c, 0, 1) {
                    return false;
                }
                self.cfg.global_defs.lvs_flush_on_stop = true;
                true
            }
            "script_user" => {
                if !self.nargs(c, 1, 2) {
                    return false;
                }
                self.cfg.global_defs.script_user = Some(c.args[0].text.as_str().to_owned());
                self.cfg.global_defs.script_group =
                    c.args.get(1).map(|a| a.text.as_str().to_owned());
                true
            }
            "enable_script_security" => set!(enable_script_security, self.flag(c).then_some(true)),
            "notify_fifo" | "vrrp_notify_fifo" | "lvs_notify_fifo" => {
                if !self.nargs(c, 1, 3) {
                    return false;
                }
                let fifo = NotifyFifo {
                    path: c.args[0].text.as_str().to_owned(),
                    script: None,
                };
                let slot = self.fifo_slot(kw);
                let script = slot.take().and_then(|f| f.script);
                *slot = Some(NotifyFifo { script, ..fifo });
                true
            }
            "notify_fifo_script" | "vrrp_notify_fifo_script" | "lvs_notify_fifo_script" => {
                let Some(s) = self.script(c) else {
                    return false;
                };
                let slot = self.fifo_slot(kw.trim_end_matches("_script"));
                match slot {
                    Some(f) => f.script = Some(s),
                    None => {
                        *slot = Some(NotifyFifo {
                            path: String::new(),
                            script: Some(s),
                        })
                    }
                }
                true
            }
            "startup_script" => set_opt!(startup_script, self.script(c)),
            "startup_script_timeout" => set_opt!(
                startup_script_timeout,
                self.secs(c, Duration::from_secs(1), Duration::from_secs(1000))
            ),
            "shutdown_script" => set_opt!(shutdown_script, self.script(c)),
            "shutdown_script_timeout" => set_opt!(
                shutdown_script_timeout,
                self.secs(c, Duration::from_secs(1), Duration::from_secs(1000))
            ),
            "dynamic_interfaces" => {
                if !self.nargs(c, 0, 1) {
                    return false;
                }
                self.cfg.global_defs.dynamic_interfaces = true;
                true
            }
            "log_unknown_vrids" => set!(log_unknown_vrids, self.flag(c).then_some(true)),
            "vrrp_priority" => set_opt!(vrrp_priority, self.int(c, -20i8, 19)),
            "checker_priority" => set_opt!(checker_priority, self.int(c, -20i8, 19)),
            "vrrp_no_swap" => set!(vrrp_no_swap, self.flag(c).then_some(true)),
            "checker_no_swap" => set!(checker_no_swap, self.flag(c).then_some(true)),
            "vrrp_rt_priority" => set_opt!(vrrp_rt_priority, self.int(c, 1u8, 99)),
            "checker_rt_priority" => set_opt!(checker_rt_priority, self.int(c, 1u8, 99)),
            "process_name" => set_opt!(process_name, self.string(c)),
            "vrrp_process_name" => set_opt!(vrrp_process_name, self.string(c)),
            "checker_process_name" => set_opt!(checker_process_name, self.string(c)),
            "umask" => {
                if !self.nargs(c, 1, usize::MAX) {
                    return false;
                }
                let t = &c.args[0];
                match u32::from_str_radix(t.text.trim_start_matches("0o"), 8) {
                    Ok(v) if c.args.len() == 1 && v <= 0o777 => {
                        self.cfg.global_defs.umask = Some(v);
                        true
                    }
                    _ => {
                        self.unsupported(c, "global_defs (only an octal umask is supported)");
                        false
                    }
                }
            }
            "max_auto_priority" => {
                if !self.nargs(c, 0, 1) {
                    return false;
                }
                let v = match c.args.first() {
                    Some(a) => self.int_text(kw, a, -1i32, 99),
                    None => Some(99),
                };
                set_opt!(max_auto_priority, v)
            }
            _ if UNSUPPORTED.contains(&kw) => {
                self.unsupported(c, CTX);
                false
            }
            _ => {
                self.unknown(c, CTX);
                false
            }
        }
    }

    fn fifo_slot(&mut self, kw: &str) -> &mut Option<NotifyFifo> {
        let g = &mut self.cfg.global_defs;
        match kw {
            "vrrp_notify_fifo" => &mut g.vrrp_notify_fifo,
            "lvs_notify_fifo" => &mut g.lvs_notify_fifo,
            _ => &mut g.notify_fifo,
        }
    }

    /// `lvs_sync_daemon IF [[inst] NAME] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`.
    fn lvs_sync_daemon(&mut self, c: &Node) -> Option<LvsSyncDaemon> {
        if !self.nargs(c, 1, usize::MAX) {
            return None;
        }
        let kw = c.keyword.as_str();
        let mut d = LvsSyncDaemon {
            interface: c.args[0].text.as_str().to_owned(),
            vrrp_instance: None,
            id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut i = 1;
        let mut ok = true;
        while i < c.args.len() {
            let a = &c.args[i];
            let next = c.args.get(i + 1);
            let opt = a.text.as_str();
            match (opt, next) {
                ("id", Some(v)) => d.id = self.int_text(kw, v, 0u8, 255),
                ("maxlen", Some(v)) => d.maxlen = self.int_text(kw, v, 1u16, 65535 - 20 - 8),
                ("port", Some(v)) => d.port = self.int_text(kw, v, 1u16, 65535),
                ("ttl", Some(v)) => d.ttl = self.int_text(kw, v, 1u8, 255),
                ("group", Some(v)) => d.group = self.ip_text(kw, v),
                ("inst", Some(v)) => d.vrrp_instance = Some(v.text.as_str().to_owned()),
                (name, _) if i == 1 => {
                    d.vrrp_instance = Some(name.to_owned());
                    i += 1;
                    continue;
                }
                (other, _) => {
                    self.err(
                        &a.loc,
                        kw,
                        format!("expected id|maxlen|port|ttl|group VALUE, found `{other}`"),
                    );
                    ok = false;
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        ok.then_some(d)
    }
}
