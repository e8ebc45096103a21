//! cgroupfs helpers (v1, hybrid and v2). runc creates and limits each
//! container's cgroup from the OCI spec; peapod creates the pod-level parent
//! with the pod's summed limits (as kubelet does), reads a few counters, and
//! removes the pod-level parents that runc leaves behind (node-env.md: runc
//! deletes only the leaf).

use std::io;
use std::path::{Path, PathBuf};

use crate::cri::LinuxResources;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Mount points of every cgroup hierarchy on this host (v1 controllers,
/// the named systemd hierarchy and the unified v2 tree, when mounted).
/// Read once: they do not change under a running daemon, and mountinfo
/// grows with every pod's mounts.
pub fn hierarchies() -> Vec<PathBuf> {
    static CACHE: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| {
            let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
                return vec![PathBuf::from(CGROUP_ROOT)];
            };
            let mut out = parse_hierarchies(&text);
            out.sort();
            out.dedup();
            out
        })
        .clone()
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

/// Create the pod-level cgroup and set its limits (kubelet's pod cgroup:
/// shares from the summed requests; CFS quota, memory limit and pids limit
/// when set). Idempotent: a recreated sandbox of the same pod re-applies them.
/// The containers' own cgroups (made by runc from the OCI spec) sit below it,
/// so the pod as a whole can never exceed its sum.
pub fn apply_pod_limits(cgroup: &str, r: &LinuxResources) -> io::Result<()> {
    let rel = cgroup.trim_start_matches('/');
    if rel.is_empty() {
        return Ok(());
    }
    if is_unified() {
        return apply_v2(rel, r);
    }
    let root = Path::new(CGROUP_ROOT);
    for (controller, files) in v1_files(r) {
        let dir = root.join(controller).join(rel);
        if !root.join(controller).exists() {
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(|e| with_path(e, &dir))?;
        for (file, value) in files {
            write_value(&dir.join(file), &value)?;
        }
    }
    Ok(())
}

/// (v1 controller, [(file, value)]) for the limits that are set, in the
/// order they must be written (the CFS period before the quota).
fn v1_files(r: &LinuxResources) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let mut cpu = Vec::new();
    if let Some(s) = r.cpu_shares {
        cpu.push(("cpu.shares", s.to_string()));
    }
    if let Some(p) = r.cpu_period {
        cpu.push(("cpu.cfs_period_us", p.to_string()));
    }
    if let Some(q) = r.cpu_quota {
        cpu.push(("cpu.cfs_quota_us", q.to_string()));
    }
    let memory: Vec<_> = r.memory_limit_bytes.map(|m| ("memory.limit_in_bytes", m.to_string())).into_iter().collect();
    let pids: Vec<_> = r.pids_limit.map(|p| ("pids.max", p.to_string())).into_iter().collect();
    [("cpu", cpu), ("memory", memory), ("pids", pids)].into_iter().filter(|(_, f)| !f.is_empty()).collect()
}

/// cgroup v2: enable the controllers down the path, then write the limits.
fn apply_v2(rel: &str, r: &LinuxResources) -> io::Result<()> {
    let root = Path::new(CGROUP_ROOT);
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).map_err(|e| with_path(e, &dir))?;
    // Every ancestor must delegate the controllers to its children.
    let mut cur = root.to_path_buf();
    for part in Path::new(rel).components() {
        let _ = std::fs::write(cur.join("cgroup.subtree_control"), "+cpu +memory +pids");
        cur.push(part);
    }
    for (file, value) in v2_files(r) {
        write_value(&dir.join(file), &value)?;
    }
    Ok(())
}

fn v2_files(r: &LinuxResources) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(s) = r.cpu_shares {
        out.push(("cpu.weight", shares_to_weight(s).to_string()));
    }
    if let Some(p) = r.cpu_period {
        let quota = r.cpu_quota.filter(|q| *q > 0).map(|q| q.to_string()).unwrap_or_else(|| "max".into());
        out.push(("cpu.max", format!("{quota} {p}")));
    }
    if let Some(m) = r.memory_limit_bytes {
        out.push(("memory.max", m.to_string()));
    }
    if let Some(p) = r.pids_limit {
        out.push(("pids.max", p.to_string()));
    }
    out
}

/// runc's conversion of v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

fn write_value(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| with_path(e, path))
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
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
    fn pod_limit_files() {
        let r = LinuxResources {
            cpu_shares: Some(512),
            cpu_period: Some(100_000),
            cpu_quota: Some(50_000),
            memory_limit_bytes: Some(64 << 20),
            pids_limit: Some(1024),
            oom_score_adj: None,
        };
        let v1 = v1_files(&r);
        assert_eq!(
            v1,
            vec![
                (
                    "cpu",
                    vec![
                        ("cpu.shares", "512".to_string()),
                        ("cpu.cfs_period_us", "100000".to_string()),
                        ("cpu.cfs_quota_us", "50000".to_string())
                    ]
                ),
                ("memory", vec![("memory.limit_in_bytes", "67108864".to_string())]),
                ("pids", vec![("pids.max", "1024".to_string())]),
            ]
        );
        assert_eq!(
            v2_files(&r),
            vec![
                ("cpu.weight", "20".to_string()),
                ("cpu.max", "50000 100000".to_string()),
                ("memory.max", "67108864".to_string()),
                ("pids.max", "1024".to_string())
            ]
        );
        // BestEffort: only the minimum shares.
        let be = LinuxResources { cpu_shares: Some(2), ..Default::default() };
        assert_eq!(v1_files(&be), vec![("cpu", vec![("cpu.shares", "2".to_string())])]);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn remove_missing_is_ok() {
        remove("/peapod-test-does-not-exist/x").unwrap();
    }
}
