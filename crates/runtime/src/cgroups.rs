//! cgroupfs helpers (v1, hybrid and v2). runc creates and limits each
//! container's cgroup from the OCI spec; peapod only needs to know the
//! hierarchies, read a few counters, and remove the pod-level parents that
//! runc leaves behind (node-env.md: runc deletes only the leaf).

use std::io;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Mount points of every cgroup hierarchy on this host (v1 controllers,
/// the named systemd hierarchy and the unified v2 tree, when mounted).
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![PathBuf::from(CGROUP_ROOT)];
    };
    let mut out = parse_hierarchies(&text);
    out.sort();
    out.dedup();
    out
}

fn parse_hierarchies(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            pre.split_whitespace().nth(4).map(PathBuf::from)
        })
        .collect()
}

/// True when /sys/fs/cgroup itself is a cgroup2 mount (pure v2 host).
pub fn is_unified() -> bool {
    rustix::fs::statfs(CGROUP_ROOT).map(|s| s.f_type == 0x6367_7270).unwrap_or(false)
}

fn memory_file(cgroup: &str, v1: &str, v2: &str) -> PathBuf {
    let rel = cgroup.trim_start_matches('/');
    if is_unified() {
        Path::new(CGROUP_ROOT).join(rel).join(v2)
    } else {
        Path::new(CGROUP_ROOT).join("memory").join(rel).join(v1)
    }
}

/// Number of OOM kills in the container's memory cgroup (0 if unknown).
/// v1: `memory.oom_control` → `oom_kill N`; v2: `memory.events` → `oom_kill N`.
/// Must be read before `runc delete` removes the cgroup.
pub fn oom_kill_count(cgroup: &str) -> u64 {
    if cgroup.is_empty() {
        return 0;
    }
    let path = memory_file(cgroup, "memory.oom_control", "memory.events");
    std::fs::read_to_string(path).map(|t| parse_key_value(&t, "oom_kill")).unwrap_or(0)
}

/// Memory usage of a cgroup in bytes, if readable.
pub fn memory_usage(cgroup: &str) -> Option<u64> {
    let path = memory_file(cgroup, "memory.usage_in_bytes", "memory.current");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn parse_key_value(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Remove `cgroup` (and any empty children left in it) from every hierarchy.
/// Missing directories are fine; a cgroup that still has processes is an error.
pub fn remove(cgroup: &str) -> io::Result<()> {
    let rel = cgroup.trim_start_matches('/');
    if rel.is_empty() {
        return Ok(());
    }
    let mut first_err = None;
    for h in hierarchies() {
        let dir = h.join(rel);
        if let Err(e) = remove_tree(&dir) {
            first_err.get_or_insert(io::Error::new(e.kind(), format!("removing cgroup {}: {e}", dir.display())));
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// rmdir a cgroup directory bottom-up (cgroupfs only allows rmdir of
/// directories; their control files vanish with them).
fn remove_tree(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&e.path())?;
        }
    }
    // A cgroup whose last process just exited can be briefly busy.
    for attempt in 0..20 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 19 => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Children (one level) of `cgroup` in the memory (v1) or unified (v2)
/// hierarchy: used at start-up to find pod cgroups of ours that outlived
/// their pods.
pub fn children(cgroup: &str) -> Vec<String> {
    let rel = cgroup.trim_start_matches('/');
    let base =
        if is_unified() { Path::new(CGROUP_ROOT).join(rel) } else { Path::new(CGROUP_ROOT).join("memory").join(rel) };
    let mut out: Vec<String> = std::fs::read_dir(base)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| format!("{}/{}", cgroup.trim_end_matches('/'), e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_mounts() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:8 - cgroup cgroup rw,memory\n\
                  31 25 0:27 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
                  22 1 0:21 / /proc rw - proc proc rw\n";
        assert_eq!(
            parse_hierarchies(mi),
            vec![PathBuf::from("/sys/fs/cgroup/memory"), PathBuf::from("/sys/fs/cgroup/unified")]
        );
    }

    #[test]
    fn parses_oom_counter() {
        assert_eq!(parse_key_value("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"), 3);
        assert_eq!(parse_key_value("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n", "oom_kill"), 1);
        assert_eq!(parse_key_value("", "oom_kill"), 0);
    }

    #[test]
    fn remove_missing_is_ok() {
        remove("/peapod-test-does-not-exist/x").unwrap();
    }
}
