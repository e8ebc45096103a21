//! Persistence across reopen (file backend only).

use peapod_store::{Preconditions, SCHEMA_VERSION, Store, StoreError, StoreOptions};
use serde_json::json;

use crate::harness::*;

pub async fn reopen_keeps_objects_and_revision(b: Backend) {
    let store = b.open();
    for i in 0..10 {
        let name = format!("p{i}");
        store.create(&pod_key("a", &name), pod("a", &name, "v1")).unwrap();
    }
    store.update(&pod_key("a", "p3"), pod("a", "p3", "v2")).unwrap(); // 11
    store.create(&key("nodes", "", "n1"), json!({"metadata": {"name": "n1"}})).unwrap(); // 12
    let (before, rv) = store.list("pods", None);
    drop(store);

    let store = b.open();
    assert_eq!(store.revision(), 12);
    let (after, list_rv) = store.list("pods", None);
    assert_eq!(list_rv, rv);
    assert_eq!(after, before, "same objects, same resourceVersions");
    let p3 = store.get(&pod_key("a", "p3")).unwrap();
    assert_eq!((rv_of(&p3), image_of(&p3)), (11, "v2"));
    assert!(store.get(&key("nodes", "", "n1")).is_some());
}

pub async fn reopen_without_clean_close(b: Backend) {
    let store = b.open();
    store.create(&pod_key("a", "p"), pod("a", "p", "v1")).unwrap();
    store.update(&pod_key("a", "p"), pod("a", "p", "v2")).unwrap();
    // Leak the store: no connection close, no WAL checkpoint — the commits
    // live only in the WAL, as after a crash. (tests/crash.rs kills a real
    // process.)
    std::mem::forget(store);

    let store = b.open();
    assert_eq!(store.revision(), 2);
    let p = store.get(&pod_key("a", "p")).unwrap();
    assert_eq!((rv_of(&p), image_of(&p)), (2, "v2"));
    store.create(&pod_key("a", "q"), pod("a", "q", "v1")).unwrap();
    assert_eq!(store.revision(), 3);
}

pub async fn revision_never_reused_after_deletes_and_reopen(b: Backend) {
    let store = b.open();
    for name in ["a", "b", "c"] {
        store.create(&pod_key("ns", name), pod("ns", name, "x")).unwrap();
    }
    for name in ["a", "b", "c"] {
        store.delete(&pod_key("ns", name), &Preconditions::default()).unwrap();
    }
    assert_eq!(store.revision(), 6);
    drop(store);

    let store = b.open();
    assert_eq!(store.revision(), 6, "the counter survives even with no objects left");
    assert!(store.list("pods", None).0.is_empty());
    let again = store.create(&pod_key("ns", "a"), pod("ns", "a", "x")).unwrap();
    assert_eq!(rv_of(&again), 7);
    drop(store);
    assert_eq!(b.open().revision(), 7);
}

pub async fn watch_after_reopen_expires_older_revisions(b: Backend) {
    let store = b.open();
    store.create(&pod_key("a", "p1"), pod("a", "p1", "x")).unwrap();
    store.create(&pod_key("a", "p2"), pod("a", "p2", "x")).unwrap();
    drop(store);

    let store = b.open();
    // History is empty after a restart: nothing before rv 2 can be replayed.
    match store.watch("pods", None, Some(1)) {
        Err(err @ StoreError::Expired { requested: 1, oldest: 2 }) => {
            assert_eq!(err.to_string(), "too old resource version: 1 (2)");
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("watch from before the restart started"),
    }
    let mut w = store.watch("pods", None, Some(2)).unwrap();
    assert_no_event(&mut w);
    store.update(&pod_key("a", "p1"), pod("a", "p1", "y")).unwrap();
    assert_eq!(summary(&next_event(&mut w).await), ("MODIFIED", "p1".into(), 3));
}

pub async fn file_has_documented_schema(b: Backend) {
    let store = b.open();
    store.create(&pod_key("a", "p"), pod("a", "p", "x")).unwrap();
    store.delete(&pod_key("a", "p"), &Preconditions::default()).unwrap();
    store.create(&key("nodes", "", "n"), json!({"metadata": {"name": "n", "uid": "u-n"}})).unwrap();
    drop(store);

    let conn = rusqlite::Connection::open(b.path().unwrap()).unwrap();
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let revision: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| r.get(0)).unwrap();
    assert_eq!(revision, 3);
    let (resource, namespace, name, uid, rv, body): (String, String, String, String, i64, String) = conn
        .query_row("SELECT resource, namespace, name, uid, rv, body FROM objects", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .unwrap();
    assert_eq!((resource.as_str(), namespace.as_str(), name.as_str(), uid.as_str(), rv), ("nodes", "", "n", "u-n", 3));
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["metadata"]["resourceVersion"], "3");
}

pub async fn newer_schema_is_refused(b: Backend) {
    drop(b.open());
    let conn = rusqlite::Connection::open(b.path().unwrap()).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    match Store::open(&b.path().unwrap(), StoreOptions::default()) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened a newer schema"),
    }
}

pub async fn open_creates_parent_directories(b: Backend) {
    let path = b.dir().join("deep").join("er").join("store.db");
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    store.create(&pod_key("a", "p"), pod("a", "p", "x")).unwrap();
    assert!(path.exists());

    // A parent that is a file cannot be created: the error names the path.
    let blocker = b.dir().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    match Store::open(&blocker.join("sub").join("store.db"), StoreOptions::default()) {
        Err(StoreError::Io { path, .. }) => assert_eq!(path, blocker.join("sub")),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened under a file"),
    }
}
