//! TCP_CHECK: a connect within `connect_timeout`.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::{TcpSocket, TcpStream};

use socket2::{Domain, Protocol, Socket, Type};

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, Local};

/// A socket of `ty` for `target`'s family with the `local` options set
/// (SO_MARK, SO_BINDTODEVICE, bind), non-blocking.
pub(crate) fn socket(target: SocketAddr, ty: Type, local: &Local) -> io::Result<Socket> {
    let (domain, proto) = match (target.is_ipv4(), ty == Type::STREAM) {
        (true, true) => (Domain::IPV4, Protocol::TCP),
        (false, true) => (Domain::IPV6, Protocol::TCP),
        (true, false) => (Domain::IPV4, Protocol::UDP),
        (false, false) => (Domain::IPV6, Protocol::UDP),
    };
    let sock = Socket::new(domain, ty, Some(proto))?;
    sock.set_nonblocking(true)?;
    sock.set_cloexec(true)?;
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

/// Connect to `target` from `local`. No deadline here: callers wrap the
/// whole exchange in one.
pub async fn connect(target: SocketAddr, local: &Local) -> io::Result<TcpStream> {
    let sock = socket(target, Type::STREAM, local)?;
    TcpSocket::from_std_stream(std::net::TcpStream::from(sock))
        .connect(target)
        .await
}

pub async fn check(spec: &CheckSpec) -> CheckOutcome {
    let start = Instant::now();
    match tokio::time::timeout(spec.connect_timeout, connect(spec.target, &spec.local)).await {
        Ok(Ok(_stream)) => CheckOutcome::up(Reason::Ok, start.elapsed()),
        Ok(Err(e)) => CheckOutcome::down(Reason::from_io(&e), start.elapsed()),
        Err(_) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
    }
}
