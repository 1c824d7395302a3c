//! Which VRRP daemon a drill runs, where its binary is, and its command line.

use crate::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The daemon kinds; both read the same generated keepalived.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Daemon {
    Keepalived,
    Vrrpd,
}

/// Files a daemon instance uses, all in the topology's log directory:
/// several keepalived on one host would otherwise share /run/keepalived.pid.
#[derive(Debug, Clone)]
pub struct DaemonFiles {
    pub config: PathBuf,
    pub pidfile: PathBuf,
    pub vrrp_pidfile: PathBuf,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Keepalived => "keepalived",
            Daemon::Vrrpd => "vrrpd",
        }
    }

    /// Locates the binary (see [`find_vrrpd`] and [`find_keepalived`]).
    pub fn binary(self) -> Result<PathBuf> {
        match self {
            Daemon::Keepalived => find_keepalived(),
            Daemon::Vrrpd => find_vrrpd(),
        }
    }

    /// Command-line arguments after the binary.
    ///
    /// keepalived: `-n` stay in the foreground (so the pid we hold is the
    /// daemon), `-G` no syslog (here syslog goes to the serial console and
    /// stalls both CPUs), `-l -D` detailed log on stderr, `--vrrp` VRRP child
    /// only (no checker / BFD children), per-node pid files.
    /// vrrpd accepts the keepalived-compatible subset `-n -l -f -p`.
    pub fn args(self, files: &DaemonFiles) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        match self {
            Daemon::Keepalived => {
                for s in ["-n", "-G", "-D", "-l", "--vrrp"] {
                    a.push(s.into());
                }
                a.push("-f".into());
                a.push(files.config.clone().into());
                a.push("-p".into());
                a.push(files.pidfile.clone().into());
                a.push("-r".into());
                a.push(files.vrrp_pidfile.clone().into());
            }
            Daemon::Vrrpd => {
                for s in ["-n", "-l"] {
                    a.push(s.into());
                }
                a.push("-f".into());
                a.push(files.config.clone().into());
                a.push("-p".into());
                a.push(files.pidfile.clone().into());
            }
        }
        a
    }
}

impl std::str::FromStr for Daemon {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "keepalived" => Ok(Daemon::Keepalived),
            "vrrpd" => Ok(Daemon::Vrrpd),
            other => Err(Error::Invalid(format!(
                "unknown daemon {other:?} (expected vrrpd or keepalived)"
            ))),
        }
    }
}

/// The workspace root (parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `$VRRPD_BIN`, else the newer of `<target>/release/vrrpd` and
/// `<target>/debug/vrrpd` (target = `$CARGO_TARGET_DIR` or
/// `<workspace>/target`).
pub fn find_vrrpd() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("VRRPD_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::BinaryNotFound(format!(
                "VRRPD_BIN={} is not a file",
                p.display()
            )))
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let candidates = [
        target.join("release").join("vrrpd"),
        target.join("debug").join("vrrpd"),
    ];
    candidates
        .iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(p).ok()?.modified().ok()?;
            Some((modified, p.clone()))
        })
        .max_by_key(|(m, _)| *m)
        .map(|(_, p)| p)
        .ok_or_else(|| {
            Error::BinaryNotFound(format!(
                "vrrpd: set VRRPD_BIN or build it (cargo build -p vrrpd); looked at {} and {}",
                candidates[0].display(),
                candidates[1].display()
            ))
        })
}

/// `$KEEPALIVED_BIN`, else `keepalived` on PATH or in /usr/sbin, /sbin.
pub fn find_keepalived() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KEEPALIVED_BIN") {
        return Ok(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.iter()
        .map(|d| d.join("keepalived"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::BinaryNotFound("keepalived: apt-get install -y keepalived".to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> DaemonFiles {
        DaemonFiles {
            config: "/d/n1.conf".into(),
            pidfile: "/d/n1.pid".into(),
            vrrp_pidfile: "/d/n1.vrrp.pid".into(),
        }
    }

    fn args(d: Daemon) -> Vec<String> {
        d.args(&files())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn keepalived_never_logs_to_syslog_and_uses_private_pidfiles() {
        let a = args(Daemon::Keepalived);
        for flag in ["-n", "-G", "-l", "--vrrp"] {
            assert!(a.contains(&flag.to_string()), "{flag} missing: {a:?}");
        }
        let after = |f: &str| a.iter().position(|x| x == f).map(|i| a[i + 1].clone());
        assert_eq!(after("-f").as_deref(), Some("/d/n1.conf"));
        assert_eq!(after("-p").as_deref(), Some("/d/n1.pid"));
        assert_eq!(after("-r").as_deref(), Some("/d/n1.vrrp.pid"));
    }

    #[test]
    fn vrrpd_gets_the_keepalived_compatible_subset() {
        assert_eq!(
            args(Daemon::Vrrpd),
            vec!["-n", "-l", "-f", "/d/n1.conf", "-p", "/d/n1.pid"]
        );
        assert_eq!("vrrpd".parse::<Daemon>().ok(), Some(Daemon::Vrrpd));
        assert!("bird".parse::<Daemon>().is_err());
    }
}
