//! [`IpvsSink`]: pool events to IPVS requests.
//!
//! Two halves, as STYLE item 10 asks:
//!
//! - [`IpvsPlan`] is sans-IO. Built from the configuration, it keeps what
//!   each virtual server's table should hold and what it was last told to
//!   hold; [`IpvsPlan::handle`] turns one [`PoolEvent`] into the requests
//!   that move the kernel from one to the other.
//! - [`IpvsSink`] executes them on an [`IpvsSocket`], on tokio's blocking
//!   pool, treating "already there" / "already gone" as success.
//!
//! keepalived's semantics (check/ipwrapper.c), with the pool deciding who
//! is alive:
//!
//! - a virtual server's services are created with its first event (the
//!   pool publishes its initial state first, so that is at start-up);
//! - a real server that is up is in the table with its weight; one that
//!   is down is removed, or kept with weight 0 when `inhibit_on_failure`
//!   (the pool says `Weight(0)`); `alpha` servers start down because the
//!   pool starts them down;
//! - while the sorry server is in (quorum lost), it is the only server
//!   taking traffic: the remaining alive real servers are withdrawn
//!   (removed, or weight 0 if inhibited) and put back with their weight
//!   when the quorum returns, before the sorry server is taken out (or
//!   set to weight 0 with `inhibit`, the sorry server's own keyword);
//! - on shutdown keepalived removes the services it created:
//!   [`IpvsPlan::shutdown`] gives those requests, [`IpvsHandle::shutdown`]
//!   runs them.
//!
//! A `virtual_server group NAME` is one IPVS service per address (ranges
//! expanded) and fwmark of the group, all with the same destinations.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use conf::model::{self as m, VirtualServer, VsgEntry};
use conf::Config;

use super::msg::{
    svc_flags, tun_flags, Dest, ForwardMethod, Netmask, Protocol, Request, Service, ServiceKey,
    Tunnel, TunnelType, AF_INET, AF_INET6,
};
use super::socket::{IpvsSocket, Outcome};
use super::IpvsError;
use crate::pool::{PoolEvent, ServerChange};
use crate::sink::{Sink, SinkError, SinkFuture};

/// The kernel keeps weights in an `int`.
const WEIGHT_MAX: u32 = i32::MAX as u32;

/// keepalived's sorry server weight.
const SORRY_WEIGHT: u32 = 1;

#[derive(Debug, Clone)]
struct Real {
    /// With the configured weight.
    dest: Dest,
    inhibit: bool,
    /// The weight the pool last published, `None` while out of service.
    published: Option<u32>,
    alive: bool,
}

#[derive(Debug, Clone)]
struct Sorry {
    dest: Dest,
    inhibit: bool,
}

#[derive(Debug, Clone)]
struct VsTable {
    services: Vec<Service>,
    reals: Vec<Real>,
    sorry: Option<Sorry>,
    sorry_active: bool,
    created: bool,
    /// Adopted from the previous configuration with the same keys but
    /// other attributes (scheduler, persistence): SET_SERVICE first.
    update_services: bool,
    /// What the kernel was told the destinations are, in the order they
    /// were added.
    installed: Vec<Dest>,
}

impl VsTable {
    /// The destinations the table should hold now, keyed by (addr, port):
    /// real servers in configuration order, then the sorry server (which
    /// wins when it shares an address with a real server).
    fn desired(&self) -> Vec<Dest> {
        let mut want: Vec<Dest> = Vec::new();
        let mut put = |d: Dest| match want.iter_mut().find(|w| w.key() == d.key()) {
            Some(w) => *w = d,
            None => want.push(d),
        };
        for r in &self.reals {
            let Some(w) = r.published else { continue };
            let weight = if self.sorry_active && r.alive {
                // keepalived's perform_quorum_state(vs, false).
                if r.inhibit {
                    0
                } else {
                    continue;
                }
            } else {
                w
            };
            put(Dest {
                weight: weight.min(WEIGHT_MAX),
                ..r.dest.clone()
            });
        }
        if let Some(s) = &self.sorry {
            if self.sorry_active {
                put(s.dest.clone());
            } else if s.inhibit {
                put(Dest {
                    weight: 0,
                    ..s.dest.clone()
                });
            }
        }
        want
    }

    /// Requests taking `installed` to `desired()`: adds and changes first
    /// (so a service never goes through an empty moment when one server
    /// replaces another), then removals; each for every service.
    fn sync(&mut self) -> Vec<Request> {
        let want = self.desired();
        let mut dest_reqs = Vec::new();
        for d in &want {
            match self.installed.iter().find(|i| i.key() == d.key()) {
                None => dest_reqs.push(DestOp::New(d.clone())),
                Some(cur) if cur != d => dest_reqs.push(DestOp::Set(d.clone())),
                Some(_) => {}
            }
        }
        for cur in &self.installed {
            if !want.iter().any(|d| d.key() == cur.key()) {
                dest_reqs.push(DestOp::Del(cur.clone()));
            }
        }
        // Keep the kernel's order of additions for stable diffs: existing
        // entries in place, new ones appended.
        let mut installed: Vec<Dest> = self
            .installed
            .iter()
            .filter_map(|cur| want.iter().find(|d| d.key() == cur.key()).cloned())
            .collect();
        for d in want {
            if !installed.iter().any(|i| i.key() == d.key()) {
                installed.push(d);
            }
        }
        self.installed = installed;
        let mut out = Vec::new();
        for op in dest_reqs {
            for s in &self.services {
                out.push(match &op {
                    DestOp::New(d) => Request::NewDest(s.clone(), d.clone()),
                    DestOp::Set(d) => Request::SetDest(s.clone(), d.clone()),
                    DestOp::Del(d) => Request::DelDest(s.clone(), d.clone()),
                });
            }
        }
        out
    }
}

enum DestOp {
    New(Dest),
    Set(Dest),
    Del(Dest),
}

/// The sans-IO half: what every virtual server's IPVS table should be,
/// and the requests to get it there.
#[derive(Debug, Clone)]
pub struct IpvsPlan {
    vss: Vec<VsTable>,
    /// Requests to send before anything else (services a reload dropped).
    pending: Vec<Request>,
}

impl IpvsPlan {
    /// One entry per `config.virtual_servers` (same indexes as the
    /// engine's pools and [`PoolEvent`]s).
    pub fn from_config(config: &Config) -> Result<IpvsPlan, IpvsError> {
        let vss = config
            .virtual_servers
            .iter()
            .map(|vs| vs_table(config, vs))
            .collect::<Result<_, _>>()?;
        Ok(IpvsPlan {
            vss,
            pending: Vec::new(),
        })
    }

    /// [`IpvsPlan::from_config`] for a reload, keepalived-style: a
    /// virtual server whose IPVS services have the same keys as one of
    /// `previous` takes over what `previous` installed (so unchanged
    /// servers are not touched, removed real servers are deleted, changed
    /// service attributes are a SET_SERVICE), and the services `previous`
    /// created that no virtual server has any more are deleted. All of
    /// this goes out with the first event (the pools publish their state
    /// at start, so at once) or [`IpvsPlan::start`].
    pub fn from_config_with(config: &Config, previous: &IpvsPlan) -> Result<IpvsPlan, IpvsError> {
        let mut plan = Self::from_config(config)?;
        let keys = |v: &VsTable| v.services.iter().map(|s| s.key).collect::<Vec<_>>();
        let mut taken = vec![false; previous.vss.len()];
        for v in &mut plan.vss {
            let found = previous
                .vss
                .iter()
                .enumerate()
                .find(|(i, old)| !taken[*i] && old.created && keys(old) == keys(v));
            if let Some((i, old)) = found {
                taken[i] = true;
                v.created = true;
                v.update_services = old.services != v.services;
                v.installed = old.installed.clone();
                // Start from what the old plan knew of each server (by
                // address and port), so that replaying the pools' state
                // one event at a time does not take out and put back the
                // servers not replayed yet.
                v.sorry_active = old.sorry_active;
                for r in &mut v.reals {
                    if let Some(o) = old.reals.iter().find(|o| o.dest.key() == r.dest.key()) {
                        r.published = o.published;
                        r.alive = o.alive;
                    }
                }
            }
        }
        let kept: Vec<ServiceKey> = plan.vss.iter().flat_map(keys).collect();
        plan.pending = previous.pending.clone();
        for (i, old) in previous.vss.iter().enumerate() {
            if taken[i] || !old.created {
                continue;
            }
            for s in &old.services {
                // A key still used by another virtual server is left to it.
                if !kept.contains(&s.key) {
                    plan.pending.push(Request::DelService(s.clone()));
                }
            }
        }
        Ok(plan)
    }

    /// The IPVS services of virtual server `vs`.
    pub fn services(&self, vs: usize) -> &[Service] {
        self.vss.get(vs).map_or(&[], |v| &v.services)
    }

    /// The destinations virtual server `vs` was last told to hold.
    pub fn installed(&self, vs: usize) -> &[Dest] {
        self.vss.get(vs).map_or(&[], |v| &v.installed)
    }

    /// Create the services of every virtual server not created yet (the
    /// sink does it with each virtual server's first event anyway).
    pub fn start(&mut self) -> Vec<Request> {
        let mut out = std::mem::take(&mut self.pending);
        for v in &mut self.vss {
            out.extend(create(v));
            out.extend(v.sync());
        }
        out
    }

    /// The requests for one pool event, in order (after any left by a
    /// reload). Events of unknown virtual or real servers, and hooks,
    /// change nothing.
    pub fn handle(&mut self, event: &PoolEvent) -> Vec<Request> {
        if matches!(event, PoolEvent::RunScript { .. }) {
            return Vec::new();
        }
        let vs = event.vs();
        let mut out = std::mem::take(&mut self.pending);
        let Some(v) = self.vss.get_mut(vs) else {
            return out;
        };
        match event {
            PoolEvent::Server { rs, change, .. } => {
                let Some(r) = v.reals.get_mut(*rs) else {
                    return out;
                };
                match *change {
                    ServerChange::Up { weight } => {
                        r.alive = true;
                        r.published = Some(weight);
                    }
                    ServerChange::Down => {
                        r.alive = false;
                        r.published = None;
                    }
                    ServerChange::Weight(w) => {
                        // The pool says Weight(0) for an inhibited server
                        // that died, Weight(w) for a live server's new
                        // (dynamic) weight. An inhibited live server at
                        // dynamic weight 0 is taken as dead: either way it
                        // stays in the table at weight 0.
                        if w > 0 {
                            r.alive = true;
                        } else if r.inhibit {
                            r.alive = false;
                        }
                        r.published = Some(w);
                    }
                }
            }
            // Quorum changes come with a SorryServer event when there is
            // a sorry server; without one the table does not change.
            PoolEvent::QuorumUp { .. } | PoolEvent::QuorumDown { .. } => {}
            // Only a virtual server with a sorry server withdraws its
            // real servers (the pool sends no such event otherwise).
            PoolEvent::SorryServer { active, .. } => v.sorry_active = *active && v.sorry.is_some(),
            PoolEvent::RunScript { .. } => {}
        }
        out.extend(create(v));
        out.extend(v.sync());
        out
    }

    /// Remove every service this plan created (which removes their
    /// destinations), as keepalived does when it stops. The plan then
    /// starts over: the next event creates the services again.
    pub fn shutdown(&mut self) -> Vec<Request> {
        let mut out = std::mem::take(&mut self.pending);
        for v in &mut self.vss {
            if v.created {
                out.extend(v.services.iter().cloned().map(Request::DelService));
            }
            v.created = false;
            v.installed.clear();
        }
        out
    }
}

fn create(v: &mut VsTable) -> Vec<Request> {
    if v.update_services {
        v.update_services = false;
        return v
            .services
            .iter()
            .cloned()
            .map(Request::SetService)
            .collect();
    }
    if v.created {
        return Vec::new();
    }
    v.created = true;
    v.services
        .iter()
        .cloned()
        .map(Request::NewService)
        .collect()
}

/// What to try when a request fails with `errno`, if anything: the table
/// was changed behind our back (`ipvsadm -C`, another daemon).
/// - a destination to update is not there (ENOENT): add it;
/// - the service of a destination request is gone (ESRCH): create the
///   service, then retry.
pub fn fallback(req: &Request, errno: i32) -> Option<Vec<Request>> {
    use nix::libc::{ENOENT, ESRCH};
    match (req, errno) {
        (Request::SetDest(s, d), ENOENT) => Some(vec![Request::NewDest(s.clone(), d.clone())]),
        (Request::NewDest(s, _) | Request::SetDest(s, _), ESRCH) => {
            let retry = match req {
                Request::SetDest(s, d) => Request::NewDest(s.clone(), d.clone()),
                other => other.clone(),
            };
            Some(vec![Request::NewService(s.clone()), retry])
        }
        _ => None,
    }
}

fn config_err(vs: &VirtualServer, reason: impl Into<String>) -> IpvsError {
    IpvsError::Config {
        vs: format!("virtual_server {}", vs.describe()),
        reason: reason.into(),
    }
}

fn vs_table(config: &Config, vs: &VirtualServer) -> Result<VsTable, IpvsError> {
    let keys = service_keys(config, vs)?;
    let mut flags = 0;
    if vs.persistence_timeout.is_some() {
        flags |= svc_flags::PERSISTENT;
    }
    if vs.ops {
        flags |= svc_flags::ONEPACKET;
    }
    for f in &vs.sched_flags {
        // ip_vs.h: SH/MH fallback is SCHED1, SH/MH port is SCHED2.
        flags |= match f.as_str() {
            "flag-1" | "sh-fallback" | "mh-fallback" => svc_flags::SCHED1,
            "flag-2" | "sh-port" | "mh-port" => svc_flags::SCHED2,
            "flag-3" => svc_flags::SCHED3,
            other => return Err(config_err(vs, format!("unknown scheduler flag `{other}`"))),
        };
    }
    let timeout = vs
        .persistence_timeout
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    let services = keys
        .into_iter()
        .map(|key| {
            Ok(Service {
                key,
                scheduler: vs.lb_algo.name().to_owned(),
                flags,
                timeout,
                netmask: netmask(vs, key.family())?,
                pe_name: vs.persistence_engine.clone(),
            })
        })
        .collect::<Result<Vec<_>, IpvsError>>()?;
    let reals = vs
        .real_servers
        .iter()
        .map(|r| Real {
            dest: Dest {
                addr: r.ip,
                // keepalived: a real server without a port uses the
                // virtual server's.
                port: r.port.or(vs.port).unwrap_or(0),
                method: method(r.lvs_method),
                weight: u32::try_from(r.weight.max(0)).unwrap_or(0),
                u_thresh: r.uthreshold.unwrap_or(0),
                l_thresh: r.lthreshold.unwrap_or(0),
                tunnel: tunnel(r.lvs_method, r.tunnel.or(vs.tunnel)),
            },
            inhibit: r.inhibit_on_failure,
            published: None,
            alive: false,
        })
        .collect();
    let sorry = vs.sorry_server.as_ref().map(|s| {
        let kind = s.lvs_method.unwrap_or(vs.lb_kind);
        Sorry {
            dest: Dest {
                addr: s.ip,
                port: s.port.or(vs.port).unwrap_or(0),
                method: method(kind),
                weight: SORRY_WEIGHT,
                u_thresh: 0,
                l_thresh: 0,
                tunnel: tunnel(kind, vs.tunnel),
            },
            inhibit: s.inhibit,
        }
    });
    Ok(VsTable {
        services,
        reals,
        sorry,
        sorry_active: false,
        created: false,
        update_services: false,
        installed: Vec::new(),
    })
}

fn protocol(p: m::Protocol) -> Protocol {
    match p {
        m::Protocol::Tcp => Protocol::Tcp,
        m::Protocol::Udp => Protocol::Udp,
        m::Protocol::Sctp => Protocol::Sctp,
    }
}

fn method(k: m::LvsMethod) -> ForwardMethod {
    match k {
        m::LvsMethod::Nat => ForwardMethod::Masq,
        m::LvsMethod::Dr => ForwardMethod::DirectRoute,
        m::LvsMethod::Tun => ForwardMethod::Tunnel,
    }
}

fn tunnel(k: m::LvsMethod, t: Option<m::Tunnel>) -> Option<Tunnel> {
    if k != m::LvsMethod::Tun {
        return None;
    }
    let t = t?;
    Some(Tunnel {
        kind: match t.tunnel_type {
            m::TunnelType::Ipip => TunnelType::Ipip,
            m::TunnelType::Gue => TunnelType::Gue,
            m::TunnelType::Gre => TunnelType::Gre,
        },
        port: t.port,
        flags: t.checksum.map(|c| match c {
            m::TunnelChecksum::Nocsum => tun_flags::NOCSUM,
            m::TunnelChecksum::Csum => tun_flags::CSUM,
            m::TunnelChecksum::Remcsum => tun_flags::REMCSUM,
        }),
    })
}

/// The family of a fwmark service: written, else the real servers'
/// (keepalived), else IPv4.
fn fwmark_family(vs: &VirtualServer, written: Option<m::Family>) -> u16 {
    match written.or(vs.ip_family) {
        Some(m::Family::Inet) => AF_INET,
        Some(m::Family::Inet6) => AF_INET6,
        None => match vs.real_servers.first().map(|r| r.ip) {
            Some(IpAddr::V6(_)) => AF_INET6,
            _ => AF_INET,
        },
    }
}

fn service_keys(config: &Config, vs: &VirtualServer) -> Result<Vec<ServiceKey>, IpvsError> {
    let proto = protocol(vs.protocol);
    if let Some(ip) = vs.ip {
        return Ok(vec![ServiceKey::Addr {
            protocol: proto,
            addr: ip,
            port: vs.port.unwrap_or(0),
        }]);
    }
    if let Some(mark) = vs.fwmark {
        return Ok(vec![ServiceKey::Fwmark {
            family: fwmark_family(vs, None),
            mark,
        }]);
    }
    let Some(name) = &vs.group else {
        return Err(config_err(vs, "no address, fwmark or group"));
    };
    let group = config
        .virtual_server_group(name)
        .ok_or_else(|| config_err(vs, format!("no virtual_server_group `{name}`")))?;
    let mut keys = Vec::new();
    for e in &group.entries {
        match e {
            VsgEntry::Range { ip, last_ip, port } => {
                let port = port.or(vs.port).unwrap_or(0);
                for addr in expand(*ip, *last_ip)
                    .ok_or_else(|| config_err(vs, format!("bad address range in group `{name}`")))?
                {
                    keys.push(ServiceKey::Addr {
                        protocol: proto,
                        addr,
                        port,
                    });
                }
            }
            VsgEntry::Fwmark { fwmark, family } => keys.push(ServiceKey::Fwmark {
                family: fwmark_family(vs, *family),
                mark: *fwmark,
            }),
        }
    }
    Ok(keys)
}

/// `10.0.0.3-10`: the addresses from `first` to `last`, which may differ
/// only in the last byte (IPv4) or the last 16-bit group (IPv6).
fn expand(first: IpAddr, last: Option<IpAddr>) -> Option<Vec<IpAddr>> {
    let Some(last) = last else {
        return Some(vec![first]);
    };
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (a.octets(), b.octets());
            if a[..3] != b[..3] || a[3] > b[3] {
                return None;
            }
            Some(
                (a[3]..=b[3])
                    .map(|x| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], x)))
                    .collect(),
            )
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (a.segments(), b.segments());
            if a[..7] != b[..7] || a[7] > b[7] {
                return None;
            }
            Some(
                (a[7]..=b[7])
                    .map(|x| {
                        let mut s = a;
                        s[7] = x;
                        IpAddr::V6(Ipv6Addr::from(s))
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// `persistence_granularity`: an IPv4 mask for IPv4 services; for IPv6
/// services a mask whose leading ones give the prefix length.
fn netmask(vs: &VirtualServer, family: u16) -> Result<Netmask, IpvsError> {
    let Some(g) = vs.persistence_granularity else {
        return Ok(Netmask::host(family));
    };
    match (family, g) {
        (AF_INET, IpAddr::V4(mask)) => Ok(Netmask::V4(mask)),
        (AF_INET6, IpAddr::V6(mask)) => {
            let bits = u128::from(mask);
            let len = bits.leading_ones();
            if len == 0 || bits.checked_shl(len).unwrap_or(0) != 0 {
                return Err(config_err(
                    vs,
                    format!("persistence_granularity {mask} is not a prefix mask"),
                ));
            }
            Ok(Netmask::V6(len))
        }
        _ => Err(config_err(
            vs,
            format!("persistence_granularity {g} is not of the service's address family"),
        )),
    }
}

/// Applies pool events to the kernel's IPVS table.
pub struct IpvsSink {
    handle: IpvsHandle,
}

/// A handle on a sink's plan and socket that outlives the sink (which
/// `sink::dispatch` owns and drops): to remove our services when the
/// daemon stops, and to carry the table's state over a reload.
#[derive(Clone)]
pub struct IpvsHandle {
    plan: Arc<Mutex<IpvsPlan>>,
    socket: Arc<Mutex<IpvsSocket>>,
}

impl IpvsHandle {
    /// A copy of the plan as it is now.
    pub fn plan(&self) -> IpvsPlan {
        lock(&self.plan).clone()
    }

    /// Remove the services the sink created ([`IpvsPlan::shutdown`]), as
    /// keepalived does when it stops. Call it once the events are
    /// drained (after `sink::dispatch` returned).
    pub async fn shutdown(&self) -> Result<(), IpvsError> {
        let reqs = lock(&self.plan).shutdown();
        execute(self.socket.clone(), reqs).await
    }
}

/// A poisoned lock only means a panic elsewhere while it was held; the
/// plan and the socket stay usable (at worst one event's requests were
/// not all sent), so carry on with them.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IpvsSink {
    /// The plan of `config` on a fresh socket. On a kernel without IPVS
    /// this is [`IpvsError::NotAvailable`].
    pub fn from_config(config: &Config) -> Result<IpvsSink, IpvsError> {
        let plan = IpvsPlan::from_config(config)?;
        Ok(IpvsSink::new(plan, IpvsSocket::open()?))
    }

    /// For a reload: the plan of the new `config` taking over the table
    /// `previous` programmed ([`IpvsPlan::from_config_with`]), on the same
    /// socket.
    pub fn from_config_with(config: &Config, previous: &IpvsHandle) -> Result<IpvsSink, IpvsError> {
        let plan = IpvsPlan::from_config_with(config, &lock(&previous.plan))?;
        Ok(IpvsSink {
            handle: IpvsHandle {
                plan: Arc::new(Mutex::new(plan)),
                socket: previous.socket.clone(),
            },
        })
    }

    pub fn new(plan: IpvsPlan, socket: IpvsSocket) -> IpvsSink {
        IpvsSink {
            handle: IpvsHandle {
                plan: Arc::new(Mutex::new(plan)),
                socket: Arc::new(Mutex::new(socket)),
            },
        }
    }

    pub fn handle(&self) -> IpvsHandle {
        self.handle.clone()
    }
}

/// Run `reqs` in order on the blocking pool. A failed request does not
/// stop the ones after it (each is logged); the first error is returned.
pub async fn execute(socket: Arc<Mutex<IpvsSocket>>, reqs: Vec<Request>) -> Result<(), IpvsError> {
    if reqs.is_empty() {
        return Ok(());
    }
    let job = tokio::task::spawn_blocking(move || {
        let mut sock = lock(&socket);
        let mut first_err = None;
        for r in &reqs {
            if let Err(e) = execute_one(&mut sock, r) {
                tracing::warn!(request = %r, error = %e, "ipvs");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    });
    job.await.map_err(|e| IpvsError::Io {
        request: "batch".into(),
        source: std::io::Error::other(e),
    })?
}

fn execute_one(sock: &mut IpvsSocket, r: &Request) -> Result<(), IpvsError> {
    match sock.execute(r) {
        Ok(Outcome::Done) => {
            tracing::info!(request = %r, "ipvs");
            Ok(())
        }
        Ok(Outcome::AlreadyDone) => {
            tracing::debug!(request = %r, "ipvs: already so");
            // An add that found the entry there (a restart or reload
            // after a crash, another tool) makes sure its attributes are
            // ours too, so the table converges.
            let update = match r {
                Request::NewService(s) => Request::SetService(s.clone()),
                Request::NewDest(s, d) => Request::SetDest(s.clone(), d.clone()),
                _ => return Ok(()),
            };
            sock.execute(&update).map(|_| ())
        }
        Err(e) => {
            let Some(retry) = e.errno().and_then(|errno| fallback(r, errno)) else {
                return Err(e);
            };
            tracing::info!(request = %r, error = %e, "ipvs table changed behind us, repairing");
            for f in &retry {
                sock.execute(f)?;
            }
            Ok(())
        }
    }
}

impl Sink for IpvsSink {
    fn name(&self) -> &str {
        "ipvs"
    }

    fn apply<'a>(&'a mut self, event: &'a PoolEvent) -> SinkFuture<'a> {
        Box::pin(async move {
            let reqs = lock(&self.handle.plan).handle(event);
            execute(self.handle.socket.clone(), reqs)
                .await
                .map_err(SinkError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_ranges() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            expand(a("192.0.2.3"), Some(a("192.0.2.5"))).unwrap(),
            [a("192.0.2.3"), a("192.0.2.4"), a("192.0.2.5")]
        );
        assert_eq!(expand(a("192.0.2.3"), None).unwrap(), [a("192.0.2.3")]);
        assert_eq!(
            expand(a("2001:db8::fffe"), Some(a("2001:db8::ffff"))).unwrap(),
            [a("2001:db8::fffe"), a("2001:db8::ffff")]
        );
        // Other parts differ, backwards, or mixed families: refused.
        assert!(expand(a("192.0.2.3"), Some(a("192.0.3.5"))).is_none());
        assert!(expand(a("192.0.2.5"), Some(a("192.0.2.3"))).is_none());
        assert!(expand(a("192.0.2.5"), Some(a("2001:db8::1"))).is_none());
    }

    #[test]
    fn ipv6_granularity_must_be_a_prefix() {
        let mut vs = VirtualServer {
            ip: Some("2001:db8::10".parse().unwrap()),
            port: Some(80),
            ..VirtualServer::default()
        };
        for (mask, want) in [
            ("ffff:ffff:ffff:ffff::", Some(64)),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(128)),
            ("8000::", Some(1)),
            ("::", None),
            ("ffff::ffff", None),
        ] {
            vs.persistence_granularity = Some(mask.parse().unwrap());
            let got = netmask(&vs, AF_INET6).ok();
            assert_eq!(got, want.map(Netmask::V6), "{mask}");
        }
    }

    #[test]
    fn active_sorry_server_wins_a_shared_address() {
        let d = |w| Dest {
            addr: "192.0.2.1".parse().unwrap(),
            port: 80,
            method: ForwardMethod::Masq,
            weight: w,
            u_thresh: 0,
            l_thresh: 0,
            tunnel: None,
        };
        let mut t = VsTable {
            services: Vec::new(),
            reals: vec![Real {
                dest: d(5),
                inhibit: true,
                published: Some(0),
                alive: false,
            }],
            sorry: Some(Sorry {
                dest: d(1),
                inhibit: false,
            }),
            sorry_active: false,
            created: true,
            update_services: false,
            installed: Vec::new(),
        };
        assert_eq!(t.desired(), [d(0)]);
        t.sorry_active = true;
        assert_eq!(t.desired(), [d(1)]);
    }
}
