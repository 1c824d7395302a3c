//! The control socket: a root-only Unix stream socket on which a daemon
//! answers one-line commands (`status`) with one JSON document.
//!
//! The protocol is deliberately trivial: the client writes a command and a
//! newline, the daemon writes its answer and closes. `socat` or `nc -U` work
//! as well as `clusterctl`.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// Longest command line accepted; anything longer is a client bug.
const MAX_COMMAND: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A command from a client, with the way back to it.
#[derive(Debug)]
pub struct Command {
    pub line: String,
    pub reply: oneshot::Sender<String>,
}

/// The listening socket; removes its file when dropped.
pub struct ControlServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl ControlServer {
    /// Bind `path` (mode 0600: status shows addresses and config; commands
    /// may change state) and forward every command to `tx`. A stale socket
    /// file from a killed predecessor is replaced.
    pub fn bind(path: &Path, tx: mpsc::Sender<Command>) -> Result<Self, ControlError> {
        let err = |source| ControlError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let listener = UnixListener::bind(path).map_err(err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve(stream, tx).await {
                                tracing::debug!("control client: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("control socket accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(ControlServer {
            path: path.to_owned(),
            task,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(stream: UnixStream, tx: mpsc::Sender<Command>) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    BufReader::new(rd.take(MAX_COMMAND))
        .read_line(&mut line)
        .await?;
    let (reply, answer) = oneshot::channel();
    let cmd = Command {
        line: line.trim().to_owned(),
        reply,
    };
    if tx.send(cmd).await.is_err() {
        return Ok(());
    }
    if let Ok(text) = answer.await {
        wr.write_all(text.as_bytes()).await?;
        if !text.ends_with('\n') {
            wr.write_all(b"\n").await?;
        }
    }
    wr.shutdown().await
}

/// Send `command` to the daemon listening on `path` and return its answer.
pub async fn query(path: &Path, command: &str) -> Result<String, ControlError> {
    let err = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    let mut s = UnixStream::connect(path).await.map_err(err)?;
    s.write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(err)?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_a_command_and_cleans_up_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ctl.sock");
        let (tx, mut rx) = mpsc::channel(4);
        let server = ControlServer::bind(&path, tx).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let responder = tokio::spawn(async move {
            let cmd = rx.recv().await.unwrap();
            assert_eq!(cmd.line, "status");
            cmd.reply.send("{\"ok\":true}".into()).unwrap();
        });
        let answer = query(&path, "status").await.unwrap();
        assert_eq!(answer, "{\"ok\":true}\n");
        responder.await.unwrap();
        drop(server);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn replaces_a_stale_socket_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        std::fs::write(&path, b"stale").unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let _server = ControlServer::bind(&path, tx).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&path).unwrap().file_type().is_socket());
    }
}
