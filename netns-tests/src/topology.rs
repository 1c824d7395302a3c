//! The virtual LAN: one switch namespace with a Linux bridge, N node
//! namespaces and one client namespace, each joined to the bridge by a veth
//! pair; plus the processes running inside them.
//!
//! ```text
//!   n1 (eth0 192.0.2.11, 2001:db8::11) ──veth── p1 ┐
//!   n2 (eth0 192.0.2.12, 2001:db8::12) ──veth── p2 ├─ br0  (switch ns)
//!   ...                                            │
//!   client (eth0 192.0.2.100, 2001:db8::100) ─veth─ pc ┘
//! ```
//!
//! With [`TopologyOptions::links_per_node`] above 1 each node gets more
//! interfaces, each a veth into its own bridge (one bridge per segment, as
//! in a multi-segment deployment); the client stays on the first segment:
//!
//! ```text
//!   link  node ifname  bridge  node port  IPv4               IPv6
//!   0     eth0         br0     p<i>       192.0.2.<10+i>/24    2001:db8::<10+i>/64
//!   1     eth1         br1     p<i>l1     198.51.100.<10+i>/24 2001:db8:1::<10+i>/64
//!   2     eth2         br2     p<i>l2     203.0.113.<10+i>/24  2001:db8:2::<10+i>/64
//!   k≥3   eth<k>       br<k>   p<i>l<k>   (none: no IPv4       2001:db8:<k>::<10+i>/64
//!                                          documentation range left)
//! ```
//!
//! Everything is named `<prefix><pid>c<k>-<role>` so parallel tests and
//! parallel runs never collide, and [`cleanup_stale`] can tell leftovers of
//! dead runs from live ones. Set-up uses `ip` commands (allowed in test
//! set-up code by DESIGN.md rule 4).

use crate::clock::mono_us;
use crate::config::KeepalivedConf;
use crate::daemon::{Daemon, DaemonFiles};
use crate::registry;
use crate::wire::{self, Advert, AdvertTime, ProbeRecord};
use crate::{Error, Result};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A node by its 1-based number (`Node(1)` is `n1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node(pub usize);

/// How to build a topology.
#[derive(Debug, Clone)]
pub struct TopologyOptions {
    /// Name prefix of every namespace (`nt` by default).
    pub prefix: String,
    pub nodes: usize,
    /// The `netns-tests-agent` binary; found next to the running executable
    /// (or `$NETNS_TESTS_AGENT`) when `None`.
    pub agent: Option<PathBuf>,
    /// Keep the log directory even when nothing failed.
    pub keep_logs: bool,
    /// Parent of the per-topology log directory.
    pub log_root: PathBuf,
    /// Interfaces per node (`eth0`..), each on its own bridge; 1 by default.
    /// See the module documentation for the address plan.
    pub links_per_node: usize,
    /// Receive on every veth in a NAPI kernel thread of its own (GRO on,
    /// `threaded` 1) instead of in the sender's system call. A veth runs
    /// its peer's whole receive path (the switch's bridge and netfilter,
    /// the other node's IP stack and sockets) as softirq work on return
    /// from the sender's `sendmsg`, billed to the sender; between real
    /// machines that work is done by the receivers. Benchmarks that
    /// compare a daemon's own CPU turn this on (needs `ethtool`).
    pub threaded_napi: bool,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        TopologyOptions {
            prefix: DEFAULT_PREFIX.to_string(),
            nodes: 2,
            agent: None,
            keep_logs: false,
            log_root: std::env::temp_dir().join("netns-tests"),
            links_per_node: 1,
            threaded_napi: false,
        }
    }
}

/// Namespace prefix used unless the options say otherwise.
pub const DEFAULT_PREFIX: &str = "nt";
/// The bridge device in the switch namespace (of the first link).
pub const BRIDGE: &str = "br0";
/// Most links per node: the interface numbers stay one digit in port names.
pub const MAX_LINKS: usize = 10;
/// UDP port of the echo responders.
pub const ECHO_PORT: u16 = 7;

/// Addresses and names of one node.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// `n1`, `n2`, ...: what the echo responder answers with.
    pub name: String,
    pub ns: String,
    /// The node's bridge port in the switch namespace.
    pub port: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    /// Source of the node's IPv6 adverts (RFC 5798 §5.1.2.1).
    pub link_local: Option<Ipv6Addr>,
    pub mac: Option<[u8; 6]>,
    /// Every interface of the node, the first (eth0, same as the fields
    /// above) included.
    pub links: Vec<LinkInfo>,
}

/// One interface of a node and the segment it is on.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// 0-based link number (`eth<link>` on `br<link>`).
    pub link: usize,
    /// Interface name inside the node.
    pub ifname: String,
    /// The bridge of this segment in the switch namespace.
    pub bridge: String,
    /// The node's port on that bridge in the switch namespace.
    pub port: String,
    /// `None` on links past the three IPv4 documentation ranges.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Ipv6Addr,
    pub link_local: Option<Ipv6Addr>,
    pub mac: Option<[u8; 6]>,
}

/// The subnets of link `link`: the IPv4 /24 (if any is left) and the IPv6
/// /64, as network addresses. Only documentation ranges (RFC 5737,
/// RFC 3849): link 0 is 192.0.2.0/24 and 2001:db8::/64, link 1
/// 198.51.100.0/24 and 2001:db8:1::/64, link 2 203.0.113.0/24 and
/// 2001:db8:2::/64, link k > 2 only 2001:db8:k::/64.
pub fn link_subnets(link: usize) -> (Option<Ipv4Addr>, Ipv6Addr) {
    let v4 = match link {
        0 => Some(Ipv4Addr::new(192, 0, 2, 0)),
        1 => Some(Ipv4Addr::new(198, 51, 100, 0)),
        2 => Some(Ipv4Addr::new(203, 0, 113, 0)),
        _ => None,
    };
    let v6 = Ipv6Addr::new(0x2001, 0xdb8, link as u16, 0, 0, 0, 0, 0);
    (v4, v6)
}

/// Host `host` of link `link` (see [`link_subnets`]). The IPv6 host part
/// repeats the IPv4 one's decimal digits (192.0.2.11 and 2001:db8::11),
/// which keeps a node's addresses easy to match by eye.
pub fn link_host(link: usize, host: u8) -> (Option<Ipv4Addr>, Ipv6Addr) {
    let (v4, _) = link_subnets(link);
    let v4 = v4.map(|n| {
        let [a, b, c, _] = n.octets();
        Ipv4Addr::new(a, b, c, host)
    });
    let v6 = format!("2001:db8:{link:x}::{host}")
        .parse()
        .unwrap_or(Ipv6Addr::UNSPECIFIED);
    (v4, v6)
}

/// The client namespace.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ns: String,
    pub port: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
}

struct Proc {
    label: String,
    child: Child,
    pgid: i32,
}

struct DaemonState {
    kind: Daemon,
    pid: i32,
    files: DaemonFiles,
}

#[derive(Default)]
struct Inner {
    procs: Vec<Proc>,
    daemons: HashMap<usize, DaemonState>,
    echoes: HashMap<usize, i32>,
    generation: u32,
    labels: HashMap<String, u32>,
    /// Numbers the record files of captures and probes.
    files: u32,
    /// (node name, start µs, end µs) of partitions.
    partitions: Vec<(String, u64, Option<u64>)>,
}

/// A running advert capture (see [`Topology::start_capture`]).
#[derive(Debug)]
pub struct Capture {
    pub pid: i32,
    pub path: PathBuf,
}

/// A running prober (see [`Topology::start_probe`]).
#[derive(Debug)]
pub struct ProbeRun {
    pub pid: i32,
    pub path: PathBuf,
    pub duration_ms: u64,
}

/// A live topology; dropping it kills its processes and deletes its
/// namespaces.
pub struct Topology {
    id: String,
    switch_ns: String,
    nodes: Vec<NodeInfo>,
    client: ClientInfo,
    dir: PathBuf,
    agent: PathBuf,
    namespaces: Mutex<Vec<String>>,
    inner: Mutex<Inner>,
    keep_logs: AtomicBool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Topology {
    /// `nodes` node namespaces plus switch and client, default options.
    pub fn new(nodes: usize) -> Result<Topology> {
        Topology::with_options(TopologyOptions {
            nodes,
            ..TopologyOptions::default()
        })
    }

    pub fn with_options(opts: TopologyOptions) -> Result<Topology> {
        if opts.nodes == 0 || opts.nodes > 80 {
            return Err(Error::Invalid(format!("{} nodes (1..=80)", opts.nodes)));
        }
        if opts.links_per_node == 0 || opts.links_per_node > MAX_LINKS {
            return Err(Error::Invalid(format!(
                "{} links per node (1..={MAX_LINKS})",
                opts.links_per_node
            )));
        }
        let agent = match &opts.agent {
            Some(p) => p.clone(),
            None => find_agent()?,
        };
        // Once per process: namespaces of earlier runs that died without
        // cleaning up (SIGKILL, power loss) go before we add ours.
        static STALE: std::sync::Once = std::sync::Once::new();
        STALE.call_once(|| {
            if let Ok(removed) = cleanup_stale(&opts.prefix) {
                if !removed.is_empty() {
                    eprintln!("netns-tests: removed stale namespaces {removed:?}");
                }
            }
        });
        let k = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{}c{}", opts.prefix, std::process::id(), k);
        let dir = opts.log_root.join(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let nodes = (1..=opts.nodes)
            .map(|i| NodeInfo {
                name: format!("n{i}"),
                ns: format!("{id}-n{i}"),
                port: format!("p{i}"),
                ipv4: Ipv4Addr::new(192, 0, 2, 10 + i as u8),
                ipv6: format!("2001:db8::{}", 10 + i)
                    .parse()
                    .unwrap_or(Ipv6Addr::UNSPECIFIED),
                link_local: None,
                mac: None,
                links: (0..opts.links_per_node)
                    .map(|link| {
                        let (ipv4, ipv6) = link_host(link, 10 + i as u8);
                        LinkInfo {
                            link,
                            ifname: format!("eth{link}"),
                            bridge: format!("br{link}"),
                            // Link 0 keeps the historical port name.
                            port: if link == 0 {
                                format!("p{i}")
                            } else {
                                format!("p{i}l{link}")
                            },
                            ipv4,
                            ipv6,
                            link_local: None,
                            mac: None,
                        }
                    })
                    .collect(),
            })
            .collect();
        // Daemons fork (keepalived's VRRP child); when such a child is
        // orphaned by a SIGKILL it is reparented to us instead of PID 1, so
        // we can reap it at once rather than leave a zombie that `pgrep`
        // still lists. Harmless if it fails: zombies then wait for PID 1.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        registry::register(&id, &dir);
        let mut t = Topology {
            switch_ns: format!("{id}-sw"),
            client: ClientInfo {
                ns: format!("{id}-cl"),
                port: "pc".into(),
                ipv4: Ipv4Addr::new(192, 0, 2, 100),
                ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100),
            },
            id,
            nodes,
            dir,
            agent,
            namespaces: Mutex::new(Vec::new()),
            inner: Mutex::new(Inner::default()),
            keep_logs: AtomicBool::new(opts.keep_logs),
        };
        // On error `t` is dropped here, which removes whatever was built.
        t.build(opts.threaded_napi)?;
        Ok(t)
    }

    fn add_ns(&self, ns: &str) -> Result<()> {
        run("ip", ["netns", "add", ns])?;
        lock(&self.namespaces).push(ns.to_string());
        registry::add_namespace(&self.id, ns);
        // Addresses must be usable at once: no duplicate address detection
        // (set on "default" before the veth arrives so eth0 inherits it).
        self.exec(
            ns,
            [
                "sysctl",
                "-q",
                "-w",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ],
        )?;
        self.ip(ns, ["link", "set", "lo", "up"])?;
        Ok(())
    }

    fn build(&mut self, threaded_napi: bool) -> Result<()> {
        let sw = self.switch_ns.clone();
        self.add_ns(&sw)?;
        let bridges: Vec<String> = self
            .nodes
            .first()
            .map(|n| n.links.iter().map(|l| l.bridge.clone()).collect())
            .unwrap_or_default();
        for bridge in &bridges {
            // Without snooping the bridge floods VRRP multicast (224.0.0.18,
            // ff02::12) to every port, as a plain switch would.
            self.ip(
                &sw,
                [
                    "link",
                    "add",
                    bridge,
                    "type",
                    "bridge",
                    "mcast_snooping",
                    "0",
                ],
            )?;
            self.ip(&sw, ["link", "set", bridge, "up"])?;
        }
        // (namespace, [(ifname, port, bridge, IPv4/len, IPv6/len)]).
        type End = (String, String, String, Option<String>, String);
        let mut ends: Vec<(String, Vec<End>)> = self
            .nodes
            .iter()
            .map(|n| {
                let links = n
                    .links
                    .iter()
                    .map(|l| {
                        (
                            l.ifname.clone(),
                            l.port.clone(),
                            l.bridge.clone(),
                            l.ipv4.map(|a| format!("{a}/24")),
                            format!("{}/64", l.ipv6),
                        )
                    })
                    .collect();
                (n.ns.clone(), links)
            })
            .collect();
        // The client stays on the first segment only.
        ends.push((
            self.client.ns.clone(),
            vec![(
                "eth0".to_string(),
                self.client.port.clone(),
                BRIDGE.to_string(),
                Some(format!("{}/24", self.client.ipv4)),
                format!("{}/64", self.client.ipv6),
            )],
        ));
        for (ns, links) in &ends {
            self.add_ns(ns)?;
            for (ifname, port, bridge, v4, v6) in links {
                run(
                    "ip",
                    [
                        "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", port,
                        "netns", &sw,
                    ],
                )?;
                self.ip(&sw, ["link", "set", port, "master", bridge, "up"])?;
                if let Some(v4) = v4 {
                    self.ip(ns, ["addr", "add", v4, "dev", ifname])?;
                }
                self.ip(ns, ["addr", "add", v6, "dev", ifname, "nodad"])?;
                self.ip(ns, ["link", "set", ifname, "up"])?;
                if threaded_napi {
                    self.threaded_napi(ns, ifname)?;
                    self.threaded_napi(&sw, port)?;
                }
            }
        }
        for node in &mut self.nodes {
            for l in &mut node.links {
                let (mac, ll) = link_info(&node.ns, &l.ifname)?;
                l.mac = mac;
                l.link_local = ll;
            }
            if let Some(first) = node.links.first() {
                node.mac = first.mac;
                node.link_local = first.link_local;
            }
        }
        Ok(())
    }

    /// See [`TopologyOptions::threaded_napi`]. A veth has NAPI only with
    /// GRO (or XDP) on, and hands a frame to it only from a peer without
    /// TSO (veth_skb_is_eligible_for_gro); `threaded` then moves the poll
    /// into a `napi/<dev>-<id>` kernel thread.
    fn threaded_napi(&self, ns: &str, ifname: &str) -> Result<()> {
        self.exec(ns, ["ethtool", "-K", ifname, "gro", "on", "tso", "off"])?;
        // `ip netns exec` mounts the namespace's own /sys.
        self.exec(
            ns,
            [
                "sh",
                "-c",
                &format!("echo 1 > /sys/class/net/{ifname}/threaded"),
            ],
        )?;
        Ok(())
    }

    /// Bridge devices in the switch namespace, one per link.
    pub fn bridges(&self) -> Vec<String> {
        self.nodes
            .first()
            .map(|n| n.links.iter().map(|l| l.bridge.clone()).collect())
            .unwrap_or_default()
    }

    /// Interfaces per node.
    pub fn links_per_node(&self) -> usize {
        self.nodes.first().map_or(1, |n| n.links.len())
    }

    // ----- names and addresses -------------------------------------------

    /// `<prefix><pid>c<k>`: the common part of all names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The log directory (daemon configs, process output, records).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn switch_ns(&self) -> &str {
        &self.switch_ns
    }

    pub fn client(&self) -> &ClientInfo {
        &self.client
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Panics on an unknown node: that is a bug in the calling test.
    pub fn node(&self, node: Node) -> &NodeInfo {
        match node.0.checked_sub(1).and_then(|i| self.nodes.get(i)) {
            Some(n) => n,
            None => panic!("no node {} in a {}-node topology", node.0, self.nodes.len()),
        }
    }

    /// Namespaces this topology created (and will delete).
    pub fn namespaces(&self) -> Vec<String> {
        lock(&self.namespaces).clone()
    }

    /// The node that owns `addr` as its own or link-local address.
    pub fn node_of_addr(&self, addr: IpAddr) -> Option<Node> {
        self.nodes
            .iter()
            .position(|n| {
                let own = match addr {
                    IpAddr::V4(a) => a == n.ipv4,
                    IpAddr::V6(a) => a == n.ipv6 || Some(a) == n.link_local,
                };
                own || n.links.iter().any(|l| match addr {
                    IpAddr::V4(a) => Some(a) == l.ipv4,
                    IpAddr::V6(a) => a == l.ipv6 || Some(a) == l.link_local,
                })
            })
            .map(|i| Node(i + 1))
    }

    /// Keep the log directory when this topology is dropped.
    pub fn keep_logs(&self) {
        self.keep_logs.store(true, Ordering::Relaxed);
    }

    // ----- commands --------------------------------------------------------

    /// `ip -n NS args...`; returns stdout.
    pub fn ip<I, S>(&self, ns: &str, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<OsString> = vec!["-n".into(), ns.into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        run("ip", all)
    }

    /// `ip netns exec NS args...`, waits; returns stdout.
    pub fn exec<I, S>(&self, ns: &str, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<OsString> = vec!["netns".into(), "exec".into(), ns.into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        run("ip", all)
    }

    /// Starts `program args...` inside `ns` in its own process group, output
    /// to `<dir>/<label>.log`; returns its pid. The process is tracked and
    /// killed on drop.
    pub fn spawn(&self, ns: &str, label: &str, program: &Path, args: &[OsString]) -> Result<i32> {
        let mut inner = lock(&self.inner);
        let n = inner.labels.entry(label.to_string()).or_insert(0);
        *n += 1;
        let label = if *n == 1 {
            label.to_string()
        } else {
            format!("{label}-{n}")
        };
        let log = self.dir.join(format!("{label}.log"));
        let out = std::fs::File::create(&log)
            .map_err(|e| Error::io(format!("create {}", log.display()), e))?;
        let err = out.try_clone().map_err(|e| Error::io("dup log file", e))?;
        // `ip netns exec` enters the namespace and execs the program, so the
        // pid we get is the program's own; process_group(0) lets us signal
        // the program together with any children it forks.
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| Error::io(format!("spawn {} in {ns}", program.display()), e))?;
        let pid = i32::try_from(child.id()).map_err(|_| Error::Invalid("pid overflow".into()))?;
        registry::add_pgid(&self.id, pid);
        inner.procs.push(Proc {
            label,
            child,
            pgid: pid,
        });
        Ok(pid)
    }

    /// Sends `sig` to the process group of a tracked process.
    pub fn signal_group(&self, pid: i32, sig: Signal) -> Result<()> {
        signal::killpg(Pid::from_raw(pid), sig)
            .map_err(|e| Error::sys(format!("killpg {pid} {sig}"), e))
    }

    /// Sends `sig` to one process.
    pub fn signal(&self, pid: i32, sig: Signal) -> Result<()> {
        signal::kill(Pid::from_raw(pid), sig)
            .map_err(|e| Error::sys(format!("kill {pid} {sig}"), e))
    }

    /// Exit status of a tracked process if it has exited (reaps it).
    pub fn exit_status(&self, pid: i32) -> Option<std::process::ExitStatus> {
        let mut inner = lock(&self.inner);
        let p = inner.procs.iter_mut().find(|p| p.pgid == pid)?;
        p.child.try_wait().ok().flatten()
    }

    /// Waits until a tracked process exits; `None` on timeout.
    pub fn wait_exit(&self, pid: i32, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exit_status(pid) {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM to the group, SIGKILL after `timeout`, reap, forget.
    pub fn stop(&self, pid: i32, timeout: Duration) {
        killpg_quiet(pid, Signal::SIGTERM);
        if self.wait_exit(pid, timeout).is_none() {
            killpg_quiet(pid, Signal::SIGKILL);
        }
        self.forget(pid, true);
    }

    /// SIGKILL the group at once, reap, forget.
    pub fn kill(&self, pid: i32) {
        killpg_quiet(pid, Signal::SIGKILL);
        self.forget(pid, true);
    }

    fn forget(&self, pid: i32, reap: bool) {
        let mut inner = lock(&self.inner);
        if let Some(i) = inner.procs.iter().position(|p| p.pgid == pid) {
            let mut p = inner.procs.remove(i);
            if reap {
                // Children left in the group (keepalived's VRRP child) go too.
                let members = crate::resources::group_members(p.pgid);
                killpg_quiet(p.pgid, Signal::SIGKILL);
                let _ = p.child.wait();
                reap_members(p.pgid, &members);
            }
        }
        registry::remove_pgid(&self.id, pid);
    }

    /// Label (log file stem) of a tracked process.
    pub fn label_of(&self, pid: i32) -> Option<String> {
        lock(&self.inner)
            .procs
            .iter()
            .find(|p| p.pgid == pid)
            .map(|p| p.label.clone())
    }

    /// Start `netns-tests-agent ARGS...` in `ns` (tracked, killed on drop).
    pub fn spawn_agent(&self, ns: &str, label: &str, args: &[&str]) -> Result<i32> {
        self.agent_cmd(ns, label, args)
    }

    /// The `netns-tests-agent` binary, for [`Topology::exec`].
    pub fn agent_path(&self) -> &Path {
        &self.agent
    }

    fn agent_cmd(&self, ns: &str, label: &str, args: &[&str]) -> Result<i32> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.spawn(ns, label, &self.agent.clone(), &args)
    }

    // ----- daemons ---------------------------------------------------------

    /// Writes `conf` to the log directory and starts `daemon` on `node`
    /// with it; returns the daemon's pid.
    pub fn start(&self, node: Node, daemon: Daemon, conf: &KeepalivedConf) -> Result<i32> {
        let binary = daemon.binary()?;
        let name = self.node(node).name.clone();
        let ns = self.node(node).ns.clone();
        let gen = {
            let mut inner = lock(&self.inner);
            if inner.daemons.contains_key(&node.0) {
                return Err(Error::Invalid(format!("{name} already runs a daemon")));
            }
            inner.generation += 1;
            inner.generation
        };
        let stem = format!("{name}-{}-g{gen}", daemon.name());
        let files = DaemonFiles {
            config: self.dir.join(format!("{stem}.conf")),
            pidfile: self.dir.join(format!("{stem}.pid")),
            vrrp_pidfile: self.dir.join(format!("{stem}.vrrp.pid")),
        };
        std::fs::write(&files.config, conf.render())
            .map_err(|e| Error::io(format!("write {}", files.config.display()), e))?;
        let pid = self.spawn(&ns, &stem, &binary, &daemon.args(&files))?;
        lock(&self.inner).daemons.insert(
            node.0,
            DaemonState {
                kind: daemon,
                pid,
                files,
            },
        );
        Ok(pid)
    }

    /// Pid of the daemon on `node`, if one was started and not stopped.
    pub fn daemon_pid(&self, node: Node) -> Option<i32> {
        lock(&self.inner).daemons.get(&node.0).map(|d| d.pid)
    }

    /// Kind of the daemon on `node`.
    pub fn daemon_kind(&self, node: Node) -> Option<Daemon> {
        lock(&self.inner).daemons.get(&node.0).map(|d| d.kind)
    }

    /// The config file the daemon on `node` was started with.
    pub fn daemon_config(&self, node: Node) -> Option<PathBuf> {
        lock(&self.inner)
            .daemons
            .get(&node.0)
            .map(|d| d.files.config.clone())
    }

    fn take_daemon(&self, node: Node) -> Result<DaemonState> {
        lock(&self.inner)
            .daemons
            .remove(&node.0)
            .ok_or_else(|| Error::Invalid(format!("no daemon on n{}", node.0)))
    }

    /// Crash: SIGKILL to the daemon's whole process group (keepalived's
    /// parent would otherwise respawn its VRRP child, or the child would get
    /// a parent-death SIGTERM and resign gracefully).
    pub fn kill_daemon(&self, node: Node) -> Result<()> {
        let d = self.take_daemon(node)?;
        // Quiet: the group may already be dead (see `crash`).
        killpg_quiet(d.pid, Signal::SIGKILL);
        self.forget(d.pid, true);
        Ok(())
    }

    /// Graceful stop: SIGTERM to the daemon (it should resign with priority
    /// 0, RFC 5798 §6.4.3), without waiting.
    pub fn term_daemon(&self, node: Node) -> Result<i32> {
        let d = self.take_daemon(node)?;
        self.signal(d.pid, Signal::SIGTERM)?;
        Ok(d.pid)
    }

    /// SIGTERM, wait up to `timeout` for exit (then SIGKILL).
    pub fn stop_daemon(&self, node: Node, timeout: Duration) -> Result<()> {
        let d = self.take_daemon(node)?;
        let _ = self.signal(d.pid, Signal::SIGTERM);
        if self.wait_exit(d.pid, timeout).is_none() {
            killpg_quiet(d.pid, Signal::SIGKILL);
        }
        self.forget(d.pid, true);
        Ok(())
    }

    /// Graceful stop, then start again with `conf` (e.g. a new priority).
    pub fn restart(&self, node: Node, daemon: Daemon, conf: &KeepalivedConf) -> Result<i32> {
        self.stop_daemon(node, Duration::from_secs(5))?;
        self.start(node, daemon, conf)
    }

    /// Error if the daemon on `node` has exited.
    pub fn check_daemon_alive(&self, node: Node) -> Result<()> {
        let pid = self
            .daemon_pid(node)
            .ok_or_else(|| Error::Invalid(format!("no daemon on n{}", node.0)))?;
        match self.exit_status(pid) {
            None => Ok(()),
            Some(status) => Err(Error::ProcessDied {
                label: self.label_of(pid).unwrap_or_default(),
                status: status.to_string(),
                log_dir: self.dir.clone(),
            }),
        }
    }

    /// All pids in the daemon's process group (keepalived: parent + VRRP
    /// child), for resource measurements.
    pub fn daemon_pids(&self, node: Node) -> Vec<i32> {
        self.daemon_pid(node)
            .map(crate::resources::group_members)
            .unwrap_or_default()
    }

    // ----- faults ----------------------------------------------------------

    /// `ip link set eth0 down` inside the node.
    pub fn link_down(&self, node: Node) -> Result<()> {
        self.ip(&self.node(node).ns, ["link", "set", "eth0", "down"])
            .map(drop)
    }

    pub fn link_up(&self, node: Node) -> Result<()> {
        self.ip(&self.node(node).ns, ["link", "set", "eth0", "up"])
            .map(drop)
    }

    /// Partition: the switch stops forwarding the node's port (bridge port
    /// state "disabled") while the node's link keeps its carrier, so the
    /// node sees nothing wrong and keeps acting as master. Adverts the
    /// switch drops are left out of [`Topology::adverts`].
    pub fn partition(&self, node: Node) -> Result<()> {
        self.port_state(node, "0")?;
        let name = self.node(node).name.clone();
        lock(&self.inner).partitions.push((name, mono_us(), None));
        Ok(())
    }

    /// Ends a [`Topology::partition`] (port state back to "forwarding").
    pub fn heal(&self, node: Node) -> Result<()> {
        self.port_state(node, "3")?;
        let name = self.node(node).name.clone();
        let now = mono_us();
        for p in lock(&self.inner).partitions.iter_mut() {
            if p.0 == name && p.2.is_none() {
                p.2 = Some(now);
            }
        }
        Ok(())
    }

    fn port_state(&self, node: Node, state: &str) -> Result<()> {
        let port = self.node(node).port.clone();
        run(
            "bridge",
            [
                "-n",
                &self.switch_ns,
                "link",
                "set",
                "dev",
                &port,
                "state",
                state,
            ],
        )
        .map(drop)
    }

    /// The node's bridge port link goes down: unlike [`Topology::partition`]
    /// the node loses carrier on eth0.
    pub fn port_down(&self, node: Node) -> Result<()> {
        self.ip(
            &self.switch_ns,
            ["link", "set", &self.node(node).port, "down"],
        )
        .map(drop)
    }

    pub fn port_up(&self, node: Node) -> Result<()> {
        self.ip(
            &self.switch_ns,
            ["link", "set", &self.node(node).port, "up"],
        )
        .map(drop)
    }

    // ----- addresses ---------------------------------------------------------

    /// Addresses on the node's eth0 (from `ip -j addr`).
    /// Addresses on every interface of `node` (VIPs may live on a VMAC).
    pub fn addresses(&self, node: Node) -> Result<Vec<IpAddr>> {
        let out = self.ip(&self.node(node).ns, ["-j", "addr", "show"])?;
        parse_addr_json(&out)
    }

    pub fn has_addr(&self, node: Node, addr: IpAddr) -> Result<bool> {
        Ok(self.addresses(node)?.contains(&addr))
    }

    /// Nodes that currently hold `vip`.
    pub fn holders(&self, vip: IpAddr) -> Result<Vec<Node>> {
        let mut out = Vec::new();
        for i in 1..=self.nodes.len() {
            if self.has_addr(Node(i), vip)? {
                out.push(Node(i));
            }
        }
        Ok(out)
    }

    /// Waits until `vip` is on `node` and on no other node, checking that
    /// the daemons stay alive.
    pub fn wait_for_sole_holder(&self, node: Node, vip: IpAddr, timeout: Duration) -> Result<()> {
        self.wait_until(&format!("{vip} only on n{}", node.0), timeout, || {
            for i in 1..=self.nodes.len() {
                if self.daemon_pid(Node(i)).is_some() {
                    self.check_daemon_alive(Node(i))?;
                }
            }
            Ok(self.holders(vip)? == vec![node])
        })
    }

    /// Polls `cond` every 20 ms until it is true or `timeout` passes.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            if cond()? {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // ----- observation -------------------------------------------------------

    /// Starts the UDP echo responder on `node` (port 7, answers with `nN`).
    pub fn start_echo(&self, node: Node) -> Result<i32> {
        let info = self.node(node).clone();
        let pid = self.agent_cmd(
            &info.ns,
            &format!("{}-echo", info.name),
            &[
                "echo",
                "--port",
                &ECHO_PORT.to_string(),
                "--name",
                &info.name,
            ],
        )?;
        lock(&self.inner).echoes.insert(node.0, pid);
        Ok(pid)
    }

    pub fn start_echo_all(&self) -> Result<()> {
        for i in 1..=self.nodes.len() {
            self.start_echo(Node(i))?;
        }
        Ok(())
    }

    /// Node crash: SIGKILL to the daemon's group and the echo responder in
    /// two back-to-back syscalls (reaping, which takes milliseconds, only
    /// after both), so the service dies at the same instant as the daemon.
    pub fn crash(&self, node: Node) -> Result<()> {
        let (daemon, echo) = {
            let inner = lock(&self.inner);
            (
                inner.daemons.get(&node.0).map(|d| d.pid),
                inner.echoes.get(&node.0).copied(),
            )
        };
        let daemon = daemon.ok_or_else(|| Error::Invalid(format!("no daemon on n{}", node.0)))?;
        killpg_quiet(daemon, Signal::SIGKILL);
        if let Some(e) = echo {
            killpg_quiet(e, Signal::SIGKILL);
        }
        self.kill_daemon(node)?;
        if echo.is_some() {
            self.kill_echo(node)?;
        }
        Ok(())
    }

    /// Kills the echo responder on `node` (the service dies with the node).
    pub fn kill_echo(&self, node: Node) -> Result<()> {
        let pid = lock(&self.inner)
            .echoes
            .remove(&node.0)
            .ok_or_else(|| Error::Invalid(format!("no echo on n{}", node.0)))?;
        self.kill(pid);
        Ok(())
    }

    /// Starts the advert capture in the switch namespace and waits until its
    /// record file exists (so no advert after this call is missed).
    pub fn start_capture(&self) -> Result<Capture> {
        let k = {
            let mut inner = lock(&self.inner);
            inner.files += 1;
            inner.files
        };
        let path = self.dir.join(format!("adverts-{k}.jsonl"));
        let p = path.to_string_lossy().to_string();
        let mut args = vec!["capture".to_string(), "--out".to_string(), p];
        for bridge in self.bridges() {
            args.push("--exclude-if".into());
            args.push(bridge);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let pid = self.agent_cmd(&self.switch_ns, "capture", &args)?;
        self.wait_until("capture to start", Duration::from_secs(5), || {
            if let Some(status) = self.exit_status(pid) {
                return Err(Error::ProcessDied {
                    label: "capture".into(),
                    status: status.to_string(),
                    log_dir: self.dir.clone(),
                });
            }
            Ok(path.exists())
        })?;
        Ok(Capture { pid, path })
    }

    /// Adverts captured so far, with `node` filled in.
    pub fn adverts(&self, cap: &Capture) -> Result<Vec<Advert>> {
        let text = match std::fs::read_to_string(&cap.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(format!("read {}", cap.path.display()), e)),
        };
        let mut adverts: Vec<Advert> = wire::read_json_lines(&text, "advert capture")?;
        for a in &mut adverts {
            a.node = self.node_of_addr(a.src).map(|n| self.node(n).name.clone());
        }
        // The capture taps a port before the bridge decides to drop; what
        // a partitioned node sends never reaches anyone.
        let partitions = lock(&self.inner).partitions.clone();
        adverts.retain(|a| {
            !partitions.iter().any(|(name, start, end)| {
                a.node.as_deref() == Some(name.as_str())
                    && a.t_us >= *start
                    && end.is_none_or(|e| a.t_us < e)
            })
        });
        Ok(adverts)
    }

    /// Stops the capture and returns everything it saw.
    pub fn stop_capture(&self, cap: Capture) -> Result<Vec<Advert>> {
        self.stop(cap.pid, Duration::from_secs(2));
        self.adverts(&cap)
    }

    /// Starts timing the adverts `node` sends into the switch on all its
    /// links, for `duration_ms` (see [`crate::agent::advert_times`]); the
    /// records' `link` is the link number. Waits until the capture's
    /// sockets are open, so nothing sent after this call is missed.
    pub fn start_advert_times(&self, node: Node, duration_ms: u64) -> Result<Capture> {
        let k = {
            let mut inner = lock(&self.inner);
            inner.files += 1;
            inner.files
        };
        let path = self.dir.join(format!("advert-times-{k}.txt"));
        let mut args = vec![
            "advert-times".to_string(),
            "--out".to_string(),
            path.to_string_lossy().to_string(),
            "--duration-ms".to_string(),
            duration_ms.to_string(),
        ];
        for l in &self.node(node).links {
            args.push("--if".into());
            args.push(l.port.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let pid = self.agent_cmd(&self.switch_ns, "advert-times", &args)?;
        // The agent creates the output file right after its sockets.
        self.wait_until("advert timing to start", Duration::from_secs(5), || {
            if let Some(status) = self.exit_status(pid) {
                return Err(Error::ProcessDied {
                    label: "advert-times".into(),
                    status: status.to_string(),
                    log_dir: self.dir.clone(),
                });
            }
            Ok(path.exists())
        })?;
        Ok(Capture { pid, path })
    }

    /// Waits for [`Topology::start_advert_times`] to end (its duration plus
    /// `grace`) and returns its records.
    pub fn finish_advert_times(&self, cap: Capture, grace: Duration) -> Result<Vec<AdvertTime>> {
        let status = self.wait_exit(cap.pid, grace);
        let label = self.label_of(cap.pid).unwrap_or_default();
        if status.is_none() {
            // Past its deadline: SIGTERM makes it write what it has.
            self.stop(cap.pid, Duration::from_secs(5));
        } else {
            self.forget(cap.pid, true);
        }
        match status {
            Some(s) if !s.success() => {
                return Err(Error::ProcessDied {
                    label,
                    status: s.to_string(),
                    log_dir: self.dir.clone(),
                })
            }
            _ => {}
        }
        let text = std::fs::read_to_string(&cap.path)
            .map_err(|e| Error::io(format!("read {}", cap.path.display()), e))?;
        wire::read_advert_times(&text)
    }

    /// Starts the prober in the client namespace: one datagram to
    /// `target:7` every `interval_us` for `duration_ms`.
    pub fn start_probe(
        &self,
        target: IpAddr,
        interval_us: u64,
        duration_ms: u64,
    ) -> Result<ProbeRun> {
        let k = {
            let mut inner = lock(&self.inner);
            inner.files += 1;
            inner.files
        };
        let path = self.dir.join(format!("probe-{k}.jsonl"));
        let p = path.to_string_lossy().to_string();
        let pid = self.agent_cmd(
            &self.client.ns.clone(),
            "probe",
            &[
                "probe",
                "--target",
                &target.to_string(),
                "--port",
                &ECHO_PORT.to_string(),
                "--interval-us",
                &interval_us.to_string(),
                "--duration-ms",
                &duration_ms.to_string(),
                "--out",
                &p,
            ],
        )?;
        Ok(ProbeRun {
            pid,
            path,
            duration_ms,
        })
    }

    /// Waits for the prober to finish and returns its records.
    pub fn finish_probe(&self, run: ProbeRun) -> Result<Vec<ProbeRecord>> {
        let timeout = Duration::from_millis(run.duration_ms + 10_000);
        let status = self.wait_exit(run.pid, timeout);
        let label = self.label_of(run.pid).unwrap_or_default();
        self.forget(run.pid, true);
        match status {
            Some(s) if s.success() => {}
            Some(s) => {
                return Err(Error::ProcessDied {
                    label,
                    status: s.to_string(),
                    log_dir: self.dir.clone(),
                })
            }
            None => {
                return Err(Error::Timeout {
                    what: "prober to finish".into(),
                    waited_ms: timeout.as_millis() as u64,
                })
            }
        }
        let text = std::fs::read_to_string(&run.path)
            .map_err(|e| Error::io(format!("read {}", run.path.display()), e))?;
        wire::read_json_lines(&text, "probe records")
    }

    /// Probes `target` for `duration_ms` at 1 ms and returns the records.
    pub fn probe(&self, target: IpAddr, duration_ms: u64) -> Result<Vec<ProbeRecord>> {
        let run = self.start_probe(target, 1000, duration_ms)?;
        self.finish_probe(run)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let mut procs = std::mem::take(&mut lock(&self.inner).procs);
        for p in &procs {
            killpg_quiet(p.pgid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && procs
                .iter_mut()
                .any(|p| matches!(p.child.try_wait(), Ok(None)))
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        for p in &mut procs {
            let members = crate::resources::group_members(p.pgid);
            killpg_quiet(p.pgid, Signal::SIGKILL);
            let _ = p.child.wait();
            reap_members(p.pgid, &members);
        }
        let namespaces = std::mem::take(&mut *lock(&self.namespaces));
        for ns in namespaces.iter().rev() {
            kill_ns_pids(ns);
            delete_ns(ns);
        }
        registry::unregister(&self.id);
        if std::thread::panicking() || self.keep_logs.load(Ordering::Relaxed) {
            eprintln!(
                "netns-tests: logs of {} kept in {}",
                self.id,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Runs a set-up command; stdout on success, stderr in the error.
fn run<I, S>(program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let command = format!(
        "{program} {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("run {command}"), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Parses `ip -j addr show` output into the list of local addresses.
pub fn parse_addr_json(text: &str) -> Result<Vec<IpAddr>> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::parse("ip -j addr", e))?;
    let mut out = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        for info in link
            .get("addr_info")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(a) = info.get("local").and_then(|l| l.as_str()) {
                out.push(a.parse().map_err(|e| Error::parse("address", e))?);
            }
        }
    }
    Ok(out)
}

/// MAC and IPv6 link-local address of `ifname` in `ns`.
fn link_info(ns: &str, ifname: &str) -> Result<(Option<[u8; 6]>, Option<Ipv6Addr>)> {
    let out = run("ip", ["-n", ns, "-j", "addr", "show", "dev", ifname])?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| Error::parse("ip -j addr", e))?;
    let link = v.get(0);
    let mac = link
        .and_then(|l| l.get("address"))
        .and_then(|a| a.as_str())
        .and_then(parse_mac);
    let ll = parse_addr_json(&out)?.into_iter().find_map(|a| match a {
        IpAddr::V6(a) if a.segments()[0] == 0xfe80 => Some(a),
        _ => None,
    });
    Ok((mac, ll))
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    bytes.try_into().ok()
}

/// Reaps the non-leader `members` of a killed group that were reparented to
/// us (see `set_child_subreaper`); the leader is a `std` child and reaped by
/// its `Child`. Gives up after 1 s or on ECHILD (not our child).
fn reap_members(leader: i32, members: &[i32]) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = Instant::now() + Duration::from_secs(1);
    for &m in members.iter().filter(|m| **m != leader) {
        loop {
            match waitpid(Pid::from_raw(m), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break,
            }
        }
    }
}

/// `killpg`, ignoring "no such process".
pub(crate) fn killpg_quiet(pgid: i32, sig: Signal) {
    if pgid > 1 {
        let _ = signal::killpg(Pid::from_raw(pgid), sig);
    }
}

/// SIGKILLs every process still inside `ns` (e.g. a child that left our
/// process group) and waits briefly for them to go.
pub(crate) fn kill_ns_pids(ns: &str) {
    for _ in 0..50 {
        let pids: Vec<i32> = run("ip", ["netns", "pids", ns])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            if pid > 1 && pid != std::process::id() as i32 {
                let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn delete_ns(ns: &str) {
    if let Err(e) = run("ip", ["netns", "del", ns]) {
        eprintln!("netns-tests: cannot delete namespace {ns}: {e}");
    }
}

/// Removes namespaces named `<prefix><pid>c<k>-*` whose `<pid>` no longer
/// runs (left by a killed earlier run), killing anything still inside.
/// Returns the names removed.
pub fn cleanup_stale(prefix: &str) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir("/run/netns") {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(Error::io("read /run/netns", e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = owner_pid(&name, prefix) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue; // its run is still alive
        }
        kill_ns_pids(&name);
        delete_ns(&name);
        removed.push(name);
    }
    Ok(removed)
}

/// The pid encoded in `<prefix><pid>c<k>-<role>`, if `name` has that shape.
pub fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, rest) = rest.split_once('c')?;
    let (k, role) = rest.split_once('-')?;
    if pid.is_empty() || role.is_empty() || k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// `$NETNS_TESTS_AGENT`, else `netns-tests-agent` next to the running
/// executable or one directory up (test binaries live in `target/*/deps`).
pub fn find_agent() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("NETNS_TESTS_AGENT") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| Error::io("current_exe", e))?;
    let mut candidates = Vec::new();
    if let Some(dir) = exe.parent() {
        candidates.push(dir.join("netns-tests-agent"));
        if let Some(up) = dir.parent() {
            candidates.push(up.join("netns-tests-agent"));
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::BinaryNotFound(
            "netns-tests-agent (cargo build -p netns-tests, or set NETNS_TESTS_AGENT)".into(),
        )
    })
}

/// Monotonic µs now; re-exported for drill code that timestamps faults.
pub fn now_us() -> u64 {
    mono_us()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn owner_pid_parses_only_our_shape() {
        assert_eq!(owner_pid("nt123c4-n1", "nt"), Some(123));
        assert_eq!(owner_pid("nt123c4-sw", "nt"), Some(123));
        assert_eq!(owner_pid("nt123c-n1", "nt"), None);
        assert_eq!(owner_pid("nt123x4-n1", "nt"), None);
        assert_eq!(owner_pid("other", "nt"), None);
        assert_eq!(owner_pid("ntabcc4-n1", "nt"), None);
    }

    #[test]
    fn parses_ip_json() {
        let j = r#"[{"ifname":"eth0","address":"2a:bb:00:00:00:01","addr_info":[{"family":"inet","local":"192.0.2.11","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]}]"#;
        let a = parse_addr_json(j).unwrap();
        assert_eq!(
            a,
            vec![
                "192.0.2.11".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_mac("2a:bb:00:00:00:01"),
            Some([0x2a, 0xbb, 0, 0, 0, 1])
        );
    }
}
