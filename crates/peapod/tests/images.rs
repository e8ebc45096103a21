//! End to end: images from a real registry (Debian's docker-registry on a
//! loopback port, fed by skopeo) through pods and through `peapod image
//! pull`: a multi-layer image with whiteouts and a zstd layer, a manifest
//! list, shared layers stored once, a corrupt blob, a hostile layer, wrong
//! credentials (ErrImagePull, then ImagePullBackOff) and imagePullSecrets,
//! plus `image save` / `load` / `prune` through the CLI.

mod common;
#[path = "../../image/tests/support/registry.rs"]
mod registry;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, busybox_tar, container_id, container_pid};
use registry::{Layer, Layout, Registry, Tar};
use serde_json::{Value, json};

/// Events about a pod as (reason, message).
fn events(d: &Daemon, pod: &str) -> Vec<(String, String)> {
    let list: Value = serde_json::from_str(&d.ok(&["get", "events", "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == pod)
        .map(|e| (e["reason"].as_str().unwrap_or("").into(), e["message"].as_str().unwrap_or("").into()))
        .collect()
}

fn waiting_reason(p: &Value) -> String {
    p.pointer("/status/containerStatuses/0/state/waiting/reason").and_then(Value::as_str).unwrap_or("").to_string()
}

fn pod_yaml(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n{extra}  containers:\n  - name: main\n    image: {image}\n"
    )
}

fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.peapod(args);
    assert!(!out.status.success(), "peapod {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn pods_and_the_cli_pull_from_a_registry() {
    let reg = Registry::start();
    let d = Daemon::start("img-pull");
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let busybox = Layer::gzip(&std::fs::read(busybox_tar()).unwrap());
    // Removes /bin/vi, empties /home (opaque), adds /data/file; zstd.
    let changes = Layer::zstd(
        &Tar::new()
            .dir("bin")
            .file("bin/.wh.vi", b"")
            .dir("home")
            .file("home/.wh..wh..opq", b"")
            .dir("data")
            .file("data/file", b"hello")
            .finish(),
    );
    let config = json!({"Env": ["PATH=/bin", "GREETING=hi"], "Cmd": ["sleep", "3600"], "WorkingDir": "/data"});
    let app = layout.image(&[busybox.clone(), changes], "amd64", config.clone());
    layout.tag(&app, "app");
    let other = layout.image(
        &[busybox.clone(), Layer::gzip(&Tar::new().file("other", b"2").finish())],
        "amd64",
        config.clone(),
    );
    layout.tag(&other, "other");
    let arm = layout.image(&[Layer::gzip(&Tar::new().file("arm", b"arm").finish())], "arm64", json!({}));
    let amd = layout.image(&[busybox.clone(), Layer::gzip(&Tar::new().file("amd", b"amd").finish())], "amd64", config);
    let list = layout.index(&[arm, amd]);
    layout.tag(&list, "list");
    let bad = Layer::gzip(&Tar::new().file("junk", &[9u8; 50_000]).finish());
    let corrupt = layout.image(std::slice::from_ref(&bad), "amd64", json!({}));
    layout.tag(&corrupt, "corrupt");
    let evil = layout.image(
        &[Layer::gzip(&Tar::new().file("../../../../../../tmp/peapod-e2e-escape", b"x").finish())],
        "amd64",
        json!({}),
    );
    layout.tag(&evil, "evil");
    for tag in ["app", "other", "corrupt", "evil"] {
        layout.push(tag, &format!("{}/test/{tag}:v1", reg.addr), &[]);
    }
    layout.push("list", &format!("{}/test/list:v1", reg.addr), &["--all"]);
    let path = reg.blob_data_path(&bad.digest());
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    // Pods pull what they need: a multi-layer image, and a manifest list.
    let app_ref = format!("{}/test/app:v1", reg.addr);
    d.apply(&pod_yaml("app", &app_ref, ""));
    d.apply(&pod_yaml("multi", &format!("{}/test/list:v1", reg.addr), ""));
    let p = d.wait_running("app");
    d.wait_running("multi");
    let evs = events(&d, "app");
    assert!(evs.contains(&("Pulling".into(), format!("Pulling image \"{app_ref}\""))), "{evs:?}");
    let pulled = evs.iter().find(|(r, m)| r == "Pulled" && m.starts_with("Successfully pulled image")).expect("Pulled");
    assert!(pulled.1.contains("including waiting). Image size: ") && pulled.1.ends_with(" bytes."), "{pulled:?}");

    // Pull policies: Always asks the registry again even though the image
    // is present; Never does not pull what is absent.
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: always}}\nspec:\n  terminationGracePeriodSeconds: 1\n  \
         containers:\n  - {{name: main, image: '{app_ref}', imagePullPolicy: Always}}\n  \
         - {{name: never, image: '{}/test/absent:v1', imagePullPolicy: Never}}\n",
        reg.addr
    ));
    let p2 = d.wait_pod("always", "ErrImageNeverPull", Duration::from_secs(30), |p| {
        p.pointer("/status/containerStatuses").and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| {
                c["name"] == "never" && c.pointer("/state/waiting/reason") == Some(&json!("ErrImageNeverPull"))
            }) && cs.iter().any(|c| c["name"] == "main" && c.pointer("/state/running").is_some())
        })
    });
    assert!(p2.pointer("/status/containerStatuses").is_some());
    let evs = events(&d, "always");
    assert!(evs.iter().any(|(r, m)| r == "Pulling" && m.contains(&app_ref)), "Always pulls again: {evs:?}");
    assert!(
        evs.iter().any(|(r, m)| r == "ErrImageNeverPull" && m.contains("is not present with pull policy of Never")),
        "{evs:?}"
    );

    // The image config and the whiteouts are what the container sees.
    let pid = container_pid(&d, &container_id(&p["status"]["containerStatuses"][0]));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(String::from_utf8_lossy(&environ).split('\0').any(|v| v == "GREETING=hi"));
    assert!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap().ends_with("data"));
    let root = format!("/proc/{pid}/root");
    assert_eq!(std::fs::read(format!("{root}/data/file")).unwrap(), b"hello");
    assert!(!Path::new(&format!("{root}/bin/vi")).exists(), "the whiteout hides /bin/vi");
    assert!(Path::new(&format!("{root}/bin/sh")).exists());

    // The CLI: the shared busybox layer is already there.
    let out = d.ok(&["image", "pull", &format!("{}/test/other:v1", reg.addr)]);
    let base = &busybox.digest()[7..19];
    assert!(out.contains(&format!("{base}: Already exists")), "{out}");
    assert!(out.contains("Pull complete") && out.contains("Status: Downloaded newer image for"), "{out}");
    assert!(out.trim_end().ends_with(&format!("{}/test/other:v1", reg.addr)), "{out}");
    let images = d.data_dir().join("images");
    let snapshots = list_dir(&images.join("snapshots"));
    assert_eq!(snapshots.iter().filter(|s| **s == busybox.diff_id[7..]).count(), 1);
    // app (2 layers) + the list's amd64 image (1 more) + other (1 more) = 4 layers.
    assert_eq!(snapshots.len(), 4, "{snapshots:?}");

    // A corrupt blob and a hostile layer are refused; nothing half-written stays.
    let err = fails(&d, &["image", "pull", &format!("{}/test/corrupt:v1", reg.addr)]);
    assert!(err.contains("content verification failed"), "{err}");
    let err = fails(&d, &["image", "pull", &format!("{}/test/evil:v1", reg.addr)]);
    assert!(err.contains("unsafe layer entry"), "{err}");
    assert!(!Path::new("/tmp/peapod-e2e-escape").exists());
    assert_eq!(list_dir(&images.join("ingest")), Vec::<String>::new());
    assert_eq!(list_dir(&images.join("tmp")), Vec::<String>::new());
    assert_eq!(list_dir(&images.join("snapshots")).len(), 4);

    // save / rm / load round trip, then prune keeps what pods use.
    let tarball = work.path().join("other.tar");
    d.ok(&["image", "save", "-o", tarball.to_str().unwrap(), &format!("{}/test/other:v1", reg.addr)]);
    d.ok(&["image", "rm", &format!("{}/test/other:v1", reg.addr)]);
    let out = d.ok(&["image", "load", "-i", tarball.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image: {}/test/other:v1\n", reg.addr));
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&format!("untagged: {}/test/other:v1", reg.addr)), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let ls = d.ok(&["image", "ls"]);
    assert!(ls.contains("/test/app") && ls.contains("/test/list") && !ls.contains("/test/other"), "{ls}");
}

#[test]
fn wrong_credentials_back_off_and_pull_secrets_work() {
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    let d = Daemon::start("img-auth");
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let busybox = Layer::gzip(&std::fs::read(busybox_tar()).unwrap());
    let m = layout.image(&[busybox], "amd64", json!({"Env": ["PATH=/bin"], "Cmd": ["sleep", "3600"]}));
    layout.tag(&m, "v1");
    let image = format!("{}/private/app:v1", reg.addr);
    layout.push("v1", &image, &["--dest-creds", "alice:s3cret"]);

    // No credentials: ErrImagePull with the reason, then ImagePullBackOff.
    d.apply(&pod_yaml("nocreds", &image, ""));
    let p =
        d.wait_pod("nocreds", "ImagePullBackOff", Duration::from_secs(30), |p| waiting_reason(p) == "ImagePullBackOff");
    assert_eq!(
        p.pointer("/status/containerStatuses/0/state/waiting/message").and_then(Value::as_str),
        Some(format!("Back-off pulling image \"{image}\"").as_str())
    );
    let evs = events(&d, "nocreds");
    let failed =
        evs.iter().find(|(r, m)| r == "Failed" && m.starts_with("Failed to pull image")).expect("Failed event");
    assert!(failed.1.contains("pull access denied") && failed.1.contains("no credentials"), "{failed:?}");
    assert!(evs.iter().any(|(r, m)| r == "Failed" && m == "Error: ErrImagePull"), "{evs:?}");
    assert!(evs.iter().any(|(r, m)| r == "BackOff" && m.starts_with("Back-off pulling image")), "{evs:?}");

    // The CLI: wrong credentials are a clear error; right ones work.
    let err = fails(&d, &["image", "pull", "--creds", "alice:wrong", &image]);
    assert!(err.contains("pull access denied") && err.contains("rejected the credentials"), "{err}");

    // imagePullSecrets with the right credentials: the pod runs.
    let config = json!({"auths": {reg.addr.clone(): {"username": "alice", "password": "s3cret"}}}).to_string();
    d.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred}}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{config}'\n"
    ));
    d.apply(&pod_yaml("withcreds", &image, "  imagePullSecrets: [{name: regcred}]\n"));
    d.wait_running("withcreds");
    let evs = events(&d, "withcreds");
    assert!(evs.iter().any(|(r, m)| r == "Pulled" && m.starts_with("Successfully pulled")), "{evs:?}");

    let out = d.ok(&["image", "pull", "-q", "--creds", "alice:s3cret", &image]);
    assert!(out.trim().starts_with("sha256:"), "{out}");
}
