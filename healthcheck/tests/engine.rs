#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use healthcheck::engine::Engine;
use healthcheck::pool::{PoolEvent, ServerChange};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

fn config(port: u16) -> conf::Config {
    // Two virtual servers share one real server: one check must serve both.
    let text = format!(
        r#"
virtual_server 192.0.2.10 80 {{
    delay_loop 0.2
    real_server 127.0.0.1 {port} {{
        weight 2
        TCP_CHECK {{
            connect_timeout 1
            retry 0
            warmup 0
        }}
    }}
}}
virtual_server 192.0.2.11 80 {{
    delay_loop 0.2
    real_server 127.0.0.1 {port} {{
        weight 3
        TCP_CHECK {{
            connect_timeout 1
            retry 0
            warmup 0
        }}
    }}
}}
"#
    );
    let loaded = conf::load_keepalived_str("test.conf", &text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    loaded.config
}

async fn next(rx: &mut mpsc::Receiver<PoolEvent>) -> PoolEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no pool event within 10 s")
        .unwrap()
}

#[tokio::test]
async fn shared_real_server_is_checked_once_and_drives_both_pools() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let engine = Engine::from_config(&config(port), 1, 1, Instant::now(), 42);
    assert_eq!(engine.checks.len(), 1, "deduplicated");
    let (_, spec, subscribers, up) = engine.checks.iter().next().unwrap();
    assert_eq!(spec.target.port(), port);
    assert_eq!(
        subscribers.len(),
        2,
        "one check serves both virtual servers"
    );
    assert_eq!(up, Some(true));
    assert_eq!(engine.pools.len(), 2);
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(engine.run(16, tx, async {
        let _ = stopped.await;
    }));

    let mut initial = Vec::new();
    for _ in 0..4 {
        initial.push(next(&mut rx).await);
    }
    assert_eq!(
        initial,
        vec![
            PoolEvent::Server {
                vs: 0,
                rs: 0,
                change: ServerChange::Up { weight: 2 }
            },
            PoolEvent::QuorumUp { vs: 0 },
            PoolEvent::Server {
                vs: 1,
                rs: 0,
                change: ServerChange::Up { weight: 3 }
            },
            PoolEvent::QuorumUp { vs: 1 },
        ]
    );

    // The server goes away: both pools lose it and their quorum.
    drop(l);
    let mut down = Vec::new();
    for _ in 0..4 {
        down.push(next(&mut rx).await);
    }
    assert_eq!(
        down,
        vec![
            PoolEvent::Server {
                vs: 0,
                rs: 0,
                change: ServerChange::Down
            },
            PoolEvent::QuorumDown { vs: 0 },
            PoolEvent::Server {
                vs: 1,
                rs: 0,
                change: ServerChange::Down
            },
            PoolEvent::QuorumDown { vs: 1 },
        ]
    );

    // It comes back.
    let _l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let up = next(&mut rx).await;
    assert_eq!(
        up,
        PoolEvent::Server {
            vs: 0,
            rs: 0,
            change: ServerChange::Up { weight: 2 }
        }
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn reload_carries_check_state_so_dead_servers_do_not_flap() {
    // A port nobody listens on: the server is found dead once running.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = config(port);
    let engine = Engine::from_config(&cfg, 1, 1, Instant::now(), 1);
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(engine.run(16, tx, async {
        let _ = stopped.await;
    }));
    // Up at start (no alpha), then down after the first check.
    let mut seen = Vec::new();
    while !seen.contains(&PoolEvent::QuorumDown { vs: 1 }) {
        seen.push(next(&mut rx).await);
    }
    assert!(seen.contains(&PoolEvent::Server {
        vs: 0,
        rs: 0,
        change: ServerChange::Down
    }));
    stop.send(()).unwrap();
    let snapshot = task.await.unwrap();
    assert_eq!(snapshot.len(), 1);
    assert!(snapshot.values().all(|(up, _)| !up));

    // Same configuration again: the pools start with the server down.
    let mut engine = Engine::from_config_with(&cfg, 1, 1, Instant::now(), 2, &snapshot);
    let start: Vec<PoolEvent> = engine.pools.iter_mut().flat_map(|p| p.start()).collect();
    assert_eq!(
        start,
        vec![
            PoolEvent::Server {
                vs: 0,
                rs: 0,
                change: ServerChange::Down
            },
            PoolEvent::QuorumDown { vs: 0 },
            PoolEvent::Server {
                vs: 1,
                rs: 0,
                change: ServerChange::Down
            },
            PoolEvent::QuorumDown { vs: 1 },
        ]
    );
    assert_eq!(
        engine.checks.snapshot(),
        snapshot,
        "the check itself starts down too"
    );
}
