//! A pid file that is removed when the daemon exits.

use std::io;
use std::path::{Path, PathBuf};

/// Holds the pid file; dropping it removes the file.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Write our pid to `path`. An existing file is overwritten: a daemon
    /// killed with SIGKILL leaves one behind, and refusing to start because
    /// of it would turn a crash into an outage.
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        std::fs::write(path, format!("{}\n", std::process::id()))?;
        Ok(PidFile {
            path: path.to_owned(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_holds_our_pid_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/x.pid");
        {
            let _p = PidFile::create(&path).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.trim(), std::process::id().to_string());
        }
        assert!(!path.exists());
    }
}
