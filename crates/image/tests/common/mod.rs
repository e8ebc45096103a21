//! Shared test helpers: a tar builder that writes raw headers (so hostile
//! paths the `tar` crate's safe setters refuse can be built), store setup,
//! and a real overlay mount that unmounts on drop.
#![allow(dead_code)]

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use peapod_image::{ImageStore, Mount};
use tar::{EntryType, Header};

/// Fixed mtime for fixtures (2023-11-14T22:13:20Z).
pub const MTIME: u64 = 1_700_000_000;

/// Builds tar archives entry by entry with raw header fields.
pub struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        Self { b: tar::Builder::new(Vec::new()) }
    }

    /// Append an entry with every field given explicitly; `path` and `link`
    /// are copied byte for byte into the header.
    #[allow(clippy::too_many_arguments)]
    pub fn raw(
        &mut self,
        kind: EntryType,
        path: &str,
        link: Option<&str>,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(link) = link {
                old.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.raw(EntryType::Directory, path, None, b"", mode, 0, 0, MTIME)
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
        self.raw(EntryType::Regular, path, None, data, mode, 0, 0, MTIME)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Symlink, path, Some(target), b"", 0o777, 0, 0, MTIME)
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Link, path, Some(target), b"", 0o644, 0, 0, MTIME)
    }

    pub fn device(&mut self, kind: EntryType, path: &str, major: u32, minor: u32) -> &mut Self {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o666);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.b.append(&h, &b""[..]).unwrap();
        self
    }

    /// PAX extended header applying to the next entry.
    pub fn pax(&mut self, pairs: &[(&str, &[u8])]) -> &mut Self {
        self.b.append_pax_extensions(pairs.iter().copied()).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A fresh store in its own temp dir (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("images")).unwrap();
    (dir, store)
}

pub fn snapshot_dir(store: &ImageStore, diff_id: &str) -> PathBuf {
    let hex = diff_id.strip_prefix("sha256:").unwrap();
    store.root().join("snapshots").join(hex).join("fs")
}

/// Entries of a directory, sorted (empty if it does not exist).
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Whether `path` is a 0:0 character device (an overlay whiteout).
pub fn is_whiteout(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

/// A real overlay mount that is detached when dropped, so a failing test
/// does not leave it behind.
pub struct OverlayMount {
    target: PathBuf,
}

impl OverlayMount {
    pub fn mount(m: &Mount, target: &Path) -> Self {
        fs::create_dir_all(target).unwrap();
        let data = CString::new(m.data()).unwrap();
        rustix::mount::mount(
            m.source.as_str(),
            target,
            m.fstype.as_str(),
            rustix::mount::MountFlags::empty(),
            data.as_c_str(),
        )
        .unwrap_or_else(|e| panic!("mount {m:?} at {}: {e}", target.display()));
        Self { target: target.to_path_buf() }
    }

    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if let Err(e) = rustix::mount::unmount(&self.target, rustix::mount::UnmountFlags::DETACH) {
            eprintln!("unmount {}: {e}", self.target.display());
        }
    }
}
