//! Driver for the runc CLI, with a `--root` of peapod's own so several
//! daemons (and podman) never see each other's containers.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;
use tokio::process::Command;

use crate::RuntimeError;

#[derive(Debug, Clone)]
pub struct Runc {
    pub binary: PathBuf,
    pub root: PathBuf,
}

/// `runc state` / `runc list` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RuncState {
    pub id: String,
    pub pid: i32,
    pub status: String,
}

impl Runc {
    pub fn new(binary: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Runc { binary: binary.into(), root: root.into() }
    }

    /// How errors name the runtime: the binary's file name (`runc`, `crun`).
    pub fn name(&self) -> String {
        self.binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "runc".into())
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null()).kill_on_drop(false);
        c
    }

    async fn run<I, S>(&self, op: &'static str, id: &str, args: I) -> Result<Vec<u8>, RuntimeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| RuntimeError::Io { context: format!("running {}", self.binary.display()), source: e })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(RuntimeError::Runc {
            runtime: self.name(),
            op,
            id: id.to_owned(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// `runc run --detach` without a shim (the pause process: no logs to
    /// keep, and its exit code does not matter): created and started by one
    /// runc process instead of `create` and `start`, about 4 ms less per
    /// sandbox here. Returns the init pid.
    ///
    /// All stdio is /dev/null: the container inherits runc's stdio, so a
    /// pipe here would never see EOF. runc's error goes to `--log` instead.
    pub async fn run_detached(&self, id: &str, bundle: &Path, pid_file: &Path) -> Result<i32, RuntimeError> {
        let log = bundle.join("runc.log");
        let status = Command::new(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "run", "--detach", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|e| RuntimeError::Io { context: format!("running {}", self.binary.display()), source: e })?;
        if !status.success() {
            let message =
                crate::shim::runc_error(&log).unwrap_or_else(|| format!("{} run exited with {status}", self.name()));
            return Err(RuntimeError::Runc { runtime: self.name(), op: "run", id: id.into(), message });
        }
        read_pid(pid_file)
    }

    pub async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("start", id, ["start", id]).await.map(drop)
    }

    /// Send a signal to the container's init (or, with `all`, to every process).
    /// A container that is already gone is not an error.
    pub async fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), RuntimeError> {
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, signal]);
        match self.run("kill", id, args).await {
            Ok(_) => Ok(()),
            Err(RuntimeError::Runc { message, .. }) if is_gone(&message) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Delete the container's runc state (and its cgroup). Idempotent.
    pub async fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        match self.run("delete", id, args).await {
            Ok(_) => Ok(()),
            Err(RuntimeError::Runc { message, .. }) if is_gone(&message) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn state(&self, id: &str) -> Result<Option<RuncState>, RuntimeError> {
        match self.run("state", id, ["state", id]).await {
            Ok(out) => serde_json::from_slice(&out).map(Some).map_err(|e| RuntimeError::Runc {
                runtime: self.name(),
                op: "state",
                id: id.into(),
                message: e.to_string(),
            }),
            Err(RuntimeError::Runc { message, .. }) if is_gone(&message) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every container in our runc root.
    pub async fn list(&self) -> Result<Vec<RuncState>, RuntimeError> {
        let out = self.run("list", "", ["list", "--format", "json"]).await?;
        let text = String::from_utf8_lossy(&out);
        if text.trim().is_empty() || text.trim() == "null" {
            return Ok(vec![]);
        }
        serde_json::from_str(&text).map_err(|e| RuntimeError::Runc {
            runtime: self.name(),
            op: "list",
            id: String::new(),
            message: e.to_string(),
        })
    }
}

fn is_gone(message: &str) -> bool {
    message.contains("does not exist") || message.contains("not running") || message.contains("container not found")
}

pub fn read_pid(path: &Path) -> Result<i32, RuntimeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RuntimeError::Io { context: format!("reading {}", path.display()), source: e })?;
    text.trim().parse().map_err(|_| RuntimeError::Io {
        context: format!("parsing pid file {}", path.display()),
        source: std::io::Error::other(format!("bad pid {text:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_messages() {
        assert!(is_gone("container \"x\" does not exist"));
        assert!(is_gone("cannot kill: container not running"));
        assert!(!is_gone("permission denied"));
    }
}
