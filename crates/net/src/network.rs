//! The `Network` seam: attach a pod's pinned network namespace to the node
//! network and detach it again. The CNI implementation lives in `cni`;
//! `LoopbackOnly` is the implementation for nodes without a pod network
//! (the namespace still has `lo` up, from `netns::create_pinned`).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::NetError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A hostPort mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    pub protocol: String,
    pub container_port: u16,
    pub host_port: u16,
    pub host_ip: String,
}

/// Everything a network plugin needs to know about the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRequest {
    /// Sandbox (infra container) id: CNI_CONTAINERID.
    pub sandbox_id: String,
    pub netns: PathBuf,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    pub port_mappings: Vec<PortMap>,
}

/// What the pod got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetResult {
    pub ips: Vec<String>,
}

pub trait Network: Send + Sync + 'static {
    fn setup<'a>(&'a self, req: &'a NetRequest) -> BoxFuture<'a, Result<NetResult, NetError>>;
    /// Must succeed for a pod that was never (or only partly) set up, and when
    /// the namespace is already gone: teardown runs after crashes.
    fn teardown<'a>(&'a self, req: &'a NetRequest) -> BoxFuture<'a, Result<(), NetError>>;
    /// The daemon is stopping: remove what the network keeps for all its
    /// pods, if no pod is attached any more (pods outlive the daemon).
    fn shutdown(&self) -> BoxFuture<'_, Result<(), NetError>> {
        Box::pin(async { Ok(()) })
    }
}

/// No pod network: pods only have loopback.
#[derive(Debug, Default, Clone)]
pub struct LoopbackOnly;

impl Network for LoopbackOnly {
    fn setup<'a>(&'a self, _req: &'a NetRequest) -> BoxFuture<'a, Result<NetResult, NetError>> {
        Box::pin(async { Ok(NetResult::default()) })
    }
    fn teardown<'a>(&'a self, _req: &'a NetRequest) -> BoxFuture<'a, Result<(), NetError>> {
        Box::pin(async { Ok(()) })
    }
}
