//! What one check does, resolved from the `conf` model: the target address,
//! the kind-specific parameters and the timing policy. A [`CheckKey`] (spec
//! plus policy) is the full identity of a check: two real servers of
//! different virtual servers that need the same check share one run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use conf::model::{Checker, CheckerKind, DnsType, RealServer, TrackFile, Url};

/// keepalived's SMTP_CHECK default `helo_name`.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

/// The timing of a check (keepalived's parameters plus rise/fall).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    pub delay_loop: Duration,
    /// Extra attempts before one check counts as failed (keepalived `retry`:
    /// a check fails after `retry + 1` failed attempts).
    pub retry: u32,
    pub delay_before_retry: Duration,
    /// The first check runs at a random point in `[0, warmup]`.
    pub warmup: Duration,
    /// Start down until the first success (keepalived `alpha`).
    pub alpha: bool,
    /// Consecutive successful checks to go up (1 = keepalived).
    pub rise: u32,
    /// Consecutive failed checks (each after its retries) to go down
    /// (1 = keepalived).
    pub fall: u32,
}

impl Policy {
    pub fn from_checker(c: &Checker) -> Policy {
        Policy {
            delay_loop: c.delay_loop,
            retry: c.retry,
            delay_before_retry: c.delay_before_retry,
            warmup: c.warmup,
            alpha: c.alpha,
            rise: 1,
            fall: 1,
        }
    }
}

/// One check's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckSpec {
    /// Where to connect: `connect_ip`/`connect_port`, else the real
    /// server's address and port (port 0 when neither is written).
    pub target: SocketAddr,
    /// Local end: `bindto`/`bind_port`, `bind_if`, `fwmark`.
    pub local: Local,
    /// The single deadline of one attempt.
    pub connect_timeout: Duration,
    pub kind: Kind,
}

/// The local end of a check's socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Local {
    /// `bindto` / `bind_port`.
    pub addr: Option<SocketAddr>,
    /// `bind_if`: SO_BINDTODEVICE.
    pub interface: Option<String>,
    /// `fwmark`: SO_MARK, for policy routing of the check's packets.
    pub fwmark: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    Tcp,
    Http(HttpSpec),
    Smtp {
        helo: String,
        /// Extra `host { }` targets, checked in turn after `target`.
        extra: Vec<(SocketAddr, Local)>,
    },
    Dns {
        qtype: u16,
        name: String,
    },
    Misc(MiscSpec),
    Ping,
    Udp {
        payload: Vec<u8>,
        /// `None`: no reply needed (an ICMP error still fails the check);
        /// `Some(prefix)`: a reply is needed and must start with `prefix`.
        require_reply: Option<Vec<u8>>,
        min_len: Option<u16>,
        max_len: Option<u16>,
    },
    File(FileSpec),
    /// A checker this crate cannot run (BFD_CHECK, bad hex payload, ...):
    /// it always fails with the message, so nothing is silently "up".
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpSpec {
    pub tls: bool,
    /// Send the `Host`/virtualhost as TLS SNI (`enable_sni`).
    pub sni: bool,
    /// HTTP/1.0 (keepalived's default, and `1.0`, `1.0C`, `1.0K`), or
    /// HTTP/1.1 with `http_protocol 1.1`.
    pub http10: bool,
    /// The checker's effective virtualhost.
    pub virtualhost: Option<String>,
    pub urls: Vec<UrlSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlSpec {
    pub path: String,
    /// Lowercase hex MD5 of the body.
    pub digest: Option<String>,
    /// Accepted inclusive ranges; empty = 200-299.
    pub status: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    pub regex: Option<RegexSpec>,
}

/// `regex` of a url: the body must match (or, with `regex_no_match`, must
/// not match). Offsets bound where a match may start, as keepalived's
/// `regex_min_offset` / `regex_max_offset`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegexSpec {
    pub pattern: String,
    pub no_match: bool,
    /// keepalived/PCRE2 option names: caseless, multiline, dotall,
    /// extended, ungreedy are supported.
    pub options: Vec<String>,
    pub min_offset: Option<u64>,
    pub max_offset: Option<u64>,
}

impl RegexSpec {
    /// Compile with the options as inline flags.
    pub fn compile(&self) -> Result<regex::bytes::Regex, String> {
        let mut flags = String::new();
        for o in &self.options {
            flags.push(match o.as_str() {
                "caseless" => 'i',
                "multiline" => 'm',
                "dotall" => 's',
                "extended" => 'x',
                "ungreedy" => 'U',
                other => return Err(format!("regex option {other} is not supported")),
            });
        }
        let pattern = if flags.is_empty() {
            self.pattern.clone()
        } else {
            format!("(?{flags}){}", self.pattern)
        };
        regex::bytes::Regex::new(&pattern).map_err(|e| e.to_string())
    }

    /// Whether `body` passes.
    pub fn passes(&self, re: &regex::bytes::Regex, body: &[u8]) -> bool {
        let min = usize::try_from(self.min_offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let max = self
            .max_offset
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(usize::MAX);
        let found = re
            .find_iter(body.get(min..).unwrap_or_default())
            .any(|m| m.start() + min < max);
        found != self.no_match
    }
}

impl UrlSpec {
    pub fn from_url(u: &Url) -> UrlSpec {
        UrlSpec {
            path: if u.path.is_empty() {
                "/".to_owned()
            } else {
                u.path.clone()
            },
            digest: u.digest.as_ref().map(|d| d.to_ascii_lowercase()),
            status: u.status_code.iter().map(|r| (r.start, r.end)).collect(),
            virtualhost: u.virtualhost.clone(),
            regex: u.regex.as_ref().map(|pattern| RegexSpec {
                pattern: pattern.clone(),
                no_match: u.regex_no_match,
                options: u.regex_options.clone(),
                min_offset: u.regex_min_offset,
                max_offset: u.regex_max_offset,
            }),
        }
    }

    pub fn accepts(&self, code: u16) -> bool {
        if self.status.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.status.iter().any(|(a, b)| (*a..=*b).contains(&code))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MiscSpec {
    pub command: String,
    pub timeout: Duration,
    /// Exit codes 2..=255 set the weight to `code - 2`.
    pub dynamic: bool,
    pub user: Option<String>,
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileSpec {
    pub path: String,
    /// keepalived `weight`: 0 means "any non-zero value fails"; otherwise
    /// the real server's weight becomes `base_weight + value * weight`
    /// (negated with `reverse`).
    pub weight: i64,
    pub reverse: bool,
    /// The real server's configured weight.
    pub base_weight: i64,
}

impl MiscSpec {
    /// Apply keepalived's script rules from `global_defs` to this
    /// MISC_CHECK (`check_misc.c`, `misc_end_handler` and
    /// `check_misc_script_security`): without its own `user`, the script
    /// runs as `script_user [group]`, else as `keepalived_script` if that
    /// account exists; with `enable_script_security`, a script that would
    /// run as root and is writable by anyone else (the file or a directory
    /// above it) is refused, and so is every script when no default user
    /// can be found. keepalived then drops the checker; here the caller
    /// turns it into a check that always fails with the reason, so a real
    /// server is never kept up by a check that cannot run.
    pub fn apply_script_policy(
        &mut self,
        global: &conf::model::GlobalDefs,
    ) -> Result<(), crate::script::ScriptError> {
        use daemon::script::RunAs;
        if self.user.is_none() {
            match &global.script_user {
                Some(u) => {
                    self.user = Some(u.clone());
                    if self.group.is_none() {
                        self.group = global.script_group.clone();
                    }
                }
                None => {
                    if let Some(r) = RunAs::default_for(None, None, global.enable_script_security)?
                    {
                        self.user = Some(r.user);
                    }
                }
            }
        }
        if global.enable_script_security {
            crate::script::prepare(
                &self.command,
                &[],
                self.user.as_deref(),
                self.group.as_deref(),
                self.timeout,
            )?
            .check_secure()?;
        }
        Ok(())
    }
}

/// DNS query type number (RFC 1035 §3.2.2, RFC 3596 for AAAA).
pub fn dns_qtype(t: DnsType) -> u16 {
    match t {
        DnsType::A => 1,
        DnsType::Ns => 2,
        DnsType::Cname => 5,
        DnsType::Soa => 6,
        DnsType::Mx => 15,
        DnsType::Txt => 16,
        DnsType::Aaaa => 28,
    }
}

fn socket(ip: Option<IpAddr>, port: Option<u16>) -> Option<SocketAddr> {
    match (ip, port) {
        (None, None) => None,
        (ip, port) => Some(SocketAddr::new(
            ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port.unwrap_or(0),
        )),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(&s);
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl CheckSpec {
    /// Resolve `checker` of real server `rs`. `track_files` are the
    /// global `track_file` blocks FILE_CHECK refers to by name. The
    /// checker's delay_loop is the MISC_CHECK timeout default (keepalived:
    /// `misc_timeout` defaults to it).
    pub fn from_checker(rs: &RealServer, c: &Checker, track_files: &[TrackFile]) -> CheckSpec {
        // Without any port written, use the protocol's well-known one.
        let default_port = match c.kind {
            CheckerKind::HttpGet => 80,
            CheckerKind::SslGet => 443,
            CheckerKind::Smtp => 25,
            CheckerKind::Dns => 53,
            _ => 0,
        };
        let target = SocketAddr::new(
            c.connect_ip.unwrap_or(rs.ip),
            c.connect_port.or(rs.port).unwrap_or(default_port),
        );
        let local = Local {
            addr: socket(c.bindto, c.bind_port),
            interface: c.bind_if.clone(),
            fwmark: c.fwmark,
        };
        let kind = match c.kind {
            CheckerKind::Tcp => Kind::Tcp,
            CheckerKind::HttpGet | CheckerKind::SslGet => Kind::Http(HttpSpec {
                tls: c.kind == CheckerKind::SslGet,
                sni: c.enable_sni,
                // keepalived sends HTTP/1.0 unless `http_protocol 1.1`.
                http10: c.http_protocol.as_deref() != Some("1.1"),
                virtualhost: c.virtualhost.clone(),
                urls: c.url.iter().map(UrlSpec::from_url).collect(),
            }),
            CheckerKind::Smtp => Kind::Smtp {
                helo: c
                    .helo_name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_HELO.to_owned()),
                extra: c
                    .host
                    .iter()
                    .map(|h| {
                        (
                            SocketAddr::new(
                                h.connect_ip.unwrap_or(target.ip()),
                                h.connect_port.unwrap_or(target.port()),
                            ),
                            // keepalived: what a host block leaves out comes
                            // from the checker's own connection options.
                            Local {
                                addr: socket(h.bindto.or(c.bindto), h.bind_port.or(c.bind_port)),
                                interface: h.bind_if.clone().or_else(|| c.bind_if.clone()),
                                fwmark: h.fwmark.or(c.fwmark),
                            },
                        )
                    })
                    .collect(),
            },
            CheckerKind::Dns => Kind::Dns {
                qtype: dns_qtype(c.dns_type.unwrap_or_default()),
                name: c.name.clone().unwrap_or_else(|| ".".to_owned()),
            },
            CheckerKind::Misc => match &c.misc_path {
                Some(p) => Kind::Misc(MiscSpec {
                    command: p.clone(),
                    timeout: c.misc_timeout.unwrap_or(c.delay_loop),
                    dynamic: c.misc_dynamic,
                    user: c.user.clone(),
                    group: c.group.clone(),
                }),
                None => Kind::Unsupported("MISC_CHECK without misc_path".to_owned()),
            },
            CheckerKind::Ping => Kind::Ping,
            CheckerKind::Udp => {
                let payload = c.payload.as_deref().map(decode_hex);
                let reply = c.require_reply.as_deref().map(decode_hex);
                match (payload, reply) {
                    (Some(None), _) => Kind::Unsupported("UDP_CHECK payload is not hex".into()),
                    (_, Some(None)) => {
                        Kind::Unsupported("UDP_CHECK require_reply is not hex".into())
                    }
                    (p, r) => Kind::Udp {
                        payload: p.flatten().unwrap_or_default(),
                        require_reply: r.flatten(),
                        min_len: c.min_reply_length,
                        max_len: c.max_reply_length,
                    },
                }
            }
            CheckerKind::File => {
                match c
                    .track_file
                    .as_ref()
                    .map(|n| (n, track_files.iter().find(|t| &t.name == n)))
                {
                    // keepalived: the checker's own weight, if written and
                    // non-zero, overrides the track_file's.
                    Some((_, Some(tf))) => Kind::File(FileSpec {
                        path: tf.file.clone(),
                        weight: c.weight.filter(|w| *w != 0).unwrap_or(tf.weight),
                        reverse: if c.weight.is_some_and(|w| w != 0) {
                            c.reverse
                        } else {
                            tf.weight_reverse
                        },
                        base_weight: i64::from(rs.weight),
                    }),
                    Some((n, None)) => Kind::Unsupported(format!("track_file {n} not defined")),
                    None => Kind::Unsupported("FILE_CHECK without track_file".to_owned()),
                }
            }
            CheckerKind::Bfd => Kind::Unsupported("BFD_CHECK is not implemented".to_owned()),
        };
        CheckSpec {
            target,
            local,
            connect_timeout: c.connect_timeout,
            kind,
        }
    }
}

/// The full identity of a scheduled check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckKey {
    pub spec: CheckSpec,
    pub policy: Policy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_payloads() {
        assert_eq!(decode_hex("0a0B ff"), Some(vec![0x0a, 0x0b, 0xff]));
        assert_eq!(decode_hex("0x01"), Some(vec![1]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn regex_rules() {
        let r = |pattern: &str, options: &[&str], no_match, min, max| RegexSpec {
            pattern: pattern.into(),
            no_match,
            options: options.iter().map(|o| o.to_string()).collect(),
            min_offset: min,
            max_offset: max,
        };
        let pass = |s: RegexSpec, body: &[u8]| s.passes(&s.compile().unwrap(), body);
        assert!(pass(
            r("status: ok", &[], false, None, None),
            b"x status: ok"
        ));
        assert!(!pass(
            r("status: ok", &[], false, None, None),
            b"STATUS: OK"
        ));
        assert!(pass(
            r("status: ok", &["caseless"], false, None, None),
            b"STATUS: OK"
        ));
        assert!(!pass(r("error", &[], true, None, None), b"an error"));
        assert!(pass(r("error", &[], true, None, None), b"all fine"));
        // Offsets: a match must start in [min, max).
        assert!(!pass(r("ab", &[], false, Some(1), None), b"ab---"));
        assert!(pass(r("ab", &[], false, Some(1), None), b"ab-ab"));
        assert!(!pass(r("ab", &[], false, None, Some(3)), b"---ab"));
        assert!(r("x", &["auto_callout"], false, None, None)
            .compile()
            .is_err());
    }

    #[test]
    fn target_defaults_to_real_server() {
        let rs = RealServer {
            ip: "127.0.0.1".parse().unwrap(),
            port: Some(80),
            ..RealServer::default()
        };
        let mut c = Checker::new(CheckerKind::Tcp);
        assert_eq!(
            CheckSpec::from_checker(&rs, &c, &[]).target,
            "127.0.0.1:80".parse().unwrap()
        );
        c.connect_port = Some(8080);
        assert_eq!(
            CheckSpec::from_checker(&rs, &c, &[]).target,
            "127.0.0.1:8080".parse().unwrap()
        );
        let rs_no_port = RealServer {
            port: None,
            ..rs.clone()
        };
        let port = |k| {
            CheckSpec::from_checker(&rs_no_port, &Checker::new(k), &[])
                .target
                .port()
        };
        assert_eq!(port(CheckerKind::Smtp), 25);
        assert_eq!(port(CheckerKind::Dns), 53);
        assert_eq!(port(CheckerKind::SslGet), 443);
        assert_eq!(port(CheckerKind::Ping), 0);
        let mut h = Checker::new(CheckerKind::HttpGet);
        assert!(matches!(
            CheckSpec::from_checker(&rs, &h, &[]).kind,
            Kind::Http(HttpSpec { http10: true, .. })
        ));
        h.http_protocol = Some("1.1".into());
        assert!(matches!(
            CheckSpec::from_checker(&rs, &h, &[]).kind,
            Kind::Http(HttpSpec { http10: false, .. })
        ));
        let mut f = Checker::new(CheckerKind::File);
        f.track_file = Some("tf".into());
        let tf = TrackFile {
            name: "tf".into(),
            file: "/run/x".into(),
            weight: -3,
            ..TrackFile::default()
        };
        assert_eq!(
            CheckSpec::from_checker(&rs, &f, std::slice::from_ref(&tf)).kind,
            Kind::File(FileSpec {
                path: "/run/x".into(),
                weight: -3,
                reverse: false,
                base_weight: 1
            })
        );
        f.weight = Some(2);
        f.reverse = true;
        assert!(matches!(
            CheckSpec::from_checker(&rs, &f, &[tf]).kind,
            Kind::File(FileSpec {
                weight: 2,
                reverse: true,
                ..
            })
        ));
        let c = Checker::new(CheckerKind::Bfd);
        assert!(matches!(
            CheckSpec::from_checker(&rs, &c, &[]).kind,
            Kind::Unsupported(_)
        ));
    }
}
