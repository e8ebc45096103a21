//! Pull progress: what a pull reports while it runs, and the hub that lets
//! every caller of a deduplicated pull watch it, late joiners included.
//!
//! Progress is advisory: a subscriber that falls behind skips events (the
//! channel is bounded), and the pull's result never travels this way. A
//! late subscriber first gets the latest event of each layer, so its view is
//! complete without replaying the whole history.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events kept for a slow subscriber before it starts skipping.
const CHANNEL_CAPACITY: usize = 256;

/// Where one layer of a pull is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LayerState {
    /// Queued behind other layers.
    Waiting,
    /// Blob and snapshot are already in the store.
    Exists,
    /// Bytes are arriving (and being unpacked as they arrive).
    Downloading,
    /// Unpacking a blob that is already stored, or finishing the unpack.
    Extracting,
    /// Stored and unpacked.
    Done,
}

/// One layer in a [`PullProgress::Resolved`] event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Compressed blob digest.
    pub digest: String,
    /// Blob size in bytes.
    pub size: u64,
}

/// A pull progress event (serialized with a `status` tag, one JSON object
/// per line on the API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum PullProgress {
    /// The manifest was found: what will be fetched.
    Resolved {
        /// Full normalized reference.
        reference: String,
        /// Digest of the platform manifest.
        digest: String,
        /// Layers, bottom first.
        layers: Vec<LayerRef>,
    },
    /// A layer changed state or made progress.
    Layer {
        /// Compressed blob digest.
        digest: String,
        /// Its state.
        state: LayerState,
        /// Bytes of the blob stored so far.
        current: u64,
        /// Blob size.
        total: u64,
    },
}

/// Fan-out of one pull's progress.
pub(crate) struct ProgressHub {
    latest: Mutex<Latest>,
    tx: broadcast::Sender<PullProgress>,
}

#[derive(Default)]
struct Latest {
    resolved: Option<PullProgress>,
    layers: BTreeMap<String, PullProgress>,
}

impl ProgressHub {
    pub(crate) fn new() -> Self {
        Self { latest: Mutex::new(Latest::default()), tx: broadcast::channel(CHANNEL_CAPACITY).0 }
    }

    /// Publish an event.
    pub(crate) fn send(&self, event: PullProgress) {
        // Send under the lock so a concurrent subscribe sees each event
        // either in its snapshot or on its channel, never both or neither.
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        match &event {
            PullProgress::Resolved { .. } => latest.resolved = Some(event.clone()),
            PullProgress::Layer { digest, .. } => {
                latest.layers.insert(digest.clone(), event.clone());
            }
        }
        let _ = self.tx.send(event);
    }

    /// Publish a layer event.
    pub(crate) fn layer(&self, digest: &str, state: LayerState, current: u64, total: u64) {
        self.send(PullProgress::Layer { digest: digest.to_string(), state, current, total });
    }

    /// The current picture plus a channel of what comes next.
    pub(crate) fn subscribe(&self) -> (VecDeque<PullProgress>, broadcast::Receiver<PullProgress>) {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = latest.resolved.iter().chain(latest.layers.values()).cloned().collect();
        (snapshot, self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_subscribers_get_the_latest_state_first() {
        let hub = ProgressHub::new();
        let (backlog, mut early) = hub.subscribe();
        assert!(backlog.is_empty());
        hub.send(PullProgress::Resolved {
            reference: "r".into(),
            digest: "d".into(),
            layers: vec![LayerRef { digest: "l1".into(), size: 10 }],
        });
        hub.layer("l1", LayerState::Downloading, 5, 10);
        hub.layer("l1", LayerState::Done, 10, 10);
        let (backlog, mut late) = hub.subscribe();
        assert_eq!(backlog.len(), 2);
        assert!(matches!(backlog[1], PullProgress::Layer { state: LayerState::Done, .. }));
        assert!(matches!(early.try_recv().unwrap(), PullProgress::Resolved { .. }));
        hub.layer("l2", LayerState::Exists, 0, 0);
        assert!(matches!(late.try_recv().unwrap(), PullProgress::Layer { state: LayerState::Exists, .. }));
    }

    #[test]
    fn json_shape() {
        let e = PullProgress::Layer { digest: "sha256:x".into(), state: LayerState::Downloading, current: 1, total: 2 };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"status": "layer", "digest": "sha256:x", "state": "downloading", "current": 1, "total": 2})
        );
        let back: PullProgress = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
