//! Backend pools: the sans-IO state of one virtual server.
//!
//! A real server is alive when every one of its checkers is up (a real
//! server without checkers is always alive). Its effective weight is the
//! last weight a checker reported (MISC_CHECK `misc_dynamic`, FILE_CHECK),
//! else its configured weight. Changes come out as [`PoolEvent`]s, in this
//! order for one input: the server change, its notify script, then the
//! quorum change with its sorry-server switch and quorum script.
//!
//! keepalived semantics kept here:
//! - `inhibit_on_failure`: a dead server stays with weight 0
//!   ([`ServerChange::Weight`]`(0)`) instead of being removed;
//! - `alpha` (per checker, inherited from the virtual server): checkers
//!   start failed, so the server starts dead until its first success;
//! - quorum: the pool gains quorum when the sum of alive weights reaches
//!   `quorum + hysteresis` and loses it when that sum drops below
//!   `quorum - hysteresis` (or to 0); losing it switches the sorry server
//!   on and runs `quorum_down`, gaining it does the reverse;
//! - `omega`: on shutdown, run `quorum_down` and the `notify_down` of every
//!   alive server.

use std::net::{IpAddr, SocketAddr};

use conf::model::{Script, VirtualServer};
use serde::{Deserialize, Serialize};

/// A change of one real server in its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerChange {
    /// Put the server in service with this weight.
    Up { weight: u32 },
    /// Take it out of service.
    Down,
    /// Keep it, with a new weight (0 for an inhibited dead server).
    Weight(u32),
}

/// Why a script is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hook {
    NotifyUp,
    NotifyDown,
    QuorumUp,
    QuorumDown,
}

/// What pools emit. Serialisable so events can be logged, recorded and
/// replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolEvent {
    Server {
        vs: usize,
        rs: usize,
        change: ServerChange,
    },
    QuorumUp {
        vs: usize,
    },
    QuorumDown {
        vs: usize,
    },
    /// Put the sorry server in (`active`) or take it out.
    SorryServer {
        vs: usize,
        ip: IpAddr,
        port: Option<u16>,
        active: bool,
    },
    /// Run this script (a notify or quorum hook).
    RunScript {
        vs: usize,
        rs: Option<usize>,
        hook: Hook,
        script: Script,
    },
}

impl PoolEvent {
    /// The virtual server (index into the configuration) the event is about.
    pub fn vs(&self) -> usize {
        match self {
            PoolEvent::Server { vs, .. }
            | PoolEvent::QuorumUp { vs }
            | PoolEvent::QuorumDown { vs }
            | PoolEvent::SorryServer { vs, .. }
            | PoolEvent::RunScript { vs, .. } => *vs,
        }
    }
}

#[derive(Debug, Clone)]
struct Server {
    name: String,
    weight: u32,
    reported_weight: Option<u32>,
    checkers: Vec<bool>,
    inhibit: bool,
    notify_up: Option<Script>,
    notify_down: Option<Script>,
    /// What the sinks were last told.
    alive: bool,
    published_weight: u32,
}

impl Server {
    fn is_alive(&self) -> bool {
        self.checkers.iter().all(|up| *up)
    }

    fn effective_weight(&self) -> u32 {
        self.reported_weight.unwrap_or(self.weight)
    }
}

#[derive(Debug, Clone)]
pub struct Pool {
    vs: usize,
    name: String,
    quorum: u64,
    hysteresis: u64,
    quorum_up_script: Option<Script>,
    quorum_down_script: Option<Script>,
    sorry: Option<(IpAddr, Option<u16>)>,
    omega: bool,
    servers: Vec<Server>,
    quorum_up: bool,
    started: bool,
}

fn clamp_weight(w: i64) -> u32 {
    u32::try_from(w.max(0)).unwrap_or(u32::MAX)
}

impl Pool {
    /// The pool of virtual server number `vs` of the configuration.
    pub fn from_config(vs: usize, v: &VirtualServer) -> Pool {
        Pool {
            vs,
            name: v.describe(),
            quorum: u64::from(v.quorum),
            hysteresis: u64::from(v.hysteresis),
            quorum_up_script: v.quorum_up.clone(),
            quorum_down_script: v.quorum_down.clone(),
            sorry: v.sorry_server.as_ref().map(|s| (s.ip, s.port)),
            omega: v.omega,
            servers: v
                .real_servers
                .iter()
                .map(|r| Server {
                    name: match r.port {
                        Some(p) => SocketAddr::new(r.ip, p).to_string(),
                        None => r.ip.to_string(),
                    },
                    weight: clamp_weight(i64::from(r.weight)),
                    reported_weight: None,
                    checkers: r.checkers.iter().map(|c| !c.alpha).collect(),
                    inhibit: r.inhibit_on_failure,
                    notify_up: r.notify_up.clone(),
                    notify_down: r.notify_down.clone(),
                    alive: false,
                    published_weight: 0,
                })
                .collect(),
            quorum_up: false,
            started: false,
        }
    }

    pub fn vs(&self) -> usize {
        self.vs
    }

    /// `10.0.0.1:80` (see `VirtualServer::describe`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn server_name(&self, rs: usize) -> Option<&str> {
        self.servers.get(rs).map(|s| s.name.as_str())
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn is_quorum_up(&self) -> bool {
        self.quorum_up
    }

    /// Whether real server `rs` is in service (alive), as last published.
    pub fn is_server_up(&self, rs: usize) -> Option<bool> {
        self.servers.get(rs).map(|s| s.alive)
    }

    /// Every real server as last published: (name, alive, weight), for
    /// status output.
    pub fn servers(&self) -> Vec<(String, bool, u32)> {
        self.servers
            .iter()
            .map(|s| (s.name.clone(), s.alive, s.published_weight))
            .collect()
    }

    /// Sum of the weights of alive servers.
    pub fn alive_weight(&self) -> u64 {
        self.servers
            .iter()
            .filter(|s| s.alive)
            .map(|s| u64::from(s.published_weight))
            .sum()
    }

    /// Publish the initial state: every server (Up, Down, or Weight(0) when
    /// inhibited), then QuorumUp or QuorumDown (with the sorry server when
    /// down). Scripts are not run for the initial state.
    pub fn start(&mut self) -> Vec<PoolEvent> {
        let mut ev = Vec::new();
        for (rs, s) in self.servers.iter_mut().enumerate() {
            s.alive = s.is_alive();
            let change = if s.alive {
                s.published_weight = s.effective_weight();
                ServerChange::Up {
                    weight: s.published_weight,
                }
            } else if s.inhibit {
                s.published_weight = 0;
                ServerChange::Weight(0)
            } else {
                s.published_weight = 0;
                ServerChange::Down
            };
            ev.push(PoolEvent::Server {
                vs: self.vs,
                rs,
                change,
            });
        }
        self.quorum_up = self.alive_weight() >= self.quorum;
        self.started = true;
        if self.quorum_up {
            ev.push(PoolEvent::QuorumUp { vs: self.vs });
        } else {
            ev.push(PoolEvent::QuorumDown { vs: self.vs });
            if let Some((ip, port)) = self.sorry {
                ev.push(PoolEvent::SorryServer {
                    vs: self.vs,
                    ip,
                    port,
                    active: true,
                });
            }
        }
        ev
    }

    /// A checker of real server `rs` changed health (or reported a new
    /// weight while up).
    pub fn handle_check(
        &mut self,
        rs: usize,
        checker: usize,
        up: bool,
        weight: Option<i64>,
    ) -> Vec<PoolEvent> {
        let mut ev = Vec::new();
        let vs = self.vs;
        let Some(s) = self.servers.get_mut(rs) else {
            return ev;
        };
        let Some(slot) = s.checkers.get_mut(checker) else {
            return ev;
        };
        *slot = up;
        if up {
            if let Some(w) = weight {
                s.reported_weight = Some(clamp_weight(w));
            }
        }
        if !self.started {
            return ev;
        }
        let alive = s.is_alive();
        let weight = s.effective_weight();
        match (s.alive, alive) {
            (false, true) => {
                s.alive = true;
                s.published_weight = weight;
                ev.push(PoolEvent::Server {
                    vs,
                    rs,
                    change: ServerChange::Up { weight },
                });
                if let Some(script) = s.notify_up.clone() {
                    ev.push(PoolEvent::RunScript {
                        vs,
                        rs: Some(rs),
                        hook: Hook::NotifyUp,
                        script,
                    });
                }
            }
            (true, false) => {
                s.alive = false;
                s.published_weight = 0;
                let change = if s.inhibit {
                    ServerChange::Weight(0)
                } else {
                    ServerChange::Down
                };
                ev.push(PoolEvent::Server { vs, rs, change });
                if let Some(script) = s.notify_down.clone() {
                    ev.push(PoolEvent::RunScript {
                        vs,
                        rs: Some(rs),
                        hook: Hook::NotifyDown,
                        script,
                    });
                }
            }
            (true, true) if weight != s.published_weight => {
                s.published_weight = weight;
                ev.push(PoolEvent::Server {
                    vs,
                    rs,
                    change: ServerChange::Weight(weight),
                });
            }
            _ => {}
        }
        self.update_quorum(&mut ev);
        ev
    }

    fn update_quorum(&mut self, ev: &mut Vec<PoolEvent>) {
        let sum = self.alive_weight();
        let vs = self.vs;
        if !self.quorum_up && sum >= self.quorum.saturating_add(self.hysteresis) {
            self.quorum_up = true;
            ev.push(PoolEvent::QuorumUp { vs });
            if let Some((ip, port)) = self.sorry {
                ev.push(PoolEvent::SorryServer {
                    vs,
                    ip,
                    port,
                    active: false,
                });
            }
            if let Some(script) = self.quorum_up_script.clone() {
                ev.push(PoolEvent::RunScript {
                    vs,
                    rs: None,
                    hook: Hook::QuorumUp,
                    script,
                });
            }
        } else if self.quorum_up && (sum == 0 || sum < self.quorum.saturating_sub(self.hysteresis))
        {
            self.quorum_up = false;
            ev.push(PoolEvent::QuorumDown { vs });
            if let Some((ip, port)) = self.sorry {
                ev.push(PoolEvent::SorryServer {
                    vs,
                    ip,
                    port,
                    active: true,
                });
            }
            if let Some(script) = self.quorum_down_script.clone() {
                ev.push(PoolEvent::RunScript {
                    vs,
                    rs: None,
                    hook: Hook::QuorumDown,
                    script,
                });
            }
        }
    }

    /// The daemon stops: with `omega`, run `notify_down` of every alive
    /// server and `quorum_down` if the quorum was up.
    pub fn shutdown(&mut self) -> Vec<PoolEvent> {
        let mut ev = Vec::new();
        if !self.omega {
            return ev;
        }
        for (rs, s) in self.servers.iter().enumerate() {
            if let (true, Some(script)) = (s.alive, &s.notify_down) {
                ev.push(PoolEvent::RunScript {
                    vs: self.vs,
                    rs: Some(rs),
                    hook: Hook::NotifyDown,
                    script: script.clone(),
                });
            }
        }
        if let (true, Some(script)) = (self.quorum_up, &self.quorum_down_script) {
            ev.push(PoolEvent::RunScript {
                vs: self.vs,
                rs: None,
                hook: Hook::QuorumDown,
                script: script.clone(),
            });
        }
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::model::{Checker, CheckerKind, RealServer, SorryServer};

    fn rs(last: u8, weight: i32, checkers: usize, alpha: bool) -> RealServer {
        let mut c = Checker::new(CheckerKind::Tcp);
        c.alpha = alpha;
        RealServer {
            ip: IpAddr::from([192, 0, 2, last]),
            port: Some(80),
            weight,
            checkers: vec![c; checkers],
            notify_up: Some(Script::new(format!("/bin/up {last}"))),
            notify_down: Some(Script::new(format!("/bin/down {last}"))),
            ..RealServer::default()
        }
    }

    fn vs(servers: Vec<RealServer>, quorum: u32, hysteresis: u32) -> VirtualServer {
        VirtualServer {
            ip: Some(IpAddr::from([192, 0, 2, 100])),
            port: Some(80),
            quorum,
            hysteresis,
            sorry_server: Some(SorryServer {
                ip: IpAddr::from([192, 0, 2, 200]),
                port: Some(80),
                inhibit: false,
                lvs_method: None,
            }),
            quorum_up: Some(Script::new("/bin/qup")),
            quorum_down: Some(Script::new("/bin/qdown")),
            real_servers: servers,
            ..VirtualServer::default()
        }
    }

    fn server(rs: usize, change: ServerChange) -> PoolEvent {
        PoolEvent::Server { vs: 0, rs, change }
    }

    fn quorum_events(ev: &[PoolEvent]) -> Vec<&PoolEvent> {
        ev.iter()
            .filter(|e| matches!(e, PoolEvent::QuorumUp { .. } | PoolEvent::QuorumDown { .. }))
            .collect()
    }

    #[test]
    fn start_publishes_everything() {
        let mut p = Pool::from_config(0, &vs(vec![rs(1, 3, 1, false), rs(2, 2, 1, true)], 1, 0));
        let ev = p.start();
        assert_eq!(
            ev,
            vec![
                server(0, ServerChange::Up { weight: 3 }),
                server(1, ServerChange::Down),
                PoolEvent::QuorumUp { vs: 0 },
            ]
        );
        assert_eq!(p.alive_weight(), 3);
        assert_eq!(
            p.servers(),
            vec![
                ("192.0.2.1:80".to_owned(), true, 3),
                ("192.0.2.2:80".to_owned(), false, 0)
            ]
        );
    }

    #[test]
    fn alpha_everywhere_starts_without_quorum_and_with_sorry_server() {
        let mut p = Pool::from_config(0, &vs(vec![rs(1, 1, 1, true)], 1, 0));
        let ev = p.start();
        assert!(ev.contains(&PoolEvent::QuorumDown { vs: 0 }));
        assert!(ev.contains(&PoolEvent::SorryServer {
            vs: 0,
            ip: IpAddr::from([192, 0, 2, 200]),
            port: Some(80),
            active: true
        }));
        // First success: server up, quorum up, sorry server out, scripts.
        let ev = p.handle_check(0, 0, true, None);
        assert_eq!(ev[0], server(0, ServerChange::Up { weight: 1 }));
        assert!(
            matches!(&ev[1], PoolEvent::RunScript { hook: Hook::NotifyUp, script, .. } if script.command == "/bin/up 1")
        );
        assert_eq!(ev[2], PoolEvent::QuorumUp { vs: 0 });
        assert!(matches!(
            ev[3],
            PoolEvent::SorryServer { active: false, .. }
        ));
        assert!(matches!(
            &ev[4],
            PoolEvent::RunScript {
                hook: Hook::QuorumUp,
                ..
            }
        ));
    }

    #[test]
    fn server_needs_all_its_checkers() {
        let mut p = Pool::from_config(0, &vs(vec![rs(1, 1, 2, false)], 1, 0));
        p.start();
        let ev = p.handle_check(0, 1, false, None);
        assert_eq!(ev[0], server(0, ServerChange::Down));
        // One of two checkers back: still down.
        assert!(p.handle_check(0, 0, true, None).is_empty());
        assert_eq!(p.is_server_up(0), Some(false));
        let ev = p.handle_check(0, 1, true, None);
        assert_eq!(ev[0], server(0, ServerChange::Up { weight: 1 }));
    }

    #[test]
    fn inhibit_on_failure_sets_weight_zero() {
        let mut r = rs(1, 5, 1, false);
        r.inhibit_on_failure = true;
        let mut p = Pool::from_config(0, &vs(vec![r, rs(2, 5, 1, false)], 1, 0));
        p.start();
        let ev = p.handle_check(0, 0, false, None);
        assert_eq!(ev[0], server(0, ServerChange::Weight(0)));
        let ev = p.handle_check(0, 0, true, None);
        assert_eq!(ev[0], server(0, ServerChange::Up { weight: 5 }));
    }

    #[test]
    fn dynamic_weight_changes() {
        let mut p = Pool::from_config(0, &vs(vec![rs(1, 5, 1, false)], 1, 0));
        p.start();
        let ev = p.handle_check(0, 0, true, Some(9));
        assert_eq!(ev, vec![server(0, ServerChange::Weight(9))]);
        assert_eq!(p.alive_weight(), 9);
        // A dynamic weight of 0 keeps the server but loses the quorum.
        let ev = p.handle_check(0, 0, true, Some(0));
        assert_eq!(ev[0], server(0, ServerChange::Weight(0)));
        assert_eq!(quorum_events(&ev), vec![&PoolEvent::QuorumDown { vs: 0 }]);
    }

    #[test]
    fn quorum_with_hysteresis() {
        // Four servers of weight 1, quorum 3, hysteresis 1: up at >= 4,
        // down below 2.
        let servers = (1..=4).map(|i| rs(i, 1, 1, true)).collect();
        let mut p = Pool::from_config(0, &vs(servers, 3, 1));
        p.start();
        assert!(!p.is_quorum_up());
        for i in 0..3 {
            assert!(quorum_events(&p.handle_check(i, 0, true, None)).is_empty());
        }
        assert!(!p.is_quorum_up(), "3 < quorum + hysteresis");
        let ev = p.handle_check(3, 0, true, None);
        assert_eq!(quorum_events(&ev), vec![&PoolEvent::QuorumUp { vs: 0 }]);
        // Down to 2: still >= quorum - hysteresis.
        assert!(quorum_events(&p.handle_check(0, 0, false, None)).is_empty());
        assert!(quorum_events(&p.handle_check(1, 0, false, None)).is_empty());
        assert!(p.is_quorum_up());
        // Down to 1: below 2, quorum lost, sorry server in.
        let ev = p.handle_check(2, 0, false, None);
        assert_eq!(quorum_events(&ev), vec![&PoolEvent::QuorumDown { vs: 0 }]);
        assert!(ev
            .iter()
            .any(|e| matches!(e, PoolEvent::SorryServer { active: true, .. })));
        assert!(ev.iter().any(|e| matches!(
            e,
            PoolEvent::RunScript {
                hook: Hook::QuorumDown,
                ..
            }
        )));
        // Flapping one server between 1 and 2 alive: no quorum event.
        for _ in 0..5 {
            assert!(quorum_events(&p.handle_check(2, 0, true, None)).is_empty());
            assert!(quorum_events(&p.handle_check(2, 0, false, None)).is_empty());
        }
    }

    #[test]
    fn omega_runs_down_scripts_on_shutdown() {
        let mut v = vs(vec![rs(1, 1, 1, false), rs(2, 1, 1, true)], 1, 0);
        let mut p = Pool::from_config(0, &v);
        p.start();
        assert!(p.shutdown().is_empty(), "no omega, no scripts");
        v.omega = true;
        let mut p = Pool::from_config(0, &v);
        p.start();
        let ev = p.shutdown();
        assert_eq!(ev.len(), 2);
        assert!(matches!(
            &ev[0],
            PoolEvent::RunScript {
                rs: Some(0),
                hook: Hook::NotifyDown,
                ..
            }
        ));
        assert!(matches!(
            &ev[1],
            PoolEvent::RunScript {
                rs: None,
                hook: Hook::QuorumDown,
                ..
            }
        ));
    }

    #[test]
    fn events_round_trip_through_json() {
        let ev = vec![
            server(1, ServerChange::Up { weight: 3 }),
            PoolEvent::SorryServer {
                vs: 0,
                ip: IpAddr::from([192, 0, 2, 200]),
                port: None,
                active: true,
            },
            PoolEvent::RunScript {
                vs: 0,
                rs: None,
                hook: Hook::QuorumDown,
                script: Script::new("/bin/qdown"),
            },
        ];
        let text = serde_json::to_string(&ev).unwrap();
        let back: Vec<PoolEvent> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn server_without_checkers_is_always_up() {
        let mut p = Pool::from_config(0, &vs(vec![rs(1, 2, 0, true)], 1, 0));
        let ev = p.start();
        assert_eq!(ev[0], server(0, ServerChange::Up { weight: 2 }));
    }
}
