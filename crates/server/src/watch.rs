//! Watch: chunked JSON lines, one `{"type","object"}` per event
//! (kubectl-wire.md §9). `resourceVersion` absent/""/"0" starts with
//! synthetic ADDED events for what exists; `N` replays every event after N
//! from the store's history (410 Gone when it is too old). With a selector,
//! an object that stops matching is sent as DELETED and one that starts
//! matching as ADDED, as the apiserver's watch cache does.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use peapod_api::ApiError;
use peapod_api::table::{IncludeObject, table_row};
use peapod_store::{EventType, WatchEvent};

use crate::AppState;
use crate::error::{HttpResult, store_error};
use crate::handlers::{Target, matches, selectors, wants_table};
use crate::query::Query;

pub async fn serve(st: &AppState, t: &Target, q: &Query, headers: &HeaderMap) -> HttpResult<Response> {
    let (l, f) = selectors(t, q)?;
    let rv = q.get("resourceVersion").unwrap_or("");
    let authoritative = matches!(rv, "" | "0");
    let mut watch = match rv {
        "" | "0" => st.store.watch_with_initial_events(t.res.plural, t.ns.as_deref()),
        v => {
            let n: u64 = v.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?;
            st.store.watch(t.res.plural, t.ns.as_deref(), Some(n)).map_err(|e| store_error(t.res.plural, "", e))?
        }
    };
    let timeout = match q.int("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        // The apiserver picks 30–60 minutes when the client does not say.
        _ => Duration::from_secs(1800 + rand::random_range(0..1800)),
    };
    let table = wants_table(headers);
    let include = IncludeObject::parse(q.get("includeObject").unwrap_or("")).unwrap_or_default();
    let bookmarks = q.flag("allowWatchBookmarks");
    let t = t.clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut matching: HashSet<(String, String)> = HashSet::new();
        let mut first = true;
        let mut bookmark = tokio::time::interval(Duration::from_secs(60));
        bookmark.tick().await;
        loop {
            let ev = tokio::select! {
                ev = watch.next() => ev,
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = bookmark.tick(), if bookmarks => {
                    let obj = json!({"kind": t.res.kind, "apiVersion": t.res.api_version(), "metadata": {"resourceVersion": watch.resource_version().to_string()}});
                    if send(&tx, "BOOKMARK", obj).await.is_err() { return; }
                    continue;
                }
            };
            let ev: WatchEvent = match ev {
                None => return,
                Some(Ok(ev)) => ev,
                Some(Err(e)) => {
                    let status = crate::error::store_error(t.res.plural, "", e).0.to_status();
                    let _ = send(&tx, "ERROR", status).await;
                    return;
                }
            };
            let key = (ev.namespace.clone(), ev.name.clone());
            let now_matches = ev.kind != EventType::Deleted && matches(&t, &l, &f, &ev.object);
            // With initial events we know what matched; a resumed watch
            // does not, and then treats a matching object as known.
            let was = matching.contains(&key) || (!authoritative && now_matches);
            let kind = match ev.kind {
                EventType::Deleted if was || matches(&t, &l, &f, &ev.object) => "DELETED",
                EventType::Deleted => continue,
                EventType::Added if now_matches => "ADDED",
                EventType::Modified if now_matches && was => "MODIFIED",
                EventType::Modified if now_matches => "ADDED",
                _ if was => "DELETED",
                _ => continue,
            };
            if now_matches {
                matching.insert(key);
            } else {
                matching.remove(&key);
            }
            let obj = if table {
                let mut tab = json!({
                    "kind": "Table",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": ev.rv.to_string()},
                    "rows": [table_row(t.res.plural, &ev.object, jiff::Timestamp::now(), include)],
                });
                if first {
                    tab["columnDefinitions"] = peapod_api::table::column_definitions(t.res.plural);
                } else {
                    tab["columnDefinitions"] = json!([]);
                }
                tab
            } else {
                ev.object.as_ref().clone()
            };
            first = false;
            if send(&tx, kind, obj).await.is_err() {
                return;
            }
        }
    });
    let body = Body::from_stream(ReceiverStream::new(rx));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn send(tx: &mpsc::Sender<Result<Bytes, Infallible>>, kind: &str, obj: Value) -> Result<(), ()> {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": obj})).map_err(|_| ())?;
    line.push(b'\n');
    tx.send(Ok(Bytes::from(line))).await.map_err(|_| ())
}
