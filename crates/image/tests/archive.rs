//! `image load` / `image save` against skopeo, the reference implementation
//! of both archive formats: archives skopeo writes load, archives we write
//! skopeo reads, and a save/load round trip keeps image ids and digests.

mod common;
mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::list_dir;
use peapod_image::archive::ArchiveFormat;
use peapod_image::{ImageError, ImageStore};
use serde_json::json;
use support::registry::{Layer, Layout, Tar};

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().expect("running skopeo");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A two-layer image (gzip, then zstd or gzip) tagged `v1` in an OCI layout.
fn layout(dir: &Path, zstd: bool) -> Layout {
    let mut l = Layout::new(dir);
    let base = Layer::gzip(&Tar::new().dir("etc").file("etc/os-release", b"ID=test\n").finish());
    let top_tar = Tar::new().dir("app").exec("app/run", b"#!/bin/sh\necho hi\n").finish();
    // skopeo cannot write zstd layers into a docker-archive.
    let top = if zstd { Layer::zstd(&top_tar) } else { Layer::gzip(&top_tar) };
    let m = l.image(&[base, top], "amd64", json!({"Cmd": ["/app/run"], "Env": ["A=1"]}));
    l.tag(&m, "v1");
    l
}

fn store(dir: &Path, name: &str) -> ImageStore {
    ImageStore::open(&dir.join(name)).unwrap()
}

#[test]
fn docker_archives_from_skopeo_load_with_their_names() {
    let work = tempfile::tempdir().unwrap();
    let l = layout(&work.path().join("layout"), false);
    let tar = work.path().join("docker.tar");
    // skopeo writes the classic layout: <hex>.tar layers, <hex>.json config.
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:v1", l.dir.display()),
        &format!("docker-archive:{}:example.com/app:v1", tar.display()),
    ]);
    let s = store(work.path(), "images");
    let report = s.load(fs::File::open(&tar).unwrap()).unwrap();
    assert_eq!(report.loaded, ["example.com/app:v1"]);
    let info = s.get("example.com/app:v1").unwrap().unwrap();
    assert_eq!(info.config.cmd.as_deref(), Some(&["/app/run".to_string()][..]));
    assert_eq!(info.layers.len(), 2);
    let top = s.root().join("snapshots").join(&info.layers[1][7..]).join("fs/app/run");
    assert_eq!(fs::read(top).unwrap(), b"#!/bin/sh\necho hi\n");
    assert_eq!(list_dir(&s.root().join("tmp")), Vec::<String>::new(), "staged members are cleaned up");

    // Compressed as a whole (docker save | gzip): same result.
    let gz = work.path().join("docker.tar.gz");
    let st =
        Command::new("sh").arg("-c").arg(format!("gzip -c {} > {}", tar.display(), gz.display())).status().unwrap();
    assert!(st.success());
    let s2 = store(work.path(), "images2");
    assert_eq!(s2.load(fs::File::open(&gz).unwrap()).unwrap().images[0].id, info.id);
}

#[test]
fn oci_archives_load_named_or_unnamed() {
    let work = tempfile::tempdir().unwrap();
    let l = layout(&work.path().join("layout"), true);
    let bare = work.path().join("bare.tar");
    let named = work.path().join("named.tar");
    skopeo(&["copy", "--quiet", &format!("oci:{}:v1", l.dir.display()), &format!("oci-archive:{}:v1", bare.display())]);
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:v1", l.dir.display()),
        &format!("oci-archive:{}:example.com/app:v2", named.display()),
    ]);
    let s = store(work.path(), "images");
    // A bare tag names no repository: the image is loaded unnamed.
    let r = s.load(fs::File::open(&bare).unwrap()).unwrap();
    assert_eq!(r.loaded, [r.images[0].id.clone()]);
    assert!(r.images[0].references.is_empty());
    let r = s.load(fs::File::open(&named).unwrap()).unwrap();
    assert_eq!(r.loaded, ["example.com/app:v2"]);
    assert_eq!(s.list().unwrap().len(), 1, "one image, now named");
}

#[test]
fn saved_archives_round_trip_and_skopeo_reads_them() {
    let work = tempfile::tempdir().unwrap();
    let l = layout(&work.path().join("layout"), true);
    let src = work.path().join("src.tar");
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:v1", l.dir.display()),
        &format!("oci-archive:{}:example.com/app:v1", src.display()),
    ]);
    let a = store(work.path(), "a");
    let original = a.load(fs::File::open(&src).unwrap()).unwrap().images.remove(0);
    a.tag("example.com/app:v1", "other/name:latest").unwrap();

    for format in [ArchiveFormat::DockerArchive, ArchiveFormat::OciArchive] {
        let out = work.path().join(format!("{format:?}.tar"));
        a.save(&["example.com/app:v1".into(), "other/name".into()], format, fs::File::create(&out).unwrap()).unwrap();
        let b = store(work.path(), &format!("b-{format:?}"));
        let loaded = b.load(fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(loaded.loaded, ["example.com/app:v1", "docker.io/other/name:latest"], "{format:?}");
        let back = b.get("other/name").unwrap().unwrap();
        assert_eq!((back.id.as_str(), back.digest.as_str()), (original.id.as_str(), original.digest.as_str()));

        // skopeo reads ours: inspect, and a copy that verifies every blob.
        let (transport, name) = match format {
            ArchiveFormat::DockerArchive => ("docker-archive", "example.com/app:v1"),
            ArchiveFormat::OciArchive => ("oci-archive", "v1"),
        };
        let inspect = skopeo(&["inspect", &format!("{transport}:{}:{name}", out.display())]);
        assert!(inspect.contains("\"Architecture\": \"amd64\""), "{inspect}");
        let copy = work.path().join(format!("copy-{format:?}"));
        skopeo(&[
            "copy",
            "--quiet",
            &format!("{transport}:{}:{name}", out.display()),
            &format!("oci:{}:x", copy.display()),
        ]);
    }
    let docker = work.path().join("DockerArchive.tar");
    let listing = Command::new("tar").arg("tf").arg(&docker).output().unwrap().stdout;
    let listing = String::from_utf8(listing).unwrap();
    for member in ["manifest.json", "repositories", "index.json", "oci-layout"] {
        assert!(listing.lines().any(|l| l == member), "{member} missing:\n{listing}");
    }
    assert!(matches!(a.save(&["nope".into()], ArchiveFormat::DockerArchive, Vec::new()), Err(ImageError::NotFound(_))));
}

#[test]
fn broken_archives_are_refused_and_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let s = store(work.path(), "images");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", &b"hi"[..]).unwrap();
    let not_an_image = b.into_inner().unwrap();
    let err = s.load(&not_an_image[..]).unwrap_err();
    assert!(matches!(err, ImageError::InvalidImageArchive(_)), "{err}");

    // A blob whose name is not its digest.
    let l = layout(&work.path().join("layout"), true);
    let blobs = l.dir.join("blobs/sha256");
    let victim = list_dir(&blobs).into_iter().find(|n| fs::metadata(blobs.join(n)).unwrap().len() > 100).unwrap();
    let mut bytes = fs::read(blobs.join(&victim)).unwrap();
    bytes[50] ^= 1;
    fs::write(blobs.join(&victim), bytes).unwrap();
    let tarball = work.path().join("bad.tar");
    let st = Command::new("tar").arg("cf").arg(&tarball).arg("-C").arg(&l.dir).arg(".").status().unwrap();
    assert!(st.success());
    let err = s.load(fs::File::open(&tarball).unwrap()).unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(s.list().unwrap().is_empty());
    for d in ["tmp", "snapshots", "blobs/sha256"] {
        assert_eq!(list_dir(&s.root().join(d)), Vec::<String>::new(), "{d}");
    }
}
