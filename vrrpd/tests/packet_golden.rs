#![allow(clippy::unwrap_used)]
//! Golden bytes for the VRRP codec, both directions, and named edge cases.
//!
//! Every byte string here was built by hand from the RFC 3768 / RFC 5798
//! layouts by `tests/data/gen_golden.py` (an independent checksum in
//! Python), never by the codec under test.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrpd::packet::{
    peek_vrid, validate, Advertisement, Auth, AuthFailure, ChecksumMode, EmitError, Expect, Family,
    Packet, PacketError, RxMeta, Version, MCAST_V4, MCAST_V6,
};

fn hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

const MCAST4: IpAddr = IpAddr::V4(MCAST_V4);
const MCAST6: IpAddr = IpAddr::V6(MCAST_V6);

// VRRPv2, VRID 51, priority 100, 192.0.2.100, no auth, 1 s.
const V2_NONE: &str = "213364010001b865c00002640000000000000000";
// VRRPv2, VRID 51, priority 150, two addresses, PASS "1111", 1 s.
const V2_PASS: &str = "213396020101609cc0000264c00002653131313100000000";
// VRRPv3 over IPv4 from 192.0.2.1 to 224.0.0.18, VRID 51, priority 100,
// 100 cs, 192.0.2.100, with the IPv4 pseudo-header (keepalived default).
const V3_V4: &str = "3133640100640572c0000264";
// The same without the pseudo-header (keepalived v3_checksum_as_v2).
const V3_V4_AS_V2: &str = "313364010064a802c0000264";
// VRRPv3 over IPv6 from 2001:db8::1 to ff02::12, VRID 7, priority 200,
// 10 cs, 2001:db8::100 and 2001:db8::101.
const V3_V6: &str =
    "3107c802000a7c1120010db800000000000000000000010020010db8000000000000000000000101";
// VRRPv3 over IPv4 from 198.51.100.1, VRID 9, owner, 4095 cs, no address.
const V3_V4_NOADDR: &str = "3109ff000fffb536";

fn adv_v2_none() -> Advertisement {
    Advertisement {
        version: Version::V2,
        vrid: 51,
        priority: 100,
        max_adver_int: 100,
        auth: Auth::None,
        addrs: vec![v4("192.0.2.100")],
    }
}

fn adv_v2_pass() -> Advertisement {
    Advertisement {
        version: Version::V2,
        vrid: 51,
        priority: 150,
        max_adver_int: 100,
        auth: Auth::pass("1111"),
        addrs: vec![v4("192.0.2.100"), v4("192.0.2.101")],
    }
}

fn adv_v3_v4() -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid: 51,
        priority: 100,
        max_adver_int: 100,
        auth: Auth::None,
        addrs: vec![v4("192.0.2.100")],
    }
}

fn adv_v3_v6() -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid: 7,
        priority: 200,
        max_adver_int: 10,
        auth: Auth::None,
        addrs: vec![v6("2001:db8::100"), v6("2001:db8::101")],
    }
}

#[test]
fn v2_no_auth_both_directions() {
    let src = v4("192.0.2.1");
    let got = Advertisement::parse(&hex(V2_NONE), src, MCAST4, Family::V4).unwrap();
    assert_eq!(got, adv_v2_none());
    assert_eq!(adv_v2_none().emit(src, MCAST4).unwrap(), hex(V2_NONE));
    assert_eq!(adv_v2_none().buffer_len(), 20);
}

#[test]
fn v2_pass_both_directions() {
    let src = v4("192.0.2.1");
    let got = Advertisement::parse(&hex(V2_PASS), src, MCAST4, Family::V4).unwrap();
    assert_eq!(got, adv_v2_pass());
    assert_eq!(got.auth, Auth::Pass(*b"1111\0\0\0\0"));
    assert_eq!(adv_v2_pass().emit(src, MCAST4).unwrap(), hex(V2_PASS));
}

#[test]
fn v2_checksum_ignores_ip_addresses() {
    // RFC 3768 §5.3.7: the v2 checksum covers the VRRP message only, so any
    // IP endpoints verify.
    let got = Advertisement::parse(
        &hex(V2_NONE),
        v4("203.0.113.9"),
        v4("198.51.100.3"),
        Family::V4,
    )
    .unwrap();
    assert_eq!(got, adv_v2_none());
}

#[test]
fn v3_ipv4_pseudo_header_both_directions() {
    let src = v4("192.0.2.1");
    let got = Advertisement::parse(&hex(V3_V4), src, MCAST4, Family::V4).unwrap();
    assert_eq!(got, adv_v3_v4());
    assert_eq!(adv_v3_v4().emit(src, MCAST4).unwrap(), hex(V3_V4));
}

#[test]
fn v3_ipv4_checksum_as_v2_both_directions() {
    let src = v4("192.0.2.1");
    let got = Advertisement::parse_with(
        &hex(V3_V4_AS_V2),
        src,
        MCAST4,
        Family::V4,
        ChecksumMode::V3AsV2,
    )
    .unwrap();
    assert_eq!(got, adv_v3_v4());
    assert_eq!(
        adv_v3_v4()
            .emit_with(src, MCAST4, ChecksumMode::V3AsV2)
            .unwrap(),
        hex(V3_V4_AS_V2)
    );
}

#[test]
fn v3_checksum_modes_do_not_cross_verify() {
    let src = v4("192.0.2.1");
    let err = Advertisement::parse(&hex(V3_V4_AS_V2), src, MCAST4, Family::V4).unwrap_err();
    assert_eq!(
        err,
        PacketError::Checksum {
            vrid: 51,
            version: Version::V3,
            got: 0xa802,
            computed: 0x0572
        }
    );
    let err = Advertisement::parse_with(&hex(V3_V4), src, MCAST4, Family::V4, ChecksumMode::V3AsV2)
        .unwrap_err();
    assert_eq!(err.reason(), "checksum");
}

#[test]
fn v3_ipv4_pseudo_header_binds_source() {
    // The pseudo-header includes the source: the same bytes from another
    // router do not verify.
    let err = Advertisement::parse(&hex(V3_V4), v4("192.0.2.2"), MCAST4, Family::V4).unwrap_err();
    assert_eq!(err.reason(), "checksum");
}

#[test]
fn v3_ipv6_both_directions() {
    let src = v6("2001:db8::1");
    let got = Advertisement::parse(&hex(V3_V6), src, MCAST6, Family::V6).unwrap();
    assert_eq!(got, adv_v3_v6());
    assert_eq!(adv_v3_v6().emit(src, MCAST6).unwrap(), hex(V3_V6));
    // The v3_checksum_as_v2 knob only concerns IPv4.
    assert_eq!(
        adv_v3_v6()
            .emit_with(src, MCAST6, ChecksumMode::V3AsV2)
            .unwrap(),
        hex(V3_V6)
    );
}

#[test]
fn v3_no_addresses_max_interval() {
    let src = v4("198.51.100.1");
    let got = Advertisement::parse(&hex(V3_V4_NOADDR), src, MCAST4, Family::V4).unwrap();
    let want = Advertisement {
        version: Version::V3,
        vrid: 9,
        priority: 255,
        max_adver_int: 4095,
        auth: Auth::None,
        addrs: vec![],
    };
    assert_eq!(got, want);
    assert_eq!(want.emit(src, MCAST4).unwrap(), hex(V3_V4_NOADDR));
}

#[test]
fn view_accessors_read_the_fields() {
    let bytes = hex(V2_PASS);
    let p = Packet::new_checked(&bytes[..], Family::V4).unwrap();
    assert_eq!(p.version(), Some(Version::V2));
    assert_eq!(p.vrid(), 51);
    assert_eq!(p.priority(), 150);
    assert_eq!(p.addr_count(), 2);
    assert_eq!(u8::from(p.auth_type()), 1);
    assert_eq!(p.adver_int_v2(), 1);
    assert_eq!(p.checksum(), 0x609c);
    assert_eq!(
        p.addrs().collect::<Vec<_>>(),
        vec![v4("192.0.2.100"), v4("192.0.2.101")]
    );
    assert_eq!(&p.auth_data(), b"1111\0\0\0\0");
    assert_eq!(peek_vrid(&bytes), Some((2, 51)));
}

#[test]
fn v3_reserved_nibble_is_ignored_on_receipt() {
    // RFC 5798 §5.2.6: reserved bits MUST be ignored by the receiver. Set
    // them, fix the checksum by hand (0x0572 - 0xf000 in one's complement).
    let mut bytes = hex(V3_V4);
    bytes[4] |= 0xf0;
    let c = u16::from_be_bytes([bytes[6], bytes[7]]);
    let fixed = {
        // Adding 0xf000 to the sum lowers the complement by 0xf000.
        let s = u32::from(!c) + 0xf000;
        !(((s & 0xffff) + (s >> 16)) as u16)
    };
    bytes[6..8].copy_from_slice(&fixed.to_be_bytes());
    let got = Advertisement::parse(&bytes, v4("192.0.2.1"), MCAST4, Family::V4).unwrap();
    assert_eq!(got.max_adver_int, 100);
}

// ----- edge cases -----

#[test]
fn empty_and_short_buffers_are_truncated() {
    for n in 0..8 {
        let bytes = hex(V2_NONE);
        let err =
            Advertisement::parse(&bytes[..n], v4("192.0.2.1"), MCAST4, Family::V4).unwrap_err();
        assert!(
            matches!(err, PacketError::Truncated { len, needed: 8, .. } if len == n),
            "{err:?}"
        );
        assert_eq!(err.reason(), "length");
    }
}

#[test]
fn missing_auth_trailer_is_truncated() {
    let bytes = hex(V2_NONE);
    let err = Advertisement::parse(&bytes[..19], v4("192.0.2.1"), MCAST4, Family::V4).unwrap_err();
    assert_eq!(
        err,
        PacketError::Truncated {
            len: 19,
            needed: 20,
            vrid: Some(51)
        }
    );
}

#[test]
fn overlong_count_is_truncated() {
    // Count says 9 addresses, the buffer holds one.
    let mut bytes = hex(V3_V4);
    bytes[3] = 9;
    let err = Advertisement::parse(&bytes, v4("192.0.2.1"), MCAST4, Family::V4).unwrap_err();
    assert_eq!(
        err,
        PacketError::Truncated {
            len: 12,
            needed: 8 + 9 * 4,
            vrid: Some(51)
        }
    );
}

#[test]
fn trailing_bytes_are_overlong() {
    let mut bytes = hex(V3_V4);
    bytes.push(0);
    let err = Advertisement::parse(&bytes, v4("192.0.2.1"), MCAST4, Family::V4).unwrap_err();
    assert_eq!(
        err,
        PacketError::Overlong {
            vrid: 51,
            version: Version::V3,
            len: 13,
            expected: 12
        }
    );
    assert_eq!(err.reason(), "length");
}

#[test]
fn bad_version_is_rejected() {
    for v in [0u8, 1, 4, 15] {
        let mut bytes = hex(V3_V4);
        bytes[0] = (v << 4) | 1;
        let err = Advertisement::parse(&bytes, v4("192.0.2.1"), MCAST4, Family::V4).unwrap_err();
        assert_eq!(
            err,
            PacketError::Version {
                vrid: 51,
                got: v,
                expected: 0
            }
        );
        assert_eq!(err.reason(), "version");
    }
}

#[test]
fn v2_over_ipv6_is_rejected() {
    let bytes = hex(V2_NONE);
    let err = Advertisement::parse(&bytes, v6("2001:db8::1"), MCAST6, Family::V6).unwrap_err();
    assert_eq!(err.reason(), "family");
    let e = adv_v2_none();
    assert_eq!(
        e.emit(v6("2001:db8::1"), MCAST6).unwrap_err(),
        EmitError::MixedFamily(v4("192.0.2.100"))
    );
    let mut e6 = adv_v3_v6();
    e6.version = Version::V2;
    e6.max_adver_int = 100;
    assert_eq!(
        e6.emit(v6("2001:db8::1"), MCAST6).unwrap_err(),
        EmitError::V2OverIpv6
    );
}

#[test]
fn bad_checksum_is_rejected() {
    let mut bytes = hex(V2_NONE);
    bytes[7] ^= 0x01;
    let err = Advertisement::parse(&bytes, v4("192.0.2.1"), MCAST4, Family::V4).unwrap_err();
    assert_eq!(
        err,
        PacketError::Checksum {
            vrid: 51,
            version: Version::V2,
            got: 0xb864,
            computed: 0xb865
        }
    );
    // A flipped payload bit is caught as well.
    let mut bytes = hex(V2_PASS);
    bytes[20] ^= 0x80;
    assert_eq!(
        Advertisement::parse(&bytes, v4("192.0.2.1"), MCAST4, Family::V4)
            .unwrap_err()
            .reason(),
        "checksum"
    );
}

#[test]
fn bad_type_is_rejected() {
    let mut bytes = hex(V2_NONE);
    bytes[0] = 0x22;
    let err = Advertisement::parse(&bytes, v4("192.0.2.1"), MCAST4, Family::V4).unwrap_err();
    assert_eq!(
        err,
        PacketError::Type {
            vrid: 51,
            version: Version::V2,
            got: 2
        }
    );
    assert_eq!(err.reason(), "type");
}

#[test]
fn emit_rejects_what_the_wire_cannot_carry() {
    let mut a = adv_v2_none();
    a.max_adver_int = 150;
    assert_eq!(
        a.emit(v4("192.0.2.1"), MCAST4).unwrap_err(),
        EmitError::V2Interval(150)
    );
    a.max_adver_int = 25_600;
    assert_eq!(
        a.emit(v4("192.0.2.1"), MCAST4).unwrap_err(),
        EmitError::V2Interval(25_600)
    );
    let mut b = adv_v3_v4();
    b.max_adver_int = 4096;
    assert_eq!(
        b.emit(v4("192.0.2.1"), MCAST4).unwrap_err(),
        EmitError::V3Interval(4096)
    );
    b.max_adver_int = 100;
    b.auth = Auth::pass("x");
    assert_eq!(
        b.emit(v4("192.0.2.1"), MCAST4).unwrap_err(),
        EmitError::AuthInV3
    );
    let mut c = adv_v3_v4();
    c.addrs = (0..256u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)))
        .collect();
    assert_eq!(
        c.emit(v4("192.0.2.1"), MCAST4).unwrap_err(),
        EmitError::TooManyAddrs(256)
    );
    let mut buf = [0u8; 11];
    assert_eq!(
        adv_v3_v4()
            .emit_into(
                &mut buf,
                v4("192.0.2.1"),
                MCAST4,
                ChecksumMode::PseudoHeader
            )
            .unwrap_err(),
        EmitError::BufferTooShort {
            len: 11,
            needed: 12
        }
    );
}

#[test]
fn auth_pass_is_truncated_and_padded_like_keepalived() {
    assert_eq!(Auth::pass("1111"), Auth::Pass(*b"1111\0\0\0\0"));
    assert_eq!(Auth::pass("0123456789"), Auth::Pass(*b"01234567"));
}

// ----- receive validation -----

fn expect_v2<'a>(auth: &'a Auth, addrs: &'a [IpAddr]) -> Expect<'a> {
    Expect {
        vrid: 51,
        version: Version::V2,
        auth,
        adver_int_cs: 100,
        addrs,
        skip_check_adv_addr: false,
        current_master: None,
        check_ttl: true,
        checksum_mode: ChecksumMode::PseudoHeader,
    }
}

fn meta(src: &str, ttl: u8) -> RxMeta {
    RxMeta {
        src: v4(src),
        dst: MCAST4,
        ttl,
    }
}

#[test]
fn validate_accepts_a_matching_v2_pass_advert() {
    let auth = Auth::pass("1111");
    let addrs = [v4("192.0.2.101"), v4("192.0.2.100")]; // order does not matter
    let got = validate(
        &hex(V2_PASS),
        &meta("192.0.2.1", 255),
        &expect_v2(&auth, &addrs),
    )
    .unwrap();
    assert_eq!(got, adv_v2_pass());
}

#[test]
fn validate_ttl_must_be_255_unless_unicast() {
    let auth = Auth::pass("1111");
    let addrs = [v4("192.0.2.100"), v4("192.0.2.101")];
    let err = validate(
        &hex(V2_PASS),
        &meta("192.0.2.1", 254),
        &expect_v2(&auth, &addrs),
    )
    .unwrap_err();
    assert_eq!(err, PacketError::Ttl { vrid: 51, ttl: 254 });
    assert_eq!(err.reason(), "ttl");
    let mut e = expect_v2(&auth, &addrs);
    e.check_ttl = false;
    assert!(validate(&hex(V2_PASS), &meta("192.0.2.1", 64), &e).is_ok());
}

#[test]
fn validate_version_mismatch() {
    let auth = Auth::None;
    let addrs = [v4("192.0.2.100")];
    let err = validate(
        &hex(V3_V4),
        &meta("192.0.2.1", 255),
        &expect_v2(&auth, &addrs),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PacketError::Version {
            vrid: 51,
            got: 3,
            expected: 2
        }
    );
}

#[test]
fn validate_auth_failures() {
    let addrs = [v4("192.0.2.100"), v4("192.0.2.101")];
    let wrong_pw = Auth::pass("2222");
    let err = validate(
        &hex(V2_PASS),
        &meta("192.0.2.1", 255),
        &expect_v2(&wrong_pw, &addrs),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PacketError::Auth {
            vrid: 51,
            detail: AuthFailure::Password
        }
    );
    let none = Auth::None;
    let err = validate(
        &hex(V2_PASS),
        &meta("192.0.2.1", 255),
        &expect_v2(&none, &addrs),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PacketError::Auth {
            vrid: 51,
            detail: AuthFailure::TypeMismatch {
                got: 1,
                expected: 0
            }
        }
    );
    assert_eq!(err.reason(), "auth");
    // Auth type 7 is unknown: rejected before the type comparison.
    let mut bytes = hex(V2_NONE);
    bytes[4] = 7;
    let err = validate(
        &bytes,
        &meta("192.0.2.1", 255),
        &expect_v2(&none, &addrs[..1]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PacketError::Auth {
            vrid: 51,
            detail: AuthFailure::UnknownType(7)
        }
    );
}

#[test]
fn validate_v2_interval_mismatch_is_dropped() {
    let auth = Auth::None;
    let addrs = [v4("192.0.2.100")];
    let mut e = expect_v2(&auth, &addrs);
    e.adver_int_cs = 300;
    let err = validate(&hex(V2_NONE), &meta("192.0.2.1", 255), &e).unwrap_err();
    assert_eq!(
        err,
        PacketError::Interval {
            vrid: 51,
            version: Version::V2,
            got_cs: 100,
            expected_cs: 300
        }
    );
    assert_eq!(err.reason(), "interval");
}

#[test]
fn validate_v3_interval_is_learned_not_checked() {
    let addrs = [v4("192.0.2.100")];
    let auth = Auth::None;
    let e = Expect {
        version: Version::V3,
        adver_int_cs: 300,
        ..expect_v2(&auth, &addrs)
    };
    let got = validate(&hex(V3_V4), &meta("192.0.2.1", 255), &e).unwrap();
    assert_eq!(got.max_adver_int, 100);
}

#[test]
fn validate_v3_zero_interval_is_dropped() {
    let addrs: [IpAddr; 0] = [];
    let auth = Auth::None;
    let e = Expect {
        vrid: 9,
        version: Version::V3,
        ..expect_v2(&auth, &addrs)
    };
    let zero = Advertisement {
        version: Version::V3,
        vrid: 9,
        priority: 100,
        max_adver_int: 0,
        auth: Auth::None,
        addrs: vec![],
    }
    .emit(v4("192.0.2.1"), MCAST4)
    .unwrap();
    assert_eq!(
        validate(&zero, &meta("192.0.2.1", 255), &e)
            .unwrap_err()
            .reason(),
        "interval"
    );
}

#[test]
fn validate_unknown_vrid() {
    let auth = Auth::None;
    let addrs = [v4("192.0.2.100")];
    let mut e = expect_v2(&auth, &addrs);
    e.vrid = 52;
    let err = validate(&hex(V2_NONE), &meta("192.0.2.1", 255), &e).unwrap_err();
    assert_eq!(
        err,
        PacketError::Vrid {
            vrid: 51,
            version: Version::V2
        }
    );
    assert_eq!(err.reason(), "vrid");
}

#[test]
fn validate_address_count_and_list() {
    let auth = Auth::None;
    let two = [v4("192.0.2.100"), v4("192.0.2.101")];
    let err = validate(
        &hex(V2_NONE),
        &meta("192.0.2.1", 255),
        &expect_v2(&auth, &two),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PacketError::AddrCount {
            vrid: 51,
            version: Version::V2,
            got: 1,
            expected: 2
        }
    );
    assert_eq!(err.reason(), "addr_count");
    let other = [v4("192.0.2.99")];
    let err = validate(
        &hex(V2_NONE),
        &meta("192.0.2.1", 255),
        &expect_v2(&auth, &other),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PacketError::AddrList {
            vrid: 51,
            version: Version::V2,
            missing: v4("192.0.2.99")
        }
    );
    assert_eq!(err.reason(), "addr_list");
}

#[test]
fn validate_skip_check_adv_addr_only_for_the_current_master() {
    let auth = Auth::None;
    let other = [v4("192.0.2.99")];
    let mut e = expect_v2(&auth, &other);
    e.skip_check_adv_addr = true;
    // From an unknown router: still checked (keepalived checks whenever the
    // source differs from the master it follows).
    assert_eq!(
        validate(&hex(V2_NONE), &meta("192.0.2.1", 255), &e)
            .unwrap_err()
            .reason(),
        "addr_list"
    );
    e.current_master = Some(v4("192.0.2.1"));
    assert_eq!(
        validate(&hex(V2_NONE), &meta("192.0.2.1", 255), &e).unwrap(),
        adv_v2_none()
    );
}

#[test]
fn validate_checksum_mode_is_honoured() {
    let auth = Auth::None;
    let addrs = [v4("192.0.2.100")];
    let mut e = Expect {
        version: Version::V3,
        ..expect_v2(&auth, &addrs)
    };
    assert_eq!(
        validate(&hex(V3_V4_AS_V2), &meta("192.0.2.1", 255), &e)
            .unwrap_err()
            .reason(),
        "checksum"
    );
    e.checksum_mode = ChecksumMode::V3AsV2;
    assert!(validate(&hex(V3_V4_AS_V2), &meta("192.0.2.1", 255), &e).is_ok());
}

// ----- captured-style keepalived frames (IPv4 header + VRRP) -----

/// Splits an IPv4 frame as a raw socket delivers it into the IP facts and
/// the VRRP payload.
fn split_ipv4(frame: &[u8]) -> (RxMeta, &[u8]) {
    let ihl = usize::from(frame[0] & 0x0f) * 4;
    let src = IpAddr::V4(Ipv4Addr::new(frame[12], frame[13], frame[14], frame[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(frame[16], frame[17], frame[18], frame[19]));
    assert_eq!(frame[9], 112, "protocol VRRP");
    (
        RxMeta {
            src,
            dst,
            ttl: frame[8],
        },
        &frame[ihl..],
    )
}

#[test]
fn keepalived_v2_pass_capture() {
    let frame = hex(include_str!("data/keepalived_v2_pass.hex"));
    let (m, payload) = split_ipv4(&frame);
    assert_eq!(m.src, v4("192.0.2.11"));
    let auth = Auth::pass("1111");
    let addrs = [v4("192.0.2.100")];
    let mut e = expect_v2(&auth, &addrs);
    e.vrid = 51;
    let got = validate(payload, &m, &e).unwrap();
    let want = Advertisement {
        version: Version::V2,
        vrid: 51,
        priority: 150,
        max_adver_int: 100,
        auth: Auth::pass("1111"),
        addrs: vec![v4("192.0.2.100")],
    };
    assert_eq!(got, want);
    assert_eq!(want.emit(m.src, m.dst).unwrap(), payload);
}

#[test]
fn keepalived_v3_ipv4_capture() {
    let frame = hex(include_str!("data/keepalived_v3_ipv4.hex"));
    let (m, payload) = split_ipv4(&frame);
    let auth = Auth::None;
    let addrs = [v4("192.0.2.200"), v4("192.0.2.201")];
    let e = Expect {
        vrid: 52,
        version: Version::V3,
        ..expect_v2(&auth, &addrs)
    };
    let got = validate(payload, &m, &e).unwrap();
    let want = Advertisement {
        version: Version::V3,
        vrid: 52,
        priority: 100,
        max_adver_int: 100,
        auth: Auth::None,
        addrs: addrs.to_vec(),
    };
    assert_eq!(got, want);
    assert_eq!(want.emit(m.src, m.dst).unwrap(), payload);
}

#[test]
fn every_reason_label_is_listed() {
    let samples = [
        PacketError::Truncated {
            len: 0,
            needed: 8,
            vrid: None,
        },
        PacketError::Ttl { vrid: 1, ttl: 1 },
        PacketError::Version {
            vrid: 1,
            got: 1,
            expected: 2,
        },
        PacketError::Family {
            vrid: 1,
            version: Version::V2,
            family: Family::V6,
        },
        PacketError::Type {
            vrid: 1,
            version: Version::V2,
            got: 2,
        },
        PacketError::Checksum {
            vrid: 1,
            version: Version::V2,
            got: 0,
            computed: 1,
        },
        PacketError::Vrid {
            vrid: 1,
            version: Version::V2,
        },
        PacketError::Auth {
            vrid: 1,
            detail: AuthFailure::Password,
        },
        PacketError::AddrCount {
            vrid: 1,
            version: Version::V2,
            got: 0,
            expected: 1,
        },
        PacketError::AddrList {
            vrid: 1,
            version: Version::V2,
            missing: v4("192.0.2.1"),
        },
        PacketError::Interval {
            vrid: 1,
            version: Version::V2,
            got_cs: 1,
            expected_cs: 2,
        },
    ];
    let mut labels: Vec<&str> = samples.iter().map(|e| e.reason()).collect();
    labels.sort_unstable();
    labels.dedup();
    let mut listed = PacketError::REASONS.to_vec();
    listed.sort_unstable();
    assert_eq!(labels, listed);
    // Messages carry the VRID for the log line.
    assert!(samples[1].to_string().contains("vrid 1"));
}

#[test]
fn v2_zero_interval_round_trips_but_validate_drops_it() {
    // Found by the vrrp_packet fuzz target: the wire can carry Adver Int 0,
    // so the codec writes what it reads; receive validation refuses it.
    let src = v4("192.0.2.1");
    let mut a = adv_v2_none();
    a.max_adver_int = 0;
    let bytes = a.emit(src, MCAST4).unwrap();
    assert_eq!(bytes[5], 0);
    assert_eq!(
        Advertisement::parse(&bytes, src, MCAST4, Family::V4).unwrap(),
        a
    );
    let auth = Auth::None;
    let addrs = [v4("192.0.2.100")];
    assert_eq!(
        validate(&bytes, &meta("192.0.2.1", 255), &expect_v2(&auth, &addrs))
            .unwrap_err()
            .reason(),
        "interval"
    );
}
