//! hostPort bookkeeping: which pod on the network holds which
//! (hostIP, hostPort, protocol). portmap happily installs two DNAT rules
//! for one port (the first one wins), so the runtime must refuse the second
//! pod itself, as the scheduler's NodePorts filter does in a cluster.
//!
//! Two mappings clash when port and protocol are equal and the host IPs are
//! equal or either is a wildcard (empty, `0.0.0.0`, `::`).

use std::collections::HashMap;

use serde_json::Value;

use crate::NetError;

/// One host port a pod holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    /// Empty for "all addresses".
    pub host_ip: String,
    pub host_port: u16,
    /// Upper case: `TCP`, `UDP`, `SCTP`.
    pub protocol: String,
}

impl HostPort {
    fn is_wildcard(&self) -> bool {
        matches!(self.host_ip.as_str(), "" | "0.0.0.0" | "::")
    }

    /// Do the two mappings compete for the same packets?
    pub fn clashes_with(&self, other: &HostPort) -> bool {
        self.host_port == other.host_port
            && self.protocol == other.protocol
            && (self.host_ip == other.host_ip || self.is_wildcard() || other.is_wildcard())
    }
}

/// The host ports in a `portMappings` capability argument.
pub(crate) fn host_ports(capability_args: &serde_json::Map<String, Value>) -> Vec<HostPort> {
    capability_args
        .get(crate::cni::request::PORT_MAPPINGS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let host_port = u16::try_from(m.get("hostPort")?.as_u64()?).ok()?;
            let protocol = m
                .get("protocol")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .unwrap_or("tcp")
                .to_ascii_uppercase();
            let host_ip = m.get("hostIP").and_then(Value::as_str).unwrap_or_default().to_owned();
            Some(HostPort { host_ip, host_port, protocol })
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Holder {
    /// `namespace/name`.
    pod: String,
    ports: Vec<HostPort>,
}

/// Host ports held per sandbox on this network.
#[derive(Debug, Default)]
pub(crate) struct PortBook {
    holders: HashMap<String, Holder>,
}

impl PortBook {
    /// Record that `sandbox_id` (pod `pod`) holds `ports`, unless another
    /// sandbox holds a clashing one. Re-reserving for the same sandbox
    /// replaces its entry.
    pub fn reserve(&mut self, sandbox_id: &str, pod: &str, ports: Vec<HostPort>) -> Result<(), NetError> {
        for want in &ports {
            for (id, h) in &self.holders {
                if id == sandbox_id {
                    continue;
                }
                if h.ports.iter().any(|held| held.clashes_with(want)) {
                    return Err(NetError::HostPortConflict {
                        host_port: want.host_port,
                        protocol: want.protocol.clone(),
                        holder: h.pod.clone(),
                    });
                }
            }
        }
        if ports.is_empty() {
            self.holders.remove(sandbox_id);
        } else {
            self.holders.insert(sandbox_id.to_owned(), Holder { pod: pod.to_owned(), ports });
        }
        Ok(())
    }

    /// Forget the sandbox's ports.
    pub fn release(&mut self, sandbox_id: &str) {
        self.holders.remove(sandbox_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hp(ip: &str, port: u16, proto: &str) -> HostPort {
        HostPort { host_ip: ip.into(), host_port: port, protocol: proto.into() }
    }

    #[test]
    fn clash_table() {
        let cases = [
            (hp("", 80, "TCP"), hp("", 80, "TCP"), true),
            (hp("", 80, "TCP"), hp("", 80, "UDP"), false),
            (hp("", 80, "TCP"), hp("", 81, "TCP"), false),
            (hp("", 80, "TCP"), hp("10.0.0.1", 80, "TCP"), true),
            (hp("0.0.0.0", 80, "TCP"), hp("10.0.0.1", 80, "TCP"), true),
            (hp("10.0.0.2", 80, "TCP"), hp("10.0.0.1", 80, "TCP"), false),
            (hp("10.0.0.1", 80, "TCP"), hp("10.0.0.1", 80, "TCP"), true),
            (hp("::", 80, "TCP"), hp("127.0.0.1", 80, "TCP"), true),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.clashes_with(&b), want, "{a:?} {b:?}");
            assert_eq!(b.clashes_with(&a), want, "{b:?} {a:?}");
        }
    }

    #[test]
    fn from_capability_args() {
        let v = json!({"portMappings":[
            {"hostPort":8888,"containerPort":80,"protocol":"tcp","hostIP":""},
            {"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"},
            {"hostPort":99999,"containerPort":1},
            {"hostPort":7,"containerPort":7}
        ]});
        let Value::Object(m) = v else { panic!() };
        assert_eq!(host_ports(&m), [hp("", 8888, "TCP"), hp("127.0.0.1", 53, "UDP"), hp("", 7, "TCP")]);
        assert!(host_ports(&serde_json::Map::new()).is_empty());
    }

    #[test]
    fn book() {
        let mut b = PortBook::default();
        b.reserve("a", "default/hexo", vec![hp("", 8888, "TCP")]).unwrap();
        let err = b.reserve("b", "default/other", vec![hp("", 8888, "TCP")]).unwrap_err();
        assert_eq!(err.to_string(), "host port 8888/TCP is already allocated to pod default/hexo");
        // Other protocol, other port: fine.
        b.reserve("b", "default/other", vec![hp("", 8888, "UDP"), hp("", 8889, "TCP")]).unwrap();
        // The same sandbox may re-reserve its own ports.
        b.reserve("a", "default/hexo", vec![hp("", 8888, "TCP")]).unwrap();
        b.release("a");
        b.reserve("c", "x/y", vec![hp("", 8888, "TCP")]).unwrap();
        // No ports: nothing recorded, nothing refused.
        b.reserve("d", "x/z", vec![]).unwrap();
        assert!(!b.holders.contains_key("d"));
    }
}
