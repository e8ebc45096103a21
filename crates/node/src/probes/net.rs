//! Where probes and lifecycle hooks connect, and how.
//!
//! kubelet dials the pod IP from the host's network namespace; peapod does
//! the same whenever the pod has an IP (the CNI network; hostNetwork pods are
//! reached on the host IP). A pod without an IP (`--no-cni`: loopback only)
//! cannot be reached from the host, so its handlers dial the pod's own
//! loopback from inside its pinned network namespace: a short-lived thread
//! enters the namespace (`setns` changes only the calling thread), creates
//! and connects the socket there and hands it back. A socket keeps the
//! namespace it was created in, so the async side then uses it normally.
//! Never done on a tokio worker thread: those are reused.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpStream;

/// A pod as handlers see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The pod IP (the host IP for hostNetwork pods), if it has one.
    pub pod_ip: Option<String>,
    /// The pod's pinned network namespace.
    pub netns: Option<PathBuf>,
}

/// Where one handler connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// Host as it appears in URLs and error messages.
    pub host: String,
    /// Dial from inside this network namespace instead of the host's.
    pub netns: Option<PathBuf>,
}

/// A failed dial, worded as Go's net package words it (kubelet's probe
/// output is `err.Error()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    #[error("dial tcp {addr}: connect: {reason}")]
    Connect { addr: String, reason: String },
    #[error("dial tcp {addr}: i/o timeout")]
    Timeout { addr: String },
    #[error("dial tcp: lookup {host}: no such host")]
    Lookup { host: String },
    #[error("entering the pod network namespace {path}: {reason}")]
    Netns { path: String, reason: String },
    #[error("pod has no IP address to probe")]
    NoAddress,
}

impl Target {
    /// The handler's own `host` if it names one, else the pod IP, else the
    /// pod's loopback inside its namespace.
    pub fn dest(&self, host: Option<&str>) -> Result<Dest, DialError> {
        if let Some(h) = host.filter(|h| !h.is_empty()) {
            return Ok(Dest { host: h.to_owned(), netns: None });
        }
        if let Some(ip) = self.pod_ip.as_deref().filter(|i| !i.is_empty()) {
            return Ok(Dest { host: ip.to_owned(), netns: None });
        }
        match &self.netns {
            Some(ns) => Ok(Dest { host: "127.0.0.1".into(), netns: Some(ns.clone()) }),
            None => Err(DialError::NoAddress),
        }
    }
}

/// `host:port`, bracketing IPv6 literals (Go's net.JoinHostPort).
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Go's wording of a connect error (no "(os error N)" suffix).
fn reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset by peer".into(),
        HostUnreachable => "no route to host".into(),
        NetworkUnreachable => "network is unreachable".into(),
        AddrNotAvailable => "cannot assign requested address".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_ascii_lowercase(),
                None => s,
            }
        }
    }
}

/// Connect to `dest:port` within `timeout`.
pub async fn connect(dest: &Dest, port: u16, timeout: Duration) -> Result<TcpStream, DialError> {
    let addr_text = join_host_port(&dest.host, port);
    let addr: SocketAddr = match dest.host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => {
            let found = tokio::time::timeout(timeout, tokio::net::lookup_host(addr_text.as_str()))
                .await
                .map_err(|_| DialError::Timeout { addr: addr_text.clone() })?;
            found.ok().and_then(|mut a| a.next()).ok_or_else(|| DialError::Lookup { host: dest.host.clone() })?
        }
    };
    match &dest.netns {
        None => match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(DialError::Connect { addr: addr_text, reason: reason(&e) }),
            Err(_) => Err(DialError::Timeout { addr: addr_text }),
        },
        Some(ns) => connect_in_netns(ns, addr, timeout).await,
    }
}

/// Create and connect the socket inside the network namespace at `netns`.
async fn connect_in_netns(netns: &Path, addr: SocketAddr, timeout: Duration) -> Result<TcpStream, DialError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ns = netns.to_path_buf();
    let spawned = std::thread::Builder::new().name("probe-netns".into()).spawn(move || {
        let result = (|| {
            let f = std::fs::File::open(&ns)
                .map_err(|e| DialError::Netns { path: ns.display().to_string(), reason: e.to_string() })?;
            rustix::thread::move_into_link_name_space(f.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
                .map_err(|e| DialError::Netns { path: ns.display().to_string(), reason: e.to_string() })?;
            std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock {
                    DialError::Timeout { addr: addr.to_string() }
                } else {
                    DialError::Connect { addr: addr.to_string(), reason: reason(&e) }
                }
            })
        })();
        let _ = tx.send(result);
    });
    if let Err(e) = spawned {
        return Err(DialError::Netns { path: netns.display().to_string(), reason: e.to_string() });
    }
    let std_stream = rx.await.map_err(|_| DialError::Netns {
        path: netns.display().to_string(),
        reason: "the dialing thread ended without an answer".into(),
    })??;
    let io_err = |e: std::io::Error| DialError::Connect { addr: addr.to_string(), reason: reason(&e) };
    std_stream.set_nonblocking(true).map_err(io_err)?;
    TcpStream::from_std(std_stream).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let t = Target { pod_ip: Some("10.1.0.5".into()), netns: Some("/run/ns/x".into()) };
        assert_eq!(t.dest(None).unwrap(), Dest { host: "10.1.0.5".into(), netns: None });
        assert_eq!(t.dest(Some("example.test")).unwrap(), Dest { host: "example.test".into(), netns: None });
        let no_ip = Target { pod_ip: None, netns: Some("/run/ns/x".into()) };
        assert_eq!(no_ip.dest(Some("")).unwrap(), Dest { host: "127.0.0.1".into(), netns: Some("/run/ns/x".into()) });
        assert_eq!(Target::default().dest(None), Err(DialError::NoAddress));
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    }

    #[tokio::test]
    async fn refused_connections_read_like_go() {
        // A port nothing listens on: bind, learn the port, close.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let d = Dest { host: "127.0.0.1".into(), netns: None };
        let e = connect(&d, port, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(e.to_string(), format!("dial tcp 127.0.0.1:{port}: connect: connection refused"));
    }

    #[tokio::test]
    async fn dials_inside_a_network_namespace() {
        // This process's own namespace stands in for a pod's: the thread
        // enters it and connects to a listener there.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let d = Dest { host: "127.0.0.1".into(), netns: Some("/proc/self/ns/net".into()) };
        let s = connect(&d, port, Duration::from_secs(1)).await.unwrap();
        assert_eq!(s.peer_addr().unwrap().port(), port);
        let bad = Dest { host: "127.0.0.1".into(), netns: Some("/nonexistent/ns".into()) };
        assert!(matches!(connect(&bad, port, Duration::from_secs(1)).await, Err(DialError::Netns { .. })));
    }
}
