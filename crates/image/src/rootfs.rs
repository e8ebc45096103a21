//! The snapshotter seam: a container's rootfs as an overlay *mount
//! description*.
//!
//! Like containerd's snapshotters, this crate does not mount. It makes sure
//! every layer is unpacked, creates the container's writable `upper` and
//! overlay `work` directories, and returns the [`Mount`] the runtime should
//! perform at a target of its choosing. That keeps the mount in the
//! runtime's mount namespace and keeps this code testable as plain data.
//!
//! The options are passed to `mount(2)` as one comma-joined string, which
//! the kernel limits to a page (4096 bytes): with the default store root
//! about 40 layers fit. Images with more layers need the new mount API
//! (`fsconfig` with `lowerdir+`), which is the runtime's choice to make.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::digest::Digest;
use crate::error::{ImageError, IoContext};
use crate::image::ImageInfo;
use crate::store::ImageStore;

/// The container's writable layer.
const UPPER_DIR: &str = "upper";
/// overlayfs scratch space; must be on the same filesystem as `upper`.
const WORK_DIR: &str = "work";
/// An empty lower layer for images without layers (overlay needs one).
const EMPTY_LOWER_DIR: &str = "lower-empty";

/// A mount to perform, in `mount(8)` terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Filesystem type (`overlay`).
    pub fstype: String,
    /// Source (`overlay`).
    pub source: String,
    /// Mount options (`lowerdir=...`, `upperdir=...`, `workdir=...`).
    pub options: Vec<String>,
}

impl Mount {
    /// The options joined with commas: the `data` argument of `mount(2)`.
    pub fn data(&self) -> String {
        self.options.join(",")
    }
}

impl ImageStore {
    /// Prepare the rootfs of a container whose private directory is
    /// `container_dir`: unpack any missing layer snapshot, create
    /// `container_dir/upper` and `container_dir/work`, and return one overlay
    /// mount description whose leftmost `lowerdir` is the top layer. The
    /// caller mounts it where it likes and unmounts it before
    /// [`ImageStore::cleanup_rootfs`]. Calling this again for the same
    /// directory reuses the existing upper layer.
    pub fn prepare_rootfs(&self, image: &ImageInfo, container_dir: &Path) -> Result<Vec<Mount>, ImageError> {
        let inner = &self.inner;
        let manifest_digest = Digest::parse(&image.digest)?;
        if !inner.content.path(&manifest_digest).is_file() {
            // Removed since the caller looked it up.
            return Err(ImageError::NotFound(image.id.clone()));
        }
        let loaded = inner.load_image(&manifest_digest)?;
        inner.touch(&image.id);
        let diff_ids = &loaded.config.rootfs.diff_ids;
        // Held until the mount description exists: a concurrent remove of
        // another image sharing these layers must not delete them meanwhile.
        let _lease =
            inner.lease(diff_ids.iter().cloned().chain(loaded.manifest.layers.iter().map(|l| l.digest.clone())));

        let upper = container_dir.join(UPPER_DIR);
        let work = container_dir.join(WORK_DIR);
        let mut lowers: Vec<PathBuf> = diff_ids.iter().rev().map(|d| inner.snapshots.fs_path(d)).collect();
        let layerless = lowers.is_empty();
        if layerless {
            lowers.push(container_dir.join(EMPTY_LOWER_DIR));
        }
        for path in lowers.iter().chain([&upper, &work]) {
            check_mount_path(path)?;
        }
        for (layer, diff_id) in loaded.manifest.layers.iter().zip(diff_ids) {
            inner.snapshots.ensure(diff_id, || inner.content.open(&layer.digest))?;
        }
        if layerless {
            create_dir(&lowers[0], 0o755)?;
        }

        let fresh = !upper.exists();
        create_dir(&upper, 0o755)?;
        create_dir(&work, 0o700)?;
        if fresh {
            // overlayfs shows the upper directory's owner and mode as the
            // container's `/`; give it the top layer's, as Docker does, so
            // an image with a 0700 or non-root-owned root keeps it.
            let top = fs::metadata(&lowers[0]).at("stat", &lowers[0])?;
            rustix::fs::chown(
                &upper,
                Some(rustix::fs::Uid::from_raw(top.uid())),
                Some(rustix::fs::Gid::from_raw(top.gid())),
            )
            .at("chown", &upper)?;
            fs::set_permissions(&upper, fs::Permissions::from_mode(top.mode() & 0o7777)).at("chmod", &upper)?;
        }

        let lowerdir = lowers.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
        Ok(vec![Mount {
            fstype: "overlay".to_string(),
            source: "overlay".to_string(),
            options: vec![
                format!("lowerdir={lowerdir}"),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
            ],
        }])
    }

    /// Remove what [`ImageStore::prepare_rootfs`] created in
    /// `container_dir` (the caller has unmounted it). Missing directories
    /// are fine, so this is safe to repeat.
    pub fn cleanup_rootfs(&self, container_dir: &Path) -> Result<(), ImageError> {
        for name in [UPPER_DIR, WORK_DIR, EMPTY_LOWER_DIR] {
            let path = container_dir.join(name);
            match fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at("remove", &path),
            }
        }
        Ok(())
    }
}

fn create_dir(path: &Path, mode: u32) -> Result<(), ImageError> {
    DirBuilder::new().recursive(true).mode(mode).create(path).at("create directory", path)
}

/// overlayfs splits its options on `,` and `lowerdir` on `:`; such paths
/// would be misread (or, worse, read as extra options).
fn check_mount_path(path: &Path) -> Result<(), ImageError> {
    let s = path.as_os_str().as_encoded_bytes();
    if s.contains(&b',') || s.contains(&b':') {
        return Err(ImageError::UnsafeMountPath(path.to_path_buf()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use super::*;
    use crate::oci::{ConfigFile, RootFs};
    use crate::reference::Reference;

    /// A tar with the given (path, content) files; content `None` makes a
    /// directory.
    fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut h = tar::Header::new_gnu();
            match content {
                Some(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, *data).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, &b""[..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    /// A two-layer image built with the crate's own ingest and commit steps.
    fn two_layer_image(store: &ImageStore) -> ImageInfo {
        let inner = &store.inner;
        let bottom = layer(&[("a", Some(b"bottom a")), ("b", Some(b"bottom b")), ("d", None), ("d/x", Some(b"x"))]);
        let top = layer(&[
            (".wh.a", Some(b"")),
            ("b", Some(b"top b")),
            ("d", None),
            ("d/.wh..wh..opq", Some(b"")),
            ("d/z", Some(b"z")),
        ]);
        let l1 = inner.ingest_layer(&bottom[..]).unwrap();
        let l2 = inner.ingest_layer(&top[..]).unwrap();
        let config = ConfigFile {
            architecture: "amd64".into(),
            os: "linux".into(),
            rootfs: RootFs { kind: "layers".into(), diff_ids: vec![l1.diff_id.clone(), l2.diff_id.clone()] },
            ..Default::default()
        };
        let reference = Reference::parse("two:layers").unwrap();
        inner.commit_image(&[l1, l2], &config, &reference).unwrap()
    }

    struct Mounted(PathBuf);

    impl Mounted {
        fn new(m: &Mount, target: &Path) -> Self {
            fs::create_dir_all(target).unwrap();
            let data = CString::new(m.data()).unwrap();
            rustix::mount::mount(
                m.source.as_str(),
                target,
                m.fstype.as_str(),
                rustix::mount::MountFlags::empty(),
                data.as_c_str(),
            )
            .unwrap();
            Self(target.to_path_buf())
        }
    }

    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn multi_layer_rootfs_stacks_top_first_and_honours_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("images")).unwrap();
        let image = two_layer_image(&store);
        let snaps = &store.inner.snapshots;
        let [bottom, top] = [0, 1].map(|i| Digest::parse(&image.layers[i]).unwrap());

        // Lazy path: the snapshots vanish, prepare_rootfs rebuilds them from
        // the stored blobs.
        for d in [&bottom, &top] {
            assert!(snaps.remove(d).unwrap());
        }
        let container = dir.path().join("ctr");
        let mounts = store.prepare_rootfs(&image, &container).unwrap();
        assert_eq!(
            mounts[0].options[0],
            format!("lowerdir={}:{}", snaps.fs_path(&top).display(), snaps.fs_path(&bottom).display())
        );
        {
            let merged = Mounted::new(&mounts[0], &container.join("rootfs"));
            assert_eq!(names(&merged.0), ["b", "d"]);
            assert_eq!(fs::read(merged.0.join("b")).unwrap(), b"top b");
            assert_eq!(names(&merged.0.join("d")), ["z"]);
        }
        store.cleanup_rootfs(&container).unwrap();
        assert_eq!(names(&container), ["rootfs"]);
    }

    #[test]
    fn mount_paths_with_separators_are_refused() {
        assert!(check_mount_path(Path::new("/var/lib/peapod/c1/upper")).is_ok());
        for bad in ["/a,b/upper", "/a:b/upper", "/x/lowerdir=/etc,upperdir=/"] {
            assert!(matches!(check_mount_path(Path::new(bad)), Err(ImageError::UnsafeMountPath(_))));
        }
    }

    #[test]
    fn data_joins_options() {
        let m = Mount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec!["lowerdir=/a:/b".into(), "upperdir=/u".into(), "workdir=/w".into()],
        };
        assert_eq!(m.data(), "lowerdir=/a:/b,upperdir=/u,workdir=/w");
    }
}
