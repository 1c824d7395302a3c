//! The command line: keepalived's flags, so vrrpd can replace keepalived in an
//! existing unit file, plus our own.
//!
//! keepalived's flags that change nothing for us (`-P` VRRP only, `-G` no
//! syslog, `-R` no respawn, `-r` VRRP child pid file, ...) are accepted and
//! ignored: vrrpd is one process, never forks, and never logs to syslog.

use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;

pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";
pub const DEFAULT_PIDFILE: &str = "/run/vrrpd/vrrpd.pid";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    Toml,
}

#[derive(Debug, Parser)]
#[command(
    name = "vrrpd",
    version,
    about = "VRRP v2/v3 speaker that reads keepalived.conf",
    disable_version_flag = true
)]
pub struct Cli {
    /// Configuration file (keepalived.conf syntax, or TOML if it ends in .toml).
    #[arg(short = 'f', long = "use-file", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Check the configuration and exit: 0 clean, 4 errors, 3 cannot read.
    /// keepalived accepts an optional log file name here (`-t=FILE`); so do
    /// we, and ignore it: the report goes to stderr.
    #[arg(short = 't', long = "config-test", num_args = 0..=1, require_equals = true,
          default_missing_value = "", value_name = "LOG_FILE")]
    pub config_test: Option<String>,

    /// Print the configuration in another front end's syntax and exit.
    #[arg(long = "dump-config", value_name = "FORMAT")]
    pub dump_config: Option<DumpFormat>,

    /// Stay in the foreground (vrrpd always does; accepted for keepalived's unit files).
    #[arg(short = 'n', long = "dont-fork", action = ArgAction::SetTrue)]
    pub dont_fork: bool,

    /// Log to the console (vrrpd always logs to stderr).
    #[arg(short = 'l', long = "log-console", action = ArgAction::SetTrue)]
    pub log_console: bool,

    /// Detailed logging.
    #[arg(short = 'D', long = "log-detail", action = ArgAction::SetTrue)]
    pub log_detail: bool,

    /// Pid file.
    #[arg(short = 'p', long = "pid", value_name = "FILE", default_value = DEFAULT_PIDFILE)]
    pub pidfile: PathBuf,

    /// Control socket (root-only; `clusterctl status` reads it). Default:
    /// the pid file's path with `.sock` for `.pid`, so several daemons on
    /// one host (drills, network namespaces) never share one.
    #[arg(long = "control-socket", value_name = "PATH")]
    pub control_socket: Option<PathBuf>,

    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9650).
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Config id for `@ID` conditional lines (default: the short host name).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,

    /// Do not remove VIPs at start-up or shutdown (keepalived's
    /// `--dont-release-vrrp`).
    #[arg(short = 'd', long = "dont-release-vrrp", action = ArgAction::SetTrue)]
    pub dont_release: bool,

    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    // keepalived flags accepted for compatibility, with no effect.
    #[arg(short = 'P', long = "vrrp", action = ArgAction::SetTrue, hide = true)]
    pub vrrp_only: bool,
    #[arg(short = 'C', long = "check", action = ArgAction::SetTrue, hide = true)]
    pub check_only: bool,
    #[arg(short = 'G', long = "no-syslog", action = ArgAction::SetTrue, hide = true)]
    pub no_syslog: bool,
    #[arg(short = 'R', long = "dont-respawn", action = ArgAction::SetTrue, hide = true)]
    pub dont_respawn: bool,
    #[arg(short = 'S', long = "log-facility", hide = true)]
    pub log_facility: Option<String>,
    #[arg(short = 'r', long = "vrrp_pid", hide = true)]
    pub vrrp_pidfile: Option<PathBuf>,
    #[arg(short = 'c', long = "checkers_pid", hide = true)]
    pub checkers_pidfile: Option<PathBuf>,
    #[arg(short = 'g', long = "log-file", num_args = 0..=1, require_equals = true,
          default_missing_value = "", hide = true)]
    pub log_file: Option<String>,
}

impl Cli {
    pub fn control_socket_path(&self) -> PathBuf {
        self.control_socket
            .clone()
            .unwrap_or_else(|| self.pidfile.with_extension("sock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_unit_file_flags_parse() {
        let cli = Cli::try_parse_from([
            "vrrpd",
            "-n",
            "-l",
            "-D",
            "-G",
            "-P",
            "-f",
            "/x.conf",
            "-p",
            "/run/a.pid",
            "-r",
            "/run/b.pid",
            "-i",
            "high",
            "-S",
            "7",
        ])
        .unwrap();
        assert_eq!(cli.config, PathBuf::from("/x.conf"));
        assert_eq!(cli.pidfile, PathBuf::from("/run/a.pid"));
        assert_eq!(cli.config_id.as_deref(), Some("high"));
        assert!(cli.log_detail && cli.dont_fork && cli.log_console);
        assert!(cli.config_test.is_none());
        assert_eq!(cli.control_socket_path(), PathBuf::from("/run/a.sock"));
    }

    #[test]
    fn config_test_takes_an_optional_log_file_only_with_equals() {
        let cli = Cli::try_parse_from(["vrrpd", "-t", "-f", "/y.conf"]).unwrap();
        assert_eq!(cli.config_test.as_deref(), Some(""));
        assert_eq!(cli.config, PathBuf::from("/y.conf"));
        let cli =
            Cli::try_parse_from(["vrrpd", "--config-test=/tmp/log", "-f", "/y.conf"]).unwrap();
        assert_eq!(cli.config_test.as_deref(), Some("/tmp/log"));
    }

    #[test]
    fn dump_config_names_a_format() {
        let cli = Cli::try_parse_from(["vrrpd", "--dump-config", "toml", "-f", "k.conf"]).unwrap();
        assert_eq!(cli.dump_config, Some(DumpFormat::Toml));
        assert!(Cli::try_parse_from(["vrrpd", "--dump-config", "yaml"]).is_err());
    }
}
