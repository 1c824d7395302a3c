//! MISC_CHECK: run a script; exit 0 is up.
//!
//! keepalived's exit code rules: 0 up, 1 down; with `misc_dynamic`, 2..=255
//! is up with weight `code - 2`; without it any non-zero code is down. The
//! script runs in its own process group so that, when `misc_timeout`
//! expires (or the attempt is cancelled), the whole group is killed: a
//! script that started `sleep 1000 &` leaves nothing behind.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Instant;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Group, Pid, User};

use crate::outcome::{CheckOutcome, Reason};
use crate::spec::MiscSpec;

/// Split a command line the way keepalived does: on blanks, with `'...'`,
/// `"..."` and backslash escapes grouping characters into one word.
pub fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Kills the script's process group unless the script was reaped: covers
/// the deadline and a cancelled attempt alike.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (group already gone) is fine.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Map an exit status to an outcome (keepalived's rules, see module doc).
pub fn judge(status: std::process::ExitStatus, dynamic: bool) -> (bool, Reason, Option<i64>) {
    match (status.code(), status.signal()) {
        (Some(0), _) => (true, Reason::Ok, None),
        (Some(code), _) if dynamic && (2..=255).contains(&code) => {
            (true, Reason::ScriptExit(code), Some(i64::from(code) - 2))
        }
        (Some(code), _) => (false, Reason::ScriptExit(code), None),
        (None, Some(sig)) => (false, Reason::ScriptSignal(sig), None),
        (None, None) => (false, Reason::Io("unknown exit status".to_owned()), None),
    }
}

pub async fn check(spec: &MiscSpec) -> CheckOutcome {
    let start = Instant::now();
    let down = |r: Reason| CheckOutcome::down(r, start.elapsed());
    let argv = split_command(&spec.command);
    let Some((prog, args)) = argv.split_first() else {
        return down(Reason::Unsupported("empty misc_path".to_owned()));
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Some(u) = &spec.user {
        match User::from_name(u) {
            Ok(Some(user)) => {
                cmd.uid(user.uid.as_raw());
                if spec.group.is_none() {
                    cmd.gid(user.gid.as_raw());
                }
            }
            _ => return down(Reason::Io(format!("unknown user {u}"))),
        }
    }
    if let Some(g) = &spec.group {
        match Group::from_name(g) {
            Ok(Some(group)) => {
                cmd.gid(group.gid.as_raw());
            }
            _ => return down(Reason::Io(format!("unknown group {g}"))),
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return down(Reason::Io(format!("{prog}: {e}"))),
    };
    let mut guard = GroupGuard {
        pgid: child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw),
    };
    match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // The script exited on its own: like keepalived, leave anything
            // it started in the background alone (the group id may also be
            // reused once the group is empty).
            guard.pgid = None;
            let (up, reason, weight) = judge(status, spec.dynamic);
            CheckOutcome {
                up,
                reason,
                latency: start.elapsed(),
                weight,
            }
        }
        Ok(Err(e)) => down(Reason::Io(e.to_string())),
        Err(_) => {
            guard.kill();
            // Reap the script so no zombie is left.
            let _ = child.wait().await;
            down(Reason::Timeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_keepalived() {
        assert_eq!(split_command("/bin/check a  b"), ["/bin/check", "a", "b"]);
        assert_eq!(
            split_command(r#"/x "a b" 'c d' e\ f"#),
            ["/x", "a b", "c d", "e f"]
        );
        assert_eq!(split_command(r#"/x """#), ["/x", ""]);
        assert!(split_command("   ").is_empty());
    }

    #[test]
    fn exit_codes() {
        use std::process::ExitStatus;
        let exit = |c: i32| ExitStatus::from_raw(c << 8);
        assert_eq!(judge(exit(0), false), (true, Reason::Ok, None));
        assert_eq!(judge(exit(1), true), (false, Reason::ScriptExit(1), None));
        assert_eq!(judge(exit(5), false), (false, Reason::ScriptExit(5), None));
        assert_eq!(judge(exit(5), true), (true, Reason::ScriptExit(5), Some(3)));
        assert_eq!(
            judge(exit(255), true),
            (true, Reason::ScriptExit(255), Some(253))
        );
        assert_eq!(
            judge(ExitStatus::from_raw(9), false),
            (false, Reason::ScriptSignal(9), None)
        );
    }
}
