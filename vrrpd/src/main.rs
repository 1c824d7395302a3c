//! `vrrpd`: the VRRP daemon. Reads keepalived.conf (or TOML), speaks VRRP
//! v2/v3 on the configured interfaces, and moves the virtual addresses.

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use vrrpd::cli::{Cli, DumpFormat};

/// keepalived's exit codes for `-t` (keepalived/include/main.h), which
/// scripts around existing unit files test.
const EXIT_OK: u8 = 0;
const EXIT_FATAL: u8 = 3;
const EXIT_CONFIG: u8 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = conf::keepalived::lexer::ParseOptions {
        config_id: cli.config_id.clone(),
        ..Default::default()
    };
    let loaded = conf::load_file(&cli.config, &opts);
    eprint!("{}", loaded.diagnostics);
    if cli.config_test.is_some() {
        return ExitCode::from(config_test_exit(&loaded));
    }
    if let Some(DumpFormat::Toml) = cli.dump_config {
        if loaded.diagnostics.has_errors() {
            return ExitCode::from(EXIT_CONFIG);
        }
        print!("{}", conf::toml_front::to_toml_string(&loaded.config));
        return ExitCode::from(EXIT_OK);
    }
    if loaded.diagnostics.has_errors() {
        eprintln!(
            "vrrpd: {}: configuration has errors; not starting",
            cli.config.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    daemon::logging::init(if cli.log_detail {
        daemon::logging::Verbosity::Detailed
    } else {
        daemon::logging::Verbosity::Normal
    });
    match run(cli, loaded.config) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

fn config_test_exit(loaded: &conf::Loaded) -> u8 {
    if !loaded.diagnostics.has_errors() {
        // What the daemon would refuse at start-up (a VIP label that does
        // not fit its interface, an unknown routing table, ...) is an
        // error of the file too.
        if let Err(e) = vrrpd::setup::plan(&loaded.config) {
            eprintln!("vrrpd: {e}");
            return EXIT_CONFIG;
        }
    }
    if loaded.diagnostics.has_errors() {
        // A file we could not read at all has no location: keepalived exits
        // 3 (fatal) for that, 4 for a file with errors in it.
        if loaded.diagnostics.errors().all(|d| d.location.is_none()) {
            EXIT_FATAL
        } else {
            EXIT_CONFIG
        }
    } else {
        EXIT_OK
    }
}

fn run(cli: Cli, config: conf::model::Config) -> anyhow::Result<()> {
    let plan = vrrpd::setup::plan(&config).context("configuration")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let signals = daemon::signals::Signals::new().context("installing signal handlers")?;
        let _pid = daemon::pidfile::PidFile::create(&cli.pidfile)
            .with_context(|| format!("writing pid file {}", cli.pidfile.display()))?;
        let mut runtime = vrrpd::runtime::Runtime::new(plan, cli.dont_release).await?;
        runtime.start_checkers(&config);
        drop(config);
        let reloader = reloader(cli.config.clone(), cli.config_id.clone());
        let (ctl_tx, ctl_rx) = tokio::sync::mpsc::channel(16);
        let ctl_tx_metrics = ctl_tx.clone();
        let socket = cli.control_socket_path();
        let _control = daemon::control::ControlServer::bind(&socket, ctl_tx)?;
        tracing::info!(socket = %socket.display(), "control socket ready");
        let _metrics = match cli.metrics_listen {
            Some(addr) => {
                let task = daemon::metrics::serve(addr, ctl_tx_metrics)
                    .await
                    .with_context(|| format!("metrics listener on {addr}"))?;
                tracing::info!(%addr, "serving /metrics");
                Some(AbortOnDrop(task))
            }
            None => None,
        };
        runtime.run(signals, reloader, ctl_rx).await
    })
}

/// SIGHUP: the same checks as start-up; a file with errors is refused whole
/// and each diagnostic is logged with its location.
fn reloader(path: std::path::PathBuf, config_id: Option<String>) -> vrrpd::runtime::Reloader {
    Box::new(move || {
        let opts = conf::keepalived::lexer::ParseOptions {
            config_id: config_id.clone(),
            ..Default::default()
        };
        let loaded = conf::load_file(&path, &opts);
        for d in &loaded.diagnostics.items {
            if d.is_error() {
                tracing::error!("{d}");
            } else {
                tracing::warn!("{d}");
            }
        }
        if loaded.diagnostics.has_errors() {
            return None;
        }
        match vrrpd::setup::plan(&loaded.config) {
            Ok(plan) => Some((plan, loaded.config)),
            Err(e) => {
                tracing::error!("reload: {e}");
                None
            }
        }
    })
}

/// Stops a background task when the daemon's main future ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
