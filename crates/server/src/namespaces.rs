//! The namespace controller (kube-controller-manager's part of namespace
//! deletion): when a namespace is marked for deletion, delete everything in
//! it (pods gracefully, through the same path as the API) and remove the
//! namespace when it is empty.

use std::time::Duration;

use serde_json::Value;

use peapod_api::resources;
use peapod_store::{ObjKey, Preconditions};

use crate::AppState;
use crate::query::DeleteOptions;

/// Run forever: react to namespace changes, and re-check every few seconds
/// while some namespace is terminating (its pods take time to stop).
pub async fn run(st: AppState) {
    loop {
        let terminating = reconcile(&st);
        let wait = if terminating { Duration::from_millis(500) } else { Duration::from_secs(30) };
        let mut w = st.store.watch_with_initial_events("namespaces", None);
        // Wake on the next namespace event or when the wait is over.
        let _ = tokio::time::timeout(wait, async {
            // Skip the synthetic ADDED events for existing namespaces.
            let n = st.store.list("namespaces", None).0.len();
            for _ in 0..n {
                if w.next().await.is_none() {
                    return;
                }
            }
            w.next().await;
        })
        .await;
    }
}

/// One pass. Returns true while a namespace is still terminating.
pub fn reconcile(st: &AppState) -> bool {
    let (namespaces, _) = st.store.list("namespaces", None);
    let mut terminating = false;
    for ns in namespaces {
        if ns.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null) {
            continue;
        }
        terminating = true;
        let name = ns.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
        let mut left = 0usize;
        for r in resources::all().iter().filter(|r| r.namespaced) {
            let (items, _) = st.store.list(r.plural, Some(&name));
            for o in items {
                left += 1;
                let obj_name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                let terminating_pod = o.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
                if !terminating_pod {
                    let _ = crate::handlers::delete_one(st, r, &name, obj_name, &DeleteOptions::default());
                }
            }
        }
        if left == 0 {
            let uid = ns.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_owned);
            let _ =
                st.store.delete(&ObjKey::new("namespaces", "", &name), &Preconditions { uid, resource_version: None });
        }
    }
    terminating
}
