//! The pod's IPC and UTS namespaces, pinned by bind mounts in the sandbox
//! directory like its network namespace (`peapod_net::netns`), as CRI-O's
//! `pinns` does.
//!
//! The pause container joins them instead of making them, so they exist
//! before it does: the pod's first containers can be created while the
//! pause starts and the network is attached, and only their start waits
//! for both. They are referred to by path, never by `/proc/<pause>/ns/…`.

#![allow(unsafe_code)]

use std::io;
use std::path::Path;

/// File names in the sandbox directory.
pub(crate) const IPC: &str = "ipcns";
pub(crate) const UTS: &str = "utsns";

/// Make a new IPC namespace pinned at `ipc` and a new UTS namespace whose
/// hostname is `hostname` pinned at `uts` (either may be absent: hostIPC,
/// hostNetwork). Nothing is left behind on error.
pub(crate) fn create(ipc: Option<&Path>, uts: Option<(&Path, &str)>) -> io::Result<()> {
    let mut flags = rustix::thread::UnshareFlags::empty();
    if ipc.is_some() {
        flags |= rustix::thread::UnshareFlags::NEWIPC;
    }
    if uts.is_some() {
        flags |= rustix::thread::UnshareFlags::NEWUTS;
    }
    if flags.is_empty() {
        return Ok(());
    }
    let targets: Vec<(&'static str, &Path)> =
        ipc.map(|p| ("ipc", p)).into_iter().chain(uts.map(|(p, _)| ("uts", p))).collect();
    for (_, p) in &targets {
        std::fs::File::create(p).map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", p.display())))?;
    }
    let hostname = uts.map(|(_, h)| h.to_owned());
    let owned: Vec<(&'static str, std::path::PathBuf)> = targets.iter().map(|(k, p)| (*k, p.to_path_buf())).collect();
    let res = std::thread::Builder::new()
        .name("pins".into())
        .spawn(move || -> io::Result<()> {
            // SAFETY: this thread was created for this call alone and exits
            // right after; only its IPC and UTS namespaces change (both are
            // per-thread for unshare), and no other thread shares them.
            unsafe { rustix::thread::unshare_unsafe(flags) }
                .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("unshare({flags:?}): {e}")))?;
            if let Some(h) = &hostname {
                rustix::system::sethostname(h.as_bytes())
                    .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("sethostname({h:?}): {e}")))?;
            }
            for (kind, target) in &owned {
                rustix::mount::mount_bind(format!("/proc/thread-self/ns/{kind}"), target).map_err(|e| {
                    io::Error::new(
                        io::Error::from(e).kind(),
                        format!("bind-mounting the {kind} namespace on {}: {e}", target.display()),
                    )
                })?;
            }
            Ok(())
        })?
        .join()
        .map_err(|_| io::Error::other("the namespace pinning thread panicked"))?;
    if res.is_err() {
        for (_, p) in &targets {
            let _ = remove(p);
        }
    }
    res
}

/// Unpin and delete; a missing or already unmounted file is fine.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(io::Error::new(io::Error::from(e).kind(), format!("unmounting {}: {e}", path.display()))),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns_inode(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
    }

    #[test]
    fn pins_new_namespaces_with_the_hostname() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let (ipc, uts) = (d.path().join(IPC), d.path().join(UTS));
        create(Some(&ipc), Some((&uts, "pinned-host"))).unwrap();
        assert_ne!(ns_inode(&ipc), ns_inode(Path::new("/proc/self/ns/ipc")), "a new IPC namespace");
        assert_ne!(ns_inode(&uts), ns_inode(Path::new("/proc/self/ns/uts")), "a new UTS namespace");
        let out =
            std::process::Command::new("nsenter").arg(format!("--uts={}", uts.display())).arg("hostname").output();
        assert_eq!(String::from_utf8_lossy(&out.unwrap().stdout).trim(), "pinned-host");
        remove(&ipc).unwrap();
        remove(&uts).unwrap();
        assert!(!ipc.exists() && !uts.exists());
        remove(&ipc).unwrap();
        // Nothing asked, nothing done.
        create(None, None).unwrap();
    }
}
