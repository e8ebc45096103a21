//! Filesystem primitives confined to one root directory.
//!
//! Every path below the root is reached in two steps: the *parent* directory
//! is opened with `openat2(root_fd, parent, RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, so the kernel resolves `..` and symlinks (even
//! absolute ones) as if the root were `/`; then the final component, always a
//! single validated name, is acted on relative to that directory fd with
//! `*at(2)` calls that do not follow a symlink in it (`O_NOFOLLOW`,
//! `AT_SYMLINK_NOFOLLOW`, `O_EXCL` creation). No path string is ever
//! resolved against the host's `/`, so no archive entry can reach outside the
//! root, whatever symlinks earlier entries planted.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat, Timestamps, XattrFlags, mkdirat, openat, openat2, statat,
    unlinkat,
};
use rustix::io::Errno;

use crate::error::{ImageError, IoContext};

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
/// How often to retry `openat2` when the kernel reports a concurrent rename
/// under the root (`EAGAIN` with `RESOLVE_IN_ROOT`).
const OPENAT2_RETRIES: usize = 16;

/// A directory that all operations are confined to.
pub(super) struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// Join validated components into a path relative to the root (`.` if none).
fn rel(comps: &[OsString]) -> OsString {
    if comps.is_empty() {
        return OsString::from(".");
    }
    let mut out = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push("/");
        }
        out.push(c);
    }
    out
}

impl Root {
    /// Open the existing directory `path` as the root.
    pub(super) fn open(path: &Path) -> Result<Self, ImageError> {
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty()).at("open layer root", path)?;
        Ok(Self { fd, path: path.to_path_buf() })
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Host path of `comps`, for error messages only.
    pub(super) fn display(&self, comps: &[OsString]) -> PathBuf {
        comps.iter().fold(self.path.clone(), |p, c| p.join(c))
    }

    /// Open the existing directory `comps`, resolving symlinks inside the
    /// root.
    pub(super) fn open_dir(&self, comps: &[OsString]) -> io::Result<OwnedFd> {
        let path = rel(comps);
        let mut attempts = 0;
        loop {
            match openat2(&self.fd, &path, DIR_FLAGS, Mode::empty(), RESOLVE) {
                Err(Errno::AGAIN) if attempts < OPENAT2_RETRIES => attempts += 1,
                other => return other.map_err(io::Error::from),
            }
        }
    }

    /// Open directory `comps`, creating missing components (mode 0755, owned
    /// by the caller) like `mkdir -p` inside the root.
    pub(super) fn ensure_dir(&self, comps: &[OsString]) -> Result<OwnedFd, ImageError> {
        match self.open_dir(comps) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
            Err(e) => return Err(e).at("open directory", self.display(comps)),
        }
        let Some((name, parent_comps)) = comps.split_last() else {
            // The root itself always exists.
            return self.open_dir(comps).at("open layer root", &self.path);
        };
        let parent = self.ensure_dir(parent_comps)?;
        let shown = || self.display(comps);
        match mkdirat(&parent, name.as_os_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) => {}
            // Something is there, yet resolving it failed with ENOENT: a
            // dangling symlink. Creating its target would mean following it;
            // refuse instead (the O_NOFOLLOW open below reports it).
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e).at("create directory", shown()),
        }
        let fd =
            openat(&parent, name.as_os_str(), DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()).map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR => ImageError::UnsafeEntry {
                    path: shown().display().to_string(),
                    reason: "parent directory is a dangling symlink or not a directory",
                },
                e => ImageError::Io { op: "open directory", path: shown(), source: e.into() },
            })?;
        // mkdirat applied the process umask; make the mode independent of it.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755)).at("chmod directory", shown())?;
        Ok(fd)
    }
}

/// `lstat` of `name` in `dir`; `None` if absent.
pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Stat>> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// Make room for a new entry `name` in `dir`: unlink a non-directory, remove
/// a directory tree unless `keep_dir` (a directory entry over an existing
/// directory merges into it). Returns whether a directory was kept.
///
/// Non-directories are always unlinked first, so a new file never writes
/// through an old hard link or symlink.
pub(super) fn make_room(dir: BorrowedFd<'_>, name: &OsStr, keep_dir: bool) -> io::Result<bool> {
    match lstat_at(dir, name)? {
        None => Ok(false),
        Some(st) if is_dir(&st) => {
            if keep_dir {
                Ok(true)
            } else {
                remove_tree(dir, name)?;
                Ok(false)
            }
        }
        Some(_) => {
            unlinkat(dir, name, AtFlags::empty())?;
            Ok(false)
        }
    }
}

/// `rm -rf name` relative to `dir`, never following symlinks.
pub(super) fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let fd = openat(dir, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())?;
    let mut children = Vec::new();
    for entry in Dir::read_from(&fd)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child == b"." || child == b".." {
            continue;
        }
        children.push((OsStr::from_bytes(child).to_owned(), entry.file_type()));
    }
    for (child, kind) in children {
        let child_is_dir = match kind {
            FileType::Directory => true,
            FileType::Unknown => lstat_at(fd.as_fd(), &child)?.is_some_and(|st| is_dir(&st)),
            _ => false,
        };
        if child_is_dir {
            remove_tree(fd.as_fd(), &child)?;
        } else {
            unlinkat(&fd, child.as_os_str(), AtFlags::empty())?;
        }
    }
    unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Set an xattr on `name` in `dir` without following a symlink there and
/// without opening it (FIFOs would block, symlinks cannot be opened for
/// writing): `lsetxattr` through our own `/proc/self/fd/<dir>` link.
pub(super) fn lsetxattr_at(dir: BorrowedFd<'_>, name: &OsStr, key: &OsStr, value: &[u8]) -> io::Result<()> {
    let mut path = OsString::from(format!("/proc/self/fd/{}/", dir.as_raw_fd()));
    path.push(name);
    rustix::fs::lsetxattr(&path, key, value, XattrFlags::empty()).map_err(Into::into)
}

/// Set access and modification times of `name` in `dir`, not following a
/// symlink.
pub(super) fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, times: &Timestamps) -> io::Result<()> {
    rustix::fs::utimensat(dir, name, times, AtFlags::SYMLINK_NOFOLLOW).map_err(Into::into)
}
