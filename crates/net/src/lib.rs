//! Pod networking: pinned network namespaces, the files kubelet writes for a
//! pod (/etc/hosts, /etc/resolv.conf, /etc/hostname), and (later) CNI.

pub mod etc_files;
pub mod netns;
pub mod network;

pub use network::{BoxFuture, LoopbackOnly, NetRequest, NetResult, Network, PortMap};

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io {
            context: context.into(),
            source,
        }
    }
}
