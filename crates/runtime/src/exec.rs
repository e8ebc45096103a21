//! Interactive exec (`kubectl exec`, `kubectl cp`): a process started in a
//! running container with `runc exec` in the foreground, its stdio handed to
//! the caller as async streams.
//!
//! Why `runc exec` in the foreground: it stays the parent of the new process
//! and exits with its status (128+signal when killed), so the exit code
//! comes back without a subreaper. In detached mode (`-d`, the only mode in
//! which runc honours `--console-socket`) the process would be reparented to
//! whoever reaps orphans and its status would be lost.
//!
//! Without a tty, runc passes its own stdio to the process (pass-through), so
//! the pipes we give runc are the process's stdin/stdout/stderr. With a tty,
//! runc allocates the container's pty itself and copies between it and its
//! own stdio, which must be a terminal: we give it the slave of a pty of our
//! own and keep the master. A resize sets the size on our pty and sends
//! SIGWINCH to runc, which copies the size to the container's pty.
//!
//! The process is killed (through a pidfd, from runc's `--pid-file`) when the
//! session is dropped before it exited: a client that goes away must not
//! leave a shell running in the container.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, Signal};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::RuntimeError;
use crate::service::{RuncRuntime, new_id};

/// What to run and which streams the caller wants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSpec {
    /// argv; the first element is looked up in the container's PATH.
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    /// Ignored with a tty (all output arrives on stdout).
    pub stderr: bool,
    pub tty: bool,
}

/// Writer half of an exec session's stdin.
pub type ExecWriter = Pin<Box<dyn AsyncWrite + Send>>;
/// Reader of an exec session's output.
pub type ExecReader = Pin<Box<dyn AsyncRead + Send>>;

/// A started exec: its streams (taken by the caller), its terminal (tty
/// sessions) and the process handle.
pub struct ExecSession {
    pub stdin: Option<ExecWriter>,
    pub stdout: Option<ExecReader>,
    pub stderr: Option<ExecReader>,
    pub terminal: Option<ExecTerminal>,
    pub process: ExecProcess,
}

/// The running `runc exec`: wait, kill.
pub struct ExecProcess {
    child: tokio::process::Child,
    pid_file: PathBuf,
    runc_log: PathBuf,
    exited: Arc<AtomicBool>,
}

/// The terminal of a tty session, usable while the process runs.
#[derive(Clone)]
pub struct ExecTerminal {
    pty: Arc<AsyncFd<OwnedFd>>,
    runc: Option<Pid>,
    /// Set once runc is reaped: its pid may then belong to someone else.
    exited: Arc<AtomicBool>,
}

impl RuncRuntime {
    /// Start `spec.command` in running container `container_id`.
    pub async fn exec(&self, container_id: &str, spec: &ExecSpec) -> Result<ExecSession, RuntimeError> {
        let inner = &self.inner;
        let rec = inner.container(container_id).ok_or_else(|| RuntimeError::ContainerNotFound(container_id.into()))?;
        if inner.has_exited(container_id) {
            return Err(RuntimeError::ContainerNotRunning(container_id.into()));
        }
        if spec.command.is_empty() {
            return Err(RuntimeError::ExecFailed("you must specify at least 1 command".into()));
        }
        let dir = inner.container_dir(container_id);
        let tag = &new_id()[..16];
        let pid_file = dir.join(format!("exec-{tag}.pid"));
        let runc_log = dir.join(format!("exec-{tag}.log"));
        let runc = inner.container_runc(&rec);
        let mut cmd = tokio::process::Command::new(&runc.binary);
        cmd.arg("--root").arg(&runc.root).arg("--log").arg(&runc_log).args(["--log-format", "json", "exec"]);
        cmd.arg("--pid-file").arg(&pid_file);
        if spec.tty {
            cmd.args(["--tty", "--env", "TERM=xterm"]);
        }
        cmd.arg(container_id).args(&spec.command).kill_on_drop(false);

        let (mut stdin, mut stdout, mut stderr): (Option<ExecWriter>, Option<ExecReader>, Option<ExecReader>) =
            (None, None, None);
        let pty = if spec.tty {
            let (master, slave) = open_pty()?;
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| RuntimeError::io("duplicating the pty slave", e));
            cmd.stdin(Stdio::from(dup(&slave)?)).stdout(Stdio::from(dup(&slave)?)).stderr(Stdio::from(slave));
            let master = Arc::new(register(master)?);
            if spec.stdin {
                stdin = Some(Box::pin(PtyIo(master.clone())));
            }
            stdout = Some(Box::pin(PtyIo(master.clone())));
            Some(master)
        } else {
            cmd.stdin(if spec.stdin { Stdio::piped() } else { Stdio::null() });
            cmd.stdout(if spec.stdout { Stdio::piped() } else { Stdio::null() });
            cmd.stderr(if spec.stderr { Stdio::piped() } else { Stdio::null() });
            None
        };
        let mut child = cmd.spawn().map_err(|e| RuntimeError::io(format!("running {}", runc.binary.display()), e))?;
        // `cmd` still holds our copies of the pty slave: only runc may keep
        // it open, or reads of the master never see the end.
        drop(cmd);
        if !spec.tty {
            stdin = child.stdin.take().map(|w| Box::pin(w) as ExecWriter);
            stdout = child.stdout.take().map(|r| Box::pin(r) as ExecReader);
            stderr = child.stderr.take().map(|r| Box::pin(r) as ExecReader);
        }
        let exited = Arc::new(AtomicBool::new(false));
        let runc_pid = child.id().and_then(|p| Pid::from_raw(p as i32));
        let terminal = pty.map(|pty| ExecTerminal { pty, runc: runc_pid, exited: exited.clone() });
        let process = ExecProcess { child, pid_file, runc_log, exited };
        Ok(ExecSession { stdin, stdout, stderr, terminal, process })
    }
}

/// A new pty pair: (master, non-blocking; slave).
fn open_pty() -> Result<(OwnedFd, OwnedFd), RuntimeError> {
    let err = |what: &str, e: rustix::io::Errno| RuntimeError::io(format!("allocating a pty: {what}"), e.into());
    let master = rustix::pty::openpt(
        rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY | rustix::pty::OpenptFlags::CLOEXEC,
    )
    .map_err(|e| err("openpt", e))?;
    rustix::pty::grantpt(&master).map_err(|e| err("grantpt", e))?;
    rustix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e))?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(|e| err("ptsname", e))?;
    let slave = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| err("opening the slave", e))?;
    rustix::io::ioctl_fionbio(&master, true).map_err(|e| err("non-blocking", e))?;
    Ok((master, slave))
}

impl ExecTerminal {
    /// Set the terminal size.
    pub fn resize(&self, width: u16, height: u16) -> Result<(), RuntimeError> {
        crate::shim::attach::resize(self.pty.get_ref(), width, height)
            .map_err(|e| RuntimeError::io("setting the terminal size", e))?;
        // runc copies the size to the container's pty on SIGWINCH.
        if !self.exited.load(Ordering::SeqCst)
            && let Some(pid) = self.runc
        {
            let _ = rustix::process::kill_process(pid, Signal::WINCH);
        }
        Ok(())
    }
}

impl ExecProcess {
    /// Wait for the process to exit; its exit code (128+signal when killed).
    /// An exec that never started (runc failed, e.g. the command does not
    /// exist) is an error carrying runc's message.
    pub async fn wait(&mut self) -> Result<i32, RuntimeError> {
        let status = self.child.wait().await.map_err(|e| RuntimeError::io("waiting for runc exec", e))?;
        self.exited.store(true, Ordering::SeqCst);
        let code = exit_code(&status);
        let started = self.pid_file.exists();
        let message = if !started && code != 0 { crate::shim::runc_error(&self.runc_log) } else { None };
        self.remove_files();
        match (started, message) {
            (false, Some(m)) => Err(RuntimeError::ExecFailed(m)),
            (false, None) if code != 0 => Err(RuntimeError::ExecFailed(format!("runc exec exited with code {code}"))),
            _ => Ok(code),
        }
    }

    /// Kill the process (not runc: runc forwards what it can catch, and
    /// SIGKILL it cannot; killing runc would orphan the process).
    pub fn kill(&mut self) {
        if self.exited.load(Ordering::SeqCst) {
            return;
        }
        match read_pid(&self.pid_file) {
            Some(pid) => {
                if let Ok(fd) = rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
                    let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
                }
            }
            // Not started yet: runc has not forked the process.
            None => {
                let _ = self.child.start_kill();
            }
        }
    }

    fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.pid_file);
        let _ = std::fs::remove_file(&self.runc_log);
    }
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        if !self.exited.load(Ordering::SeqCst) {
            self.kill();
            // runc exits once the process is gone; tokio reaps it.
            self.remove_files();
        }
    }
}

/// Register the pty master with tokio's reactor.
fn register(master: OwnedFd) -> Result<AsyncFd<OwnedFd>, RuntimeError> {
    // SAFETY: the OwnedFd is moved into the AsyncFd, so the descriptor stays
    // open and refers to the same pty until the AsyncFd is dropped.
    #[allow(unsafe_code)]
    let registered = unsafe { AsyncFd::register(master) };
    registered.map_err(|e| RuntimeError::io("registering the pty", e.into()))
}

fn read_pid(path: &Path) -> Option<Pid> {
    crate::runc::read_pid(path).ok().and_then(Pid::from_raw)
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// One end of our pty master as an async stream. Reads end (EOF) with EIO,
/// which is what a master returns once every slave descriptor is closed.
struct PtyIo(Arc<AsyncFd<OwnedFd>>);

impl AsyncRead for PtyIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut *unfilled).map_err(io::Error::from)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), data).map_err(io::Error::from)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn pty_carries_bytes_and_ends_when_the_slave_closes() {
        let (master, slave) = open_pty().unwrap();
        // Raw mode on the slave so the line discipline passes bytes through.
        let mut t = rustix::termios::tcgetattr(&slave).unwrap();
        t.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();
        let master = Arc::new(register(master).unwrap());
        let (mut r, mut w) = (PtyIo(master.clone()), PtyIo(master));
        w.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        rustix::io::read(&slave, &mut got).unwrap();
        assert_eq!(&got, b"ping");
        rustix::io::write(&slave, b"pong").unwrap();
        drop(slave);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"pong");
    }

    #[test]
    fn resize_sets_the_pty_size() {
        let (master, slave) = open_pty().unwrap();
        crate::shim::attach::resize(&master, 120, 40).unwrap();
        let ws = rustix::termios::tcgetwinsize(&slave).unwrap();
        assert_eq!((ws.ws_col, ws.ws_row), (120, 40));
    }

    #[test]
    fn exit_codes_like_kubelet() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(&std::process::ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(&std::process::ExitStatus::from_raw(9)), 137);
    }
}
