#![allow(clippy::unwrap_used)]
//! After runs of every kind, this process has no zombie children. Its own
//! test binary, so no other test's children are in flight while we look.

use std::fs;
use std::time::Duration;

use daemon::script::{Outcome, Script};

/// Our children that have exited but were not reaped.
fn zombie_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == me {
            out.push(stat);
        }
    }
    out
}

#[tokio::test]
async fn no_zombie_is_left_behind() {
    for _ in 0..5 {
        assert_eq!(
            Script::parse("/bin/true").unwrap().run().await,
            Outcome::Exited(0)
        );
        assert_eq!(
            Script::parse("/bin/false").unwrap().run().await,
            Outcome::Exited(1)
        );
        assert_eq!(
            Script::parse("/bin/sleep 10")
                .unwrap()
                .timeout(Some(Duration::from_millis(50)))
                .run()
                .await,
            Outcome::TimedOut
        );
        assert_eq!(
            Script::parse(r#"/bin/sh -c 'kill -KILL $$'"#)
                .unwrap()
                .run()
                .await,
            Outcome::Signaled(9)
        );
    }
    assert_eq!(zombie_children(), Vec::<String>::new());
}
