#!/usr/bin/env python3
"""Builds the golden VRRP packets of tests/packet_golden.rs by hand from the
RFC 3768 / RFC 5798 layouts, independently of the Rust codec.

Run: python3 gen_golden.py  (prints hex; writes the *.hex capture files)."""
import ipaddress, struct

def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def a4(s): return ipaddress.IPv4Address(s).packed
def a6(s): return ipaddress.IPv6Address(s).packed

def v2(vrid, prio, addrs, auth_type, adver, auth_data=b"\0" * 8):
    body = bytes([0x21, vrid, prio, len(addrs), auth_type, adver, 0, 0])
    body += b"".join(a4(a) for a in addrs) + auth_data
    c = csum(body)
    return body[:6] + struct.pack("!H", c) + body[8:]

def v3(vrid, prio, addrs, cs, src, dst, v6=False, pseudo=True):
    pack = a6 if v6 else a4
    body = bytes([0x31, vrid, prio, len(addrs)]) + struct.pack("!H", cs & 0xFFF) + b"\0\0"
    body += b"".join(pack(a) for a in addrs)
    if v6:
        ph = a6(src) + a6(dst) + struct.pack("!I", len(body)) + b"\0\0\0" + bytes([112])
    elif pseudo:
        ph = a4(src) + a4(dst) + bytes([0, 112]) + struct.pack("!H", len(body))
    else:
        ph = b""
    c = csum(ph + body)
    return body[:6] + struct.pack("!H", c) + body[8:]

def ipv4(src, dst, payload, ttl=255, ident=0):
    # keepalived vrrp_build_ip4: ihl 5, tos 0xc0, id 0, no frag, ttl 255, proto 112
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), ident, 0, ttl, 112, 0, a4(src), a4(dst))
    c = csum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload

def hx(b): return b.hex()

out = {}
out["V2_NONE"] = v2(51, 100, ["192.0.2.100"], 0, 1)
out["V2_PASS"] = v2(51, 150, ["192.0.2.100", "192.0.2.101"], 1, 1, b"1111\0\0\0\0")
out["V3_V4"] = v3(51, 100, ["192.0.2.100"], 100, "192.0.2.1", "224.0.0.18")
out["V3_V4_AS_V2"] = v3(51, 100, ["192.0.2.100"], 100, "192.0.2.1", "224.0.0.18", pseudo=False)
out["V3_V6"] = v3(7, 200, ["2001:db8::100", "2001:db8::101"], 10, "2001:db8::1", "ff02::12", v6=True)
out["V3_V4_NOADDR"] = v3(9, 255, [], 4095, "198.51.100.1", "224.0.0.18")
for k, v in out.items():
    print(k, hx(v))

# Captured-style frames: the IPv4 header keepalived builds, then VRRP.
cap_v2 = ipv4("192.0.2.11", "224.0.0.18", v2(51, 150, ["192.0.2.100"], 1, 1, b"1111\0\0\0\0"))
cap_v3 = ipv4("192.0.2.12", "224.0.0.18", v3(52, 100, ["192.0.2.200", "192.0.2.201"], 100, "192.0.2.12", "224.0.0.18"))
open("keepalived_v2_pass.hex", "w").write(hx(cap_v2) + "\n")
open("keepalived_v3_ipv4.hex", "w").write(hx(cap_v3) + "\n")
print("CAP_V2", hx(cap_v2))
print("CAP_V3", hx(cap_v3))
