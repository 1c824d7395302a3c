//! SMTP_CHECK: connect, expect a 220 greeting, send `HELO`, expect 250,
//! then `QUIT` (RFC 5321 §4.1.1.1, §4.2). keepalived checks the `host { }`
//! targets in turn when there are any, else the real server; every target
//! must pass. One deadline (`connect_timeout`) covers each target's
//! exchange.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::tcp;
use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, Local};

/// Longest reply line we accept (RFC 5321 §4.5.3.1.5: 512 octets).
const MAX_LINE: usize = 512;

pub async fn check(spec: &CheckSpec, helo: &str, extra: &[(SocketAddr, Local)]) -> CheckOutcome {
    let start = Instant::now();
    let targets: Vec<(SocketAddr, Local)> = if extra.is_empty() {
        vec![(spec.target, spec.local.clone())]
    } else {
        extra.to_vec()
    };
    for (target, local) in targets {
        match crate::deadline::within(spec.connect_timeout, exchange(target, &local, helo)).await {
            Ok(Ok(())) => {}
            Ok(Err(r)) => return CheckOutcome::down(r, start.elapsed()),
            Err(_) => return CheckOutcome::down(Reason::Timeout, start.elapsed()),
        }
    }
    CheckOutcome::up(Reason::Ok, start.elapsed())
}

/// Read one (possibly multi-line, RFC 5321 §4.2.1) reply; returns its code
/// and last line.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    stage: &'static str,
) -> Result<(u16, String), Reason> {
    loop {
        let mut line = String::new();
        let n = AsyncReadExt::take(&mut *r, MAX_LINE as u64 + 2)
            .read_line(&mut line)
            .await
            .map_err(|e| Reason::from_io(&e))?;
        if n == 0 {
            return Err(Reason::Smtp {
                stage,
                reply: "connection closed".to_owned(),
            });
        }
        let line = line.trim_end().to_owned();
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| Reason::Smtp {
                stage,
                reply: line.clone(),
            })?;
        // "250-..." continues; "250 ..." or "250" ends the reply.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, line));
        }
    }
}

async fn exchange(target: SocketAddr, local: &Local, helo: &str) -> Result<(), Reason> {
    let stream = tcp::connect(target, local)
        .await
        .map_err(|e| Reason::from_io(&e))?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let (code, line) = reply(&mut rd, "banner").await?;
    if code != 220 {
        return Err(Reason::Smtp {
            stage: "banner",
            reply: line,
        });
    }
    wr.write_all(format!("HELO {helo}\r\n").as_bytes())
        .await
        .map_err(|e| Reason::from_io(&e))?;
    let (code, line) = reply(&mut rd, "helo").await?;
    if code != 250 {
        return Err(Reason::Smtp {
            stage: "helo",
            reply: line,
        });
    }
    // Be polite; the answer to QUIT does not matter.
    let _ = wr.write_all(b"QUIT\r\n").await;
    Ok(())
}
