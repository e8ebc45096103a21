//! Watch: replay, live, filters, DELETED rv, expiry, lag, initial events.

use peapod_store::{EventType, Mutation, Preconditions, StoreError, StoreOptions};
use serde_json::{Value, json};

use crate::harness::*;

pub async fn watch_replays_from_revision_then_live(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let v1 = store.create(&k, pod("default", "web", "v1")).unwrap(); // rv 1
    store.update(&k, pod("default", "web", "v2")).unwrap(); // rv 2
    store.create(&pod_key("default", "db"), pod("default", "db", "v1")).unwrap(); // rv 3

    let mut w = store.watch("pods", None, Some(rv_of(&v1))).unwrap();
    assert_eq!(summary(&next_event(&mut w).await), ("MODIFIED", "web".into(), 2));
    let db = next_event(&mut w).await;
    assert_eq!(summary(&db), ("ADDED", "db".into(), 3));
    assert_eq!(rv_of(&db.object), 3, "event object carries its resourceVersion");
    assert_eq!((db.resource.as_str(), db.namespace.as_str()), ("pods", "default"));
    assert_no_event(&mut w);

    store.delete(&k, &Preconditions::default()).unwrap(); // rv 4
    assert_eq!(summary(&next_event(&mut w).await), ("DELETED", "web".into(), 4));
    assert_eq!(w.resource_version(), 4);

    // From the very beginning of a fresh store.
    let mut all = store.watch("pods", None, Some(0)).unwrap();
    let kinds: Vec<_> = [
        next_event(&mut all).await,
        next_event(&mut all).await,
        next_event(&mut all).await,
        next_event(&mut all).await,
    ]
    .iter()
    .map(summary)
    .collect();
    assert_eq!(
        kinds,
        [
            ("ADDED", "web".into(), 1),
            ("MODIFIED", "web".into(), 2),
            ("ADDED", "db".into(), 3),
            ("DELETED", "web".into(), 4),
        ]
    );
    assert_no_event(&mut all);
}

pub async fn watch_from_now_sees_only_new_changes(b: Backend) {
    let store = b.open();
    store.create(&pod_key("a", "old"), pod("a", "old", "x")).unwrap();
    let mut w = store.watch("pods", None, None).unwrap();
    assert_eq!(w.resource_version(), 1);
    assert_no_event(&mut w);
    store.create(&pod_key("a", "new"), pod("a", "new", "x")).unwrap();
    assert_eq!(summary(&next_event(&mut w).await), ("ADDED", "new".into(), 2));
    // The revision from a list resumes at the same point.
    let (_, list_rv) = store.list("pods", None);
    let mut resumed = store.watch("pods", None, Some(list_rv)).unwrap();
    assert_no_event(&mut resumed);
}

pub async fn watch_filters_by_resource_and_namespace(b: Backend) {
    let store = b.open();
    let mut pods_a = store.watch("pods", Some("a"), None).unwrap();
    let mut pods_all = store.watch("pods", None, None).unwrap();
    let mut cms = store.watch("configmaps", None, None).unwrap();

    store.create(&pod_key("a", "p1"), pod("a", "p1", "x")).unwrap(); // 1
    store.create(&pod_key("b", "p2"), pod("b", "p2", "x")).unwrap(); // 2
    store.create(&key("configmaps", "a", "c"), configmap("a", "c", "v")).unwrap(); // 3
    store.create(&pod_key("a", "p3"), pod("a", "p3", "x")).unwrap(); // 4

    assert_eq!(summary(&next_event(&mut pods_a).await), ("ADDED", "p1".into(), 1));
    assert_eq!(summary(&next_event(&mut pods_a).await), ("ADDED", "p3".into(), 4));
    assert_no_event(&mut pods_a);
    let all: Vec<u64> =
        [next_event(&mut pods_all).await, next_event(&mut pods_all).await, next_event(&mut pods_all).await]
            .iter()
            .map(|e| e.rv)
            .collect();
    assert_eq!(all, [1, 2, 4]);
    assert_no_event(&mut pods_all);
    assert_eq!(summary(&next_event(&mut cms).await), ("ADDED", "c".into(), 3));
    assert_no_event(&mut cms);

    // Replay filters the same way.
    let mut replay_b = store.watch("pods", Some("b"), Some(0)).unwrap();
    assert_eq!(summary(&next_event(&mut replay_b).await), ("ADDED", "p2".into(), 2));
    assert_no_event(&mut replay_b);
}

pub async fn watch_deleted_event_carries_deletion_revision(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    store.create(&k, pod("default", "web", "last")).unwrap();
    let mut w = store.watch("pods", None, None).unwrap();
    store.create(&pod_key("default", "x"), pod("default", "x", "x")).unwrap(); // 2
    store.delete(&k, &Preconditions::default()).unwrap(); // 3
    next_event(&mut w).await;
    let ev = next_event(&mut w).await;
    assert_eq!(ev.kind, EventType::Deleted);
    assert_eq!(ev.rv, 3);
    assert_eq!(rv_of(&ev.object), 3);
    assert_eq!(image_of(&ev.object), "last");
    assert_eq!(ev.object["metadata"]["uid"], "uid-default-web");
}

pub async fn watch_expired_when_history_exceeded(b: Backend) {
    let store = b.open_with(StoreOptions { history: 3 });
    for i in 0..5 {
        let name = format!("p{i}");
        store.create(&pod_key("a", &name), pod("a", &name, "x")).unwrap(); // rv 1..=5
    }
    // History holds rv 3, 4, 5: resuming after 2 works, after 1 does not.
    let mut ok = store.watch("pods", None, Some(2)).unwrap();
    assert_eq!(next_event(&mut ok).await.rv, 3);
    for from in [0, 1] {
        match store.watch("pods", None, Some(from)) {
            Err(err @ StoreError::Expired { .. }) => {
                assert_eq!(err.to_string(), format!("too old resource version: {from} (2)"));
            }
            Err(other) => panic!("from {from}: {other:?}"),
            Ok(_) => panic!("from {from}: watch started"),
        }
    }
}

pub async fn watch_horizon_is_per_resource(b: Backend) {
    let store = b.open_with(StoreOptions { history: 3 });
    store.create(&pod_key("a", "p"), pod("a", "p", "x")).unwrap(); // 1
    for i in 0..5 {
        let name = format!("e{i}");
        store.create(&key("events", "a", &name), configmap("a", &name, "x")).unwrap(); // 2..=6
    }
    // pods@1 was dropped: resuming pods after 0 expires, after 1 works (no
    // pod event newer than 1 was dropped) even though history starts at 4.
    assert!(matches!(store.watch("pods", None, Some(0)), Err(StoreError::Expired { requested: 0, oldest: 1 })));
    // events@2 and events@3 were dropped too.
    assert!(matches!(store.watch("events", None, Some(2)), Err(StoreError::Expired { requested: 2, oldest: 3 })));
    let mut w = store.watch("pods", None, Some(1)).unwrap();
    assert_no_event(&mut w);
    store.update(&pod_key("a", "p"), pod("a", "p", "y")).unwrap(); // 7
    assert_eq!(next_event(&mut w).await.rv, 7);
}

pub async fn watch_future_revision_is_too_large(b: Backend) {
    let store = b.open();
    store.create(&pod_key("a", "p"), pod("a", "p", "x")).unwrap();
    match store.watch("pods", None, Some(5)) {
        Err(StoreError::TooLargeResourceVersion { requested: 5, current: 1 }) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("watch from the future started"),
    }
}

/// Writes `n` configmaps, to push other watchers' receivers past capacity.
fn spam(store: &peapod_store::Store, n: usize) {
    for i in 0..n {
        let name = format!("cm{i}");
        store.create(&key("configmaps", "a", &name), configmap("a", &name, "x")).unwrap();
    }
}

pub async fn watch_lagging_receiver_resyncs_from_history(b: Backend) {
    // Broadcast capacity is at least 64; history 100 keeps the pod events.
    let store = b.open_with(StoreOptions { history: 100 });
    let mut w = store.watch("pods", None, None).unwrap();
    store.create(&pod_key("a", "p1"), pod("a", "p1", "x")).unwrap(); // 1
    assert_eq!(next_event(&mut w).await.rv, 1);
    spam(&store, 300); // 2..=301: the receiver lags, p1 drops out of history
    store.create(&pod_key("a", "p2"), pod("a", "p2", "x")).unwrap(); // 302
    // No pod event after rv 1 was dropped, so the watch continues gap-free.
    assert_eq!(summary(&next_event(&mut w).await), ("ADDED", "p2".into(), 302));
    assert_no_event(&mut w);
    store.create(&pod_key("a", "p3"), pod("a", "p3", "x")).unwrap();
    assert_eq!(next_event(&mut w).await.rv, 303);
}

pub async fn watch_lagging_receiver_ends_expired(b: Backend) {
    let store = b.open_with(StoreOptions { history: 100 });
    let mut w = store.watch("pods", None, None).unwrap();
    store.create(&pod_key("a", "p1"), pod("a", "p1", "x")).unwrap(); // 1, never read
    spam(&store, 300);
    store.create(&pod_key("a", "p2"), pod("a", "p2", "x")).unwrap();
    // p1 is gone from both the channel and history: the watch must not skip it.
    match next_item(&mut w).await {
        Some(Err(StoreError::Expired { requested: 0, oldest: 1 })) => {}
        other => panic!("{other:?}"),
    }
    assert!(next_item(&mut w).await.is_none(), "an expired watch stays ended");
}

pub async fn watch_with_initial_events_lists_then_follows(b: Backend) {
    let store = b.open();
    store.create(&pod_key("b", "p2"), pod("b", "p2", "x")).unwrap(); // 1
    store.create(&pod_key("a", "p1"), pod("a", "p1", "x")).unwrap(); // 2
    store.create(&key("configmaps", "a", "c"), configmap("a", "c", "x")).unwrap(); // 3
    store.update(&pod_key("b", "p2"), pod("b", "p2", "y")).unwrap(); // 4

    let mut w = store.watch_with_initial_events("pods", None);
    assert_eq!(summary(&next_event(&mut w).await), ("ADDED", "p1".into(), 2));
    let p2 = next_event(&mut w).await;
    assert_eq!(summary(&p2), ("ADDED", "p2".into(), 4));
    assert_eq!(p2.namespace, "b");
    assert_eq!(image_of(&p2.object), "y");
    assert_eq!(w.resource_version(), 4);
    assert_no_event(&mut w);
    store.delete(&pod_key("a", "p1"), &Preconditions::default()).unwrap(); // 5
    assert_eq!(summary(&next_event(&mut w).await), ("DELETED", "p1".into(), 5));

    let mut only_a = store.watch_with_initial_events("pods", Some("a"));
    assert_no_event(&mut only_a);
}

pub async fn watch_ends_when_store_dropped(b: Backend) {
    let store = b.open();
    let mut w = store.watch("pods", None, None).unwrap();
    store.create(&pod_key("a", "p"), pod("a", "p", "x")).unwrap();
    let clone = store.clone();
    drop(store);
    clone.update(&pod_key("a", "p"), pod("a", "p", "y")).unwrap();
    drop(clone);
    // Events already sent are still delivered, then the watch ends.
    assert_eq!(next_event(&mut w).await.rv, 1);
    assert_eq!(next_event(&mut w).await.rv, 2);
    assert!(next_item(&mut w).await.is_none());
}

pub async fn no_op_writes_emit_no_event(b: Backend) {
    let store = b.open();
    let k = pod_key("a", "p");
    let created = store.create(&k, pod("a", "p", "x")).unwrap();
    let mut w = store.watch("pods", None, None).unwrap();
    store.update_with::<()>(&k, |_| Ok(Mutation::Unchanged)).unwrap();
    store.update_with::<()>(&k, |cur| Ok(Mutation::Put(cur.unwrap().clone()))).unwrap();
    store.update(&k, Value::clone(&created)).unwrap();
    store.update_with(&k, |_| Err(())).unwrap_err();
    assert_no_event(&mut w);
    assert_eq!(store.revision(), 1);
}

pub async fn initial_events_take_namespace_from_the_key(b: Backend) {
    let store = b.open();
    // Bodies may omit metadata.namespace; events still name it.
    store.create(&pod_key("a", "p"), json!({"metadata": {"name": "p"}})).unwrap();
    let mut w = store.watch_with_initial_events("pods", Some("a"));
    let ev = next_event(&mut w).await;
    assert_eq!((ev.namespace.as_str(), ev.name.as_str(), ev.rv), ("a", "p", 1));
}
