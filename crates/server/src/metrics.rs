//! `/metrics` in the Prometheus text format (token-protected like the rest):
//! API request counts and latencies by verb and code, as the apiserver names
//! them; store size; pods by phase and container restarts from the store;
//! and whatever the node agent reports (pod start latency, image pulls).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::AppState;

pub use peapod_api::metrics::{Histogram, LATENCY_BUCKETS};

/// Request metrics, kept by the middleware.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    inner: Mutex<HttpInner>,
}

#[derive(Debug, Default)]
struct HttpInner {
    /// (verb, code) → count.
    requests: BTreeMap<(String, u16), u64>,
    /// verb → latency.
    latency: BTreeMap<String, Histogram>,
}

/// The apiserver's verb for a request.
pub fn verb(method: &Method, query: Option<&str>, path: &str) -> &'static str {
    // The part after the group version: `/api/v1/<rest>` or `/apis/<group>/<version>/<rest>`.
    let rest = path.strip_prefix("/api/v1/").or_else(|| {
        let mut parts = path.strip_prefix("/apis/")?.splitn(3, '/');
        parts.nth(2)
    });
    let watch = crate::query::Query::parse(query).flag("watch") || rest.is_some_and(|r| r.starts_with("watch/"));
    match *method {
        Method::GET if watch => "WATCH",
        Method::GET => {
            let Some(rest) = rest else { return "GET" };
            // A collection path ends with a resource plural; an object path has a name after it.
            let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            let list = matches!(segs.as_slice(), ["namespaces", _, _] | [_]);
            if list { "LIST" } else { "GET" }
        }
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

impl HttpMetrics {
    pub fn observe(&self, verb: &str, code: u16, seconds: f64) {
        let mut m = self.inner.lock().expect("lock");
        *m.requests.entry((verb.to_owned(), code)).or_default() += 1;
        m.latency.entry(verb.to_owned()).or_default().observe(seconds, LATENCY_BUCKETS);
    }

    pub fn render(&self, out: &mut String) {
        let m = self.inner.lock().expect("lock");
        out.push_str("# HELP apiserver_request_total Counter of API requests by verb and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, code), n) in &m.requests {
            let _ = writeln!(out, "apiserver_request_total{{verb=\"{verb}\",code=\"{code}\"}} {n}");
        }
        out.push_str(
            "# HELP apiserver_request_duration_seconds Response latency by verb (watches: until the stream ends).\n",
        );
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for (verb, h) in &m.latency {
            h.render(out, "apiserver_request_duration_seconds", &format!("verb=\"{verb}\""), LATENCY_BUCKETS);
        }
    }
}

/// Middleware: count every API request with its verb, code and latency.
pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let v = verb(req.method(), req.uri().query(), req.uri().path());
    let start = Instant::now();
    let res = next.run(req).await;
    st.metrics.observe(v, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}

/// `GET /metrics`.
pub async fn serve(State(st): State<AppState>) -> Response {
    let mut out = String::new();
    st.metrics.render(&mut out);
    out.push_str(
        "# HELP peapod_store_size_bytes Size of the object store on disk.\n# TYPE peapod_store_size_bytes gauge\n",
    );
    let _ = writeln!(out, "peapod_store_size_bytes {}", st.store.size_bytes());
    out.push_str(
        "# HELP peapod_store_revision The store's current resourceVersion.\n# TYPE peapod_store_revision counter\n",
    );
    let _ = writeln!(out, "peapod_store_revision {}", st.store.revision());
    let (pods, _) = st.store.list("pods", None);
    let mut phases: BTreeMap<String, u64> =
        ["Pending", "Running", "Succeeded", "Failed", "Unknown"].iter().map(|p| (p.to_string(), 0)).collect();
    let mut restarts = 0i64;
    for p in &pods {
        let phase = p.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending");
        *phases.entry(phase.to_owned()).or_default() += 1;
        for key in ["containerStatuses", "initContainerStatuses"] {
            for c in p.pointer(&format!("/status/{key}")).and_then(Value::as_array).into_iter().flatten() {
                restarts += c["restartCount"].as_i64().unwrap_or(0);
            }
        }
    }
    out.push_str("# HELP peapod_pods Pods by phase.\n# TYPE peapod_pods gauge\n");
    for (phase, n) in phases {
        let _ = writeln!(out, "peapod_pods{{phase=\"{phase}\"}} {n}");
    }
    out.push_str("# HELP peapod_container_restarts Sum of restartCount over all containers of existing pods.\n# TYPE peapod_container_restarts gauge\n");
    let _ = writeln!(out, "peapod_container_restarts {restarts}");
    out.push_str(&st.node.metrics_text());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_like_the_apiserver() {
        assert_eq!(verb(&Method::GET, Some("watch=true"), "/api/v1/namespaces/default/pods"), "WATCH");
        assert_eq!(verb(&Method::GET, Some("limit=500"), "/api/v1/namespaces/default/pods"), "LIST");
        assert_eq!(verb(&Method::GET, None, "/api/v1/pods"), "LIST");
        assert_eq!(verb(&Method::GET, None, "/apis/node.k8s.io/v1/runtimeclasses"), "LIST");
        assert_eq!(verb(&Method::GET, None, "/apis/node.k8s.io/v1/runtimeclasses/kata"), "GET");
        assert_eq!(verb(&Method::GET, None, "/apis/node.k8s.io/v1/watch/runtimeclasses"), "WATCH");
        assert_eq!(verb(&Method::GET, None, "/apis/node.k8s.io/v1"), "GET");
        assert_eq!(verb(&Method::GET, None, "/api/v1/namespaces/default/pods/web"), "GET");
        assert_eq!(verb(&Method::GET, None, "/api/v1/namespaces"), "LIST");
        assert_eq!(verb(&Method::GET, None, "/api/v1/namespaces/default"), "GET");
        assert_eq!(verb(&Method::DELETE, None, "/api/v1/namespaces/default/pods/web"), "DELETE");
    }

    #[test]
    fn request_counters() {
        let m = HttpMetrics::default();
        m.observe("GET", 200, 0.001);
        let mut s = String::new();
        m.render(&mut s);
        assert!(s.contains("apiserver_request_total{verb=\"GET\",code=\"200\"} 1"));
    }
}
