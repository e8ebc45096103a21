//! Performance smoke test: prints timings for the targets in the design
//! (1000 creates well under 1 s, a list of 1000 pods in about a millisecond).
//! Run with `--nocapture` to see them. Asserts results, never durations, so a
//! busy machine cannot make it flaky.

use std::time::Instant;

use peapod_store::{ObjKey, Store, StoreOptions};
use serde_json::json;

fn pod(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]},
        "status": {"phase": "Running"},
    })
}

#[test]
fn thousand_pods() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db"), StoreOptions::default()).unwrap();
    let mut watch = store.watch("pods", None, None).unwrap();

    let start = Instant::now();
    for i in 0..1000 {
        let name = format!("pod-{i:04}");
        store.create(&ObjKey::new("pods", "default", &name), pod(&name)).unwrap();
    }
    let create = start.elapsed();

    let start = Instant::now();
    let (pods, rv) = store.list("pods", None);
    let list = start.elapsed();

    let start = Instant::now();
    for i in 0..1000 {
        let name = format!("pod-{i:04}");
        store.get(&ObjKey::new("pods", "default", &name)).unwrap();
    }
    let gets = start.elapsed();

    eprintln!(
        "1000 creates: {create:?}; list of {}: {list:?}; 1000 gets: {gets:?}; store size {} bytes",
        pods.len(),
        store.size_bytes()
    );
    assert_eq!(pods.len(), 1000);
    assert_eq!(rv, 1000);

    // The watch saw all 1000 creates, in order, with the default history
    // (most of them replayed from it: the live channel is much shorter).
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        for want in 1..=1000 {
            let ev = watch.next().await.unwrap().unwrap();
            assert_eq!(ev.rv, want);
        }
    });
    drop(store);

    let start = Instant::now();
    let store = Store::open(&dir.path().join("store.db"), StoreOptions::default()).unwrap();
    eprintln!("reopen with 1000 objects: {:?}", start.elapsed());
    assert_eq!(store.list("pods", None).0.len(), 1000);
}
