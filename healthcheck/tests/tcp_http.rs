#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use healthcheck::check::{self, http::genhash};
use healthcheck::spec::{HttpSpec, Kind, UrlSpec};
use healthcheck::Reason;
use socket2::{Domain, Socket, Type};

#[tokio::test]
async fn tcp_up() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let o = check::run(&spec(l.local_addr().unwrap(), 2000, Kind::Tcp)).await;
    assert!(o.up, "{o:?}");
    assert_eq!(o.reason, Reason::Ok);
}

#[tokio::test]
async fn tcp_refused_on_bound_but_not_listening_port() {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let o = check::run(&spec(addr, 2000, Kind::Tcp)).await;
    assert!(!o.up);
    assert_eq!(o.reason, Reason::Refused);
    assert_eq!(o.reason.to_string(), "refused");
}

#[tokio::test]
async fn tcp_timeout_on_full_backlog() {
    // A listener with backlog 0 that never accepts: once its accept queue
    // is full the kernel drops further SYNs, so a connect never completes.
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(c)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(c);
        }
    }
    let o = check::run(&spec(addr, 300, Kind::Tcp)).await;
    assert!(!o.up);
    assert_eq!(o.reason, Reason::Timeout);
}

#[tokio::test]
async fn http_status_ok_and_request_shape() {
    let srv = http_server(Reply::Full(200, b"hello")).await;
    let o = check::run(&spec(
        srv.addr,
        2000,
        http_kind(false, "/health", None, vec![]),
    ))
    .await;
    assert!(o.up, "{o:?}");
    let req = srv.requests.lock().unwrap()[0].clone();
    assert!(req.starts_with("GET /health HTTP/1.1\r\n"), "{req}");
    assert!(
        req.contains(&format!("host: 127.0.0.1:{}", srv.addr.port())),
        "{req}"
    );
    assert!(req.contains("user-agent: KeepAliveClient"), "{req}");
}

#[tokio::test]
async fn http_wrong_status() {
    let srv = http_server(Reply::Full(503, b"busy")).await;
    let o = check::run(&spec(srv.addr, 2000, http_kind(false, "/", None, vec![]))).await;
    assert!(!o.up);
    assert_eq!(o.reason, Reason::Status(503));
    assert_eq!(o.reason.to_string(), "status 503");
    // 503 accepted when listed.
    let o = check::run(&spec(
        srv.addr,
        2000,
        http_kind(false, "/", None, vec![(500, 503)]),
    ))
    .await;
    assert!(o.up, "{o:?}");
}

#[tokio::test]
async fn http_digest_match_and_mismatch() {
    let srv = http_server(Reply::Full(200, b"hello")).await;
    let good = genhash(b"hello");
    let o = check::run(&spec(
        srv.addr,
        2000,
        http_kind(false, "/", Some(&good), vec![]),
    ))
    .await;
    assert!(o.up, "{o:?}");
    let bad = genhash(b"other");
    let o = check::run(&spec(
        srv.addr,
        2000,
        http_kind(false, "/", Some(&bad), vec![]),
    ))
    .await;
    assert!(!o.up);
    assert_eq!(
        o.reason,
        Reason::DigestMismatch {
            expected: bad,
            got: good
        }
    );
}

#[tokio::test]
async fn http_dribbling_body_fails_at_the_single_deadline() {
    // 100 bytes, one per 50 ms: every read succeeds well within the
    // 400 ms timeout, but the whole body needs 5 s.
    let srv = http_server(Reply::Dribble {
        len: 100,
        gap: Duration::from_millis(50),
    })
    .await;
    let digest = genhash(&[b'x'; 100]);
    let o = check::run(&spec(
        srv.addr,
        400,
        http_kind(false, "/", Some(&digest), vec![]),
    ))
    .await;
    assert!(!o.up);
    assert_eq!(o.reason, Reason::Timeout);
    // The same body with a deadline long enough passes: the failure above
    // is the deadline, not the content.
    let srv = http_server(Reply::Dribble {
        len: 5,
        gap: Duration::from_millis(10),
    })
    .await;
    let digest = genhash(&[b'x'; 5]);
    let o = check::run(&spec(
        srv.addr,
        5000,
        http_kind(false, "/", Some(&digest), vec![]),
    ))
    .await;
    assert!(o.up, "{o:?}");
}

#[tokio::test]
async fn http_silent_server_times_out() {
    let srv = http_server(Reply::Silent).await;
    let o = check::run(&spec(srv.addr, 300, http_kind(false, "/", None, vec![]))).await;
    assert_eq!((o.up, o.reason), (false, Reason::Timeout));
}

#[tokio::test]
async fn http_every_url_must_pass_and_virtualhost_is_sent() {
    let srv = http_server(Reply::Full(200, b"a")).await;
    let url = |path: &str, digest: Option<String>| UrlSpec {
        path: path.to_owned(),
        digest,
        status: vec![],
        virtualhost: None,
        regex: None,
    };
    let kind = Kind::Http(HttpSpec {
        tls: false,
        sni: false,
        http10: true,
        virtualhost: Some("www.example.test".to_owned()),
        urls: vec![url("/one", None), url("/two", Some(genhash(b"b")))],
    });
    let o = check::run(&spec(srv.addr, 2000, kind)).await;
    assert!(!o.up);
    assert!(matches!(o.reason, Reason::DigestMismatch { .. }));
    let reqs = srv.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].starts_with("GET /one HTTP/1.0\r\n"), "{}", reqs[0]);
    assert!(reqs[1].contains("host: www.example.test"), "{}", reqs[1]);
}

#[tokio::test]
async fn http_regex_match_and_no_match() {
    use healthcheck::spec::RegexSpec;
    let srv = http_server(Reply::Full(200, b"<html>status: healthy</html>")).await;
    let kind = |pattern: &str, no_match| {
        Kind::Http(HttpSpec {
            tls: false,
            sni: false,
            http10: true,
            virtualhost: None,
            urls: vec![UrlSpec {
                path: "/".into(),
                digest: None,
                status: vec![],
                virtualhost: None,
                regex: Some(RegexSpec {
                    pattern: pattern.into(),
                    no_match,
                    options: vec![],
                    min_offset: None,
                    max_offset: None,
                }),
            }],
        })
    };
    let o = check::run(&spec(srv.addr, 2000, kind("status: (healthy|ok)", false))).await;
    assert!(o.up, "{o:?}");
    let o = check::run(&spec(srv.addr, 2000, kind("status: down", false))).await;
    assert_eq!(o.reason.to_string(), "regex not matched");
    let o = check::run(&spec(srv.addr, 2000, kind("healthy", true))).await;
    assert_eq!(o.reason, Reason::RegexMismatch { no_match: true });
}
