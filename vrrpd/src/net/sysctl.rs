//! Per-interface IPv4 settings under `/proc/sys/net/ipv4/conf/IF/` (of the
//! network namespace the daemon runs in).
//!
//! `use_vmac` needs keepalived's settings (`vrrp_if_config.c`): on the VMAC,
//! `arp_ignore=1` (answer ARP only for its own addresses), `accept_local=1`,
//! `rp_filter=0` (it has no route back of its own) and
//! `promote_secondaries=1`; on the parent, `arp_ignore=1` and `arp_filter=1`
//! so that it never answers ARP for a VIP with its own MAC.

use std::io;
use std::path::PathBuf;

fn path(ifname: &str, key: &str) -> io::Result<PathBuf> {
    conf_path("/proc/sys/net/ipv4/conf", ifname, key)
}

/// `BASE/IF/KEY` for a per-interface setting.
fn conf_path(base: &str, ifname: &str, key: &str) -> io::Result<PathBuf> {
    // An interface name never contains '/', and "." / ".." are not names
    // the kernel accepts; refuse them rather than write elsewhere.
    if ifname.is_empty() || ifname.contains('/') || ifname == "." || ifname == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?}"),
        ));
    }
    Ok(PathBuf::from(base).join(ifname).join(key))
}

pub fn get(ifname: &str, key: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(path(ifname, key)?)?
        .trim()
        .to_owned())
}

pub fn set(ifname: &str, key: &str, value: &str) -> io::Result<()> {
    std::fs::write(path(ifname, key)?, value)
}

/// `net.ipv4.igmp_link_local_mcast_reports`: whether the kernel sends
/// IGMP reports for the link-local groups 224.0.0.0/24 (VRRP's 224.0.0.18
/// among them). Switches flood those groups without reports (RFC 4541
/// §2.1.2), so they are not needed; a backup's VMAC that sends them moves
/// the switch's entry for the virtual MAC to itself.
const IGMP_LLM_REPORTS: &str = "/proc/sys/net/ipv4/igmp_link_local_mcast_reports";

pub fn igmp_link_local_reports() -> io::Result<String> {
    Ok(std::fs::read_to_string(IGMP_LLM_REPORTS)?.trim().to_owned())
}

pub fn set_igmp_link_local_reports(value: &str) -> io::Result<()> {
    std::fs::write(IGMP_LLM_REPORTS, value)
}

/// Like [`set`], under `/proc/sys/net/ipv6/conf/IF/`. A kernel without
/// IPv6 has no such directory: that is `NotFound`, for the caller to
/// ignore.
pub fn set_ipv6(ifname: &str, key: &str, value: &str) -> io::Result<()> {
    std::fs::write(conf_path("/proc/sys/net/ipv6/conf", ifname, key)?, value)
}

/// The settings a VMAC interface needs.
pub const VMAC: &[(&str, &str)] = &[
    ("arp_ignore", "1"),
    ("accept_local", "1"),
    ("rp_filter", "0"),
    ("promote_secondaries", "1"),
];

/// The IPv6 settings of an IPv6 VMAC (`/proc/sys/net/ipv6/conf/VMAC/`):
/// no automatic link-local address (it would be the same EUI-64 address on
/// every node; RFC 5798 §7.4, keepalived sets the same mode), no DAD, no
/// router solicitations, no autoconfiguration from router adverts: the
/// kernel must send nothing from the virtual MAC on its own.
pub const VMAC_V6: &[(&str, &str)] = &[
    ("addr_gen_mode", "1"),
    ("accept_dad", "0"),
    ("router_solicitations", "0"),
    ("accept_ra", "0"),
];

/// The settings the VMAC's parent needs.
pub const VMAC_PARENT: &[(&str, &str)] = &[("arp_ignore", "1"), ("arp_filter", "1")];

/// Apply `settings` to `ifname`; returns the previous values, for restoring.
pub fn apply(ifname: &str, settings: &[(&str, &str)]) -> io::Result<Vec<(String, String)>> {
    let mut old = Vec::with_capacity(settings.len());
    for (key, value) in settings {
        old.push(((*key).to_owned(), get(ifname, key)?));
        set(ifname, key, value)?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_that_leave_the_directory() {
        assert!(path("../all", "rp_filter").is_err());
        assert!(path("..", "rp_filter").is_err());
        assert!(path("", "rp_filter").is_err());
        assert_eq!(
            path("eth0", "arp_ignore").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0/arp_ignore")
        );
    }

    #[test]
    fn reads_loopback_settings() {
        // Every namespace has lo; the value is a number.
        let v = get("lo", "arp_ignore").unwrap();
        assert!(v.parse::<u32>().is_ok(), "{v}");
    }
}
