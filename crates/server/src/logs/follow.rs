//! Following a container's log across rotations (`kubectl logs -f`).
//!
//! The shim rotates `0.log` by renaming it to `0.log.<YYYYMMDD-HHMMSS>[.<n>]`
//! and then creating a new `0.log` (peapod-runtime's `shim::log_file`); the
//! names of the rotated copies sort chronologically as strings. A follower
//! keeps the file it reads open. When the path names another file, the one
//! it holds was renamed, and the shim never writes to a renamed file again:
//! it is complete. So the follower reads it to the end, then every copy made
//! after it, oldest first (there are several when it was slower than the
//! rotations), then the new live file. Only a copy deleted before the
//! follower got to it (more than `containerLogMaxFiles` rotations behind)
//! is lost, as with kubelet.
//!
//! The calls are blocking (small reads of local files); the endpoint runs
//! them on tokio's blocking pool.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Identity of a file: device and inode.
type FileId = (u64, u64);

fn id_of(meta: &std::fs::Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// The file now at `path`, if any.
fn id_at(path: &Path) -> io::Result<Option<FileId>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(id_of(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The rotated copies of the log at `path` (kubelet's names, see
/// `cri_log::is_rotated`), oldest first, with their identities. A copy
/// deleted while we look is skipped.
fn rotated_copies(path: &Path) -> io::Result<Vec<(PathBuf, FileId)>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let live = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| peapod_api::cri_log::is_rotated(live, n))
        .collect();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let p = dir.join(n);
        if let Some(id) = id_at(&p)? {
            out.push((p, id));
        }
    }
    Ok(out)
}

/// Open `path` unless it is gone.
fn open(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads what is appended to a log file, following it across rotations.
pub(crate) struct Follower {
    /// The live log's path.
    path: PathBuf,
    /// The file being read (the live one, or a rotated copy being caught up).
    file: File,
    id: FileId,
    /// Offset of the next byte to read in `file`.
    pos: u64,
}

impl Follower {
    /// Follow the log at `path`, whose file `file` was read up to `pos`.
    pub(crate) fn new(path: PathBuf, file: File, pos: u64) -> io::Result<Follower> {
        let id = id_of(&file.metadata()?);
        Ok(Follower { path, file, id, pos })
    }

    /// Everything written since the last call, in order, across rotations.
    pub(crate) fn read_new(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            // Look at the path *before* draining: if our file is no longer
            // there, it was renamed and is complete, so the drain below gets
            // its last line. Draining first could miss lines written between
            // the drain and the rename.
            let live = id_at(&self.path)? == Some(self.id);
            self.file.seek(SeekFrom::Start(self.pos))?;
            self.pos += self.file.read_to_end(&mut out)? as u64;
            if live {
                return Ok(out);
            }
            match self.successor()? {
                Some(next) => {
                    self.id = id_of(&next.metadata()?);
                    self.file = next;
                    self.pos = 0;
                }
                // The new live file is not there yet.
                None => return Ok(out),
            }
        }
    }

    /// The file written after ours: the next rotated copy, else the live file.
    fn successor(&self) -> io::Result<Option<File>> {
        let after = |copies: Vec<(PathBuf, FileId)>| -> Vec<(PathBuf, FileId)> {
            // Ours is not among the copies when it was deleted already (we
            // fell too far behind): nothing to do but go to the live file.
            match copies.iter().position(|(_, id)| *id == self.id) {
                Some(i) => copies.into_iter().skip(i + 1).collect(),
                None => Vec::new(),
            }
        };
        for (p, _) in after(rotated_copies(&self.path)?) {
            if let Some(f) = open(&p)? {
                return Ok(Some(f));
            }
        }
        let Some(live) = open(&self.path)? else {
            return Ok(None);
        };
        // A rotation between the listing and the open would make `live` skip
        // the copy it made: if a copy now follows ours and it is not the file
        // we opened, that copy comes first.
        let live_id = id_of(&live.metadata()?);
        for (p, id) in after(rotated_copies(&self.path)?) {
            if id == live_id {
                break;
            }
            if let Some(f) = open(&p)? {
                return Ok(Some(f));
            }
        }
        Ok(Some(live))
    }
}

/// What one poll of a [`Lines`] found.
pub enum Polled {
    /// Complete lines (each ending in `\n`), as read.
    Lines(Vec<u8>),
    /// Nothing new yet.
    Nothing,
    /// Nothing new for the idle polls: the follow ends if the container is
    /// not running (kubelet ends a follow when the container stops).
    Idle,
}

/// A [`Follower`] polled from async code: reads on tokio's blocking pool,
/// keeps a partial last line until it is complete, and counts idle polls.
/// Callers sleep between polls (each at its own pace).
pub struct Lines {
    log: Option<Follower>,
    pending: Vec<u8>,
    idle: u32,
    /// Idle polls before a stopped container's follow ends (a moment for
    /// the shim to write the last output).
    idle_limit: u32,
}

impl Lines {
    pub fn new(log: Follower, idle_limit: u32) -> Self {
        Lines { log: Some(log), pending: Vec::new(), idle: 0, idle_limit }
    }

    pub async fn poll(&mut self) -> io::Result<Polled> {
        let mut log = self.log.take().ok_or_else(|| io::Error::other("a failed read ended the follow"))?;
        let (log, read) = tokio::task::spawn_blocking(move || {
            let read = log.read_new();
            (log, read)
        })
        .await
        .map_err(io::Error::other)?;
        self.log = Some(log);
        let buf = read?;
        if buf.is_empty() {
            self.idle += 1;
            return Ok(if self.idle >= self.idle_limit { Polled::Idle } else { Polled::Nothing });
        }
        self.idle = 0;
        self.pending.extend_from_slice(&buf);
        Ok(match self.pending.iter().rposition(|b| *b == b'\n') {
            Some(last) => Polled::Lines(self.pending.drain(..=last).collect()),
            None => Polled::Nothing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Log {
        _dir: tempfile::TempDir,
        path: PathBuf,
        rotations: u32,
    }

    impl Log {
        fn new() -> Log {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("0.log");
            std::fs::write(&path, "").unwrap();
            Log { path, _dir: dir, rotations: 0 }
        }
        fn write(&self, text: &str) {
            std::fs::OpenOptions::new().append(true).open(&self.path).unwrap().write_all(text.as_bytes()).unwrap();
        }
        /// Rotate as the shim does: rename, then (unless `gap`) a new file.
        fn rotate(&mut self, create: bool) {
            self.rotations += 1;
            let copy = self.path.with_file_name(format!("0.log.20260101-000000.{:06}", self.rotations));
            std::fs::rename(&self.path, copy).unwrap();
            if create {
                std::fs::write(&self.path, "").unwrap();
            }
        }
        fn follower(&self) -> Follower {
            let mut f = File::open(&self.path).unwrap();
            let pos = f.seek(SeekFrom::End(0)).unwrap();
            Follower::new(self.path.clone(), f, pos).unwrap()
        }
        fn copies(&self) -> Vec<PathBuf> {
            rotated_copies(&self.path).unwrap().into_iter().map(|(p, _)| p).collect()
        }
    }

    fn read(f: &mut Follower) -> String {
        String::from_utf8(f.read_new().unwrap()).unwrap()
    }

    #[test]
    fn reads_what_is_appended() {
        let log = Log::new();
        log.write("before\n");
        let mut f = log.follower();
        assert_eq!(read(&mut f), "");
        log.write("a\nb\n");
        assert_eq!(read(&mut f), "a\nb\n");
        log.write("c\n");
        assert_eq!(read(&mut f), "c\n");
    }

    #[test]
    fn continues_across_one_rotation() {
        let mut log = Log::new();
        let mut f = log.follower();
        log.write("1\n2\n");
        assert_eq!(read(&mut f), "1\n2\n");
        log.write("3\n");
        log.rotate(true);
        log.write("4\n");
        assert_eq!(read(&mut f), "3\n4\n", "the rest of the old file, then the new one");
        log.write("5\n");
        assert_eq!(read(&mut f), "5\n");
    }

    #[test]
    fn catches_up_over_several_rotations() {
        let mut log = Log::new();
        let mut f = log.follower();
        for i in 0..4 {
            log.write(&format!("{i}\n"));
            log.rotate(true);
        }
        log.write("live\n");
        assert_eq!(read(&mut f), "0\n1\n2\n3\nlive\n");
        assert_eq!(log.copies().len(), 4);
    }

    #[test]
    fn waits_for_the_new_file() {
        let mut log = Log::new();
        let mut f = log.follower();
        log.write("old\n");
        log.rotate(false);
        assert_eq!(read(&mut f), "old\n");
        assert_eq!(read(&mut f), "");
        std::fs::write(&log.path, "new\n").unwrap();
        assert_eq!(read(&mut f), "new\n");
    }

    #[test]
    fn a_deleted_copy_is_a_gap_not_a_stall() {
        let mut log = Log::new();
        let mut f = log.follower();
        log.write("kept\n");
        log.rotate(true);
        log.write("lost\n");
        log.rotate(true);
        // The follower's own file is still readable through its descriptor;
        // the copy after it is deleted before the follower gets to it.
        std::fs::remove_file(&log.copies()[1]).unwrap();
        log.write("live\n");
        assert_eq!(read(&mut f), "kept\nlive\n");
    }
}
