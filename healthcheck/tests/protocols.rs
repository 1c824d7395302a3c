#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::spec;
use healthcheck::check;
use healthcheck::spec::{FileSpec, Kind};
use healthcheck::Reason;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

/// A one-connection-at-a-time SMTP server with a given banner; records
/// the lines it receives.
async fn smtp_server(
    banner: &'static str,
    helo_reply: &'static str,
) -> (
    std::net::SocketAddr,
    Arc<Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let rec = lines.clone();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (rd, mut wr) = s.into_split();
            let mut rd = BufReader::new(rd);
            wr.write_all(banner.as_bytes()).await.unwrap();
            let mut line = String::new();
            while rd.read_line(&mut line).await.unwrap_or(0) > 0 {
                let l = line.trim_end().to_owned();
                line.clear();
                rec.lock().unwrap().push(l.clone());
                if l.starts_with("HELO") {
                    wr.write_all(helo_reply.as_bytes()).await.unwrap();
                } else if l == "QUIT" {
                    let _ = wr.write_all(b"221 bye\r\n").await;
                    break;
                }
            }
        }
    });
    (addr, lines, task)
}

fn smtp_kind() -> Kind {
    Kind::Smtp {
        helo: "checker.example.test".to_owned(),
        extra: vec![],
    }
}

#[tokio::test]
async fn smtp_happy_with_multiline_banner() {
    let (addr, lines, task) = smtp_server(
        "220-mail.example.test ESMTP\r\n220 ready\r\n",
        "250 hello\r\n",
    )
    .await;
    let o = check::run(&spec(addr, 2000, smtp_kind())).await;
    assert!(o.up, "{o:?}");
    // Give the server a moment to read QUIT, then check the dialogue.
    for _ in 0..50 {
        if lines.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        lines.lock().unwrap().clone(),
        vec!["HELO checker.example.test".to_owned(), "QUIT".to_owned()]
    );
    task.abort();
}

#[tokio::test]
async fn smtp_bad_banner_and_bad_helo() {
    let (addr, _, task) = smtp_server("554 go away\r\n", "250 hello\r\n").await;
    let o = check::run(&spec(addr, 2000, smtp_kind())).await;
    assert!(!o.up);
    assert_eq!(o.reason.to_string(), "smtp banner: 554 go away");
    task.abort();
    let (addr, _, task) = smtp_server("220 hi\r\n", "501 bad\r\n").await;
    let o = check::run(&spec(addr, 2000, smtp_kind())).await;
    assert_eq!(
        o.reason,
        Reason::Smtp {
            stage: "helo",
            reply: "501 bad".into()
        }
    );
    task.abort();
}

fn udp_kind(require: Option<&[u8]>) -> Kind {
    Kind::Udp {
        payload: b"PING".to_vec(),
        require_reply: require.map(<[u8]>::to_vec),
        min_len: None,
        max_len: None,
    }
}

async fn udp_echo() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
    (addr, task)
}

#[tokio::test]
async fn udp_echo_and_require_reply() {
    let (addr, task) = udp_echo().await;
    let o = check::run(&spec(addr, 2000, udp_kind(None))).await;
    assert_eq!((o.up, o.reason), (true, Reason::Ok));
    let o = check::run(&spec(addr, 2000, udp_kind(Some(b"PI")))).await;
    assert_eq!((o.up, o.reason), (true, Reason::Ok));
    let o = check::run(&spec(addr, 2000, udp_kind(Some(b"PONG")))).await;
    assert_eq!((o.up, o.reason), (false, Reason::ReplyMismatch));
    task.abort();
}

#[tokio::test]
async fn udp_port_unreachable_is_down() {
    // Bind then drop: nothing listens on the port, so loopback answers
    // with ICMP port unreachable.
    let addr = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let o = check::run(&spec(addr, 2000, udp_kind(None))).await;
    assert_eq!((o.up, o.reason), (false, Reason::Unreachable));
}

#[tokio::test]
async fn udp_silence_is_up_unless_a_reply_is_required() {
    // A socket that receives but never answers.
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    let o = check::run(&spec(addr, 300, udp_kind(None))).await;
    assert_eq!((o.up, o.reason), (true, Reason::NoError));
    let o = check::run(&spec(addr, 300, udp_kind(Some(b"")))).await;
    assert_eq!((o.up, o.reason), (false, Reason::Timeout));
    drop(s);
}

/// A DNS server answering every query with `flags` and `ancount`; first
/// sends a datagram with a wrong id, which the check must ignore.
async fn dns_server(
    flags: u16,
    ancount: u16,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut r = buf[..n].to_vec();
            r[2..4].copy_from_slice(&flags.to_be_bytes());
            r[6..8].copy_from_slice(&ancount.to_be_bytes());
            let mut wrong = r.clone();
            wrong[0] ^= 0xff;
            let _ = s.send_to(&wrong, from).await;
            let _ = s.send_to(&r, from).await;
        }
    });
    (addr, task)
}

#[tokio::test]
async fn dns_rcode_decides_and_silence_times_out() {
    let kind = Kind::Dns {
        qtype: 6,
        name: ".".into(),
    };
    let (addr, t) = dns_server(0x8180, 1).await;
    let o = check::run(&spec(addr, 2000, kind.clone())).await;
    assert!(o.up, "{o:?}");
    t.abort();
    let (addr, t) = dns_server(0x8182, 0).await;
    let o = check::run(&spec(addr, 2000, kind.clone())).await;
    assert_eq!(o.reason.to_string(), "dns: rcode 2");
    t.abort();
    // NOERROR without answer records is still an answer (keepalived).
    let (addr, t) = dns_server(0x8180, 0).await;
    let o = check::run(&spec(addr, 2000, kind.clone())).await;
    assert!(o.up, "{o:?}");
    t.abort();
    // A server that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let o = check::run(&spec(silent.local_addr().unwrap(), 300, kind)).await;
    assert_eq!((o.up, o.reason), (false, Reason::Timeout));
}

fn need_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true but not root: PING_CHECK needs a raw ICMP socket");
    }
    eprintln!("SKIPPED {test}: not root and unprivileged ICMP may be disabled");
    false
}

#[tokio::test]
async fn ping_loopback_v4_and_v6() {
    if !need_root("ping_loopback_v4_and_v6") {
        return;
    }
    let o = check::run(&spec("127.0.0.1:0".parse().unwrap(), 2000, Kind::Ping)).await;
    assert_eq!((o.up, o.reason), (true, Reason::Ok));
    let o = check::run(&spec("[::1]:0".parse().unwrap(), 2000, Kind::Ping)).await;
    assert_eq!((o.up, o.reason), (true, Reason::Ok));
}

#[tokio::test]
async fn file_check_values() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("weight");
    let f = |weight| {
        Kind::File(FileSpec {
            path: p.display().to_string(),
            weight,
            reverse: false,
            base_weight: 5,
        })
    };
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let o = check::run(&spec(any, 1000, f(0))).await;
    assert!(!o.up);
    assert!(
        matches!(o.reason, Reason::File(_)),
        "missing file: {:?}",
        o.reason
    );
    std::fs::write(&p, "0\n").unwrap();
    assert!(check::run(&spec(any, 1000, f(0))).await.up);
    std::fs::write(&p, "3\n").unwrap();
    let o = check::run(&spec(any, 1000, f(0))).await;
    assert_eq!((o.up, o.reason), (false, Reason::FileValue(3)));
    let o = check::run(&spec(any, 1000, f(2))).await;
    assert_eq!((o.up, o.weight), (true, Some(11)));
    std::fs::write(&p, "garbage").unwrap();
    assert!(!check::run(&spec(any, 1000, f(2))).await.up);
}

#[tokio::test]
async fn smtp_without_banner_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let o = check::run(&spec(addr, 300, smtp_kind())).await;
    assert_eq!((o.up, o.reason), (false, Reason::Timeout));
    task.abort();
}
