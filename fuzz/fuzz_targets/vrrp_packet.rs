//! Fuzz the VRRP codec (vrrpd::packet).
//!
//! Input: byte 0 picks the address family, the checksum mode and whether
//! the TTL check runs; the rest is the VRRP message.
//!
//! Invariants, beyond "no panic on any bytes":
//! - whatever `Advertisement::parse` accepts re-emits, and
//!   `parse(emit(x)) == x`;
//! - the re-emitted message has the same length and the same version,
//!   type, VRID, priority, count and addresses as the input;
//! - whatever `validate` accepts, `parse` accepts with the same result;
//! - `Packet::new_checked` accepting means every accessor is in bounds.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrrpd::packet::{
    validate, Advertisement, Auth, ChecksumMode, Expect, Family, Packet, RxMeta, Version,
};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, bytes)) = data.split_first() else {
        return;
    };
    let (family, src, dst) = if ctl & 1 == 0 {
        (
            Family::V4,
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        )
    } else {
        (
            Family::V6,
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        )
    };
    let mode = if ctl & 2 == 0 {
        ChecksumMode::PseudoHeader
    } else {
        ChecksumMode::V3AsV2
    };

    if let Ok(p) = Packet::new_checked(bytes, family) {
        let _ = (
            p.version(),
            p.msg_type(),
            p.vrid(),
            p.priority(),
            p.interval_cs(),
        );
        let _ = (
            p.auth_type(),
            p.checksum(),
            p.addrs().count(),
            p.message_len(),
        );
        if p.version() == Some(Version::V2) {
            let _ = p.auth_data();
        }
        assert_eq!(p.message_len(), bytes.len());
    }

    let parsed = Advertisement::parse_with(bytes, src, dst, family, mode);
    if let Ok(adv) = &parsed {
        let out = adv
            .emit_with(src, dst, mode)
            .expect("a parsed advert re-emits");
        assert_eq!(out.len(), bytes.len());
        assert_eq!(out.len(), adv.buffer_len());
        // Version, type, VRID, priority, count and the addresses are kept
        // byte for byte; only ignored bits (v3 reserved nibble, v2 unused
        // auth data) and hence the checksum may be normalised.
        assert_eq!(out[..4], bytes[..4]);
        let addr_end = out.len() - if adv.version == Version::V2 { 8 } else { 0 };
        assert_eq!(out[8..addr_end], bytes[8..addr_end]);
        let back =
            Advertisement::parse_with(&out, src, dst, family, mode).expect("emitted bytes parse");
        assert_eq!(&back, adv);
    }

    let auth = Auth::None;
    let exp = Expect {
        vrid: bytes.get(1).copied().unwrap_or(0),
        version: if bytes.first().is_some_and(|b| b >> 4 == 2) {
            Version::V2
        } else {
            Version::V3
        },
        auth: &auth,
        adver_int_cs: u16::from(bytes.get(5).copied().unwrap_or(1)) * 100,
        addrs: &[],
        skip_check_adv_addr: true,
        current_master: Some(src),
        check_ttl: ctl & 4 == 0,
        checksum_mode: mode,
    };
    if let Ok(v) = validate(bytes, &RxMeta { src, dst, ttl: 255 }, &exp) {
        assert_eq!(
            parsed.as_ref().ok(),
            Some(&v),
            "validate accepted what parse rejected"
        );
    }
});
