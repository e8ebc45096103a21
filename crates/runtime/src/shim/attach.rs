//! The shim's side of `kubectl attach` and of tty containers.
//!
//! Files in the container's directory, shared with the daemon (attach.rs):
//! - `attach-stdin`, a FIFO for containers with `stdin: true`: attach
//!   sessions open it for writing. Without a tty its read end *is* the
//!   container's stdin, and the shim holds a write end open so the container
//!   sees no EOF between sessions (dropped on `close-stdin`, for
//!   `stdinOnce`). With a tty the shim reads it and copies into the pty.
//! - `attach-ctl`, a FIFO of one-line commands from the daemon:
//!   `resize <width> <height>` and `close-stdin`.
//!
//! A tty container's pty is made by runc (`process.terminal`), which sends
//! the master to `--console-socket` over SCM_RIGHTS; we listen on an
//! abstract socket named after the container, so no file is left behind
//! and no path length limit applies.

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SocketAddrUnix, SocketFlags, SocketType,
};

/// The stdin FIFO in a container directory.
pub const STDIN_FIFO: &str = "attach-stdin";
/// The control FIFO in a container directory.
pub const CTL_FIFO: &str = "attach-ctl";

/// How long runc may take to hand over the console after `runc create`.
const CONSOLE_TIMEOUT_MS: i32 = 10_000;

/// A command on the control FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Resize { width: u16, height: u16 },
    CloseStdin,
}

impl Control {
    /// The line the daemon writes.
    pub fn line(&self) -> String {
        match self {
            Control::Resize { width, height } => format!("resize {width} {height}\n"),
            Control::CloseStdin => "close-stdin\n".into(),
        }
    }
}

/// Take the complete lines out of `buf` as commands (unknown lines are skipped).
pub fn parse_control(buf: &mut Vec<u8>) -> Vec<Control> {
    let mut out = Vec::new();
    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=pos).collect();
        let text = String::from_utf8_lossy(&line[..pos]);
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["resize", w, h] => {
                if let (Ok(width), Ok(height)) = (w.parse(), h.parse()) {
                    out.push(Control::Resize { width, height });
                }
            }
            ["close-stdin"] => out.push(Control::CloseStdin),
            _ => {}
        }
    }
    out
}

/// The abstract socket runc sends a tty container's console to.
pub fn console_socket_name(container_id: &str) -> String {
    format!("@peapod-console-{container_id}")
}

fn fifo(path: &Path) -> io::Result<()> {
    match rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, Mode::from_raw_mode(0o600), 0) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), format!("mkfifo {}: {e}", path.display()))),
    }
}

/// The attach plumbing of one container.
#[derive(Default)]
pub struct AttachFds {
    /// No tty: the FIFO's read end, to become the container's stdin.
    pub container_stdin: Option<OwnedFd>,
    /// No tty: a write end held so the container's stdin stays open.
    pub keepalive: Option<OwnedFd>,
    /// With a tty: the FIFO, read by the shim (opened read-write, so it
    /// never reports EOF when a session's writer goes away).
    pub tty_input: Option<OwnedFd>,
    /// The control FIFO (read-write for the same reason).
    pub ctl: Option<OwnedFd>,
    /// With a tty: where runc sends the console.
    pub console: Option<OwnedFd>,
}

/// Create the FIFOs and the console listener in `bundle` for a container.
pub fn prepare(bundle: &Path, container_id: &str, stdin: bool, tty: bool) -> io::Result<AttachFds> {
    let mut fds = AttachFds::default();
    let open = |p: &Path, flags: OFlags| {
        rustix::fs::open(p, flags | OFlags::CLOEXEC | OFlags::NONBLOCK, Mode::empty())
            .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", p.display())))
    };
    if stdin {
        let path = bundle.join(STDIN_FIFO);
        fifo(&path)?;
        if tty {
            fds.tty_input = Some(open(&path, OFlags::RDWR)?);
        } else {
            // Read end first (a non-blocking open needs no writer), then the
            // write end (which needs a reader); the container reads blocking.
            let r = open(&path, OFlags::RDONLY)?;
            rustix::io::ioctl_fionbio(&r, false)?;
            fds.keepalive = Some(open(&path, OFlags::WRONLY)?);
            fds.container_stdin = Some(r);
        }
    }
    if stdin || tty {
        let path = bundle.join(CTL_FIFO);
        fifo(&path)?;
        fds.ctl = Some(open(&path, OFlags::RDWR)?);
    }
    if tty {
        let l = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
        let name = console_socket_name(container_id);
        let addr = SocketAddrUnix::new_abstract_name(name.trim_start_matches('@').as_bytes())?;
        rustix::net::bind(&l, &addr)?;
        rustix::net::listen(&l, 1)?;
        fds.console = Some(l);
    }
    Ok(fds)
}

/// Accept runc's connection on the console listener and take the pty
/// master it sends (SCM_RIGHTS). Called after `runc create` returned, when
/// the connection and the message are already queued.
pub fn receive_console(listener: &OwnedFd) -> io::Result<OwnedFd> {
    let mut pfd = [rustix::event::PollFd::new(listener, rustix::event::PollFlags::IN)];
    let timeout = rustix::time::Timespec { tv_sec: (CONSOLE_TIMEOUT_MS / 1000) as i64, tv_nsec: 0 };
    if rustix::event::poll(&mut pfd, Some(&timeout))? == 0 {
        return Err(io::Error::other("runc did not send the container's console"));
    }
    let conn = rustix::net::accept_with(listener, SocketFlags::CLOEXEC)?;
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 4096];
    rustix::net::recvmsg(conn.as_fd(), &mut [IoSliceMut::new(&mut name)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(io::Error::other("runc's console message carried no file descriptor"))
}

/// Apply a terminal size to a pty master.
pub fn resize(master: &OwnedFd, width: u16, height: u16) -> io::Result<()> {
    let ws = rustix::termios::Winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(master, ws)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines_round_trip_and_tolerate_junk() {
        let mut buf = [Control::Resize { width: 120, height: 40 }.line(), "bogus\n".into(), Control::CloseStdin.line()]
            .concat()
            .into_bytes();
        buf.extend_from_slice(b"resize 8");
        assert_eq!(parse_control(&mut buf), vec![Control::Resize { width: 120, height: 40 }, Control::CloseStdin]);
        assert_eq!(buf, b"resize 8", "an incomplete line waits for the rest");
    }

    #[test]
    fn stdin_fifo_stays_open_until_the_keepalive_goes() {
        let dir = tempfile::tempdir().unwrap();
        let fds = prepare(dir.path(), "c1", true, false).unwrap();
        let r = fds.container_stdin.unwrap();
        // A session writes and goes away: the container still has a writer.
        let w = rustix::fs::open(dir.path().join(STDIN_FIFO), OFlags::WRONLY, Mode::empty()).unwrap();
        rustix::io::write(&w, b"hi").unwrap();
        drop(w);
        let mut buf = [0u8; 8];
        assert_eq!(rustix::io::read(&r, &mut buf).unwrap(), 2);
        drop(fds.keepalive);
        assert_eq!(rustix::io::read(&r, &mut buf).unwrap(), 0, "EOF once nobody can write");
        assert!(fds.ctl.is_some() && fds.console.is_none());
    }

    #[test]
    fn console_arrives_over_scm_rights() {
        let dir = tempfile::tempdir().unwrap();
        let id = format!("test-{}", std::process::id());
        let fds = prepare(dir.path(), &id, false, true).unwrap();
        let listener = fds.console.unwrap();
        // Play runc: connect and send a descriptor (one end of a pipe).
        let (pr, pw) = rustix::pipe::pipe().unwrap();
        let c = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
        let name = console_socket_name(&id);
        let addr = SocketAddrUnix::new_abstract_name(name.trim_start_matches('@').as_bytes()).unwrap();
        rustix::net::connect(&c, &addr).unwrap();
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
        let fds_to_send = [pw.as_fd()];
        assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds_to_send)));
        rustix::net::sendmsg(
            &c,
            &[std::io::IoSlice::new(b"/dev/pts/9")],
            &mut control,
            rustix::net::SendFlags::empty(),
        )
        .unwrap();
        drop(pw);
        let got = receive_console(&listener).unwrap();
        rustix::io::write(&got, b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(rustix::io::read(&pr, &mut b).unwrap(), 1);
    }
}
