//! The script runner every daemon uses: track scripts, notify scripts,
//! check scripts, startup/shutdown scripts.
//!
//! What it promises, matching keepalived (`keepalived/core/notify.c`,
//! `keepalived/vrrp/vrrp_scheduler.c`):
//!
//! - The command line is split into words the way keepalived does it
//!   (`alloc_strvec_quoted_escaped`): on blanks, honouring single and double
//!   quotes and backslash escapes, and executed directly, **without a
//!   shell**, unless [`Script::shell`] asks for one.
//! - The script runs as a given user/group (`script_user`, a script's own
//!   `user`/`group`), with supplementary groups dropped.
//! - It runs in its own process group, so a timeout kills everything it
//!   started: SIGTERM to the group, a grace period (keepalived: 2 s), then
//!   SIGKILL to the group. The child is always reaped, never left a zombie.
//! - [`check_secure`] is keepalived's `enable_script_security` check
//!   (`check_security()` in `notify.c`): a script that runs as root must not
//!   be writable, nor sit in a directory writable, by anyone but root.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Group, Pid, Uid, User};
use thiserror::Error;

/// keepalived's grace between SIGTERM and SIGKILL of a timed-out script
/// (`vrrp_script_child_thread`: `timeout = 2` after SIGTERM).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(2);

/// The search path for bare command names. keepalived searches `PATH`
/// (`find_path()` in `notify.c`); a daemon started by systemd has a
/// minimal one, so we fall back to the usual directories.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a script cannot be set up or run.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ScriptError {
    #[error("empty command line")]
    Empty,
    #[error("unterminated {quote} quote in command line `{command}`")]
    UnterminatedQuote { quote: char, command: String },
    #[error("script user `{0}` does not exist")]
    NoSuchUser(String),
    #[error("script group `{0}` does not exist")]
    NoSuchGroup(String),
    #[error("cannot look up script user/group `{name}`: {reason}")]
    Lookup { name: String, reason: String },
    #[error("script `{0}` not found in PATH")]
    NotFound(String),
    #[error("script {path} cannot be accessed: {reason}")]
    Inaccessible { path: PathBuf, reason: String },
    /// keepalived: "Unable to set default user keepalived_script".
    #[error(
        "enable_script_security is set but no script_user is configured and user \
         `keepalived_script` does not exist: refusing to run scripts as root by default"
    )]
    NoDefaultUser,
    /// keepalived: "Unsafe permissions found for script".
    #[error("refusing to run script {script}: {path} is {why}")]
    Insecure {
        script: PathBuf,
        path: PathBuf,
        why: String,
    },
}

/// Split a command line into words as keepalived does: blanks separate
/// words; `'...'` is literal; `"..."` is literal except that a backslash
/// escapes the next character; outside quotes a backslash escapes the next
/// character. Quotes may join parts of one word (`a"b c"d` is `ab cd`).
pub fn split_command_line(command: &str) -> Result<Vec<String>, ScriptError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => {
                            return Err(ScriptError::UnterminatedQuote {
                                quote: '\'',
                                command: command.to_owned(),
                            })
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch) => cur.push(ch),
                            None => {
                                return Err(ScriptError::UnterminatedQuote {
                                    quote: '"',
                                    command: command.to_owned(),
                                })
                            }
                        },
                        Some(ch) => cur.push(ch),
                        None => {
                            return Err(ScriptError::UnterminatedQuote {
                                quote: '"',
                                command: command.to_owned(),
                            })
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err(ScriptError::Empty);
    }
    Ok(words)
}

/// A resolved user and group a script runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub uid: Uid,
    pub gid: Gid,
}

impl RunAs {
    /// Resolve `user [group]` like keepalived's `set_uid_gid()`: the group
    /// defaults to the user's primary group.
    pub fn resolve(user: &str, group: Option<&str>) -> Result<Self, ScriptError> {
        let pw = User::from_name(user)
            .map_err(|e| ScriptError::Lookup {
                name: user.to_owned(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| ScriptError::NoSuchUser(user.to_owned()))?;
        let gid = match group {
            None => pw.gid,
            Some(g) => {
                Group::from_name(g)
                    .map_err(|e| ScriptError::Lookup {
                        name: g.to_owned(),
                        reason: e.to_string(),
                    })?
                    .ok_or_else(|| ScriptError::NoSuchGroup(g.to_owned()))?
                    .gid
            }
        };
        Ok(RunAs {
            user: user.to_owned(),
            uid: pw.uid,
            gid,
        })
    }

    /// The default script user, as keepalived picks it
    /// (`get_default_script_user()`): `script_user` if configured, else
    /// `keepalived_script` if that account exists, else `None` (run as the
    /// daemon's own user), except that with `enable_script_security` a
    /// missing `keepalived_script` is an error (keepalived then runs no
    /// script).
    pub fn default_for(
        script_user: Option<&str>,
        script_group: Option<&str>,
        script_security: bool,
    ) -> Result<Option<Self>, ScriptError> {
        match script_user {
            Some(u) => RunAs::resolve(u, script_group).map(Some),
            None => match RunAs::resolve("keepalived_script", None) {
                Ok(r) => Ok(Some(r)),
                Err(ScriptError::NoSuchUser(_)) if script_security => {
                    Err(ScriptError::NoDefaultUser)
                }
                Err(ScriptError::NoSuchUser(_)) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}

/// How a script run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exited by itself with this status.
    Exited(i32),
    /// Killed by this signal, not by us.
    Signaled(i32),
    /// Ran past its timeout; its process group was killed.
    TimedOut,
    /// Could not be started (not found, not executable, bad user, ...).
    SpawnFailed(String),
}

impl Outcome {
    /// keepalived counts only exit status 0 as success; a signal, a timeout
    /// or a spawn failure are failures (`vrrp_script_child_thread`).
    pub fn success(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exited with status {c}"),
            Outcome::Signaled(s) => write!(f, "killed by signal {s}"),
            Outcome::TimedOut => write!(f, "timed out"),
            Outcome::SpawnFailed(e) => write!(f, "could not start: {e}"),
        }
    }
}

/// A script ready to run: its argument vector (or a shell command), who
/// runs it and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// argv: the program, then its arguments. With `shell`, argv\[0\] is the
    /// whole command given to `/bin/sh -c` and the rest are `$0 $1 ...`.
    argv: Vec<String>,
    shell: bool,
    run_as: Option<RunAs>,
    timeout: Option<Duration>,
    kill_grace: Duration,
}

impl Script {
    /// A command line split the keepalived way, run without a shell.
    pub fn parse(command: &str) -> Result<Self, ScriptError> {
        Ok(Script {
            argv: split_command_line(command)?,
            shell: false,
            run_as: None,
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
        })
    }

    /// A command line run by `/bin/sh -c`, for configurations that ask for
    /// a shell (pipes, redirections, `$VAR`).
    pub fn shell(command: &str) -> Result<Self, ScriptError> {
        if command.trim().is_empty() {
            return Err(ScriptError::Empty);
        }
        Ok(Script {
            argv: vec![command.to_owned()],
            shell: true,
            run_as: None,
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
        })
    }

    /// Run as this user/group (`None`: the daemon's own).
    pub fn run_as(mut self, who: Option<RunAs>) -> Self {
        self.run_as = who;
        self
    }

    /// Kill the process group after this long (`None`: never).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time between SIGTERM and SIGKILL of a timed-out script.
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// The same script with extra arguments appended (keepalived's generic
    /// `notify` gets `TYPE NAME STATE PRIORITY`). With a shell they become
    /// the positional parameters `$1 ...` (`$0` is `sh`).
    pub fn with_args<I, S>(&self, extra: I) -> Script
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut s = self.clone();
        if s.shell && s.argv.len() == 1 {
            s.argv.push("sh".to_owned());
        }
        s.argv.extend(extra.into_iter().map(Into::into));
        s
    }

    /// The argument vector as it will be executed (without the shell).
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    pub fn is_shell(&self) -> bool {
        self.shell
    }

    pub fn user(&self) -> Option<&RunAs> {
        self.run_as.as_ref()
    }

    /// Whether the script runs with root privileges: as uid 0 or gid 0, or
    /// when no user is set and the daemon itself is root.
    pub fn runs_as_root(&self) -> bool {
        match &self.run_as {
            Some(r) => r.uid.is_root() || r.gid.as_raw() == 0,
            None => Uid::effective().is_root() || Gid::effective().as_raw() == 0,
        }
    }

    /// The program that will be executed, resolved through `PATH` when the
    /// name has no slash (keepalived's `find_path()`).
    pub fn program(&self) -> Result<PathBuf, ScriptError> {
        if self.shell {
            return Ok(PathBuf::from("/bin/sh"));
        }
        let name = self.argv.first().ok_or(ScriptError::Empty)?;
        resolve_program(name)
    }

    /// keepalived's `enable_script_security` for this script: the program
    /// (for a shell command, `/bin/sh`) and every directory above it must
    /// not be writable by a non-root user, when the script runs as root.
    pub fn check_secure(&self) -> Result<(), ScriptError> {
        if !self.runs_as_root() {
            return Ok(());
        }
        check_secure(&self.program()?)
    }

    /// Run the script to completion: at most `timeout`, plus the kill grace.
    /// Never leaves a zombie: the child is waited for on every path, and a
    /// run abandoned mid-way (the future dropped) kills the process group.
    pub async fn run(&self) -> Outcome {
        let mut cmd = if self.shell {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").args(&self.argv);
            c
        } else {
            let Some((prog, args)) = self.argv.split_first() else {
                return Outcome::SpawnFailed("empty command line".to_owned());
            };
            let mut c = tokio::process::Command::new(prog);
            c.args(args);
            c
        };
        if let Some(r) = &self.run_as {
            cmd.uid(r.uid.as_raw()).gid(r.gid.as_raw());
        }
        // Its own process group (pgid = its pid), so that a timeout can kill
        // whatever it forked (keepalived: `setpgid(0, 0)` in the child).
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if std::env::var_os("PATH").is_none() {
            cmd.env("PATH", DEFAULT_PATH);
        }
        // ETXTBSY: the file is still open for writing somewhere, typically
        // a fork in another thread that has not reached exec yet. It clears
        // within moments, so retry briefly rather than fail the check.
        let mut attempts = 0;
        let mut child = loop {
            match cmd.spawn() {
                Ok(c) => break c,
                Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempts < 5 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Outcome::SpawnFailed(format!("{}: {e}", self.describe())),
            }
        };
        let Some(pid) = child.id() else {
            // Already reaped: cannot happen before the first wait.
            return Outcome::SpawnFailed("child vanished".to_owned());
        };
        let mut guard = GroupGuard {
            pgid: Pid::from_raw(pid as i32),
            armed: true,
        };

        let waited = match self.timeout {
            Some(t) => tokio::time::timeout(t, child.wait()).await.ok(),
            None => Some(child.wait().await),
        };
        let outcome = match waited {
            Some(Ok(status)) => status_outcome(status),
            Some(Err(e)) => Outcome::SpawnFailed(format!("wait: {e}")),
            None => {
                tracing::warn!(script = %self.describe(), "timed out, terminating its process group");
                let _ = killpg(guard.pgid, Signal::SIGTERM);
                if tokio::time::timeout(self.kill_grace, child.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!(script = %self.describe(), "did not stop on SIGTERM, killing");
                }
                Outcome::TimedOut
            }
        };
        // Anything left in the group (children of a script that exited, or
        // that ignored SIGTERM) goes now; the leader is reaped below.
        if outcome == Outcome::TimedOut {
            let _ = killpg(guard.pgid, Signal::SIGKILL);
            let _ = child.wait().await;
        }
        // A script that exited normally may leave background children
        // (keepalived does not kill those either); only an abandoned run
        // kills its group.
        guard.armed = false;
        outcome
    }

    fn describe(&self) -> String {
        self.argv.join(" ")
    }
}

/// Kills the process group if the run is abandoned (its future dropped)
/// before the script finished.
struct GroupGuard {
    pgid: Pid,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }
}

fn status_outcome(status: std::process::ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        Outcome::Exited(code)
    } else if let Some(sig) = status.signal() {
        Outcome::Signaled(sig)
    } else {
        Outcome::SpawnFailed(format!("unexpected wait status {status}"))
    }
}

fn resolve_program(name: &str) -> Result<PathBuf, ScriptError> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if let Ok(md) = std::fs::metadata(&candidate) {
            if md.is_file() && md.mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(ScriptError::NotFound(name.to_owned()))
}

/// keepalived's `check_security()`: walk `/`, each directory down to the
/// file, without following the last symlink, and refuse if any of them
/// is owned by a non-root user, or (a directory without the sticky bit, or
/// the file) writable by a non-root group or by everyone. Then the same for
/// the resolved path if the file is reached through symlinks.
pub fn check_secure(script: &Path) -> Result<(), ScriptError> {
    check_path_components(script, script)?;
    let real = std::fs::canonicalize(script).map_err(|e| ScriptError::Inaccessible {
        path: script.to_owned(),
        reason: e.to_string(),
    })?;
    if real != script {
        check_path_components(script, &real)?;
    }
    Ok(())
}

fn check_path_components(script: &Path, path: &Path) -> Result<(), ScriptError> {
    let abs = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| ScriptError::Inaccessible {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
            .join(path)
    };
    let mut prefix = PathBuf::new();
    let comps: Vec<_> = abs.components().collect();
    for (i, c) in comps.iter().enumerate() {
        prefix.push(c);
        let last = i + 1 == comps.len();
        let md = std::fs::symlink_metadata(&prefix).map_err(|e| ScriptError::Inaccessible {
            path: prefix.clone(),
            reason: e.to_string(),
        })?;
        let ft = md.file_type();
        let insecure = |why: String| ScriptError::Insecure {
            script: script.to_owned(),
            path: prefix.clone(),
            why,
        };
        if !last && !ft.is_dir() && !ft.is_symlink() {
            return Err(insecure("not a directory".to_owned()));
        }
        if md.uid() != 0 {
            return Err(insecure(format!(
                "writable by uid {} (its owner)",
                md.uid()
            )));
        }
        let mode = md.mode();
        // A sticky directory (/tmp) lets others create files but not replace
        // ours, so keepalived only counts write bits on plain directories
        // and on the file itself.
        let counts = (ft.is_dir() && mode & 0o1000 == 0) || ft.is_file();
        if counts && md.gid() != 0 && mode & 0o020 != 0 {
            return Err(insecure(format!(
                "writable by gid {} (group-writable)",
                md.gid()
            )));
        }
        if counts && mode & 0o002 != 0 {
            return Err(insecure(
                "writable by every user (world-writable)".to_owned(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_command_line(s).unwrap()
    }

    #[test]
    fn splits_on_blanks_and_honours_quotes() {
        assert_eq!(split("/bin/echo a  b\tc"), ["/bin/echo", "a", "b", "c"]);
        assert_eq!(split(r#"x "a b" 'c d'"#), ["x", "a b", "c d"]);
        assert_eq!(split(r#"x a"b c"d"#), ["x", "ab cd"]);
        assert_eq!(
            split(r#"x "say \"hi\"" 'it''s'"#),
            ["x", r#"say "hi""#, "its"]
        );
        assert_eq!(split(r"x a\ b"), ["x", "a b"]);
        assert_eq!(split(r#"x '' """#), ["x", "", ""]);
    }

    #[test]
    fn split_errors() {
        assert_eq!(split_command_line("   "), Err(ScriptError::Empty));
        assert!(matches!(
            split_command_line("x 'open"),
            Err(ScriptError::UnterminatedQuote { quote: '\'', .. })
        ));
        assert!(matches!(
            split_command_line("x \"open"),
            Err(ScriptError::UnterminatedQuote { quote: '"', .. })
        ));
    }

    #[test]
    fn with_args_appends_and_shell_gets_dollar_zero() {
        let s = Script::parse("/bin/n 'a b'")
            .unwrap()
            .with_args(["INSTANCE", "VI_1"]);
        assert_eq!(s.argv(), ["/bin/n", "a b", "INSTANCE", "VI_1"]);
        let s = Script::shell("echo $1").unwrap().with_args(["X"]);
        assert_eq!(s.argv(), ["echo $1", "sh", "X"]);
    }

    #[test]
    fn outcome_success_is_exit_zero_only() {
        assert!(Outcome::Exited(0).success());
        assert!(!Outcome::Exited(1).success());
        assert!(!Outcome::Signaled(9).success());
        assert!(!Outcome::TimedOut.success());
        assert!(!Outcome::SpawnFailed(String::new()).success());
    }
}
