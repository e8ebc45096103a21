//! Import, lookup and re-import against a real store on disk.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{MTIME, TarBuilder, gzip, list_dir, snapshot_dir, store, zstd};
use peapod_image::oci::{ConfigFile, Index, Manifest};
use peapod_image::{DEFAULT_PATH_ENV, ImageError};
use tar::EntryType;

fn small_rootfs() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("./", 0o755)
        .dir("bin/", 0o755)
        .file("bin/tool", b"#!/bin/sh\necho hi\n", 0o4755)
        .raw(EntryType::Directory, "home/user/", None, b"", 0o750, 1000, 1001, MTIME - 50)
        .raw(EntryType::Regular, "home/user/notes", None, b"notes", 0o600, 1000, 1001, MTIME - 100)
        .symlink("bin/sh", "tool")
        .symlink("etc-abs", "/etc")
        .hardlink("bin/tool2", "bin/tool")
        .dir("tmp", 0o1777)
        .raw(EntryType::Fifo, "tmp/fifo", None, b"", 0o640, 0, 0, MTIME);
    t.finish()
}

#[test]
fn import_unpacks_contents_modes_owners_and_mtimes() {
    let (_dir, store) = store();
    let info = store.import_rootfs(&small_rootfs()[..], "example/small:1", &[]).unwrap();
    assert_eq!(info.references, ["docker.io/example/small:1"]);
    assert_eq!(info.layers.len(), 1);
    assert!(info.id.starts_with("sha256:") && info.digest.starts_with("sha256:"));
    assert_eq!(info.config.env, [DEFAULT_PATH_ENV]);

    let fs_dir = snapshot_dir(&store, &info.layers[0]);
    assert_eq!(list_dir(&fs_dir), ["bin", "etc-abs", "home", "tmp"]);

    let tool = fs::symlink_metadata(fs_dir.join("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o4755, "setuid kept after chown");
    assert_eq!(tool.mtime(), MTIME as i64);
    assert_eq!(fs::read(fs_dir.join("bin/tool")).unwrap(), b"#!/bin/sh\necho hi\n");

    let tool2 = fs::symlink_metadata(fs_dir.join("bin/tool2")).unwrap();
    assert_eq!((tool2.ino(), tool2.nlink()), (tool.ino(), 2), "hard link shares the inode");

    assert_eq!(fs::read_link(fs_dir.join("bin/sh")).unwrap().to_str(), Some("tool"));
    assert_eq!(fs::read_link(fs_dir.join("etc-abs")).unwrap().to_str(), Some("/etc"));

    let home = fs::metadata(fs_dir.join("home/user")).unwrap();
    assert_eq!((home.uid(), home.gid(), home.mode() & 0o7777), (1000, 1001, 0o750));
    assert_eq!(home.mtime(), (MTIME - 50) as i64, "dir mtime set after its contents");
    let notes = fs::metadata(fs_dir.join("home/user/notes")).unwrap();
    assert_eq!((notes.uid(), notes.gid(), notes.mode() & 0o7777), (1000, 1001, 0o600));
    assert_eq!(notes.mtime(), (MTIME - 100) as i64);

    // Implicit parent `home/` was created with defaults.
    let home_parent = fs::metadata(fs_dir.join("home")).unwrap();
    assert_eq!(home_parent.mode() & 0o7777, 0o755);

    let tmp = fs::metadata(fs_dir.join("tmp")).unwrap();
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    use std::os::unix::fs::FileTypeExt;
    let fifo = fs::symlink_metadata(fs_dir.join("tmp/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o640);

    // The layer root took the `./` entry's mode and mtime.
    let root = fs::metadata(&fs_dir).unwrap();
    assert_eq!((root.mode() & 0o7777, root.mtime()), (0o755, MTIME as i64));

    // Nothing left in tmp/.
    assert!(list_dir(&store.root().join("tmp")).is_empty());
}

#[test]
fn import_writes_an_oci_layout() {
    let (_dir, store) = store();
    let tar = small_rootfs();
    let info = store.import_rootfs(&tar[..], "busybox", &["CMD [\"sh\"]".to_string()]).unwrap();
    let root = store.root();
    assert_eq!(fs::read_to_string(root.join("oci-layout")).unwrap(), r#"{"imageLayoutVersion":"1.0.0"}"#);
    let index: Index = serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index.manifests.len(), 1);
    assert_eq!(index.manifests[0].ref_name(), Some("docker.io/library/busybox:latest"));
    assert_eq!(index.manifests[0].digest.to_string(), info.digest);

    let blob = |d: &str| fs::read(root.join("blobs/sha256").join(&d[7..])).unwrap();
    let manifest: Manifest = serde_json::from_slice(&blob(&info.digest)).unwrap();
    assert_eq!(manifest.media_type.as_deref(), Some("application/vnd.oci.image.manifest.v1+json"));
    assert_eq!(manifest.config.media_type, "application/vnd.oci.image.config.v1+json");
    assert_eq!(manifest.config.digest.to_string(), info.id);
    assert_eq!(manifest.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(manifest.layers[0].size, tar.len() as u64);
    // An uncompressed layer: blob digest == diff_id, and the blob is the input.
    assert_eq!(manifest.layers[0].digest.to_string(), info.layers[0]);
    assert_eq!(blob(&info.layers[0]), tar);

    let config: ConfigFile = serde_json::from_slice(&blob(&info.id)).unwrap();
    assert_eq!((config.architecture.as_str(), config.os.as_str()), ("amd64", "linux"));
    assert_eq!(config.rootfs.kind, "layers");
    assert_eq!(config.config.unwrap().cmd, Some(vec!["sh".to_string()]));
    assert!(config.created.is_some() && config.history.len() == 1);
    assert_eq!(info.size, tar.len() as u64 + manifest.config.size);
}

#[test]
fn compressed_layers_keep_their_blob_and_get_the_tar_diff_id() {
    let tar = small_rootfs();
    let plain_diff_id = {
        let (_dir, store) = store();
        store.import_rootfs(&tar[..], "plain", &[]).unwrap().layers[0].clone()
    };
    for (name, blob, media_type) in [
        ("gz", gzip(&tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("zst", zstd(&tar), "application/vnd.oci.image.layer.v1.tar+zstd"),
    ] {
        let (_dir, store) = store();
        let info = store.import_rootfs(&blob[..], name, &[]).unwrap();
        assert_eq!(info.layers[0], plain_diff_id, "{name}: diff_id is over the tar");
        let manifest: Manifest =
            serde_json::from_slice(&fs::read(store.root().join("blobs/sha256").join(&info.digest[7..])).unwrap())
                .unwrap();
        let layer = &manifest.layers[0];
        assert_eq!(layer.media_type, media_type);
        assert_ne!(layer.digest.to_string(), plain_diff_id);
        let stored = fs::read(store.root().join("blobs/sha256").join(layer.digest.hex())).unwrap();
        assert_eq!(stored, blob, "{name}: blob stored as given");
        assert_eq!(list_dir(&snapshot_dir(&store, &info.layers[0])), ["bin", "etc-abs", "home", "tmp"]);
    }
}

#[test]
fn changes_land_in_the_config() {
    let (_dir, store) = store();
    let changes: Vec<String> = [
        "ENV=A=B",
        "ENV PATH /opt/bin",
        "ENTRYPOINT [\"/bin/tool\"]",
        "CMD echo hi",
        "WORKDIR /home/user",
        "USER 1000:1001",
        "LABEL org.example=yes",
        "EXPOSE 8080",
        "STOPSIGNAL SIGINT",
        "VOLUME /data",
    ]
    .map(String::from)
    .to_vec();
    let info = store.import_rootfs(&small_rootfs()[..], "cfg", &changes).unwrap();
    let c = &info.config;
    assert_eq!(c.env, ["PATH=/opt/bin", "A=B"]);
    assert_eq!(c.entrypoint, Some(vec!["/bin/tool".to_string()]));
    assert_eq!(c.cmd, Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()]));
    assert_eq!(c.working_dir.as_deref(), Some("/home/user"));
    assert_eq!(c.user.as_deref(), Some("1000:1001"));
    assert_eq!(c.labels["org.example"], "yes");
    assert_eq!(c.exposed_ports, ["8080/tcp"]);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(c.volumes, ["/data"]);
    // get() reads the same back from disk.
    assert_eq!(store.get("cfg").unwrap().unwrap().config, info.config);
}

#[test]
fn bad_input_is_rejected_before_reading() {
    let (_dir, store) = store();
    let tar = small_rootfs();
    assert!(matches!(store.import_rootfs(&tar[..], "Bad/Name", &[]), Err(ImageError::InvalidReference { .. })));
    let digest_ref = format!("busybox@sha256:{}", "a".repeat(64));
    assert!(matches!(store.import_rootfs(&tar[..], &digest_ref, &[]), Err(ImageError::DigestReference(_))));
    let err = store.import_rootfs(&tar[..], "ok", &["RUN rm -rf /".to_string()]).unwrap_err();
    assert!(err.to_string().contains("unknown instruction RUN"), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert!(list_dir(&store.root().join("blobs/sha256")).is_empty());
}

#[test]
fn reimport_moves_the_tag_and_collects_the_old_image() {
    let (_dir, store) = store();
    let first = store.import_rootfs(&small_rootfs()[..], "app", &[]).unwrap();
    let mut other = TarBuilder::new();
    other.file("hello", b"v2", 0o644);
    let second = store.import_rootfs(&other.finish()[..], "app", &[]).unwrap();
    assert_ne!(first.id, second.id);

    let images = store.list().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].id, second.id);
    assert_eq!(images[0].references, ["docker.io/library/app:latest"]);
    // The old image had no other reference: its blobs and snapshot are gone.
    assert!(store.get(&first.id).unwrap().is_none());
    assert!(!snapshot_dir(&store, &first.layers[0]).exists());
    let blobs = list_dir(&store.root().join("blobs/sha256"));
    assert_eq!(blobs.len(), 3, "layer, config, manifest of the new image: {blobs:?}");
    assert!(!blobs.contains(&first.id[7..].to_string()));
}

#[test]
fn reimport_keeps_an_image_referenced_elsewhere() {
    let (_dir, store) = store();
    let first = store.import_rootfs(&small_rootfs()[..], "app:1", &[]).unwrap();
    store.tag("app:1", "app:stable").unwrap();
    let moved = store.import_rootfs(&small_rootfs()[..], "app:1", &["ENV X=1".to_string()]).unwrap();
    assert_ne!(moved.id, first.id);
    let kept = store.get(&first.id).unwrap().expect("still tagged app:stable");
    assert_eq!(kept.references, ["docker.io/library/app:stable"]);
    assert_eq!(store.get("app:1").unwrap().unwrap().id, moved.id);
    // Both images use the same layer (same tar): one snapshot.
    assert_eq!(moved.layers, first.layers);
    assert!(snapshot_dir(&store, &first.layers[0]).join("bin/tool").exists());
}

#[test]
fn get_by_short_name_full_name_id_and_prefix() {
    let (_dir, store) = store();
    let info = store.import_rootfs(&small_rootfs()[..], "busybox", &[]).unwrap();
    let hex = &info.id[7..];
    for query in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "index.docker.io/library/busybox",
        info.id.as_str(),
        hex,
        &hex[..12],
        &hex[..4],
        &format!("sha256:{}", &hex[..6]),
        &format!("busybox@{}", info.digest),
    ] {
        let found = store.get(query).unwrap().unwrap_or_else(|| panic!("{query} not found"));
        assert_eq!(found.id, info.id, "{query}");
    }
    for missing in ["busybox:other", "alpine", &hex[..3], "ffffffffffff"] {
        assert!(store.get(missing).unwrap().is_none(), "{missing}");
    }
    assert!(matches!(store.get("Not Valid"), Err(ImageError::InvalidReference { .. })));
}

#[test]
fn list_is_newest_first_with_all_references() {
    let (_dir, store) = store();
    let a = store.import_rootfs(&small_rootfs()[..], "a", &[]).unwrap();
    let b = store.import_rootfs(&small_rootfs()[..], "localhost:5000/b:2", &[]).unwrap();
    let list = store.list().unwrap();
    assert_eq!(list.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [&b.id, &a.id]);
    assert_eq!(list[0].references, ["localhost:5000/b:2"]);
    // Reopening the store sees the same images.
    let reopened = peapod_image::ImageStore::open(store.root()).unwrap();
    assert_eq!(reopened.list().unwrap().len(), 2);
}

#[test]
fn corrupt_or_truncated_input_leaves_nothing_behind() {
    let tar = small_rootfs();
    let gz = gzip(&tar);
    let mut bad_checksum = tar.clone();
    bad_checksum[520] ^= 0xff; // inside the second header's name field
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"this is not a tar archive at all, just some text".repeat(20)),
        ("truncated mid-file", tar[..512 * 3 + 5].to_vec()),
        ("truncated mid-header", tar[..512 * 4 + 10].to_vec()),
        ("truncated at a header boundary", tar[..512 * 4].to_vec()),
        ("trailer removed", tar[..tar.len() - 1024].to_vec()),
        ("bad header checksum", bad_checksum),
        ("truncated gzip", gz[..gz.len() / 2].to_vec()),
        ("gzip with bad crc", {
            let mut g = gz.clone();
            let n = g.len();
            g[n - 6] ^= 0xff;
            g
        }),
    ];
    for (name, input) in cases {
        let (_dir, store) = store();
        let result = store.import_rootfs(&input[..], "broken", &[]);
        assert!(matches!(result, Err(ImageError::InvalidArchive { .. })), "{name}: {result:?}");
        assert!(store.list().unwrap().is_empty(), "{name}: no reference");
        assert!(list_dir(&store.root().join("snapshots")).is_empty(), "{name}: no snapshot");
        assert!(list_dir(&store.root().join("blobs/sha256")).is_empty(), "{name}: no blob");
        assert!(list_dir(&store.root().join("tmp")).is_empty(), "{name}: tmp cleaned");
    }
}

#[test]
fn concurrent_imports_of_one_layer_share_the_snapshot() {
    let (_dir, store) = store();
    let tar = small_rootfs();
    let infos: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (store, tar) = (store.clone(), &tar);
                s.spawn(move || store.import_rootfs(&tar[..], &format!("img{i}"), &[]).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(infos.windows(2).all(|w| w[0].layers == w[1].layers));
    assert_eq!(list_dir(&store.root().join("snapshots")).len(), 1);
    assert_eq!(store.list().unwrap().len(), 4);
    assert!(list_dir(&store.root().join("tmp")).is_empty());
}
