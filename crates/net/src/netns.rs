//! Network namespaces pinned by a bind mount, so the pod's network outlives
//! any one process and is referred to by a path (never `/proc/<pid>/ns/net`,
//! whose pid can be reused: podman#12262).

#![allow(unsafe_code)]

use std::path::Path;

use crate::NetError;

/// Create a new network namespace, bring its loopback up and pin it at
/// `path` (an empty file is created and the namespace bind-mounted on it).
///
/// Runs on a short-lived dedicated thread: `unshare(CLONE_NEWNET)` changes
/// the calling thread only, and no other daemon thread must end up inside
/// the pod's namespace.
pub fn create_pinned(path: &Path) -> Result<(), NetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
    }
    std::fs::File::create(path).map_err(|e| NetError::io(format!("creating {}", path.display()), e))?;
    let target = path.to_path_buf();
    let res = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || -> Result<(), NetError> {
            // SAFETY: this thread was created for this call alone, shares no
            // file-system state it relies on, and exits right after; only its
            // network namespace changes.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .map_err(|e| NetError::io("unshare(CLONE_NEWNET)", e.into()))?;
            loopback_up().map_err(|e| NetError::io("bringing lo up in the pod network namespace", e))?;
            rustix::mount::mount_bind("/proc/thread-self/ns/net", &target).map_err(|e| {
                NetError::io(format!("bind-mounting the network namespace on {}", target.display()), e.into())
            })
        })
        .map_err(|e| NetError::io("spawning the netns thread", e))?
        .join()
        .map_err(|_| NetError::io("netns thread", std::io::Error::other("panicked")))?;
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Unpin and delete; a missing or already unmounted file is fine.
pub fn remove_pinned(path: &Path) -> Result<(), NetError> {
    match rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => {
            return Err(NetError::io(format!("unmounting {}", path.display()), e.into()));
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("removing {}", path.display()), e)),
    }
}

/// Is `path` a live pinned namespace (an nsfs mount)?
pub fn is_pinned(path: &Path) -> bool {
    rustix::fs::statfs(path).map(|s| s.f_type == 0x6e73_6673).unwrap_or(false)
}

/// SIOCGIFFLAGS / SIOCSIFFLAGS on "lo" in the current thread's namespace.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket/ioctl/close calls on a zeroed, properly sized
    // ifreq whose name is NUL-terminated; the fd is closed on every path.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut req);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if r < 0 { Err(err) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_and_remove() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ns1");
        create_pinned(&p).unwrap();
        assert!(is_pinned(&p));
        // lo is up inside: check with `ip` via nsenter on the pinned file.
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", p.display()))
            .args(["ip", "-o", "link", "show", "lo"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("UP"), "lo should be up: {text}");
        remove_pinned(&p).unwrap();
        assert!(!p.exists());
        remove_pinned(&p).unwrap();
    }
}
