//! TCP_CHECK: a connect within `connect_timeout`.
//!
//! The check is up as soon as the server's SYN-ACK arrives. What follows
//! is done as haproxy does for its plain TCP checks, because on a large
//! fleet it is most of the cost (measured with `perf` on check_bench: the
//! server's half of the handshake, the FIN exchange and the close were
//! about half of our CPU per check, all kernel time in our process on
//! loopback):
//!
//! - `TCP_QUICKACK` off before the connect, so the last ACK of the
//!   handshake is delayed instead of sent at once;
//! - `SO_LINGER 0`, so the close sends one RST in its place.
//!
//! The server's kernel then drops the half-open connection: its
//! application never accepts it (no accept, no log line, no close), no
//! FIN is exchanged and no socket is left in TIME_WAIT on either side.
//! Three packets per check instead of seven or more, and the verdict is
//! the same: keepalived, too, counts the server up once connect() succeeds.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, Local};

/// A socket of `ty` for `target`'s family with the `local` options set
/// (SO_MARK, SO_BINDTODEVICE, bind), created non-blocking and
/// close-on-exec by the one socket(2) call.
pub(crate) fn socket(target: SocketAddr, ty: Type, local: &Local) -> io::Result<Socket> {
    let (domain, proto) = match (target.is_ipv4(), ty == Type::STREAM) {
        (true, true) => (Domain::IPV4, Protocol::TCP),
        (false, true) => (Domain::IPV6, Protocol::TCP),
        (true, false) => (Domain::IPV4, Protocol::UDP),
        (false, false) => (Domain::IPV6, Protocol::UDP),
    };
    let sock = Socket::new_raw(domain, ty.nonblocking().cloexec(), Some(proto))?;
    if let Some(mark) = local.fwmark {
        sock.set_mark(mark)?;
    }
    if let Some(ifname) = &local.interface {
        sock.bind_device(Some(ifname.as_bytes()))?;
    }
    if let Some(addr) = local.addr {
        sock.bind(&addr.into())?;
    }
    Ok(sock)
}

/// How a non-blocking connect began.
pub(crate) enum Started {
    /// Already connected (possible on loopback).
    Connected(Socket),
    /// The handshake is under way: the socket becomes writable when it
    /// ends, and its SO_ERROR then says how.
    InProgress(Socket),
}

/// Start a non-blocking connect of `sock` to `target`.
fn start_connect(sock: Socket, target: SocketAddr) -> io::Result<Started> {
    match sock.connect(&target.into()) {
        Ok(()) => Ok(Started::Connected(sock)),
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => Ok(Started::InProgress(sock)),
        Err(e) => Err(e),
    }
}

/// Hand a socket whose connect was started to tokio.
fn to_tokio(started: Started) -> io::Result<TcpStream> {
    let (Started::Connected(sock) | Started::InProgress(sock)) = started;
    TcpStream::from_std(std::net::TcpStream::from(sock))
}

/// The socket of one TCP_CHECK attempt, its connect started: `local`'s
/// options, then the half-open options of the module doc. An error here
/// (no route, no file descriptor left, ...) is the attempt's outcome.
pub(crate) fn start_check(spec: &CheckSpec) -> io::Result<Started> {
    let s = socket(spec.target, Type::STREAM, &spec.local)?;
    // See the module doc. Neither is needed for the verdict, so a kernel
    // that refuses them only costs the saving.
    let _ = s.set_tcp_quickack(false);
    let _ = s.set_linger(Some(Duration::ZERO));
    start_connect(s, spec.target)
}

/// Wait until the connect of `stream` has finished: writable, then its
/// SO_ERROR says how (as tokio's own connect does).
async fn finished(stream: &TcpStream) -> io::Result<()> {
    stream.writable().await?;
    match stream.take_error()? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether the connect of `stream` has finished, asked of the socket
/// itself instead of the runtime's readiness (which may not have been
/// read yet): `Ok(true)` connected, `Ok(false)` still in progress.
fn connected_now(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

/// Connect to `target` from `local`. No deadline here: callers wrap the
/// whole exchange in one.
pub async fn connect(target: SocketAddr, local: &Local) -> io::Result<TcpStream> {
    let stream = to_tokio(start_connect(socket(target, Type::STREAM, local)?, target)?)?;
    finished(&stream).await?;
    Ok(stream)
}

/// One TCP_CHECK attempt as a future of its own. The driver's
/// `tcp_batch` makes the same attempt without a task, timer or
/// runtime registration; this is what a caller outside the driver (and
/// a driver given its own `Runner`) uses.
pub async fn check(spec: &CheckSpec) -> CheckOutcome {
    let start = Instant::now();
    let stream = match start_check(spec).and_then(to_tokio) {
        Ok(s) => s,
        Err(e) => return CheckOutcome::down(Reason::from_io(&e), start.elapsed()),
    };
    let verdict = match crate::deadline::within(spec.connect_timeout, finished(&stream)).await {
        Ok(r) => r.map(|()| true),
        // The deadline, seen by a runtime on time: one last look at the
        // socket, in case its readiness is not read yet.
        Err(_) => connected_now(&stream),
    };
    match verdict {
        Ok(true) => CheckOutcome::up(Reason::Ok, start.elapsed()),
        Ok(false) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
        Err(e) => CheckOutcome::down(Reason::from_io(&e), start.elapsed()),
    }
}
