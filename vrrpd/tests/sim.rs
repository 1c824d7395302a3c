#![allow(clippy::unwrap_used)]
//! Deterministic multi-node simulation of the VRRP state machine
//! (STYLE.md §14): N [`Instance`]s on a virtual clock and a simulated
//! multicast segment with seeded loss, delay, partitions and heals.
//!
//! Events (advert deliveries, start-ups, shutdowns) and instance timers are
//! processed in time order; ties go to queued events first (in the order
//! they were queued), then to timers in node order, so a seed replays
//! exactly.
//!
//! The convergence bound. After the last disturbance at `T` (start-up,
//! crash, partition, heal, end of loss) the best router `H` either is
//! master or is a backup whose down timer nobody can reset (no one has a
//! higher priority), so it is master by `T + max_delay +
//! Master_Down_Interval(H)`; its first advert reaches every other router
//! within `max_delay`, and any other master yields on it (RFC 5798 §6.4.3)
//! while every backup resets its timer on it. Hence the checks run at
//! `T + 3 × interval + Skew_Time(H) + 2 × max_delay` ("stable for three
//! advert intervals plus skew", plus the network's own latency).
//!
//! Priorities in the random scenarios are distinct: RFC 5798 §6.4.2 lets a
//! backup follow a master of *equal* priority whatever the addresses, so
//! the address tie-break only decides between simultaneous masters; that
//! case has its own test.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use vrrpd::fsm::{Action, Instance, InstanceConfig, ReceivedAdvert, State, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Start(usize),
    Shutdown(usize),
    Deliver {
        to: usize,
        from: usize,
        priority: u8,
        interval_cs: u16,
    },
}

struct Node {
    inst: Instance,
    addr: IpAddr,
    alive: bool,
    vips: bool,
    /// Side of the partition this node is on.
    group: usize,
    /// Set once the node was asked to shut down.
    shutting_down: bool,
}

struct Sim {
    seed: u64,
    rng: StdRng,
    t0: Instant,
    now: Instant,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(Instant, u64, Ev)>>,
    seq: u64,
    loss: f64,
    delay_min: Duration,
    delay_max: Duration,
    version: Version,
    interval: Duration,
    /// Fail if no node holds the addresses at any step (make-before-break).
    require_vips: bool,
    /// (time, node, action) of every action, for failure reports.
    trace: Vec<(Duration, usize, Action)>,
    delivered: u64,
}

impl Sim {
    fn new(seed: u64, version: Version, interval: Duration, prios: &[u8]) -> Sim {
        Sim::with_intervals(seed, version, &vec![interval; prios.len()], prios)
    }

    /// Nodes with their own configured intervals (VRRPv3 backups learn the
    /// master's). Bounds use the longest interval, delays the shortest.
    fn with_intervals(seed: u64, version: Version, intervals: &[Duration], prios: &[u8]) -> Sim {
        let t0 = Instant::now();
        let interval = intervals.iter().copied().max().unwrap();
        let delay_max = intervals.iter().copied().min().unwrap() / 20;
        let nodes = prios
            .iter()
            .zip(intervals)
            .enumerate()
            .map(|(i, (&p, &interval))| {
                let n = u8::try_from(i + 1).unwrap();
                let addr = match version {
                    Version::V2 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)),
                    Version::V3 if i % 2 == 0 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)),
                    Version::V3 => {
                        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
                    }
                };
                // Mixed families would never share a segment; keep one.
                let addr = match (version, addr) {
                    (Version::V3, IpAddr::V4(_)) if seed % 2 == 1 => {
                        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
                    }
                    (Version::V3, IpAddr::V6(_)) if seed % 2 == 0 => {
                        IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
                    }
                    _ => addr,
                };
                Node {
                    inst: Instance::new(InstanceConfig {
                        name: format!("n{i}"),
                        vrid: 42,
                        version,
                        priority: p,
                        advert_interval: interval,
                        preempt: true,
                        preempt_delay: Duration::ZERO,
                        start_as_master: false,
                        primary_addr: addr,
                        release_hold: interval / 2,
                        garp_master_delay: Some(interval * 5),
                        garp_master_refresh: None,
                    }),
                    addr,
                    alive: true,
                    vips: false,
                    group: 0,
                    shutting_down: false,
                }
            })
            .collect();
        Sim {
            seed,
            rng: StdRng::seed_from_u64(seed),
            t0,
            now: t0,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            loss: 0.0,
            delay_min: delay_max / 10,
            delay_max,
            version,
            interval,
            require_vips: false,
            trace: Vec::new(),
            delivered: 0,
        }
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    /// Runs every event and timer due up to `end` (inclusive).
    fn run_until(&mut self, end: Instant) {
        loop {
            let next_ev = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self
                .nodes
                .iter()
                .filter(|n| n.alive)
                .filter_map(|n| n.inst.next_deadline())
                .min();
            let t = match (next_ev, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if t > end {
                break;
            }
            assert!(t >= self.now, "seed {}: time went backwards", self.seed);
            self.now = t;
            if next_ev == Some(t) {
                let Reverse((_, _, ev)) = self.queue.pop().unwrap();
                self.apply(ev);
            } else {
                for i in 0..self.nodes.len() {
                    let due = self.nodes[i].alive
                        && self.nodes[i].inst.next_deadline().is_some_and(|d| d <= t);
                    if due {
                        self.nodes[i].inst.handle_timeout(t);
                        self.drain(i);
                    }
                }
            }
            self.check_step();
        }
        self.now = self.now.max(end);
    }

    fn apply(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Start(i) => {
                if self.nodes[i].alive {
                    self.nodes[i].inst.handle_startup(now);
                    self.drain(i);
                }
            }
            Ev::Shutdown(i) => {
                if self.nodes[i].alive {
                    self.nodes[i].shutting_down = true;
                    self.nodes[i].inst.handle_shutdown(now);
                    self.drain(i);
                }
            }
            Ev::Deliver {
                to,
                from,
                priority,
                interval_cs,
            } => {
                // A packet in flight when a partition forms is lost too.
                if !self.nodes[to].alive || self.nodes[to].group != self.nodes[from].group {
                    return;
                }
                self.delivered += 1;
                let adv = ReceivedAdvert {
                    src: self.nodes[from].addr,
                    priority,
                    max_adver_int: Duration::from_millis(u64::from(interval_cs) * 10),
                };
                self.nodes[to].inst.handle_advert(now, &adv);
                self.drain(to);
            }
        }
    }

    /// Performs node `i`'s actions: multicast its adverts, track its VIPs.
    fn drain(&mut self, i: usize) {
        while let Some(a) = self.nodes[i].inst.poll_action() {
            self.trace.push((self.now - self.t0, i, a));
            match a {
                Action::SendAdvert { priority } => {
                    assert!(
                        !(self.nodes[i].shutting_down && priority != 0),
                        "seed {}: node {i} sent priority {priority} while shutting down",
                        self.seed
                    );
                    let interval_cs = self.nodes[i].inst.advert_interval_cs();
                    for to in 0..self.nodes.len() {
                        if to == i || self.nodes[to].group != self.nodes[i].group {
                            continue;
                        }
                        if self.loss > 0.0 && self.rng.random_bool(self.loss) {
                            continue;
                        }
                        let span = (self.delay_max - self.delay_min).as_micros() as u64;
                        let d =
                            self.delay_min + Duration::from_micros(self.rng.random_range(0..=span));
                        self.schedule(
                            self.now + d,
                            Ev::Deliver {
                                to,
                                from: i,
                                priority,
                                interval_cs,
                            },
                        );
                    }
                }
                Action::AddVips => {
                    assert!(
                        !self.nodes[i].vips,
                        "seed {}: node {i} added VIPs twice",
                        self.seed
                    );
                    self.nodes[i].vips = true;
                }
                Action::RemoveVips => {
                    assert!(
                        self.nodes[i].vips,
                        "seed {}: node {i} removed VIPs it did not hold",
                        self.seed
                    );
                    self.nodes[i].vips = false;
                }
                Action::Announce => {
                    assert!(
                        self.nodes[i].vips,
                        "seed {}: node {i} announced without VIPs",
                        self.seed
                    );
                }
                Action::StateChanged { to, .. } => {
                    assert_eq!(to, self.nodes[i].inst.state(), "seed {}", self.seed);
                }
                Action::Stopped => {
                    assert!(
                        !self.nodes[i].vips,
                        "seed {}: node {i} stopped holding VIPs",
                        self.seed
                    );
                    self.nodes[i].alive = false;
                }
                Action::WantMaster => {
                    panic!("seed {}: node {i} is in no sync group", self.seed)
                }
            }
        }
    }

    /// Invariants that hold at every step.
    fn check_step(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            if n.alive {
                // The addresses are held exactly while in MASTER.
                assert_eq!(
                    n.vips,
                    n.inst.state() == State::Master,
                    "seed {}: node {i} vips={} state={:?}",
                    self.seed,
                    n.vips,
                    n.inst.state()
                );
            }
        }
        if self.require_vips {
            assert!(
                self.nodes.iter().any(|n| n.alive && n.vips),
                "seed {}: nobody holds the addresses at {:?}\n{}",
                self.seed,
                self.now - self.t0,
                self.tail()
            );
        }
    }

    fn crash(&mut self, i: usize) {
        // SIGKILL: no priority 0, the addresses vanish with the host.
        self.nodes[i].alive = false;
        self.nodes[i].vips = false;
    }

    /// Priority, then address: the order RFC 5798 §6.4.3 elects by.
    fn rank(&self, i: usize) -> (u8, IpAddr) {
        (self.nodes[i].inst.effective_priority(), self.nodes[i].addr)
    }

    fn masters_in(&self, group: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].group == group)
            .filter(|&i| self.nodes[i].inst.state() == State::Master)
            .collect()
    }

    fn best_in(&self, group: usize) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].group == group)
            .max_by_key(|&i| self.rank(i))
    }

    /// The convergence bound of the module documentation for `group`.
    fn bound(&self, group: usize) -> Duration {
        let Some(best) = self.best_in(group) else {
            return Duration::ZERO;
        };
        let p = u32::from(self.nodes[best].inst.effective_priority());
        let skew = match self.version {
            Version::V2 => Duration::from_secs(1) * (256 - p) / 256,
            Version::V3 => self.interval * (256 - p) / 256,
        };
        self.interval * 3 + skew + self.delay_max * 2 + Duration::from_micros(1)
    }

    fn max_bound(&self) -> Duration {
        let groups: Vec<usize> = self.nodes.iter().map(|n| n.group).collect();
        groups
            .into_iter()
            .map(|g| self.bound(g))
            .max()
            .unwrap_or_default()
    }

    /// Exactly one master per side, and it is that side's best router.
    fn assert_converged(&self, what: &str) {
        let mut groups: Vec<usize> = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.group)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        for g in groups {
            let masters = self.masters_in(g);
            let best = self.best_in(g).unwrap();
            assert_eq!(
                masters,
                vec![best],
                "seed {} ({what}, t={:?}, group {g}): masters {:?} ranks {:?}, expected {best} rank {:?}\n{}",
                self.seed,
                self.now - self.t0,
                masters,
                masters.iter().map(|&m| self.rank(m)).collect::<Vec<_>>(),
                self.rank(best),
                self.tail()
            );
        }
    }

    fn tail(&self) -> String {
        let from = self.trace.len().saturating_sub(30);
        self.trace[from..]
            .iter()
            .map(|(t, i, a)| format!("  {t:?} n{i} {a:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn start_all_within(&mut self, spread: Duration) {
        for i in 0..self.nodes.len() {
            let off = Duration::from_micros(self.rng.random_range(0..=spread.as_micros() as u64));
            self.schedule(self.now + off, Ev::Start(i));
        }
    }

    fn settle(&mut self) {
        let b = self.max_bound();
        self.run_until(self.now + b);
    }
}

fn distinct_priorities(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let mut all: Vec<u8> = (1..=254).collect();
    all.shuffle(rng);
    let mut p: Vec<u8> = all.into_iter().take(n).collect();
    // Sometimes one address owner.
    if rng.random_bool(0.2) {
        p[0] = 255;
    }
    p
}

/// One seeded scenario through every phase, checking convergence after
/// each disturbance.
fn scenario(seed: u64) -> u64 {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let n = rng.random_range(2..=50);
    let (version, interval) = match rng.random_range(0..3) {
        0 => (Version::V2, Duration::from_secs(1)),
        1 => (Version::V3, Duration::from_millis(100)),
        _ => (Version::V3, Duration::from_millis(10)),
    };
    let prios = distinct_priorities(&mut rng, n);
    let mut sim = Sim::new(seed, version, interval, &prios);

    // 1. Start-up spread over two intervals, stable network.
    sim.start_all_within(interval * 2);
    sim.run_until(sim.now + interval * 2);
    sim.settle();
    sim.assert_converged("start-up");
    sim.run_until(sim.now + interval * 5);
    sim.assert_converged("start-up, later");

    // 2. Partition into 2 or 3 sides.
    let sides = rng.random_range(2..=3usize).min(n);
    for node in &mut sim.nodes {
        node.group = rng.random_range(0..sides);
    }
    sim.settle();
    sim.assert_converged("partition");

    // 3. Heal under 20 % loss for ten intervals, then a clean network.
    for node in &mut sim.nodes {
        node.group = 0;
    }
    sim.loss = 0.2;
    sim.run_until(sim.now + interval * 10);
    sim.loss = 0.0;
    sim.settle();
    sim.assert_converged("heal after loss");

    // 4. The master crashes.
    if sim.nodes.iter().filter(|n| n.alive).count() > 2 {
        let m = sim.masters_in(0)[0];
        sim.crash(m);
        sim.settle();
        sim.assert_converged("master crash");
    }

    // 5. The master shuts down gracefully: no moment without a holder.
    let m = sim.masters_in(0)[0];
    sim.require_vips = true;
    sim.schedule(sim.now, Ev::Shutdown(m));
    sim.settle();
    sim.run_until(sim.now + interval);
    sim.require_vips = false;
    assert!(!sim.nodes[m].alive, "seed {seed}: old master still running");
    sim.assert_converged("graceful shutdown");
    sim.delivered
}

#[test]
fn many_seeded_scenarios_converge() {
    let mut delivered = 0;
    for seed in 0..500 {
        delivered += scenario(seed);
    }
    // The simulation really exchanged traffic.
    assert!(delivered > 10_000, "only {delivered} adverts delivered");
}

#[test]
fn equal_priority_simultaneous_masters_keep_the_higher_address() {
    // Same priority, same start: both time out together, both become
    // master, then the lower address yields (RFC 5798 §6.4.3).
    for seed in 0..20 {
        let mut sim = Sim::new(seed, Version::V2, Duration::from_secs(1), &[100, 100, 100]);
        for i in 0..3 {
            sim.schedule(sim.now, Ev::Start(i));
        }
        sim.settle();
        sim.assert_converged("tie");
        let masters = sim.masters_in(0);
        assert_eq!(masters, vec![2], "seed {seed}: the highest address wins");
        // All three were master at the same instant once.
        let became: usize = sim
            .trace
            .iter()
            .filter(|(_, _, a)| {
                matches!(
                    a,
                    Action::StateChanged {
                        to: State::Master,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(became, 3, "seed {seed}");
    }
}

#[test]
fn graceful_shutdown_overlaps_holders_instead_of_leaving_a_gap() {
    let mut sim = Sim::new(7, Version::V2, Duration::from_secs(1), &[200, 150, 100]);
    for i in 0..3 {
        sim.schedule(sim.now, Ev::Start(i));
    }
    sim.settle();
    sim.assert_converged("start");
    let t_shut = sim.now;
    sim.require_vips = true;
    sim.schedule(t_shut, Ev::Shutdown(0));
    sim.settle();
    sim.require_vips = false;
    sim.assert_converged("after shutdown");
    assert_eq!(sim.masters_in(0), vec![1]);
    // Node 1 added the addresses before node 0 removed them, and node 0
    // removed them release_hold (500 ms) after node 1's first advert
    // arrived.
    let at = |node: usize, pred: &dyn Fn(&Action) -> bool| {
        sim.trace
            .iter()
            .find(|(t, i, a)| *i == node && *t >= t_shut - sim.t0 && pred(a))
            .map(|(t, _, _)| *t)
            .unwrap()
    };
    let added = at(1, &|a| *a == Action::AddVips);
    let removed = at(0, &|a| *a == Action::RemoveVips);
    assert!(added < removed, "added {added:?} removed {removed:?}");
    let gap = removed - added;
    assert!(
        gap >= Duration::from_millis(500) && gap <= Duration::from_millis(500) + sim.delay_max,
        "overlap {gap:?}"
    );
    // Node 1 took over at its Skew_Time after the priority 0 arrived:
    // (256 − 150) / 256 s = 414 062 µs, plus the network delay.
    let since = added - (t_shut - sim.t0);
    assert!(
        since >= Duration::from_micros(414_062)
            && since <= Duration::from_micros(414_062) + sim.delay_max,
        "takeover after {since:?}"
    );
}

#[test]
fn lossy_network_never_panics_and_recovers() {
    // Heavy loss (50 %) for a long time, then a clean network.
    for seed in 100..120 {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.random_range(2..=20);
        let prios = distinct_priorities(&mut rng, n);
        let mut sim = Sim::new(seed, Version::V3, Duration::from_millis(100), &prios);
        sim.loss = 0.5;
        sim.start_all_within(Duration::from_millis(300));
        sim.run_until(sim.now + Duration::from_secs(10));
        sim.loss = 0.0;
        sim.settle();
        sim.assert_converged("after heavy loss");
    }
}

#[test]
fn v3_backups_learn_the_interval_of_whoever_is_master() {
    for seed in 200..260 {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.random_range(2..=12);
        let prios = distinct_priorities(&mut rng, n);
        let intervals: Vec<Duration> = (0..n)
            .map(|_| Duration::from_millis(10 * rng.random_range(5..=30)))
            .collect();
        let mut sim = Sim::with_intervals(seed, Version::V3, &intervals, &prios);
        sim.start_all_within(Duration::from_millis(500));
        sim.run_until(sim.now + Duration::from_secs(1));
        sim.settle();
        sim.run_until(sim.now + Duration::from_secs(1));
        sim.assert_converged("mixed intervals");
        let m = sim.masters_in(0)[0];
        for (i, node) in sim.nodes.iter().enumerate() {
            // RFC 5798 §6.4.2: a backup uses the master's interval; the
            // master its own.
            assert_eq!(
                node.inst.master_adver_interval(),
                intervals[m],
                "seed {seed}: node {i} (master {m})"
            );
        }
        // The master goes away: the next one's interval is learned.
        sim.crash(m);
        sim.settle();
        sim.run_until(sim.now + Duration::from_secs(1));
        sim.assert_converged("mixed intervals, crash");
        let m2 = sim.masters_in(0)[0];
        for node in sim.nodes.iter().filter(|n| n.alive) {
            assert_eq!(
                node.inst.master_adver_interval(),
                intervals[m2],
                "seed {seed}"
            );
        }
    }
}
