//! The nf_tables netlink messages, sans-IO: what vrrpd's table looks like
//! on the wire, and the kernel's acknowledgements.
//!
//! nf_tables is the `NFNL_SUBSYS_NFTABLES` subsystem of `NETLINK_NETFILTER`.
//! Changes travel in a batch, applied by the kernel as one transaction:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       nlmsg_len (u32)                         |  struct nlmsghdr
//! +-------------------------------+-------------------------------+
//! | nlmsg_type: BATCH_BEGIN (16)  |  nlmsg_flags: REQUEST         |
//! +-------------------------------+-------------------------------+
//! |                nlmsg_seq (u32)  /  nlmsg_pid (0)              |
//! +---------------+---------------+-------------------------------+
//! | nfgen_family 0| version 0     |  res_id: NFNL_SUBSYS_NFTABLES |  struct nfgenmsg
//! +---------------+---------------+-------------------------------+  (res_id is __be16)
//! |  then one message per change: nlmsghdr with type              |
//! |  (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_*, flags REQUEST | ACK  |
//! |  [| CREATE | APPEND]; nfgenmsg with family NFPROTO_INET; the  |
//! |  object's attributes (nested for hooks, expressions, elements)|
//! +---------------------------------------------------------------+
//! |  BATCH_END (17), same nfgenmsg as BATCH_BEGIN                 |
//! +---------------------------------------------------------------+
//! ```
//!
//! Every number inside an nf_tables attribute is big-endian
//! (`NFTA_*` u32 values go through `htonl` in libnftnl), except register
//! contents, which are what the packet or the meta key holds: addresses in
//! network order, an interface index in host order.
//!
//! The messages are the ones `nft` 1.0.6 sends for the same ruleset, so the
//! tests compare them byte for byte with what `nft` put on the wire (see
//! the tests for how those bytes were captured). We add `NLM_F_ACK` to each
//! so the kernel answers every message: one error names the one refused.
//!
//! Framing (nlmsghdr, attribute headers, padding, NLMSG_ERROR) is done by
//! `netlink-packet-core`; this module knows the nf_tables attributes.

use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable, NLA_F_NESTED, NLMSG_ERROR, NLM_F_ACK, NLM_F_APPEND,
    NLM_F_CREATE, NLM_F_REQUEST,
};

/// `NFNL_SUBSYS_NFTABLES` (linux/netfilter/nfnetlink.h).
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN` / `NFNL_MSG_BATCH_END` (`NLMSG_MIN_TYPE` and next).
pub const NFNL_MSG_BATCH_BEGIN: u16 = 16;
pub const NFNL_MSG_BATCH_END: u16 = 17;

/// `enum nf_tables_msg_types` (linux/netfilter/nf_tables.h).
pub mod msg_type {
    pub const NEWTABLE: u8 = 0;
    pub const DELTABLE: u8 = 2;
    pub const NEWCHAIN: u8 = 3;
    pub const NEWRULE: u8 = 6;
    pub const NEWSET: u8 = 9;
    pub const NEWSETELEM: u8 = 12;
    pub const DELSETELEM: u8 = 14;
}

/// Netfilter protocol families (`NFPROTO_*`, linux/netfilter.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NfProto {
    /// `inet`: one table for IPv4 and IPv6; vrrpd's own table.
    Inet,
    Ipv4,
    Ipv6,
}

impl NfProto {
    pub fn number(self) -> u8 {
        match self {
            NfProto::Inet => 1,
            NfProto::Ipv4 => 2,
            NfProto::Ipv6 => 10,
        }
    }

    /// As `nft` names it (`table inet keepalived`).
    pub fn name(self) -> &'static str {
        match self {
            NfProto::Inet => "inet",
            NfProto::Ipv4 => "ip",
            NfProto::Ipv6 => "ip6",
        }
    }
}

/// Attribute numbers, by object (nf_tables.h `enum nft_*_attributes`).
mod attr {
    pub const TABLE_NAME: u16 = 1;
    pub const TABLE_FLAGS: u16 = 2;

    pub const CHAIN_TABLE: u16 = 1;
    pub const CHAIN_NAME: u16 = 3;
    pub const CHAIN_HOOK: u16 = 4;
    pub const CHAIN_POLICY: u16 = 5;
    pub const CHAIN_TYPE: u16 = 7;
    pub const HOOK_HOOKNUM: u16 = 1;
    pub const HOOK_PRIORITY: u16 = 2;

    pub const SET_TABLE: u16 = 1;
    pub const SET_NAME: u16 = 2;
    pub const SET_FLAGS: u16 = 3;
    pub const SET_KEY_TYPE: u16 = 4;
    pub const SET_KEY_LEN: u16 = 5;
    pub const SET_ID: u16 = 10;
    pub const SET_USERDATA: u16 = 13;

    pub const SET_ELEM_LIST_TABLE: u16 = 1;
    pub const SET_ELEM_LIST_SET: u16 = 2;
    pub const SET_ELEM_LIST_ELEMENTS: u16 = 3;
    pub const SET_ELEM_LIST_SET_ID: u16 = 4;
    pub const SET_ELEM_KEY: u16 = 1;

    pub const LIST_ELEM: u16 = 1;
    pub const DATA_VALUE: u16 = 1;
    pub const DATA_VERDICT: u16 = 2;
    pub const VERDICT_CODE: u16 = 1;

    pub const RULE_TABLE: u16 = 1;
    pub const RULE_CHAIN: u16 = 2;
    pub const RULE_EXPRESSIONS: u16 = 4;
    pub const EXPR_NAME: u16 = 1;
    pub const EXPR_DATA: u16 = 2;

    pub const META_DREG: u16 = 1;
    pub const META_KEY: u16 = 2;
    pub const CMP_SREG: u16 = 1;
    pub const CMP_OP: u16 = 2;
    pub const CMP_DATA: u16 = 3;
    pub const PAYLOAD_DREG: u16 = 1;
    pub const PAYLOAD_BASE: u16 = 2;
    pub const PAYLOAD_OFFSET: u16 = 3;
    pub const PAYLOAD_LEN: u16 = 4;
    pub const LOOKUP_SET: u16 = 1;
    pub const LOOKUP_SREG: u16 = 2;
    pub const LOOKUP_SET_ID: u16 = 4;
    pub const IMMEDIATE_DREG: u16 = 1;
    pub const IMMEDIATE_DATA: u16 = 2;
}

/// `NF_INET_LOCAL_IN` / `NF_INET_LOCAL_OUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Input,
    Output,
}

impl Hook {
    fn number(self) -> u32 {
        match self {
            Hook::Input => 1,
            Hook::Output => 3,
        }
    }
}

/// Registers: `NFT_REG_VERDICT` and the 16-byte `NFT_REG_1`, `NFT_REG_2`
/// (a 16-byte IPv6 address fills `NFT_REG_1`; a concatenation continues
/// in the next register).
const REG_VERDICT: u32 = 0;
pub const REG_1: u32 = 1;
pub const REG_2: u32 = 2;

/// `enum nft_meta_keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    Iif = 4,
    Oif = 5,
    IifName = 6,
    OifName = 7,
    NfProto = 15,
    L4Proto = 16,
}

/// `enum nft_cmp_ops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq = 0,
    Lte = 3,
    Gte = 5,
}

/// `enum nft_payload_bases`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadBase {
    Network = 1,
    Transport = 2,
}

/// Netfilter verdicts (`NF_DROP`, `NF_ACCEPT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop = 0,
    Accept = 1,
}

/// One expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `meta load KEY => reg DREG`.
    Meta { key: MetaKey, dreg: u32 },
    /// `cmp OP reg SREG DATA`.
    Cmp { sreg: u32, op: CmpOp, data: Vec<u8> },
    /// `payload load LEN b @ BASE header + OFFSET => reg DREG`.
    Payload {
        base: PayloadBase,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// `lookup reg SREG set SET` (`set_id`: the set's id in the batch that
    /// created it, as nft sends it).
    Lookup { sreg: u32, set: String, set_id: u32 },
    /// `counter` (packets and bytes start at 0).
    Counter,
    /// `immediate reg 0 VERDICT`.
    Verdict(Verdict),
}

impl Expr {
    fn name(&self) -> &'static str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Cmp { .. } => "cmp",
            Expr::Payload { .. } => "payload",
            Expr::Lookup { .. } => "lookup",
            Expr::Counter => "counter",
            Expr::Verdict(_) => "immediate",
        }
    }

    /// The attributes in `nft`'s order (libnftnl's `*_build` functions).
    fn data(&self) -> Vec<DefaultNla> {
        match self {
            Expr::Meta { key, dreg } => vec![
                be32(attr::META_KEY, *key as u32),
                be32(attr::META_DREG, *dreg),
            ],
            Expr::Cmp { sreg, op, data } => vec![
                be32(attr::CMP_SREG, *sreg),
                be32(attr::CMP_OP, *op as u32),
                nested(attr::CMP_DATA, &[nla(attr::DATA_VALUE, data.clone())]),
            ],
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => vec![
                be32(attr::PAYLOAD_DREG, *dreg),
                be32(attr::PAYLOAD_BASE, *base as u32),
                be32(attr::PAYLOAD_OFFSET, *offset),
                be32(attr::PAYLOAD_LEN, *len),
            ],
            Expr::Lookup { sreg, set, set_id } => vec![
                be32(attr::LOOKUP_SREG, *sreg),
                string(attr::LOOKUP_SET, set),
                be32(attr::LOOKUP_SET_ID, *set_id),
            ],
            Expr::Counter => Vec::new(),
            Expr::Verdict(v) => vec![
                be32(attr::IMMEDIATE_DREG, REG_VERDICT),
                nested(
                    attr::IMMEDIATE_DATA,
                    &[nested(
                        attr::DATA_VERDICT,
                        &[be32(attr::VERDICT_CODE, *v as u32)],
                    )],
                ),
            ],
        }
    }

    fn to_nla(&self) -> DefaultNla {
        nested(
            attr::LIST_ELEM,
            &[
                string(attr::EXPR_NAME, self.name()),
                nested(attr::EXPR_DATA, &self.data()),
            ],
        )
    }
}

/// The key of a set, as nft types it (nftables `include/datatype.h`:
/// `TYPE_IPADDR` 7, `TYPE_IP6ADDR` 8, `TYPE_IFINDEX` 20, `TYPE_IFNAME`
/// 41; a concatenation shifts the first type left by 6 bits,
/// `TYPE_BITS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    Ipv4Addr,
    Ipv6Addr,
    /// `ipv6_addr . iface_index`: a link-local address on one interface.
    Ipv6AddrIfindex,
    /// `ipv6_addr . ifname`: a link-local address on the interface of
    /// that name, whatever its index (it may be deleted and made again).
    Ipv6AddrIfname,
}

impl KeyType {
    fn nft_type(self) -> u32 {
        match self {
            KeyType::Ipv4Addr => 7,
            KeyType::Ipv6Addr => 8,
            KeyType::Ipv6AddrIfindex => (8 << 6) | 20,
            KeyType::Ipv6AddrIfname => (8 << 6) | 41,
        }
    }

    fn len(self) -> u32 {
        match self {
            KeyType::Ipv4Addr => 4,
            KeyType::Ipv6Addr => 16,
            KeyType::Ipv6AddrIfindex => 20,
            KeyType::Ipv6AddrIfname => 16 + IFNAMSIZ as u32,
        }
    }

    /// nft's user data for the set: `NFTNL_UDATA_SET_KEYBYTEORDER` =
    /// big endian for an address, so `nft list` prints addresses. (nft
    /// writes a typeof description for the concatenations; the key type
    /// is enough for it to print them, so we leave that out.)
    fn userdata(self) -> Option<Vec<u8>> {
        match self {
            KeyType::Ipv4Addr | KeyType::Ipv6Addr => Some(vec![0, 4, 2, 0, 0, 0]),
            KeyType::Ipv6AddrIfindex | KeyType::Ipv6AddrIfname => None,
        }
    }
}

/// `IFNAMSIZ`: an interface name and its NUL, as `meta iifname` loads it.
const IFNAMSIZ: usize = 16;

/// An interface name as the kernel compares it: at most 15 bytes, padded
/// with NULs to 16.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName([u8; IFNAMSIZ]);

impl IfName {
    /// `None` for a name the kernel could not have given an interface
    /// (empty, longer than 15 bytes, or holding a NUL).
    pub fn new(name: &str) -> Option<IfName> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() >= IFNAMSIZ || b.contains(&0) {
            return None;
        }
        let mut out = [0; IFNAMSIZ];
        out[..b.len()].copy_from_slice(b);
        Some(IfName(out))
    }

    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|c| *c == 0).unwrap_or(IFNAMSIZ);
        std::str::from_utf8(&self.0[..end]).unwrap_or("?")
    }
}

impl std::fmt::Debug for IfName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A set element: what a rule's lookup matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Elem {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// A link-local address and the index of the interface it lives on.
    V6LinkLocal(Ipv6Addr, u32),
    /// A link-local address and the name of the interface it lives on.
    V6LinkLocalName(Ipv6Addr, IfName),
}

impl Elem {
    pub fn key_type(&self) -> KeyType {
        match self {
            Elem::V4(_) => KeyType::Ipv4Addr,
            Elem::V6(_) => KeyType::Ipv6Addr,
            Elem::V6LinkLocal(..) => KeyType::Ipv6AddrIfindex,
            Elem::V6LinkLocalName(..) => KeyType::Ipv6AddrIfname,
        }
    }

    /// The key as the rule's registers hold it: addresses in network
    /// order; the interface index as `meta iif` loads it, host order; the
    /// name as `meta iifname` loads it, NUL-padded to 16 bytes.
    fn key(&self) -> Vec<u8> {
        match self {
            Elem::V4(a) => a.octets().to_vec(),
            Elem::V6(a) => a.octets().to_vec(),
            Elem::V6LinkLocal(a, ix) => {
                let mut k = a.octets().to_vec();
                k.extend_from_slice(&ix.to_ne_bytes());
                k
            }
            Elem::V6LinkLocalName(a, name) => {
                let mut k = a.octets().to_vec();
                k.extend_from_slice(&name.0);
                k
            }
        }
    }
}

impl std::fmt::Display for Elem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Elem::V4(a) => write!(f, "{a}"),
            Elem::V6(a) => write!(f, "{a}"),
            Elem::V6LinkLocal(a, ix) => write!(f, "{a} . ifindex {ix}"),
            Elem::V6LinkLocalName(a, name) => write!(f, "{a} . ifname {}", name.as_str()),
        }
    }
}

/// One nf_tables message: its type, flags, family and attributes, and a
/// short description for error messages (`add rule inet keepalived in`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    msg: u8,
    flags: u16,
    family: NfProto,
    attrs: Vec<DefaultNla>,
    pub what: String,
}

impl Request {
    /// `nft add table FAMILY NAME` (flags 0: a dormant table would not
    /// filter).
    pub fn new_table(family: NfProto, name: &str) -> Request {
        Request {
            msg: msg_type::NEWTABLE,
            flags: 0,
            family,
            attrs: vec![string(attr::TABLE_NAME, name), be32(attr::TABLE_FLAGS, 0)],
            what: format!("add table {} {name}", family.name()),
        }
    }

    /// `nft delete table FAMILY NAME` (its chains, sets and rules go with
    /// it).
    pub fn del_table(family: NfProto, name: &str) -> Request {
        Request {
            msg: msg_type::DELTABLE,
            flags: 0,
            family,
            attrs: vec![string(attr::TABLE_NAME, name)],
            what: format!("delete table {} {name}", family.name()),
        }
    }

    /// `nft add chain inet TABLE NAME { type filter hook HOOK priority
    /// PRIORITY; policy accept; }`.
    pub fn new_base_chain(table: &str, name: &str, hook: Hook, priority: i32) -> Request {
        Request {
            msg: msg_type::NEWCHAIN,
            flags: NLM_F_CREATE,
            family: NfProto::Inet,
            attrs: vec![
                string(attr::CHAIN_TABLE, table),
                string(attr::CHAIN_NAME, name),
                string(attr::CHAIN_TYPE, "filter"),
                be32(attr::CHAIN_POLICY, Verdict::Accept as u32),
                nested(
                    attr::CHAIN_HOOK,
                    &[
                        be32(attr::HOOK_HOOKNUM, hook.number()),
                        nla(attr::HOOK_PRIORITY, priority.to_be_bytes().to_vec()),
                    ],
                ),
            ],
            what: format!("add chain inet {table} {name}"),
        }
    }

    /// `nft add set inet TABLE NAME { type KEY; }`; `id` numbers the set
    /// within its batch (rules created with it refer to that id).
    pub fn new_set(table: &str, name: &str, key: KeyType, id: u32) -> Request {
        let mut attrs = vec![
            string(attr::SET_TABLE, table),
            string(attr::SET_NAME, name),
            be32(attr::SET_FLAGS, 0),
            be32(attr::SET_KEY_TYPE, key.nft_type()),
            be32(attr::SET_KEY_LEN, key.len()),
            be32(attr::SET_ID, id),
        ];
        if let Some(u) = key.userdata() {
            attrs.push(nla(attr::SET_USERDATA, u));
        }
        Request {
            msg: msg_type::NEWSET,
            flags: NLM_F_CREATE,
            family: NfProto::Inet,
            attrs,
            what: format!("add set inet {table} {name}"),
        }
    }

    /// `nft add rule inet TABLE CHAIN EXPRS` (appended).
    pub fn new_rule(table: &str, chain: &str, exprs: &[Expr]) -> Request {
        let list: Vec<DefaultNla> = exprs.iter().map(Expr::to_nla).collect();
        Request {
            msg: msg_type::NEWRULE,
            flags: NLM_F_CREATE | NLM_F_APPEND,
            family: NfProto::Inet,
            attrs: vec![
                string(attr::RULE_TABLE, table),
                string(attr::RULE_CHAIN, chain),
                nested(attr::RULE_EXPRESSIONS, &list),
            ],
            what: format!("add rule inet {table} {chain}"),
        }
    }

    /// `nft add element inet TABLE SET { ELEMS }`. Adding an element that
    /// is there already is not an error (no `NLM_F_EXCL`).
    pub fn add_elems(table: &str, set: &str, set_id: u32, elems: &[Elem]) -> Request {
        Request {
            msg: msg_type::NEWSETELEM,
            flags: NLM_F_CREATE,
            family: NfProto::Inet,
            attrs: vec![
                string(attr::SET_ELEM_LIST_TABLE, table),
                string(attr::SET_ELEM_LIST_SET, set),
                be32(attr::SET_ELEM_LIST_SET_ID, set_id),
                elements(elems),
            ],
            what: format!("add element inet {table} {set} {{ {} }}", list(elems)),
        }
    }

    /// `nft delete element inet TABLE SET { ELEMS }`. One missing element
    /// fails the message (ENOENT).
    pub fn del_elems(table: &str, set: &str, elems: &[Elem]) -> Request {
        Request {
            msg: msg_type::DELSETELEM,
            flags: 0,
            family: NfProto::Inet,
            attrs: vec![
                string(attr::SET_ELEM_LIST_TABLE, table),
                string(attr::SET_ELEM_LIST_SET, set),
                elements(elems),
            ],
            what: format!("delete element inet {table} {set} {{ {} }}", list(elems)),
        }
    }

    pub fn is_delete(&self) -> bool {
        matches!(self.msg, msg_type::DELTABLE | msg_type::DELSETELEM)
    }
}

fn list(elems: &[Elem]) -> String {
    elems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn elements(elems: &[Elem]) -> DefaultNla {
    // libnftnl numbers the list entries 1, 2, ... where other lists use
    // NFTA_LIST_ELEM (1) throughout; the kernel reads either.
    let list: Vec<DefaultNla> = elems
        .iter()
        .zip(attr::LIST_ELEM..)
        .map(|(e, n)| {
            nested(
                n,
                &[nested(
                    attr::SET_ELEM_KEY,
                    &[nla(attr::DATA_VALUE, e.key())],
                )],
            )
        })
        .collect();
    nested(attr::SET_ELEM_LIST_ELEMENTS, &list)
}

/// A batch on the wire, and the sequence numbers the kernel will answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub bytes: Vec<u8>,
    /// The batch header's sequence number: a batch the kernel cannot
    /// parse at all is refused with an error naming it.
    pub begin_seq: u32,
    /// Each message's sequence number and description, in order.
    pub acked: Vec<(u32, String)>,
    /// The next free sequence number.
    pub next_seq: u32,
}

impl Batch {
    /// Frame `requests` between BATCH_BEGIN (sequence `seq`) and
    /// BATCH_END, numbering the messages from `seq + 1`.
    pub fn build(requests: &[Request], seq: u32) -> Batch {
        let mut bytes = frame(NFNL_MSG_BATCH_BEGIN, 0, seq, 0, &[]);
        let mut acked = Vec::with_capacity(requests.len());
        let mut s = seq;
        for r in requests {
            s = s.wrapping_add(1);
            let kind = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(r.msg);
            bytes.extend(frame(
                kind,
                r.flags | NLM_F_ACK,
                s,
                r.family.number(),
                &r.attrs,
            ));
            acked.push((s, r.what.clone()));
        }
        s = s.wrapping_add(1);
        bytes.extend(frame(NFNL_MSG_BATCH_END, 0, s, 0, &[]));
        Batch {
            bytes,
            begin_seq: seq,
            acked,
            next_seq: s.wrapping_add(1),
        }
    }
}

/// A message body: nfgenmsg then attributes.
#[derive(Debug, Clone)]
struct NfPayload<'a> {
    kind: u16,
    family: u8,
    attrs: &'a [DefaultNla],
}

impl NetlinkSerializable for NfPayload<'_> {
    fn message_type(&self) -> u16 {
        self.kind
    }
    fn buffer_len(&self) -> usize {
        4 + self.attrs.buffer_len()
    }
    fn serialize(&self, buffer: &mut [u8]) {
        buffer[0] = self.family;
        // NFNETLINK_V0.
        buffer[1] = 0;
        // res_id: the subsystem for batch messages, 0 otherwise.
        let res_id: u16 = if self.kind >> 8 == 0 {
            NFNL_SUBSYS_NFTABLES
        } else {
            0
        };
        buffer[2..4].copy_from_slice(&res_id.to_be_bytes());
        self.attrs.emit(&mut buffer[4..]);
    }
}

fn frame(kind: u16, flags: u16, seq: u32, family: u8, attrs: &[DefaultNla]) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(NfPayload {
            kind,
            family,
            attrs,
        }),
    );
    // Fills nlmsg_len and nlmsg_type from the payload.
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

fn nla(kind: u16, value: Vec<u8>) -> DefaultNla {
    DefaultNla::new(kind, value)
}

fn be32(kind: u16, v: u32) -> DefaultNla {
    nla(kind, v.to_be_bytes().to_vec())
}

fn string(kind: u16, s: &str) -> DefaultNla {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    nla(kind, v)
}

/// A nested attribute (`NLA_F_NESTED` set, as libmnl's `mnl_attr_nest_start`).
fn nested(kind: u16, inner: &[DefaultNla]) -> DefaultNla {
    let mut value = vec![0; inner.buffer_len()];
    inner.emit(&mut value);
    nla(kind | NLA_F_NESTED, value)
}

/// What the kernel said about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Ack {
        seq: u32,
    },
    /// A positive errno.
    Error {
        seq: u32,
        errno: i32,
    },
    /// Anything else (multicast echoes of our changes are not requested;
    /// kept so a caller can skip it).
    Other {
        seq: u32,
        message_type: u16,
    },
}

impl Reply {
    pub fn seq(&self) -> u32 {
        match self {
            Reply::Ack { seq } | Reply::Error { seq, .. } | Reply::Other { seq, .. } => *seq,
        }
    }

    /// The first message of `buf` and the bytes it took (padding included).
    pub fn parse(buf: &[u8]) -> Result<(Reply, usize), DecodeError> {
        let nl = NetlinkBuffer::new_checked(buf)?;
        let len = nl.length() as usize;
        let used = ((len + 3) & !3).min(buf.len());
        let seq = nl.sequence_number();
        let reply = match nl.message_type() {
            NLMSG_ERROR => {
                let e = ErrorBuffer::new_checked(nl.payload())?;
                match e.code() {
                    None => Reply::Ack { seq },
                    // The kernel sends the negative errno.
                    Some(c) => Reply::Error {
                        seq,
                        errno: c.get().saturating_abs(),
                    },
                }
            }
            t => Reply::Other {
                seq,
                message_type: t,
            },
        };
        Ok((reply, used))
    }

    /// Every message of a datagram.
    pub fn parse_all(buf: &[u8]) -> Result<Vec<Reply>, DecodeError> {
        let mut out = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            let (r, used) = Reply::parse(rest)?;
            out.push(r);
            if used == 0 {
                break;
            }
            rest = &rest[used..];
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Split a batch into its messages.
    fn messages(b: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut off = 0;
        while off + 4 <= b.len() {
            let len = u32::from_ne_bytes(b[off..off + 4].try_into().unwrap()) as usize;
            out.push(b[off..off + len].to_vec());
            off += (len + 3) & !3;
        }
        out
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// nft's bytes with `NLM_F_ACK` added to every message but the batch
    /// header and trailer (nft does not ask for acks; we do).
    fn with_ack(mut m: Vec<u8>) -> Vec<u8> {
        let kind = u16::from_ne_bytes([m[4], m[5]]);
        if kind >> 8 == NFNL_SUBSYS_NFTABLES {
            let flags = u16::from_ne_bytes([m[6], m[7]]) | NLM_F_ACK;
            m[6..8].copy_from_slice(&flags.to_ne_bytes());
        }
        m
    }

    // The reference bytes below were captured from nft 1.0.6 (Debian 12)
    // in a private network namespace:
    //
    //   unshare -n sh -c 'strace -e trace=sendmsg -e write=3 -o s1.txt nft -f setup.nft'
    //
    // with setup.nft being
    //
    //   table inet keepalived {
    //     set vips4 { type ipv4_addr; }
    //     set vips6 { type ipv6_addr; }
    //     set vips6_ll { type ipv6_addr . iface_index; }
    //     chain in { type filter hook input priority -1; policy accept;
    //       meta l4proto vrrp accept
    //       icmpv6 type 135-136 accept
    //       ip daddr @vips4 drop
    //       ip6 daddr @vips6 drop
    //       ip6 daddr . iif @vips6_ll drop
    //     }
    //     chain out { type filter hook output priority -1; policy accept;
    //       (the same with saddr and oif)
    //     }
    //   }
    //
    // and `nft add element` / `nft delete element` / `nft delete table`
    // commands likewise; strace's hex dump of the sendmsg buffer is
    // pasted as is, one message per line.
    const NFT_SETUP: &[&str] = &[
        "140000001000010000000000000000000000000a",
        "2c000000000a01000100000000000000010000000f0001006b656570616c6976656400000800020000000000",
        "54000000030a01040200000000000000010000000f0001006b656570616c69766564000007000300696e00000b00070066696c7465720000080005000000000114000480080001000000000108000200ffffffff",
        "54000000030a01040300000000000000010000000f0001006b656570616c697665640000080003006f7574000b00070066696c7465720000080005000000000114000480080001000000000308000200ffffffff",
        "5c000000090a01040400000000000000010000000f0001006b656570616c6976656400000a000200766970733400000008000300000000000800040000000007080005000000000408000a00000000010a000d000004020000000000",
        "5c000000090a01040500000000000000010000000f0001006b656570616c6976656400000a000200766970733600000008000300000000000800040000000008080005000000001008000a00000000020a000d000004020000000000",
        // vips6_ll: nft's trailing 20-byte NFTA_SET_USERDATA (its typeof
        // description of the concatenation) is not sent by us; the
        // length is 104 - 20.
        "54000000090a01040600000000000000010000000f0001006b656570616c6976656400000d00020076697073365f6c6c0000000008000300000000000800040000000214080005000000001408000a0000000003",
        "b0000000060a010c0700000000000000010000000f0001006b656570616c69766564000007000200696e00008400048024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010070000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "8c010000060a010c0800000000000000010000000f0001006b656570616c69766564000007000200696e00006001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a00000024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001003a000000340001800c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000008000400000000012c00018008000100636d700020000280080001000000000108000200000000050c00038005000100870000002c00018008000100636d700020000280080001000000000108000200000000030c0003800500010088000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "14010000060a010c0900000000000000010000000f0001006b656570616c69766564000007000200696e0000e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000100800040000000004300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073340000000800040000000001300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "14010000060a010c0a00000000000000010000000f0001006b656570616c69766564000007000200696e0000e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000180800040000000010300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073360000000800040000000002300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "3c010000060a010c0b00000000000000010000000f0001006b656570616c69766564000007000200696e00001001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f61640024000280080001000000000108000200000000010800030000000018080004000000001024000180090001006d657461000000001400028008000200000000040800010000000002340001800b0001006c6f6f6b757000002400028008000200000000010d00010076697073365f6c6c000000000800040000000003300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "b0000000060a010c0c00000000000000010000000f0001006b656570616c697665640000080002006f7574008400048024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010070000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "8c010000060a010c0d00000000000000010000000f0001006b656570616c697665640000080002006f7574006001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a00000024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001003a000000340001800c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000008000400000000012c00018008000100636d700020000280080001000000000108000200000000050c00038005000100870000002c00018008000100636d700020000280080001000000000108000200000000030c0003800500010088000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "14010000060a010c0e00000000000000010000000f0001006b656570616c697665640000080002006f757400e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c0800040000000004300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073340000000800040000000001300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "14010000060a010c0f00000000000000010000000f0001006b656570616c697665640000080002006f757400e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000080800040000000010300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073360000000800040000000002300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "3c010000060a010c1000000000000000010000000f0001006b656570616c697665640000080002006f7574001001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f61640024000280080001000000000108000200000000010800030000000008080004000000001024000180090001006d657461000000001400028008000200000000050800010000000002340001800b0001006c6f6f6b757000002400028008000200000000010d00010076697073365f6c6c000000000800040000000003300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "140000001100010011000000000000000000000a",
    ];

    /// The same table with the set of link-local VIPs keyed by interface
    /// name, as `nft -f` sends it (captured as above, nft 1.0.6) for
    ///
    ///   (the table above, and)
    ///   set vips6_ll_name { type ipv6_addr . ifname; }
    ///   ... in:  ip6 daddr . iifname @vips6_ll_name drop (last)
    ///   ... out: ip6 saddr . oifname @vips6_ll_name drop (last)
    ///
    /// Both concatenated sets lose nft's trailing 20-byte NFTA_SET_USERDATA
    /// (the typeof description, identical for both), as above.
    const NFT_SETUP_NAMES: &[&str] = &[
        "140000001000010000000000000000000000000a",
        "2c000000000a01000100000000000000010000000f0001006b656570616c6976656400000800020000000000",
        "54000000030a01040200000000000000010000000f0001006b656570616c69766564000007000300696e00000b00070066696c7465720000080005000000000114000480080001000000000108000200ffffffff",
        "54000000030a01040300000000000000010000000f0001006b656570616c697665640000080003006f7574000b00070066696c7465720000080005000000000114000480080001000000000308000200ffffffff",
        "5c000000090a01040400000000000000010000000f0001006b656570616c6976656400000a000200766970733400000008000300000000000800040000000007080005000000000408000a00000000010a000d000004020000000000",
        "5c000000090a01040500000000000000010000000f0001006b656570616c6976656400000a000200766970733600000008000300000000000800040000000008080005000000001008000a00000000020a000d000004020000000000",
        "54000000090a01040600000000000000010000000f0001006b656570616c6976656400000d00020076697073365f6c6c0000000008000300000000000800040000000214080005000000001408000a0000000003",
        "58000000090a01040700000000000000010000000f0001006b656570616c6976656400001200020076697073365f6c6c5f6e616d6500000008000300000000000800040000000229080005000000002008000a0000000004",
        "b0000000060a010c0800000000000000010000000f0001006b656570616c69766564000007000200696e00008400048024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010070000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "8c010000060a010c0900000000000000010000000f0001006b656570616c69766564000007000200696e00006001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a00000024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001003a000000340001800c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000008000400000000012c00018008000100636d700020000280080001000000000108000200000000050c00038005000100870000002c00018008000100636d700020000280080001000000000108000200000000030c0003800500010088000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "14010000060a010c0a00000000000000010000000f0001006b656570616c69766564000007000200696e0000e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000100800040000000004300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073340000000800040000000001300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "14010000060a010c0b00000000000000010000000f0001006b656570616c69766564000007000200696e0000e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000180800040000000010300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073360000000800040000000002300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "3c010000060a010c0c00000000000000010000000f0001006b656570616c69766564000007000200696e00001001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f61640024000280080001000000000108000200000000010800030000000018080004000000001024000180090001006d657461000000001400028008000200000000040800010000000002340001800b0001006c6f6f6b757000002400028008000200000000010d00010076697073365f6c6c000000000800040000000003300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "40010000060a010c0d00000000000000010000000f0001006b656570616c69766564000007000200696e00001401048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f61640024000280080001000000000108000200000000010800030000000018080004000000001024000180090001006d657461000000001400028008000200000000060800010000000002380001800b0001006c6f6f6b757000002800028008000200000000011200010076697073365f6c6c5f6e616d650000000800040000000004300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "b0000000060a010c0e00000000000000010000000f0001006b656570616c697665640000080002006f7574008400048024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010070000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "8c010000060a010c0f00000000000000010000000f0001006b656570616c697665640000080002006f7574006001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a00000024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001003a000000340001800c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000008000400000000012c00018008000100636d700020000280080001000000000108000200000000050c00038005000100870000002c00018008000100636d700020000280080001000000000108000200000000030c0003800500010088000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        "14010000060a010c1000000000000000010000000f0001006b656570616c697665640000080002006f757400e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c0800040000000004300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073340000000800040000000001300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "14010000060a010c1100000000000000010000000f0001006b656570616c697665640000080002006f757400e800048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000080800040000000010300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073360000000800040000000002300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "3c010000060a010c1200000000000000010000000f0001006b656570616c697665640000080002006f7574001001048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f61640024000280080001000000000108000200000000010800030000000008080004000000001024000180090001006d657461000000001400028008000200000000050800010000000002340001800b0001006c6f6f6b757000002400028008000200000000010d00010076697073365f6c6c000000000800040000000003300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "40010000060a010c1300000000000000010000000f0001006b656570616c697665640000080002006f7574001401048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c6f61640024000280080001000000000108000200000000010800030000000008080004000000001024000180090001006d657461000000001400028008000200000000070800010000000002380001800b0001006c6f6f6b757000002800028008000200000000011200010076697073365f6c6c5f6e616d650000000800040000000004300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        "140000001100010014000000000000000000000a",
    ];

    /// `nft add element inet keepalived vips6_ll_name { fe80::10 . "lo" }`.
    const NFT_ADD_V6_LL_NAME: &str = "700000000c0a01040100000000000000010000000f0001006b656570616c6976656400001200020076697073365f6c6c5f6e616d650000000800040000000004300003802c0001802800018024000100fe8000000000000000000000000000106c6f0000000000000000000000000000";

    /// `nft delete element inet keepalived vips6_ll_name { fe80::10 . "lo" }`.
    const NFT_DEL_V6_LL_NAME: &str = "680000000e0a01000100000000000000010000000f0001006b656570616c6976656400001200020076697073365f6c6c5f6e616d65000000300003802c0001802800018024000100fe8000000000000000000000000000106c6f0000000000000000000000000000";

    /// `nft add element inet keepalived vips4 { 192.0.2.10, 192.0.2.11 }`.
    const NFT_ADD_V4: &[&str] = &[
        "140000001000010000000000000000000000000a",
        "5c0000000c0a01040100000000000000010000000f0001006b656570616c6976656400000a0002007669707334000000080004000000000124000380100001800c00018008000100c000020a100002800c00018008000100c000020b",
        "140000001100010002000000000000000000000a",
    ];

    /// `nft delete element inet keepalived vips4 { 192.0.2.10 }`.
    const NFT_DEL_V4: &str = "440000000e0a01000100000000000000010000000f0001006b656570616c6976656400000a000200766970733400000014000380100001800c00018008000100c000020a";

    /// `nft add element inet keepalived vips6 { 2001:db8::10 }`.
    const NFT_ADD_V6: &str = "580000000c0a01040100000000000000010000000f0001006b656570616c6976656400000a00020076697073360000000800040000000002200003801c000180180001801400010020010db8000000000000000000000010";

    /// `nft add element inet keepalived vips6_ll { fe80::10 . 1 }` (nft
    /// printed it back as `fe80::10 . "lo"`: interface 1).
    const NFT_ADD_V6_LL: &str = "600000000c0a01040100000000000000010000000f0001006b656570616c6976656400000d00020076697073365f6c6c00000000080004000000000324000380200001801c00018018000100fe80000000000000000000000000001001000000";

    /// `nft delete table inet keepalived`.
    const NFT_DEL_TABLE: &str =
        "24000000020a01000100000000000000010000000f0001006b656570616c697665640000";

    /// `nft add rule inet keepalived in ip daddr @vips4 counter drop`.
    const NFT_RULE_COUNTER: &str = "28010000060a010c0100000000000000010000000f0001006b656570616c69766564000007000200696e0000fc00048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000100800040000000004300001800b0001006c6f6f6b757000002000028008000200000000010a00010076697073340000000800040000000001140001800c000100636f756e7465720004000280300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000";

    /// `nft add chain inet keepalived out { type filter hook output
    /// priority 10; policy accept; }`.
    const NFT_CHAIN_OUT_10: &str = "54000000030a01040100000000000000010000000f0001006b656570616c697665640000080003006f7574000b00070066696c74657200000800050000000001140004800800010000000003080002000000000a";

    fn assert_batch(ours: &Batch, nft: &[&str]) {
        let got = messages(&ours.bytes);
        assert_eq!(got.len(), nft.len());
        for (i, (g, n)) in got.iter().zip(nft).enumerate() {
            let want = with_ack(unhex(n));
            assert_eq!(
                hex(g),
                hex(&want),
                "message {i} ({})",
                ours.acked
                    .get(i.wrapping_sub(1))
                    .map(|a| a.1.as_str())
                    .unwrap_or("batch")
            );
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn single(r: Request, seq: u32) -> Vec<u8> {
        let b = Batch::build(&[r], seq - 1);
        messages(&b.bytes)[1].clone()
    }

    #[test]
    fn the_whole_table_is_what_nft_sends() {
        let reqs = crate::net::firewall::ruleset(&crate::net::firewall::TableSpec {
            name: "keepalived".into(),
            priority: -1,
            counters: false,
            ifindex: false,
            by_name: Default::default(),
        });
        let b = Batch::build(&reqs, 0);
        assert_batch(&b, NFT_SETUP);
        assert_eq!(b.begin_seq, 0);
        assert_eq!(b.acked.len(), 16);
        assert_eq!(b.acked[0], (1, "add table inet keepalived".to_owned()));
        assert_eq!(b.next_seq, 18);
    }

    #[test]
    fn the_table_with_the_name_keyed_set_is_what_nft_sends() {
        let spec = crate::net::firewall::TableSpec {
            name: "keepalived".into(),
            priority: -1,
            counters: false,
            ifindex: false,
            by_name: [(
                "VI_1".to_owned(),
                ["fe80::10".parse().unwrap()].into_iter().collect(),
            )]
            .into_iter()
            .collect(),
        };
        let b = Batch::build(&crate::net::firewall::ruleset(&spec), 0);
        assert_batch(&b, NFT_SETUP_NAMES);
        assert_eq!(b.acked.len(), 19);
    }

    #[test]
    fn name_keyed_elements_are_what_nft_sends() {
        let ll: Ipv6Addr = "fe80::10".parse().unwrap();
        let lo = IfName::new("lo").unwrap();
        let add = Request::add_elems(
            "keepalived",
            "vips6_ll_name",
            4,
            &[Elem::V6LinkLocalName(ll, lo)],
        );
        assert_eq!(
            add.what,
            "add element inet keepalived vips6_ll_name { fe80::10 . ifname lo }"
        );
        assert_eq!(
            hex(&single(add, 1)),
            hex(&with_ack(unhex(NFT_ADD_V6_LL_NAME)))
        );
        let del = Request::del_elems(
            "keepalived",
            "vips6_ll_name",
            &[Elem::V6LinkLocalName(ll, lo)],
        );
        assert_eq!(
            hex(&single(del, 1)),
            hex(&with_ack(unhex(NFT_DEL_V6_LL_NAME)))
        );
    }

    #[test]
    fn interface_names_are_what_the_kernel_accepts() {
        assert_eq!(IfName::new("eth0").unwrap().as_str(), "eth0");
        // IFNAMSIZ is 16 with the NUL: 15 bytes at most.
        assert!(IfName::new("abcdefghijklmno").is_some());
        assert!(IfName::new("abcdefghijklmnop").is_none());
        assert!(IfName::new("").is_none());
        assert!(IfName::new("a\0b").is_none());
    }

    #[test]
    fn elements_are_what_nft_sends() {
        let add = Request::add_elems(
            "keepalived",
            "vips4",
            1,
            &[
                Elem::V4(Ipv4Addr::new(192, 0, 2, 10)),
                Elem::V4(Ipv4Addr::new(192, 0, 2, 11)),
            ],
        );
        assert_batch(&Batch::build(&[add], 0), NFT_ADD_V4);

        let del = Request::del_elems(
            "keepalived",
            "vips4",
            &[Elem::V4(Ipv4Addr::new(192, 0, 2, 10))],
        );
        assert!(del.is_delete());
        assert_eq!(hex(&single(del, 1)), hex(&with_ack(unhex(NFT_DEL_V4))));

        let v6: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let add6 = Request::add_elems("keepalived", "vips6", 2, &[Elem::V6(v6)]);
        assert_eq!(hex(&single(add6, 1)), hex(&with_ack(unhex(NFT_ADD_V6))));

        let ll: Ipv6Addr = "fe80::10".parse().unwrap();
        let add_ll = Request::add_elems("keepalived", "vips6_ll", 3, &[Elem::V6LinkLocal(ll, 1)]);
        assert_eq!(
            hex(&single(add_ll, 1)),
            hex(&with_ack(unhex(NFT_ADD_V6_LL)))
        );
    }

    #[test]
    fn table_deletion_counters_and_priorities_are_what_nft_sends() {
        let del = Request::del_table(NfProto::Inet, "keepalived");
        assert!(del.is_delete());
        assert_eq!(hex(&single(del, 1)), hex(&with_ack(unhex(NFT_DEL_TABLE))));

        let rule = Request::new_rule(
            "keepalived",
            "in",
            &crate::net::firewall::drop_rule(AddrFamily::V4, Hook::Input, true),
        );
        assert_eq!(
            hex(&single(rule, 1)),
            hex(&with_ack(unhex(NFT_RULE_COUNTER)))
        );

        let chain = Request::new_base_chain("keepalived", "out", Hook::Output, 10);
        assert_eq!(
            hex(&single(chain, 1)),
            hex(&with_ack(unhex(NFT_CHAIN_OUT_10)))
        );
    }

    use crate::net::firewall::AddrFamily;

    #[test]
    fn other_families_name_their_tables() {
        let d = Request::del_table(NfProto::Ipv6, "keepalived");
        assert_eq!(d.what, "delete table ip6 keepalived");
        let m = single(d, 1);
        // nfgen_family right after the 16-byte netlink header.
        assert_eq!(m[16], 10);
        assert_eq!(Request::del_table(NfProto::Ipv4, "k").family.number(), 2);
    }

    #[test]
    fn acks_and_errors_are_read_by_sequence() {
        // Two answers in one datagram: an ack for 5, EEXIST (-17) for 6,
        // each echoing the request header (NETLINK_CAP_ACK).
        let mut buf = Vec::new();
        for (seq, code) in [(5u32, 0i32), (6, -17)] {
            let mut m = Vec::new();
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            m.extend_from_slice(&0u16.to_ne_bytes());
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&0u32.to_ne_bytes());
            m.extend_from_slice(&code.to_ne_bytes());
            // The echoed request header.
            m.extend_from_slice(&16u32.to_ne_bytes());
            m.extend_from_slice(&0x0a06u16.to_ne_bytes());
            m.extend_from_slice(&0x0005u16.to_ne_bytes());
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend(m);
        }
        let r = Reply::parse_all(&buf).unwrap();
        assert_eq!(
            r,
            vec![Reply::Ack { seq: 5 }, Reply::Error { seq: 6, errno: 17 }]
        );
        assert_eq!(r[1].seq(), 6);
        // Truncated input is an error, not a panic.
        for cut in 1..buf.len() {
            let _ = Reply::parse_all(&buf[..cut]);
        }
        assert!(Reply::parse_all(&buf[..10]).is_err());
    }
}
