//! Pulls from a real registry: Debian's docker-registry on a loopback port,
//! fed with test images by skopeo. Covers whiteouts through a real overlay
//! mount, manifest lists, Docker schema 2, zstd, shared layers, single
//! flights, corrupt and hostile blobs, credentials and mirrors.

mod common;
mod support;

use std::fs;
use std::path::Path;

use common::{OverlayMount, is_whiteout, list_dir};
use peapod_image::registry::{Credentials, Keyring, PullAuth, RegistriesConfig};
use peapod_image::{ImageError, ImageStore, StoreOptions};
use serde_json::json;
use support::registry::{Layer, Layout, Registry, Tar};

fn store(dir: &Path) -> ImageStore {
    ImageStore::open(&dir.join("images")).unwrap()
}

fn base_layer() -> Layer {
    let tar = Tar::new()
        .dir("a")
        .file("a/keep", b"keep")
        .file("a/gone", b"gone")
        .dir("b")
        .file("b/x", b"x")
        .dir("c")
        .file("c/old", b"old")
        .finish();
    Layer::gzip(&tar)
}

fn whiteout_layer() -> Layer {
    // zstd: also proves zstd layers come through the registry untouched.
    let tar =
        Tar::new().dir("a").file("a/.wh.gone", b"").dir("c").file("c/.wh..wh..opq", b"").file("c/new", b"new").finish();
    Layer::zstd(&tar)
}

/// Everything under a store that a failed pull must not leave behind.
fn assert_nothing_half_written(images: &Path) {
    for dir in ["tmp", "ingest", "snapshots"] {
        assert_eq!(list_dir(&images.join(dir)), Vec::<String>::new(), "{dir}/ is not empty");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_layer_image_with_whiteouts_pulls_and_mounts() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let top = Layer::plain(&Tar::new().dir("d").file("d/top", b"top").finish());
    let config = json!({
        "Env": ["PATH=/usr/bin:/bin", "GREETING=hi"], "Entrypoint": ["/bin/app"], "Cmd": ["--serve"],
        "WorkingDir": "/srv", "User": "1000:1000", "StopSignal": "SIGQUIT",
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}}, "Labels": null, "OnBuild": null
    });
    let m = layout.image(&[base_layer(), whiteout_layer(), top], "amd64", config);
    layout.tag(&m, "v1");
    layout.push("v1", &format!("{}/test/multi:v1", reg.addr), &[]);

    let store = store(work.path());
    let name = format!("{}/test/multi:v1", reg.addr);
    let report = store.pull(&name, &PullAuth::anonymous()).await.unwrap();
    assert_eq!(report.layers_fetched, 3);
    assert_eq!(report.image.references, std::slice::from_ref(&name));
    assert_eq!(report.image.digest, reg.manifest_digest("test/multi:v1"), "the manifest is stored as served");
    let _ = m;
    let manifest = fs::read_to_string(store.root().join("blobs/sha256").join(&report.image.digest[7..])).unwrap();
    assert!(manifest.contains("application/vnd.oci.image.layer.v1.tar+zstd"), "zstd layer kept: {manifest}");
    let c = &report.image.config;
    assert_eq!(c.env, ["PATH=/usr/bin:/bin", "GREETING=hi"]);
    assert_eq!(c.entrypoint.as_deref(), Some(&["/bin/app".to_string()][..]));
    assert_eq!(c.cmd.as_deref(), Some(&["--serve".to_string()][..]));
    assert_eq!((c.working_dir.as_deref(), c.user.as_deref()), (Some("/srv"), Some("1000:1000")));
    assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(c.exposed_ports, ["53/udp", "8080/tcp"]);
    assert_eq!(store.get(&name).unwrap().unwrap().id, report.image.id);
    assert!(store.pulled_from_registry(&name).unwrap());
    assert!(!store.pulled_from_registry("never/pulled:1").unwrap());

    // The whiteout layer's snapshot holds overlay whiteouts...
    let wh = store.root().join("snapshots").join(&report.image.layers[1][7..]).join("fs");
    assert!(is_whiteout(&wh.join("a/gone")));
    // ...and the merged view is what the image means.
    let ctr = work.path().join("ctr");
    fs::create_dir(&ctr).unwrap();
    let mounts = store.prepare_rootfs(&report.image, &ctr).unwrap();
    let merged = OverlayMount::mount(&mounts[0], &ctr.join("rootfs"));
    let root = merged.path();
    assert_eq!(list_dir(&root.join("a")), ["keep"]);
    assert_eq!(list_dir(&root.join("c")), ["new"]);
    assert_eq!(fs::read(root.join("b/x")).unwrap(), b"x");
    assert_eq!(fs::read(root.join("d/top")).unwrap(), b"top");
    drop(merged);

    // A second pull finds everything present and fetches nothing.
    let again = store.pull(&name, &PullAuth::anonymous()).await.unwrap();
    assert_eq!((again.layers_fetched, again.layers_present, again.downloaded_bytes), (0, 3, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_list_resolves_to_linux_amd64() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let arm = layout.image(&[Layer::gzip(&Tar::new().file("arch", b"arm64").finish())], "arm64", json!({}));
    let amd = layout.image(&[Layer::gzip(&Tar::new().file("arch", b"amd64").finish())], "amd64", json!({}));
    let mut arm_desc = arm.clone();
    arm_desc["platform"]["variant"] = json!("v8");
    let index = layout.index(&[arm_desc, amd.clone()]);
    layout.tag(&index, "multi");
    layout.push("multi", &format!("{}/test/list:multi", reg.addr), &["--all"]);

    let store = store(work.path());
    let name = format!("{}/test/list:multi", reg.addr);
    let report = store.pull(&name, &PullAuth::anonymous()).await.unwrap();
    assert_eq!(report.image.digest, amd["digest"].as_str().unwrap());
    // kubelet's image id: the repository digest of what the tag names.
    assert_eq!(report.repo_digest, format!("{}/test/list@{}", reg.addr, index["digest"].as_str().unwrap()));
    let snap = store.root().join("snapshots").join(&report.image.layers[0][7..]).join("fs");
    assert_eq!(fs::read(snap.join("arch")).unwrap(), b"amd64");
    // The arm64 layer was never fetched.
    assert_eq!(list_dir(&store.root().join("snapshots")).len(), 1);

    // Pulling by the index digest gives the same image, named by digest.
    let by_digest = format!("{}/test/list@{}", reg.addr, index["digest"].as_str().unwrap());
    let r2 = store.pull(&by_digest, &PullAuth::anonymous()).await.unwrap();
    assert_eq!(r2.image.id, report.image.id);
    assert_eq!(store.get(&by_digest).unwrap().unwrap().id, report.image.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_schema2_images_and_shared_layers_stored_once() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let base = base_layer();
    let one = layout.image(&[base.clone(), Layer::gzip(&Tar::new().file("one", b"1").finish())], "amd64", json!({}));
    let two = layout.image(&[base.clone(), Layer::gzip(&Tar::new().file("two", b"2").finish())], "amd64", json!({}));
    layout.tag(&one, "one");
    layout.tag(&two, "two");
    // Docker v2 schema 2 media types for one of them.
    layout.push("one", &format!("{}/test/app:one", reg.addr), &["--format", "v2s2"]);
    layout.push("two", &format!("{}/test/app:two", reg.addr), &[]);

    let store = store(work.path());
    let first = store.pull(&format!("{}/test/app:one", reg.addr), &PullAuth::anonymous()).await.unwrap();
    let manifest = fs::read_to_string(store.root().join("blobs/sha256").join(&first.image.digest[7..])).unwrap();
    assert!(manifest.contains("application/vnd.docker.distribution.manifest.v2+json"), "{manifest}");
    assert!(manifest.contains("application/vnd.docker.image.rootfs.diff.tar.gzip"), "{manifest}");

    let second = store.pull(&format!("{}/test/app:two", reg.addr), &PullAuth::anonymous()).await.unwrap();
    assert_eq!((second.layers_fetched, second.layers_present), (1, 1));
    assert_eq!(first.image.layers[0], second.image.layers[0]);
    // 3 distinct layers unpacked once each; blobs: 3 layers + 2 configs + 2 manifests.
    assert_eq!(list_dir(&store.root().join("snapshots")).len(), 3);
    assert_eq!(list_dir(&store.root().join("blobs/sha256")).len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pulls_of_one_image_share_a_flight() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let big: Vec<u8> = (0..4u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let m = layout.image(&[Layer::gzip(&Tar::new().file("big", &big).finish())], "amd64", json!({}));
    layout.tag(&m, "v1");
    layout.push("v1", &format!("{}/test/flight:v1", reg.addr), &[]);

    let store = store(work.path());
    let name = format!("{}/test/flight:v1", reg.addr);
    let a = store.start_pull(&name, &PullAuth::anonymous()).unwrap();
    let b = store.start_pull(&name, &PullAuth::anonymous()).unwrap();
    assert!(!a.joined && b.joined);
    let (ra, rb) = tokio::join!(a.wait(), b.wait());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.image.id, rb.image.id);
    assert_eq!(ra.layers_fetched, 1);
    // Once finished, the flight is gone: a new pull starts (and finds all present).
    let c = store.start_pull(&name, &PullAuth::anonymous()).unwrap();
    assert!(!c.joined, "a finished flight is not joined");
    assert_eq!(c.wait().await.unwrap().layers_fetched, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_blob_is_rejected_and_nothing_is_left() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let good = Layer::gzip(&Tar::new().file("ok", b"fine").finish());
    let bad = Layer::gzip(&Tar::new().file("data", &[7u8; 100_000]).finish());
    let m = layout.image(&[good, bad.clone()], "amd64", json!({}));
    layout.tag(&m, "v1");
    layout.push("v1", &format!("{}/test/corrupt:v1", reg.addr), &[]);
    // Same length, one byte changed: only the digest check can tell.
    let path = reg.blob_data_path(&bad.digest());
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&path, bytes).unwrap();

    let store = store(work.path());
    let err = store.pull(&format!("{}/test/corrupt:v1", reg.addr), &PullAuth::anonymous()).await.unwrap_err();
    let text = err.chain();
    assert!(text.contains("content verification failed") && text.contains(&bad.digest()), "{text}");
    assert!(store.list().unwrap().is_empty());
    let blobs = list_dir(&store.root().join("blobs/sha256"));
    assert!(!blobs.contains(&bad.digest()[7..].to_string()), "the corrupt blob was stored");
    // The good layer may be complete (it is verified); nothing else is.
    assert_eq!(list_dir(&store.root().join("ingest")), Vec::<String>::new());
    assert_eq!(list_dir(&store.root().join("tmp")), Vec::<String>::new());
    assert!(list_dir(&store.root().join("snapshots")).len() <= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn malicious_layers_write_nothing_outside() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    // Escapes by `..`: refused, the pull fails.
    let dotdot = Layer::gzip(&Tar::new().file("../../../../../../../../tmp/peapod-escape", b"pwned").finish());
    // Escapes by a symlink planted first, then written through.
    let target = outside.to_str().unwrap();
    let symlink = Layer::gzip(&Tar::new().symlink("evil", target).file("evil/pwned", b"pwned").finish());
    let m1 = layout.image(&[dotdot], "amd64", json!({}));
    let m2 = layout.image(&[symlink], "amd64", json!({}));
    layout.tag(&m1, "dotdot");
    layout.tag(&m2, "symlink");
    layout.push("dotdot", &format!("{}/test/evil:dotdot", reg.addr), &[]);
    layout.push("symlink", &format!("{}/test/evil:symlink", reg.addr), &[]);

    let store = store(work.path());
    let err = store.pull(&format!("{}/test/evil:dotdot", reg.addr), &PullAuth::anonymous()).await.unwrap_err();
    assert!(err.chain().contains("unsafe layer entry"), "{}", err.chain());
    assert!(!Path::new("/tmp/peapod-escape").exists());
    assert!(store.list().unwrap().is_empty());
    assert_nothing_half_written(store.root());

    // Through a symlink: `evil/pwned` resolves inside the layer, where
    // `evil` dangles, so it is refused too, and nothing lands outside.
    let err = store.pull(&format!("{}/test/evil:symlink", reg.addr), &PullAuth::anonymous()).await.unwrap_err();
    assert!(err.chain().contains("unsafe layer entry"), "{}", err.chain());
    assert_eq!(list_dir(&outside), Vec::<String>::new(), "a file was written outside the layer");
    assert!(store.list().unwrap().is_empty());
    assert_nothing_half_written(store.root());
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_basic_auth() {
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let m = layout.image(&[Layer::gzip(&Tar::new().file("f", b"private").finish())], "amd64", json!({}));
    layout.tag(&m, "v1");
    layout.push("v1", &format!("{}/private/app:v1", reg.addr), &["--dest-creds", "alice:s3cret"]);
    let name = format!("{}/private/app:v1", reg.addr);
    let store = store(work.path());

    let err = store.pull(&name, &PullAuth::anonymous()).await.unwrap_err().chain();
    assert!(err.contains("pull access denied") && err.contains("no credentials were given"), "{err}");
    let wrong =
        PullAuth { credentials: Some(Credentials::parse_user_pass("alice:nope").unwrap()), ..Default::default() };
    let err = store.pull(&name, &wrong).await.unwrap_err().chain();
    assert!(err.contains("rejected the credentials"), "{err}");
    assert!(store.list().unwrap().is_empty());

    // The right credentials from a Docker config, as imagePullSecrets carry them.
    let config = format!(r#"{{"auths":{{"{}":{{"username":"alice","password":"s3cret"}}}}}}"#, reg.addr);
    let auth = PullAuth { credentials: None, keyring: Keyring::from_docker_config(config.as_bytes()).unwrap() };
    let report = store.pull(&name, &auth).await.unwrap();
    assert_eq!(report.layers_fetched, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn mirrors_are_tried_first_and_failures_fall_through() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let m = layout.image(&[Layer::gzip(&Tar::new().file("m", b"mirrored").finish())], "amd64", json!({}));
    layout.tag(&m, "v1");
    layout.push("v1", &format!("{}/hub/library/app:v1", reg.addr), &[]);
    // `docker.io/library/app` comes from the mirror; a dead mirror before it
    // is skipped. Docker Hub itself is never reached.
    let config = RegistriesConfig::from_toml(&format!(
        "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n\
         [[registry.mirror]]\nlocation = \"127.0.0.1:1\"\n\
         [[registry.mirror]]\nlocation = \"{}/hub\"\n",
        reg.addr
    ))
    .unwrap();
    let store =
        ImageStore::open_with(&work.path().join("images"), StoreOptions { registries: config, ..Default::default() })
            .unwrap();
    let report = store.pull("app:v1", &PullAuth::anonymous()).await.unwrap();
    assert_eq!(report.image.references, ["docker.io/library/app:v1"]);
    assert_eq!(report.image.digest, m["digest"].as_str().unwrap());

    let err = store.pull("127.0.0.1:1/nothing:here", &PullAuth::anonymous()).await.unwrap_err();
    assert!(
        matches!(&err, ImageError::Pull { source, .. } if matches!(**source, ImageError::Transport { .. })),
        "{err:?}"
    );
}
