//! The node agent's metrics, kubelet's names: how long pods take from the
//! node first seeing them to all their containers running.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodStatus;
use peapod_api::metrics::Histogram;

/// Buckets of kubelet_pod_start_duration_seconds (kubelet's, trimmed).
pub const POD_START_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];

#[derive(Debug, Default)]
pub struct NodeMetrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    first_seen: HashMap<String, Timestamp>,
    started: HashSet<String>,
    pod_start: Histogram,
}

/// Every container of the pod has a running state.
fn all_running(s: &PodStatus) -> bool {
    s.container_statuses
        .as_ref()
        .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.state.as_ref().is_some_and(|st| st.running.is_some())))
}

impl NodeMetrics {
    /// Called with every status the node computes for a pod: the first call
    /// marks when the node saw it, the first all-running one ends the clock.
    pub fn observe_status(&self, uid: &str, status: &PodStatus, now: Timestamp) {
        let mut m = self.inner.lock().expect("lock");
        let seen = *m.first_seen.entry(uid.to_owned()).or_insert(now);
        if !m.started.contains(uid) && all_running(status) {
            m.started.insert(uid.to_owned());
            let secs = now.duration_since(seen).as_secs_f64().max(0.0);
            m.pod_start.observe(secs, POD_START_BUCKETS);
        }
    }

    /// The pod is gone: forget it.
    pub fn forget(&self, uid: &str) {
        let mut m = self.inner.lock().expect("lock");
        m.first_seen.remove(uid);
        m.started.remove(uid);
    }

    pub fn render(&self, out: &mut String) {
        let m = self.inner.lock().expect("lock");
        out.push_str("# HELP kubelet_pod_start_duration_seconds Duration from the node seeing a pod to all its containers running.\n");
        out.push_str("# TYPE kubelet_pod_start_duration_seconds histogram\n");
        m.pod_start.render(out, "kubelet_pod_start_duration_seconds", "", POD_START_BUCKETS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateRunning, ContainerStatus};

    #[test]
    fn measures_first_sight_to_all_running_once() {
        let m = NodeMetrics::default();
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let pending = PodStatus::default();
        let running = PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                state: Some(ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        m.observe_status("u", &pending, t0);
        m.observe_status("u", &running, t0 + jiff::SignedDuration::from_millis(300));
        m.observe_status("u", &running, t0 + jiff::SignedDuration::from_secs(9));
        let mut s = String::new();
        m.render(&mut s);
        assert!(s.contains("kubelet_pod_start_duration_seconds_count 1\n"), "{s}");
        assert!(s.contains("kubelet_pod_start_duration_seconds_bucket{le=\"0.5\"} 1\n"), "{s}");
        assert!(s.contains("kubelet_pod_start_duration_seconds_bucket{le=\"0.25\"} 0\n"), "{s}");
    }
}
