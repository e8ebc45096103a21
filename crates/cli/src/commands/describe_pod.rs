//! `describe pod`: kubectl's `describePod`, field for field, over the JSON
//! object (Name … Containers … Conditions, Volumes, QoS Class, Node-Selectors,
//! Tolerations; events are added by the caller).

use jiff::Timestamp;
use serde_json::Value;

use super::describe::{PrefixWriter, annotations_multiline, labels_multiline, s, v_text};
use super::describe_container::{describe_containers, describe_resources};
use crate::printers::humanize::{k8s_duration, rfc1123z};

/// Write a pod's description (without events).
pub fn describe(w: &mut PrefixWriter, pod: &Value, now: Timestamp) {
    w.write(0, &format!("Name:\t{}\n", s(pod, "/metadata/name")));
    w.write(0, &format!("Namespace:\t{}\n", s(pod, "/metadata/namespace")));
    if let Some(p) = pod.pointer("/spec/priority").filter(|p| !p.is_null()) {
        w.write(0, &format!("Priority:\t{}\n", v_text(Some(p))));
    }
    let pcn = s(pod, "/spec/priorityClassName");
    if !pcn.is_empty() {
        w.write(0, &format!("Priority Class Name:\t{pcn}\n"));
    }
    let rcn = s(pod, "/spec/runtimeClassName");
    if !rcn.is_empty() {
        w.write(0, &format!("Runtime Class Name:\t{rcn}\n"));
    }
    let sa = s(pod, "/spec/serviceAccountName");
    if !sa.is_empty() {
        w.write(0, &format!("Service Account:\t{sa}\n"));
    }
    let node = s(pod, "/spec/nodeName");
    if node.is_empty() {
        w.write(0, "Node:\t<none>\n");
    } else {
        w.write(0, &format!("Node:\t{node}/{}\n", s(pod, "/status/hostIP")));
    }
    let start = s(pod, "/status/startTime");
    if !start.is_empty() {
        w.write(0, &format!("Start Time:\t{}\n", rfc1123z(start)));
    }
    labels_multiline(w, "Labels", pod.pointer("/metadata/labels"));
    annotations_multiline(w, "Annotations", pod.pointer("/metadata/annotations"));
    let phase = s(pod, "/status/phase");
    let deletion = s(pod, "/metadata/deletionTimestamp");
    if !deletion.is_empty() && phase != "Failed" && phase != "Succeeded" {
        let lasts = deletion
            .parse::<Timestamp>()
            .map(|t| k8s_duration(now.as_second() - t.as_second()))
            .unwrap_or_else(|_| "<unknown>".into());
        w.write(0, &format!("Status:\tTerminating (lasts {lasts})\n"));
        let grace = pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
        w.write(0, &format!("Termination Grace Period:\t{grace}s\n"));
    } else {
        w.write(0, &format!("Status:\t{phase}\n"));
    }
    for (label, ptr) in [("Reason", "/status/reason"), ("Message", "/status/message")] {
        let v = s(pod, ptr);
        if !v.is_empty() {
            w.write(0, &format!("{label}:\t{v}\n"));
        }
    }
    let seccomp = s(pod, "/spec/securityContext/seccompProfile/type");
    if !seccomp.is_empty() {
        w.write(0, &format!("SeccompProfile:\t{seccomp}\n"));
        if seccomp == "Localhost" {
            w.write(
                0,
                &format!("LocalhostProfile:\t{}\n", s(pod, "/spec/securityContext/seccompProfile/localhostProfile")),
            );
        }
    }
    w.write(0, &format!("IP:\t{}\n", s(pod, "/status/podIP")));
    match pod.pointer("/status/podIPs").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        None => w.write(0, "IPs:\t<none>\n"),
        Some(ips) => {
            w.write(0, "IPs:\n");
            for ip in ips {
                w.write(1, &format!("IP:\t{}\n", s(ip, "/ip")));
            }
        }
    }
    if let Some(owner) = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|o| o.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true)))
    {
        w.write(0, &format!("Controlled By:\t{}/{}\n", s(owner, "/kind"), s(owner, "/name")));
    }
    let nominated = s(pod, "/status/nominatedNodeName");
    if !nominated.is_empty() {
        w.write(0, &format!("NominatedNodeName:\t{nominated}\n"));
    }
    if let Some(r) = pod.pointer("/spec/resources").filter(|r| r.is_object()) {
        w.write(0, "Resources:\n");
        describe_resources(w, r, 1);
    }
    let statuses = |ptr: &str| pod.pointer(ptr).and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(init) = pod.pointer("/spec/initContainers").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        describe_containers(w, "Init Containers", init, &statuses("/status/initContainerStatuses"), pod);
    }
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    describe_containers(w, "Containers", &containers, &statuses("/status/containerStatuses"), pod);
    if let Some(gates) = pod.pointer("/spec/readinessGates").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        w.write(0, "Readiness Gates:\n  Type\tStatus\n");
        for g in gates {
            let t = s(g, "/conditionType");
            let status = conditions(pod)
                .iter()
                .find(|c| s(c, "/type") == t)
                .map(|c| s(c, "/status").to_string())
                .unwrap_or_else(|| "<none>".into());
            w.write(1, &format!("{t} \t{status} \n"));
        }
    }
    let conds = conditions(pod);
    if !conds.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\n");
        for c in &conds {
            w.write(1, &format!("{} \t{} \n", s(c, "/type"), s(c, "/status")));
        }
    }
    describe_volumes(w, pod.pointer("/spec/volumes"));
    w.write(0, &format!("QoS Class:\t{}\n", qos_class(pod)));
    labels_multiline(w, "Node-Selectors", pod.pointer("/spec/nodeSelector"));
    tolerations(w, pod.pointer("/spec/tolerations"));
}

fn conditions(pod: &Value) -> Vec<Value> {
    pod.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn describe_volumes(w: &mut PrefixWriter, volumes: Option<&Value>) {
    let Some(vols) = volumes.and_then(Value::as_array).filter(|a| !a.is_empty()) else {
        w.write(0, "Volumes:\t<none>\n");
        return;
    };
    w.write(0, "Volumes:\n");
    for v in vols {
        w.write(1, &format!("{}:\n", s(v, "/name")));
        let optional = |x: &Value| x.get("optional").and_then(Value::as_bool).unwrap_or(false);
        if let Some(h) = v.get("hostPath").filter(|x| x.is_object()) {
            let ty = s(h, "/type");
            w.write(
                2,
                &format!(
                    "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{}\n",
                    s(h, "/path"),
                    if h.get("type").is_some_and(|t| !t.is_null()) { ty } else { "<none>" }
                ),
            );
        } else if let Some(e) = v.get("emptyDir").filter(|x| x.is_object()) {
            let limit = s(e, "/sizeLimit");
            w.write(
                2,
                &format!(
                    "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{}\n",
                    s(e, "/medium"),
                    if limit.is_empty() || limit == "0" { "<unset>" } else { limit }
                ),
            );
        } else if let Some(sec) = v.get("secret").filter(|x| x.is_object()) {
            w.write(
                2,
                &format!(
                    "Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
                    s(sec, "/secretName"),
                    optional(sec)
                ),
            );
        } else if let Some(cm) = v.get("configMap").filter(|x| x.is_object()) {
            w.write(
                2,
                &format!(
                    "Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
                    s(cm, "/name"),
                    optional(cm)
                ),
            );
        } else if let Some(p) = v.get("projected").filter(|x| x.is_object()) {
            w.write(2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n");
            for src in p.get("sources").and_then(Value::as_array).into_iter().flatten() {
                if let Some(sec) = src.get("secret").filter(|x| x.is_object()) {
                    w.write(2, &format!("SecretName:\t{}\n    Optional:\t{}\n", s(sec, "/name"), optional(sec)));
                } else if src.get("downwardAPI").is_some_and(Value::is_object) {
                    w.write(2, "DownwardAPI:\ttrue\n");
                } else if let Some(cm) = src.get("configMap").filter(|x| x.is_object()) {
                    w.write(2, &format!("ConfigMapName:\t{}\n    Optional:\t{}\n", s(cm, "/name"), optional(cm)));
                } else if let Some(t) = src.get("serviceAccountToken").filter(|x| x.is_object()) {
                    w.write(2, &format!("TokenExpirationSeconds:\t{}\n", v_text(t.get("expirationSeconds"))));
                }
            }
        } else if let Some(d) = v.get("downwardAPI").filter(|x| x.is_object()) {
            w.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n");
            for item in d.get("items").and_then(Value::as_array).into_iter().flatten() {
                if let Some(f) = item.get("fieldRef") {
                    w.write(3, &format!("{} -> {}\n", s(f, "/fieldPath"), s(item, "/path")));
                }
                if let Some(r) = item.get("resourceFieldRef") {
                    w.write(3, &format!("{} -> {}\n", s(r, "/resource"), s(item, "/path")));
                }
            }
        } else if let Some(pvc) = v.get("persistentVolumeClaim").filter(|x| x.is_object()) {
            w.write(
                2,
                &format!(
                    "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
                    s(pvc, "/claimName"),
                    pvc.get("readOnly").and_then(Value::as_bool).unwrap_or(false)
                ),
            );
        } else {
            w.write(1, "<unknown>\n");
        }
    }
}

/// `status.qosClass`, or kubectl's computation when the server left it out.
fn qos_class(pod: &Value) -> String {
    let q = s(pod, "/status/qosClass");
    if !q.is_empty() {
        return q.to_string();
    }
    let mut any = false;
    let mut guaranteed = true;
    let all: Vec<&Value> = ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .collect();
    for c in all {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        for res in ["cpu", "memory"] {
            let r = req.and_then(|m| m.get(res));
            let l = lim.and_then(|m| m.get(res));
            if r.is_some() || l.is_some() {
                any = true;
            }
            match (r, l) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort".into(),
        (true, true) => "Guaranteed".into(),
        _ => "Burstable".into(),
    }
}

fn tolerations(w: &mut PrefixWriter, t: Option<&Value>) {
    w.write(0, "Tolerations:\t");
    let mut list: Vec<&Value> = t.and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    if list.is_empty() {
        w.write(0, "<none>\n");
        return;
    }
    list.sort_by(|a, b| s(a, "/key").cmp(s(b, "/key")));
    for (i, t) in list.iter().enumerate() {
        if i > 0 {
            w.write(0, "\t");
        }
        let (key, value, effect) = (s(t, "/key"), s(t, "/value"), s(t, "/effect"));
        let mut line = key.to_string();
        if !value.is_empty() {
            line.push_str(&format!("={value}"));
        }
        if !effect.is_empty() {
            line.push_str(&format!(":{effect}"));
        }
        if s(t, "/operator") == "Exists" && value.is_empty() {
            line.push_str(if key.is_empty() && effect.is_empty() { "op=Exists" } else { " op=Exists" });
        }
        if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            line.push_str(&format!(" for {secs}s"));
        }
        w.write(0, &format!("{line}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::describe::describe_object;
    use crate::resources;
    use serde_json::json;

    /// The pod kubectl 1.33 described in the kwire stub, and its output.
    #[test]
    fn matches_kubectl_describe_pod() {
        let pod = json!({
          "apiVersion": "v1", "kind": "Pod",
          "metadata": {"name": "web", "namespace": "default", "uid": "6409", "labels": {"app": "web"},
                       "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
          "spec": {"containers": [{"image": "nginx:1.27", "imagePullPolicy": "IfNotPresent", "name": "main",
                                   "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {}}],
                   "nodeName": "kwire-node", "priority": 0, "serviceAccountName": "default"},
          "status": {
            "conditions": [
              {"status": "True", "type": "PodReadyToStartContainers"}, {"status": "True", "type": "Initialized"},
              {"status": "True", "type": "Ready"}, {"status": "True", "type": "ContainersReady"},
              {"status": "True", "type": "PodScheduled"}],
            "containerStatuses": [{"containerID": "containerd://3f9f", "image": "nginx:1.27",
              "imageID": "docker.io/library/nginx:1.27@sha256:00", "lastState": {}, "name": "main", "ready": true,
              "restartCount": 0, "started": true, "state": {"running": {"startedAt": "2026-11-22T10:25:44Z"}}}],
            "hostIP": "127.0.0.1", "phase": "Running", "podIP": "10.88.0.9", "podIPs": [{"ip": "10.88.0.9"}],
            "qosClass": "BestEffort", "startTime": "2026-11-22T10:25:44Z"}});
        let now: Timestamp = "2026-11-22T10:25:49Z".parse().unwrap();
        let ev = |reason: &str, comp: &str, msg: &str| {
            json!({"type": "Normal", "reason": reason, "message": msg, "source": {"component": comp},
                   "firstTimestamp": "2026-11-22T10:25:44Z", "lastTimestamp": "2026-11-22T10:25:44Z", "count": 1})
        };
        let events = [
            ev("Scheduled", "default-scheduler", "Successfully assigned default/web to kwire-node"),
            ev("Pulled", "kubelet", "Container image \"nginx:1.27\" already present on machine"),
            ev("Created", "kubelet", "Created container main"),
            ev("Started", "kubelet", "Started container main"),
        ];
        let got = describe_object(resources::POD, &pod, Some(&events), now);
        // Times print in the local zone, like kubectl; compare in UTC terms.
        let start = rfc1123z("2026-11-22T10:25:44Z");
        let want = format!(
            "Name:             web
Namespace:        default
Priority:         0
Service Account:  default
Node:             kwire-node/127.0.0.1
Start Time:       {start}
Labels:           app=web
Annotations:      <none>
Status:           Running
IP:               10.88.0.9
IPs:
  IP:  10.88.0.9
Containers:
  main:
    Container ID:   containerd://3f9f
    Image:          nginx:1.27
    Image ID:       docker.io/library/nginx:1.27@sha256:00
    Port:           80/TCP
    Host Port:      0/TCP
    State:          Running
      Started:      {start}
    Ready:          True
    Restart Count:  0
    Environment:    <none>
    Mounts:         <none>
Conditions:
  Type                        Status
  PodReadyToStartContainers   True 
  Initialized                 True 
  Ready                       True 
  ContainersReady             True 
  PodScheduled                True 
Volumes:                      <none>
QoS Class:                    BestEffort
Node-Selectors:               <none>
Tolerations:                  <none>
Events:
  Type    Reason     Age   From               Message
  ----    ------     ----  ----               -------
  Normal  Scheduled  5s    default-scheduler  Successfully assigned default/web to kwire-node
  Normal  Pulled     5s    kubelet            Container image \"nginx:1.27\" already present on machine
  Normal  Created    5s    kubelet            Created container main
  Normal  Started    5s    kubelet            Started container main
"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn qos() {
        let pod = |res: Value| json!({"spec": {"containers": [{"resources": res}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}})
            )),
            "Guaranteed"
        );
        assert_eq!(qos_class(&pod(json!({"requests": {"cpu": "1"}}))), "Burstable");
    }
}
