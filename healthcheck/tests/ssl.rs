#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use healthcheck::check::{self, http::genhash};
use healthcheck::spec::{HttpSpec, Kind, UrlSpec};
use healthcheck::Reason;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

struct TlsServer {
    addr: std::net::SocketAddr,
    /// SNI received on each connection.
    sni: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTPS server with a self-signed certificate made for this test.
async fn tls_server(reply: Reply) -> TlsServer {
    let ck = rcgen::generate_simple_self_signed(vec!["www.example.test".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let sni2 = sni.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let acceptor = acceptor.clone();
            let sni = sni2.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    sni.lock()
                        .unwrap()
                        .push(tls.get_ref().1.server_name().map(str::to_owned));
                    serve_http_conn(tls, reply, Arc::new(Mutex::new(Vec::new()))).await;
                }
            });
        }
    });
    TlsServer { addr, sni, task }
}

fn ssl_kind(sni: bool, digest: Option<String>) -> Kind {
    Kind::Http(HttpSpec {
        tls: true,
        sni,
        http10: false,
        virtualhost: Some("www.example.test".to_owned()),
        urls: vec![UrlSpec {
            path: "/".to_owned(),
            digest,
            status: vec![],
            virtualhost: None,
            regex: None,
        }],
    })
}

#[tokio::test]
async fn ssl_get_accepts_self_signed_and_checks_digest() {
    let srv = tls_server(Reply::Full(200, b"secure")).await;
    let o = check::run(&spec(
        srv.addr,
        3000,
        ssl_kind(false, Some(genhash(b"secure"))),
    ))
    .await;
    assert!(o.up, "{o:?}");
    let o = check::run(&spec(srv.addr, 3000, ssl_kind(false, Some(genhash(b"x"))))).await;
    assert!(matches!(o.reason, Reason::DigestMismatch { .. }), "{o:?}");
    // No SNI without enable_sni.
    assert_eq!(srv.sni.lock().unwrap().clone(), vec![None, None]);
}

#[tokio::test]
async fn ssl_get_sends_sni_when_enabled() {
    let srv = tls_server(Reply::Full(200, b"ok")).await;
    let o = check::run(&spec(srv.addr, 3000, ssl_kind(true, None))).await;
    assert!(o.up, "{o:?}");
    assert_eq!(
        srv.sni.lock().unwrap().clone(),
        vec![Some("www.example.test".to_owned())]
    );
}

#[tokio::test]
async fn ssl_get_against_plain_http_is_a_tls_error() {
    let srv = http_server(Reply::Full(200, b"plain")).await;
    let o = check::run(&spec(srv.addr, 3000, ssl_kind(false, None))).await;
    assert!(!o.up);
    assert!(matches!(o.reason, Reason::Tls(_)), "{:?}", o.reason);
    assert!(o.reason.to_string().starts_with("tls error"));
}

#[tokio::test]
async fn ssl_get_wrong_status() {
    let srv = tls_server(Reply::Full(500, b"")).await;
    let o = check::run(&spec(srv.addr, 3000, ssl_kind(false, None))).await;
    assert_eq!(o.reason, Reason::Status(500));
}

#[tokio::test]
async fn ssl_get_handshake_that_never_completes_times_out() {
    // Accepts, reads the ClientHello, never answers.
    let srv = http_server(Reply::Silent).await;
    let o = check::run(&spec(srv.addr, 300, ssl_kind(false, None))).await;
    assert_eq!((o.up, o.reason), (false, Reason::Timeout));
}
