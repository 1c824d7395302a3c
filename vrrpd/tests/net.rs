//! `vrrpd::net` against a real kernel, inside two network namespaces joined
//! by a veth pair:
//!
//! ```text
//!   vrnet<pid><tag>a                      vrnet<pid><tag>b
//!   va 02:00:00:00:00:0a  <--- veth --->  vb 02:00:00:00:00:0b
//!   192.0.2.1/24                          192.0.2.2/24
//!   2001:db8::1/64                        2001:db8::2/64
//! ```
//!
//! Needs root (namespaces, raw sockets). With `CI=true` every test runs and
//! must pass; elsewhere a test without the privileges prints why and skips.
//! Namespaces are removed when the topology is dropped, panics included.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt;
use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use vrrpd::net::{virtual_router_mac, Announcer, Family, LinkEvent, NetError, Netlink, VrrpSocket};

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const WRONG_MAC: &str = "02:00:00:00:00:ee";
const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// A second address of va, used as a configured source.
const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// Guards against a hang only; no test asserts on time.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2 `ip` not found".into());
    }
    None
}

/// Returns false (after saying why) when the test must be skipped; panics
/// when it cannot run under CI.
fn should_run(test: &str) -> bool {
    match unavailable() {
        None => true,
        Some(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: cannot run under CI: {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED {test}: {why} (set up root to run it)");
            false
        }
    }
}

/// Two namespaces and a veth pair; removed on drop.
struct Topo {
    a: String,
    b: String,
}

impl Topo {
    fn new(tag: &str) -> Topo {
        let pid = std::process::id();
        let topo = Topo {
            a: format!("vrnet{pid}{tag}a"),
            b: format!("vrnet{pid}{tag}b"),
        };
        for ns in [&topo.a, &topo.b] {
            // A leftover from a crashed run with the same pid: remove it.
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run(&["ip", "netns", "add", ns]);
        }
        // From here on, `topo` is dropped (and the namespaces removed) if
        // anything fails.
        for ns in [&topo.a, &topo.b] {
            // Link-local addresses usable at once: no DAD wait in tests.
            for conf in ["default", "all"] {
                run(&[
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{conf}.accept_dad=0"),
                ]);
            }
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run(&[
            "ip",
            "link",
            "add",
            "va",
            "netns",
            &topo.a,
            "address",
            "02:00:00:00:00:0a",
            "type",
            "veth",
            "peer",
            "name",
            "vb",
            "netns",
            &topo.b,
            "address",
            "02:00:00:00:00:0b",
        ]);
        for (ns, dev, v4, v6) in [
            (&topo.a, "va", "192.0.2.1/24", "2001:db8::1/64"),
            (&topo.b, "vb", "192.0.2.2/24", "2001:db8::2/64"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        // IPv6 becomes operational on a veth only once the kernel has seen
        // its carrier come up (a deferred link-watch event): until then it
        // has no link-local address and no ff00::/8 route, and drops
        // multicast it receives. Wait for both, on both sides.
        for (ns, dev) in [(&topo.a, "va"), (&topo.b, "vb")] {
            let ready = || {
                let routes = topo.ip(ns, &["-6", "route", "show", "table", "local"]);
                let addrs = topo.ip(ns, &["-6", "addr", "show", "dev", dev, "scope", "link"]);
                routes.contains(&format!("multicast ff00::/8 dev {dev}"))
                    && addrs.contains("inet6 fe80")
                    && !addrs.contains("tentative")
            };
            let mut tries = 0;
            while !ready() {
                tries += 1;
                assert!(tries < 200, "IPv6 never became ready on {dev} in {ns}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        topo
    }

    fn ip(&self, ns: &str, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", ns];
        full.extend_from_slice(args);
        run(&full)
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs `f` on a fresh thread that entered network namespace `ns`, with a
/// current-thread tokio runtime: sockets it opens live in `ns`.
fn in_ns<F, Fut, R>(ns: &str, f: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = R>,
    R: Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = File::open(&path).unwrap();
        setns(fd, CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tokio::time::timeout(HANG_GUARD * 3, f())
                .await
                .expect("test body hung")
        })
    })
}

fn join<R>(h: std::thread::JoinHandle<R>) -> R {
    match h.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn link_local(topo: &Topo, ns: &str, dev: &str) -> Ipv6Addr {
    let out = topo.ip(
        ns,
        &["-6", "-o", "addr", "show", "dev", dev, "scope", "link"],
    );
    let word = out
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .unwrap();
    word.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn addresses_and_links_through_netlink() {
    if !should_run("addresses_and_links_through_netlink") {
        return;
    }
    let topo = Topo::new("n");
    let ll_a = link_local(&topo, &topo.a, "va");
    let (to_test, from_body) = mpsc::channel::<&'static str>();
    let (to_body, from_test) = mpsc::channel::<()>();
    let body = in_ns(&topo.a, move || async move {
        let nl = Netlink::new().unwrap();
        let idx = nl.link_index("va").await.unwrap();
        assert_eq!(idx, nix::net::if_::if_nametoindex("va").unwrap());
        assert!(matches!(
            nl.link_index("nosuchdev").await,
            Err(NetError::NoSuchInterface(_))
        ));
        assert_eq!(nl.link_mac(idx).await.unwrap(), MAC_A);
        assert!(matches!(
            nl.link_mac(9999).await,
            Err(NetError::NoSuchLink(9999))
        ));
        assert!(nl.link_is_up(idx).await.unwrap());
        assert_eq!(
            nl.primary_address(idx, Family::V4).await.unwrap(),
            Some(IpAddr::V4(A4))
        );
        assert_eq!(
            nl.primary_address(idx, Family::V6).await.unwrap(),
            Some(IpAddr::V6(ll_a))
        );

        // IPv4 VIP with a label, added twice: the second is a no-op.
        let vip4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
        assert!(nl.add_address(idx, vip4, 32, Some("va:vip")).await.unwrap());
        assert!(!nl.add_address(idx, vip4, 32, Some("va:vip")).await.unwrap());
        // A secondary in the primary's subnet.
        let sec4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50));
        assert!(nl.add_address(idx, sec4, 24, None).await.unwrap());
        // IPv6 VIP, usable at once (nodad).
        let vip6 = IpAddr::V6("2001:db8::100".parse().unwrap());
        assert!(nl.add_address(idx, vip6, 64, None).await.unwrap());
        assert!(!nl.add_address(idx, vip6, 64, None).await.unwrap());

        let list = nl.list_addresses(idx).await.unwrap();
        assert!(
            list.contains(&(vip4, 32, Some("va:vip".into()))),
            "{list:?}"
        );
        assert!(list.contains(&(sec4, 24, Some("va".into()))), "{list:?}");
        assert!(list.contains(&(vip6, 64, None)), "{list:?}");
        assert!(
            list.contains(&(IpAddr::V4(A4), 24, Some("va".into()))),
            "{list:?}"
        );
        assert!(list.contains(&(IpAddr::V6(A6), 64, None)), "{list:?}");
        assert!(list.contains(&(IpAddr::V6(ll_a), 64, None)), "{list:?}");
        // The secondary and the VIPs do not displace the primaries.
        assert_eq!(
            nl.primary_address(idx, Family::V4).await.unwrap(),
            Some(IpAddr::V4(A4))
        );
        assert_eq!(
            nl.primary_address(idx, Family::V6).await.unwrap(),
            Some(IpAddr::V6(ll_a))
        );

        // Errors keep their errno.
        match nl.add_address(9999, vip4, 32, None).await {
            Err(e) => assert_eq!(e.errno(), Some(Errno::ENODEV), "{e}"),
            Ok(added) => panic!("added to a missing link: {added}"),
        }

        to_test.send("added").unwrap();
        from_test.recv().unwrap();

        assert!(nl.del_address(idx, vip4, 32).await.unwrap());
        assert!(!nl.del_address(idx, vip4, 32).await.unwrap());
        assert!(nl.del_address(idx, vip6, 64).await.unwrap());
        assert!(!nl.del_address(idx, vip6, 64).await.unwrap());
        assert!(nl.del_address(idx, sec4, 24).await.unwrap());
        let list = nl.list_addresses(idx).await.unwrap();
        assert!(!list
            .iter()
            .any(|(a, _, _)| *a == vip4 || *a == vip6 || *a == sec4));
        to_test.send("deleted").unwrap();
    });

    assert_eq!(from_body.recv_timeout(HANG_GUARD * 2).unwrap(), "added");
    let shown = topo.ip(&topo.a, &["addr", "show", "dev", "va"]);
    assert!(
        shown.contains("inet 192.0.2.100/32 scope global va:vip"),
        "{shown}"
    );
    assert!(
        shown.contains("inet 192.0.2.50/24 scope global secondary va"),
        "{shown}"
    );
    let v6_line = shown
        .lines()
        .find(|l| l.contains("inet6 2001:db8::100/64"))
        .unwrap_or_else(|| panic!("no VIP in {shown}"));
    assert!(!v6_line.contains("tentative"), "{v6_line}");
    let v6_flags = topo.ip(
        &topo.a,
        &["-6", "addr", "show", "dev", "va", "to", "2001:db8::100"],
    );
    assert!(v6_flags.contains("nodad"), "{v6_flags}");
    to_body.send(()).unwrap();
    assert_eq!(from_body.recv_timeout(HANG_GUARD * 2).unwrap(), "deleted");
    join(body);
    let shown = topo.ip(&topo.a, &["addr", "show", "dev", "va"]);
    assert!(!shown.contains("192.0.2.100"), "{shown}");
    assert!(!shown.contains("192.0.2.50"), "{shown}");
    assert!(!shown.contains("2001:db8::100"), "{shown}");
    assert!(shown.contains("192.0.2.1/24"), "{shown}");
}

#[test]
fn link_events_report_down_and_up() {
    if !should_run("link_events_report_down_and_up") {
        return;
    }
    let topo = Topo::new("l");
    let (to_test, from_body) = mpsc::channel::<u32>();
    let (to_body, from_test) = mpsc::channel::<&'static str>();
    let body = in_ns(&topo.a, move || async move {
        let idx = nix::net::if_::if_nametoindex("va").unwrap();
        let nl = Netlink::new().unwrap();
        let mut events = nl.link_events().unwrap();
        to_test.send(idx).unwrap();
        let mut seen = Vec::new();
        // Wait for the down, then the up, of va (other NEWLINK messages,
        // e.g. for vb's carrier, may come in between).
        for want in [false, true] {
            let expected = LinkEvent {
                ifindex: idx,
                up: want,
            };
            loop {
                let ev = events.next().await.unwrap();
                seen.push(ev);
                if ev == expected {
                    break;
                }
            }
            to_test.send(idx).unwrap();
            assert_eq!(from_test.recv().unwrap(), "next");
        }
        seen
    });
    from_body.recv_timeout(HANG_GUARD).unwrap();
    topo.ip(&topo.a, &["link", "set", "va", "down"]);
    from_body.recv_timeout(HANG_GUARD).unwrap();
    to_body.send("next").unwrap();
    topo.ip(&topo.a, &["link", "set", "va", "up"]);
    from_body.recv_timeout(HANG_GUARD).unwrap();
    to_body.send("next").unwrap();
    // The body only returns once it has seen va's down event, then its up
    // event, in that order; a missing event makes it time out and fail.
    let seen = join(body);
    assert!(seen.len() >= 2, "{seen:?}");
}

/// Opens a VRRP socket on vb, then lets side A send, then returns what vb
/// received (one packet per expected count).
/// A plain raw protocol-112 socket on va, without any of VrrpSocket's
/// settings, to send packets a conforming speaker would not.
fn raw_sender(domain: Domain) -> Socket {
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(112))).unwrap();
    s.bind_device(Some(b"va")).unwrap();
    s
}

fn exchange(
    topo: &Topo,
    family: Family,
    send: impl FnOnce(VrrpSocket) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
        + Send
        + 'static,
    count: usize,
) -> Vec<(vrrpd::net::Received, Vec<u8>)> {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let rx = in_ns(&topo.b, move || async move {
        let sock = VrrpSocket::open("vb", family).unwrap();
        assert_eq!(sock.ifname(), "vb");
        assert_eq!(sock.family(), family);
        // A configured source must not stop the socket receiving the group
        // (as binding a raw socket would).
        sock.set_source(match family {
            Family::V4 => IpAddr::V4(B4),
            Family::V6 => IpAddr::V6(B6),
        })
        .unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1500];
        for _ in 0..count {
            let r = sock.recv(&mut buf).await.unwrap();
            got.push((r, buf[..r.len].to_vec()));
        }
        got
    });
    ready_rx.recv_timeout(HANG_GUARD).unwrap();
    let tx = in_ns(&topo.a, move || async move {
        let sock = VrrpSocket::open("va", family).unwrap();
        send(sock).await;
    });
    join(tx);
    join(rx)
}

#[test]
fn vrrp_ipv4_multicast_unicast_and_source() {
    if !should_run("vrrp_ipv4_multicast_unicast_and_source") {
        return;
    }
    let topo = Topo::new("4");
    topo.ip(&topo.a, &["addr", "add", "192.0.2.10/32", "dev", "va"]); // SRC4
    let idx_b = topo.ip(&topo.b, &["-o", "link", "show", "vb"]);
    let idx_b: u32 = idx_b.split(':').next().unwrap().trim().parse().unwrap();
    let got = exchange(
        &topo,
        Family::V4,
        |sock| {
            Box::pin(async move {
                sock.send_multicast(&[0x31, 7, 100, 1, 0, 1, 0xaa, 0xbb])
                    .await
                    .unwrap();
                sock.send_to(IpAddr::V4(B4), &[0x31, 7, 100, 2])
                    .await
                    .unwrap();
                assert!(matches!(
                    sock.send_to(IpAddr::V6(B6), &[1]).await,
                    Err(NetError::FamilyMismatch { .. })
                ));
                // A sender that does not set TTL 255: the receiver must see
                // the TTL the packet really had (RFC 5798 §7.1 check).
                let plain = raw_sender(Domain::IPV4);
                plain.set_multicast_ttl_v4(7).unwrap();
                plain
                    .send_to(
                        &[0x31, 7, 100, 9],
                        &SockAddr::from(SocketAddr::new(IpAddr::V4(GROUP4), 0)),
                    )
                    .unwrap();
                // A per-send source, for the group.
                sock.send_from(Some(SRC4), IpAddr::V4(GROUP4), &[0x31, 7, 100, 4])
                    .await
                    .unwrap();
                // The kernel refuses a source that is not ours; the errno
                // is kept
                let foreign = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
                let err = sock
                    .send_from(Some(foreign), IpAddr::V4(B4), &[0x31, 7, 100, 5])
                    .await
                    .unwrap_err();
                // (EINVAL or ENETUNREACH, depending on the kernel's route
                // lookup path); the next packet received proves it was not
                // sent.
                assert!(
                    matches!(err.errno(), Some(Errno::EINVAL | Errno::ENETUNREACH)),
                    "{err}"
                );
                assert!(matches!(
                    sock.set_source(IpAddr::V6(A6)),
                    Err(NetError::FamilyMismatch { .. })
                ));
                // The socket-wide source, for unicast.
                sock.set_source(SRC4).unwrap();
                sock.send_to(IpAddr::V4(B4), &[0x31, 7, 100, 3])
                    .await
                    .unwrap();
            })
        },
        5,
    );
    let (r, payload) = &got[0];
    assert_eq!(payload, &[0x31, 7, 100, 1, 0, 1, 0xaa, 0xbb]);
    assert_eq!(r.src, IpAddr::V4(A4));
    assert_eq!(r.dst, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)));
    assert_eq!(r.ttl, 255);
    assert_eq!(r.ifindex, idx_b);
    let (r, payload) = &got[1];
    assert_eq!(payload, &[0x31, 7, 100, 2]);
    assert_eq!((r.src, r.dst, r.ttl), (IpAddr::V4(A4), IpAddr::V4(B4), 255));
    let (r, payload) = &got[2];
    assert_eq!(payload, &[0x31, 7, 100, 9]);
    assert_eq!((r.dst, r.ttl), (IpAddr::V4(GROUP4), 7));
    let (r, payload) = &got[3];
    assert_eq!(payload, &[0x31, 7, 100, 4]);
    assert_eq!((r.src, r.dst, r.ttl), (SRC4, IpAddr::V4(GROUP4), 255));
    let (r, payload) = &got[4];
    assert_eq!(payload, &[0x31, 7, 100, 3]);
    assert_eq!((r.src, r.dst, r.ttl), (SRC4, IpAddr::V4(B4), 255));
}

#[test]
fn vrrp_ipv6_multicast_and_unicast() {
    if !should_run("vrrp_ipv6_multicast_and_unicast") {
        return;
    }
    let topo = Topo::new("6");
    let ll_a = link_local(&topo, &topo.a, "va");
    let idx_b = topo.ip(&topo.b, &["-o", "link", "show", "vb"]);
    let idx_b: u32 = idx_b.split(':').next().unwrap().trim().parse().unwrap();
    let got = exchange(
        &topo,
        Family::V6,
        |sock| {
            Box::pin(async move {
                sock.send_multicast(&[0x31, 9, 100, 1, 0, 1, 0x12, 0x34])
                    .await
                    .unwrap();
                sock.send_to(IpAddr::V6(B6), &[0x31, 9, 100, 2])
                    .await
                    .unwrap();
                sock.send_from(Some(IpAddr::V6(A6)), IpAddr::V6(GROUP6), &[0x31, 9, 100, 4])
                    .await
                    .unwrap();
                let plain = raw_sender(Domain::IPV6);
                plain.set_multicast_hops_v6(7).unwrap();
                let idx = nix::net::if_::if_nametoindex("va").unwrap();
                let group = SocketAddr::V6(SocketAddrV6::new(GROUP6, 0, 0, idx));
                plain
                    .send_to(&[0x31, 9, 100, 9], &SockAddr::from(group))
                    .unwrap();
            })
        },
        4,
    );
    let (r, payload) = &got[0];
    assert_eq!(payload, &[0x31, 9, 100, 1, 0, 1, 0x12, 0x34]);
    assert_eq!(r.src, IpAddr::V6(ll_a), "adverts come from the link-local");
    assert_eq!(r.dst, IpAddr::V6("ff02::12".parse().unwrap()));
    assert_eq!(r.ttl, 255);
    assert_eq!(r.ifindex, idx_b);
    let (r, payload) = &got[1];
    assert_eq!(payload, &[0x31, 9, 100, 2]);
    assert_eq!((r.src, r.dst, r.ttl), (IpAddr::V6(A6), IpAddr::V6(B6), 255));
    assert_eq!(r.ifindex, idx_b);
    let (r, payload) = &got[2];
    assert_eq!(payload, &[0x31, 9, 100, 4]);
    assert_eq!(
        (r.src, r.dst, r.ttl),
        (IpAddr::V6(A6), IpAddr::V6(GROUP6), 255)
    );
    let (r, payload) = &got[3];
    assert_eq!(payload, &[0x31, 9, 100, 9]);
    assert_eq!((r.dst, r.ttl), (IpAddr::V6(GROUP6), 7));
}

/// Polls the neighbour table of `ns` until the entry for `ip` has `mac`;
/// returns the last line seen.
fn wait_neigh(topo: &Topo, ns: &str, ip: &str, mac: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        last = topo.ip(ns, &["neigh", "show", "to", ip, "dev", "vb"]);
        if last.contains(mac) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    last
}

#[test]
fn garp_and_na_update_the_peer_neighbour_cache() {
    if !should_run("garp_and_na_update_the_peer_neighbour_cache") {
        return;
    }
    let topo = Topo::new("g");
    // The peer already has entries for the VIPs, pointing at another MAC:
    // Linux only updates existing entries from unsolicited announcements,
    // which is exactly the failover case (RFC 5227 §2.4, RFC 4861 §7.2.5).
    for vip in ["192.0.2.100", "2001:db8::100", "2001:db8::101"] {
        topo.ip(
            &topo.b,
            &[
                "neigh", "replace", vip, "dev", "vb", "lladdr", WRONG_MAC, "nud", "stale",
            ],
        );
        let before = topo.ip(&topo.b, &["neigh", "show", "to", vip, "dev", "vb"]);
        assert!(before.contains(WRONG_MAC), "{before}");
    }
    let body = in_ns(&topo.a, || async {
        let ann = Announcer::open("va").unwrap();
        assert_eq!(ann.ifname(), "va");
        assert_eq!(ann.ifindex(), nix::net::if_::if_nametoindex("va").unwrap());
        ann.garp(Ipv4Addr::new(192, 0, 2, 100), MAC_A)
            .await
            .unwrap();
        ann.unsolicited_na("2001:db8::100".parse().unwrap(), MAC_A)
            .await
            .unwrap();
        assert!(matches!(
            Announcer::open("nosuchdev"),
            Err(NetError::NoSuchInterface(_))
        ));
    });
    join(body);
    let mac_a = "02:00:00:00:00:0a";
    let v4 = wait_neigh(&topo, &topo.b, "192.0.2.100", mac_a);
    assert!(
        v4.contains(mac_a),
        "GARP did not update the ARP cache: {v4}"
    );
    let v6 = wait_neigh(&topo, &topo.b, "2001:db8::100", mac_a);
    let counters = || {
        run(&["ip", "netns", "exec", &topo.b, "nstat", "-az"])
            .lines()
            .filter(|l| l.contains("Ip6") && !l.contains(" 0 "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        v6.contains(mac_a),
        "NA did not update the ND cache: {v6}\npeer counters:\n{}",
        counters()
    );
    // Forwarding is off on va: not announced as a router.
    assert!(!v6.contains("router"), "{v6}");

    // With forwarding on, the NA carries the Router flag (keepalived's
    // behaviour) and the peer marks the entry as a router.
    run(&[
        "ip",
        "netns",
        "exec",
        &topo.a,
        "sysctl",
        "-qw",
        "net.ipv6.conf.va.forwarding=1",
    ]);
    join(in_ns(&topo.a, || async {
        let ann = Announcer::open("va").unwrap();
        ann.unsolicited_na("2001:db8::101".parse().unwrap(), MAC_A)
            .await
            .unwrap();
    }));
    let v6r = wait_neigh(&topo, &topo.b, "2001:db8::101", mac_a);
    assert!(v6r.contains(mac_a), "NA did not update the ND cache: {v6r}");
    assert!(v6r.contains("router"), "no Router flag: {v6r}");
}

#[test]
fn vmac_lifecycle_and_announcements_from_it() {
    if !should_run("vmac_lifecycle_and_announcements_from_it") {
        return;
    }
    let topo = Topo::new("m");
    topo.ip(
        &topo.b,
        &[
            "neigh",
            "replace",
            "192.0.2.107",
            "dev",
            "vb",
            "lladdr",
            WRONG_MAC,
            "nud",
            "stale",
        ],
    );
    let (to_test, from_body) = mpsc::channel::<u32>();
    let (to_body, from_test) = mpsc::channel::<()>();
    let (rx_ready_tx, rx_ready) = mpsc::channel::<()>();
    let rx = in_ns(&topo.b, move || async move {
        let sock = VrrpSocket::open("vb", Family::V4).unwrap();
        rx_ready_tx.send(()).unwrap();
        let mut buf = [0u8; 1500];
        let r = sock.recv(&mut buf).await.unwrap();
        (r, buf[..r.len].to_vec())
    });
    let body = in_ns(&topo.a, move || async move {
        let nl = Netlink::new().unwrap();
        let parent = nl.link_index("va").await.unwrap();
        let vmac = virtual_router_mac(Family::V4, 7);
        let (idx, created) = nl.add_vmac(parent, "vrrp.7", vmac).await.unwrap();
        assert!(created);
        // Idempotent: the same VMAC again is reused.
        assert_eq!(
            nl.add_vmac(parent, "vrrp.7", vmac).await.unwrap(),
            (idx, false)
        );
        // A different link under that name is not ours to reuse.
        assert!(matches!(
            nl.add_vmac(parent, "vrrp.7", virtual_router_mac(Family::V4, 8))
                .await,
            Err(NetError::Exists)
        ));
        assert_eq!(nl.link_mac(idx).await.unwrap(), vmac);
        // Created down, so its settings can go in before it speaks.
        assert!(!nl.link_is_up(idx).await.unwrap());
        nl.set_link_up(idx).await.unwrap();
        assert!(nl.link_is_up(idx).await.unwrap());

        // The master's VIP lives on the VMAC and is announced with its MAC.
        let vip = Ipv4Addr::new(192, 0, 2, 107);
        assert!(nl
            .add_address(idx, IpAddr::V4(vip), 32, None)
            .await
            .unwrap());
        let ann = Announcer::open("vrrp.7").unwrap();
        ann.garp(vip, vmac).await.unwrap();
        // Adverts go out of the VMAC too, from the parent's address.
        let sock = VrrpSocket::open("vrrp.7", Family::V4).unwrap();
        rx_ready.recv().unwrap();
        sock.send_from(Some(IpAddr::V4(A4)), IpAddr::V4(GROUP4), &[0x31, 7, 1, 1])
            .await
            .unwrap();

        to_test.send(idx).unwrap();
        from_test.recv().unwrap();
        assert!(nl.del_link(idx).await.unwrap());
        assert!(!nl.del_link(idx).await.unwrap());
        assert!(matches!(
            nl.link_index("vrrp.7").await,
            Err(NetError::NoSuchInterface(_))
        ));
    });
    from_body.recv_timeout(HANG_GUARD * 2).unwrap();
    let shown = topo.ip(&topo.a, &["-d", "link", "show", "vrrp.7"]);
    assert!(shown.contains("vrrp.7@va"), "{shown}");
    assert!(shown.contains("link/ether 00:00:5e:00:01:07"), "{shown}");
    assert!(shown.contains("macvlan mode private"), "{shown}");
    assert!(shown.contains(",UP"), "{shown}");
    let neigh = wait_neigh(&topo, &topo.b, "192.0.2.107", "00:00:5e:00:01:07");
    assert!(
        neigh.contains("00:00:5e:00:01:07"),
        "GARP from the VMAC did not move the VIP: {neigh}"
    );
    let (r, payload) = join(rx);
    assert_eq!(payload, &[0x31, 7, 1, 1]);
    assert_eq!(
        (r.src, r.dst, r.ttl),
        (IpAddr::V4(A4), IpAddr::V4(GROUP4), 255)
    );
    to_body.send(()).unwrap();
    join(body);
    let links = topo.ip(&topo.a, &["link", "show"]);
    assert!(!links.contains("vrrp.7"), "{links}");
}
