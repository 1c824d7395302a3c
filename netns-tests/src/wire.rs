//! Formats shared by the agent and the harness: the probe datagram, the
//! record lines the agent writes, and a minimal VRRP advertisement parser.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Length of a probe request: sequence number then send time, both u64 BE.
pub const PROBE_LEN: usize = 16;

/// Builds the probe request for `seq`, stamped with `sent_us`.
pub fn encode_probe(seq: u64, sent_us: u64) -> [u8; PROBE_LEN] {
    let mut buf = [0u8; PROBE_LEN];
    buf[..8].copy_from_slice(&seq.to_be_bytes());
    buf[8..].copy_from_slice(&sent_us.to_be_bytes());
    buf
}

/// Builds the echo reply: the request's 16 bytes followed by the node name,
/// so the prober learns *which* node holds the VIP.
pub fn encode_reply(request: &[u8], name: &str) -> Option<Vec<u8>> {
    let head = request.get(..PROBE_LEN)?;
    let mut out = Vec::with_capacity(PROBE_LEN + name.len());
    out.extend_from_slice(head);
    out.extend_from_slice(name.as_bytes());
    Some(out)
}

/// Splits an echo reply into (seq, responder name); `None` if malformed.
pub fn decode_reply(reply: &[u8]) -> Option<(u64, String)> {
    let seq_bytes: [u8; 8] = reply.get(..8)?.try_into().ok()?;
    let name = std::str::from_utf8(reply.get(PROBE_LEN..)?).ok()?;
    Some((u64::from_be_bytes(seq_bytes), name.to_string()))
}

/// One probe, as written by `netns-tests-agent probe` (one JSON object a line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub seq: u64,
    /// Monotonic µs when the datagram was handed to the kernel.
    pub sent_us: u64,
    /// Monotonic µs when the (first) reply arrived, if one did.
    pub recv_us: Option<u64>,
    /// Name of the node that answered.
    pub responder: Option<String>,
}

/// One VRRP advertisement seen by `netns-tests-agent capture`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advert {
    /// Monotonic µs at reception in the switch namespace.
    pub t_us: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_mac: [u8; 6],
    /// IPv4 TTL / IPv6 hop limit (RFC 5798 §5.1.1.3: must be 255).
    pub ttl: u8,
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// v2: seconds; v3: centiseconds (RFC 5798 §5.2.7).
    pub advert_int: u16,
    pub addresses: Vec<IpAddr>,
    /// Name of the sending node, filled in by the harness (not the capture).
    #[serde(default)]
    pub node: Option<String>,
}

/// One advertisement as the scale capture records it: only what the jitter
/// analysis needs, one short text line each, because at 1,000 instances and
/// 0.1 s the capture sees 10,000 adverts a second and JSON plus a flush per
/// advert would cost more CPU than the daemons under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertTime {
    /// Position of the capturing port in the capture's interface list (the
    /// link number when the harness lists a node's ports in link order).
    pub link: u8,
    /// Monotonic µs when the capture read the frame.
    pub t_us: u64,
    /// Kernel receive timestamp (`SO_TIMESTAMPNS`, CLOCK_REALTIME ns) taken
    /// when the frame entered the switch port, i.e. during the sender's
    /// `sendmsg`; free of the capture's own scheduling delay.
    pub kernel_ns: Option<u64>,
    pub ipv6: bool,
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    pub src_mac: [u8; 6],
}

impl AdvertTime {
    /// `link t_us kernel_ns|- 4|6 version vrid priority mac-hex`.
    pub fn to_line(&self) -> String {
        let m = self.src_mac;
        format!(
            "{} {} {} {} {} {} {} {:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.link,
            self.t_us,
            self.kernel_ns
                .map_or_else(|| "-".to_string(), |k| k.to_string()),
            if self.ipv6 { 6 } else { 4 },
            self.version,
            self.vrid,
            self.priority,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5]
        )
    }

    /// Inverse of [`AdvertTime::to_line`]; `None` if malformed.
    pub fn parse_line(line: &str) -> Option<AdvertTime> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [link, t_us, kernel, fam, version, vrid, priority, mac] = f.as_slice() else {
            return None;
        };
        let kernel_ns = match *kernel {
            "-" => None,
            k => Some(k.parse().ok()?),
        };
        let ipv6 = match *fam {
            "4" => false,
            "6" => true,
            _ => return None,
        };
        if mac.len() != 12 {
            return None;
        }
        let mut src_mac = [0u8; 6];
        for (i, b) in src_mac.iter_mut().enumerate() {
            *b = u8::from_str_radix(mac.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(AdvertTime {
            link: link.parse().ok()?,
            t_us: t_us.parse().ok()?,
            kernel_ns,
            ipv6,
            version: version.parse().ok()?,
            vrid: vrid.parse().ok()?,
            priority: priority.parse().ok()?,
            src_mac,
        })
    }

    /// The best timestamp in µs: the kernel's when present.
    pub fn best_us(&self) -> u64 {
        self.kernel_ns.map_or(self.t_us, |k| k / 1000)
    }
}

/// Reads [`AdvertTime`] lines, skipping a truncated last line but failing on
/// anything else malformed.
pub fn read_advert_times(text: &str) -> crate::Result<Vec<AdvertTime>> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match AdvertTime::parse_line(line) {
            Some(a) => out.push(a),
            None if i + 1 == lines.len() && !text.ends_with('\n') => break,
            None => {
                return Err(crate::Error::parse(
                    format!("advert times line {}", i + 1),
                    format!("malformed: {line:?}"),
                ))
            }
        }
    }
    Ok(out)
}

const ETH_HDR: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IANA protocol number of VRRP (RFC 5798 §5.1.1.4, §5.1.2.3).
pub const IPPROTO_VRRP: u8 = 112;

/// Parses an Ethernet frame and returns the VRRP advertisement it carries,
/// if any. Unknown or truncated frames give `None`: the capture records only
/// what it fully understands.
pub fn parse_frame(frame: &[u8], t_us: u64) -> Option<Advert> {
    let src_mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    let ip = frame.get(ETH_HDR..)?;
    let (src, dst, ttl, payload) = match ethertype {
        ETHERTYPE_IPV4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if ip.first()? >> 4 != 4 || ihl < 20 || *ip.get(9)? != IPPROTO_VRRP {
                return None;
            }
            let total = usize::from(u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?));
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::from(dst)),
                *ip.get(8)?,
                ip.get(ihl..total.min(ip.len()))?,
            )
        }
        ETHERTYPE_IPV6 => {
            // Only a VRRP header directly after the fixed IPv6 header; VRRP
            // adverts carry no extension headers (RFC 5798 §5.1.2).
            if ip.first()? >> 4 != 6 || *ip.get(6)? != IPPROTO_VRRP {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes(ip.get(4..6)?.try_into().ok()?));
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                *ip.get(7)?,
                ip.get(40..(40 + plen).min(ip.len()))?,
            )
        }
        _ => return None,
    };
    parse_vrrp(payload, src, dst, src_mac, ttl, t_us)
}

fn parse_vrrp(
    p: &[u8],
    src: IpAddr,
    dst: IpAddr,
    src_mac: [u8; 6],
    ttl: u8,
    t_us: u64,
) -> Option<Advert> {
    let version = p.first()? >> 4;
    let kind = p.first()? & 0x0f;
    // Type 1 is the only VRRP packet type (RFC 5798 §5.2.2).
    if kind != 1 || !(version == 2 || version == 3) {
        return None;
    }
    let vrid = *p.get(1)?;
    let priority = *p.get(2)?;
    let count = usize::from(*p.get(3)?);
    let advert_int = if version == 2 {
        // RFC 3768 §5.3.7: byte 5 is Adver Int in seconds.
        u16::from(*p.get(5)?)
    } else {
        // RFC 5798 §5.2.7: 12-bit Max Adver Int in centiseconds.
        u16::from_be_bytes(p.get(4..6)?.try_into().ok()?) & 0x0fff
    };
    let addr_len = if src.is_ipv4() { 4 } else { 16 };
    let mut addresses = Vec::with_capacity(count);
    for i in 0..count {
        let start = 8 + i * addr_len;
        let raw = p.get(start..start + addr_len)?;
        addresses.push(match addr_len {
            4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(raw).ok()?)),
            _ => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(raw).ok()?)),
        });
    }
    Some(Advert {
        t_us,
        src,
        dst,
        src_mac,
        ttl,
        version,
        vrid,
        priority,
        advert_int,
        addresses,
        node: None,
    })
}

/// Reads JSON-lines records, skipping a truncated last line (a process
/// killed mid-write) but failing on anything else malformed.
pub fn read_json_lines<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> crate::Result<Vec<T>> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(crate::Error::parse(format!("{what} line {}", i + 1), e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn probe_round_trip() {
        let req = encode_probe(42, 7);
        let rep = encode_reply(&req, "n2").unwrap();
        assert_eq!(decode_reply(&rep), Some((42, "n2".to_string())));
        assert_eq!(decode_reply(&rep[..10]), None);
        assert_eq!(encode_reply(&req[..15], "x"), None);
    }

    /// A VRRPv2 advert from 192.0.2.11, VRID 51, priority 120, int 1 s,
    /// one address 192.0.2.200, as keepalived sends it.
    fn v2_frame() -> Vec<u8> {
        let mut f = vec![
            0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
        ];
        let vrrp = [
            0x21, 51, 120, 1, 0, 1, 0, 0, 192, 0, 2, 200, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let total = (20 + vrrp.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            255,
            112,
            0,
            0,
        ]);
        f.extend_from_slice(&[192, 0, 2, 11, 224, 0, 0, 18]);
        f.extend_from_slice(&vrrp);
        f
    }

    #[test]
    fn parses_v2_advert() {
        let a = parse_frame(&v2_frame(), 5).unwrap();
        assert_eq!(a.version, 2);
        assert_eq!(a.vrid, 51);
        assert_eq!(a.priority, 120);
        assert_eq!(a.advert_int, 1);
        assert_eq!(a.ttl, 255);
        assert_eq!(a.src, "192.0.2.11".parse::<IpAddr>().unwrap());
        assert_eq!(a.addresses, vec!["192.0.2.200".parse::<IpAddr>().unwrap()]);
        assert_eq!(a.src_mac, [2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn rejects_truncated_and_foreign_frames() {
        let f = v2_frame();
        // Cut inside the address list: the count says one address.
        assert!(parse_frame(&f[..f.len() - 14], 0).is_none());
        let mut udp = f.clone();
        udp[ETH_HDR + 9] = 17;
        assert!(parse_frame(&udp, 0).is_none());
    }

    #[test]
    fn parses_v3_ipv6_advert() {
        let mut f = vec![0x33, 0x33, 0, 0, 0, 0x12, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
        let mut vrrp = vec![0x31, 7, 200, 1, 0x00, 10, 0, 0];
        vrrp.extend_from_slice(&"2001:db8::200".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, vrrp.len() as u8, 112, 255]);
        f.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&"ff02::12".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&vrrp);
        let a = parse_frame(&f, 0).unwrap();
        assert_eq!(
            (a.version, a.vrid, a.priority, a.advert_int),
            (3, 7, 200, 10)
        );
        assert_eq!(
            a.addresses,
            vec!["2001:db8::200".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn advert_time_lines_round_trip() {
        let a = AdvertTime {
            link: 3,
            t_us: 12_345_678,
            kernel_ns: Some(1_700_000_000_123_456_789),
            ipv6: true,
            version: 3,
            vrid: 250,
            priority: 200,
            src_mac: [0x2a, 0xbb, 0, 0, 0x10, 0xff],
        };
        let line = a.to_line();
        assert_eq!(
            line,
            "3 12345678 1700000000123456789 6 3 250 200 2abb000010ff"
        );
        assert_eq!(AdvertTime::parse_line(&line), Some(a));
        let b = AdvertTime {
            kernel_ns: None,
            ipv6: false,
            ..a
        };
        assert_eq!(AdvertTime::parse_line(&b.to_line()), Some(b));
        assert_eq!(b.best_us(), 12_345_678);
        assert_eq!(a.best_us(), 1_700_000_000_123_456);
        for bad in [
            "",
            "3 1 - 5 3 1 1 2abb000010ff",
            "3 1 - 4 3 1 1 2abb0000",
            "x 1 - 4 3 1 1 2abb000010ff",
        ] {
            assert_eq!(AdvertTime::parse_line(bad), None, "{bad:?}");
        }
        let text = format!("{line}\n{}\n3 12", b.to_line());
        assert_eq!(read_advert_times(&text).unwrap(), vec![a, b]);
        assert!(read_advert_times(&format!("garbage\n{line}\n")).is_err());
    }

    #[test]
    fn json_lines_tolerate_only_a_cut_last_line() {
        let ok = "{\"seq\":1,\"sent_us\":2,\"recv_us\":null,\"responder\":null}\n{\"seq\":2";
        let v: Vec<ProbeRecord> = read_json_lines(ok, "t").unwrap();
        assert_eq!(v.len(), 1);
        let bad = "garbage\n{\"seq\":1,\"sent_us\":2,\"recv_us\":null,\"responder\":null}\n";
        assert!(read_json_lines::<ProbeRecord>(bad, "t").is_err());
    }
}
