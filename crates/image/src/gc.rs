//! Image garbage collection (kubelet's image GC) and `image prune`.
//!
//! [`ImageStore::collect_images`] measures disk use; past the high
//! threshold it deletes unused images, least recently used first, until
//! the low threshold is reached. Thresholds are a percentage of the
//! filesystem holding the store (kubelet's `imageGCHighThresholdPercent`,
//! measured like kubelet: capacity minus available) or a byte count of the
//! store's own blobs and snapshots (handy for small or shared disks).
//! Images the caller says are in use are never deleted, nor images first
//! seen less than `min_age` ago (kubelet's `imageMinimumGCAge`: a pulled
//! image about to be used must not vanish before its container starts).
//!
//! "Used" is recorded in `usage.json` (image id → last use, first seen):
//! pulls, imports, loads and container starts touch it, and each
//! collection marks the in-use images. The file is a cache for ordering
//! only: losing it makes images look unused since "now", never deletes one
//! that is in use.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, IoContext};
use crate::store::{Collected, ImageStore, Inner};

/// A GC threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threshold {
    /// Percent of the filesystem's capacity in use (anything on it).
    Percent(u8),
    /// Bytes used by the store's blobs and snapshots.
    Bytes(u64),
}

impl FromStr for Threshold {
    type Err = String;

    /// `85%`, or a size: `10737418240`, `10Gi`, `500M`, `64Ki`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            return match p.trim().parse::<u8>() {
                Ok(n) if n <= 100 => Ok(Self::Percent(n)),
                _ => Err(format!("invalid percentage {s:?} (0% to 100%)")),
            };
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, suffix) = s.split_at(split);
        let n: u64 = digits.parse().map_err(|_| format!("invalid size {s:?}"))?;
        let unit: u64 = match suffix {
            "" => 1,
            "k" | "K" => 1000,
            "M" => 1000_u64.pow(2),
            "G" => 1000_u64.pow(3),
            "T" => 1000_u64.pow(4),
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            _ => return Err(format!("invalid size suffix in {s:?} (use Ki, Mi, Gi, Ti, k, M, G, T or %)")),
        };
        n.checked_mul(unit).map(Self::Bytes).ok_or_else(|| format!("size {s:?} is too large"))
    }
}

/// When and how far image GC goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcPolicy {
    /// Collect when use exceeds this.
    pub high: Threshold,
    /// Collect down to this.
    pub low: Threshold,
    /// Never delete an image first seen less than this long ago.
    pub min_age: Duration,
}

impl Default for GcPolicy {
    /// kubelet's defaults: 85 %, 80 %, two minutes.
    fn default() -> Self {
        Self { high: Threshold::Percent(85), low: Threshold::Percent(80), min_age: Duration::from_secs(120) }
    }
}

/// What [`ImageStore::collect_images`] or [`ImageStore::prune`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Whether use was over the high threshold.
    pub triggered: bool,
    /// Bytes that had to be freed to reach the low threshold.
    pub to_free: u64,
    /// Bytes freed (blobs and snapshots deleted).
    pub freed: u64,
    /// Ids of the deleted images, in deletion order.
    pub deleted: Vec<String>,
    /// References removed with them.
    pub untagged: Vec<String>,
}

/// `usage.json`: last use and first sighting per image id.
#[derive(Debug)]
pub(crate) struct UsageLog {
    path: PathBuf,
    entries: Mutex<HashMap<String, Usage>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    last_used: Timestamp,
    first_seen: Timestamp,
    /// The last use the file holds (in memory only).
    #[serde(skip)]
    saved: Option<Timestamp>,
}

/// How stale the file's last use of an image may get before a use rewrites it.
const SAVE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

impl UsageLog {
    /// Load the log; an unreadable one starts empty (it only orders GC).
    pub(crate) fn open(path: &Path) -> Self {
        let entries = fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Self { path: path.to_path_buf(), entries: Mutex::new(entries) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Usage>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a use of `ids` now. The file is rewritten only for a new id
    /// or a last use older than [`SAVE_AFTER`]: every container start
    /// touches its image, and a new file (temp + rename) per start showed
    /// in the churn benchmark's profile; GC orders by minutes, not seconds.
    pub(crate) fn touch<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let now = Timestamp::now();
        let mut entries = self.lock();
        let mut changed = false;
        for id in ids {
            let e = entries.entry(id.to_string()).or_insert_with(|| {
                changed = true;
                Usage { last_used: now, first_seen: now, saved: Some(now) }
            });
            e.last_used = now;
            if e.saved.is_none_or(|s| now.duration_since(s) >= SAVE_AFTER) {
                changed = true;
            }
        }
        if changed {
            for e in entries.values_mut() {
                e.saved = Some(e.last_used);
            }
            self.save(&entries);
        }
    }

    /// Drop a deleted image.
    pub(crate) fn forget(&self, id: &str) {
        let mut entries = self.lock();
        if entries.remove(id).is_some() {
            self.save(&entries);
        }
    }

    fn get(&self, id: &str) -> Option<Usage> {
        self.lock().get(id).cloned()
    }

    fn save(&self, entries: &HashMap<String, Usage>) {
        // Temp file and rename so a reader never sees half a file; no
        // fsync: losing a recent update only changes the GC order.
        let tmp = self.path.with_extension("json.tmp");
        let result = serde_json::to_vec(entries)
            .map_err(std::io::Error::other)
            .and_then(|bytes| fs::write(&tmp, bytes))
            .and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot save the image usage log");
        }
    }
}

impl Inner {
    /// Record that image `id` was just used (pulled, loaded, started).
    pub(crate) fn touch(&self, id: &str) {
        self.usage.touch([id]);
    }

    /// Bytes in use by the measure `t` is expressed in, and the capacity
    /// (for percentages).
    fn measure(&self, t: Threshold) -> Result<(u64, u64), ImageError> {
        match t {
            Threshold::Bytes(_) => {
                let mut seen = HashSet::new();
                let mut total = 0;
                for dir in ["blobs", "snapshots", "ingest"] {
                    total += crate::store::du(&self.root.join(dir), &mut seen)?;
                }
                Ok((total, 0))
            }
            Threshold::Percent(_) => {
                let st = rustix::fs::statvfs(&self.root).at("statvfs", &self.root)?;
                let capacity = st.f_blocks * st.f_frsize;
                let available = st.f_bavail * st.f_frsize;
                Ok((capacity.saturating_sub(available), capacity))
            }
        }
    }

    /// Whether use is over `t`, and how many bytes are above it.
    fn excess(&self, t: Threshold) -> Result<(bool, u64), ImageError> {
        let (used, capacity) = self.measure(t)?;
        let limit = match t {
            Threshold::Bytes(b) => b,
            Threshold::Percent(p) => capacity / 100 * u64::from(p),
        };
        Ok((used > limit, used.saturating_sub(limit)))
    }

    /// Untag every reference to `manifest` and collect what only it used.
    fn delete_manifest(&self, manifest: &Digest) -> Result<(Vec<String>, Collected), ImageError> {
        let state = self.state();
        let mut index = self.load_index()?;
        let untagged = index.refs_of(manifest);
        index.manifests.retain(|d| &d.digest != manifest);
        self.save_index(&index)?;
        let collected = self.collect_garbage(&state, &index, std::slice::from_ref(manifest))?;
        Ok((untagged, collected))
    }
}

impl ImageStore {
    /// Run image GC with the store's policy (see the module docs). `in_use`
    /// are the ids of images that containers use; they are never deleted.
    pub fn collect_images(&self, in_use: &[String]) -> Result<GcReport, ImageError> {
        let inner = &self.inner;
        let policy = inner.gc.clone();
        inner.usage.touch(in_use.iter().map(String::as_str));
        let (over, _) = inner.excess(policy.high)?;
        if !over {
            return Ok(GcReport::default());
        }
        let (_, to_free) = inner.excess(policy.low)?;
        let mut report = GcReport { triggered: true, to_free, ..Default::default() };
        // Content no image uses goes first: it costs nobody anything.
        report.freed += inner.sweep_unreferenced()?;
        let now = Timestamp::now();
        let min_age = jiff::SignedDuration::try_from(policy.min_age).unwrap_or(jiff::SignedDuration::MAX);
        let mut candidates: Vec<(Timestamp, String, Digest)> = Vec::new();
        for image in self.list()? {
            if in_use.contains(&image.id) {
                continue;
            }
            let usage = inner.usage.get(&image.id);
            // Never seen before: first seen now, so min_age protects it.
            let (last_used, first_seen) = usage.map_or((now, now), |u| (u.last_used, u.first_seen));
            if now.duration_since(first_seen) < min_age {
                continue;
            }
            candidates.push((last_used, image.id, Digest::parse(&image.digest)?));
        }
        candidates.sort();
        for (_, id, manifest) in candidates {
            if report.freed >= report.to_free {
                break;
            }
            let (untagged, collected) = inner.delete_manifest(&manifest)?;
            tracing::info!(%id, freed = collected.freed, "image GC deleted an unused image");
            report.freed += collected.freed;
            report.deleted.push(id);
            report.untagged.extend(untagged);
        }
        if report.freed < report.to_free {
            tracing::warn!(to_free = report.to_free, freed = report.freed, "image GC could not free enough space");
        }
        Ok(report)
    }

    /// `image prune`: delete images no container uses (`all`), or only
    /// those without any reference (dangling); and content no image uses. `in_use` as for
    /// [`ImageStore::collect_images`].
    pub fn prune(&self, all: bool, in_use: &[String]) -> Result<GcReport, ImageError> {
        let mut report = GcReport { freed: self.inner.sweep_unreferenced()?, ..Default::default() };
        for image in self.list()? {
            if in_use.contains(&image.id) || (!all && !image.references.is_empty()) {
                continue;
            }
            let (untagged, collected) = self.inner.delete_manifest(&Digest::parse(&image.digest)?)?;
            report.freed += collected.freed;
            report.deleted.push(image.id);
            report.untagged.extend(untagged);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_parsing() {
        let cases: &[(&str, Option<Threshold>)] = &[
            ("85%", Some(Threshold::Percent(85))),
            (" 0% ", Some(Threshold::Percent(0))),
            ("100%", Some(Threshold::Percent(100))),
            ("101%", None),
            ("x%", None),
            ("1048576", Some(Threshold::Bytes(1 << 20))),
            ("10Gi", Some(Threshold::Bytes(10 << 30))),
            ("500M", Some(Threshold::Bytes(500_000_000))),
            ("64Ki", Some(Threshold::Bytes(65536))),
            ("2k", Some(Threshold::Bytes(2000))),
            ("1.5G", None),
            ("10GB", None),
            ("", None),
            ("99999999999999Ti", None),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Threshold>().ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn usage_log_persists_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let log = UsageLog::open(&path);
        log.touch(["a", "b"]);
        let first = log.get("a").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        log.touch(["a"]);
        // A use seconds after the saved one is kept in memory only...
        assert!(log.get("a").unwrap().last_used > first.last_used);
        assert_eq!(UsageLog::open(&path).get("a").unwrap().last_used, first.last_used);
        // ...until a save: a new id, or the saved use is SAVE_AFTER old.
        log.touch(["c"]);
        let again = UsageLog::open(&path);
        let a = again.get("a").unwrap();
        assert!(a.last_used > first.last_used);
        assert_eq!(a.first_seen, first.first_seen);
        log.lock().get_mut("a").unwrap().saved = Some(first.last_used - SAVE_AFTER);
        std::thread::sleep(Duration::from_millis(5));
        log.touch(["a"]);
        assert_eq!(UsageLog::open(&path).get("a").unwrap().last_used, log.get("a").unwrap().last_used);
        again.forget("b");
        assert!(UsageLog::open(&path).get("b").is_none());
        fs::write(&path, b"garbage").unwrap();
        assert!(UsageLog::open(&path).get("a").is_none());
    }
}
