//! Layer unpacking: hostile archives, whiteout conversion checked on a real
//! overlay mount, caps, xattrs and replacement semantics.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{OverlayMount, TarBuilder, gzip, is_whiteout, list_dir};
use peapod_image::digest::Digest;
use peapod_image::unpack::{UnpackLimits, Unpacked, unpack_layer};
use peapod_image::{ImageError, ImageStore, StoreOptions};
use tar::EntryType;

/// `base/layer` (the destination) next to `base/outside` (a sentinel dir
/// that must never change).
struct Sandbox {
    _dir: tempfile::TempDir,
    base: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let (dest, outside) = (base.join("layer"), base.join("outside"));
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("sentinel"), b"untouched").unwrap();
        Self { _dir: dir, base, dest, outside }
    }

    fn unpack(&self, tar: &[u8]) -> Result<Unpacked, ImageError> {
        unpack_layer(tar, &self.dest, &UnpackLimits::default())
    }

    /// Nothing appeared, vanished or changed outside the layer directory.
    fn assert_outside_untouched(&self) {
        assert_eq!(list_dir(&self.base), ["layer", "outside"]);
        assert_eq!(list_dir(&self.outside), ["sentinel"]);
        assert_eq!(fs::read(self.outside.join("sentinel")).unwrap(), b"untouched");
        let sentinel = fs::metadata(self.outside.join("sentinel")).unwrap();
        assert_eq!((sentinel.nlink(), sentinel.mode() & 0o7777), (1, 0o644));
        assert_eq!(fs::metadata(&self.outside).unwrap().mode() & 0o7777, 0o755);
    }
}

fn outside_abs(sb: &Sandbox) -> String {
    sb.outside.to_str().unwrap().to_string()
}

#[test]
fn dotdot_paths_are_refused() {
    for path in ["../escape", "a/../../escape", "../outside/pwned", "./../../x"] {
        let sb = Sandbox::new();
        let mut t = TarBuilder::new();
        t.file(path, b"pwned", 0o644);
        match sb.unpack(&t.finish()) {
            Err(ImageError::UnsafeEntry { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{path}: {other:?}"),
        }
        sb.assert_outside_untouched();
    }
}

#[test]
fn absolute_paths_land_inside_the_layer() {
    let sb = Sandbox::new();
    let target = format!("{}/pwned", outside_abs(&sb));
    let mut t = TarBuilder::new();
    t.file(&target, b"inside", 0o644).file("/abs/escape", b"inside", 0o644);
    sb.unpack(&t.finish()).unwrap();
    sb.assert_outside_untouched();
    assert_eq!(fs::read(sb.dest.join(&target[1..])).unwrap(), b"inside");
    assert_eq!(fs::read(sb.dest.join("abs/escape")).unwrap(), b"inside");
}

#[test]
fn writing_through_a_symlink_to_outside_is_refused() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.symlink("evil", &outside_abs(&sb)).file("evil/pwned", b"pwned", 0o644);
    let err = sb.unpack(&t.finish()).unwrap_err();
    assert!(matches!(err, ImageError::UnsafeEntry { .. }), "{err}");
    sb.assert_outside_untouched();
}

#[test]
fn relative_symlink_escapes_are_clamped_to_the_layer_root() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.symlink("up", "../../../../..")
        .file("up/pwned", b"clamped", 0o644)
        .symlink("sib", "../outside")
        .dir("outside", 0o700)
        .file("sib/pwned2", b"clamped", 0o644);
    sb.unpack(&t.finish()).unwrap();
    sb.assert_outside_untouched();
    // `up` resolves to the layer root, `sib` to the layer's own `outside/`.
    assert_eq!(fs::read(sb.dest.join("pwned")).unwrap(), b"clamped");
    assert_eq!(fs::read(sb.dest.join("outside/pwned2")).unwrap(), b"clamped");
}

#[test]
fn symlink_or_dir_replaced_by_a_new_entry_never_writes_through() {
    let sb = Sandbox::new();
    let sentinel = format!("{}/sentinel", outside_abs(&sb));
    let mut t = TarBuilder::new();
    t.symlink("link", &sentinel)
        .file("link", b"replaced", 0o600)
        .symlink("dirlink", &outside_abs(&sb))
        .dir("dirlink", 0o700)
        .symlink("chmodme", &sentinel)
        .raw(EntryType::Fifo, "chmodme", None, b"", 0o600, 0, 0, common::MTIME);
    sb.unpack(&t.finish()).unwrap();
    sb.assert_outside_untouched();
    assert_eq!(fs::read(sb.dest.join("link")).unwrap(), b"replaced");
    let meta = fs::symlink_metadata(sb.dest.join("dirlink")).unwrap();
    assert!(meta.is_dir() && meta.mode() & 0o7777 == 0o700);
}

#[test]
fn hard_links_cannot_reach_outside() {
    let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
    type Build = Box<dyn Fn(&Sandbox, &mut TarBuilder)>;
    let cases: Vec<(&str, Build, bool)> = vec![
        (
            "absolute host path",
            Box::new(|_, t| {
                t.hardlink("h", "/etc/passwd");
            }),
            false,
        ),
        (
            "dotdot",
            Box::new(|_, t| {
                t.hardlink("h", "../outside/sentinel");
            }),
            true,
        ),
        (
            "through a symlinked dir",
            Box::new(|sb, t| {
                t.symlink("evil", &outside_abs(sb)).hardlink("h", "evil/sentinel");
            }),
            false,
        ),
        (
            "through a symlink to /etc",
            Box::new(|_, t| {
                t.symlink("etc", "/etc").hardlink("h", "etc/passwd");
            }),
            false,
        ),
    ];
    for (name, build, is_unsafe) in cases {
        let sb = Sandbox::new();
        let mut t = TarBuilder::new();
        build(&sb, &mut t);
        let err = sb.unpack(&t.finish()).unwrap_err();
        assert_eq!(matches!(err, ImageError::UnsafeEntry { .. }), is_unsafe, "{name}: {err}");
        assert!(!sb.dest.join("h").exists(), "{name}");
        sb.assert_outside_untouched();
    }
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
}

#[test]
fn hard_link_to_a_file_of_the_layer_through_a_symlink_stays_inside() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.dir("etc", 0o755)
        .file("etc/passwd", b"layer's own", 0o644)
        .symlink("alias", "/etc")
        .hardlink("h", "/alias/passwd");
    sb.unpack(&t.finish()).unwrap();
    let a = fs::metadata(sb.dest.join("etc/passwd")).unwrap();
    let h = fs::metadata(sb.dest.join("h")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (h.ino(), 2));
    sb.assert_outside_untouched();
}

#[test]
fn device_nodes_and_global_headers_are_skipped_and_counted() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.raw(EntryType::XGlobalHeader, "", None, b"9 a=bcd\n", 0o644, 0, 0, 0)
        .dir("dev", 0o755)
        .device(EntryType::Char, "dev/null", 1, 3)
        .device(EntryType::Block, "dev/sda", 8, 0)
        .file("dev/ok", b"", 0o644);
    let out = sb.unpack(&t.finish()).unwrap();
    assert_eq!(out.stats.skipped_devices, 2);
    assert_eq!(out.stats.skipped_other, 1, "the PAX global header");
    assert_eq!(list_dir(&sb.dest.join("dev")), ["ok"]);
}

#[test]
fn whiteouts_and_opaque_dirs_are_converted() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.dir("d", 0o755)
        .file("d/.wh..wh..opq", b"", 0o644)
        .file(".wh.gone", b"", 0o644)
        .file("sub/.wh.nested", b"", 0o644)
        .file("kept", b"same layer", 0o644)
        .file(".wh.kept", b"", 0o644)
        .file(".wh..wh.plnk", b"", 0o644)
        .device(EntryType::Char, "prewhiteout", 0, 0);
    let out = sb.unpack(&t.finish()).unwrap();
    assert!(is_whiteout(&sb.dest.join("gone")));
    assert!(is_whiteout(&sb.dest.join("sub/nested")));
    assert!(is_whiteout(&sb.dest.join("prewhiteout")));
    assert_eq!(fs::read(sb.dest.join("kept")).unwrap(), b"same layer");
    assert_eq!(opaque(&sb.dest.join("d")), Some(b"y".to_vec()));
    assert_eq!(list_dir(&sb.dest), ["d", "gone", "kept", "prewhiteout", "sub"]);
    assert_eq!((out.stats.whiteouts, out.stats.opaque_dirs, out.stats.skipped_other), (3, 1, 1));

    for bad in [".wh..", "x/.wh..."] {
        let sb = Sandbox::new();
        let mut t = TarBuilder::new();
        t.file(bad, b"", 0o644);
        assert!(matches!(sb.unpack(&t.finish()), Err(ImageError::UnsafeEntry { .. })), "{bad}");
    }
}

fn opaque(dir: &Path) -> Option<Vec<u8>> {
    xattr(dir, "trusted.overlay.opaque")
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn whiteouts_hide_lower_files_on_a_real_overlay_mount() {
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper_layer) = (dir.path().join("l1"), dir.path().join("l2"));
    fs::create_dir(&lower).unwrap();
    fs::create_dir(&upper_layer).unwrap();
    let mut t = TarBuilder::new();
    t.file("a", b"lower a", 0o644)
        .file("b", b"lower b", 0o644)
        .dir("d", 0o755)
        .file("d/x", b"x", 0o644)
        .file("d/y", b"y", 0o644);
    unpack_layer(&t.finish()[..], &lower, &UnpackLimits::default()).unwrap();
    let mut t = TarBuilder::new();
    t.file(".wh.a", b"", 0o644).dir("d", 0o755).file("d/.wh..wh..opq", b"", 0o644).file("d/z", b"z", 0o644);
    unpack_layer(&gzip(&t.finish())[..], &upper_layer, &UnpackLimits::default()).unwrap();

    let (upper, work, merged) = (dir.path().join("u"), dir.path().join("w"), dir.path().join("m"));
    fs::create_dir(&upper).unwrap();
    fs::create_dir(&work).unwrap();
    let mount = peapod_image::Mount {
        fstype: "overlay".into(),
        source: "overlay".into(),
        options: vec![
            format!("lowerdir={}:{}", upper_layer.display(), lower.display()),
            format!("upperdir={}", upper.display()),
            format!("workdir={}", work.display()),
        ],
    };
    let m = OverlayMount::mount(&mount, &merged);
    assert_eq!(list_dir(m.path()), ["b", "d"], "whiteout hides a");
    assert_eq!(list_dir(&m.path().join("d")), ["z"], "opaque d hides x and y");
    assert_eq!(fs::read(m.path().join("b")).unwrap(), b"lower b");
}

#[test]
fn xattrs_are_applied_except_overlay_ones() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.pax(&[("SCHILY.xattr.user.note", b"hello"), ("SCHILY.xattr.trusted.overlay.opaque", b"y")])
        .dir("smuggled", 0o755)
        .pax(&[("SCHILY.xattr.user.k", b"v"), ("mtime", b"1600000000.25")])
        .file("f", b"data", 0o644);
    let out = sb.unpack(&t.finish()).unwrap();
    assert_eq!(xattr(&sb.dest.join("smuggled"), "user.note"), Some(b"hello".to_vec()));
    assert_eq!(opaque(&sb.dest.join("smuggled")), None, "archive cannot set overlay xattrs");
    assert_eq!(xattr(&sb.dest.join("f"), "user.k"), Some(b"v".to_vec()));
    let f = fs::metadata(sb.dest.join("f")).unwrap();
    assert_eq!((f.mtime(), f.mtime_nsec()), (1_600_000_000, 250_000_000));
    assert_eq!(out.stats.xattr_failures, 0);
}

#[test]
fn later_entries_replace_earlier_ones_of_another_type() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.file("x", b"file", 0o644)
        .dir("x", 0o755)
        .file("x/y", b"child", 0o644)
        .dir("d", 0o755)
        .file("d/child", b"", 0o644)
        .file("d", b"now a file", 0o644)
        .file("orig", b"original", 0o644)
        .hardlink("alias", "orig")
        .file("alias", b"new alias", 0o644)
        .file("s", b"", 0o644)
        .symlink("s", "x/y")
        .dir("keep", 0o700)
        .file("keep/inner", b"", 0o644)
        .dir("keep", 0o755);
    sb.unpack(&t.finish()).unwrap();
    assert_eq!(fs::read(sb.dest.join("x/y")).unwrap(), b"child");
    assert_eq!(fs::read(sb.dest.join("d")).unwrap(), b"now a file");
    assert_eq!(fs::read(sb.dest.join("orig")).unwrap(), b"original", "no write through the old link");
    assert_eq!(fs::read(sb.dest.join("alias")).unwrap(), b"new alias");
    assert_eq!(fs::read_link(sb.dest.join("s")).unwrap().to_str(), Some("x/y"));
    let keep = fs::metadata(sb.dest.join("keep")).unwrap();
    assert_eq!(keep.mode() & 0o7777, 0o755, "directory over directory merges, later metadata wins");
    assert!(sb.dest.join("keep/inner").exists());
}

#[test]
fn diff_id_covers_the_whole_uncompressed_stream() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.file("a", b"a", 0o644);
    let mut tar = t.finish();
    tar.extend_from_slice(&[0u8; 8192]); // record padding after the trailer
    let out = sb.unpack(&gzip(&tar)).unwrap();
    assert_eq!(out.diff_id, Digest::of_bytes(&tar));
    assert_eq!(out.uncompressed_size, tar.len() as u64);
}

#[test]
fn caps_stop_bombs() {
    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    for i in 0..5 {
        t.file(&format!("f{i}"), b"", 0o644);
    }
    let limits = UnpackLimits { max_entries: 3, ..UnpackLimits::default() };
    let err = unpack_layer(&t.finish()[..], &sb.dest, &limits).unwrap_err();
    assert!(matches!(err, ImageError::LimitExceeded { what: "entries", limit: 3 }), "{err}");

    let sb = Sandbox::new();
    let mut t = TarBuilder::new();
    t.file("big", &vec![0u8; 1 << 20], 0o644);
    let limits = UnpackLimits { max_bytes: 64 << 10, ..UnpackLimits::default() };
    let err = unpack_layer(&gzip(&t.finish())[..], &sb.dest, &limits).unwrap_err();
    assert!(matches!(err, ImageError::LimitExceeded { what: "uncompressed bytes", .. }), "{err}");
}

#[test]
fn import_of_a_bomb_or_hostile_layer_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open_with(
        &dir.path().join("images"),
        StoreOptions {
            unpack_limits: UnpackLimits { max_bytes: 1 << 20, ..UnpackLimits::default() },
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let mut t = TarBuilder::new();
    t.file("zeros", &vec![0u8; 4 << 20], 0o644);
    let err = store.import_rootfs(&gzip(&t.finish())[..], "bomb", &[]).unwrap_err();
    assert!(matches!(err, ImageError::LimitExceeded { .. }), "{err}");

    let (_dir2, store2) = common::store();
    let mut t = TarBuilder::new();
    t.file("ok", b"fine", 0o644).file("../escape", b"pwned", 0o644);
    let err = store2.import_rootfs(&t.finish()[..], "evil", &[]).unwrap_err();
    assert!(matches!(err, ImageError::UnsafeEntry { .. }), "{err}");
    for s in [&store, &store2] {
        assert!(s.list().unwrap().is_empty());
        assert!(list_dir(&s.root().join("snapshots")).is_empty());
        assert!(list_dir(&s.root().join("blobs/sha256")).is_empty());
        assert!(list_dir(&s.root().join("tmp")).is_empty());
        assert!(!s.root().join("escape").exists());
        assert!(!s.root().join("tmp/escape").exists());
    }
}

#[test]
fn a_missing_tar_footer_is_accepted_only_inside_a_compressed_stream() {
    // umoci (Go's archive/tar without Close) writes layers that end right
    // after the last entry; gzip's own trailer proves such a stream whole.
    let mut t = TarBuilder::new();
    t.dir("d", 0o755).file("d/f", b"data", 0o644);
    let full = t.finish();
    let footerless = full[..full.len() - 1024].to_vec();
    assert!(footerless.iter().rev().take(512).any(|&b| b != 0), "ends on a header, not on zero blocks");
    let dir = tempfile::tempdir().unwrap();
    let gz_dest = dir.path().join("gz");
    fs::create_dir(&gz_dest).unwrap();
    let u = unpack_layer(&gzip(&footerless)[..], &gz_dest, &UnpackLimits::default()).unwrap();
    assert_eq!(u.diff_id, Digest::of_bytes(&footerless));
    assert_eq!(fs::read(gz_dest.join("d/f")).unwrap(), b"data");
    let plain_dest = dir.path().join("plain");
    fs::create_dir(&plain_dest).unwrap();
    let err = unpack_layer(&footerless[..], &plain_dest, &UnpackLimits::default()).unwrap_err();
    assert!(err.to_string().contains("invalid layer archive"), "{err}");
}
