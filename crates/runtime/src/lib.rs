//! peapod's container runtime: pods as an infra ("pause") container that
//! holds the pod's namespaces plus app containers joining them, each run by
//! runc from an OCI bundle, each app container watched by a shim.
//!
//! Layout of the state directory (`RuntimeConfig::state_dir`):
//! ```text
//! runc/                      runc --root of the default handler (ours alone)
//! runtimes/<handler>/        --root of each other runtime handler (handlers.rs)
//! netns/<sandbox-id>         pinned network namespaces (nsfs bind mounts)
//! pause/rootfs/pause         the static infra binary (built by build.rs)
//! sandboxes/<id>/sandbox.json  record (written before any setup step)
//!               hostname hosts resolv.conf   pod files bound into containers
//!               ipcns utsns  pinned IPC and UTS namespaces (until the pause holds them)
//!               shm/         the pod's /dev/shm (tmpfs)
//!               bundle/config.json
//! containers/<id>/container.json  record (written before any setup step)
//!                 config.json rootfs/ upper/ work/   bundle + overlay
//!                 pid exit.json runc.log termination-log
//! ```

mod attach;
pub mod cgroups;
mod container;
pub mod cri;
mod exec;
pub mod handlers;
pub mod mounts;
pub mod oci;
mod port_forward;
pub mod runc;
mod sandbox;
pub mod seccomp;
mod service;
pub mod shim;
pub mod spec;
mod user;

pub use attach::{AttachControl, AttachSession};
pub use cri::*;
pub use exec::{ExecProcess, ExecReader, ExecSession, ExecSpec, ExecTerminal, ExecWriter};
pub use handlers::DEFAULT_HANDLER;
pub use service::{RootfsMount, RootfsProvider, RuncRuntime, RuntimeConfig, ShimCommand};

/// The infra binary, built statically from pause/pause.c.
pub static PAUSE_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pause"));

/// Errors of the runtime. `Display` is this layer's message; the cause is in `source()`.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An OCI runtime command failed; `runtime` is the binary's name (`runc`, `crun`).
    #[error("{runtime} {op} {id}: {message}")]
    Runc { runtime: String, op: &'static str, id: String, message: String },
    /// The container could not be created; the message is the runtime's (e.g. runc's exec error).
    #[error("{0}")]
    CreateFailed(String),
    #[error("sandbox {0} not found")]
    SandboxNotFound(String),
    #[error("container {0} not found")]
    ContainerNotFound(String),
    #[error("container {0} is not running")]
    ContainerNotRunning(String),
    /// `runc exec` could not start the process; the message is runc's.
    #[error("{0}")]
    ExecFailed(String),
    #[error("sandbox {0} is not ready")]
    SandboxNotReady(String),
    /// The sandbox asks for a runtime handler that is not configured (containerd's wording).
    #[error("failed to get sandbox runtime: no runtime for {0:?} is configured")]
    UnknownHandler(String),
    #[error("preparing the root filesystem: {0}")]
    Rootfs(String),
    #[error("{0}")]
    User(String),
    #[error("network: {0}")]
    Network(#[from] peapod_net::NetError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io { context: context.into(), source }
    }
}
