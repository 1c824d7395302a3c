//! An optional Prometheus `/metrics` listener.
//!
//! The daemon's main loop owns every counter, so a scrape is a command on the
//! same channel as the control socket (`metrics`): the loop renders the text
//! exposition format at scrape time, and nothing is shared or locked.
//!
//! The HTTP side is the least that Prometheus needs: `GET /metrics` over
//! HTTP/1.x, one request per connection. The text format is written by hand
//! ([`Exposition`]); a metrics crate would add a registry we do not need for
//! values that already live in the daemon's own structs.

use crate::control::Command;
use std::fmt::Write as _;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Largest request head we read; a scrape request is a few hundred bytes.
const MAX_HEAD: usize = 8192;

/// Listen on `addr` and answer `GET /metrics` with what the main loop
/// returns for the `metrics` command.
pub async fn serve(
    addr: SocketAddr,
    tx: mpsc::Sender<Command>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = scrape(stream, tx).await {
                            tracing::debug!("metrics client: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("metrics accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn scrape(mut stream: TcpStream, tx: mpsc::Sender<Command>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, body) = if method != "GET" {
        ("405 Method Not Allowed", String::from("GET only\n"))
    } else if path != "/metrics" {
        ("404 Not Found", String::from("see /metrics\n"))
    } else {
        let (reply, answer) = oneshot::channel();
        let cmd = Command {
            line: "metrics".into(),
            reply,
        };
        match tx.send(cmd).await {
            Ok(()) => match answer.await {
                Ok(text) => ("200 OK", text),
                Err(_) => ("503 Service Unavailable", String::from("stopping\n")),
            },
            Err(_) => ("503 Service Unavailable", String::from("stopping\n")),
        }
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
}

/// Builds the Prometheus text exposition format.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Start a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample; label values are escaped as the format requires.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (k, (key, val)) in labels.iter().enumerate() {
                if k > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_escapes_label_values() {
        let mut e = Exposition::default();
        e.family("vrrp_state", "gauge", "State of an instance.")
            .sample("vrrp_state", &[("instance", "a\"b\\c")], 2.0);
        assert_eq!(
            e.finish(),
            "# HELP vrrp_state State of an instance.\n# TYPE vrrp_state gauge\nvrrp_state{instance=\"a\\\"b\\\\c\"} 2\n"
        );
    }

    #[tokio::test]
    async fn serves_metrics_and_refuses_other_paths() {
        let (tx, mut rx) = mpsc::channel(4);
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let task = serve(addr, tx).await.unwrap();
        tokio::spawn(async move {
            while let Some(cmd) = rx.recv().await {
                assert_eq!(cmd.line, "metrics");
                let _ = cmd.reply.send("up 1\n".into());
            }
        });
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nup 1\n"), "{ok}");
        let nf = get("/other").await;
        assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
        task.abort();
    }
}
