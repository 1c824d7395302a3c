#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conf::model::Script;
use healthcheck::pool::{Hook, PoolEvent, ServerChange};
use healthcheck::sink::{
    self, ChannelSink, HaproxySink, HookSink, ScriptSink, Sink, SinkError, StatsAddr,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A fake HAProxy stats socket: records each command; answers with an
/// empty line, or "No such server." for servers named `ghost`.
async fn fake_stats(
    path: &std::path::Path,
) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let l = tokio::net::UnixListener::bind(path).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (rd, mut wr) = s.into_split();
            let mut line = String::new();
            BufReader::new(rd).read_line(&mut line).await.unwrap();
            let cmd = line.trim_end().to_owned();
            let reply = if cmd.contains("/ghost") {
                "No such server.\n\n"
            } else {
                "\n"
            };
            rec.lock().unwrap().push(cmd);
            wr.write_all(reply.as_bytes()).await.unwrap();
            // Non-interactive mode: close after one answer.
        }
    });
    (seen, task)
}

fn ev(rs: usize, change: ServerChange) -> PoolEvent {
    PoolEvent::Server { vs: 0, rs, change }
}

#[tokio::test]
async fn haproxy_sink_sends_runtime_api_commands() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("stats.sock");
    let (seen, task) = fake_stats(&path).await;
    let mut sink = HaproxySink::new(StatsAddr::Unix(path));
    sink.map(0, 0, "be_web", "web1")
        .map(0, 1, "be_web", "ghost")
        .map_sorry(0, "be_web", "sorry");

    sink.apply(&ev(0, ServerChange::Up { weight: 300 }))
        .await
        .unwrap();
    sink.apply(&ev(0, ServerChange::Weight(7))).await.unwrap();
    sink.apply(&ev(0, ServerChange::Down)).await.unwrap();
    sink.apply(&PoolEvent::SorryServer {
        vs: 0,
        ip: IpAddr::from([192, 0, 2, 200]),
        port: Some(80),
        active: true,
    })
    .await
    .unwrap();
    // Unmapped server and non-HAProxy events: nothing sent.
    sink.apply(&ev(5, ServerChange::Down)).await.unwrap();
    sink.apply(&PoolEvent::QuorumDown { vs: 0 }).await.unwrap();
    // HAProxy's error text comes back as an error.
    let err = sink.apply(&ev(1, ServerChange::Down)).await.unwrap_err();
    assert!(
        matches!(&err, SinkError::Rejected { reply, .. } if reply == "No such server."),
        "{err}"
    );

    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![
            "set server be_web/web1 weight 256",
            "set server be_web/web1 state ready",
            "set server be_web/web1 weight 7",
            "set server be_web/web1 state maint",
            "set server be_web/sorry state ready",
            "set server be_web/ghost state maint",
        ]
    );
    task.abort();
}

#[tokio::test]
async fn haproxy_sink_reports_a_missing_socket() {
    let d = tempfile::tempdir().unwrap();
    let mut sink = HaproxySink::new(StatsAddr::Unix(d.path().join("absent.sock")));
    sink.map(0, 0, "b", "s");
    let err = sink.apply(&ev(0, ServerChange::Down)).await.unwrap_err();
    assert!(matches!(err, SinkError::Io { .. }), "{err}");
}

#[tokio::test]
async fn haproxy_sink_over_tcp() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (rd, mut wr) = s.into_split();
        let mut line = String::new();
        BufReader::new(rd).read_line(&mut line).await.unwrap();
        wr.write_all(b"\n").await.unwrap();
        line
    });
    let mut sink = HaproxySink::new(StatsAddr::Tcp(addr));
    sink.map(0, 0, "b", "s");
    sink.apply(&ev(0, ServerChange::Weight(3))).await.unwrap();
    assert_eq!(task.await.unwrap(), "set server b/s weight 3\n");
}

fn recorder(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let log = dir.join("calls.log");
    let script = dir.join("record.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script.display().to_string(), log)
}

#[tokio::test]
async fn script_sink_runs_command_with_event_arguments() {
    let d = tempfile::tempdir().unwrap();
    let (cmd, log) = recorder(d.path());
    let text = r#"
virtual_server 192.0.2.10 80 {
    real_server 192.0.2.1 8080 {
        TCP_CHECK {
        }
    }
}
"#;
    let loaded = conf::load_keepalived_str("t.conf", text, &conf::ParseOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.diagnostics);
    let pools = vec![healthcheck::pool::Pool::from_config(
        0,
        &loaded.config.virtual_servers[0],
    )];
    let mut sink = ScriptSink::new(&cmd, &pools, Duration::from_secs(5));
    sink.apply(&ev(0, ServerChange::Up { weight: 4 }))
        .await
        .unwrap();
    sink.apply(&ev(0, ServerChange::Down)).await.unwrap();
    sink.apply(&PoolEvent::QuorumDown { vs: 0 }).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "up 192.0.2.10:80 192.0.2.1:8080 4\ndown 192.0.2.10:80 192.0.2.1:8080\nquorum-down 192.0.2.10:80\n"
    );
}

#[tokio::test]
async fn hook_sink_runs_notify_scripts() {
    let d = tempfile::tempdir().unwrap();
    let (cmd, log) = recorder(d.path());
    let mut sink = HookSink::new(Duration::from_secs(5));
    sink.apply(&PoolEvent::RunScript {
        vs: 0,
        rs: Some(0),
        hook: Hook::NotifyUp,
        script: Script::new(format!("{cmd} 'server up'")),
    })
    .await
    .unwrap();
    // Server events are not for this sink.
    sink.apply(&ev(0, ServerChange::Down)).await.unwrap();
    let failing = PoolEvent::RunScript {
        vs: 0,
        rs: None,
        hook: Hook::QuorumDown,
        script: Script::new("/bin/false"),
    };
    let err = sink.apply(&failing).await.unwrap_err();
    assert_eq!(err.to_string(), "script `/bin/false` failed: exit 1");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "server up\n");
}

#[tokio::test]
async fn dispatch_feeds_every_sink_and_survives_a_failing_one() {
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(8);
    let (quorum_tx, mut quorum_rx) = tokio::sync::mpsc::channel(8);
    let d = tempfile::tempdir().unwrap();
    // A HAProxy sink whose socket does not exist fails on every event.
    let mut broken = HaproxySink::new(StatsAddr::Unix(d.path().join("absent.sock")));
    broken.map(0, 0, "b", "s");
    let task = tokio::spawn(sink::dispatch(
        events_rx,
        vec![
            Box::new(broken),
            Box::new(ChannelSink::new(quorum_tx, ChannelSink::quorum_only)),
        ],
    ));
    events_tx.send(ev(0, ServerChange::Down)).await.unwrap();
    events_tx
        .send(PoolEvent::QuorumDown { vs: 0 })
        .await
        .unwrap();
    events_tx.send(PoolEvent::QuorumUp { vs: 0 }).await.unwrap();
    drop(events_tx);
    task.await.unwrap();
    assert_eq!(
        quorum_rx.recv().await,
        Some(PoolEvent::QuorumDown { vs: 0 })
    );
    assert_eq!(quorum_rx.recv().await, Some(PoolEvent::QuorumUp { vs: 0 }));
    assert_eq!(quorum_rx.recv().await, None);
}

/// A sink that never finishes its first event.
struct Stuck;

impl Sink for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }

    fn apply<'a>(&'a mut self, _event: &'a PoolEvent) -> sink::SinkFuture<'a> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_stuck_sink_does_not_hold_back_the_others() {
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(2);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(16);
    let task = tokio::spawn(sink::dispatch(
        events_rx,
        vec![
            Box::new(Stuck),
            Box::new(ChannelSink::new(out_tx, |_| true)),
        ],
    ));
    // More events than the input channel holds: the dispatcher keeps
    // reading although one sink is stuck.
    for rs in 0..6 {
        events_tx.send(ev(rs, ServerChange::Down)).await.unwrap();
    }
    for rs in 0..6 {
        assert_eq!(out_rx.recv().await, Some(ev(rs, ServerChange::Down)));
    }
    task.abort();
}
