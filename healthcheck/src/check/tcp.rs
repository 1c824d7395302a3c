//! TCP_CHECK: a connect within `connect_timeout`.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::{TcpSocket, TcpStream};

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::CheckSpec;

/// Connect to `target`, from `bind` if given. No deadline here: callers
/// wrap the whole exchange in one.
pub async fn connect(target: SocketAddr, bind: Option<SocketAddr>) -> io::Result<TcpStream> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(b) = bind {
        sock.bind(b)?;
    }
    sock.connect(target).await
}

pub async fn check(spec: &CheckSpec) -> CheckOutcome {
    let start = Instant::now();
    match tokio::time::timeout(spec.connect_timeout, connect(spec.target, spec.bind)).await {
        Ok(Ok(_stream)) => CheckOutcome::up(Reason::Ok, start.elapsed()),
        Ok(Err(e)) => CheckOutcome::down(Reason::from_io(&e), start.elapsed()),
        Err(_) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
    }
}
