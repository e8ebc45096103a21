//! The container's CRI log file as the shim writes it, rotated by size the
//! way kubelet rotates it (`containerLogMaxSize`, `containerLogMaxFiles`).
//!
//! kubelet rotates from outside: every 10 s it stats each log, renames a big
//! one and asks the runtime to reopen it. Here the writer rotates its own
//! file, because it knows the size of every line before writing it: no extra
//! process, no window in which a separate rotator and the writer disagree.
//!
//! A rotation of `0.log` (the live file):
//! 1. deletes the oldest rotated copies, so that after this rotation at most
//!    `max_files` files remain, the live one included (kubelet deletes before
//!    renaming too, oldest first);
//! 2. renames `0.log` to `0.log.<YYYYMMDD-HHMMSS>` (kubelet's name, in UTC so
//!    that names never go backwards with daylight saving), adding a counter
//!    `.000001` when several rotations fall into one second;
//! 3. creates a fresh `0.log`.
//!
//! Rotated names sort chronologically as plain strings (kubelet relies on
//! the same when it sorts them), which is what a reader that follows the log
//! across rotations uses to find the file after the one it was reading.
//! Rotated files are not compressed (kubelet gzips all but the newest): the
//! shim is single-threaded and compressing 10 MiB would stall the container's
//! output for the time it takes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// When the shim rotates a container's log and how many files it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogRotation {
    /// Rotate before a line would take the live file past this many bytes;
    /// 0 = never rotate.
    pub max_size: u64,
    /// Most files per container log, the live one included (kubelet: ≥ 2).
    pub max_files: u32,
}

impl LogRotation {
    /// kubelet's defaults: 10Mi and 5 files.
    pub const KUBELET_DEFAULT: LogRotation = LogRotation { max_size: 10 << 20, max_files: 5 };

    /// Check the settings as kubelet validates its configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_files < 2 {
            return Err(format!(
                "containerLogMaxFiles (--container-log-max-files) {} must be greater than 1",
                self.max_files
            ));
        }
        if self.max_size == 0 {
            return Err("containerLogMaxSize (--container-log-max-size) must be greater than 0".into());
        }
        Ok(())
    }

    /// Whether a line of `len` bytes must go to a fresh file rather than to
    /// the live one, which holds `size` bytes. An empty file takes any line.
    pub fn rotate_before(&self, size: u64, len: usize) -> bool {
        self.max_size > 0 && size > 0 && size.saturating_add(len as u64) > self.max_size
    }

    /// Whether the live file, holding `size` bytes, is over the limit (only a
    /// single line longer than the limit gets it there).
    pub fn rotate_after(&self, size: u64) -> bool {
        self.max_size > 0 && size > self.max_size
    }
}

use peapod_api::cri_log::COUNTER_WIDTH;
pub use peapod_api::cri_log::is_rotated;

/// kubelet's rotation stamp `YYYYMMDD-HHMMSS` for a rotation at `ts` (UTC).
pub fn rotation_stamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y%m%d-%H%M%S").to_string()
}

/// The name for rotating the log file `live` with stamp `stamp`, given its
/// rotated copies `existing` (sorted, oldest first): `<live>.<stamp>`, or
/// with the next counter when that name is taken. Never sorts before an
/// existing copy, even when the clock went back: then the newest copy's
/// stamp is reused with the next counter.
pub fn rotated_name(live: &str, stamp: &str, existing: &[String]) -> String {
    let plain = format!("{live}.{stamp}");
    let Some(newest) = existing.last().filter(|n| n.as_str() >= plain.as_str()) else {
        return plain;
    };
    // `newest` is `<live>.<stamp'>[.<counter>]` with stamp' ≥ stamp.
    let rest = &newest[live.len() + 1..];
    let (stamp, counter) = match rest.split_once('.') {
        Some((s, c)) => (s, c.parse::<u64>().unwrap_or(0)),
        None => (rest, 0),
    };
    format!("{live}.{stamp}.{:0width$}", counter + 1, width = COUNTER_WIDTH)
}

/// Which of the rotated copies `sorted` (oldest first) to delete before the
/// next rotation, so that afterwards at most `max_files` files remain: the
/// new live file, the copy about to be made and `max_files - 2` older ones.
pub fn excess(sorted: &[String], max_files: u32) -> &[String] {
    let keep = (max_files as usize).saturating_sub(2);
    &sorted[..sorted.len().saturating_sub(keep)]
}

/// The rotated copies of the log file `path`, oldest first.
pub fn rotated_logs(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (dir, names) = rotated_names(path)?;
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// The directory of `path` and the names of its rotated copies, oldest first.
fn rotated_names(path: &Path) -> io::Result<(PathBuf, Vec<String>)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let live = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_rotated(live, n))
        .collect();
    names.sort();
    Ok((dir, names))
}

/// Appends CRI-format entries to a container's log file and rotates it.
pub struct LogWriter {
    /// The live file; `None` when the output is discarded.
    file: Option<File>,
    path: PathBuf,
    /// Bytes in the live file.
    size: u64,
    rotation: LogRotation,
}

impl LogWriter {
    /// Open (append to) the log file at `path`; an empty path discards output.
    pub fn open(path: &Path, rotation: LogRotation) -> io::Result<Self> {
        let mut w = LogWriter { file: None, path: path.to_path_buf(), size: 0, rotation };
        if path.as_os_str().is_empty() {
            return Ok(w);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        w.size = file.metadata()?.len();
        w.file = Some(file);
        Ok(w)
    }

    /// Write one CRI entry.
    pub fn entry(&mut self, stream: &str, partial: bool, text: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        let line = super::format_cri_line(jiff::Timestamp::now(), stream, partial, text);
        self.write_line(&line)
    }

    /// Write a whole line, rotating around it as needed. A CRI line is never
    /// split across files: one longer than the limit goes whole into a fresh
    /// file, which is rotated right after.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if self.rotation.rotate_before(self.size, line.len()) {
            self.rotate();
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.write_all(line)?;
        self.size += line.len() as u64;
        if self.rotation.rotate_after(self.size) {
            self.rotate();
        }
        Ok(())
    }

    /// Rotate, keeping the current file when that fails. A failed rotation
    /// is not an error of the shim: it has nobody to report to (its stdio is
    /// /dev/null) and stopping would lose the container's exit code, while a
    /// log that keeps growing is what we had before rotation existed. The
    /// next line tries again.
    fn rotate(&mut self) {
        if let Ok(file) = self.try_rotate() {
            self.file = Some(file);
            self.size = 0;
        }
    }

    fn try_rotate(&self) -> io::Result<File> {
        let (dir, mut rotated) = rotated_names(&self.path)?;
        let live = self.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let n = excess(&rotated, self.rotation.max_files).len();
        for old in rotated.drain(..n) {
            match std::fs::remove_file(dir.join(&old)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let target = dir.join(rotated_name(live, &rotation_stamp(jiff::Timestamp::now()), &rotated));
        // Rename before creating the new file: a reader that finds a new
        // file at the path then knows the old one is complete (we never
        // write to it again), so it can read it to the end and move on
        // without losing a line. NotFound: an earlier attempt renamed it
        // and then failed to create the new file.
        match std::fs::rename(&self.path, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        OpenOptions::new().create(true).append(true).open(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn validation_follows_kubelet() {
        assert_eq!(LogRotation::KUBELET_DEFAULT.validate(), Ok(()));
        let one = LogRotation { max_size: 1024, max_files: 1 }.validate().unwrap_err();
        assert!(one.contains("containerLogMaxFiles") && one.contains("greater than 1"), "{one}");
        assert!(LogRotation { max_size: 0, max_files: 2 }.validate().unwrap_err().contains("containerLogMaxSize"));
        assert_eq!(LogRotation { max_size: 1, max_files: 2 }.validate(), Ok(()));
    }

    #[test]
    fn when_to_rotate() {
        let r = LogRotation { max_size: 100, max_files: 3 };
        // (size, line length, rotate before, rotate after writing)
        let cases = [
            (0, 10, false, false),
            (90, 10, false, false),
            (91, 10, true, false),
            (0, 150, false, true), // an oversized line goes whole into an empty file
            (50, 150, true, true),
        ];
        for (size, len, before, after) in cases {
            assert_eq!(r.rotate_before(size, len), before, "before: size {size} len {len}");
            let written = if before { 0 } else { size } + len as u64;
            assert_eq!(r.rotate_after(written), after, "after: size {size} len {len}");
        }
        let off = LogRotation::default();
        assert!(!off.rotate_before(u64::MAX - 1, 10) && !off.rotate_after(u64::MAX));
    }

    #[test]
    fn stamps_and_names() {
        let ts: jiff::Timestamp = "2026-01-02T15:04:05.9Z".parse().unwrap();
        assert_eq!(rotation_stamp(ts), "20260102-150405");
        let cases: &[(&[&str], &str, &str)] = &[
            (&[], "20260102-150405", "0.log.20260102-150405"),
            (&["0.log.20260102-150400"], "20260102-150405", "0.log.20260102-150405"),
            (&["0.log.20260102-150405"], "20260102-150405", "0.log.20260102-150405.000001"),
            (
                &["0.log.20260102-150405", "0.log.20260102-150405.000009"],
                "20260102-150405",
                "0.log.20260102-150405.000010",
            ),
            // The clock went back: still after the newest copy.
            (&["0.log.20260102-150405"], "20260102-150300", "0.log.20260102-150405.000001"),
        ];
        for (existing, stamp, want) in cases {
            let got = rotated_name("0.log", stamp, &names(existing));
            assert_eq!(got, *want, "{existing:?} {stamp}");
            assert!(is_rotated("0.log", &got));
            assert!(existing.iter().all(|e| *e < got.as_str()), "sorts after every existing copy");
        }
    }

    #[test]
    fn rotated_names_are_recognised() {
        for (name, want) in [
            ("0.log.20260102-150405", true),
            ("0.log.20260102-150405.000001", true),
            ("0.log", false),
            ("1.log.20260102-150405", false),
            ("10.log.20260102-150405", false),
            ("0.log.20260102-150405.gz", false),
            ("0.log.20260102_150405", false),
            ("0.log.2026010-1504051", false),
            ("0.log.20260102-150405.1", false),
            ("0.log.tmp", false),
        ] {
            assert_eq!(is_rotated("0.log", name), want, "{name}");
        }
    }

    #[test]
    fn excess_keeps_max_files_minus_two() {
        let all = names(&["a", "b", "c", "d"]);
        assert_eq!(excess(&all, 5), &all[..1]);
        assert_eq!(excess(&all, 3), &all[..3]);
        assert_eq!(excess(&all, 2), &all[..]);
        assert_eq!(excess(&all, 1), &all[..], "fewer than 2 behaves as 2, as in kubelet");
        assert!(excess(&all, 6).is_empty() && excess(&all, 100).is_empty());
        assert!(excess(&[], 2).is_empty());
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn writer_rotates_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c").join("0.log");
        let mut w = LogWriter::open(&path, LogRotation { max_size: 20, max_files: 3 }).unwrap();
        for i in 0..10 {
            w.write_line(format!("line {i:04}\n").as_bytes()).unwrap(); // 10 bytes
        }
        let rotated = rotated_logs(&path).unwrap();
        assert_eq!(rotated.len(), 2, "max_files 3: the live file and two copies");
        let contents: Vec<String> = rotated.iter().map(|p| read(p)).collect();
        assert_eq!(contents, ["line 0004\nline 0005\n", "line 0006\nline 0007\n"]);
        assert_eq!(read(&path), "line 0008\nline 0009\n", "exactly full is not over the limit");

        // A line longer than the limit is written whole, then rotated out.
        w.write_line(b"short\n").unwrap();
        let long = format!("{}\n", "x".repeat(50));
        w.write_line(long.as_bytes()).unwrap();
        let rotated = rotated_logs(&path).unwrap();
        let contents: Vec<String> = rotated.iter().map(|p| read(p)).collect();
        assert_eq!(contents, ["short\n".to_string(), long]);
        assert_eq!(read(&path), "");
        w.write_line(b"next\n").unwrap();
        assert_eq!(read(&path), "next\n");
    }

    #[test]
    fn writer_resumes_the_size_of_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "0123456789012345\n").unwrap(); // 17 bytes
        let mut w = LogWriter::open(&path, LogRotation { max_size: 20, max_files: 2 }).unwrap();
        w.write_line(b"abcd\n").unwrap();
        assert_eq!(read(&path), "abcd\n");
        assert_eq!(rotated_logs(&path).unwrap().len(), 1);
    }

    #[test]
    fn a_failed_rotation_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("c");
        let mut w = LogWriter::open(&logs.join("0.log"), LogRotation { max_size: 10, max_files: 2 }).unwrap();
        w.write_line(b"12345678\n").unwrap();
        // The log's directory vanishes: the rotation cannot even scan it.
        std::fs::remove_dir_all(&logs).unwrap();
        w.write_line(b"12345678\n").unwrap();
        assert_eq!(w.size, 18, "the line went to the file the writer had");
    }
}
