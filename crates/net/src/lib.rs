//! Pod networking: pinned network namespaces, the files kubelet writes for a
//! pod (/etc/hosts, /etc/resolv.conf, /etc/hostname), and the CNI pod
//! network (`cni::CniNetwork`) behind the `Network` seam.

pub mod cni;
pub mod etc_files;
pub mod netns;
pub mod network;

use std::path::PathBuf;

pub use cni::{CniConfig, CniNetwork, DefaultNetwork};
pub use network::{BoxFuture, LoopbackOnly, NetRequest, NetResult, Network, PortMap};

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A file-system or process-spawning failure; `context` names the path
    /// or the action.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A CNI configuration file (or the default network settings) is
    /// unusable; `path` is the file, `field` the offending key.
    #[error("CNI config {}: {field}: {message}", path.display())]
    Config { path: PathBuf, field: String, message: String },
    /// A plugin named by a configuration is not an executable in any of
    /// the plugin directories.
    #[error("CNI plugin {plugin:?} not found in {dirs}")]
    PluginNotFound { plugin: String, dirs: String },
    /// A plugin ran and failed: `code`/`msg`/`details` come from the CNI
    /// error object it printed (or its exit status and stderr when it
    /// printed none).
    #[error("CNI plugin {plugin} failed ({command}): {msg}{}", detail_suffix(details))]
    Plugin { plugin: String, command: String, code: u32, msg: String, details: String },
    /// A plugin exited 0 but its output is not a CNI result.
    #[error("CNI plugin {plugin} ({command}) printed an invalid result")]
    BadResult {
        plugin: String,
        command: String,
        #[source]
        source: serde_json::Error,
    },
    /// A plugin did not finish in time and was killed.
    #[error("CNI plugin {plugin} ({command}) timed out after {secs} s")]
    Timeout { plugin: String, command: String, secs: u64 },
    /// The pod asks for a host port another pod on this network holds.
    #[error("host port {host_port}/{protocol} is already allocated to pod {holder}")]
    HostPortConflict {
        host_port: u16,
        /// Upper case, as Kubernetes spells it (`TCP`).
        protocol: String,
        /// `namespace/name` of the pod that holds the port.
        holder: String,
    },
    /// CHECK was asked for a sandbox that has no completed attachment.
    #[error("sandbox {sandbox_id} has no completed attachment to CNI network {network}")]
    NotAttached { sandbox_id: String, network: String },
    /// A request field that ends up in a file name or CNI_ARGS is invalid.
    #[error("invalid {field} {value:?}: {message}")]
    InvalidRequest { field: &'static str, value: String, message: String },
    /// An iptables command failed.
    #[error("iptables {args}: {stderr}")]
    Iptables { args: String, stderr: String },
    /// A cached attachment record cannot be read.
    #[error("CNI cache entry {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Several independent clean-up steps failed (garbage collection); the
    /// first is the source, all are listed.
    #[error("{} clean-up steps failed: {}", .0.len(), join_errors(.0))]
    Several(Vec<NetError>),
}

impl NetError {
    /// An I/O error with context (usually the path).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io { context: context.into(), source }
    }
}

fn detail_suffix(details: &str) -> String {
    if details.is_empty() { String::new() } else { format!(" ({details})") }
}

fn join_errors(errs: &[NetError]) -> String {
    errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}
