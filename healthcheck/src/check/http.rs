//! HTTP_GET and SSL_GET.
//!
//! Every `url` is fetched on its own connection (as keepalived does), in
//! order; the check is up when every url answers with an accepted status
//! and, when `digest` is set, a body whose MD5 matches. One deadline,
//! `connect_timeout`, covers the whole attempt (connects, TLS handshakes,
//! requests and body reads of all urls): a server that dribbles its body
//! one byte at a time fails at the deadline, not after one timeout per read.
//!
//! TLS: keepalived does not verify the server certificate (it only checks
//! the handshake), so neither do we; the handshake signatures are still
//! verified so the peer must own the key of the certificate it sent. SNI is
//! sent only with `enable_sni`, using the virtualhost.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{header, Request, Version};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

use super::tcp;
use crate::outcome::{CheckOutcome, Reason};
use crate::spec::{CheckSpec, HttpSpec, UrlSpec};

/// How much of a body a `regex` looks at.
const MAX_REGEX_BODY: usize = 4 << 20;

/// keepalived's User-Agent.
const USER_AGENT: &str = "KeepAliveClient";

pub async fn check(spec: &CheckSpec, http: &HttpSpec) -> CheckOutcome {
    let start = Instant::now();
    let all = async {
        if http.urls.is_empty() {
            // keepalived requires at least one url; with none we still
            // check that the server answers on "/".
            let u = UrlSpec {
                path: "/".to_owned(),
                digest: None,
                status: Vec::new(),
                virtualhost: None,
                regex: None,
            };
            return fetch(spec, http, &u).await;
        }
        for u in &http.urls {
            fetch(spec, http, u).await?;
        }
        Ok(())
    };
    match crate::deadline::within(spec.connect_timeout, all).await {
        Ok(Ok(())) => CheckOutcome::up(Reason::Ok, start.elapsed()),
        Ok(Err(r)) => CheckOutcome::down(r, start.elapsed()),
        Err(_) => CheckOutcome::down(Reason::Timeout, start.elapsed()),
    }
}

/// The `Host` header: the url's virtualhost, else the checker's, else the
/// target address (with its port unless it is the scheme's default).
fn host_header(target: SocketAddr, tls: bool, vhost: Option<&str>) -> String {
    if let Some(v) = vhost {
        return v.to_owned();
    }
    let default_port = if tls { 443 } else { 80 };
    let ip = match target {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    if target.port() == default_port {
        ip
    } else {
        format!("{ip}:{}", target.port())
    }
}

async fn fetch(spec: &CheckSpec, http: &HttpSpec, url: &UrlSpec) -> Result<(), Reason> {
    let vhost = url.virtualhost.as_deref().or(http.virtualhost.as_deref());
    let host = host_header(spec.target, http.tls, vhost);
    let stream = tcp::connect(spec.target, &spec.local)
        .await
        .map_err(|e| Reason::from_io(&e))?;
    let _ = stream.set_nodelay(true);
    if http.tls {
        let name = match vhost.filter(|_| http.sni) {
            Some(v) => {
                // Strip a port the operator may have written in the vhost.
                let bare = v.rsplit_once(':').map(|(h, _)| h).unwrap_or(v);
                ServerName::try_from(bare.to_owned())
                    .map_err(|e| Reason::Tls(format!("invalid SNI name {bare}: {e}")))?
            }
            // rustls sends no SNI for an IP address name (RFC 6066 §3
            // forbids literal addresses in SNI).
            None => ServerName::IpAddress(spec.target.ip().into()),
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, stream)
            .await
            .map_err(|e| Reason::Tls(e.to_string()))?;
        exchange(tls, http, url, &host).await
    } else {
        exchange(stream, http, url, &host).await
    }
}

async fn exchange<S>(io: S, http: &HttpSpec, url: &UrlSpec, host: &str) -> Result<(), Reason>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| http_error(&e))?;
    // The connection future is polled here, not spawned, so that the socket
    // is closed the moment this attempt ends or is cancelled by the
    // deadline (and before the driver counts its place as free).
    let mut conn = std::pin::pin!(conn);
    let req = Request::get(url.path.as_str())
        .version(if http.http10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        })
        .header(header::HOST, host)
        .header(header::USER_AGENT, USER_AGENT)
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Reason::Http(format!("bad request for {}: {e}", url.path)))?;
    let work = async {
        let resp = sender.send_request(req).await.map_err(|e| http_error(&e))?;
        let status = resp.status().as_u16();
        if !url.accepts(status) {
            return Err(Reason::Status(status));
        }
        if url.digest.is_none() && url.regex.is_none() {
            return Ok(());
        }
        let regex = match &url.regex {
            Some(r) => Some((r, r.compile().map_err(Reason::Unsupported)?)),
            None => None,
        };
        let mut body = resp.into_body();
        let mut md5 = Md5::new();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| http_error(&e))?;
            if let Some(data) = frame.data_ref() {
                md5.update(data);
                if regex.is_some() && kept.len() < MAX_REGEX_BODY {
                    let room = MAX_REGEX_BODY - kept.len();
                    kept.extend_from_slice(data.get(..room).unwrap_or(data));
                }
            }
        }
        if let Some(expected) = &url.digest {
            let got = hex(&md5.finalize());
            if &got != expected {
                return Err(Reason::DigestMismatch {
                    expected: expected.clone(),
                    got,
                });
            }
        }
        if let Some((spec, re)) = regex {
            if !spec.passes(&re, &kept) {
                return Err(Reason::RegexMismatch {
                    no_match: spec.no_match,
                });
            }
        }
        Ok(())
    };
    let mut work = std::pin::pin!(work);
    tokio::select! {
        biased;
        r = &mut work => r,
        c = &mut conn => {
            // The connection ended first: what was received is buffered in
            // the response, so the request's own result decides; a
            // connection error explains a failure best.
            let r = work.await;
            match (r, c) {
                (Err(_), Err(e)) => Err(http_error(&e)),
                (r, _) => r,
            }
        }
    }
}

fn http_error(e: &hyper::Error) -> Reason {
    // Surface the underlying I/O error (refused, reset) when there is one.
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Reason::from_io(io);
        }
        src = s.source();
    }
    Reason::Http(e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 of `body` as keepalived's `genhash` prints it (lowercase hex).
pub fn genhash(body: &[u8]) -> String {
    hex(&Md5::digest(body))
}

/// The client configuration shared by every SSL_GET: ring provider, no
/// certificate verification (keepalived's default), SNI allowed.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Reason> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AcceptAnyCert(provider.clone()));
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| {
                    Arc::new(
                        b.dangerous()
                            .with_custom_certificate_verifier(verifier)
                            .with_no_client_auth(),
                    )
                })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Reason::Tls)
}

/// Accepts any server certificate, but checks the handshake signature
/// against the certificate's key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genhash_matches_md5_reference() {
        // RFC 1321 §A.5 test suite.
        assert_eq!(genhash(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(genhash(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn host_header_forms() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(host_header(a, false, None), "127.0.0.1");
        assert_eq!(host_header(a, true, None), "127.0.0.1:80");
        let b: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(host_header(b, false, None), "[::1]:8080");
        assert_eq!(host_header(b, false, Some("www.example")), "www.example");
    }
}
