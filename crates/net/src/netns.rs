//! Network namespaces pinned by a bind mount, so the pod's network outlives
//! any one process and is referred to by a path (never `/proc/<pid>/ns/net`,
//! whose pid can be reused: podman#12262).

#![allow(unsafe_code)]

use std::path::Path;

use crate::NetError;

/// Create a new network namespace, bring its loopback up and pin it at
/// `path` (an empty file is created and the namespace bind-mounted on it).
pub fn create_pinned(path: &Path) -> Result<(), NetError> {
    create_pinned_set(Some(path), None, None)
}

/// New namespaces of a pod, each pinned by a bind mount on a file: network
/// (with `lo` up) at `net`, IPC at `ipc`, UTS with the hostname at `uts`
/// (CRI-O's `pinns`). Any may be absent. Nothing is left behind on error.
///
/// Runs on a short-lived dedicated thread: `unshare` of these namespaces
/// changes the calling thread only, and no other daemon thread must end up
/// inside the pod's namespaces.
pub fn create_pinned_set(net: Option<&Path>, ipc: Option<&Path>, uts: Option<(&Path, &str)>) -> Result<(), NetError> {
    use rustix::thread::UnshareFlags;
    let targets: Vec<(&'static str, UnshareFlags, std::path::PathBuf)> = [
        net.map(|p| ("net", UnshareFlags::NEWNET, p)),
        ipc.map(|p| ("ipc", UnshareFlags::NEWIPC, p)),
        uts.map(|(p, _)| ("uts", UnshareFlags::NEWUTS, p)),
    ]
    .into_iter()
    .flatten()
    .map(|(k, f, p)| (k, f, p.to_path_buf()))
    .collect();
    if targets.is_empty() {
        return Ok(());
    }
    for (_, _, p) in &targets {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
        }
        std::fs::File::create(p).map_err(|e| NetError::io(format!("creating {}", p.display()), e))?;
    }
    let flags = targets.iter().fold(UnshareFlags::empty(), |a, (_, f, _)| a | *f);
    let hostname = uts.map(|(_, h)| h.to_owned());
    let pins = targets.clone();
    let res = std::thread::Builder::new()
        .name("pin-ns".into())
        .spawn(move || -> Result<(), NetError> {
            // SAFETY: this thread was created for this call alone, shares no
            // file-system state it relies on, and exits right after; only its
            // network, IPC and UTS namespaces change (all per-thread).
            unsafe { rustix::thread::unshare_unsafe(flags) }
                .map_err(|e| NetError::io(format!("unshare({flags:?})"), e.into()))?;
            if flags.contains(UnshareFlags::NEWNET) {
                loopback_up().map_err(|e| NetError::io("bringing lo up in the pod network namespace", e))?;
            }
            if let Some(h) = &hostname {
                rustix::system::sethostname(h.as_bytes())
                    .map_err(|e| NetError::io(format!("setting the hostname {h:?}"), e.into()))?;
            }
            for (kind, _, target) in &pins {
                rustix::mount::mount_bind(format!("/proc/thread-self/ns/{kind}"), target).map_err(|e| {
                    NetError::io(format!("bind-mounting the {kind} namespace on {}", target.display()), e.into())
                })?;
            }
            Ok(())
        })
        .map_err(|e| NetError::io("spawning the namespace thread", e))?
        .join()
        .map_err(|_| NetError::io("namespace thread", std::io::Error::other("panicked")))?;
    if res.is_err() {
        for (_, _, p) in &targets {
            let _ = remove_pinned(p);
        }
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

    #[test]
    fn pins_ipc_and_uts_with_the_hostname() {
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let d = tempfile::tempdir().unwrap();
        let (ipc, uts) = (d.path().join("ipcns"), d.path().join("utsns"));
        create_pinned_set(None, Some(&ipc), Some((&uts, "pinned-host"))).unwrap();
        assert!(is_pinned(&ipc) && is_pinned(&uts));
        assert_ne!(ino(&ipc), ino(Path::new("/proc/self/ns/ipc")), "a new IPC namespace");
        assert_ne!(ino(&uts), ino(Path::new("/proc/self/ns/uts")), "a new UTS namespace");
        let out =
            std::process::Command::new("nsenter").arg(format!("--uts={}", uts.display())).arg("hostname").output();
        assert_eq!(String::from_utf8_lossy(&out.unwrap().stdout).trim(), "pinned-host");
        for p in [&ipc, &uts] {
            remove_pinned(p).unwrap();
            assert!(!p.exists());
        }
        create_pinned_set(None, None, None).unwrap();
    }
}
