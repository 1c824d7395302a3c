//! IPVS: golden bytes of the generic netlink messages (written by hand
//! from include/uapi/linux/ip_vs.h, include/uapi/linux/netlink.h and
//! genetlink.h, in the attribute order ipvsadm's libipvs uses), both
//! directions; canned kernel replies; the capability probe on this
//! machine, whose kernel has no ip_vs.
//!
//! Netlink integers are host-order: the golden bytes are little-endian.
#![cfg(target_endian = "little")]

use std::net::{IpAddr, Ipv4Addr};

use healthcheck::ipvs::msg::{
    self, svc_flags, tun_flags, Dest, ForwardMethod, IpvsInfo, Netmask, Protocol, Reply, Request,
    Service, ServiceKey, Tunnel, TunnelType,
};

/// The family id the controller gave IPVS in these examples (dynamic,
/// anything above GENL_ID_CTRL's 0x10).
const FAMILY: u16 = 0x1c;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The service attribute of "TCP 192.0.2.10:80 wlc", not persistent.
const SVC_TCP4_WLC: [u8; 84] = [
    0x54, 0x00, 0x01, 0x80, // nla_len 84, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED
    0x06, 0x00, 0x01, 0x00, // nla_len 6, IPVS_SVC_ATTR_AF
    0x02, 0x00, 0x00, 0x00, //   AF_INET (u16), 2 bytes padding
    0x06, 0x00, 0x02, 0x00, // nla_len 6, IPVS_SVC_ATTR_PROTOCOL
    0x06, 0x00, 0x00, 0x00, //   IPPROTO_TCP (u16), padding
    0x14, 0x00, 0x03, 0x00, // nla_len 20, IPVS_SVC_ATTR_ADDR
    192, 0, 2, 10, //           union nf_inet_addr: IPv4 in the first 4 bytes
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0x06, 0x00, 0x04, 0x00, // nla_len 6, IPVS_SVC_ATTR_PORT
    0x00, 0x50, 0x00, 0x00, //   80 as __be16, padding
    0x08, 0x00, 0x06, 0x00, // nla_len 8, IPVS_SVC_ATTR_SCHED_NAME
    b'w', b'l', b'c', 0x00, //   "wlc\0"
    0x0c, 0x00, 0x07, 0x00, // nla_len 12, IPVS_SVC_ATTR_FLAGS (struct ip_vs_flags)
    0x00, 0x00, 0x00, 0x00, //   flags 0
    0xff, 0xff, 0xff, 0xff, //   mask ~0
    0x08, 0x00, 0x08, 0x00, // nla_len 8, IPVS_SVC_ATTR_TIMEOUT
    0x00, 0x00, 0x00, 0x00, //   0 s
    0x08, 0x00, 0x09, 0x00, // nla_len 8, IPVS_SVC_ATTR_NETMASK
    0xff, 0xff, 0xff, 0xff, //   255.255.255.255 as __be32
];

fn svc_tcp4_wlc() -> Service {
    Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
            port: 80,
        },
        scheduler: "wlc".into(),
        flags: 0,
        timeout: 0,
        netmask: Netmask::V4(Ipv4Addr::BROADCAST),
        pe_name: None,
    }
}

/// nlmsghdr + genlmsghdr of an IPVS request.
fn header(len: u32, seq: u32, cmd: u8) -> Vec<u8> {
    cat(&[
        &len.to_le_bytes(), // nlmsg_len
        &[0x1c, 0x00],      // nlmsg_type: the IPVS family id
        &[0x05, 0x00],      // NLM_F_REQUEST | NLM_F_ACK
        &seq.to_le_bytes(), // nlmsg_seq
        &[0, 0, 0, 0],      // nlmsg_pid: 0, the kernel knows ours
        &[cmd, 0x01, 0, 0], // genlmsghdr: cmd, IPVS_GENL_VERSION 1, reserved
    ])
}

fn assert_both_ways(req: Request, seq: u32, golden: &[u8]) {
    let bytes = req.encode(FAMILY, seq);
    assert_eq!(bytes, golden, "encoding of {req}");
    assert_eq!(
        Request::decode(golden).expect("golden bytes parse"),
        (FAMILY, seq, req)
    );
}

#[test]
fn add_ipv4_tcp_service_wlc() {
    let golden = cat(&[
        &[
            0x68, 0x00, 0x00, 0x00, // nlmsg_len 104 = 16 + 4 + 84
            0x1c, 0x00, // nlmsg_type: IPVS family id 28
            0x05, 0x00, // NLM_F_REQUEST | NLM_F_ACK
            0x01, 0x00, 0x00, 0x00, // seq 1
            0x00, 0x00, 0x00, 0x00, // pid 0
            0x01, 0x01, 0x00, 0x00, // IPVS_CMD_NEW_SERVICE, version 1, reserved
        ],
        &SVC_TCP4_WLC,
    ]);
    assert_both_ways(Request::NewService(svc_tcp4_wlc()), 1, &golden);
}

#[test]
fn add_ipv6_udp_service_with_persistence() {
    let golden: [u8; 104] = [
        0x68, 0x00, 0x00, 0x00, // nlmsg_len 104
        0x1c, 0x00, 0x05, 0x00, // IPVS, NLM_F_REQUEST | NLM_F_ACK
        0x02, 0x00, 0x00, 0x00, // seq 2
        0x00, 0x00, 0x00, 0x00, // pid 0
        0x01, 0x01, 0x00, 0x00, // IPVS_CMD_NEW_SERVICE, version 1
        0x54, 0x00, 0x01, 0x80, // nla_len 84, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED
        0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00, // AF: AF_INET6 (10)
        0x06, 0x00, 0x02, 0x00, 0x11, 0x00, 0x00, 0x00, // PROTOCOL: IPPROTO_UDP (17)
        0x14, 0x00, 0x03, 0x00, // nla_len 20, ADDR
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // 2001:db8::10
        0x06, 0x00, 0x04, 0x00, 0x00, 0x35, 0x00, 0x00, // PORT: 53 as __be16
        0x07, 0x00, 0x06, 0x00, b'r', b'r', 0x00, 0x00, // SCHED_NAME "rr\0" (len 7), 1 pad
        0x0c, 0x00, 0x07, 0x00, // FLAGS
        0x01, 0x00, 0x00, 0x00, //   IP_VS_SVC_F_PERSISTENT
        0xff, 0xff, 0xff, 0xff, //   mask
        0x08, 0x00, 0x08, 0x00, 0x2c, 0x01, 0x00, 0x00, // TIMEOUT: 300 s
        0x08, 0x00, 0x09, 0x00, 0x40, 0x00, 0x00,
        0x00, // NETMASK: IPv6 prefix length 64 (u32)
    ];
    let svc = Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: "2001:db8::10".parse().unwrap(),
            port: 53,
        },
        scheduler: "rr".into(),
        flags: svc_flags::PERSISTENT,
        timeout: 300,
        netmask: Netmask::V6(64),
        pe_name: None,
    };
    assert_both_ways(Request::NewService(svc), 2, &golden);
}

#[test]
fn fwmark_service() {
    let golden = cat(&[
        &header(76, 3, msg::cmd::NEW_SERVICE),
        &[
            0x38, 0x00, 0x01, 0x80, // nla_len 56, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED
            0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF_INET
            0x08, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00,
            0x00, // FWMARK 7 (u32); no proto/addr/port
            0x07, 0x00, 0x06, 0x00, b'l', b'c', 0x00, 0x00, // SCHED_NAME "lc\0"
            0x0c, 0x00, 0x07, 0x00, // FLAGS
            0x05, 0x00, 0x00, 0x00, //   PERSISTENT | ONEPACKET
            0xff, 0xff, 0xff, 0xff, //   mask
            0x08, 0x00, 0x08, 0x00, 0x68, 0x01, 0x00, 0x00, // TIMEOUT 360 s
            0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0x00, // NETMASK 255.255.255.0 (__be32)
        ],
    ]);
    let svc = Service {
        key: ServiceKey::Fwmark {
            family: msg::AF_INET,
            mark: 7,
        },
        scheduler: "lc".into(),
        flags: svc_flags::PERSISTENT | svc_flags::ONEPACKET,
        timeout: 360,
        netmask: Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)),
        pe_name: None,
    };
    assert_both_ways(Request::NewService(svc), 3, &golden);
}

/// The destination attribute of 198.51.100.5:80, direct routing, weight `w`.
fn dest_dr(w: u8) -> Vec<u8> {
    vec![
        0x48, 0x00, 0x02, 0x80, // nla_len 72, IPVS_CMD_ATTR_DEST | NLA_F_NESTED
        0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, // ADDR_FAMILY: AF_INET
        0x14, 0x00, 0x01, 0x00, // nla_len 20, IPVS_DEST_ATTR_ADDR
        198, 51, 100, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
        0x06, 0x00, 0x02, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT 80 (__be16)
        0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, // FWD_METHOD: IP_VS_CONN_F_DROUTE (3)
        0x08, 0x00, 0x04, 0x00, w, 0x00, 0x00, 0x00, //    WEIGHT
        0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, // U_THRESH 0
        0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // L_THRESH 0
    ]
}

fn dr(weight: u32) -> Dest {
    Dest {
        addr: "198.51.100.5".parse().unwrap(),
        port: 80,
        method: ForwardMethod::DirectRoute,
        weight,
        u_thresh: 0,
        l_thresh: 0,
        tunnel: None,
    }
}

#[test]
fn add_set_del_dest_direct_routing() {
    // 16 + 4 + 84 (service) + 72 (dest) = 176.
    let add = cat(&[&header(176, 4, 5), &SVC_TCP4_WLC, &dest_dr(3)]);
    assert_both_ways(Request::NewDest(svc_tcp4_wlc(), dr(3)), 4, &add);
    let set = cat(&[&header(176, 5, 6), &SVC_TCP4_WLC, &dest_dr(0)]);
    assert_both_ways(Request::SetDest(svc_tcp4_wlc(), dr(0)), 5, &set);
    let del = cat(&[&header(176, 6, 7), &SVC_TCP4_WLC, &dest_dr(3)]);
    assert_both_ways(Request::DelDest(svc_tcp4_wlc(), dr(3)), 6, &del);
}

#[test]
fn tunnelled_dest_gue_with_checksum() {
    let dest = Dest {
        addr: "203.0.113.7".parse().unwrap(),
        port: 0,
        method: ForwardMethod::Tunnel,
        weight: 1,
        u_thresh: 0,
        l_thresh: 0,
        tunnel: Some(Tunnel {
            kind: TunnelType::Gue,
            port: Some(6080),
            flags: Some(tun_flags::CSUM),
        }),
    };
    let dest_attr: [u8; 96] = [
        0x60, 0x00, 0x02, 0x80, // nla_len 96, IPVS_CMD_ATTR_DEST | NLA_F_NESTED
        0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, // ADDR_FAMILY AF_INET
        0x14, 0x00, 0x01, 0x00, 203, 0, 113, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR
        0x06, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // PORT 0
        0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, // FWD_METHOD IP_VS_CONN_F_TUNNEL (2)
        0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, // WEIGHT 1
        0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, // U_THRESH
        0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // L_THRESH
        0x05, 0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, // TUN_TYPE u8: GUE (1), 3 pad
        0x06, 0x00, 0x0e, 0x00, 0x17, 0xc0, 0x00, 0x00, // TUN_PORT 6080 (__be16)
        0x06, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x00, // TUN_FLAGS u16: ENCAP_FLAG_CSUM
    ];
    let golden = cat(&[&header(200, 7, 5), &SVC_TCP4_WLC, &dest_attr]);
    assert_both_ways(Request::NewDest(svc_tcp4_wlc(), dest), 7, &golden);
}

#[test]
fn get_info_and_flush_have_no_attributes() {
    assert_both_ways(Request::GetInfo, 8, &header(20, 8, 15));
    assert_both_ways(Request::Flush, 9, &header(20, 9, 17));
}

#[test]
fn get_family_request() {
    let golden: [u8; 32] = [
        0x20, 0x00, 0x00, 0x00, // nlmsg_len 32
        0x10, 0x00, // GENL_ID_CTRL
        0x05, 0x00, // NLM_F_REQUEST | NLM_F_ACK
        0x01, 0x00, 0x00, 0x00, // seq 1
        0x00, 0x00, 0x00, 0x00, // pid 0
        0x03, 0x02, 0x00, 0x00, // CTRL_CMD_GETFAMILY, controller version 2
        0x09, 0x00, 0x02, 0x00, // nla_len 9, CTRL_ATTR_FAMILY_NAME
        b'I', b'P', b'V', b'S', 0x00, 0x00, 0x00, 0x00, // "IPVS\0", 3 pad
    ];
    assert_eq!(msg::get_family_request("IPVS", 1), golden);
}

/// The GET_INFO reply: cmd IPVS_CMD_SET_INFO with VERSION and
/// CONN_TAB_SIZE, then the ack of the same sequence number, in one
/// datagram.
#[test]
fn decodes_a_get_info_reply_and_its_ack() {
    let datagram: [u8; 72] = [
        0x24, 0x00, 0x00, 0x00, // nlmsg_len 36
        0x1c, 0x00, 0x00, 0x00, // IPVS family, no flags
        0x05, 0x00, 0x00, 0x00, // seq 5
        0x39, 0x30, 0x00, 0x00, // pid 12345 (ours)
        0x0e, 0x01, 0x00, 0x00, // IPVS_CMD_SET_INFO, version 1
        0x08, 0x00, 0x01, 0x00, 0x01, 0x02, 0x01, 0x00, // INFO_ATTR_VERSION 0x010201
        0x08, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00, // INFO_ATTR_CONN_TAB_SIZE 4096
        // The ack: NLMSG_ERROR with error 0 and the request's header
        // (NETLINK_CAP_ACK: header only).
        0x24, 0x00, 0x00, 0x00, // nlmsg_len 36
        0x02, 0x00, 0x00, 0x01, // NLMSG_ERROR, NLM_F_CAPPED
        0x05, 0x00, 0x00, 0x00, // seq 5
        0x39, 0x30, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // error 0
        0x14, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00, // the GET_INFO request's header
        0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let info = IpvsInfo {
        version: 0x010201,
        conn_tab_size: 4096,
    };
    assert_eq!(
        Reply::parse_all(&datagram, Some(FAMILY)).unwrap(),
        vec![Reply::Info { seq: 5, info }, Reply::Ack { seq: 5 }]
    );
    assert_eq!(info.to_string(), "IPVS 1.2.1 (connection table size 4096)");
    // Our encoder of the same reply (used by tests of the reply path)
    // gives the same bytes but for the port id.
    let mut ours = msg::encode_info_reply(FAMILY, 5, info);
    ours[12..16].copy_from_slice(&12345u32.to_le_bytes());
    assert_eq!(ours, datagram[..36]);
    // Without knowing the IPVS family id, the message is not interpreted.
    assert_eq!(
        Reply::parse(&datagram, None).unwrap().0,
        Reply::Other {
            seq: 5,
            message_type: FAMILY
        }
    );
}

#[test]
fn decodes_nlmsg_error_with_errno() {
    // What the controller answers to GETFAMILY "IPVS" without ip_vs.
    let enoent: [u8; 36] = [
        0x24, 0x00, 0x00, 0x00, // nlmsg_len 36
        0x02, 0x00, 0x00, 0x01, // NLMSG_ERROR, NLM_F_CAPPED
        0x01, 0x00, 0x00, 0x00, // seq 1
        0x00, 0x00, 0x00, 0x00, // pid
        0xfe, 0xff, 0xff, 0xff, // error -2 (-ENOENT)
        0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, // the GETFAMILY request's header
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(
        Reply::parse(&enoent, None).unwrap(),
        (Reply::Error { seq: 1, errno: 2 }, 36)
    );
    // -EEXIST (17) to a NEW_DEST, full request echoed (no CAP_ACK): the
    // echo is skipped by nlmsg_len.
    let mut eexist = cat(&[
        &[0x48, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00],
        &[0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        &[0xef, 0xff, 0xff, 0xff], // -17
        &header(176, 9, 5)[..],
    ]);
    eexist.resize(0x48, 0);
    assert_eq!(
        Reply::parse_all(&eexist, Some(FAMILY)).unwrap(),
        vec![Reply::Error { seq: 9, errno: 17 }]
    );
}

#[test]
fn malformed_replies_are_errors() {
    // Shorter than a netlink header.
    assert!(Reply::parse(&[0x10, 0, 0, 0, 2, 0], None).is_err());
    // nlmsg_len larger than the datagram.
    assert!(Reply::parse(&[0x40, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], None).is_err());
    // NLMSG_ERROR without its error code.
    assert!(Reply::parse(&[0x10, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], None).is_err());
    // A GET_INFO reply missing CONN_TAB_SIZE.
    let short = cat(&[
        &[0x1c, 0, 0, 0, 0x1c, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0],
        &[0x0e, 0x01, 0, 0],
        &[0x08, 0x00, 0x01, 0x00, 0x01, 0x02, 0x01, 0x00],
    ]);
    assert!(Reply::parse(&short, Some(FAMILY)).is_err());
    // A request whose service attribute has an address of 5 bytes.
    let mut bad = cat(&[&header(104, 1, 1), &SVC_TCP4_WLC]);
    bad[20 + 20] = 0x09; // ADDR nla_len 20 -> 9
    assert!(Request::decode(&bad).is_err());
}

/// The capability probe against this machine's kernel. This build host
/// has no ip_vs (DESIGN.md), so here it must say so, with the message
/// the daemon logs. On a kernel with IPVS the probe must succeed instead;
/// /proc/net/ip_vs (present exactly when ip_vs is loaded) tells which.
#[test]
fn probe_reports_ipvs_not_available_here() {
    let result = healthcheck::ipvs::probe();
    let have_ipvs = std::path::Path::new("/proc/net/ip_vs").exists();
    match result {
        Err(e @ healthcheck::ipvs::IpvsError::NotAvailable) => {
            assert!(!have_ipvs, "probe says no IPVS but /proc/net/ip_vs exists");
            assert_eq!(
                e.to_string(),
                "IPVS not available: the kernel has no ip_vs module (modprobe ip_vs); \
                 virtual servers will be checked but no IPVS table is programmed"
            );
        }
        Ok(info) => {
            assert!(
                have_ipvs,
                "probe found IPVS ({info}) without /proc/net/ip_vs"
            );
            assert_eq!(info.version >> 16, 1, "{info}");
        }
        Err(e) => panic!("probe failed otherwise: {e}"),
    }
}

/// The transport itself works on this kernel: the controller resolves
/// its own family ("nlctrl" is always GENL_ID_CTRL, 0x10), and an unknown
/// family comes back as the kernel's ENOENT with our sequence number.
#[test]
fn socket_resolves_the_controller_family() {
    let mut s = healthcheck::ipvs::IpvsSocket::open_generic().expect("generic netlink socket");
    assert_eq!(s.resolve("nlctrl").unwrap(), 0x10);
    let err = s.resolve("nosuchfamily").unwrap_err();
    assert_eq!(err.errno(), Some(2), "{err}");
    // A name longer than GENL_NAMSIZ - 1 (15) fails the attribute policy.
    let err = s.resolve("a-name-too-long-x").unwrap_err();
    assert_eq!(err.errno(), Some(22), "{err}");
    // The socket is still in step after errors.
    assert_eq!(s.resolve("nlctrl").unwrap(), 0x10);
}
