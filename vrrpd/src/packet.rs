//! VRRP advertisements: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5).
//!
//! Two layers, in the smoltcp style:
//!
//! - [`Packet`] is a *view* over a byte buffer. [`Packet::new_unchecked`]
//!   wraps anything; [`Packet::new_checked`] (mandatory for bytes from the
//!   network) first proves that the buffer holds exactly one VRRP message of
//!   a known version, so every accessor after it is in bounds. **Panic
//!   contract**: on a view made by `new_unchecked` over a buffer that
//!   `check_len` would reject, the field accessors may panic; on a view
//!   made by `new_checked` they never do.
//! - [`Advertisement`] is the typed message: [`Advertisement::parse`]
//!   decodes and checks the checksum, [`Advertisement::emit`] builds the
//!   bytes and computes the checksum.
//!
//! [`validate`] runs the receive checks of RFC 5798 §7.1 / RFC 3768 §7.1
//! against what a local instance expects, in keepalived's order, and
//! returns a [`PacketError`] whose [`PacketError::reason`] is a stable
//! counter label.
//!
//! Checksums: VRRPv2 sums the VRRP message alone (RFC 3768 §5.3.7).
//! VRRPv3 adds a pseudo-header (RFC 5798 §5.2.8): over IPv6 the RFC 2460
//! §8.1 one; over IPv4 keepalived (and Wireshark) use the IPv4 pseudo-header
//! (source, destination, zero, protocol 112, VRRP length). keepalived's
//! `v3_checksum_as_v2` leaves the pseudo-header out over IPv4 (Cisco's
//! reading, and RFC 9568's); that is [`ChecksumMode::V3AsV2`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// TTL / hop limit every advertisement is sent with and must arrive with
/// (RFC 5798 §5.1.1.3, §7.1).
pub const VRRP_TTL: u8 = 255;
/// IPv4 multicast group of VRRP (RFC 5798 §5.1.1.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Length of the fixed header shared by both versions.
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication trailer (RFC 3768 §5.3.10).
pub const AUTH_LEN: usize = 8;
/// Largest VRRPv3 Max Adver Int: 12 bits of centiseconds (RFC 5798 §5.2.7).
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;

/// Declares an enum over a wire value where unknown values are kept as
/// `Unknown(raw)`, so decoding a field never fails (STYLE.md §3).
macro_rules! wire_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// A value this implementation does not know.
            Unknown($ty),
        }

        impl From<$ty> for $name {
            fn from(raw: $ty) -> Self {
                match raw {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            fn from(v: $name) -> Self {
                match v {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

wire_enum! {
    /// The Type field (RFC 5798 §5.2.2). Only ADVERTISEMENT is defined.
    pub enum MessageType(u8) {
        /// ADVERTISEMENT.
        Advertisement = 1,
    }
}

wire_enum! {
    /// The VRRPv2 Auth Type field (RFC 3768 §5.3.6, RFC 2338 §5.3.6).
    pub enum AuthType(u8) {
        /// No authentication.
        None = 0,
        /// Simple text password (RFC 2338), keepalived `auth_type PASS`.
        SimpleText = 1,
        /// IP Authentication Header (RFC 2338), keepalived `auth_type AH`.
        IpAh = 2,
    }
}

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2, RFC 3768 (IPv4 only).
    V2,
    /// VRRPv3, RFC 5798.
    V3,
}

impl Version {
    /// The number carried in the Version field.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// The version for a Version field value, if we speak it.
    pub fn from_number(n: u8) -> Option<Version> {
        match n {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

/// Address family of the IP packet that carries the advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: 4-byte addresses in the message.
    V4,
    /// IPv6: 16-byte addresses in the message.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Bytes per address in the message.
    pub fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }
}

/// Which checksum a VRRPv3 message over IPv4 carries. VRRPv2 and VRRPv3
/// over IPv6 are unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// VRRPv3 over IPv4 includes the IPv4 pseudo-header (RFC 5798 §5.2.8 as
    /// keepalived and Wireshark read it; keepalived's default).
    #[default]
    PseudoHeader,
    /// keepalived `v3_checksum_as_v2`: VRRPv3 over IPv4 sums the VRRP
    /// message alone, as VRRPv2 does (Cisco's reading; RFC 9568 §5.2.8).
    V3AsV2,
}

/// Why a received packet was dropped. Each variant carries what is known
/// at the point of failure (VRID, version) so the right counter is bumped;
/// [`PacketError::reason`] is the stable counter label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than the fixed header, or than the header's count needs.
    #[error("packet truncated: {len} bytes, need {needed}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes the header (and address count) require.
        needed: usize,
        /// VRID, if the header was long enough to hold it.
        vrid: Option<u8>,
    },
    /// More bytes than the header's address count accounts for.
    #[error("vrid {vrid} {version}: packet is {len} bytes, expected {expected}")]
    Overlong {
        /// Virtual router ID.
        vrid: u8,
        /// Version of the packet.
        version: Version,
        /// Bytes received.
        len: usize,
        /// Bytes the header accounts for.
        expected: usize,
    },
    /// TTL / hop limit other than 255 (RFC 5798 §7.1, RFC 3768 §7.1).
    #[error("vrid {vrid}: TTL/hop limit {ttl}, must be 255")]
    Ttl {
        /// Virtual router ID.
        vrid: u8,
        /// The TTL or hop limit received.
        ttl: u8,
    },
    /// A version we do not speak, or not the one configured.
    #[error("vrid {vrid}: version {got}, expected {expected}")]
    Version {
        /// Virtual router ID.
        vrid: u8,
        /// Version field received.
        got: u8,
        /// Version expected (0 if any known version would do).
        expected: u8,
    },
    /// VRRPv2 over IPv6, or addresses of a family other than the packet's.
    #[error("vrid {vrid} {version}: not valid over {family:?}")]
    Family {
        /// Virtual router ID.
        vrid: u8,
        /// Version of the packet.
        version: Version,
        /// Family of the carrying IP packet.
        family: Family,
    },
    /// Type other than ADVERTISEMENT (RFC 5798 §5.2.2).
    #[error("vrid {vrid} {version}: message type {got}, expected 1")]
    Type {
        /// Virtual router ID.
        vrid: u8,
        /// Version of the packet.
        version: Version,
        /// Type field received.
        got: u8,
    },
    /// Checksum does not verify.
    #[error("vrid {vrid} {version}: checksum {got:#06x}, computed {computed:#06x}")]
    Checksum {
        /// Virtual router ID.
        vrid: u8,
        /// Version of the packet.
        version: Version,
        /// Checksum field received.
        got: u16,
        /// Checksum computed over the received bytes.
        computed: u16,
    },
    /// VRID not configured on this interface (RFC 5798 §7.1).
    #[error("vrid {vrid} {version}: no such virtual router here")]
    Vrid {
        /// Virtual router ID received.
        vrid: u8,
        /// Version of the packet.
        version: Version,
    },
    /// VRRPv2 authentication type or data mismatch (RFC 3768 §7.1,
    /// keepalived `vrrp_check_packet`).
    #[error("vrid {vrid}: authentication failed ({detail})")]
    Auth {
        /// Virtual router ID.
        vrid: u8,
        /// What did not match.
        detail: AuthFailure,
    },
    /// Count of addresses differs from the configured virtual addresses.
    #[error("vrid {vrid} {version}: {got} addresses, expected {expected}")]
    AddrCount {
        /// Virtual router ID.
        vrid: u8,
        /// Version of the packet.
        version: Version,
        /// Count received.
        got: u8,
        /// Count configured.
        expected: usize,
    },
    /// A configured virtual address is missing from the advertisement.
    #[error("vrid {vrid} {version}: configured address {missing} not in advertisement")]
    AddrList {
        /// Virtual router ID.
        vrid: u8,
        /// Version of the packet.
        version: Version,
        /// The first configured address not found.
        missing: IpAddr,
    },
    /// VRRPv2 Adver Int differs from ours (RFC 3768 §7.1: MUST discard), or
    /// a VRRPv3 Max Adver Int of zero.
    #[error(
        "vrid {vrid} {version}: advertisement interval {got_cs} cs, expected {expected_cs} cs"
    )]
    Interval {
        /// Virtual router ID.
        vrid: u8,
        /// Version of the packet.
        version: Version,
        /// Interval received, in centiseconds.
        got_cs: u16,
        /// Interval expected, in centiseconds (0: any nonzero).
        expected_cs: u16,
    },
}

/// What failed in VRRPv2 authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// An Auth Type that is none of 0, 1, 2.
    UnknownType(u8),
    /// A known Auth Type other than the configured one.
    TypeMismatch {
        /// Auth Type received.
        got: u8,
        /// Auth Type configured.
        expected: u8,
    },
    /// Simple text password differs.
    Password,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthFailure::UnknownType(t) => write!(f, "unknown auth type {t}"),
            AuthFailure::TypeMismatch { got, expected } => {
                write!(f, "auth type {got}, expected {expected}")
            }
            AuthFailure::Password => write!(f, "password mismatch"),
        }
    }
}

impl PacketError {
    /// Stable label for the drop counter of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            PacketError::Truncated { .. } | PacketError::Overlong { .. } => "length",
            PacketError::Ttl { .. } => "ttl",
            PacketError::Version { .. } => "version",
            PacketError::Family { .. } => "family",
            PacketError::Type { .. } => "type",
            PacketError::Checksum { .. } => "checksum",
            PacketError::Vrid { .. } => "vrid",
            PacketError::Auth { .. } => "auth",
            PacketError::AddrCount { .. } => "addr_count",
            PacketError::AddrList { .. } => "addr_list",
            PacketError::Interval { .. } => "interval",
        }
    }

    /// All labels [`PacketError::reason`] can return, for pre-registering
    /// counters.
    pub const REASONS: [&'static str; 11] = [
        "length",
        "ttl",
        "version",
        "family",
        "type",
        "checksum",
        "vrid",
        "auth",
        "addr_count",
        "addr_list",
        "interval",
    ];

    /// The VRID the error concerns, when the header was readable.
    pub fn vrid(&self) -> Option<u8> {
        match self {
            PacketError::Truncated { vrid, .. } => *vrid,
            PacketError::Overlong { vrid, .. }
            | PacketError::Ttl { vrid, .. }
            | PacketError::Version { vrid, .. }
            | PacketError::Family { vrid, .. }
            | PacketError::Type { vrid, .. }
            | PacketError::Checksum { vrid, .. }
            | PacketError::Vrid { vrid, .. }
            | PacketError::Auth { vrid, .. }
            | PacketError::AddrCount { vrid, .. }
            | PacketError::AddrList { vrid, .. }
            | PacketError::Interval { vrid, .. } => Some(*vrid),
        }
    }
}

/// Why an [`Advertisement`] could not be turned into bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// More than 255 addresses.
    #[error("{0} addresses, at most 255 fit the count field")]
    TooManyAddrs(usize),
    /// An address, or the destination, of another family than the source.
    #[error("address {0} is not of the source address family")]
    MixedFamily(IpAddr),
    /// VRRPv2 is defined over IPv4 only (RFC 3768 §5.1).
    #[error("VRRPv2 cannot be sent over IPv6")]
    V2OverIpv6,
    /// VRRPv2 carries whole seconds in one byte (RFC 3768 §5.3.8). Zero is
    /// representable (and so emitted, keeping `parse(emit(x)) == x` for
    /// anything parsed); [`validate`] is what refuses it on receipt.
    #[error("VRRPv2 advertisement interval {0} cs is not whole seconds in 0..=255")]
    V2Interval(u16),
    /// VRRPv3 carries 12 bits of centiseconds (RFC 5798 §5.2.7).
    #[error("VRRPv3 advertisement interval {0} cs does not fit 12 bits")]
    V3Interval(u16),
    /// VRRPv3 has no authentication (RFC 5798 §9).
    #[error("VRRPv3 has no authentication field")]
    AuthInV3,
    /// The output buffer is shorter than [`Advertisement::buffer_len`].
    #[error("buffer of {len} bytes, need {needed}")]
    BufferTooShort {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
}

// Field offsets. Both versions share bytes 0..4 and 6..8; bytes 4..6 are
// Auth Type + Adver Int in v2 and Rsvd + Max Adver Int in v3.
mod field {
    use std::ops::Range;

    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    pub const V2_AUTH_TYPE: usize = 4;
    pub const V2_ADVER_INT: usize = 5;
    pub const V3_MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const ADDRS: usize = 8;
}

/// Length of a whole VRRP message of `version` with `count` addresses of
/// `family`.
pub fn message_len(version: Version, family: Family, count: usize) -> usize {
    let trailer = match version {
        Version::V2 => AUTH_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + count * family.addr_len() + trailer
}

/// A read/write view of one VRRP message in a buffer.
///
/// RFC 3768 §5.1 (VRRPv2):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (1..n)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (1)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// RFC 5798 §5.1 (VRRPv3):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IPvX Address(es) (1..n)                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it. See the module's panic contract.
    pub const fn new_unchecked(buffer: T, family: Family) -> Packet<T> {
        Packet { buffer, family }
    }

    /// Wraps a buffer after [`Packet::check_len`]. Use this for anything
    /// received.
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, PacketError> {
        let packet = Packet::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds exactly one message: the fixed header,
    /// a version we speak (its layout depends on it), that version valid
    /// over this family, and exactly as many bytes as the address count
    /// (and, for v2, the authentication trailer) need.
    pub fn check_len(&self) -> Result<(), PacketError> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(PacketError::Truncated {
                len: data.len(),
                needed: HEADER_LEN,
                vrid: data.get(field::VRID).copied(),
            });
        }
        let vrid = data[field::VRID];
        let raw_version = data[field::VER_TYPE] >> 4;
        let version = Version::from_number(raw_version).ok_or(PacketError::Version {
            vrid,
            got: raw_version,
            expected: 0,
        })?;
        // RFC 3768 §5.1: VRRPv2 is IPv4 only; keepalived forces v3 for IPv6.
        if version == Version::V2 && self.family == Family::V6 {
            return Err(PacketError::Family {
                vrid,
                version,
                family: self.family,
            });
        }
        let expected = message_len(version, self.family, usize::from(data[field::COUNT]));
        if data.len() < expected {
            return Err(PacketError::Truncated {
                len: data.len(),
                needed: expected,
                vrid: Some(vrid),
            });
        }
        // keepalived rejects any length other than the exact one ("vrrp
        // packet too long"): trailing bytes mean a count we misread.
        if data.len() > expected {
            return Err(PacketError::Overlong {
                vrid,
                version,
                len: data.len(),
                expected,
            });
        }
        Ok(())
    }

    /// Returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The address family the view reads addresses as.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The Version field (any 4-bit value).
    pub fn version_raw(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// The Version field as a [`Version`], if known.
    pub fn version(&self) -> Option<Version> {
        Version::from_number(self.version_raw())
    }

    /// The Type field.
    pub fn msg_type(&self) -> MessageType {
        MessageType::from(self.buffer.as_ref()[field::VER_TYPE] & 0x0f)
    }

    /// The Virtual Rtr ID field.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// The Priority field.
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// The Count IPvX Addrs field.
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// VRRPv2 Auth Type (byte 4; the reserved nibble and interval in v3).
    pub fn auth_type(&self) -> AuthType {
        AuthType::from(self.buffer.as_ref()[field::V2_AUTH_TYPE])
    }

    /// VRRPv2 Adver Int, in seconds.
    pub fn adver_int_v2(&self) -> u8 {
        self.buffer.as_ref()[field::V2_ADVER_INT]
    }

    /// VRRPv3 Max Adver Int, in centiseconds (the low 12 bits; the reserved
    /// nibble is ignored on receipt, RFC 5798 §5.2.6).
    pub fn max_adver_int_v3(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([
            d[field::V3_MAX_ADVER_INT.start],
            d[field::V3_MAX_ADVER_INT.start + 1],
        ]) & MAX_V3_INTERVAL_CS
    }

    /// The advertisement interval in centiseconds for either version.
    pub fn interval_cs(&self) -> u16 {
        match self.version() {
            Some(Version::V2) => u16::from(self.adver_int_v2()) * 100,
            _ => self.max_adver_int_v3(),
        }
    }

    /// The Checksum field.
    pub fn checksum(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::CHECKSUM.start], d[field::CHECKSUM.start + 1]])
    }

    /// The `i`-th address (0-based), read as the view's family.
    pub fn addr(&self, i: usize) -> IpAddr {
        let d = self.buffer.as_ref();
        let len = self.family.addr_len();
        let start = field::ADDRS + i * len;
        let bytes = &d[start..start + len];
        match self.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
            Family::V6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(bytes);
                IpAddr::V6(Ipv6Addr::from(a))
            }
        }
    }

    /// All addresses the count field announces.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        (0..usize::from(self.addr_count())).map(move |i| self.addr(i))
    }

    /// VRRPv2 Authentication Data (the 8 bytes after the addresses).
    pub fn auth_data(&self) -> [u8; AUTH_LEN] {
        let d = self.buffer.as_ref();
        let start = field::ADDRS + usize::from(self.addr_count()) * self.family.addr_len();
        let mut out = [0u8; AUTH_LEN];
        out.copy_from_slice(&d[start..start + AUTH_LEN]);
        out
    }

    /// Length of the message the header describes.
    pub fn message_len(&self) -> usize {
        let version = self.version().unwrap_or(Version::V3);
        message_len(version, self.family, usize::from(self.addr_count()))
    }

    /// The checksum the message should carry, computed with the checksum
    /// field taken as zero.
    pub fn compute_checksum(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> u16 {
        let d = &self.buffer.as_ref()[..self.message_len()];
        let pseudo = match self.version() {
            Some(Version::V3) => pseudo_header_sum(self.family, src, dst, d.len(), mode),
            _ => 0,
        };
        // Sum the message with the checksum field zeroed: sum the bytes on
        // either side of it.
        let mut acc = pseudo;
        acc = sum_be16(&d[..field::CHECKSUM.start], acc);
        acc = sum_be16(&d[field::CHECKSUM.end..], acc);
        finish(acc)
    }

    /// Whether the Checksum field verifies.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> bool {
        self.compute_checksum(src, dst, mode) == self.checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Version and Type fields.
    pub fn set_version_type(&mut self, version: u8, msg_type: MessageType) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (u8::from(msg_type) & 0x0f);
    }

    /// Sets the Virtual Rtr ID field.
    pub fn set_vrid(&mut self, vrid: u8) {
        self.buffer.as_mut()[field::VRID] = vrid;
    }

    /// Sets the Priority field.
    pub fn set_priority(&mut self, priority: u8) {
        self.buffer.as_mut()[field::PRIORITY] = priority;
    }

    /// Sets the Count IPvX Addrs field.
    pub fn set_addr_count(&mut self, count: u8) {
        self.buffer.as_mut()[field::COUNT] = count;
    }

    /// Sets the VRRPv2 Auth Type field.
    pub fn set_auth_type(&mut self, auth: AuthType) {
        self.buffer.as_mut()[field::V2_AUTH_TYPE] = u8::from(auth);
    }

    /// Sets the VRRPv2 Adver Int field (seconds).
    pub fn set_adver_int_v2(&mut self, secs: u8) {
        self.buffer.as_mut()[field::V2_ADVER_INT] = secs;
    }

    /// Sets the VRRPv3 Max Adver Int (centiseconds, 12 bits) with the
    /// reserved nibble zero (RFC 5798 §5.2.6: MUST be zero on transmit).
    pub fn set_max_adver_int_v3(&mut self, cs: u16) {
        let v = (cs & MAX_V3_INTERVAL_CS).to_be_bytes();
        self.buffer.as_mut()[field::V3_MAX_ADVER_INT].copy_from_slice(&v);
    }

    /// Sets the Checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    }

    /// Sets the `i`-th address; it must be of the view's family (an address
    /// of the other family is not written).
    pub fn set_addr(&mut self, i: usize, addr: IpAddr) {
        let len = self.family.addr_len();
        let start = field::ADDRS + i * len;
        let slot = &mut self.buffer.as_mut()[start..start + len];
        match addr {
            IpAddr::V4(a) if len == 4 => slot.copy_from_slice(&a.octets()),
            IpAddr::V6(a) if len == 16 => slot.copy_from_slice(&a.octets()),
            _ => {}
        }
    }

    /// Sets the VRRPv2 Authentication Data.
    pub fn set_auth_data(&mut self, data: &[u8; AUTH_LEN]) {
        let start = field::ADDRS + usize::from(self.addr_count()) * self.family.addr_len();
        self.buffer.as_mut()[start..start + AUTH_LEN].copy_from_slice(data);
    }

    /// Computes and stores the checksum.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) {
        let c = self.compute_checksum(src, dst, mode);
        self.set_checksum(c);
    }
}

/// Adds `data` as big-endian 16-bit words to `acc` (RFC 1071); an odd last
/// byte is padded with zero.
fn sum_be16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    // Fold early so long inputs cannot overflow the accumulator.
    (acc & 0xffff) + (acc >> 16)
}

/// Folds the carries and returns the one's complement.
fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // After folding `acc` fits 16 bits.
    !(acc as u16)
}

/// Partial sum of the pseudo-header a VRRPv3 checksum covers.
///
/// IPv6: RFC 2460 §8.1 (source, destination, 32-bit upper-layer length,
/// three zero bytes, next header 112), RFC 5798 §5.2.8. IPv4: source,
/// destination, zero, protocol 112, 16-bit length, as keepalived builds it
/// (`ipv4_phdr_t`), unless [`ChecksumMode::V3AsV2`].
fn pseudo_header_sum(
    family: Family,
    src: IpAddr,
    dst: IpAddr,
    len: usize,
    mode: ChecksumMode,
) -> u32 {
    match (family, src, dst) {
        (Family::V4, IpAddr::V4(s), IpAddr::V4(d)) => {
            if mode == ChecksumMode::V3AsV2 {
                return 0;
            }
            let mut ph = [0u8; 12];
            ph[0..4].copy_from_slice(&s.octets());
            ph[4..8].copy_from_slice(&d.octets());
            ph[9] = IPPROTO_VRRP;
            // A message is at most 8 + 255 * 16 bytes, well inside u16.
            ph[10..12].copy_from_slice(&(len as u16).to_be_bytes());
            sum_be16(&ph, 0)
        }
        (Family::V6, IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ph = [0u8; 40];
            ph[0..16].copy_from_slice(&s.octets());
            ph[16..32].copy_from_slice(&d.octets());
            ph[32..36].copy_from_slice(&(len as u32).to_be_bytes());
            ph[39] = IPPROTO_VRRP;
            sum_be16(&ph, 0)
        }
        // Mismatched families never verify: the callers reject them first;
        // sum nothing so the result is still deterministic.
        _ => 0,
    }
}

/// VRRPv2 authentication of an advertisement (RFC 3768 §5.3.6; VRRPv3 has
/// none, RFC 5798 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Auth Type 0. The 8 data bytes are sent as zero and ignored on
    /// receipt (RFC 3768 §5.3.10).
    None,
    /// Auth Type 1, simple text password: 8 bytes, zero padded
    /// (keepalived `auth_type PASS`).
    Pass([u8; AUTH_LEN]),
    /// Auth Type 2, IP Authentication Header (keepalived `auth_type AH`):
    /// the 8 VRRP data bytes are zero; the digest lives in the AH header,
    /// which this codec does not handle.
    Ah,
    /// Any other Auth Type; the data bytes are not kept.
    Unknown(u8),
}

impl Auth {
    /// A simple text password as keepalived stores `auth_pass`: the first
    /// 8 bytes, zero padded.
    pub fn pass(password: &str) -> Auth {
        let mut data = [0u8; AUTH_LEN];
        for (d, b) in data.iter_mut().zip(password.as_bytes()) {
            *d = *b;
        }
        Auth::Pass(data)
    }

    /// The Auth Type value.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Auth::None => AuthType::None,
            Auth::Pass(_) => AuthType::SimpleText,
            Auth::Ah => AuthType::IpAh,
            Auth::Unknown(t) => AuthType::from(*t),
        }
    }

    fn data(&self) -> [u8; AUTH_LEN] {
        match self {
            Auth::Pass(d) => *d,
            _ => [0u8; AUTH_LEN],
        }
    }
}

/// A typed VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Protocol version.
    pub version: Version,
    /// Virtual router ID.
    pub vrid: u8,
    /// Priority of the sender (0: it stops being master, RFC 5798 §5.2.4).
    pub priority: u8,
    /// Advertisement interval in centiseconds. VRRPv2 carries whole
    /// seconds, so for v2 this is a multiple of 100.
    pub max_adver_int: u16,
    /// VRRPv2 authentication; always [`Auth::None`] for v3.
    pub auth: Auth,
    /// The virtual addresses, all of the carrying packet's family.
    pub addrs: Vec<IpAddr>,
}

impl Advertisement {
    /// Decodes a message received from `src` to `dst` (the IP header's
    /// addresses, needed for the VRRPv3 pseudo-header) with keepalived's
    /// default checksum. Checks length, version, family, type and checksum;
    /// the other receive checks are [`validate`]'s.
    pub fn parse(
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
        family: Family,
    ) -> Result<Self, PacketError> {
        Self::parse_with(bytes, src, dst, family, ChecksumMode::default())
    }

    /// [`Advertisement::parse`] with an explicit checksum mode.
    pub fn parse_with(
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
        family: Family,
        mode: ChecksumMode,
    ) -> Result<Self, PacketError> {
        let packet = Packet::new_checked(bytes, family)?;
        let vrid = packet.vrid();
        // new_checked proved the version is known.
        let version = packet.version().unwrap_or(Version::V3);
        if Family::of(&src) != family || Family::of(&dst) != family {
            return Err(PacketError::Family {
                vrid,
                version,
                family,
            });
        }
        if packet.msg_type() != MessageType::Advertisement {
            return Err(PacketError::Type {
                vrid,
                version,
                got: u8::from(packet.msg_type()),
            });
        }
        let computed = packet.compute_checksum(src, dst, mode);
        if computed != packet.checksum() {
            return Err(PacketError::Checksum {
                vrid,
                version,
                got: packet.checksum(),
                computed,
            });
        }
        Ok(Self::from_packet(&packet, version))
    }

    fn from_packet<T: AsRef<[u8]>>(packet: &Packet<T>, version: Version) -> Self {
        let auth = match version {
            Version::V3 => Auth::None,
            Version::V2 => match packet.auth_type() {
                AuthType::None => Auth::None,
                AuthType::SimpleText => Auth::Pass(packet.auth_data()),
                AuthType::IpAh => Auth::Ah,
                AuthType::Unknown(t) => Auth::Unknown(t),
            },
        };
        Advertisement {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            max_adver_int: packet.interval_cs(),
            auth,
            addrs: packet.addrs().collect(),
        }
    }

    /// Bytes [`Advertisement::emit`] produces.
    pub fn buffer_len(&self) -> usize {
        let family = self.addrs.first().map(Family::of).unwrap_or(Family::V4);
        message_len(self.version, family, self.addrs.len())
    }

    /// Builds the message sent from `src` to `dst`, with keepalived's
    /// default checksum.
    pub fn emit(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, EmitError> {
        self.emit_with(src, dst, ChecksumMode::default())
    }

    /// [`Advertisement::emit`] with an explicit checksum mode.
    pub fn emit_with(
        &self,
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<Vec<u8>, EmitError> {
        let mut buf = vec![0u8; self.buffer_len()];
        let n = self.emit_into(&mut buf, src, dst, mode)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Writes the message into the start of `buf`; returns its length.
    pub fn emit_into(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<usize, EmitError> {
        let family = Family::of(&src);
        if Family::of(&dst) != family {
            return Err(EmitError::MixedFamily(dst));
        }
        if let Some(a) = self.addrs.iter().find(|a| Family::of(a) != family) {
            return Err(EmitError::MixedFamily(*a));
        }
        let count = u8::try_from(self.addrs.len())
            .map_err(|_| EmitError::TooManyAddrs(self.addrs.len()))?;
        match self.version {
            Version::V2 => {
                if family == Family::V6 {
                    return Err(EmitError::V2OverIpv6);
                }
                if self.max_adver_int % 100 != 0 || self.max_adver_int > 25_500 {
                    return Err(EmitError::V2Interval(self.max_adver_int));
                }
            }
            Version::V3 => {
                if self.max_adver_int > MAX_V3_INTERVAL_CS {
                    return Err(EmitError::V3Interval(self.max_adver_int));
                }
                if self.auth != Auth::None {
                    return Err(EmitError::AuthInV3);
                }
            }
        }
        let len = message_len(self.version, family, self.addrs.len());
        if buf.len() < len {
            return Err(EmitError::BufferTooShort {
                len: buf.len(),
                needed: len,
            });
        }
        let out = &mut buf[..len];
        out.fill(0);
        let mut p = Packet::new_unchecked(out, family);
        p.set_version_type(self.version.number(), MessageType::Advertisement);
        p.set_vrid(self.vrid);
        p.set_priority(self.priority);
        p.set_addr_count(count);
        match self.version {
            Version::V2 => {
                p.set_auth_type(self.auth.auth_type());
                // Checked above: a whole number of seconds in 0..=255.
                p.set_adver_int_v2((self.max_adver_int / 100) as u8);
            }
            Version::V3 => p.set_max_adver_int_v3(self.max_adver_int),
        }
        for (i, a) in self.addrs.iter().enumerate() {
            p.set_addr(i, *a);
        }
        if self.version == Version::V2 {
            p.set_auth_data(&self.auth.data());
        }
        p.fill_checksum(src, dst, mode);
        Ok(len)
    }
}

/// The facts the IP layer knows about a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// Source address of the IP header.
    pub src: IpAddr,
    /// Destination address of the IP header.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

/// What a local virtual router expects of the advertisements it accepts.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// Our VRID.
    pub vrid: u8,
    /// Our version.
    pub version: Version,
    /// Our VRRPv2 authentication (ignored for v3).
    pub auth: &'a Auth,
    /// Our advertisement interval in centiseconds; VRRPv2 adverts must
    /// carry the same (RFC 3768 §7.1).
    pub adver_int_cs: u16,
    /// Our virtual addresses.
    pub addrs: &'a [IpAddr],
    /// keepalived `skip_check_adv_addr`: do not compare the addresses when
    /// the advert comes from the master we already follow.
    pub skip_check_adv_addr: bool,
    /// Source address of the master we follow, if any (for
    /// `skip_check_adv_addr`).
    pub current_master: Option<IpAddr>,
    /// Check the TTL / hop limit. keepalived skips it for unicast peers.
    pub check_ttl: bool,
    /// Checksum variant for VRRPv3 over IPv4.
    pub checksum_mode: ChecksumMode,
}

/// Receive validation (RFC 5798 §7.1, RFC 3768 §7.1), in keepalived's
/// order (`vrrp_check_packet`): length, TTL, version, (v2: auth type,
/// password, interval), type, VRID, checksum, then the address list.
///
/// Deliberate choices, keepalived's unless said:
/// - a message with bytes beyond what its count needs is dropped;
/// - VRRPv2 with another Adver Int is dropped (RFC 3768 §7.1 "MUST
///   discard"), VRRPv3 is accepted whatever its interval (the backup learns
///   it, RFC 5798 §6.4.2) except zero, which we drop (keepalived accepts
///   it; an interval of zero would make every backup take over at once);
/// - the address count and every configured address must match (keepalived
///   drops on mismatch, "MAY verify" in the RFCs), unless
///   `skip_check_adv_addr` and the advert comes from the current master.
pub fn validate(
    bytes: &[u8],
    meta: &RxMeta,
    exp: &Expect<'_>,
) -> Result<Advertisement, PacketError> {
    let family = Family::of(&meta.src);
    let packet = Packet::new_checked(bytes, family)?;
    let vrid = packet.vrid();
    let version = packet.version().unwrap_or(Version::V3);
    if Family::of(&meta.dst) != family {
        return Err(PacketError::Family {
            vrid,
            version,
            family,
        });
    }
    // RFC 5798 §7.1: MUST verify that the IPv4 TTL / IPv6 Hop Limit is 255.
    if exp.check_ttl && meta.ttl != VRRP_TTL {
        return Err(PacketError::Ttl {
            vrid,
            ttl: meta.ttl,
        });
    }
    // RFC 5798 §7.1: MUST verify the VRRP version.
    if version != exp.version {
        return Err(PacketError::Version {
            vrid,
            got: version.number(),
            expected: exp.version.number(),
        });
    }
    if version == Version::V2 {
        // RFC 3768 §7.1: MUST perform the authentication of Auth Type.
        let got = packet.auth_type();
        if let AuthType::Unknown(t) = got {
            return Err(PacketError::Auth {
                vrid,
                detail: AuthFailure::UnknownType(t),
            });
        }
        let want = exp.auth.auth_type();
        if got != want {
            return Err(PacketError::Auth {
                vrid,
                detail: AuthFailure::TypeMismatch {
                    got: u8::from(got),
                    expected: u8::from(want),
                },
            });
        }
        if let Auth::Pass(pw) = exp.auth {
            if !constant_time_eq(&packet.auth_data(), pw) {
                return Err(PacketError::Auth {
                    vrid,
                    detail: AuthFailure::Password,
                });
            }
        }
        // RFC 3768 §7.1: MUST verify that the Adver Interval is the locally
        // configured one, else discard (keepalived: "to prevent concurrent
        // VRID running => multiple master in 1 VRID").
        if packet.interval_cs() != exp.adver_int_cs {
            return Err(PacketError::Interval {
                vrid,
                version,
                got_cs: packet.interval_cs(),
                expected_cs: exp.adver_int_cs,
            });
        }
    }
    if packet.msg_type() != MessageType::Advertisement {
        return Err(PacketError::Type {
            vrid,
            version,
            got: u8::from(packet.msg_type()),
        });
    }
    // RFC 5798 §7.1: MUST verify that the VRID is configured.
    if vrid != exp.vrid {
        return Err(PacketError::Vrid { vrid, version });
    }
    // RFC 5798 §7.1: MUST verify the VRRP checksum.
    let computed = packet.compute_checksum(meta.src, meta.dst, exp.checksum_mode);
    if computed != packet.checksum() {
        return Err(PacketError::Checksum {
            vrid,
            version,
            got: packet.checksum(),
            computed,
        });
    }
    if version == Version::V3 && packet.max_adver_int_v3() == 0 {
        return Err(PacketError::Interval {
            vrid,
            version,
            got_cs: 0,
            expected_cs: 0,
        });
    }
    let skip = exp.skip_check_adv_addr && exp.current_master == Some(meta.src);
    if !skip {
        // RFC 5798 §7.1: MAY verify the address list; keepalived does.
        if usize::from(packet.addr_count()) != exp.addrs.len() {
            return Err(PacketError::AddrCount {
                vrid,
                version,
                got: packet.addr_count(),
                expected: exp.addrs.len(),
            });
        }
        for want in exp.addrs {
            if !packet.addrs().any(|a| a == *want) {
                return Err(PacketError::AddrList {
                    vrid,
                    version,
                    missing: *want,
                });
            }
        }
    }
    Ok(Advertisement::from_packet(&packet, version))
}

/// Reads the version and VRID of a message without other checks, so a
/// dispatcher can find the instance to [`validate`] against.
pub fn peek_vrid(bytes: &[u8]) -> Option<(u8, u8)> {
    let ver_type = *bytes.first()?;
    let vrid = *bytes.get(field::VRID)?;
    Some((ver_type >> 4, vrid))
}

/// Compares without an early exit, as keepalived's `memcmp_constant_time`.
fn constant_time_eq(a: &[u8; AUTH_LEN], b: &[u8; AUTH_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
