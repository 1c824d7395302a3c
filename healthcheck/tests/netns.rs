#![allow(clippy::unwrap_used)]
//! Checks against addresses that never answer, inside a private network
//! namespace: the test thread unshares its own namespace (it has no name
//! and disappears with the thread, even on panic), sets up
//! `veth0 192.0.2.2/24 <-> veth1 (no address)`, and probes 192.0.2.1,
//! which nobody owns: ARP goes unanswered, so connects and pings time out.

mod common;

use std::process::Command;

use healthcheck::check;
use healthcheck::spec::{Kind, Local};
use healthcheck::Reason;

fn ip(args: &str) {
    let st = Command::new("ip").args(args.split(' ')).status().unwrap();
    assert!(st.success(), "ip {args}");
}

/// Run `f` on a thread in a fresh network namespace with a tokio runtime.
fn in_netns<F, Fut>(name: &str, f: F) -> bool
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name}: CI=true but not root: network namespaces need root");
        }
        eprintln!("SKIPPED {name}: needs root for a network namespace");
        return false;
    }
    std::thread::spawn(move || {
        // Only this thread (and the processes it forks) moves.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        ip("link set lo up");
        ip("link add veth0 type veth peer name veth1");
        ip("addr add 192.0.2.2/24 dev veth0");
        ip("link set veth0 up");
        ip("link set veth1 up");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    })
    .join()
    .unwrap();
    true
}

#[test]
fn silent_address_times_out_for_tcp_ping_and_http() {
    in_netns("silent_address_times_out", || async {
        let target = "192.0.2.1:80".parse().unwrap();
        let o = check::run(&common::spec(target, 300, Kind::Tcp)).await;
        assert_eq!((o.up, o.reason), (false, Reason::Timeout));
        let o = check::run(&common::spec(target, 300, Kind::Ping)).await;
        assert_eq!((o.up, o.reason), (false, Reason::Timeout));
        let o = check::run(&common::spec(
            target,
            300,
            common::http_kind(false, "/", None, vec![]),
        ))
        .await;
        assert_eq!((o.up, o.reason), (false, Reason::Timeout));
    });
}

#[test]
fn no_route_is_unreachable() {
    in_netns("no_route_is_unreachable", || async {
        // 198.51.100.0/24 has no route in the namespace.
        let target = "198.51.100.1:80".parse().unwrap();
        let o = check::run(&common::spec(target, 1000, Kind::Tcp)).await;
        assert_eq!((o.up, o.reason), (false, Reason::Unreachable));
        let o = check::run(&common::spec(target, 1000, Kind::Ping)).await;
        assert_eq!((o.up, o.reason), (false, Reason::Unreachable));
    });
}

#[test]
fn bind_if_and_fwmark_are_applied() {
    in_netns("bind_if_and_fwmark_are_applied", || async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut spec = common::spec(l.local_addr().unwrap(), 1000, Kind::Tcp);
        spec.local = Local {
            addr: Some("127.0.0.1:0".parse().unwrap()),
            interface: Some("lo".into()),
            fwmark: Some(7),
        };
        let o = check::run(&spec).await;
        assert!(o.up, "{o:?}");
        // Bound to veth0, loopback is out of reach.
        spec.local.interface = Some("veth0".into());
        spec.local.addr = None;
        let o = check::run(&spec).await;
        assert!(!o.up, "{o:?}");
        // An interface that does not exist is an error, not a pass.
        spec.local.interface = Some("nosuch0".into());
        let o = check::run(&spec).await;
        assert!(matches!(o.reason, Reason::Io(_)), "{o:?}");
    });
}
