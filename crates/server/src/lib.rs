//! peapod's Kubernetes-compatible API server: the core/v1 subset kubectl
//! needs plus node.k8s.io/v1 RuntimeClasses (discovery, CRUD, patch and
//! server-side apply, watch, Tables, logs, exec/attach/port-forward
//! streams) over HTTPS with a bearer token, backed by the embedded store.
//! Handlers only write intent to the store; the node agent does the host
//! work.

// Handlers return `Result<_, HttpError>` whose error is a full Status body;
// boxing it would only move the allocation, errors are not a hot path.
#![allow(clippy::result_large_err)]

mod admission;
mod apply;
mod discovery;
pub mod error;
mod handlers;
mod images;
mod logs;
pub mod metrics;
pub mod namespaces;
pub mod pki;
mod protobuf;
mod query;
mod serve;
mod streams;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;

pub use pki::Pki;
pub use serve::{router, serve};
pub use streams::{AttachIo, ExecRequest, NodeFuture, ProcessIo, StreamError, TerminalSize};

/// What the server needs from the node agent (pod logs, images in use, and
/// the streams of exec, attach and port-forward).
pub trait NodeAccess: Send + Sync + 'static {
    /// The CRI log file of container instance `container_id` (the id in the
    /// pod status, without the `runc://` prefix) of a pod.
    fn log_file(&self, pod_uid: &str, container_id: &str) -> Option<LogFile>;
    /// Image ids used by containers on this node.
    fn images_in_use(&self) -> Vec<String>;
    /// The node agent's metrics, in the Prometheus text format (appended to /metrics).
    fn metrics_text(&self) -> String {
        String::new()
    }
    /// Start a process in a running container of a pod (`pods/exec`).
    fn exec(&self, req: ExecRequest) -> NodeFuture<'_, Result<ProcessIo, StreamError>>;
    /// The stdin and terminal of a running container (`pods/attach`).
    fn attach<'a>(
        &'a self,
        pod_uid: &'a str,
        container_id: &'a str,
        stdin: bool,
    ) -> NodeFuture<'a, Result<AttachIo, StreamError>>;
    /// A TCP connection to `port` on the loopback of the pod (`pods/portforward`).
    fn port_forward<'a>(
        &'a self,
        pod_uid: &'a str,
        port: u16,
    ) -> NodeFuture<'a, Result<tokio::net::TcpStream, StreamError>>;
}

/// A container's log file and whether the container may still write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    pub running: bool,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: peapod_store::Store,
    pub images: peapod_image::ImageStore,
    pub node: Arc<dyn NodeAccess>,
    pub node_name: String,
    pub token: String,
    /// host:port clients reach us at (discovery's serverAddressByClientCIDRs).
    pub server_address: String,
    /// Directory for request temp files (image uploads).
    pub tmp_dir: PathBuf,
    /// API request metrics.
    pub metrics: Arc<metrics::HttpMetrics>,
}

/// Create the namespaces every cluster has.
pub fn bootstrap(store: &peapod_store::Store) -> Result<(), peapod_store::StoreError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let key = peapod_store::ObjKey::new("namespaces", "", ns);
        if store.get(&key).is_some() {
            continue;
        }
        let obj = admission::new_namespace(ns);
        match store.create(&key, obj) {
            Ok(_) | Err(peapod_store::StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
