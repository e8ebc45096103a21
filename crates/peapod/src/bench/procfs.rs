//! What the benchmark reads from /proc: a process's memory (RSS and PSS from
//! `smaps_rollup`), its CPU time and its reaped children's (`stat`), its
//! command line and cgroup, a cgroup's CPU time, and the machine's available
//! memory. Parsers are pure functions over the file text so they are tested
//! without a live process.

use std::path::Path;

/// Memory of one process, in KiB, as `smaps_rollup` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mem {
    pub rss: u64,
    /// Proportional set size: shared pages divided among their users, so
    /// summing it over processes counts every page once.
    pub pss: u64,
    pub private_dirty: u64,
}

impl std::ops::AddAssign for Mem {
    fn add_assign(&mut self, o: Mem) {
        self.rss += o.rss;
        self.pss += o.pss;
        self.private_dirty += o.private_dirty;
    }
}

/// Parse `/proc/<pid>/smaps_rollup` (lines like `Pss:   123 kB`).
pub fn parse_smaps_rollup(text: &str) -> Option<Mem> {
    let mut m = Mem::default();
    let mut seen = false;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(val)) = (it.next(), it.next()) else { continue };
        let Ok(v) = val.parse::<u64>() else { continue };
        match key {
            "Rss:" => {
                m.rss = v;
                seen = true;
            }
            "Pss:" => m.pss = v,
            "Private_Dirty:" => m.private_dirty = v,
            _ => {}
        }
    }
    seen.then_some(m)
}

pub fn mem(pid: i32) -> Option<Mem> {
    parse_smaps_rollup(&std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?)
}

/// CPU time of a process, in clock ticks, as `/proc/<pid>/stat` has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// utime + stime: the process's own threads.
    pub own: u64,
    /// cutime + cstime: children it has waited for (and what they had
    /// counted of theirs); a child's CPU shows up here only once reaped.
    pub children: u64,
}

/// The CPU times from the text of `/proc/<pid>/stat`.
pub fn parse_stat_times(text: &str) -> Option<CpuTimes> {
    // The command name may contain spaces and parentheses: fields start
    // after the last ')'; utime, stime, cutime and cstime are fields 14-17
    // (1-based), i.e. the 12th to 15th after the state.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some(CpuTimes { own: field(11)? + field(12)?, children: field(13)? + field(14)? })
}

pub fn cpu_times(pid: i32) -> Option<CpuTimes> {
    parse_stat_times(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

pub fn cpu_ticks(pid: i32) -> Option<u64> {
    cpu_times(pid).map(|t| t.own)
}

/// `usage_usec` of a cgroup v2 `cpu.stat`, in nanoseconds.
pub fn parse_cpu_stat_usage(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok()).map(|us| us * 1000)
}

/// CPU time (ns) used by everything in the cgroup `path` and below it: the
/// v1 `cpuacct` hierarchy's counter, or the unified hierarchy's `cpu.stat`.
pub fn cgroup_cpu_ns(path: &str) -> Option<u64> {
    let rel = path.trim_start_matches('/');
    let v1 = Path::new("/sys/fs/cgroup/cpuacct").join(rel).join("cpuacct.usage");
    if let Ok(t) = std::fs::read_to_string(&v1) {
        return t.trim().parse().ok();
    }
    parse_cpu_stat_usage(&std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(rel).join("cpu.stat")).ok()?)
}

/// Clock ticks per second of the `stat` CPU fields.
pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// `MemAvailable` of `/proc/meminfo`, in KiB.
pub fn parse_mem_available(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("MemAvailable:")?.split_whitespace().next()?.parse().ok())
}

pub fn mem_available() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// A live process as the benchmark classifies it.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    /// Arguments, NUL-separated in /proc, split here.
    pub args: Vec<String>,
    /// The path of its v1 `memory` cgroup (or the v2 path), e.g. `/peapod/pod.../id`.
    pub cgroup: String,
}

/// The cgroup path of a process from the text of `/proc/<pid>/cgroup`:
/// the v1 memory hierarchy's, or the unified one's when there is no v1.
pub fn parse_cgroup(text: &str) -> String {
    let mut unified = String::new();
    for l in text.lines() {
        let mut p = l.splitn(3, ':');
        let (_, ctrls, path) = (p.next(), p.next().unwrap_or(""), p.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == "memory") {
            return path.to_owned();
        }
        if ctrls.is_empty() {
            unified = path.to_owned();
        }
    }
    unified
}

/// Every process on the machine (those that vanish while scanning are skipped).
pub fn processes() -> Vec<Proc> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return vec![] };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let dir = e.path();
        let Ok(cmd) = std::fs::read(dir.join("cmdline")) else { continue };
        let args =
            cmd.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let cgroup = std::fs::read_to_string(dir.join("cgroup")).map(|t| parse_cgroup(&t)).unwrap_or_default();
        out.push(Proc { pid, args, cgroup });
    }
    out
}

/// Is `cgroup` the cgroup `root` or below it?
pub fn under(cgroup: &str, root: &str) -> bool {
    let root = root.trim_end_matches('/');
    cgroup == root || cgroup.strip_prefix(root).is_some_and(|r| r.starts_with('/'))
}

/// Does this path exist (a process still alive)?
pub fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_rollup() {
        let text = "55d0c0a00000-7ffc8b5fe000 ---p 00000000 00:00 0                          [rollup]\n\
                    Rss:                 900 kB\nPss:                 123 kB\nPss_Dirty:            80 kB\n\
                    Shared_Clean:        700 kB\nPrivate_Dirty:        80 kB\n";
        assert_eq!(parse_smaps_rollup(text), Some(Mem { rss: 900, pss: 123, private_dirty: 80 }));
        assert_eq!(parse_smaps_rollup(""), None);
        let mut a = Mem { rss: 1, pss: 2, private_dirty: 3 };
        a += Mem { rss: 10, pss: 20, private_dirty: 30 };
        assert_eq!(a, Mem { rss: 11, pss: 22, private_dirty: 33 });
    }

    #[test]
    fn stat_cpu_skips_odd_command_names() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        let text = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 1 0 99 0 0";
        assert_eq!(parse_stat_times(text), Some(CpuTimes { own: 22, children: 0 }));
        let reaped = "7 (peapod) S 1 7 7 0 -1 4194560 100 0 0 0 300 40 25 9 20 0 12 0 99 0 0";
        assert_eq!(parse_stat_times(reaped), Some(CpuTimes { own: 340, children: 34 }));
        assert_eq!(parse_stat_times("42 (x) S 1"), None);
        assert_eq!(parse_stat_times("42 (x) S 1 42 42 0 -1 4194560 100 0 0 0 17 5"), None);
    }

    #[test]
    fn cgroup_cpu_stat() {
        assert_eq!(parse_cpu_stat_usage("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"), Some(1_500_000));
        assert_eq!(parse_cpu_stat_usage("user_usec 1000\n"), None);
    }

    #[test]
    fn meminfo_and_cgroups() {
        assert_eq!(parse_mem_available("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"), Some(2048));
        assert_eq!(parse_mem_available("MemTotal: 100 kB\n"), None);
        let v1 = "12:pids:/peapod-bench-1/pod9/c1\n5:memory:/peapod-bench-1/pod9/c1\n0::/peapod-bench-1/pod9/c1\n";
        assert_eq!(parse_cgroup(v1), "/peapod-bench-1/pod9/c1");
        assert_eq!(parse_cgroup("0::/user.slice\n"), "/user.slice");
        assert!(under("/peapod-bench-1/pod9/c1", "/peapod-bench-1"));
        assert!(under("/peapod-bench-1", "/peapod-bench-1/"));
        assert!(!under("/peapod-bench-10/pod9", "/peapod-bench-1"));
    }

    #[test]
    fn reads_itself() {
        let me = std::process::id() as i32;
        let m = mem(me).expect("own smaps_rollup");
        assert!(m.rss > 0 && m.pss > 0);
        assert!(cpu_ticks(me).is_some());
        assert!(cpu_times(me).is_some());
        assert!(ticks_per_second() > 0);
        assert!(alive(me));
        assert!(processes().iter().any(|p| p.pid == me && !p.args.is_empty()));
    }
}
