//! A tiny HTTP/1.0 server and client for health-check drills: backends
//! that answer `200` with their name (killable processes, started as
//! `netns-tests-agent http-serve`), and a client that sends N requests and
//! prints one JSON summary line (`netns-tests-agent http-get`).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::error::{Error, Result};

const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Serve `200 OK` with body `name\n` to every request on `addr`, one
/// thread per connection, until killed.
pub fn serve(addr: SocketAddr, name: &str) -> Result<()> {
    let listener =
        TcpListener::bind(addr).map_err(|e| Error::io(format!("http-serve: bind {addr}"), e))?;
    loop {
        let (stream, _) = match listener.accept() {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("http-serve: accept", e)),
        };
        let name = name.to_owned();
        std::thread::spawn(move || {
            // A client that goes away mid-request is its own problem.
            let _ = answer(stream, &name);
        });
    }
}

fn answer(mut s: TcpStream, name: &str) -> std::io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let body = format!("{name}\n");
    write!(
        s,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

/// What [`get_many`] saw.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GetSummary {
    pub ok: u64,
    pub failed: u64,
    /// Body (the backend's name) → answers, for the 200s.
    pub by_body: BTreeMap<String, u64>,
    /// Failures: status line or error text → count.
    pub errors: BTreeMap<String, u64>,
}

/// `count` sequential `GET /` to `addr`, `interval` apart.
pub fn get_many(addr: SocketAddr, count: u64, interval: Duration) -> GetSummary {
    let mut sum = GetSummary::default();
    for i in 0..count {
        match get(addr) {
            Ok((200, body)) => {
                sum.ok += 1;
                *sum.by_body.entry(body.trim().to_owned()).or_insert(0) += 1;
            }
            Ok((status, _)) => {
                sum.failed += 1;
                *sum.errors.entry(format!("status {status}")).or_insert(0) += 1;
            }
            Err(e) => {
                sum.failed += 1;
                *sum.errors.entry(e.to_string()).or_insert(0) += 1;
            }
        }
        if i + 1 < count {
            std::thread::sleep(interval);
        }
    }
    sum
}

/// One `GET /`: (status, body).
pub fn get(addr: SocketAddr) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    write!(s, "GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "no HTTP status line"))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_and_get_on_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        std::thread::spawn(move || serve(addr, "web1"));
        let mut sum = GetSummary::default();
        for _ in 0..100 {
            sum = get_many(addr, 3, Duration::from_millis(1));
            if sum.ok == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(sum.ok, 3, "{sum:?}");
        assert_eq!(sum.by_body.get("web1"), Some(&3));
    }
}
