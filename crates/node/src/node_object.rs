//! This machine as the cluster's one Node: registered at start, its Ready
//! condition and heartbeat kept current, capacity from the host.

use jiff::Timestamp;
use serde_json::{Value, json};

use peapod_store::{Mutation, ObjKey, Store};

/// Facts about the host, read once.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub cpus: u64,
    pub memory_kib: u64,
    pub kernel: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub hostname: String,
    pub runtime_version: String,
}

impl HostFacts {
    pub fn detect(runtime_version: &str) -> HostFacts {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_owned();
        let meminfo = read("/proc/meminfo");
        let memory_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let os_release = read("/etc/os-release");
        let os_image = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| "Linux".into());
        HostFacts {
            cpus: std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
            memory_kib,
            kernel: read("/proc/sys/kernel/osrelease"),
            os_image,
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            hostname: read("/proc/sys/kernel/hostname"),
            runtime_version: runtime_version.to_owned(),
        }
    }
}

fn now() -> String {
    crate::clock::whole_seconds(Timestamp::now()).to_string()
}

fn conditions(ts: &str, prev: Option<&Value>) -> Value {
    let transition = |t: &str, status: &str| -> String {
        prev.and_then(|p| p.as_array())
            .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == status))
            .and_then(|c| c["lastTransitionTime"].as_str())
            .unwrap_or(ts)
            .to_owned()
    };
    let c = |t: &str, status: &str, reason: &str, message: &str| json!({"type": t, "status": status, "lastHeartbeatTime": ts, "lastTransitionTime": transition(t, status), "reason": reason, "message": message});
    json!([
        c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        c("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ])
}

/// The full Node object for this machine.
pub fn node_object(name: &str, host_ip: &str, h: &HostFacts, max_pods: u32, prev: Option<&Value>) -> Value {
    let ts = now();
    let capacity = json!({
        "cpu": h.cpus.to_string(),
        "memory": format!("{}Ki", h.memory_kib),
        "pods": max_pods.to_string(),
        "ephemeral-storage": "0",
        "hugepages-2Mi": "0",
    });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": conditions(&ts, prev.and_then(|p| p.pointer("/status/conditions"))),
            "addresses": [{"type": "InternalIP", "address": host_ip}, {"type": "Hostname", "address": h.hostname}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": h.machine_id,
                "systemUUID": h.machine_id,
                "bootID": h.boot_id,
                "kernelVersion": h.kernel,
                "osImage": h.os_image,
                "containerRuntimeVersion": h.runtime_version,
                "kubeletVersion": format!("v1.35.0-peapod.{}", env!("CARGO_PKG_VERSION")),
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
    })
}

/// Create or refresh the Node object (heartbeat).
pub fn register(store: &Store, name: &str, host_ip: &str, h: &HostFacts, max_pods: u32, labels: &[(String, String)]) {
    let key = ObjKey::new("nodes", "", name);
    let _ = store.update_with(&key, |cur| -> Result<Mutation, ()> {
        let mut obj = node_object(name, host_ip, h, max_pods, cur);
        match cur {
            Some(c) => {
                // Keep identity and what users set (labels they added).
                obj["metadata"] = c["metadata"].clone();
                for (k, v) in labels {
                    obj["metadata"]["labels"][k] = json!(v);
                }
                obj["spec"] = c["spec"].clone();
            }
            None => {
                for (k, v) in labels {
                    obj["metadata"]["labels"][k] = json!(v);
                }
                obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
                obj["metadata"]["creationTimestamp"] = json!(now());
            }
        }
        Ok(Mutation::Put(obj))
    });
}

/// This machine's primary IPv4 address (the source of its default route).
pub fn host_ip() -> String {
    // The kernel picks the source address for a UDP "connection"; nothing is sent.
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.255:9")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .ok()
        .filter(|ip| ip != "0.0.0.0")
        .unwrap_or_else(|| "127.0.0.1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_heartbeats_keep_transition_times() {
        let store = Store::open_in_memory(Default::default()).unwrap();
        let h = HostFacts::detect("runc 1.1.5");
        register(&store, "n1", "192.0.2.2", &h, 110, &[("zone".into(), "a".into())]);
        let n1 = store.get(&ObjKey::new("nodes", "", "n1")).unwrap();
        assert_eq!(n1["status"]["conditions"][3]["type"], "Ready");
        assert!(n1["metadata"]["uid"].is_string());
        assert_eq!(n1["metadata"]["labels"]["zone"], "a");
        register(&store, "n1", "192.0.2.2", &h, 110, &[("zone".into(), "a".into())]);
        let n2 = store.get(&ObjKey::new("nodes", "", "n1")).unwrap();
        assert_eq!(n1["metadata"]["uid"], n2["metadata"]["uid"]);
        assert_eq!(
            n1["status"]["conditions"][3]["lastTransitionTime"],
            n2["status"]["conditions"][3]["lastTransitionTime"]
        );
        assert!(!host_ip().is_empty());
    }
}
