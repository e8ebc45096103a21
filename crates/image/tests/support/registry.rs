//! Registry fixtures shared by the image crate's tests and the end-to-end
//! tests (included there with `#[path]`): Debian's `docker-registry` on a
//! free loopback port (plain, or with htpasswd basic auth), an OCI image
//! layout builder for test images (hostile layers included), and a push
//! helper that copies a layout into the registry with `skopeo`.
//!
//! Self-contained on purpose (std, tar, flate2, zstd, sha2, hex,
//! serde_json): both test crates compile it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `docker-registry serve`, stopped (SIGKILL to our own child)
/// when dropped.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Registry {
    /// A registry without authentication.
    pub fn start() -> Registry {
        Self::spawn(None)
    }

    /// A registry requiring HTTP basic auth for `user:password`.
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Self::spawn(Some((user, password)))
    }

    fn spawn(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new().prefix("peapod-registry-").tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\n\
             storage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\n\
             http: {{addr: {addr}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let out =
                Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: peapod-test\n    path: {}\n", file.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry (apt install docker-registry)");
        let mut r = Registry { addr, dir, child };
        r.wait_ready();
        r
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = write!(s, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                    return;
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("docker-registry exited with {st}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry did not come up: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Digest of the manifest the registry serves for `repo:tag` (skopeo
    /// may rewrite a manifest while pushing it).
    pub fn manifest_digest(&self, repo_tag: &str) -> String {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{repo_tag}", self.addr))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo inspect: {}", String::from_utf8_lossy(&out.stderr));
        sha256(&out.stdout)
    }

    /// Where the registry keeps a blob's bytes (to corrupt it in tests).
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A layer blob with its media type and uncompressed digest.
#[derive(Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

impl Layer {
    pub fn gzip(tar: &[u8]) -> Layer {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(tar).unwrap();
        Layer {
            blob: e.finish().unwrap(),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
            diff_id: sha256(tar),
        }
    }

    pub fn zstd(tar: &[u8]) -> Layer {
        let blob = zstd::encode_all(tar, 3).unwrap();
        Layer { blob, media_type: "application/vnd.oci.image.layer.v1.tar+zstd", diff_id: sha256(tar) }
    }

    pub fn plain(tar: &[u8]) -> Layer {
        Layer { blob: tar.to_vec(), media_type: "application/vnd.oci.image.layer.v1.tar", diff_id: sha256(tar) }
    }

    pub fn digest(&self) -> String {
        sha256(&self.blob)
    }
}

/// A tar built entry by entry; paths and link targets are copied into the
/// header byte for byte, so hostile entries (`../x`) can be made.
#[derive(Default)]
pub struct Tar {
    b: Option<tar::Builder<Vec<u8>>>,
}

impl Tar {
    pub fn new() -> Tar {
        Tar { b: Some(tar::Builder::new(Vec::new())) }
    }

    fn raw(&mut self, kind: tar::EntryType, path: &str, link: Option<&str>, data: &[u8], mode: u32) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(link) = link {
                old.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        self.b.as_mut().unwrap().append(&h, data).unwrap();
        self
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.raw(tar::EntryType::Directory, path, None, b"", 0o755)
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.raw(tar::EntryType::Regular, path, None, data, 0o644)
    }

    pub fn exec(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.raw(tar::EntryType::Regular, path, None, data, 0o755)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(tar::EntryType::Symlink, path, Some(target), b"", 0o777)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        self.b.take().unwrap().into_inner().unwrap()
    }
}

/// An OCI image layout directory being filled with test images.
pub struct Layout {
    pub dir: PathBuf,
    index: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let l = Layout { dir: dir.to_path_buf(), index: Vec::new() };
        l.write_index();
        l
    }

    /// Store a blob; returns (digest, size).
    pub fn blob(&self, bytes: &[u8]) -> (String, u64) {
        let d = sha256(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        (d, bytes.len() as u64)
    }

    /// Store an image (config + manifest); returns the manifest descriptor.
    /// `config` is merged into the image config's `config` object.
    pub fn image(&self, layers: &[Layer], arch: &str, config: Value) -> Value {
        let cfg = json!({
            "created": "2026-01-01T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "history": layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
        });
        let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
        let (cd, cs) = self.blob(&cfg_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": layers.iter().map(|l| {
                let (d, s) = self.blob(&l.blob);
                json!({"mediaType": l.media_type, "digest": d, "size": s})
            }).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let (md, ms) = self.blob(&bytes);
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
               "platform": {"os": "linux", "architecture": arch}})
    }

    /// Store an OCI index over per-platform manifest descriptors.
    pub fn index(&self, manifests: &[Value]) -> Value {
        let idx =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let bytes = serde_json::to_vec(&idx).unwrap();
        let (d, s) = self.blob(&bytes);
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s})
    }

    /// Name a manifest or index `tag` in index.json.
    pub fn tag(&mut self, descriptor: &Value, tag: &str) {
        let mut d = descriptor.clone();
        d.as_object_mut().unwrap().remove("platform");
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.index.push(d);
        self.write_index();
    }

    fn write_index(&self) {
        let idx = json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    }

    /// `skopeo copy oci:<layout>:<tag> docker://<dest>` (plain HTTP);
    /// `extra` adds flags (`--all`, `--format v2s2`, `--dest-creds u:p`).
    pub fn push(&self, tag: &str, dest: &str, extra: &[&str]) {
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .args(extra)
            .arg(format!("oci:{}:{tag}", self.dir.display()))
            .arg(format!("docker://{dest}"))
            .output()
            .expect("running skopeo (apt install skopeo)");
        assert!(out.status.success(), "skopeo copy {tag} -> {dest}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The busybox rootfs tarball (scripts/make-busybox-rootfs.sh), built
/// once into `dir`.
pub fn busybox_rootfs(dir: &Path) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-rootfs.sh");
    let out = dir.join("busybox-rootfs.tar");
    let st = Command::new("bash").arg(script).arg(&out).stderr(Stdio::null()).status().unwrap();
    assert!(st.success(), "make-busybox-rootfs.sh failed");
    std::fs::read(out).unwrap()
}
