//! From a `conf::Config` to running checks and pool events.
//!
//! ```text
//!  Config --Engine::from_config--> Checks<CheckerRef> + Vec<Pool>
//!
//!  driver::run (checks) --Update--> pool loop --PoolEvent--> events (mpsc)
//!                                   (Pool::handle_check)      -> sinks, vrrpd
//! ```
//!
//! The pools publish their initial state first (`Pool::start`), then every
//! change; on shutdown the `omega` hooks come last.
//!
//! [`Engine::stats`] hands out the checks' statistics before the engine is
//! moved into [`Engine::run`]; each check is named there by every
//! [`CheckerRef`] that uses it, with the virtual and real server names.

use std::future::Future;
use std::time::Instant;

use conf::Config;
use tokio::sync::{mpsc, oneshot};

use crate::driver::{self, Checks, Snapshot};
use crate::pool::{Pool, PoolEvent};
use crate::spec::{CheckKey, CheckSpec, Kind, Policy};
use crate::stats::{StatsHandle, Subscriber};

/// Which checker of which real server of which virtual server (indexes
/// into the configuration's lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckerRef {
    pub vs: usize,
    pub rs: usize,
    pub checker: usize,
}

pub struct Engine {
    pub checks: Checks<CheckerRef>,
    pub pools: Vec<Pool>,
    /// MISC_CHECK scripts refused by keepalived's script rules
    /// (`enable_script_security`, no default script user), with why. Each
    /// such check still runs, and always fails with that reason (see
    /// [`crate::spec::MiscSpec::apply_script_policy`]).
    pub refused: Vec<(CheckerRef, String)>,
}

impl Engine {
    /// Build the checks (deduplicated across virtual servers) and pools of
    /// `config`. `rise`/`fall` apply to every check (1/1 is keepalived's
    /// behaviour). `seed` drives the start-time spread.
    pub fn from_config(config: &Config, rise: u32, fall: u32, now: Instant, seed: u64) -> Engine {
        Self::from_config_with(config, rise, fall, now, seed, &Snapshot::new())
    }

    /// [`Engine::from_config`] for a reload: checks found in `previous`
    /// (the snapshot [`Engine::run`] returned) start in their old state,
    /// and so do the pools that use them.
    pub fn from_config_with(
        config: &Config,
        rise: u32,
        fall: u32,
        now: Instant,
        seed: u64,
        previous: &Snapshot,
    ) -> Engine {
        let mut checks = Checks::new(seed);
        let mut pools = Vec::with_capacity(config.virtual_servers.len());
        let mut refused = Vec::new();
        for (vi, vs) in config.virtual_servers.iter().enumerate() {
            let mut pool = Pool::from_config(vi, vs);
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                for (ci, c) in rs.checkers.iter().enumerate() {
                    let mut spec = CheckSpec::from_checker(rs, c, &config.track_files);
                    if let Kind::Misc(m) = &mut spec.kind {
                        if let Err(e) = m.apply_script_policy(&config.global_defs) {
                            let why = format!("MISC_CHECK script {} refused: {e}", m.command);
                            tracing::error!(
                                virtual_server = pool.name(),
                                real_server = pool.server_name(ri).unwrap_or_default(),
                                "{why}; the check fails until the configuration is fixed"
                            );
                            refused.push((
                                CheckerRef {
                                    vs: vi,
                                    rs: ri,
                                    checker: ci,
                                },
                                why.clone(),
                            ));
                            spec.kind = Kind::Unsupported(why);
                        }
                    }
                    let key = CheckKey {
                        spec,
                        policy: Policy {
                            rise: rise.max(1),
                            fall: fall.max(1),
                            ..Policy::from_checker(c)
                        },
                    };
                    let known = previous.get(&key).copied();
                    if let Some((up, weight)) = known {
                        // Before `start`, this only sets the initial state.
                        pool.handle_check(ri, ci, up, weight);
                    }
                    let id = checks.add_with(
                        key,
                        CheckerRef {
                            vs: vi,
                            rs: ri,
                            checker: ci,
                        },
                        now,
                        known,
                    );
                    checks.stats().add_subscriber(
                        id.0,
                        Subscriber {
                            vs: vi,
                            rs: ri,
                            checker: ci,
                            vs_name: pool.name().to_owned(),
                            rs_name: pool.server_name(ri).unwrap_or_default().to_owned(),
                        },
                    );
                }
            }
            pools.push(pool);
        }
        Engine {
            checks,
            pools,
            refused,
        }
    }

    /// The statistics of every check (see [`crate::stats`]); take it
    /// before [`Engine::run`], it stays valid while the engine runs and
    /// after it returns.
    pub fn stats(&self) -> StatsHandle {
        self.checks.stats()
    }

    /// Run until `shutdown`, sending every pool event to `events`. Returns
    /// the checks' final state, for [`Engine::from_config_with`].
    pub async fn run<F>(
        self,
        max_concurrent: usize,
        events: mpsc::Sender<PoolEvent>,
        shutdown: F,
    ) -> Snapshot
    where
        F: Future<Output = ()>,
    {
        let Engine {
            checks, mut pools, ..
        } = self;
        for p in &mut pools {
            for e in p.start() {
                if events.send(e).await.is_err() {
                    return checks.snapshot();
                }
            }
        }
        let (utx, mut urx) = mpsc::channel(1024);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let checks_done = driver::run(checks, max_concurrent, utx, async {
            let _ = stop_rx.await;
        });
        let pool_loop = async {
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    u = urx.recv() => {
                        let Some(u) = u else { break };
                        let u: driver::Update<CheckerRef> = u;
                        tracing::info!(up = u.change.up, reason = %u.change.reason,
                            subscribers = u.subscribers.len(), "check changed");
                        for r in &u.subscribers {
                            let Some(p) = pools.get_mut(r.vs) else { continue };
                            for e in p.handle_check(r.rs, r.checker, u.change.up, u.change.weight) {
                                if events.send(e).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            }
            let _ = stop_tx.send(());
            for p in &mut pools {
                for e in p.shutdown() {
                    if events.send(e).await.is_err() {
                        return;
                    }
                }
            }
        };
        let (checks, ()) = tokio::join!(checks_done, pool_loop);
        checks.snapshot()
    }
}
