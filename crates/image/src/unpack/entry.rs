//! The per-entry loop: what each tar entry type becomes on disk.

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, Timestamps, Uid, XattrFlags, chownat, fchmod, fchown, fsetxattr, futimens,
    linkat, makedev, mknodat, openat, symlinkat,
};
use rustix::time::Timespec;
use tar::EntryType;

use super::fsops::{self, Root, make_room};
use super::{UnpackLimits, UnpackStats, stream_error};
use crate::error::{ImageError, IoContext};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";
const COPY_BUFFER: usize = 128 << 10;

/// Ownership, permissions, times and xattrs of one entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    times: Timestamps,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// The entry kinds a layer may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

impl Kind {
    /// `None` for entries that describe no file (PAX global headers, volume
    /// labels, unknown types).
    fn of(t: EntryType, raw_path: &[u8]) -> Option<Self> {
        Some(match t {
            EntryType::Directory => Self::Directory,
            // Pre-POSIX archives mark directories with a trailing slash only.
            EntryType::Regular | EntryType::Continuous if raw_path.ends_with(b"/") => Self::Directory,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Self::File,
            EntryType::Symlink => Self::Symlink,
            EntryType::Link => Self::Hardlink,
            EntryType::Char => Self::Char,
            EntryType::Block => Self::Block,
            EntryType::Fifo => Self::Fifo,
            _ => return None,
        })
    }
}

/// Split an archive path into validated components: empty and `.` parts
/// dropped (so a leading `/` or `./` is ignored), `..` refused.
pub(super) fn normalize(raw: &[u8]) -> Result<Vec<OsString>, &'static str> {
    let mut comps = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("path contains a '..' component"),
            p => comps.push(OsStr::from_bytes(p).to_owned()),
        }
    }
    Ok(comps)
}

pub(super) struct Unpacker<'a> {
    root: Root,
    limits: &'a UnpackLimits,
    exceeded: Rc<Cell<bool>>,
    stats: UnpackStats,
    /// Directories whose mtimes are set after everything else.
    dir_times: Vec<(Vec<OsString>, Timestamps)>,
    buf: Vec<u8>,
}

impl<'a> Unpacker<'a> {
    pub(super) fn new(root: Root, limits: &'a UnpackLimits, exceeded: Rc<Cell<bool>>) -> Self {
        Self { root, limits, exceeded, stats: UnpackStats::default(), dir_times: Vec::new(), buf: vec![0; COPY_BUFFER] }
    }

    fn read_error(&self, doing: &str, e: std::io::Error) -> ImageError {
        stream_error(&self.exceeded, self.limits, doing, e)
    }

    pub(super) fn run<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<(), ImageError> {
        let entries = archive.entries().map_err(|e| self.read_error("reading the archive", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.read_error("reading an entry header", e))?;
            self.stats.entries += 1;
            if self.stats.entries > self.limits.max_entries {
                return Err(ImageError::LimitExceeded { what: "entries", limit: self.limits.max_entries });
            }
            self.entry(&mut entry)?;
        }
        Ok(())
    }

    /// Set the deferred directory mtimes and return the counters.
    pub(super) fn finish(self) -> Result<UnpackStats, ImageError> {
        // Why last: creating, removing or renaming anything inside a
        // directory bumps its mtime, so earlier values would be overwritten.
        for (comps, times) in &self.dir_times {
            let Some((name, parent)) = comps.split_last() else {
                futimens(self.root.fd(), times).at("set times", self.root.display(comps))?;
                continue;
            };
            // A later entry may have replaced the directory or its parent; then
            // there is nothing left to stamp.
            let Ok(parent) = self.root.open_dir(parent) else {
                continue;
            };
            match fsops::set_times_at(parent.as_fd(), name, times) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at("set times", self.root.display(comps)),
            }
        }
        Ok(self.stats)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let raw = entry.path_bytes().into_owned();
        let shown = || String::from_utf8_lossy(&raw).into_owned();
        let Some(kind) = Kind::of(entry.header().entry_type(), &raw) else {
            // PAX global headers, volume labels, unknown vendor types: they
            // carry no file, so their (possibly empty) paths are not checked.
            self.stats.skipped_other += 1;
            tracing::debug!(path = %shown(), kind = ?entry.header().entry_type(), "skipping unsupported tar entry");
            return Ok(());
        };
        let comps = normalize(&raw).map_err(|reason| ImageError::UnsafeEntry { path: shown(), reason })?;
        let meta = read_meta(entry).map_err(|e| ImageError::InvalidArchive {
            reason: format!("entry {:?}: bad header field", shown()),
            source: Some(e),
        })?;

        if let Some(last) = comps.last().map(|c| c.as_bytes())
            && last.starts_with(WHITEOUT_PREFIX)
        {
            return self.whiteout_entry(&comps, &meta, &raw);
        }
        let Some((name, parent)) = comps.split_last() else {
            return self.root_entry(kind, meta, &raw);
        };
        match kind {
            Kind::Directory => self.directory(&comps, meta),
            Kind::File => self.file(parent, name, meta, entry),
            Kind::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned());
                match target {
                    Some(t) if !t.is_empty() => self.symlink(parent, name, meta, &t),
                    _ => Err(ImageError::InvalidArchive {
                        reason: format!("symlink {:?} has no target", shown()),
                        source: None,
                    }),
                }
            }
            Kind::Hardlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned());
                self.hardlink(parent, name, &raw, target.as_deref().unwrap_or_default())
            }
            Kind::Char
                if entry.header().device_major().ok().flatten() == Some(0)
                    && entry.header().device_minor().ok().flatten() == Some(0) =>
            {
                // Already in overlay format (a whiteout device in the archive).
                let dir = self.root.ensure_dir(parent)?;
                make_room(dir.as_fd(), name, false).at("replace", self.root.display(&comps))?;
                self.whiteout_node(dir.as_fd(), name, &meta, &comps)
            }
            Kind::Char | Kind::Block => {
                self.stats.skipped_devices += 1;
                tracing::warn!(path = %shown(), "skipping device node in layer");
                Ok(())
            }
            Kind::Fifo => self.fifo(parent, name, meta),
        }
    }

    /// An entry naming the layer root itself (`./`): only a directory makes
    /// sense, and it sets the root's metadata.
    fn root_entry(&mut self, kind: Kind, meta: Meta, raw: &[u8]) -> Result<(), ImageError> {
        if kind != Kind::Directory {
            return Err(ImageError::UnsafeEntry {
                path: String::from_utf8_lossy(raw).into_owned(),
                reason: "a non-directory entry would replace the layer root",
            });
        }
        let shown = self.root.display(&[]);
        let root = self.root.fd().try_clone_to_owned().at("duplicate fd of", &shown)?;
        self.apply_owner_mode_xattrs(root.as_fd(), &meta, &shown)?;
        self.dir_times.push((Vec::new(), meta.times));
        Ok(())
    }

    fn directory(&mut self, comps: &[OsString], meta: Meta) -> Result<(), ImageError> {
        let (name, parent) = comps.split_last().expect("caller handles the root");
        let shown = self.root.display(comps);
        let dir = self.root.ensure_dir(parent)?;
        let kept = make_room(dir.as_fd(), name, true).at("replace", &shown)?;
        if !kept {
            rustix::fs::mkdirat(&dir, name.as_os_str(), Mode::from_raw_mode(0o700)).at("create directory", &shown)?;
        }
        let fd = openat(
            &dir,
            name.as_os_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .at("open directory", &shown)?;
        self.apply_owner_mode_xattrs(fd.as_fd(), &meta, &shown)?;
        self.dir_times.push((comps.to_vec(), meta.times));
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        parent: &[OsString],
        name: &OsStr,
        meta: Meta,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), ImageError> {
        let shown = self.root.display(parent).join(name);
        let dir = self.root.ensure_dir(parent)?;
        make_room(dir.as_fd(), name, false).at("replace", &shown)?;
        // O_EXCL|O_NOFOLLOW: the name was just cleared, so this creates a new
        // inode and never opens something an earlier entry planted.
        let fd = openat(
            &dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .at("create file", &shown)?;
        let mut file = File::from(fd);
        let expected = entry.size();
        let mut written = 0u64;
        loop {
            let n =
                entry.read(&mut self.buf).map_err(|e| self.read_error(&format!("reading {}", shown.display()), e))?;
            if n == 0 {
                break;
            }
            file.write_all(&self.buf[..n]).at("write file", &shown)?;
            written += n as u64;
        }
        if written != expected {
            return Err(ImageError::InvalidArchive {
                reason: format!("truncated: entry {} has {written} of {expected} bytes", shown.display()),
                source: None,
            });
        }
        self.apply_owner_mode_xattrs(file.as_fd(), &meta, &shown)?;
        futimens(&file, &meta.times).at("set times", &shown)?;
        Ok(())
    }

    fn symlink(&mut self, parent: &[OsString], name: &OsStr, meta: Meta, target: &[u8]) -> Result<(), ImageError> {
        let shown = self.root.display(parent).join(name);
        let dir = self.root.ensure_dir(parent)?;
        make_room(dir.as_fd(), name, false).at("replace", &shown)?;
        // The target is stored verbatim; it is only ever resolved inside the
        // root (by us, and by the container once it is the container's /).
        symlinkat(OsStr::from_bytes(target), &dir, name).at("create symlink", &shown)?;
        self.apply_nofollow_meta(dir.as_fd(), name, &meta, &shown)
    }

    fn hardlink(&mut self, parent: &[OsString], name: &OsStr, raw: &[u8], target: &[u8]) -> Result<(), ImageError> {
        let unsafe_entry = |reason| ImageError::UnsafeEntry { path: String::from_utf8_lossy(raw).into_owned(), reason };
        let target = normalize(target).map_err(unsafe_entry)?;
        let Some((target_name, target_parent)) = target.split_last() else {
            return Err(unsafe_entry("hard link to the layer root"));
        };
        let shown = self.root.display(parent).join(name);
        // The target's directory is resolved inside the root like any path,
        // and the link is made from that fd by a single name, so the target
        // can only ever be a file of this layer.
        let target_dir = self
            .root
            .open_dir(target_parent)
            .at("open hard link target directory", self.root.display(target_parent))?;
        let dir = self.root.ensure_dir(parent)?;
        make_room(dir.as_fd(), name, false).at("replace", &shown)?;
        linkat(&target_dir, target_name.as_os_str(), &dir, name, AtFlags::empty()).at("create hard link", &shown)?;
        Ok(())
    }

    fn fifo(&mut self, parent: &[OsString], name: &OsStr, meta: Meta) -> Result<(), ImageError> {
        let shown = self.root.display(parent).join(name);
        let dir = self.root.ensure_dir(parent)?;
        make_room(dir.as_fd(), name, false).at("replace", &shown)?;
        mknodat(&dir, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0).at("create fifo", &shown)?;
        self.apply_nofollow_meta(dir.as_fd(), name, &meta, &shown)?;
        // The FIFO was just created by us, so chmodat (which has no
        // no-follow mode on Linux) acts on it and not on a symlink.
        rustix::fs::chmodat(&dir, name, Mode::from_raw_mode(meta.mode), AtFlags::empty()).at("chmod", &shown)
    }

    /// `.wh.<name>` → 0:0 char device `<name>`; `.wh..wh..opq` → opaque dir.
    fn whiteout_entry(&mut self, comps: &[OsString], meta: &Meta, raw: &[u8]) -> Result<(), ImageError> {
        let (marker, parent) = comps.split_last().expect("caller checked the last component");
        let marker = marker.as_bytes();
        let dir = self.root.ensure_dir(parent)?;
        if marker == OPAQUE_MARKER {
            fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .at("mark directory opaque", self.root.display(parent))?;
            self.stats.opaque_dirs += 1;
            return Ok(());
        }
        if marker.starts_with(WHITEOUT_META_PREFIX) {
            // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless here.
            self.stats.skipped_other += 1;
            return Ok(());
        }
        let target = &marker[WHITEOUT_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." {
            return Err(ImageError::UnsafeEntry {
                path: String::from_utf8_lossy(raw).into_owned(),
                reason: "whiteout of an invalid name",
            });
        }
        let target = OsStr::from_bytes(target);
        let mut target_comps = parent.to_vec();
        target_comps.push(target.to_owned());
        // A whiteout hides only lower layers' files (OCI image spec): if this
        // layer already has the name, that entry stays.
        let exists = fsops::lstat_at(dir.as_fd(), target).at("inspect", self.root.display(&target_comps))?.is_some();
        if exists {
            return Ok(());
        }
        self.whiteout_node(dir.as_fd(), target, meta, &target_comps)
    }

    fn whiteout_node(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        comps: &[OsString],
    ) -> Result<(), ImageError> {
        let shown = self.root.display(comps);
        mknodat(dir, name, FileType::CharacterDevice, Mode::empty(), makedev(0, 0)).at("create whiteout", &shown)?;
        chownat(dir, name, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)), AtFlags::SYMLINK_NOFOLLOW)
            .at("chown", &shown)?;
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// Owner, then mode (chown clears set-id bits, so it must come first),
    /// then xattrs, on an open file or directory.
    fn apply_owner_mode_xattrs(
        &mut self,
        fd: BorrowedFd<'_>,
        meta: &Meta,
        shown: &std::path::Path,
    ) -> Result<(), ImageError> {
        fchown(fd, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid))).at("chown", shown)?;
        fchmod(fd, Mode::from_raw_mode(meta.mode)).at("chmod", shown)?;
        for (key, value) in &meta.xattrs {
            if let Err(e) = fsetxattr(fd, key.as_os_str(), value, XattrFlags::empty()) {
                self.xattr_failed(shown, key, e.into());
            }
        }
        Ok(())
    }

    /// Owner, xattrs and times of something that cannot be opened safely
    /// (symlink, FIFO), by name in `dir`.
    fn apply_nofollow_meta(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        shown: &std::path::Path,
    ) -> Result<(), ImageError> {
        chownat(dir, name, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)), AtFlags::SYMLINK_NOFOLLOW)
            .at("chown", shown)?;
        for (key, value) in &meta.xattrs {
            if let Err(e) = fsops::lsetxattr_at(dir, name, key, value) {
                self.xattr_failed(shown, key, e);
            }
        }
        fsops::set_times_at(dir, name, &meta.times).at("set times", shown)
    }

    fn xattr_failed(&mut self, shown: &std::path::Path, key: &OsStr, e: std::io::Error) {
        // Not fatal: the filesystem under the store may not support every
        // namespace (e.g. user.* on symlinks); the file itself is intact.
        self.stats.xattr_failures += 1;
        tracing::warn!(path = %shown.display(), xattr = ?key, error = %e, "cannot set xattr");
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> std::io::Result<Meta> {
    let header = entry.header();
    let old = header.as_old();
    let to_u32 =
        |v: u64, what: &str| u32::try_from(v).map_err(|_| std::io::Error::other(format!("{what} {v} out of range")));
    let mode = numeric(header.mode().map(u64::from), &old.mode)? as u32 & 0o7777;
    let uid = to_u32(numeric(header.uid(), &old.uid)?, "uid")?;
    let gid = to_u32(numeric(header.gid(), &old.gid)?, "gid")?;
    let mut mtime =
        Timespec { tv_sec: i64::try_from(numeric(header.mtime(), &old.mtime)?).unwrap_or(i64::MAX), tv_nsec: 0 };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if !name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) && !name.is_empty() {
                    xattrs.push((OsString::from(name), ext.value_bytes().to_vec()));
                }
            } else if key == "mtime" {
                if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                    mtime = t;
                }
            } else if key == "atime" {
                atime = ext.value().ok().and_then(parse_pax_time);
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        times: Timestamps { last_access: atime.unwrap_or(mtime), last_modification: mtime },
        xattrs,
    })
}

/// A numeric header field; an empty one (all NUL or spaces) reads as 0, as
/// Go's archive/tar (which writes most image layers) does.
fn numeric(parsed: std::io::Result<u64>, raw: &[u8]) -> std::io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

/// PAX time: decimal seconds with an optional fraction (`1700000000.5`).
fn parse_pax_time(s: &str) -> Option<Timespec> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let mut tv_nsec: i64 = digits.parse().ok()?;
    // "-1.5" is 1.5 s before the epoch.
    if secs.starts_with('-') && tv_nsec > 0 {
        return Some(Timespec { tv_sec: tv_sec - 1, tv_nsec: 1_000_000_000 - tv_nsec });
    }
    tv_nsec = tv_nsec.min(999_999_999);
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let ok: &[(&str, &[&str])] = &[
            ("a/b", &["a", "b"]),
            ("./a//b/", &["a", "b"]),
            ("/etc/passwd", &["etc", "passwd"]),
            ("./", &[]),
            ("/", &[]),
            ("a/.wh.b", &["a", ".wh.b"]),
            ("...", &["..."]),
        ];
        for (raw, want) in ok {
            let got = normalize(raw.as_bytes()).unwrap();
            let want: Vec<OsString> = want.iter().map(OsString::from).collect();
            assert_eq!(got, want, "{raw}");
        }
        for bad in ["..", "../x", "a/../../x", "/..", "a/.."] {
            assert!(normalize(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn pax_time_table() {
        let cases: &[(&str, Option<(i64, i64)>)] = &[
            ("1700000000", Some((1_700_000_000, 0))),
            ("1700000000.5", Some((1_700_000_000, 500_000_000))),
            ("1.123456789123", Some((1, 123_456_789))),
            ("-1.5", Some((-2, 500_000_000))),
            ("x", None),
            ("1.x", None),
        ];
        for (s, want) in cases {
            let got = parse_pax_time(s).map(|t| (t.tv_sec, t.tv_nsec));
            assert_eq!(got, *want, "{s}");
        }
    }
}
