//! The three helpers that run *inside* namespaces, as subcommands of the
//! `netns-tests-agent` binary (started with `ip netns exec`, because entering
//! a namespace from a pre-exec hook would need `unsafe`).
//!
//! - [`echo`]: UDP echo responder on a node; the reply names the node.
//! - [`probe`]: sends a sequence-numbered datagram to the VIP every interval
//!   on absolute deadlines and records who answered.
//! - [`capture`]: an `AF_PACKET` socket in the switch namespace that sees every
//!   frame entering the bridge and records VRRP advertisements.

use crate::clock::mono_us;
use crate::wire::{self, ProbeRecord, PROBE_LEN};
use crate::{Error, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{BufWriter, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Answers every probe on `port` (IPv4 and IPv6) with the probe's header and
/// `name`. Runs until killed.
pub fn echo(port: u16, name: &str) -> Result<()> {
    let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| Error::io("echo: socket", e))?;
    // One dual-stack socket serves both the IPv4 and the IPv6 VIP.
    sock.set_only_v6(false)
        .map_err(|e| Error::io("echo: IPV6_V6ONLY", e))?;
    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    sock.bind(&addr.into())
        .map_err(|e| Error::io(format!("echo: bind {addr}"), e))?;
    let sock: UdpSocket = sock.into();
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("echo: recv", e)),
        };
        let Some(reply) = wire::encode_reply(&buf[..n], name) else {
            continue; // not a probe: ignore
        };
        // A failed reply is a lost probe, which the prober records; the
        // responder itself must keep running.
        let _ = sock.send_to(&reply, from);
    }
}

/// What [`probe`] should do.
#[derive(Debug, Clone)]
pub struct ProbeParams {
    pub target: IpAddr,
    pub port: u16,
    pub interval_us: u64,
    pub duration_ms: u64,
    /// How long to keep listening for replies after the last send.
    pub grace_ms: u64,
}

/// Sends `duration / interval` probes on absolute deadlines
/// (`start + seq * interval`, so scheduling delays never accumulate) and
/// returns one record per probe.
pub fn probe(p: &ProbeParams) -> Result<Vec<ProbeRecord>> {
    if p.interval_us == 0 {
        return Err(Error::Invalid("probe interval must be > 0".into()));
    }
    let bind: SocketAddr = match p.target {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // Unconnected on purpose: the echo's reply may come from the node's own
    // address rather than the VIP, and ICMP errors must not abort the run.
    let sock = UdpSocket::bind(bind).map_err(|e| Error::io("probe: bind", e))?;
    let dest = SocketAddr::new(p.target, p.port);
    let total = p.duration_ms * 1000 / p.interval_us;
    let mut records: Vec<ProbeRecord> = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut buf = [0u8; 1500];
    let start = mono_us();
    let end_listen = |last_sent: u64| last_sent + p.grace_ms * 1000;
    let mut seq = 0u64;
    loop {
        let now = mono_us();
        if seq < total && now >= start + seq * p.interval_us {
            let sent_us = mono_us();
            // A send error (no route, neighbour queue full) is simply a
            // probe that will not be answered.
            let _ = sock.send_to(&wire::encode_probe(seq, sent_us), dest);
            records.push(ProbeRecord {
                seq,
                sent_us,
                recv_us: None,
                responder: None,
            });
            seq += 1;
            continue;
        }
        let wake = if seq < total {
            start + seq * p.interval_us
        } else {
            let last = records.last().map_or(start, |r| r.sent_us);
            end_listen(last)
        };
        if now >= wake {
            if seq >= total {
                break;
            }
            continue;
        }
        // SO_RCVTIMEO has µs resolution, so the socket wait doubles as the
        // precise sleep until the next deadline.
        let wait = Duration::from_micros((wake - now).max(1));
        sock.set_read_timeout(Some(wait))
            .map_err(|e| Error::io("probe: SO_RCVTIMEO", e))?;
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let recv_us = mono_us();
                if n < PROBE_LEN {
                    continue;
                }
                if let Some((rseq, name)) = wire::decode_reply(&buf[..n]) {
                    if let Some(r) = usize::try_from(rseq).ok().and_then(|i| records.get_mut(i)) {
                        if r.recv_us.is_none() {
                            r.recv_us = Some(recv_us);
                            r.responder = Some(name);
                        }
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            // ICMP errors surfaced on the socket (e.g. port unreachable)
            // mean "no answer", not a broken prober.
            Err(_) => {}
        }
    }
    Ok(records)
}

/// Writes records as JSON lines.
pub fn write_records<T: serde::Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let f = std::fs::File::create(path)
        .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
    let mut w = BufWriter::new(f);
    for r in records {
        let line = serde_json::to_string(r).map_err(|e| Error::parse("record", e))?;
        writeln!(w, "{line}").map_err(|e| Error::io("write record", e))?;
    }
    w.flush().map_err(|e| Error::io("flush records", e))
}

/// `sll_pkttype` of a frame the host itself transmitted.
const PACKET_OUTGOING: u8 = 4;

/// Records every VRRP advertisement entering the switch, one JSON line each
/// (flushed at once so the harness can follow the file live), until SIGTERM
/// or SIGINT. Frames on `exclude_ifs` (the bridge device itself, which sees
/// flooded copies) and outgoing copies are skipped so each advert is seen
/// exactly once, on the port it came in on.
pub fn capture(out: &Path, exclude_ifs: &[String]) -> Result<()> {
    use nix::sys::socket::{
        recvfrom, setsockopt, socket, sockopt, AddressFamily, LinkAddr, SockFlag, SockProtocol,
        SockType,
    };
    use nix::sys::time::TimeVal;
    use std::os::fd::AsRawFd;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Error::io("capture: signal handler", e))?;
    }
    let excluded: Vec<u32> = exclude_ifs
        .iter()
        .filter_map(|n| nix::net::if_::if_nametoindex(n.as_str()).ok())
        .collect();
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map_err(|e| Error::sys("capture: AF_PACKET socket", e))?;
    // Wake up regularly to notice SIGTERM (signal-hook handlers use
    // SA_RESTART, so a blocking recv would not return on its own).
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000))
        .map_err(|e| Error::sys("capture: SO_RCVTIMEO", e))?;
    let f = std::fs::File::create(out)
        .map_err(|e| Error::io(format!("create {}", out.display()), e))?;
    let mut w = BufWriter::new(f);
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let (n, addr) = match recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut buf) {
            Ok(v) => v,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("capture: recvfrom", e)),
        };
        let t_us = mono_us();
        if let Some(a) = addr {
            if a.pkttype() == PACKET_OUTGOING
                || u32::try_from(a.ifindex()).is_ok_and(|i| excluded.contains(&i))
            {
                continue;
            }
        }
        if let Some(adv) = wire::parse_frame(&buf[..n], t_us) {
            let line = serde_json::to_string(&adv).map_err(|e| Error::parse("advert", e))?;
            writeln!(w, "{line}").map_err(|e| Error::io("capture: write", e))?;
            w.flush().map_err(|e| Error::io("capture: flush", e))?;
        }
    }
    w.flush().map_err(|e| Error::io("capture: flush", e))
}

/// What [`advert_times`] should do.
#[derive(Debug, Clone)]
pub struct AdvertTimesParams {
    /// Switch ports to listen on; a record's `link` is the position here.
    pub ifaces: Vec<String>,
    /// Stop by itself after this long (`None`: until SIGTERM or SIGINT).
    pub duration_ms: Option<u64>,
}

/// Records the send time of every VRRP advertisement entering the switch on
/// `p.ifaces` (the master's ports), one [`wire::AdvertTime`] line each,
/// written when the run ends (after `duration_ms`, or on SIGTERM/SIGINT).
///
/// Built for the scale benchmark, where thousands of adverts a second must
/// be timed without the capture disturbing the daemons: one `AF_PACKET`
/// socket bound to each port (so the kernel hands us each advert once, not
/// once per bridge port it is flooded to), kernel timestamps
/// (`SO_TIMESTAMPNS`, so our own scheduling delay does not count as the
/// daemon's jitter), a large receive buffer, and records kept in memory
/// until the end instead of a write per advert.
pub fn advert_times(out: &Path, p: &AdvertTimesParams) -> Result<()> {
    use nix::sys::socket::{bind, setsockopt, sockopt};
    use std::os::fd::AsRawFd;

    if p.ifaces.is_empty() || p.ifaces.len() > usize::from(u8::MAX) {
        return Err(Error::Invalid(format!(
            "advert-times: {} interfaces (1..=255)",
            p.ifaces.len()
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Error::io("advert-times: signal handler", e))?;
    }
    let links = nix::ifaddrs::getifaddrs().map_err(|e| Error::sys("getifaddrs", e))?;
    let links: Vec<(String, nix::sys::socket::LinkAddr)> = links
        .filter_map(|ifa| Some((ifa.interface_name.clone(), *ifa.address?.as_link_addr()?)))
        .collect();
    let mut socks = Vec::with_capacity(p.ifaces.len());
    for (i, name) in p.ifaces.iter().enumerate() {
        let fd = packet_socket()?;
        // getifaddrs hands out the port's sockaddr_ll, so we need not build
        // one by hand; its protocol field is 0, which makes bind(2) keep the
        // socket's ETH_P_ALL and only narrow it to this port.
        let link = links
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| *l)
            .ok_or_else(|| Error::Invalid(format!("advert-times: no interface {name}")))?;
        bind(fd.as_raw_fd(), &link).map_err(|e| Error::sys(format!("bind {name}"), e))?;
        setsockopt(&fd, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| Error::sys("advert-times: SO_TIMESTAMPNS", e))?;
        // 16 MiB: a capture descheduled for a second at 10,000 adverts/s
        // must not drop any (root may exceed rmem_max with SO_RCVBUFFORCE).
        if setsockopt(&fd, sockopt::RcvBufForce, &(16 << 20)).is_err() {
            let _ = setsockopt(&fd, sockopt::RcvBuf, &(16 << 20));
        }
        let ifindex = nix::net::if_::if_nametoindex(name.as_str())
            .map_err(|e| Error::sys(format!("if_nametoindex {name}"), e))?;
        socks.push((i as u8, ifindex, fd));
    }
    let f = std::fs::File::create(out)
        .map_err(|e| Error::io(format!("create {}", out.display()), e))?;
    let deadline = p.duration_ms.map(|d| mono_us() + d * 1000);
    let results: Vec<Result<Vec<wire::AdvertTime>>> = std::thread::scope(|s| {
        let handles: Vec<_> = socks
            .iter()
            .map(|(link, ifindex, fd)| {
                let stop = Arc::clone(&stop);
                s.spawn(move || time_port(fd, *link, *ifindex, &stop, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Invalid("capture thread panicked".into())))
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|a| a.t_us);
    let mut w = BufWriter::new(f);
    for a in &all {
        writeln!(w, "{}", a.to_line()).map_err(|e| Error::io("advert-times: write", e))?;
    }
    w.flush().map_err(|e| Error::io("advert-times: flush", e))
}

fn packet_socket() -> Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{
        setsockopt, socket, sockopt, AddressFamily, SockFlag, SockProtocol, SockType,
    };
    use nix::sys::time::TimeVal;
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map_err(|e| Error::sys("advert-times: AF_PACKET socket", e))?;
    // Wake up regularly to notice SIGTERM and the deadline.
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 50_000))
        .map_err(|e| Error::sys("advert-times: SO_RCVTIMEO", e))?;
    Ok(fd)
}

/// The receive loop of one port of [`advert_times`].
fn time_port(
    fd: &std::os::fd::OwnedFd,
    link: u8,
    ifindex: u32,
    stop: &AtomicBool,
    deadline: Option<u64>,
) -> Result<Vec<wire::AdvertTime>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, LinkAddr, MsgFlags};
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;

    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| mono_us() < d) {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let (n, addr, kernel_ns) = match recvmsg::<LinkAddr>(
            fd.as_raw_fd(),
            &mut iov,
            Some(cmsg.as_mut_slice()),
            MsgFlags::empty(),
        ) {
            Ok(msg) => {
                let mut kernel_ns = None;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmTimestampns(ts) = c {
                            let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
                            let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
                            kernel_ns = Some(secs * 1_000_000_000 + nanos);
                        }
                    }
                }
                (msg.bytes, msg.address, kernel_ns)
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("advert-times: recvmsg", e)),
        };
        let t_us = mono_us();
        // Only frames the node sent into the switch: skip what the bridge
        // sends out to it, and anything queued from another port between
        // socket(2) and bind(2).
        if let Some(a) = addr {
            if a.pkttype() == PACKET_OUTGOING || a.ifindex() != ifindex as usize {
                continue;
            }
        }
        let Some(frame) = buf.get(..n) else { continue };
        if let Some(adv) = wire::parse_frame(frame, t_us) {
            out.push(wire::AdvertTime {
                link,
                t_us,
                kernel_ns,
                ipv6: adv.src.is_ipv6(),
                version: adv.version,
                vrid: adv.vrid,
                priority: adv.priority,
                src_mac: adv.src_mac,
            });
        }
    }
    Ok(out)
}
