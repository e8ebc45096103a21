//! The per-container monitor ("shim"), the role conmon plays for podman.
//!
//! The daemon starts `peapod __shim ...` once per app container. The shim:
//! 1. leaves the daemon's session (`setsid`) and becomes a child subreaper, so
//!    the container process (whose parent, `runc create`, exits at once) is
//!    reparented to the shim and the shim can `waitpid` it for the exit code;
//! 2. runs `runc create` with two pipes as the container's stdout/stderr and
//!    tells the daemon on its own stdout: `ok <pid>` or `error <message>`;
//! 3. copies the pipes into the CRI log file (`<RFC3339Nano> <stream> <P|F> <text>`),
//!    rotating it by size ([`log_file`]);
//! 4. when the container exits, reads the OOM counter of its cgroup before
//!    anything can delete it, and writes the exit file atomically.
//!
//! So the daemon can be killed at any time without losing a log line or an
//! exit code: the shim owns both. It is single-threaded and does not use
//! tokio; it waits with `poll(2)` on the two pipes and a pidfd of the
//! container, so an idle container costs no wakeups.
//!
//! Containers with `stdin: true` or `tty: true` also get the attach plumbing
//! of [`attach`]: a stdin FIFO, a control FIFO (resize, close stdin) and, for
//! a tty, the pty master runc hands over, whose output is logged as stdout
//! (partial lines at once, so prompts reach `kubectl attach`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, WaitOptions};
use serde::{Deserialize, Serialize};

use crate::cgroups;

pub mod attach;
pub mod log_file;

pub use log_file::{LogRotation, LogWriter};

/// Arguments of `peapod __shim`. Passed as `--key value` pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShimArgs {
    pub id: String,
    pub bundle: PathBuf,
    pub runc: PathBuf,
    pub runc_root: PathBuf,
    /// CRI log file; empty = discard output.
    pub log_path: PathBuf,
    pub exit_file: PathBuf,
    pub pid_file: PathBuf,
    pub runc_log: PathBuf,
    /// cgroupsPath of the container, for the OOM-kill counter.
    pub cgroup: String,
    /// The container reads stdin (attach sessions write to it).
    pub stdin: bool,
    /// The container runs on a pty (the OCI spec's `process.terminal`).
    pub tty: bool,
    /// Rotate the log before it grows past this many bytes (0 = never).
    pub log_max_size: u64,
    /// Most files of the log kept, the live one included.
    pub log_max_files: u32,
}

impl ShimArgs {
    pub fn to_args(&self) -> Vec<String> {
        let p = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            "--id".into(),
            self.id.clone(),
            "--bundle".into(),
            p(&self.bundle),
            "--runc".into(),
            p(&self.runc),
            "--runc-root".into(),
            p(&self.runc_root),
            "--log-path".into(),
            p(&self.log_path),
            "--exit-file".into(),
            p(&self.exit_file),
            "--pid-file".into(),
            p(&self.pid_file),
            "--runc-log".into(),
            p(&self.runc_log),
            "--cgroup".into(),
            self.cgroup.clone(),
            "--stdin".into(),
            self.stdin.to_string(),
            "--tty".into(),
            self.tty.to_string(),
            "--log-max-size".into(),
            self.log_max_size.to_string(),
            "--log-max-files".into(),
            self.log_max_files.to_string(),
        ]
    }

    pub fn parse(args: &[String]) -> Result<ShimArgs, String> {
        let mut a = ShimArgs::default();
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let v = it.next().ok_or_else(|| format!("missing value for {k}"))?.clone();
            match k.as_str() {
                "--id" => a.id = v,
                "--bundle" => a.bundle = v.into(),
                "--runc" => a.runc = v.into(),
                "--runc-root" => a.runc_root = v.into(),
                "--log-path" => a.log_path = v.into(),
                "--exit-file" => a.exit_file = v.into(),
                "--pid-file" => a.pid_file = v.into(),
                "--runc-log" => a.runc_log = v.into(),
                "--cgroup" => a.cgroup = v,
                "--stdin" => a.stdin = v == "true",
                "--tty" => a.tty = v == "true",
                "--log-max-size" => a.log_max_size = number(k, &v)?,
                "--log-max-files" => a.log_max_files = number(k, &v)?,
                _ => return Err(format!("unknown shim argument {k}")),
            }
        }
        if a.id.is_empty() || a.bundle.as_os_str().is_empty() || a.exit_file.as_os_str().is_empty() {
            return Err("shim needs --id, --bundle and --exit-file".into());
        }
        Ok(a)
    }

    /// The log rotation these arguments ask for.
    pub fn log_rotation(&self) -> LogRotation {
        LogRotation { max_size: self.log_max_size, max_files: self.log_max_files }
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("invalid number for {key}: {value:?}"))
}

/// What the shim records when the container's init process has exited.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    /// Exit status as Kubernetes reports it: the code, or 128+signal.
    pub exit_code: i32,
    /// The signal that killed it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub finished_at: jiff::Timestamp,
    #[serde(default)]
    pub oom_killed: bool,
    pub pid: i32,
}

impl ExitRecord {
    pub fn read(path: &Path) -> io::Result<Option<ExitRecord>> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Entry point of `peapod __shim`. Returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let args = match ShimArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            println!("error {e}");
            return 2;
        }
    };
    match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            // Before the handshake this reaches the daemon; after it, stdout
            // is /dev/null and the error is in the exit file's absence.
            println!("error {e}");
            1
        }
    }
}

fn run(a: &ShimArgs) -> io::Result<()> {
    // Leave the daemon's session and process group: a Ctrl-C or SIGHUP aimed
    // at the daemon's terminal must not reach containers.
    let _ = rustix::process::setsid();
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;

    let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let mut fds = attach::prepare(&a.bundle, &a.id, a.stdin, a.tty)?;

    let mut cmd = Command::new(&a.runc);
    cmd.arg("--root")
        .arg(&a.runc_root)
        .arg("--log")
        .arg(&a.runc_log)
        .arg("--log-format")
        .arg("json")
        .arg("create")
        .arg("--bundle")
        .arg(&a.bundle)
        .arg("--pid-file")
        .arg(&a.pid_file);
    if a.tty {
        // The container's stdio is its pty; runc's own output goes to --log.
        cmd.arg("--console-socket").arg(attach::console_socket_name(&a.id));
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        drop((out_w, err_w));
    } else {
        let stdin = match fds.container_stdin.take() {
            Some(fd) => Stdio::from(fd),
            None => Stdio::null(),
        };
        cmd.stdin(stdin).stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
    }
    let status = cmd.arg(&a.id).status()?;
    // Our copies of the write ends were moved into the child's Stdio and are
    // closed now; only the container holds them, so EOF means it is gone.
    drop(cmd);
    if !status.success() {
        let msg = runc_error(&a.runc_log).unwrap_or_else(|| format!("runc create exited with {status}"));
        return Err(io::Error::other(msg));
    }
    let pty = match fds.console.take() {
        Some(listener) => Some(attach::receive_console(&listener)?),
        None => None,
    };
    let pid_text = std::fs::read_to_string(&a.pid_file)?;
    let pid: i32 = pid_text.trim().parse().map_err(|_| io::Error::other(format!("bad pid file {pid_text:?}")))?;
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("pid 0"))?;
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())?;

    // Handshake, then stop writing to the daemon's pipe for good.
    {
        let mut out = io::stdout().lock();
        writeln!(out, "ok {}", pid.as_raw_nonzero())?;
        out.flush()?;
    }
    let devnull = File::options().read(true).write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdout(&devnull)?;
    rustix::stdio::dup2_stdin(&devnull)?;
    rustix::stdio::dup2_stderr(&devnull)?;

    let mut log = LogWriter::open(&a.log_path, a.log_rotation())?;
    let io = match pty {
        Some(master) => {
            rustix::io::ioctl_fionbio(&master, true)?;
            let reader = master.try_clone()?;
            drop((out_r, err_r));
            Io::new(vec![Stream::new("stdout", reader).eager()], fds, Some(master))
        }
        None => Io::new(vec![Stream::new("stdout", out_r), Stream::new("stderr", err_r)], fds, None),
    };
    let exit = monitor(&mut log, io, &pidfd, pid)?;
    // As containerd: any OOM kill in the container's cgroup (the init or a
    // child it waited for) makes the exit an OOMKill.
    let oom_killed = cgroups::oom_kill_count(&a.cgroup) > 0;
    let rec = ExitRecord {
        exit_code: exit.code,
        signal: exit.signal,
        finished_at: jiff::Timestamp::now(),
        oom_killed,
        pid: pid.as_raw_nonzero().get(),
    };
    write_atomic(&a.exit_file, &serde_json::to_vec(&rec).map_err(io::Error::other)?)?;
    reap_all();
    Ok(())
}

struct Exit {
    code: i32,
    signal: Option<i32>,
}

/// What the monitor polls besides the container's pidfd.
struct Io {
    streams: Vec<Stream>,
    /// The pty master (tty containers): input and resizes go there.
    pty: Option<OwnedFd>,
    /// Attach input for the pty (the stdin FIFO), and what is not written yet.
    input: Option<OwnedFd>,
    pending: Vec<u8>,
    /// The control FIFO and its partial line.
    ctl: Option<OwnedFd>,
    ctl_buf: Vec<u8>,
    /// Keeps a non-tty container's stdin open until `close-stdin`.
    keepalive: Option<OwnedFd>,
}

impl Io {
    fn new(streams: Vec<Stream>, fds: attach::AttachFds, pty: Option<OwnedFd>) -> Io {
        Io {
            streams,
            pty,
            input: fds.tty_input,
            pending: Vec::new(),
            ctl: fds.ctl,
            ctl_buf: Vec::new(),
            keepalive: fds.keepalive,
        }
    }

    fn control(&mut self) -> io::Result<()> {
        let Some(ctl) = &self.ctl else { return Ok(()) };
        let mut chunk = [0u8; 512];
        match rustix::io::read(ctl, &mut chunk) {
            Ok(n) => self.ctl_buf.extend_from_slice(&chunk[..n]),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for c in attach::parse_control(&mut self.ctl_buf) {
            match c {
                attach::Control::Resize { width, height } => {
                    if let Some(pty) = &self.pty {
                        let _ = attach::resize(pty, width, height);
                    }
                }
                attach::Control::CloseStdin => {
                    self.keepalive = None;
                    self.input = None;
                }
            }
        }
        Ok(())
    }

    /// Read attach input (the pty's stdin) into `pending`.
    fn read_input(&mut self) {
        let Some(fd) = &self.input else { return };
        let mut chunk = [0u8; 4096];
        if let Ok(n) = rustix::io::read(fd, &mut chunk) {
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Write pending input to the pty (non-blocking: what does not fit waits).
    fn write_input(&mut self) {
        let Some(pty) = &self.pty else {
            self.pending.clear();
            return;
        };
        match rustix::io::write(pty, &self.pending) {
            Ok(n) => {
                self.pending.drain(..n);
            }
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
            // The pty is gone with the container: the input has nowhere to go.
            Err(_) => self.pending.clear(),
        }
    }
}

/// What a poll slot is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Stream(usize),
    Exit,
    Input,
    PtyOut,
    Ctl,
}

/// Copy output into the log (and attach input into the container) until the
/// container exits, then drain what is left. Returns the exit status of the
/// container's init process.
fn monitor(log: &mut LogWriter, mut io: Io, pidfd: &OwnedFd, pid: Pid) -> io::Result<Exit> {
    let mut exit: Option<Exit> = None;
    let mut drain_deadline: Option<std::time::Instant> = None;
    loop {
        let open: Vec<usize> = (0..io.streams.len()).filter(|&i| io.streams[i].fd.is_some()).collect();
        if open.is_empty() && exit.is_some() {
            break;
        }
        if let Some(d) = drain_deadline
            && std::time::Instant::now() >= d
        {
            break;
        }
        let mut slots: Vec<(Slot, &OwnedFd, PollFlags)> = Vec::with_capacity(6);
        for &i in &open {
            slots.push((Slot::Stream(i), io.streams[i].fd.as_ref().expect("open"), PollFlags::IN));
        }
        if exit.is_none() {
            slots.push((Slot::Exit, pidfd, PollFlags::IN));
            if let Some(ctl) = &io.ctl {
                slots.push((Slot::Ctl, ctl, PollFlags::IN));
            }
            match (&io.input, &io.pty) {
                (Some(input), _) if io.pending.is_empty() => slots.push((Slot::Input, input, PollFlags::IN)),
                (_, Some(pty)) if !io.pending.is_empty() => slots.push((Slot::PtyOut, pty, PollFlags::OUT)),
                _ => {}
            }
        }
        let kinds: Vec<Slot> = slots.iter().map(|s| s.0).collect();
        let mut fds: Vec<PollFd<'_>> = slots.iter().map(|(_, fd, f)| PollFd::new(*fd, *f)).collect();
        // Once the process is gone we only wait a little for descendants
        // that still hold the pipes (they die with a private PID namespace).
        let timeout = drain_deadline.map(|_| rustix::time::Timespec { tv_sec: 0, tv_nsec: 20_000_000 });
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        drop(slots);
        for (kind, ready) in kinds.into_iter().zip(ready) {
            if !ready {
                continue;
            }
            match kind {
                Slot::Stream(i) => io.streams[i].pump(log)?,
                Slot::Ctl => io.control()?,
                Slot::Input => io.read_input(),
                Slot::PtyOut => io.write_input(),
                Slot::Exit => {
                    exit = Some(wait_exit(pid)?);
                    drain_deadline = Some(std::time::Instant::now() + std::time::Duration::from_millis(500));
                }
            }
        }
        if !io.pending.is_empty() {
            io.write_input();
        }
    }
    for s in &mut io.streams {
        s.finish(log)?;
    }
    Ok(exit.expect("loop ends only after exit"))
}

fn wait_exit(pid: Pid) -> io::Result<Exit> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, st))) => {
                if let Some(sig) = st.terminating_signal() {
                    return Ok(Exit { code: 128 + sig, signal: Some(sig) });
                }
                return Ok(Exit { code: st.exit_status().unwrap_or(255), signal: None });
            }
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reap whatever else was reparented to us (descendants of the container).
fn reap_all() {
    while let Ok(Some(_)) = rustix::process::waitpid(None, WaitOptions::NOHANG) {}
}

/// Longest line written as one log entry; longer lines are split into
/// partial (`P`) entries, as containerd does with its 16 KiB buffer.
const MAX_LINE: usize = 16 * 1024;
/// How much one read of a container's output may take.
const READ_CHUNK: usize = 32 * 1024;

struct Stream {
    name: &'static str,
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
    /// Log a partial line at once instead of waiting for its newline (a
    /// tty's prompt has none).
    eager: bool,
}

impl Stream {
    fn new(name: &'static str, fd: OwnedFd) -> Self {
        Stream { name, fd: Some(fd), buf: Vec::new(), eager: false }
    }

    fn eager(mut self) -> Self {
        self.eager = true;
        self
    }

    /// Read once (the fd is readable) and log every complete line.
    fn pump(&mut self, log: &mut LogWriter) -> io::Result<()> {
        let Some(fd) = self.fd.as_ref() else {
            return Ok(());
        };
        // Straight into `buf`'s spare room: a zeroed 32 KiB stack buffer
        // stayed dirty for the shim's whole life, a sixth of its private
        // memory; here only the pages the kernel writes are touched.
        self.buf.reserve(READ_CHUNK);
        let n = match rustix::io::read(fd.as_fd(), rustix::buffer::spare_capacity(&mut self.buf)) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => return Ok(()),
            // A pty master reads EIO once the last slave is closed: its EOF.
            Err(rustix::io::Errno::IO) => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            self.fd = None;
            return Ok(());
        }
        loop {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(pos) if pos <= MAX_LINE => {
                    let line: Vec<u8> = self.buf.drain(..=pos).collect();
                    log.entry(self.name, false, &line[..pos])?;
                }
                // A line longer than the buffer: emit it in partial pieces.
                _ if self.buf.len() > MAX_LINE => {
                    let part: Vec<u8> = self.buf.drain(..MAX_LINE).collect();
                    log.entry(self.name, true, &part)?;
                }
                _ if self.eager && !self.buf.is_empty() => {
                    let part = std::mem::take(&mut self.buf);
                    log.entry(self.name, true, &part)?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// At EOF, a last line without a newline is still a full entry.
    fn finish(&mut self, log: &mut LogWriter) -> io::Result<()> {
        self.fd = None;
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            log.entry(self.name, false, &rest)?;
        }
        Ok(())
    }
}

/// One CRI log line: `<RFC3339Nano> <stream> <P|F> <text>\n`.
pub fn format_cri_line(ts: jiff::Timestamp, stream: &str, partial: bool, text: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(text.len() + 48);
    line.extend_from_slice(rfc3339_nano(ts).as_bytes());
    line.push(b' ');
    line.extend_from_slice(stream.as_bytes());
    line.extend_from_slice(if partial { b" P " } else { b" F " });
    line.extend_from_slice(text);
    line.push(b'\n');
    line
}

/// Go's time.RFC3339Nano: UTC, fractional seconds without trailing zeros.
pub fn rfc3339_nano(ts: jiff::Timestamp) -> String {
    let s = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let ns = ts.subsec_nanosecond();
    if ns == 0 {
        return format!("{s}Z");
    }
    let frac = format!("{ns:09}");
    format!("{s}.{}Z", frac.trim_end_matches('0'))
}

/// The last error runc wrote to its `--log-format json` log.
pub fn runc_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(str::to_owned))
}

/// Write a file so readers see either nothing or the whole content.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Read a whole pipe (used by tests).
#[allow(dead_code)]
fn read_all(mut r: impl Read) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let a = ShimArgs {
            id: "abc".into(),
            bundle: "/b".into(),
            runc: "/usr/sbin/runc".into(),
            runc_root: "/r".into(),
            log_path: "/l/0.log".into(),
            exit_file: "/e".into(),
            pid_file: "/p".into(),
            runc_log: "/rl".into(),
            cgroup: "/peapod/podx/abc".into(),
            stdin: true,
            tty: false,
            log_max_size: 10 << 20,
            log_max_files: 5,
        };
        assert_eq!(ShimArgs::parse(&a.to_args()).unwrap(), a);
        assert_eq!(a.log_rotation(), LogRotation::KUBELET_DEFAULT);
        assert!(ShimArgs::parse(&["--id".into()]).is_err());
        let mut bad = a.to_args();
        let i = bad.iter().position(|x| x == "--log-max-size").unwrap();
        bad[i + 1] = "10Mi".into();
        assert!(ShimArgs::parse(&bad).unwrap_err().contains("--log-max-size"));
        assert!(ShimArgs::parse(&["--bogus".into(), "x".into()]).is_err());
    }

    #[test]
    fn cri_line_format() {
        let ts: jiff::Timestamp = "2016-10-06T00:17:09.669794200Z".parse().unwrap();
        assert_eq!(
            format_cri_line(ts, "stdout", false, b"hello"),
            b"2016-10-06T00:17:09.6697942Z stdout F hello\n".to_vec()
        );
        let ts: jiff::Timestamp = "2016-10-06T00:17:09Z".parse().unwrap();
        assert_eq!(format_cri_line(ts, "stderr", true, b"x"), b"2016-10-06T00:17:09Z stderr P x\n".to_vec());
    }

    #[test]
    fn long_lines_split_into_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = LogWriter::open(&path, LogRotation::default()).unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        let mut s = Stream::new("stdout", r);
        let mut data = vec![b'a'; MAX_LINE + 10];
        data.extend_from_slice(b"\nshort\ntail");
        rustix::io::write(&w, &data).unwrap();
        drop(w);
        s.pump(&mut log).unwrap();
        s.pump(&mut log).unwrap(); // EOF
        assert!(s.fd.is_none());
        s.finish(&mut log).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let tags: Vec<(&str, &str, usize)> = text
            .lines()
            .map(|l| {
                let mut p = l.splitn(4, ' ');
                let _ts = p.next().unwrap();
                (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or("").len())
            })
            .collect();
        assert_eq!(tags, vec![("stdout", "P", MAX_LINE), ("stdout", "F", 10), ("stdout", "F", 5), ("stdout", "F", 4)]);
    }

    #[test]
    fn exit_record_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("exit");
        assert_eq!(ExitRecord::read(&p).unwrap(), None);
        let r = ExitRecord {
            exit_code: 137,
            signal: Some(9),
            finished_at: jiff::Timestamp::now(),
            oom_killed: true,
            pid: 42,
        };
        write_atomic(&p, &serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(ExitRecord::read(&p).unwrap(), Some(r));
    }
}
