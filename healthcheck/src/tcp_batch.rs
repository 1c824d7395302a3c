//! TCP_CHECK attempts made by the driver loop itself: no task, no tokio
//! timer and no tokio I/O registration per attempt.
//!
//! A large fleet is mostly TCP_CHECK, and an attempt is one non-blocking
//! connect whose verdict is the socket's SO_ERROR once it is writable.
//! As a task of its own (`check::tcp::check`) each attempt also paid for
//! a task (spawn, join, a permit), a timer in tokio's wheel and a
//! registration with tokio's reactor (epoll_ctl ADD and DEL, a slab entry,
//! a waker): about half of our user time per check on the benchmark (see
//! the README). Here:
//!
//! ```text
//!   start:  socket, options, connect (EINPROGRESS), epoll_ctl ADD ---+
//!                                                                    v
//!   driver loop <-- readable (tokio) -- own epoll (EPOLLOUT, data = slot, generation)
//!       |  epoll_wait(0) in batches, SO_ERROR -> outcome, close
//!       +-- deadlines: a heap of (deadline, slot, generation); the loop's
//!           single sleep is armed to its earliest
//! ```
//!
//! Closing the socket removes it from the epoll set, so an attempt costs
//! one epoll_ctl. Deadlines follow [`crate::deadline`]'s rule: before any
//! attempt is declared timed out, the events that have already arrived are
//! read, and a deadline seen more than [`LATE`] after it passed (the loop
//! was behind) is looked at again [`GRACE`] later, for at most one more
//! `connect_timeout` counted from that first late look.
//!
//! Tokio watches our epoll instance through a duplicate of its descriptor.
//! On a current-thread runtime it stays in tokio's epoll set. On a
//! multi-thread runtime it is there only while the loop waits: an idle
//! worker sleeps in tokio's epoll_wait, and a nested epoll signals the
//! outer one on every event, so each completed connect would wake that
//! worker only for it to find the loop task already running.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use socket2::Socket;

use crate::check::tcp::{self, Started};
use crate::deadline::{GRACE, LATE};
use crate::outcome::{CheckOutcome, Reason};
use crate::schedule::Due;
use crate::spec::CheckSpec;

/// Events read by one epoll_wait: enough to take a burst in a few calls,
/// small enough that the loop gets back to its other work (timers, HTTP
/// results, new attempts) between two calls.
const EVENTS: usize = 256;

/// A finished attempt: when it was due, when it started, what it found.
pub(crate) type Done = (Due, Instant, CheckOutcome);

struct InFlight {
    sock: Socket,
    due: Due,
    started: Instant,
    /// The deadline in force (a late look moves it, see the module doc).
    deadline: Instant,
    timeout: Duration,
    /// Set at the first late look: no extension goes past it.
    cap: Option<Instant>,
}

struct Slot {
    /// Bumped each time the slot is freed, so an epoll event or a heap
    /// entry of an earlier attempt in the same slot is recognised as stale.
    gen: u32,
    attempt: Option<InFlight>,
}

/// The in-flight TCP_CHECK attempts of one driver loop.
pub(crate) struct TcpBatch {
    epoll: Epoll,
    /// A duplicate of `epoll`'s descriptor, held (while watched) as a
    /// tokio socket used only for its readiness (readable: events are
    /// waiting), as vrrpd's watch does for inotify: `AsyncFd::new` is deprecated as
    /// unsound and its replacement needs `unsafe`, which the workspace
    /// forbids.
    ready: Watch,
    /// Take `ready` out of tokio's epoll whenever the loop has stopped
    /// waiting (see [`TcpBatch::unwatch`]).
    watch_only_waiting: bool,
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
    /// (deadline, slot, generation), earliest first. An entry whose
    /// attempt finished (or whose deadline moved) stays until it comes to
    /// the top and is then dropped: cheaper than removing it.
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    events: Vec<EpollEvent>,
}

/// A duplicate of the epoll descriptor, in tokio's epoll or not.
enum Watch {
    Watched(tokio::net::UdpSocket),
    Unwatched(std::net::UdpSocket),
    /// Only while switching, or after a failed registration (the next
    /// wait makes a new duplicate).
    Gone,
}

impl Watch {
    fn watched(&mut self, epoll: &Epoll) -> io::Result<&tokio::net::UdpSocket> {
        if let Watch::Gone = self {
            let dup = std::net::UdpSocket::from(epoll.0.try_clone()?);
            dup.set_nonblocking(true)?;
            *self = Watch::Unwatched(dup);
        }
        if let Watch::Unwatched(_) = self {
            if let Watch::Unwatched(s) = std::mem::replace(self, Watch::Gone) {
                *self = Watch::Watched(tokio::net::UdpSocket::from_std(s)?);
            }
        }
        match self {
            Watch::Watched(s) => Ok(s),
            _ => Err(io::Error::other("TCP check events: no descriptor to watch")),
        }
    }

    fn unwatch(&mut self) {
        if let Watch::Watched(_) = self {
            if let Watch::Watched(s) = std::mem::replace(self, Watch::Gone) {
                // into_std takes it out of tokio's epoll without closing it.
                if let Ok(s) = s.into_std() {
                    *self = Watch::Unwatched(s);
                }
            }
        }
    }
}

fn key(slot: u32, gen: u32) -> u64 {
    (u64::from(gen) << 32) | u64::from(slot)
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl TcpBatch {
    /// An empty batch. Must be called inside a tokio runtime with I/O
    /// enabled (the epoll instance is registered with its reactor).
    pub(crate) fn new() -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let dup = std::net::UdpSocket::from(epoll.0.try_clone()?);
        // FIONBIO works on any file: tokio wants a non-blocking one (and
        // epoll_wait with a zero timeout never blocks anyway).
        dup.set_nonblocking(true)?;
        let ready = Watch::Watched(tokio::net::UdpSocket::from_std(dup)?);
        // On a multi-thread runtime an idle worker sleeps in tokio's
        // epoll_wait; with our epoll in its set, every connect that
        // completes would wake it (a nested epoll signals the outer one on
        // each event) only to find the loop task already running.
        let watch_only_waiting = tokio::runtime::Handle::current().runtime_flavor()
            != tokio::runtime::RuntimeFlavor::CurrentThread;
        Ok(TcpBatch {
            epoll,
            ready,
            watch_only_waiting,
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            deadlines: BinaryHeap::new(),
            events: vec![EpollEvent::empty(); EVENTS],
        })
    }

    /// Attempts in flight.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Start an attempt of `spec` (a TCP_CHECK) due as `due`. An attempt
    /// decided at once (refused or connected by connect() itself, no
    /// route, no file descriptor left) is returned instead.
    pub(crate) fn start(&mut self, due: Due, spec: &CheckSpec) -> Option<Done> {
        let started = now();
        let sock = match tcp::start_check(spec) {
            Ok(Started::InProgress(s)) => s,
            Ok(Started::Connected(_)) => {
                return Some((
                    due,
                    started,
                    CheckOutcome::up(Reason::Ok, started.elapsed()),
                ))
            }
            Err(e) => {
                let outcome = CheckOutcome::down(Reason::from_io(&e), started.elapsed());
                return Some((due, started, outcome));
            }
        };
        let down = |e: io::Error| {
            let outcome = CheckOutcome::down(Reason::from_io(&e), started.elapsed());
            Some((due, started, outcome))
        };
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                let Ok(i) = u32::try_from(self.slots.len()) else {
                    return down(io::Error::other("too many TCP checks in flight"));
                };
                self.slots.push(Slot {
                    gen: 0,
                    attempt: None,
                });
                i
            }
        };
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return down(io::Error::other("TCP check slot out of range"));
        };
        // Edge-triggered: the one event that matters is the end of the
        // handshake, and the socket is closed right after it is read.
        let event = EpollEvent::new(EpollFlags::EPOLLOUT | EpollFlags::EPOLLET, key(slot, s.gen));
        if let Err(e) = self.epoll.add(sock.as_fd(), event) {
            self.free.push(slot);
            return down(e.into());
        }
        let deadline = started + spec.connect_timeout;
        self.deadlines.push(Reverse((deadline, slot, s.gen)));
        s.attempt = Some(InFlight {
            sock,
            due,
            started,
            deadline,
            timeout: spec.connect_timeout,
            cap: None,
        });
        self.len += 1;
        None
    }

    /// Take the attempt in `slot` if it is the one of generation `gen`,
    /// freeing the slot (the caller drops the socket: close() takes it out
    /// of the epoll set and, with SO_LINGER 0, resets the connection).
    fn take(&mut self, slot: u32, gen: u32) -> Option<InFlight> {
        let s = self.slots.get_mut(slot as usize)?;
        if s.gen != gen {
            return None;
        }
        let a = s.attempt.take()?;
        s.gen = s.gen.wrapping_add(1);
        self.free.push(slot);
        self.len -= 1;
        Some(a)
    }

    /// Wait until the epoll instance has events, then read up to
    /// [`EVENTS`] of them; [`TcpBatch::handle_events`] takes them. Cancel
    /// safe: nothing is read before the future completes.
    pub(crate) async fn ready(&mut self) -> io::Result<usize> {
        let ready = self.ready.watched(&self.epoll)?;
        loop {
            ready.readable().await?;
            let mut n = 0;
            let r = ready.try_io(tokio::io::Interest::READABLE, || {
                n = match self.epoll.wait(&mut self.events, EpollTimeout::ZERO) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => 0,
                    Err(e) => return Err(e.into()),
                };
                // Fewer than asked for: drained. WouldBlock makes tokio
                // clear the readiness (unless a new event came meanwhile;
                // the nested epoll wakes tokio's on every new event).
                if n < self.events.len() {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match r {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ if n > 0 => return Ok(n),
                _ => {}
            }
        }
    }

    /// The loop has stopped waiting: on a multi-thread runtime, take our
    /// epoll out of tokio's until [`TcpBatch::ready`] is waited on again
    /// (two epoll_ctl calls per wait instead of a wake-up per event).
    pub(crate) fn unwatch(&mut self) {
        if self.watch_only_waiting {
            self.ready.unwatch();
        }
    }

    /// The verdicts of the first `n` events read by [`TcpBatch::ready`].
    pub(crate) fn handle_events(&mut self, n: usize, out: &mut Vec<Done>) {
        let at = now();
        for i in 0..n.min(self.events.len()) {
            let Some(data) = self.events.get(i).map(EpollEvent::data) else {
                continue;
            };
            let Some(a) = self.take(data as u32, (data >> 32) as u32) else {
                continue;
            };
            // Writable (or in error): the handshake is over, SO_ERROR says
            // how, as for tokio's own connect.
            let latency = at.saturating_duration_since(a.started);
            let outcome = match a.sock.take_error() {
                Ok(None) => CheckOutcome::up(Reason::Ok, latency),
                Ok(Some(e)) | Err(e) => CheckOutcome::down(Reason::from_io(&e), latency),
            };
            out.push((a.due, a.started, outcome));
        }
    }

    /// Read every event already there without waiting: what must be seen
    /// before any deadline is judged, and before more attempts are started
    /// when the places are all taken (see the driver).
    pub(crate) fn drain(&mut self, out: &mut Vec<Done>) {
        loop {
            let n = match self.epoll.wait(&mut self.events, EpollTimeout::ZERO) {
                Ok(n) => n,
                Err(_) => return,
            };
            self.handle_events(n, out);
            if n < self.events.len() {
                return;
            }
        }
    }

    /// The earliest deadline of an attempt in flight (stale heap entries
    /// on top are dropped first, so the loop does not wake for them).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, slot, gen))) = self.deadlines.peek().copied() {
            if self.live(at, slot, gen) {
                return Some(at);
            }
            self.deadlines.pop();
        }
        None
    }

    fn live(&self, at: Instant, slot: u32, gen: u32) -> bool {
        self.slots
            .get(slot as usize)
            .filter(|s| s.gen == gen)
            .and_then(|s| s.attempt.as_ref())
            .is_some_and(|a| a.deadline == at)
    }

    /// Judge every attempt whose deadline is at or before `now`, seen at
    /// `now` (see the module doc): the events already there first, then a
    /// timeout for each attempt still connecting, unless the loop is late.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<Done>) {
        if self.next_deadline().is_none_or(|at| at > now) {
            return;
        }
        self.drain(out);
        while let Some(Reverse((at, slot, gen))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if !self.live(at, slot, gen) {
                continue;
            }
            let lag = now.saturating_duration_since(at);
            let Some(a) = self
                .slots
                .get_mut(slot as usize)
                .and_then(|s| s.attempt.as_mut())
            else {
                continue;
            };
            let cap = *a.cap.get_or_insert(now + a.timeout);
            if lag > LATE && now < cap {
                // Late: the loop may not have read this attempt's event
                // yet (it is not in the epoll set's ready list until the
                // kernel has processed the packet); look again soon.
                a.deadline = (now + GRACE).min(cap);
                self.deadlines.push(Reverse((a.deadline, slot, gen)));
                continue;
            }
            if let Some(a) = self.take(slot, gen) {
                let latency = now.saturating_duration_since(a.started);
                out.push((
                    a.due,
                    a.started,
                    CheckOutcome::down(Reason::Timeout, latency),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::schedule::CheckId;
    use crate::spec::Kind;
    use socket2::{Domain, Type};
    use std::net::SocketAddr;

    fn spec(target: SocketAddr, timeout_ms: u64) -> CheckSpec {
        CheckSpec {
            target,
            local: Default::default(),
            connect_timeout: Duration::from_millis(timeout_ms),
            kind: Kind::Tcp,
        }
    }

    fn due(id: usize) -> Due {
        Due {
            id: CheckId(id),
            at: now(),
            interval: Duration::from_secs(1),
        }
    }

    /// A listener whose accept queue is full (backlog 0, one connection
    /// queued, never accepted): the kernel drops further SYNs, so a
    /// connect to it never completes.
    fn full_listener() -> (Socket, Vec<std::net::TcpStream>, SocketAddr) {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            if let Ok(c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                fillers.push(c);
            }
        }
        (s, fillers, addr)
    }

    /// Everything the batch decides within `limit`, reading its events as
    /// the driver does.
    async fn collect(b: &mut TcpBatch, want: usize, limit: Duration) -> Vec<Done> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + limit;
        while out.len() < want {
            let wake = b
                .next_deadline()
                .map_or(end, |d| tokio::time::Instant::from_std(d).min(end));
            tokio::select! {
                r = b.ready() => { let n = r.unwrap(); b.handle_events(n, &mut out); }
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= end { break; }
                    b.expire(now(), &mut out);
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn up_refused_and_timeout_are_told_apart() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
                .unwrap();
            s
        };
        let closed_addr = closed.local_addr().unwrap().as_socket().unwrap();
        let (_l, _fillers, black) = full_listener();
        let mut b = TcpBatch::new().unwrap();
        let mut out = Vec::new();
        for (i, target) in [open.local_addr().unwrap(), closed_addr, black]
            .into_iter()
            .enumerate()
        {
            out.extend(b.start(due(i), &spec(target, 300)));
        }
        let rest = 3 - out.len();
        out.extend(collect(&mut b, rest, Duration::from_secs(10)).await);
        assert_eq!(b.len(), 0);
        out.sort_by_key(|d| d.0.id.0);
        let reasons: Vec<_> = out.iter().map(|d| d.2.reason.clone()).collect();
        assert_eq!(reasons, [Reason::Ok, Reason::Refused, Reason::Timeout]);
        assert!(out[0].2.up && !out[1].2.up && !out[2].2.up);
        // The timeout is not declared before its deadline.
        assert!(
            out[2].2.latency >= Duration::from_millis(300),
            "{:?}",
            out[2]
        );
    }

    #[tokio::test]
    async fn a_late_look_extends_the_deadline_up_to_one_timeout() {
        let (_l, _fillers, black) = full_listener();
        let mut b = TcpBatch::new().unwrap();
        assert!(b.start(due(0), &spec(black, 100)).is_none());
        let first = b.next_deadline().unwrap();
        let mut out = Vec::new();
        // Seen 50 ms late (more than LATE): not judged, looked at again
        // GRACE later.
        let late = first + Duration::from_millis(50);
        b.expire(late, &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(b.next_deadline(), Some(late + GRACE));
        // Still late at every look: the cap (one timeout after the first
        // late look) ends it.
        let mut t = late;
        for _ in 0..100 {
            t += GRACE + Duration::from_millis(20);
            b.expire(t, &mut out);
            if !out.is_empty() {
                break;
            }
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].2.reason, Reason::Timeout);
        assert!(
            t >= late + Duration::from_millis(100),
            "ended at {:?}",
            t - late
        );
        assert!(t < late + Duration::from_millis(100) + GRACE + Duration::from_millis(20));
        assert_eq!(b.len(), 0);
        assert_eq!(b.next_deadline(), None);
    }

    #[tokio::test]
    async fn an_on_time_look_is_a_timeout() {
        let (_l, _fillers, black) = full_listener();
        let mut b = TcpBatch::new().unwrap();
        assert!(b.start(due(0), &spec(black, 100)).is_none());
        let at = b.next_deadline().unwrap();
        let mut out = Vec::new();
        b.expire(at - Duration::from_millis(1), &mut out);
        assert!(out.is_empty());
        b.expire(at + Duration::from_millis(2), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].2.reason, Reason::Timeout);
    }

    #[tokio::test]
    async fn events_already_there_win_over_an_expired_deadline() {
        // The connect to a live listener has completed (on loopback the
        // handshake is done within connect()), but the loop looks at the
        // deadline before reading its events: the answer must win.
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut b = TcpBatch::new().unwrap();
        let mut out = Vec::new();
        for i in 0..20 {
            out.extend(b.start(due(i), &spec(open.local_addr().unwrap(), 50)));
        }
        std::thread::sleep(Duration::from_millis(60));
        let at = b.next_deadline().map(|d| d + Duration::from_millis(1));
        // On time (lag 1 ms): no grace, only the drain saves them.
        b.expire(at.unwrap_or_else(now), &mut out);
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|d| d.2.up), "{out:?}");
    }

    #[tokio::test]
    async fn stale_generations_are_ignored() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut b = TcpBatch::new().unwrap();
        assert!(b
            .start(due(0), &spec(open.local_addr().unwrap(), 1000))
            .is_none());
        let mut out = Vec::new();
        let n = b.ready().await.unwrap();
        b.handle_events(n, &mut out);
        assert_eq!(out.len(), 1);
        // The same event handled again (a stale key) finds nothing, and
        // the finished attempt's deadline is not reported.
        b.handle_events(n, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(b.next_deadline(), None);
    }
}
