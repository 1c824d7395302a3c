#![allow(clippy::unwrap_used)]
//! Property tests for the VRRP codec: emit → parse round trips, parse →
//! emit reproduces accepted bytes, no panic on arbitrary bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vrrpd::packet::{
    validate, Advertisement, Auth, ChecksumMode, Expect, Family, Packet, RxMeta, Version,
};

fn any_mode() -> impl Strategy<Value = ChecksumMode> {
    prop_oneof![Just(ChecksumMode::PseudoHeader), Just(ChecksumMode::V3AsV2)]
}

/// A valid advertisement plus source and destination of its family.
fn any_advert() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    let v2 = (
        any::<u8>(),
        any::<u8>(),
        0u16..=255,
        prop_oneof![
            Just(Auth::None),
            any::<[u8; 8]>().prop_map(Auth::Pass),
            Just(Auth::Ah),
            (3u8..=255).prop_map(Auth::Unknown),
        ],
        prop::collection::vec(any::<u32>(), 0..20),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(vrid, priority, secs, auth, addrs, src, dst)| {
            (
                Advertisement {
                    version: Version::V2,
                    vrid,
                    priority,
                    max_adver_int: secs * 100,
                    auth,
                    addrs: addrs
                        .into_iter()
                        .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                        .collect(),
                },
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::from(dst)),
            )
        });
    let v3 = (
        any::<u8>(),
        any::<u8>(),
        0u16..=4095,
        any::<bool>(),
        prop::collection::vec(any::<u128>(), 0..20),
        any::<u128>(),
        any::<u128>(),
    )
        .prop_map(|(vrid, priority, cs, six, addrs, src, dst)| {
            let mk = |x: u128| {
                if six {
                    IpAddr::V6(Ipv6Addr::from(x))
                } else {
                    IpAddr::V4(Ipv4Addr::from(x as u32))
                }
            };
            (
                Advertisement {
                    version: Version::V3,
                    vrid,
                    priority,
                    max_adver_int: cs,
                    auth: Auth::None,
                    addrs: addrs.into_iter().map(mk).collect(),
                },
                mk(src),
                mk(dst),
            )
        });
    prop_oneof![v2, v3]
}

proptest! {
    #[test]
    fn emit_then_parse_is_identity((adv, src, dst) in any_advert(), mode in any_mode()) {
        let bytes = adv.emit_with(src, dst, mode).unwrap();
        prop_assert_eq!(bytes.len(), adv.buffer_len());
        let family = Family::of(&src);
        let back = Advertisement::parse_with(&bytes, src, dst, family, mode).unwrap();
        prop_assert_eq!(&back, &adv);
        // The checked view agrees with the typed form.
        let p = Packet::new_checked(&bytes[..], family).unwrap();
        prop_assert_eq!(p.vrid(), adv.vrid);
        prop_assert_eq!(p.priority(), adv.priority);
        prop_assert_eq!(usize::from(p.addr_count()), adv.addrs.len());
    }

    #[test]
    fn any_single_bit_flip_is_caught((adv, src, dst) in any_advert(), bit in any::<prop::sample::Index>()) {
        // One's complement checksums detect every single-bit error.
        let mut bytes = adv.emit(src, dst).unwrap();
        let i = bit.index(bytes.len() * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        let family = Family::of(&src);
        match Advertisement::parse(&bytes, src, dst, family) {
            Err(_) => {}
            // Flips in the v3 reserved nibble are ignored by design
            // (RFC 5798 §5.2.6) but still change the checksum; so no flip
            // may give back a valid advert.
            Ok(back) => prop_assert!(false, "flip of bit {} accepted: {:?}", i, back),
        }
    }

    #[test]
    fn parse_never_panics_and_accepted_bytes_reemit(
        bytes in prop::collection::vec(any::<u8>(), 0..80),
        six in any::<bool>(),
        mode in any_mode(),
    ) {
        let (src, dst, family) = if six {
            (IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | 1)), IpAddr::V6("ff02::12".parse().unwrap()), Family::V6)
        } else {
            (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)), Family::V4)
        };
        if let Ok(adv) = Advertisement::parse_with(&bytes, src, dst, family, mode) {
            let again = adv.emit_with(src, dst, mode).unwrap();
            let back = Advertisement::parse_with(&again, src, dst, family, mode).unwrap();
            prop_assert_eq!(back, adv);
        }
        let auth = Auth::None;
        let exp = Expect {
            vrid: bytes.get(1).copied().unwrap_or(0),
            version: Version::V3,
            auth: &auth,
            adver_int_cs: 100,
            addrs: &[],
            skip_check_adv_addr: true,
            current_master: Some(src),
            check_ttl: true,
            checksum_mode: mode,
        };
        let _ = validate(&bytes, &RxMeta { src, dst, ttl: 255 }, &exp);
    }

    #[test]
    fn validate_accepts_what_it_expects((adv, src, dst) in any_advert(), mode in any_mode()) {
        let bytes = adv.emit_with(src, dst, mode).unwrap();
        let exp = Expect {
            vrid: adv.vrid,
            version: adv.version,
            auth: &adv.auth,
            adver_int_cs: adv.max_adver_int,
            addrs: &adv.addrs,
            skip_check_adv_addr: false,
            current_master: None,
            check_ttl: true,
            checksum_mode: mode,
        };
        let r = validate(&bytes, &RxMeta { src, dst, ttl: 255 }, &exp);
        match &adv.auth {
            // validate rejects auth types other than 0, 1, 2 even when
            // "expected", as keepalived does.
            Auth::Unknown(_) => prop_assert_eq!(r.unwrap_err().reason(), "auth"),
            _ if adv.version == Version::V3 && adv.max_adver_int == 0 => {
                prop_assert_eq!(r.unwrap_err().reason(), "interval")
            }
            _ => prop_assert_eq!(r.unwrap(), adv.clone()),
        }
    }
}
