//! Pulling images from registries (the OCI distribution protocol).
//!
//! A pull resolves the reference to one manifest (choosing linux and our
//! architecture from an index), fetches and checks the config, then fetches
//! the layers in parallel ([`fetch`]): each layer is verified against its
//! descriptor's size and digest and unpacked as it streams. Layers already
//! in the store are not fetched again, and one blob is fetched once even
//! when several pulls need it at the same time. The manifest and config are
//! stored byte for byte as served, so digests and signatures stay valid.
//! Only when everything is in place does the reference move to the new
//! manifest (under the store's state lock, like an import).
//!
//! Endpoints come from the registries configuration (mirrors first); the
//! first endpoint and credentials that resolve the manifest serve the whole
//! pull. Concurrent pulls of one reference with the same credentials share
//! one flight: the second caller waits for the first's result and watches
//! its progress.
//!
//! Everything here is async and needs a Tokio runtime; the blocking parts
//! (file writes, unpacking) run on the blocking pool.

mod fetch;
mod progress;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::broadcast;

use self::fetch::{LayerOutcome, ensure_layer};
use self::progress::ProgressHub;
pub use self::progress::{LayerRef, LayerState, PullProgress};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::image::ImageInfo;
use crate::oci::{ConfigFile, Descriptor, MEDIA_TYPE_MANIFEST, Manifest};
use crate::reference::Reference;
use crate::registry::PullAuth;
use crate::registry::client::{FetchedManifest, MAX_MANIFEST_SIZE, Session};
use crate::registry::media::{IndexDocument, ManifestKind, Platform, check_config_media_type, classify};
use crate::store::{ImageStore, Inner};

/// Layers fetched at the same time within one pull.
const MAX_PARALLEL_LAYERS: usize = 4;

/// Index annotation on references that came from a registry (value: the
/// RFC 3339 time of the pull). Imported, loaded and tagged references do
/// not have it.
pub const ANNOTATION_PULLED: &str = "io.peapod.image.pulled";

/// The result of a pull.
#[derive(Clone, Debug, Serialize)]
pub struct PullReport {
    /// The image as stored.
    pub image: ImageInfo,
    /// Full normalized reference pulled.
    pub reference: String,
    /// `registry/repository@<digest the reference resolved to>` (the index
    /// digest for a multi-platform image, as kubelet reports image ids).
    pub repo_digest: String,
    /// Compressed bytes downloaded by this pull (0 when everything was
    /// present; less than the size when a layer download was resumed).
    pub downloaded_bytes: u64,
    /// Layers fetched, and layers already present.
    pub layers_fetched: usize,
    /// Layers that were already in the store.
    pub layers_present: usize,
    /// Wall time of the pull.
    #[serde(with = "millis")]
    pub elapsed: Duration,
}

mod millis {
    pub(super) fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

type PullResult = Result<PullReport, Arc<ImageError>>;

/// One pull in progress, shared by everyone who asked for it.
pub(crate) struct Flight {
    result: Shared<BoxFuture<'static, PullResult>>,
    hub: Weak<ProgressHub>,
}

/// The in-flight pulls and per-blob locks of a store.
#[derive(Default)]
pub(crate) struct Flights {
    pulls: Mutex<HashMap<String, Flight>>,
    blobs: Mutex<HashMap<Digest, Weak<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Flights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flights").finish_non_exhaustive()
    }
}

/// A pull that was started or joined: watch its progress, then wait for it.
pub struct PullHandle {
    backlog: VecDeque<PullProgress>,
    rx: Option<broadcast::Receiver<PullProgress>>,
    result: Shared<BoxFuture<'static, PullResult>>,
    /// Whether this handle joined a pull someone else started.
    pub joined: bool,
}

impl PullHandle {
    /// The next progress event; `None` once the pull has finished.
    pub async fn progress(&mut self) -> Option<PullProgress> {
        if let Some(p) = self.backlog.pop_front() {
            return Some(p);
        }
        let rx = self.rx.as_mut()?;
        loop {
            match rx.recv().await {
                Ok(p) => return Some(p),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => {
                    self.rx = None;
                    return None;
                }
            }
        }
    }

    /// Wait for the pull's result.
    pub async fn wait(self) -> Result<PullReport, ImageError> {
        self.result.await.map_err(|e| Arc::try_unwrap(e).unwrap_or_else(ImageError::Shared))
    }
}

impl ImageStore {
    /// Pull `reference` from its registry (or a mirror) with `auth`, and
    /// return what was stored. See [`ImageStore::start_pull`] to watch the
    /// progress.
    pub async fn pull(&self, reference: &str, auth: &PullAuth) -> Result<PullReport, ImageError> {
        self.start_pull(reference, auth)?.wait().await
    }

    /// Start pulling `reference`, or join the pull of the same reference
    /// with the same credentials that is already running. The pull runs on
    /// its own task (so this must be called within a Tokio runtime):
    /// dropping the handle does not cancel it. Fails at once only for an
    /// invalid reference.
    pub fn start_pull(&self, reference: &str, auth: &PullAuth) -> Result<PullHandle, ImageError> {
        let parsed = Reference::parse(reference)?;
        let key = flight_key(&parsed, auth);
        let mut pulls = self.inner.flights.pulls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = pulls.get(&key)
            && let Some(hub) = flight.hub.upgrade()
        {
            let (backlog, rx) = hub.subscribe();
            return Ok(PullHandle { backlog, rx: Some(rx), result: flight.result.clone(), joined: true });
        }
        let hub = Arc::new(ProgressHub::new());
        let (backlog, rx) = hub.subscribe();
        let task = {
            let (store, auth, hub, key) = (self.clone(), auth.clone(), hub.clone(), key.clone());
            let given = reference.to_string();
            tokio::spawn(async move {
                let result = pull_image(&store, &parsed, &auth, &hub).await.map_err(|source| {
                    tracing::warn!(reference = %given, error = %source.chain(), "pull failed");
                    Arc::new(ImageError::Pull { reference: given, source: Box::new(source) })
                });
                // Out of the table before the hub goes: a caller arriving now
                // starts a fresh pull instead of joining a finished one.
                store.inner.flights.pulls.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
                drop(hub);
                result
            })
        };
        let result = async move { task.await.unwrap_or_else(|e| Err(Arc::new(ImageError::TaskFailed(e.to_string())))) }
            .boxed()
            .shared();
        pulls.insert(key, Flight { result: result.clone(), hub: Arc::downgrade(&hub) });
        Ok(PullHandle { backlog, rx: Some(rx), result, joined: false })
    }
}

impl ImageStore {
    /// Whether the reference `name` was pulled from a registry (rather
    /// than imported, loaded or tagged locally). `false` if it is not in
    /// the store.
    pub fn pulled_from_registry(&self, name: &str) -> Result<bool, ImageError> {
        let reference = Reference::parse(name)?;
        let _state = self.inner.state();
        let index = self.inner.load_index()?;
        let full = reference.to_string();
        Ok(index
            .manifests
            .iter()
            .any(|d| d.ref_name() == Some(full.as_str()) && d.annotations.contains_key(ANNOTATION_PULLED)))
    }
}

/// The dedup key: the reference and a hash of the credentials that would
/// be tried (two pulls as different identities are different pulls).
fn flight_key(reference: &Reference, auth: &PullAuth) -> String {
    let mut h = Sha256::new();
    for c in auth.candidates(&reference.registry, &reference.repository).iter().flatten() {
        h.update(c.username.as_bytes());
        h.update([0]);
        h.update(c.password.as_bytes());
        h.update([0]);
    }
    format!("{reference}#{}", hex::encode(h.finalize()))
}

impl Inner {
    /// The lock serializing fetches of one blob.
    pub(crate) fn blob_lock(&self, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut blobs = self.flights.blobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = blobs.get(digest).and_then(Weak::upgrade) {
            return lock;
        }
        blobs.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        blobs.insert(digest.clone(), Arc::downgrade(&lock));
        lock
    }
}

/// A manifest resolved to one platform.
struct Resolved {
    /// What the reference itself pointed at (index or manifest).
    top_digest: Digest,
    manifest: FetchedManifest,
    media_type: String,
}

async fn pull_image(
    store: &ImageStore,
    reference: &Reference,
    auth: &PullAuth,
    hub: &ProgressHub,
) -> Result<PullReport, ImageError> {
    let started = Instant::now();
    let inner = &store.inner;
    let client = inner.registry_client()?;
    let mut last_error = None;
    for endpoint in inner.registries.endpoints(reference)? {
        let mut candidates = auth.candidates(&reference.registry, &reference.repository);
        if endpoint.mirror && auth.credentials.is_none() {
            // A mirror may have credentials of its own.
            let own: Vec<_> = auth.keyring.lookup(&endpoint.host, &endpoint.repository).into_iter().cloned().collect();
            if !own.is_empty() {
                candidates = own.into_iter().map(Some).collect();
            }
        }
        for credentials in candidates {
            let session = client.session(endpoint.clone(), credentials);
            match resolve(&session, reference).await {
                Ok(resolved) => return fetch_image(store, &session, reference, resolved, hub, started).await,
                Err(e) => {
                    tracing::info!(
                        endpoint = %session.endpoint.name(),
                        with_credentials = session.has_credentials(),
                        error = %e.chain(),
                        "cannot resolve the reference here"
                    );
                    last_error = Some(e);
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| ImageError::Blocked(reference.name())))
}

/// Fetch the manifest the reference names; for an index, the manifest for
/// our platform.
async fn resolve(session: &Session<'_>, reference: &Reference) -> Result<Resolved, ImageError> {
    let pinned = reference.digest.as_deref().map(Digest::parse).transpose()?;
    let target = reference.digest.clone().or_else(|| reference.tag.clone()).unwrap_or_default();
    let top = session.get_manifest(&target, pinned.as_ref()).await?;
    match classify(top.content_type.as_deref(), &top.bytes)? {
        ManifestKind::Image => {
            let media_type = media_type_of(&top);
            Ok(Resolved { top_digest: top.digest.clone(), manifest: top, media_type })
        }
        ManifestKind::Index => {
            let index = IndexDocument::parse(&top.bytes)?;
            let entry = index.choose(&Platform::host())?;
            if entry.size > MAX_MANIFEST_SIZE {
                return Err(ImageError::TooLarge { what: "manifest", limit: MAX_MANIFEST_SIZE });
            }
            let manifest = session.get_manifest(&entry.digest.to_string(), Some(&entry.digest)).await?;
            if manifest.bytes.len() as u64 != entry.size {
                return Err(ImageError::SizeMismatch {
                    digest: entry.digest.to_string(),
                    expected: entry.size,
                    actual: manifest.bytes.len() as u64,
                });
            }
            if classify(manifest.content_type.as_deref(), &manifest.bytes)? != ManifestKind::Image {
                return Err(ImageError::UnsupportedMediaType("nested image index".into()));
            }
            Ok(Resolved { top_digest: top.digest, manifest, media_type: entry.media_type.clone() })
        }
    }
}

/// The manifest's media type: its own field, else the Content-Type.
fn media_type_of(m: &FetchedManifest) -> String {
    #[derive(serde::Deserialize)]
    struct Mt {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Mt>(&m.bytes)
        .ok()
        .and_then(|x| x.media_type)
        .or_else(|| m.content_type.as_deref().map(|c| c.split(';').next().unwrap_or("").trim().to_string()))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_string())
}

async fn fetch_image(
    store: &ImageStore,
    session: &Session<'_>,
    reference: &Reference,
    resolved: Resolved,
    hub: &ProgressHub,
    started: Instant,
) -> Result<PullReport, ImageError> {
    let inner = &store.inner;
    let manifest_digest = resolved.manifest.digest.clone();
    let manifest: Manifest = serde_json::from_slice(&resolved.manifest.bytes).map_err(|source| ImageError::Json {
        what: "manifest",
        location: manifest_digest.to_string(),
        source,
    })?;
    check_config_media_type(&manifest.config.media_type)?;
    hub.send(PullProgress::Resolved {
        reference: reference.to_string(),
        digest: manifest_digest.to_string(),
        layers: manifest.layers.iter().map(|l| LayerRef { digest: l.digest.to_string(), size: l.size }).collect(),
    });

    let config_bytes = fetch_config(session, &manifest.config).await?;
    let config: ConfigFile = serde_json::from_slice(&config_bytes).map_err(|source| ImageError::Json {
        what: "image config",
        location: manifest.config.digest.to_string(),
        source,
    })?;
    if config.os != "linux" {
        return Err(ImageError::NoMatchingPlatform {
            wanted: Platform::host().to_string(),
            available: format!("{}/{}", config.os, config.architecture),
        });
    }
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::CorruptImage {
            image: manifest_digest.to_string(),
            reason: format!("{} layers but {} diff_ids in the config", manifest.layers.len(), diff_ids.len()),
        });
    }

    // Everything this image will reference is protected from a concurrent
    // garbage collection until the index names it.
    let _lease = inner.lease(
        [manifest_digest.clone(), manifest.config.digest.clone()]
            .into_iter()
            .chain(manifest.layers.iter().map(|l| l.digest.clone()))
            .chain(diff_ids.iter().cloned()),
    );
    for l in &manifest.layers {
        hub.layer(&l.digest.to_string(), LayerState::Waiting, 0, l.size);
    }
    // An image may list the same layer twice (empty layers are common).
    let mut seen = HashSet::new();
    let unique: Vec<(&Descriptor, &Digest)> =
        manifest.layers.iter().zip(diff_ids).filter(|(l, _)| seen.insert(l.digest.clone())).collect();
    // Boxed one by one: a stream of closures borrowing these locals trips
    // the compiler's higher-ranked Send check inside the spawned task.
    let fetches: Vec<BoxFuture<'_, Result<LayerOutcome, ImageError>>> = unique
        .into_iter()
        .map(|(layer, diff_id)| ensure_layer(&store.inner, session, layer, diff_id, hub).boxed())
        .collect();
    let outcomes: Vec<LayerOutcome> =
        futures_util::stream::iter(fetches).buffered(MAX_PARALLEL_LAYERS).try_collect().await?;

    let (config_digest, manifest_bytes) = (manifest.config.digest.clone(), resolved.manifest.bytes);
    let media_type = resolved.media_type;
    let (inner2, name) = (inner.clone(), reference.clone());
    let image = tokio::task::spawn_blocking(move || -> Result<ImageInfo, ImageError> {
        store_documents(&inner2, &config_bytes, &config_digest, &manifest_bytes, &manifest_digest)?;
        let descriptor = Descriptor {
            media_type,
            digest: manifest_digest.clone(),
            size: manifest_bytes.len() as u64,
            annotations: [(ANNOTATION_PULLED.to_string(), jiff::Timestamp::now().to_string())].into(),
        };
        let state = inner2.state();
        let mut index = inner2.load_index()?;
        inner2.point_reference(&state, &mut index, &name, descriptor)?;
        let info = inner2.info(&index, &manifest_digest)?;
        drop(state);
        inner2.touch(&info.id);
        Ok(info)
    })
    .await
    .map_err(|e| ImageError::TaskFailed(e.to_string()))??;

    let downloaded_bytes =
        outcomes.iter().map(|o| if let LayerOutcome::Downloaded(n) = o { *n } else { 0 }).sum::<u64>();
    let layers_fetched = outcomes.iter().filter(|o| matches!(o, LayerOutcome::Downloaded(_))).count();
    let report = PullReport {
        reference: reference.to_string(),
        repo_digest: format!("{}@{}", reference.name(), resolved.top_digest),
        downloaded_bytes,
        layers_fetched,
        layers_present: outcomes.len() - layers_fetched,
        elapsed: started.elapsed(),
        image,
    };
    tracing::info!(
        reference = %report.reference,
        id = %report.image.id,
        downloaded = report.downloaded_bytes,
        fetched = report.layers_fetched,
        present = report.layers_present,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "pulled image"
    );
    Ok(report)
}

/// Fetch the config blob into memory (it is small), checking size and
/// digest.
async fn fetch_config(session: &Session<'_>, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
    if desc.size > MAX_MANIFEST_SIZE {
        return Err(ImageError::TooLarge { what: "image config", limit: MAX_MANIFEST_SIZE });
    }
    let (mut resp, _) = session.get_blob(&desc.digest, 0).await?;
    let url = resp.url().to_string();
    let mut bytes = Vec::with_capacity(desc.size as usize);
    while let Some(chunk) = resp.chunk().await.map_err(|source| ImageError::Transport { url: url.clone(), source })? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > desc.size {
            break;
        }
    }
    if bytes.len() as u64 != desc.size {
        return Err(ImageError::SizeMismatch {
            digest: desc.digest.to_string(),
            expected: desc.size,
            actual: bytes.len() as u64,
        });
    }
    let actual = Digest::of_bytes(&bytes);
    if actual != desc.digest {
        return Err(ImageError::DigestMismatch { expected: desc.digest.to_string(), actual: actual.to_string() });
    }
    Ok(bytes)
}

/// Store the config and manifest blobs as fetched.
fn store_documents(
    inner: &Inner,
    config: &[u8],
    config_digest: &Digest,
    manifest: &[u8],
    manifest_digest: &Digest,
) -> Result<(), ImageError> {
    for (bytes, digest) in [(config, config_digest), (manifest, manifest_digest)] {
        if !inner.content.path(digest).is_file() {
            let stored = inner.content.write_bytes(bytes)?;
            debug_assert_eq!(&stored, digest);
        }
    }
    Ok(())
}
