//! Crash safety: a child process writes to a store file and aborts (no
//! destructors, no connection close, no WAL checkpoint); the parent reopens the
//! file and must find every committed write and the same revision.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use peapod_store::{ObjKey, Preconditions, Store, StoreOptions};
use serde_json::json;

/// Set in the child's environment to the store path; the test then plays the
/// child's part.
const CHILD_ENV: &str = "PEAPOD_STORE_CRASH_CHILD_DB";
const TEST_NAME: &str = "reopen_after_process_abort";

fn key(i: usize) -> ObjKey {
    ObjKey::new("pods", "ns", format!("p{i}"))
}

/// 50 creates (rv 1..=50), 10 deletes (51..=60), 5 updates (61..=65), abort.
fn child(db: &Path) -> ! {
    let store = Store::open(db, StoreOptions::default()).expect("child open");
    for i in 0..50 {
        let body = json!({"metadata": {"name": format!("p{i}"), "namespace": "ns"}, "spec": {"v": 0}});
        store.create(&key(i), body).expect("create");
    }
    for i in 0..10 {
        store.delete(&key(i), &Preconditions::default()).expect("delete");
    }
    for i in 10..15 {
        let body = json!({"metadata": {"name": format!("p{i}"), "namespace": "ns"}, "spec": {"v": 1}});
        store.update(&key(i), body).expect("update");
    }
    std::process::abort();
}

#[test]
fn reopen_after_process_abort() {
    if let Some(db) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&db));
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let status = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &db)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    // SIGABRT, not a panic (exit 101): the child reached the abort.
    assert_eq!(status.signal(), Some(6), "child status: {status:?}");
    let wal = dir.path().join("store.db-wal");
    assert!(std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0), "the writes are still in the un-checkpointed WAL");

    let store = Store::open(&db, StoreOptions::default()).unwrap();
    assert_eq!(store.revision(), 65);
    let (pods, _) = store.list("pods", Some("ns"));
    assert_eq!(pods.len(), 40);
    for i in 0..10 {
        assert!(store.get(&key(i)).is_none(), "p{i} was deleted");
    }
    for (i, rv) in (10..15).zip(61..) {
        let p = store.get(&key(i)).unwrap();
        assert_eq!(p["spec"]["v"], 1);
        assert_eq!(p["metadata"]["resourceVersion"], rv.to_string());
    }
    assert_eq!(store.get(&key(20)).unwrap()["metadata"]["resourceVersion"], "21");
    let next = store.create(&key(0), json!({"metadata": {"name": "p0", "namespace": "ns"}})).unwrap();
    assert_eq!(next["metadata"]["resourceVersion"], "66");
}
