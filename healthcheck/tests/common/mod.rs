//! Test servers on loopback.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthcheck::spec::{CheckSpec, HttpSpec, Kind, UrlSpec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the fake HTTP server answers.
#[derive(Clone)]
pub enum Reply {
    /// Status and body, all at once.
    Full(u16, &'static [u8]),
    /// Headers announcing `len` bytes, then one byte per `gap`.
    Dribble { len: usize, gap: Duration },
    /// Read the request, never answer.
    Silent,
    /// [`Reply::Full`] after a pause (a slow but healthy backend).
    After(Duration, u16, &'static [u8]),
}

pub struct HttpServer {
    pub addr: SocketAddr,
    /// Request heads received.
    pub requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b).await {
            // Like a real HTTP server, answer at once when the client sends
            // something that is not HTTP (a TLS ClientHello).
            Ok(1) if buf.is_empty() && !b[0].is_ascii_uppercase() => break,
            Ok(1) => buf.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

pub async fn serve_http_conn<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    reply: Reply,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let head = read_head(&mut s).await;
    requests.lock().unwrap().push(head);
    let reply = match reply {
        Reply::After(pause, code, body) => {
            tokio::time::sleep(pause).await;
            Reply::Full(code, body)
        }
        other => other,
    };
    match reply {
        Reply::Full(code, body) | Reply::After(_, code, body) => {
            let h = format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(h.as_bytes()).await;
            let _ = s.write_all(body).await;
            let _ = s.shutdown().await;
        }
        Reply::Dribble { len, gap } => {
            let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            let _ = s.write_all(h.as_bytes()).await;
            for _ in 0..len {
                if s.write_all(b"x").await.is_err() {
                    return;
                }
                let _ = s.flush().await;
                tokio::time::sleep(gap).await;
            }
        }
        Reply::Silent => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

pub async fn http_server(reply: Reply) -> HttpServer {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let reqs = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(serve_http_conn(s, reply.clone(), reqs.clone()));
        }
    });
    HttpServer {
        addr,
        requests,
        task,
    }
}

pub fn spec(target: SocketAddr, timeout_ms: u64, kind: Kind) -> CheckSpec {
    CheckSpec {
        target,
        local: Default::default(),
        connect_timeout: Duration::from_millis(timeout_ms),
        kind,
    }
}

pub fn http_kind(tls: bool, path: &str, digest: Option<&str>, status: Vec<(u16, u16)>) -> Kind {
    Kind::Http(HttpSpec {
        tls,
        sni: false,
        http10: false,
        virtualhost: None,
        urls: vec![UrlSpec {
            path: path.to_owned(),
            digest: digest.map(str::to_owned),
            status,
            virtualhost: None,
            regex: None,
        }],
    })
}
