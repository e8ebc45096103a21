//! The daemon's side of `kubectl attach`: the container's stdin FIFO and
//! control FIFO that its shim keeps (see `shim::attach`). Output is not
//! here: attach sessions follow the container's CRI log, which the shim
//! writes as the output happens.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::RuntimeError;
use crate::exec::ExecWriter;
use crate::service::RuncRuntime;
use crate::shim::attach::{CTL_FIFO, Control, STDIN_FIFO};

/// An attach session's handles on a running container.
pub struct AttachSession {
    /// Writes to the container's stdin (None when it has none or none was asked for).
    pub stdin: Option<ExecWriter>,
    pub control: AttachControl,
    /// The container runs on a pty (all output is on stdout).
    pub tty: bool,
}

/// Resize the container's terminal, close its stdin.
#[derive(Debug, Clone)]
pub struct AttachControl {
    ctl: Option<PathBuf>,
}

impl AttachControl {
    fn send(&self, c: Control) -> Result<(), RuntimeError> {
        let Some(path) = &self.ctl else { return Ok(()) };
        // The shim holds the FIFO open for reading, so this neither blocks
        // nor fails unless the shim is gone; a line is written atomically.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| RuntimeError::io(format!("opening {}", path.display()), e))?;
        f.write_all(c.line().as_bytes()).map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))
    }

    /// Set the terminal size of a tty container.
    pub fn resize(&self, width: u16, height: u16) -> Result<(), RuntimeError> {
        self.send(Control::Resize { width, height })
    }

    /// Close the container's stdin for good (`stdinOnce` after the first session).
    pub fn close_stdin(&self) -> Result<(), RuntimeError> {
        self.send(Control::CloseStdin)
    }
}

impl RuncRuntime {
    /// Attach to running container `container_id`; `stdin` asks for a
    /// writer to its stdin (ignored when the container has no stdin).
    pub fn attach(&self, container_id: &str, stdin: bool) -> Result<AttachSession, RuntimeError> {
        let inner = &self.inner;
        let rec = inner.container(container_id).ok_or_else(|| RuntimeError::ContainerNotFound(container_id.into()))?;
        if inner.has_exited(container_id) {
            return Err(RuntimeError::ContainerNotRunning(container_id.into()));
        }
        let dir = inner.container_dir(container_id);
        let writer = if stdin && rec.config.stdin {
            let path = dir.join(STDIN_FIFO);
            let w = tokio::net::unix::pipe::OpenOptions::new()
                .open_sender(&path)
                .map_err(|e| RuntimeError::io(format!("opening {}", path.display()), e))?;
            Some(Box::pin(w) as ExecWriter)
        } else {
            None
        };
        let ctl = (rec.config.stdin || rec.config.tty).then(|| dir.join(CTL_FIFO));
        Ok(AttachSession { stdin: writer, control: AttachControl { ctl }, tty: rec.config.tty })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines_reach_the_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let fds = crate::shim::attach::prepare(dir.path(), "c2", true, false).unwrap();
        let c = AttachControl { ctl: Some(dir.path().join(CTL_FIFO)) };
        c.resize(80, 24).unwrap();
        c.close_stdin().unwrap();
        let mut buf = vec![0u8; 64];
        let n = rustix::io::read(fds.ctl.as_ref().unwrap(), &mut buf).unwrap();
        buf.truncate(n);
        assert_eq!(
            crate::shim::attach::parse_control(&mut buf),
            vec![Control::Resize { width: 80, height: 24 }, Control::CloseStdin]
        );
        // No control FIFO (a container without stdin or tty): nothing to do.
        assert!(AttachControl { ctl: None }.resize(1, 1).is_ok());
    }
}
