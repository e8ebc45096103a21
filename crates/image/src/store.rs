//! The image store handle: opening a root, looking images up, garbage
//! collection, and the lease mechanism that keeps in-flight content alive.
//!
//! Concurrency: one `Mutex<State>` guards `index.json` and the lease table.
//! Every index change and every garbage collection runs under it, so GC
//! decides from a consistent index. Long work (streaming a layer, unpacking)
//! runs outside it; content being written by such work is *leased* first
//! (under the same lock), and GC never deletes leased digests. Hence a layer
//! committed by an import that has not yet reached the index cannot be
//! collected by a concurrent `remove`.
//!
//! All methods block on disk I/O; async callers use `spawn_blocking`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use crate::content::ContentStore;
use crate::digest::{Digest, is_sha256_hex};
use crate::error::{ImageError, IoContext};
use crate::gc::{GcPolicy, UsageLog};
use crate::image::ImageInfo;
use crate::index;
use crate::oci::{ConfigFile, Descriptor, Index, Manifest, OCI_LAYOUT};
use crate::pull::Flights;
use crate::reference::Reference;
use crate::registry::RegistriesConfig;
use crate::registry::client::RegistryClient;
use crate::snapshot::Snapshotter;
use crate::unpack::UnpackLimits;

/// Shortest image id prefix accepted for lookups (like Docker's short ids).
pub const MIN_ID_PREFIX: usize = 4;

/// Partial downloads untouched for this long are deleted when the store
/// opens (a pull that was never retried).
const STALE_INGEST: Duration = Duration::from_secs(24 * 3600);

/// Tunables for [`ImageStore::open_with`].
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// Caps applied when unpacking layers.
    pub unpack_limits: UnpackLimits,
    /// Mirrors, insecure and blocked registries for pulls.
    pub registries: RegistriesConfig,
    /// When [`ImageStore::collect_images`] deletes unused images.
    pub gc: GcPolicy,
}

/// peapod's image store: an OCI image layout plus unpacked layer snapshots
/// under one root directory. Cheap to clone; all clones share state.
#[derive(Clone, Debug)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) content: ContentStore,
    pub(crate) snapshots: Snapshotter,
    /// Partial layer downloads, named by blob hex; kept across restarts so
    /// an interrupted pull resumes.
    pub(crate) ingest: PathBuf,
    pub(crate) registries: RegistriesConfig,
    pub(crate) gc: GcPolicy,
    /// Built on first pull (TLS roots are read then, not at open).
    client: OnceLock<RegistryClient>,
    pub(crate) flights: Flights,
    pub(crate) usage: UsageLog,
    state: Mutex<State>,
}

/// What the state lock guards besides `index.json` itself.
#[derive(Debug, Default)]
pub(crate) struct State {
    leases: HashMap<Digest, usize>,
}

/// Digests protected from garbage collection until dropped.
pub(crate) struct Lease<'a> {
    inner: &'a Inner,
    keys: Vec<Digest>,
}

impl Lease<'_> {
    /// Protect one more digest.
    pub(crate) fn add(&mut self, key: Digest) {
        *self.inner.state().leases.entry(key.clone()).or_default() += 1;
        self.keys.push(key);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut state = self.inner.state();
        for key in &self.keys {
            if let Some(n) = state.leases.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    state.leases.remove(key);
                }
            }
        }
    }
}

/// What a garbage collection deleted.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// Deleted image ids, then deleted layers' diff_ids.
    pub(crate) deleted: Vec<String>,
    /// Bytes the deleted blobs and snapshots used.
    pub(crate) freed: u64,
}

/// How a name matched an image.
pub(crate) enum Matched {
    /// By reference (normalized).
    Reference(Reference),
    /// By full id or id prefix.
    Id,
}

/// The manifests a name resolved to (several only for an id shared by
/// manifests that differ in layer compression).
pub(crate) struct Resolved {
    pub(crate) manifests: Vec<Digest>,
    pub(crate) matched: Matched,
}

/// A manifest with its config, read from the content store.
pub(crate) struct LoadedImage {
    pub(crate) manifest: Manifest,
    pub(crate) config: ConfigFile,
}

impl ImageStore {
    /// Open (creating if needed) the store at `root` with default options.
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        Self::open_with(root, StoreOptions::default())
    }

    /// Open (creating if needed) the store at `root`. Leftovers of
    /// interrupted writes in `tmp/` are deleted.
    pub fn open_with(root: &Path, options: StoreOptions) -> Result<Self, ImageError> {
        let blobs = root.join("blobs").join("sha256");
        let snapshots = root.join("snapshots");
        let tmp = root.join("tmp");
        let ingest = root.join("ingest");
        for dir in [&blobs, &snapshots, &tmp, &ingest] {
            fs::create_dir_all(dir).at("create directory", dir)?;
        }
        for entry in fs::read_dir(&tmp).at("read directory", &tmp)? {
            let path = entry.at("read directory", &tmp)?.path();
            let result =
                if path.is_dir() && !path.is_symlink() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            result.at("remove leftover", &path)?;
        }
        prune_stale_ingest(&ingest);
        let layout = root.join("oci-layout");
        if !layout.exists() {
            fs::write(&layout, OCI_LAYOUT).at("write", &layout)?;
        }
        let inner = Inner {
            root: root.to_path_buf(),
            content: ContentStore::new(blobs, tmp.clone()),
            snapshots: Snapshotter::new(snapshots, tmp.clone(), options.unpack_limits),
            tmp,
            ingest,
            registries: options.registries,
            gc: options.gc,
            client: OnceLock::new(),
            flights: Flights::default(),
            usage: UsageLog::open(&root.join("usage.json")),
            state: Mutex::new(State::default()),
        };
        // Fail now, not on first use, if the index is unreadable.
        inner.load_index()?;
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// All images, newest first. An image whose documents cannot be read is
    /// logged and left out rather than hiding every other image.
    pub fn list(&self) -> Result<Vec<ImageInfo>, ImageError> {
        let _state = self.inner.state();
        let index = self.inner.load_index()?;
        let mut images = Vec::new();
        for digest in index.manifest_digests() {
            match self.inner.info(&index, &digest) {
                Ok(info) => images.push(info),
                Err(e) => {
                    tracing::warn!(manifest = %digest, error = %e, "skipping unreadable image")
                }
            }
        }
        images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(images)
    }

    /// Look up by reference (normalized: `busybox` finds
    /// `docker.io/library/busybox:latest`; `name@sha256:...` finds the
    /// manifest with that digest in that repository), by full image id
    /// (`sha256:<hex>` or bare hex) or by a unique id prefix of at least
    /// four hex digits. Names are tried before id prefixes, like Docker.
    pub fn get(&self, name_or_id: &str) -> Result<Option<ImageInfo>, ImageError> {
        let _state = self.inner.state();
        let index = self.inner.load_index()?;
        match self.inner.resolve(&index, name_or_id)? {
            Some(resolved) => self.inner.info(&index, &resolved.manifests[0]).map(Some),
            None => Ok(None),
        }
    }

    /// Bytes used on disk by blobs and snapshots (apparent file sizes, each
    /// inode counted once, so hard links inside a layer are not doubled).
    pub fn disk_usage(&self) -> Result<u64, ImageError> {
        let mut seen = HashSet::new();
        let mut total = 0;
        for dir in ["blobs", "snapshots"] {
            total += du(&self.inner.root.join(dir), &mut seen)?;
        }
        Ok(total)
    }
}

/// Delete partial downloads nobody came back for.
fn prune_stale_ingest(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > STALE_INGEST);
        if old && let Err(e) = fs::remove_file(entry.path()) {
            tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove stale partial download");
        }
    }
}

pub(crate) fn du(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<u64, ImageError> {
    let mut total = 0;
    for entry in fs::read_dir(dir).at("read directory", dir)? {
        let entry = entry.at("read directory", dir)?;
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).at("stat", &path)?;
        if meta.is_dir() {
            total += du(&path, seen)?;
        } else if seen.insert((meta.dev(), meta.ino())) {
            total += meta.len();
        }
    }
    Ok(total)
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // The guarded data is only lease counters; a panic elsewhere cannot
        // leave them inconsistent, and index.json is replaced atomically.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The registry client, built on first use.
    pub(crate) fn registry_client(&self) -> Result<&RegistryClient, ImageError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let built = RegistryClient::new()?;
        Ok(self.client.get_or_init(|| built))
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub(crate) fn load_index(&self) -> Result<Index, ImageError> {
        index::load(&self.index_path())
    }

    pub(crate) fn save_index(&self, index: &Index) -> Result<(), ImageError> {
        index::save(&self.index_path(), &self.tmp, index)
    }

    /// Protect `keys` from garbage collection.
    pub(crate) fn lease(&self, keys: impl IntoIterator<Item = Digest>) -> Lease<'_> {
        let mut lease = Lease { inner: self, keys: Vec::new() };
        for key in keys {
            lease.add(key);
        }
        lease
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, what: &'static str, digest: &Digest) -> Result<T, ImageError> {
        let bytes = self.content.read(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Json { what, location: digest.to_string(), source })
    }

    /// Read a manifest and its config, checking they agree.
    pub(crate) fn load_image(&self, manifest_digest: &Digest) -> Result<LoadedImage, ImageError> {
        let manifest: Manifest = self.read_json("manifest", manifest_digest)?;
        let config: ConfigFile = self.read_json("image config", &manifest.config.digest)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::CorruptImage {
                image: manifest_digest.to_string(),
                reason: format!(
                    "manifest has {} layers but config lists {} diff_ids",
                    manifest.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        Ok(LoadedImage { manifest, config })
    }

    pub(crate) fn info(&self, index: &Index, manifest_digest: &Digest) -> Result<ImageInfo, ImageError> {
        let LoadedImage { manifest, config } = self.load_image(manifest_digest)?;
        Ok(ImageInfo {
            id: manifest.config.digest.to_string(),
            digest: manifest_digest.to_string(),
            references: index.refs_of(manifest_digest),
            size: manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>(),
            created: config.created,
            config: config.config.unwrap_or_default().into(),
            layers: config.rootfs.diff_ids.iter().map(Digest::to_string).collect(),
        })
    }

    /// Resolve a name or id against `index` (see [`ImageStore::get`]).
    pub(crate) fn resolve(&self, index: &Index, name_or_id: &str) -> Result<Option<Resolved>, ImageError> {
        if let Some(hex) = name_or_id.strip_prefix("sha256:") {
            return self.resolve_id(index, name_or_id, hex);
        }
        if is_sha256_hex(name_or_id) {
            return self.resolve_id(index, name_or_id, name_or_id);
        }
        let looks_like_id =
            name_or_id.len() >= MIN_ID_PREFIX && name_or_id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let reference = match Reference::parse(name_or_id) {
            Ok(r) => r,
            Err(_) if looks_like_id => return self.resolve_id(index, name_or_id, name_or_id),
            Err(e) => return Err(e),
        };
        if let Some(manifest) = self.find_reference(index, &reference) {
            return Ok(Some(Resolved { manifests: vec![manifest], matched: Matched::Reference(reference) }));
        }
        if looks_like_id {
            return self.resolve_id(index, name_or_id, name_or_id);
        }
        Ok(None)
    }

    /// An exact reference entry, or for `repo@digest` any entry of that
    /// repository pointing at that manifest.
    fn find_reference(&self, index: &Index, reference: &Reference) -> Option<Digest> {
        if let Some(d) = index.lookup(&reference.to_string()) {
            return Some(d.clone());
        }
        let wanted = Digest::parse(reference.digest.as_deref()?).ok()?;
        let name = reference.name();
        index
            .manifests
            .iter()
            .filter(|d| d.digest == wanted)
            .find(|d| d.ref_name().and_then(|r| Reference::parse(r).ok()).is_some_and(|r| r.name() == name))
            .map(|d| d.digest.clone())
    }

    fn resolve_id(&self, index: &Index, input: &str, hex: &str) -> Result<Option<Resolved>, ImageError> {
        let valid = hex.len() >= MIN_ID_PREFIX
            && hex.len() <= 64
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Ok(None);
        }
        let mut ids = HashSet::new();
        let mut manifests = Vec::new();
        for digest in index.manifest_digests() {
            let manifest: Manifest = match self.read_json("manifest", &digest) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(manifest = %digest, error = %e, "skipping unreadable image");
                    continue;
                }
            };
            if manifest.config.digest.hex().starts_with(hex) {
                ids.insert(manifest.config.digest.clone());
                manifests.push(digest);
            }
        }
        match ids.len() {
            0 => Ok(None),
            1 => Ok(Some(Resolved { manifests, matched: Matched::Id })),
            count => Err(ImageError::AmbiguousId { prefix: input.to_string(), count }),
        }
    }

    /// Point `reference` at `manifest` and save the index; if that moved
    /// the reference off an image nothing else references, collect that
    /// image. Called with the state lock held.
    pub(crate) fn point_reference(
        &self,
        state: &State,
        index: &mut Index,
        reference: &Reference,
        manifest: Descriptor,
    ) -> Result<(), ImageError> {
        let previous = index.set_ref(&reference.to_string(), manifest);
        self.save_index(index)?;
        if let Some(old) = previous.filter(|old| !index.contains(old)) {
            // The reference is already updated; failing to clean up the old
            // image must not turn that into an error.
            match self.collect_garbage(state, index, std::slice::from_ref(&old)) {
                Ok(collected) => {
                    tracing::info!(%reference, deleted = ?collected.deleted, "reference moved; old image deleted")
                }
                Err(e) => {
                    tracing::warn!(%reference, manifest = %old, error = %e, "cannot delete the image the reference moved off")
                }
            }
        }
        Ok(())
    }

    /// Delete what only the `orphans` (manifests no longer in `index`) used:
    /// their manifest and config blobs, and layer blobs and snapshots no
    /// remaining image needs and no lease protects. Called with the state
    /// lock held. Returns the deleted image ids followed by the deleted
    /// layers' diff_ids.
    pub(crate) fn collect_garbage(
        &self,
        state: &State,
        index: &Index,
        orphans: &[Digest],
    ) -> Result<Collected, ImageError> {
        let live = self.live_digests(state, index)?;
        let mut deleted_ids = Vec::new();
        let mut deleted_layers = Vec::new();
        let mut freed = 0;
        for orphan in orphans {
            if live.contains(orphan) {
                continue;
            }
            let image = match self.load_image(orphan) {
                Ok(image) => Some(image),
                Err(e) => {
                    tracing::warn!(manifest = %orphan, error = %e, "orphaned image unreadable; deleting its manifest only");
                    None
                }
            };
            // Manifest first: once it is gone nothing points at the rest, so
            // an interrupted collection leaves unreferenced blobs, never an
            // image with missing parts.
            freed += self.blob_size(orphan);
            self.content.delete(orphan)?;
            let Some(image) = image else { continue };
            let config = &image.manifest.config.digest;
            if !live.contains(config) {
                let size = self.blob_size(config);
                if self.content.delete(config)? {
                    freed += size;
                    deleted_ids.push(config.to_string());
                    self.usage.forget(&config.to_string());
                }
            }
            for layer in &image.manifest.layers {
                if !live.contains(&layer.digest) {
                    let size = self.blob_size(&layer.digest);
                    if self.content.delete(&layer.digest)? {
                        freed += size;
                    }
                }
            }
            for diff_id in &image.config.rootfs.diff_ids {
                if !live.contains(diff_id) && self.snapshots.exists(diff_id) {
                    let size = du(&self.snapshots.fs_path(diff_id), &mut HashSet::new()).unwrap_or(0);
                    if self.snapshots.remove(diff_id)? {
                        freed += size;
                        deleted_layers.push(diff_id.to_string());
                    }
                }
            }
        }
        deleted_ids.extend(deleted_layers);
        Ok(Collected { deleted: deleted_ids, freed })
    }

    /// Every digest (blobs and diff_ids) an indexed image uses or a lease
    /// protects. Called with the state lock held.
    pub(crate) fn live_digests(&self, state: &State, index: &Index) -> Result<HashSet<Digest>, ImageError> {
        let mut live: HashSet<Digest> = state.leases.keys().cloned().collect();
        for digest in index.manifest_digests() {
            live.insert(digest.clone());
            let image = self.load_image(&digest)?;
            live.insert(image.manifest.config.digest.clone());
            live.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
            live.extend(image.config.rootfs.diff_ids.iter().cloned());
        }
        Ok(live)
    }

    /// Delete blobs and snapshots that nothing uses: what failed or
    /// abandoned pulls and loads fetched. Returns the bytes freed.
    pub(crate) fn sweep_unreferenced(&self) -> Result<u64, ImageError> {
        let state = self.state();
        let index = self.load_index()?;
        let live = self.live_digests(&state, &index)?;
        let mut freed = 0;
        let blobs = self.root.join("blobs").join("sha256");
        for entry in fs::read_dir(&blobs).at("read directory", &blobs)? {
            let name = entry.at("read directory", &blobs)?.file_name();
            let Ok(digest) = Digest::from_hex(&name.to_string_lossy()) else { continue };
            if !live.contains(&digest) {
                let size = self.blob_size(&digest);
                if self.content.delete(&digest)? {
                    freed += size;
                }
            }
        }
        let snapshots = self.root.join("snapshots");
        for entry in fs::read_dir(&snapshots).at("read directory", &snapshots)? {
            let name = entry.at("read directory", &snapshots)?.file_name();
            let Ok(diff_id) = Digest::from_hex(&name.to_string_lossy()) else { continue };
            if !live.contains(&diff_id) {
                let size = du(&self.snapshots.fs_path(&diff_id), &mut HashSet::new()).unwrap_or(0);
                if self.snapshots.remove(&diff_id)? {
                    freed += size;
                }
            }
        }
        if freed > 0 {
            tracing::info!(freed, "deleted unreferenced blobs and snapshots");
        }
        Ok(freed)
    }

    fn blob_size(&self, digest: &Digest) -> u64 {
        fs::metadata(self.content.path(digest)).map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::oci::{History, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST, RootFs};

    /// Store a layerless image whose config carries `comment`, tagged `name`.
    fn add_image(store: &ImageStore, comment: &str, name: &str) -> Digest {
        let inner = &store.inner;
        let config = ConfigFile {
            architecture: "amd64".into(),
            os: "linux".into(),
            rootfs: RootFs { kind: "layers".into(), diff_ids: vec![] },
            history: vec![History { comment: Some(comment.into()), ..Default::default() }],
            ..Default::default()
        };
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = inner.content.write_bytes(&config_bytes).unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            config: Descriptor {
                media_type: MEDIA_TYPE_CONFIG.into(),
                digest: config_digest.clone(),
                size: config_bytes.len() as u64,
                annotations: Default::default(),
            },
            layers: vec![],
        };
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = inner.content.write_bytes(&manifest_bytes).unwrap();
        let state = inner.state();
        let mut index = inner.load_index().unwrap();
        let reference = Reference::parse(name).unwrap();
        let desc = Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.into(),
            digest,
            size: manifest_bytes.len() as u64,
            annotations: Default::default(),
        };
        inner.point_reference(&state, &mut index, &reference, desc).unwrap();
        config_digest
    }

    /// Two comments whose configs' digests share the first four hex digits
    /// (a birthday search: a few hundred hashes).
    fn colliding_comments() -> (String, String) {
        let mut seen: HashMap<String, String> = HashMap::new();
        for n in 0.. {
            let comment = format!("nonce {n}");
            let config = ConfigFile {
                architecture: "amd64".into(),
                os: "linux".into(),
                rootfs: RootFs { kind: "layers".into(), diff_ids: vec![] },
                history: vec![History { comment: Some(comment.clone()), ..Default::default() }],
                ..Default::default()
            };
            let hex = Digest::of_bytes(&serde_json::to_vec(&config).unwrap()).hex()[..4].to_string();
            if let Some(other) = seen.insert(hex, comment.clone()) {
                return (other, comment);
            }
        }
        unreachable!()
    }

    #[test]
    fn id_prefix_lookup_is_unique_or_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let (c1, c2) = colliding_comments();
        let id1 = add_image(&store, &c1, "one");
        let id2 = add_image(&store, &c2, "two");
        assert_eq!(id1.hex()[..4], id2.hex()[..4]);

        let shared = &id1.hex()[..4];
        match store.get(shared) {
            Err(ImageError::AmbiguousId { prefix, count }) => {
                assert_eq!((prefix.as_str(), count), (shared, 2));
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
        assert!(matches!(store.remove(shared), Err(ImageError::AmbiguousId { .. })));
        // A longer prefix (they differ within 64 digits) is unique again.
        let unique = id1
            .hex()
            .char_indices()
            .find(|&(i, c)| id2.hex().as_bytes()[i] != c as u8)
            .map(|(i, _)| &id1.hex()[..=i])
            .unwrap();
        let found = store.get(unique).unwrap().unwrap();
        assert_eq!(found.id, id1.to_string());
        assert_eq!(found.references, ["docker.io/library/one:latest"]);
    }

    #[test]
    fn layerless_image_round_trips_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let id = add_image(&store, "empty", "scratchy");
        let info = store.get("scratchy").unwrap().unwrap();
        assert!(info.layers.is_empty());
        let cdir = tempfile::tempdir().unwrap();
        let mounts = store.prepare_rootfs(&info, cdir.path()).unwrap();
        let lower = cdir.path().join("lower-empty");
        assert!(mounts[0].options[0].ends_with(&lower.display().to_string()));
        assert!(lower.is_dir());
        store.cleanup_rootfs(cdir.path()).unwrap();
        assert!(!lower.exists());
        assert_eq!(store.remove("scratchy").unwrap().deleted, [id.to_string()]);
    }

    #[test]
    fn open_clears_tmp_and_rejects_a_corrupt_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("tmp/snapshot-1/fs/x")).unwrap();
        fs::write(dir.path().join("tmp/blob-1"), b"partial").unwrap();
        drop(store);
        ImageStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        fs::write(dir.path().join("index.json"), b"{not json").unwrap();
        assert!(matches!(ImageStore::open(dir.path()), Err(ImageError::Json { what: "image index", .. })));
    }
}
