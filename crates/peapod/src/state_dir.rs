//! The state directory on a tmpfs.
//!
//! The state dir (`/run/peapod`: runc state, sandbox and container records,
//! bundles, pinned namespaces, rootfs mount points) is runtime state, meant
//! to live in memory like the rest of `/run` and to be gone after a reboot.
//! Where `/run` is a disk file system (it is ext4 on this kind of machine),
//! every record save and runc state write is a new disk inode: in the churn
//! benchmark, ext4's inode allocator took a twelfth of the machine's CPU.
//! So `serve` mounts a tmpfs on an empty state dir that
//! is not on one, and unmounts it when it stops with nothing left in it.

use std::path::Path;

use anyhow::Context;

/// The mount's source name, which tells ours from any other tmpfs.
const SOURCE: &str = "peapod-state";
pub(crate) const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Mount our tmpfs on `dir` unless it is on a tmpfs already or holds
/// anything (state of a daemon that ran without one: hiding it would lose
/// its pods). Returns whether `dir` is now our tmpfs.
pub fn ensure(dir: &Path) -> anyhow::Result<bool> {
    if is_ours(dir) {
        return Ok(true);
    }
    let on_tmpfs = rustix::fs::statfs(dir).is_ok_and(|s| s.f_type == TMPFS_MAGIC);
    let empty = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_none();
    if on_tmpfs || !empty {
        if !on_tmpfs {
            tracing::info!(dir = %dir.display(), "the state dir is not empty: leaving it on its disk file system");
        }
        return Ok(false);
    }
    rustix::mount::mount(
        SOURCE,
        dir,
        "tmpfs",
        rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
        c"mode=0711",
    )
    .with_context(|| format!("mounting a tmpfs on the state dir {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), "mounted a tmpfs on the state dir");
    Ok(true)
}

/// Unmount our tmpfs from `dir` (the caller knows no pod needs it). Not
/// while anything is mounted below it (a pinned namespace, a rootfs that
/// teardown missed) and not lazily: hidden, such leftovers could never be
/// cleaned up; left in place, the next start's recovery finds them.
pub fn release(dir: &Path) {
    if !is_ours(dir) {
        return;
    }
    let below: Vec<_> = peapod_runtime::mounts::mounts_under(dir).into_iter().filter(|m| m.as_path() != dir).collect();
    if !below.is_empty() {
        tracing::warn!(dir = %dir.display(), mounts = ?below, "mounts left in the state dir: keeping its tmpfs");
        return;
    }
    match rustix::mount::unmount(dir, rustix::mount::UnmountFlags::empty()) {
        Ok(()) => tracing::info!(dir = %dir.display(), "unmounted the state dir's tmpfs"),
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "unmounting the state dir's tmpfs"),
    }
}

/// Is our tmpfs mounted on `dir`?
fn is_ours(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else { return false };
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().any(|l| mounted_here(l, &dir))
}

/// Does this mountinfo line mount our tmpfs on `dir`?
fn mounted_here(line: &str, dir: &Path) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let Some(sep) = fields.iter().position(|f| *f == "-") else { return false };
    fields.get(4).is_some_and(|m| Path::new(&peapod_runtime::mounts::unescape(m)) == dir)
        && fields.get(sep + 1) == Some(&"tmpfs")
        && fields.get(sep + 2) == Some(&SOURCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_mount_by_source() {
        let dir = Path::new("/run/peapod");
        let ours = "1 2 0:99 / /run/peapod rw,nosuid,nodev,relatime shared:1 - tmpfs peapod-state rw,mode=711";
        assert!(mounted_here(ours, dir));
        let other = "1 2 0:99 / /run/peapod rw shared:1 - tmpfs tmpfs rw";
        assert!(!mounted_here(other, dir));
        let below = "1 2 0:99 / /run/peapod/x rw shared:1 - tmpfs peapod-state rw";
        assert!(!mounted_here(below, dir));
        let spaced = r"1 2 0:99 / /run/pea\040pod rw - tmpfs peapod-state rw";
        assert!(mounted_here(spaced, Path::new("/run/pea pod")));
    }
}
