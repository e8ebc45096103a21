//! Mount helpers: the image snapshotter returns mount descriptions and the
//! runtime performs them here (containerd's split).

use std::io;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

/// Mount one description (e.g. the overlay returned by the image store) on `target`.
pub fn mount(m: &crate::RootfsMount, target: &Path) -> io::Result<()> {
    std::fs::create_dir_all(target)?;
    let data = cstring(&m.options.join(","))?;
    rustix::mount::mount(m.source.as_str(), target, m.fstype.as_str(), MountFlags::empty(), data.as_c_str())
        .map_err(|e| io::Error::new(e.kind(), format!("mounting {} on {}: {e}", m.fstype, target.display())))
}

/// Mount a tmpfs (the pod's /dev/shm, memory-backed emptyDirs).
pub fn mount_tmpfs(target: &Path, options: &str) -> io::Result<()> {
    std::fs::create_dir_all(target)?;
    let data = cstring(options)?;
    rustix::mount::mount(
        "shm",
        target,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        data.as_c_str(),
    )
    .map_err(|e| io::Error::new(e.kind(), format!("mounting tmpfs on {}: {e}", target.display())))
}

fn cstring(s: &str) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mount options contain NUL"))
}

/// Unmount if mounted; a path that is not a mount point (or is gone) is fine,
/// so teardown can run any number of times.
pub fn unmount(target: &Path) -> io::Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::DETACH) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), format!("unmounting {}: {e}", target.display()))),
    }
}

/// Is `path` currently a mount point (listed in /proc/self/mountinfo)?
pub fn is_mounted(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let p = path.to_string_lossy();
    text.lines().any(|l| l.split_whitespace().nth(4).is_some_and(|m| unescape(m) == p))
}

/// Every mount point under `dir` (deepest first), to clean up leftovers.
pub fn mounts_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    let mut v: Vec<std::path::PathBuf> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|m| std::path::PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

/// mountinfo escapes space, tab, newline and backslash as octal: undo it.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v as char);
            i += 4;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn unmount_of_non_mount_is_ok() {
        let d = tempfile::tempdir().unwrap();
        unmount(d.path()).unwrap();
        unmount(&d.path().join("gone")).unwrap();
        assert!(!is_mounted(d.path()));
    }
}
