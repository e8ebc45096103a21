//! Port forwarding (`kubectl port-forward`): a TCP connection to a port on
//! the pod's loopback, made from inside the pod's network namespace.
//!
//! A socket belongs to the network namespace it was created in, whatever
//! thread later uses it. So a short-lived thread of our own enters the
//! sandbox's pinned namespace with `setns`, creates and connects the socket,
//! hands it back and exits; the namespace change dies with the thread. A
//! pooled thread (tokio's blocking pool) must never do this: it would stay
//! in the pod's namespace for whatever runs on it next.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use rustix::thread::LinkNameSpaceType;

use crate::RuntimeError;
use crate::cri::RuntimeService;
use crate::service::RuncRuntime;

/// How long a connect inside the pod may take (loopback: refused or accepted at once).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl RuncRuntime {
    /// Connect to `port` on the loopback of the pod whose sandbox is `sandbox_id`
    /// (the host's loopback for a host-network pod).
    pub async fn port_forward(&self, sandbox_id: &str, port: u16) -> Result<tokio::net::TcpStream, RuntimeError> {
        let status = self.pod_sandbox_status(sandbox_id).await?;
        if status.state != crate::cri::SandboxState::Ready {
            return Err(RuntimeError::SandboxNotReady(sandbox_id.into()));
        }
        let netns = self.sandbox_netns(sandbox_id);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("netns-connect".into())
            .spawn(move || {
                let _ = tx.send(connect_in(netns.as_deref(), port));
            })
            .map_err(|e| RuntimeError::io("starting a thread for port forwarding", e))?;
        let std_stream = rx.await.map_err(|_| {
            RuntimeError::io("port forwarding", std::io::Error::other("the connecting thread ended early"))
        })??;
        tokio::net::TcpStream::from_std(std_stream).map_err(|e| RuntimeError::io("registering the forwarded socket", e))
    }
}

/// On the calling (dedicated) thread: enter `netns` if given, then connect
/// to `port` on IPv4 loopback, falling back to IPv6 loopback.
fn connect_in(netns: Option<&Path>, port: u16) -> Result<TcpStream, RuntimeError> {
    if let Some(path) = netns {
        enter_netns(path)?;
    }
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = match TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(e4) => TcpStream::connect_timeout(&SocketAddr::from((Ipv6Addr::LOCALHOST, port)), CONNECT_TIMEOUT)
            .map_err(|_| RuntimeError::io(format!("connecting to port {port} in the pod"), e4))?,
    };
    stream.set_nonblocking(true).map_err(|e| RuntimeError::io("setting the forwarded socket non-blocking", e))?;
    Ok(stream)
}

fn enter_netns(path: &Path) -> Result<(), RuntimeError> {
    let err =
        |e: rustix::io::Errno| RuntimeError::io(format!("entering network namespace {}", path.display()), e.into());
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(err)?;
    rustix::thread::move_into_link_name_space(fd.as_fd(), Some(LinkNameSpaceType::Network)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_on_the_host_loopback_without_a_namespace() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let s = std::thread::spawn(move || connect_in(None, port)).join().unwrap().unwrap();
        assert_eq!(s.peer_addr().unwrap().port(), port);
    }

    #[test]
    fn refused_is_an_error_naming_the_port() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = std::thread::spawn(move || connect_in(None, port)).join().unwrap().unwrap_err();
        assert!(e.to_string().contains(&port.to_string()), "{e}");
    }
}
