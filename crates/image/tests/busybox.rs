//! A realistic image: Debian's static busybox packed by
//! scripts/make-busybox-rootfs.sh, imported, prepared, mounted and run.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{OverlayMount, list_dir, snapshot_dir, store};
use peapod_image::digest::Digest;

fn make_rootfs(out: &Path) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-rootfs.sh");
    let status = Command::new("bash").arg(&script).arg(out).status().unwrap();
    assert!(status.success(), "{} failed", script.display());
}

#[test]
fn busybox_rootfs_imports_mounts_and_runs() {
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("busybox.tar");
    make_rootfs(&tar_path);
    let tar = fs::read(&tar_path).unwrap();

    // The script is deterministic: a second build is byte-identical.
    let again = work.path().join("again.tar");
    make_rootfs(&again);
    assert_eq!(fs::read(&again).unwrap(), tar);

    let (_dir, store) = store();
    let info =
        store.import_rootfs(fs::File::open(&tar_path).unwrap(), "busybox:test", &["CMD [\"sh\"]".into()]).unwrap();
    assert_eq!(info.layers, [Digest::of_bytes(&tar).to_string()]);
    assert_eq!(info.config.cmd, Some(vec!["sh".to_string()]));

    let snapshot = snapshot_dir(&store, &info.layers[0]);
    let applets = Command::new("/bin/busybox").arg("--list").output().unwrap().stdout;
    for applet in String::from_utf8(applets).unwrap().lines().filter(|a| *a != "busybox") {
        let link = fs::read_link(snapshot.join("bin").join(applet)).unwrap_or_else(|e| panic!("bin/{applet}: {e}"));
        assert_eq!(link.to_str(), Some("busybox"));
    }

    let container = work.path().join("ctr");
    fs::create_dir(&container).unwrap();
    let mounts = store.prepare_rootfs(&info, &container).unwrap();
    assert_eq!(mounts.len(), 1);
    let m = &mounts[0];
    assert_eq!((m.fstype.as_str(), m.source.as_str()), ("overlay", "overlay"));
    assert_eq!(
        m.options,
        [
            format!("lowerdir={}", snapshot.display()),
            format!("upperdir={}", container.join("upper").display()),
            format!("workdir={}", container.join("work").display()),
        ]
    );

    {
        let merged = OverlayMount::mount(m, &container.join("rootfs"));
        let root = merged.path();
        assert!(root.join("bin/sh").exists(), "bin/sh resolves to busybox");
        assert!(fs::read_to_string(root.join("etc/passwd")).unwrap().starts_with("root:x:0:0:"));
        assert!(!root.join("etc/nsswitch.conf").exists());

        let out = Command::new("chroot")
            .arg(root)
            .args(["/bin/sh", "-c", "echo written > /tmp/new && cat /tmp/new && id -u"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "written\n0\n");
        // The write went to the container's upper layer, not the snapshot.
        assert_eq!(fs::read(container.join("upper/tmp/new")).unwrap(), b"written\n");
        assert!(!snapshot.join("tmp/new").exists());
    }

    store.cleanup_rootfs(&container).unwrap();
    assert_eq!(list_dir(&container), ["rootfs"]);
    store.cleanup_rootfs(&container).unwrap();
    assert!(store.disk_usage().unwrap() > tar.len() as u64);
}
