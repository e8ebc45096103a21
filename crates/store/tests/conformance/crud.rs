//! Create, get, list, update, update_with and delete.

use std::sync::Arc;

use peapod_store::{Mutation, Preconditions, StoreError, UpdateError};
use serde_json::{Value, json};

use crate::harness::*;

pub async fn create_sets_resource_version_and_get_returns_it(b: Backend) {
    let store = b.open();
    assert_eq!(store.revision(), 0);
    let k = pod_key("default", "web");
    assert!(store.get(&k).is_none());

    let mut body = pod("default", "web", "nginx");
    body["metadata"]["resourceVersion"] = json!("999");
    let created = store.create(&k, body).unwrap();
    assert_eq!(created["metadata"]["resourceVersion"], json!("1"), "sent value is overwritten");
    assert_eq!(store.revision(), 1);

    let got = store.get(&k).unwrap();
    assert!(Arc::ptr_eq(&got, &created), "get returns the stored object");
    assert_eq!(got["spec"], pod("default", "web", "nginx")["spec"]);
}

pub async fn create_existing_is_already_exists(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    store.create(&k, pod("default", "web", "a")).unwrap();
    let err = store.create(&k, pod("default", "web", "b")).unwrap_err();
    assert!(matches!(&err, StoreError::AlreadyExists { key } if *key == k), "{err:?}");
    assert_eq!(err.to_string(), "pods \"web\" already exists");
    assert_eq!(image_of(&store.get(&k).unwrap()), "a");
    assert_eq!(store.revision(), 1);
}

pub async fn invalid_bodies_are_rejected_without_a_revision(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let cases = [
        ("string", json!("pod")),
        ("array", json!([])),
        ("no metadata", json!({"kind": "Pod"})),
        ("metadata not object", json!({"metadata": []})),
        ("other name", pod("default", "db", "x")),
        ("other namespace", pod("other", "web", "x")),
    ];
    for (name, body) in cases {
        let err = store.create(&k, body.clone()).unwrap_err();
        assert!(matches!(err, StoreError::InvalidObject(_)), "create {name}: {err:?}");
    }
    store.create(&k, pod("default", "web", "x")).unwrap();
    for (name, body) in [("update no metadata", json!({"spec": {}})), ("update renamed", pod("default", "db", "y"))] {
        let err = store.update(&k, body).unwrap_err();
        assert!(matches!(err, StoreError::InvalidObject(_)), "{name}: {err:?}");
    }
    assert_eq!(store.revision(), 1);
}

pub async fn list_is_sorted_filtered_and_carries_revision(b: Backend) {
    let store = b.open();
    for (ns, name) in [("b", "p1"), ("a", "p3"), ("a", "p2"), ("c", "p0")] {
        store.create(&pod_key(ns, name), pod(ns, name, "img")).unwrap();
    }
    store.create(&key("configmaps", "a", "cm"), configmap("a", "cm", "v")).unwrap();

    let (all, rv) = store.list("pods", None);
    assert_eq!(rv, 5);
    let names: Vec<String> = all.iter().map(name_of).collect();
    assert_eq!(names, ["p2", "p3", "p1", "p0"], "sorted by namespace, then name");

    let (in_a, rv_a) = store.list("pods", Some("a"));
    assert_eq!(in_a.iter().map(name_of).collect::<Vec<_>>(), ["p2", "p3"]);
    assert_eq!(rv_a, 5);
    assert!(store.list("pods", Some("nope")).0.is_empty());
    assert!(store.list("secrets", None).0.is_empty());
    assert_eq!(store.list("configmaps", None).0.len(), 1);

    store.delete(&pod_key("a", "p2"), &Preconditions::default()).unwrap();
    let (after, rv) = store.list("pods", Some("a"));
    assert_eq!(after.iter().map(name_of).collect::<Vec<_>>(), ["p3"]);
    assert_eq!(rv, 6);
}

pub async fn update_replaces_and_bumps_revision(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let created = store.create(&k, pod("default", "web", "v1")).unwrap();

    // Send back what was read (carries resourceVersion "1"), changed.
    let mut body = Value::clone(&created);
    body["spec"]["containers"][0]["image"] = json!("v2");
    let updated = store.update(&k, body).unwrap();
    assert_eq!(rv_of(&updated), 2);
    assert_eq!(image_of(&updated), "v2");
    assert_eq!(image_of(&store.get(&k).unwrap()), "v2");
    assert_eq!(store.revision(), 2);
}

pub async fn update_with_stale_resource_version_conflicts(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let v1 = store.create(&k, pod("default", "web", "v1")).unwrap();
    let mut first = Value::clone(&v1);
    first["spec"]["containers"][0]["image"] = json!("v2");
    store.update(&k, first).unwrap();

    let mut stale = Value::clone(&v1);
    stale["spec"]["containers"][0]["image"] = json!("v3");
    let err = store.update(&k, stale).unwrap_err();
    match &err {
        StoreError::Conflict { key, message } => {
            assert_eq!(*key, k);
            assert_eq!(message, peapod_store::CONFLICT_MESSAGE);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("Operation cannot be fulfilled on pods \"web\": the object has been modified"));
    assert_eq!(image_of(&store.get(&k).unwrap()), "v2");
    assert_eq!(store.revision(), 2);
}

pub async fn update_without_resource_version_is_unconditional(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    store.create(&k, pod("default", "web", "v1")).unwrap();
    store.update(&k, pod("default", "web", "v2")).unwrap();
    let mut empty_rv = pod("default", "web", "v3");
    empty_rv["metadata"]["resourceVersion"] = json!("");
    let v3 = store.update(&k, empty_rv).unwrap();
    assert_eq!(rv_of(&v3), 3);
    assert_eq!(image_of(&v3), "v3");
}

pub async fn update_missing_is_not_found(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "ghost");
    let err = store.update(&k, pod("default", "ghost", "x")).unwrap_err();
    assert!(matches!(&err, StoreError::NotFound { key } if *key == k), "{err:?}");
    assert_eq!(err.to_string(), "pods \"ghost\" not found");
    assert_eq!(store.revision(), 0);
    assert!(store.get(&k).is_none());
}

pub async fn identical_update_is_a_no_op(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let created = store.create(&k, pod("default", "web", "v1")).unwrap();
    // Same content without resourceVersion, and with the current one.
    let same = store.update(&k, pod("default", "web", "v1")).unwrap();
    assert!(Arc::ptr_eq(&same, &created));
    let again = store.update(&k, Value::clone(&created)).unwrap();
    assert!(Arc::ptr_eq(&again, &created));
    assert_eq!(store.revision(), 1);
}

pub async fn delete_returns_object_with_deletion_revision(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    store.create(&k, pod("default", "web", "v1")).unwrap();
    store.create(&pod_key("default", "other"), pod("default", "other", "v1")).unwrap();

    let deleted = store.delete(&k, &Preconditions::default()).unwrap();
    assert_eq!(rv_of(&deleted), 3);
    assert_eq!(image_of(&deleted), "v1", "last state is returned");
    assert_eq!(store.revision(), 3);
    assert!(store.get(&k).is_none());

    let err = store.delete(&k, &Preconditions::default()).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(store.revision(), 3);
    assert!(store.get(&pod_key("default", "other")).is_some());
}

pub async fn delete_preconditions(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    store.create(&k, pod("default", "web", "v1")).unwrap();
    let uid = "uid-default-web";
    let pre = |uid: Option<&str>, rv: Option<&str>| Preconditions {
        uid: uid.map(Into::into),
        resource_version: rv.map(Into::into),
    };
    let failing = [
        ("wrong uid", pre(Some("uid-other"), None), "UID in precondition: uid-other"),
        ("wrong rv", pre(None, Some("7")), "ResourceVersion in precondition: 7"),
        ("right uid, wrong rv", pre(Some(uid), Some("2")), "ResourceVersion in object meta: 1"),
    ];
    for (name, p, text) in failing {
        match store.delete(&k, &p) {
            Err(StoreError::Conflict { message, .. }) => {
                assert!(message.starts_with("Precondition failed: "), "{name}: {message}");
                assert!(message.contains(text), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(store.get(&k).is_some(), "{name}: not deleted");
    }
    assert_eq!(store.revision(), 1);
    store.delete(&k, &pre(Some(uid), Some("1"))).unwrap();
    assert!(store.get(&k).is_none());
}

pub async fn update_with_unchanged_does_not_bump(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let created = store.create(&k, pod("default", "web", "v1")).unwrap();
    let mut seen = None;
    let out = store
        .update_with::<()>(&k, |cur| {
            seen = cur.cloned();
            Ok(Mutation::Unchanged)
        })
        .unwrap();
    assert!(Arc::ptr_eq(&out.unwrap(), &created));
    assert_eq!(seen.as_ref(), Some(created.as_ref()));
    assert_eq!(store.revision(), 1);

    let absent = store
        .update_with::<()>(&pod_key("default", "ghost"), |cur| {
            assert!(cur.is_none());
            Ok(Mutation::Unchanged)
        })
        .unwrap();
    assert!(absent.is_none());
    assert_eq!(store.revision(), 1);
}

pub async fn update_with_put_creates_then_modifies(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let put_image = |image: &'static str| {
        move |cur: Option<&Value>| -> Result<Mutation, ()> {
            let mut obj = cur.cloned().unwrap_or_else(|| pod("default", "web", "none"));
            obj["spec"]["containers"][0]["image"] = json!(image);
            Ok(Mutation::Put(obj))
        }
    };
    let created = store.update_with(&k, put_image("v1")).unwrap().unwrap();
    assert_eq!((rv_of(&created), image_of(&created)), (1, "v1"));
    let modified = store.update_with(&k, put_image("v2")).unwrap().unwrap();
    assert_eq!((rv_of(&modified), image_of(&modified)), (2, "v2"));
    // Putting the same content is a no-op.
    let same = store.update_with(&k, put_image("v2")).unwrap().unwrap();
    assert!(Arc::ptr_eq(&same, &modified));
    assert_eq!(store.revision(), 2);
}

pub async fn update_with_delete(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    store.create(&k, pod("default", "web", "v1")).unwrap();
    let deleted = store
        .update_with::<()>(&k, |cur| {
            assert!(cur.is_some());
            Ok(Mutation::Delete)
        })
        .unwrap()
        .unwrap();
    assert_eq!(rv_of(&deleted), 2);
    assert!(store.get(&k).is_none());

    let err = store.update_with::<()>(&k, |_| Ok(Mutation::Delete)).unwrap_err();
    assert!(matches!(err, UpdateError::Store(StoreError::NotFound { .. })), "{err:?}");
    assert_eq!(store.revision(), 2);
}

pub async fn update_with_aborted_writes_nothing(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    store.create(&k, pod("default", "web", "v1")).unwrap();
    let err = store.update_with(&k, |_| Err("no thanks")).unwrap_err();
    assert!(matches!(err, UpdateError::Aborted("no thanks")), "{err:?}");
    assert_eq!(store.revision(), 1);
    assert_eq!(image_of(&store.get(&k).unwrap()), "v1");
}

pub async fn update_with_put_invalid_is_rejected(b: Backend) {
    let store = b.open();
    let k = pod_key("default", "web");
    let err = store.update_with::<()>(&k, |_| Ok(Mutation::Put(json!({"spec": {}})))).unwrap_err();
    assert!(matches!(err, UpdateError::Store(StoreError::InvalidObject(_))), "{err:?}");
    assert!(store.get(&k).is_none());
    assert_eq!(store.revision(), 0);
}

pub async fn revision_increases_by_one_per_write(b: Backend) {
    let store = b.open();
    let k = key("configmaps", "ns", "cm");
    let mut rvs = vec![rv_of(&store.create(&k, configmap("ns", "cm", "1")).unwrap())];
    rvs.push(rv_of(&store.update(&k, configmap("ns", "cm", "2")).unwrap()));
    rvs.push(rv_of(&store.update_with::<()>(&k, |_| Ok(Mutation::Put(configmap("ns", "cm", "3")))).unwrap().unwrap()));
    rvs.push(rv_of(&store.delete(&k, &Preconditions::default()).unwrap()));
    rvs.push(rv_of(&store.create(&k, configmap("ns", "cm", "4")).unwrap()));
    assert_eq!(rvs, [1, 2, 3, 4, 5]);
    assert_eq!(store.revision(), 5);
}

pub async fn concurrent_writers_get_unique_revisions(b: Backend) {
    let store = b.open();
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        let name = format!("p{t}-{i}");
                        rv_of(&store.create(&pod_key("ns", &name), pod("ns", &name, "x")).unwrap())
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut rvs: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    rvs.sort_unstable();
    let want: Vec<u64> = (1..=(THREADS * PER_THREAD) as u64).collect();
    assert_eq!(rvs, want, "every revision used exactly once");
    assert_eq!(store.list("pods", None).0.len(), THREADS * PER_THREAD);
}

pub async fn cluster_scoped_objects(b: Backend) {
    let store = b.open();
    let k = key("nodes", "", "node-1");
    store.create(&k, json!({"kind": "Node", "metadata": {"name": "node-1"}})).unwrap();
    store.create(&key("namespaces", "", "default"), json!({"metadata": {"name": "default"}})).unwrap();
    let (nodes, _) = store.list("nodes", None);
    assert_eq!(nodes.len(), 1);
    assert_eq!(store.list("nodes", Some("")).0.len(), 1);
    assert_eq!(rv_of(&store.get(&k).unwrap()), 1);
}

pub async fn size_bytes_reports_file_size(b: Backend) {
    let store = b.open();
    store.create(&pod_key("ns", "p"), pod("ns", "p", "x")).unwrap();
    match b {
        Backend::Memory => assert_eq!(store.size_bytes(), 0),
        Backend::File { .. } => assert!(store.size_bytes() > 0),
    }
}

pub async fn panicking_closure_leaves_store_usable(b: Backend) {
    let store = b.open();
    let k = pod_key("a", "p");
    store.create(&k, pod("a", "p", "v1")).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.update_with::<()>(&k, |_| panic!("closure bug"));
    }));
    assert!(panicked.is_err());
    // The lock was poisoned by the panic; nothing had been changed yet.
    assert_eq!(store.revision(), 1);
    let v2 = store.update(&k, pod("a", "p", "v2")).unwrap();
    assert_eq!(rv_of(&v2), 2);
}
