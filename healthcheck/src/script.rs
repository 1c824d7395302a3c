//! Running a script for MISC_CHECK, the notify/quorum hooks and the
//! script sink: a thin adapter over [`daemon::script`], the one runner of
//! the suite (keepalived's argument splitting, user switch, process group,
//! script security).
//!
//! What this layer adds is the shape the checkers and sinks want: a
//! command line, extra arguments, an optional user/group and a deadline in,
//! and either how the script ended on its own or a typed error out (the
//! timeout is an error here, because for a check or a hook it is one).
//!
//! The timeout follows keepalived's MISC_CHECK (`check_misc.c`): at the
//! deadline the script's whole process group gets SIGTERM; as soon as the
//! script has exited, or [`TERM_GRACE`] later, whatever is left of the
//! group gets SIGKILL, so grandchildren that ignore SIGTERM die too. A
//! script that exits on its own leaves its background children alone, as
//! in keepalived. If the caller drops the future, the group gets SIGKILL
//! at once.

use std::time::Duration;

pub use daemon::script::{Outcome, RunAs, Script};

/// How long a script may take to exit after SIGTERM (keepalived: 2 s).
pub const TERM_GRACE: Duration = daemon::script::DEFAULT_KILL_GRACE;

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("empty command")]
    Empty,
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("unknown group {0}")]
    UnknownGroup(String),
    /// The command line or the user/group could not be set up (an
    /// unterminated quote, a failed user lookup, ...).
    #[error("{0}")]
    Setup(daemon::script::ScriptError),
    #[error("cannot start the script: {0}")]
    Spawn(String),
    #[error("timed out after {0:?}; process group killed")]
    Timeout(Duration),
}

impl From<daemon::script::ScriptError> for ScriptError {
    fn from(e: daemon::script::ScriptError) -> Self {
        use daemon::script::ScriptError as E;
        match e {
            E::Empty => ScriptError::Empty,
            E::NoSuchUser(u) => ScriptError::UnknownUser(u),
            E::NoSuchGroup(g) => ScriptError::UnknownGroup(g),
            other => ScriptError::Setup(other),
        }
    }
}

/// The [`Script`] for `command` plus `extra_args`, run as `user`/`group`
/// (the group defaults to the user's primary group, as keepalived's
/// `set_uid_gid()`; a group alone applies to the daemon's own user).
pub fn prepare(
    command: &str,
    extra_args: &[String],
    user: Option<&str>,
    group: Option<&str>,
    timeout: Duration,
) -> Result<Script, ScriptError> {
    let run_as = match (user, group) {
        (Some(u), g) => Some(RunAs::resolve(u, g)?),
        (None, Some(g)) => {
            // A group without a user: keep the daemon's uid, switch gid.
            let uid = nix::unistd::Uid::effective();
            let name = nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| uid.to_string());
            let gid = nix::unistd::Group::from_name(g)
                .map_err(|e| {
                    ScriptError::Setup(daemon::script::ScriptError::Lookup {
                        name: g.to_owned(),
                        reason: e.to_string(),
                    })
                })?
                .ok_or_else(|| ScriptError::UnknownGroup(g.to_owned()))?
                .gid;
            Some(RunAs {
                user: name,
                uid,
                gid,
            })
        }
        (None, None) => None,
    };
    Ok(Script::parse(command)?
        .with_args(extra_args.iter().cloned())
        .run_as(run_as)
        .timeout(Some(timeout))
        .kill_grace(TERM_GRACE))
}

/// Run `command` (plus `extra_args`) as `user`/`group` and wait for it at
/// most `timeout` (plus the SIGTERM grace). `Ok` is how the script ended
/// on its own: [`Outcome::Exited`] or [`Outcome::Signaled`].
pub async fn run(
    command: &str,
    extra_args: &[String],
    user: Option<&str>,
    group: Option<&str>,
    timeout: Duration,
) -> Result<Outcome, ScriptError> {
    let script = prepare(command, extra_args, user, group, timeout)?;
    match script.run().await {
        Outcome::TimedOut => Err(ScriptError::Timeout(timeout)),
        Outcome::SpawnFailed(e) => Err(ScriptError::Spawn(e)),
        done => Ok(done),
    }
}

/// `exit 3` or `signal 9`, for messages.
pub fn describe(status: Outcome) -> String {
    match status {
        Outcome::Exited(c) => format!("exit {c}"),
        Outcome::Signaled(s) => format!("signal {s}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_names() {
        assert!(matches!(
            ScriptError::from(daemon::script::ScriptError::NoSuchUser("x".into())),
            ScriptError::UnknownUser(u) if u == "x"
        ));
        assert!(matches!(
            prepare("   ", &[], None, None, Duration::from_secs(1)),
            Err(ScriptError::Empty)
        ));
        let e = prepare("/x 'open", &[], None, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("unterminated"), "{e}");
    }

    #[test]
    fn extra_arguments_follow_the_split_command_line() {
        let s = prepare(
            "/bin/n 'a b'",
            &["UP".to_owned()],
            None,
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(s.argv(), ["/bin/n", "a b", "UP"]);
    }

    #[test]
    fn describe_is_short() {
        assert_eq!(describe(Outcome::Exited(1)), "exit 1");
        assert_eq!(describe(Outcome::Signaled(9)), "signal 9");
    }
}
