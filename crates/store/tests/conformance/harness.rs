//! Backends and object builders shared by the cases.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use peapod_store::{ObjKey, Store, StoreError, StoreOptions, Watch, WatchEvent};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Where a store under test lives.
pub enum Backend {
    Memory,
    File { dir: TempDir },
}

impl Backend {
    pub fn memory() -> Backend {
        Backend::Memory
    }

    pub fn file() -> Backend {
        Backend::File { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// Path of the store file, for file backends.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Backend::Memory => None,
            Backend::File { dir } => Some(dir.path().join("state").join("store.db")),
        }
    }

    pub fn open(&self) -> Store {
        self.open_with(StoreOptions::default())
    }

    /// Opens a store; for the file backend, opening again reopens the same file.
    pub fn open_with(&self, opts: StoreOptions) -> Store {
        match self.path() {
            None => Store::open_in_memory(opts).expect("open in memory"),
            Some(path) => Store::open(&path, opts).expect("open file"),
        }
    }

    pub fn dir(&self) -> &Path {
        match self {
            Backend::Memory => panic!("memory backend has no directory"),
            Backend::File { dir } => dir.path(),
        }
    }
}

pub fn key(resource: &str, namespace: &str, name: &str) -> ObjKey {
    ObjKey::new(resource, namespace, name)
}

pub fn pod_key(namespace: &str, name: &str) -> ObjKey {
    key("pods", namespace, name)
}

/// A minimal pod body; `image` distinguishes versions.
pub fn pod(namespace: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}")},
        "spec": {"containers": [{"name": "c", "image": image}]},
    })
}

pub fn configmap(namespace: &str, name: &str, value: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": value},
    })
}

/// `metadata.resourceVersion` parsed as a number.
pub fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion is a string")
        .parse()
        .expect("resourceVersion is decimal")
}

pub fn image_of(obj: &Value) -> &str {
    obj["spec"]["containers"][0]["image"].as_str().unwrap()
}

pub fn name_of(obj: &Arc<Value>) -> String {
    obj["metadata"]["name"].as_str().unwrap().to_owned()
}

/// Next event, failing the test if none arrives within a second.
pub async fn next_event(w: &mut Watch) -> WatchEvent {
    match tokio::time::timeout(Duration::from_secs(1), w.next()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("watch error: {e:?}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no event within 1s"),
    }
}

/// Next item (event, error or end), failing the test if none within a second.
pub async fn next_item(w: &mut Watch) -> Option<Result<WatchEvent, StoreError>> {
    tokio::time::timeout(Duration::from_secs(1), w.next()).await.expect("watch produced nothing within 1s")
}

/// Asserts that no event is ready now. Polls once: every event a write emits is
/// in the channel before the write returns, so "not ready" means "none".
pub fn assert_no_event(w: &mut Watch) {
    let mut fut = std::pin::pin!(w.next());
    let mut cx = Context::from_waker(Waker::noop());
    if let Poll::Ready(item) = fut.as_mut().poll(&mut cx) {
        panic!("unexpected watch item: {item:?}");
    }
}

/// (type, name, rv) of an event, for compact assertions.
pub fn summary(ev: &WatchEvent) -> (&'static str, String, u64) {
    (ev.kind.as_str(), ev.name.clone(), ev.rv)
}
