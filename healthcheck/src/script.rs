//! Running a script: MISC_CHECK, notify_up/notify_down, quorum_up/down and
//! the script sink all go through [`run`].
//!
//! The command line is split like keepalived does (blanks, quotes,
//! backslashes) and executed directly, without a shell. The script gets
//! its own process group. At the deadline the whole group gets SIGTERM,
//! then, [`TERM_GRACE`] later or as soon as the script has exited,
//! SIGKILL, so grandchildren die too (keepalived's sequence). If the caller
//! drops the future, the group gets SIGKILL at once.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Group, Pid, User};

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("empty command")]
    Empty,
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("unknown group {0}")]
    UnknownGroup(String),
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("waiting for the script: {0}")]
    Wait(std::io::Error),
    #[error("timed out after {0:?}; process group killed")]
    Timeout(Duration),
}

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

/// How long a script may take to exit after SIGTERM (keepalived: 2 s).
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// Kills the script's process group unless the script was reaped on its
/// own: covers the deadline and a cancelled future alike.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn term(&self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, Signal::SIGTERM);
        }
    }

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

/// Run `command` (plus `extra_args`) as `user`/`group` and wait for it at
/// most `timeout`.
pub async fn run(
    command: &str,
    extra_args: &[String],
    user: Option<&str>,
    group: Option<&str>,
    timeout: Duration,
) -> Result<ExitStatus, ScriptError> {
    let argv = split_command(command);
    let (prog, args) = argv.split_first().ok_or(ScriptError::Empty)?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Some(u) = user {
        let user = User::from_name(u)
            .ok()
            .flatten()
            .ok_or_else(|| ScriptError::UnknownUser(u.to_owned()))?;
        cmd.uid(user.uid.as_raw());
        if group.is_none() {
            cmd.gid(user.gid.as_raw());
        }
    }
    if let Some(g) = group {
        let group = Group::from_name(g)
            .ok()
            .flatten()
            .ok_or_else(|| ScriptError::UnknownGroup(g.to_owned()))?;
        cmd.gid(group.gid.as_raw());
    }
    let mut child = cmd.spawn().map_err(|source| ScriptError::Spawn {
        program: prog.clone(),
        source,
    })?;
    let mut guard = GroupGuard {
        pgid: child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // The script exited on its own: like keepalived, leave anything
            // it started in the background alone (the group id may also be
            // reused once the group is empty).
            guard.pgid = None;
            Ok(status)
        }
        Ok(Err(e)) => Err(ScriptError::Wait(e)),
        Err(_) => {
            guard.term();
            let _ = tokio::time::timeout(TERM_GRACE, child.wait()).await;
            // Whatever is left of the group (children that ignore SIGTERM,
            // or the script itself) goes now.
            guard.kill();
            // Reap the script so no zombie is left.
            let _ = child.wait().await;
            Err(ScriptError::Timeout(timeout))
        }
    }
}

/// `exit 3` or `signal 9`, for messages.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "unknown status".to_owned(),
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
}
