//! Pod rows: NAME READY STATUS RESTARTS AGE (+ IP NODE NOMINATED NODE
//! READINESS GATES), computed exactly as the apiserver's `printPod`,
//! including init containers (`Init:1/2`, `Init:CrashLoopBackOff`), sidecars
//! (restartable init containers count in READY and RESTARTS), the last
//! container reason, `Completed` pods with a running container shown as
//! `Running`/`NotReady`, and `Terminating`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Column, Row, age, since, text, timestamp};

pub(super) fn columns() -> Vec<Column> {
    vec![
        Column::name_column(),
        Column::new("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        Column::new("Status", "string", "The aggregate status of the containers in this pod."),
        Column::new(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        Column::age_column(),
        Column::new("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.").wide(),
        Column::new("Node", "string", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.").wide(),
        Column::new("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.").wide(),
        Column::new("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.").wide(),
    ]
}

fn list<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn condition_true(pod: &Value, type_: &str) -> bool {
    list(pod, "/status/conditions").iter().find(|c| c["type"] == type_).is_some_and(|c| c["status"] == "True")
}

fn is_restartable(pod: &Value, name: &str) -> bool {
    list(pod, "/spec/initContainers").iter().any(|c| c["name"] == name && c["restartPolicy"] == "Always")
}

/// The `state.terminated` reason text of a container that ended.
fn terminated_reason(t: &Value) -> String {
    let reason = text(t, "/reason");
    if !reason.is_empty() {
        return reason.to_string();
    }
    let signal = t["signal"].as_i64().unwrap_or(0);
    if signal != 0 { format!("Signal:{signal}") } else { format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)) }
}

/// `finishedAt` of the last termination, if later than `latest`.
fn track_restart(status: &Value, latest: &mut Option<Timestamp>) {
    if let Some(t) = timestamp(status, "/lastState/terminated/finishedAt")
        && latest.is_none_or(|l| l < t)
    {
        *latest = Some(t);
    }
}

pub(super) fn row(pod: &Value, now: Timestamp) -> Row {
    let init_specs = list(pod, "/spec/initContainers");
    let total =
        list(pod, "/spec/containers").len() + init_specs.iter().filter(|c| c["restartPolicy"] == "Always").count();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = text(pod, "/status/phase");
    let mut reason = match text(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if list(pod, "/status/conditions").iter().any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated") {
        reason = "SchedulingGated".to_string();
    }

    let mut initializing = false;
    for (i, st) in list(pod, "/status/initContainerStatuses").iter().enumerate() {
        let name = text(st, "/name");
        let count = st["restartCount"].as_i64().unwrap_or(0);
        restarts += count;
        track_restart(st, &mut last_restart);
        let sidecar = is_restartable(pod, name);
        if sidecar {
            sidecar_restarts += count;
            track_restart(st, &mut last_sidecar_restart);
        }
        let terminated = st.pointer("/state/terminated");
        let waiting_reason = text(st, "/state/waiting/reason");
        if terminated.is_some_and(|t| t["exitCode"].as_i64().unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && st["started"] == true {
            if st["ready"] == true {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            format!("Init:{}", terminated_reason(t))
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Go walks the statuses backwards, so the first container's reason
        // wins.
        for st in list(pod, "/status/containerStatuses").iter().rev() {
            restarts += st["restartCount"].as_i64().unwrap_or(0);
            track_restart(st, &mut last_restart);
            let waiting = text(st, "/state/waiting/reason");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = st.pointer("/state/terminated") {
                reason = terminated_reason(t);
            } else if st["ready"] == true && st.pointer("/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") { "Running".to_string() } else { "NotReady".to_string() };
        }
    }

    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    if deleting && text(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match (restarts, last_restart) {
        (0, _) | (_, None) => restarts.to_string(),
        (n, Some(t)) => format!("{n} ({} ago)", since(Some(t), now)),
    };

    let pod_ip = match text(pod, "/status/podIPs/0/ip") {
        "" => "<none>",
        ip => ip,
    };
    let none_if_empty = |s: &str| {
        if s.is_empty() { "<none>".to_string() } else { s.to_string() }
    };
    let gates = list(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                list(pod, "/status/conditions")
                    .iter()
                    .find(|c| c["type"] == g["conditionType"])
                    .is_some_and(|c| c["status"] == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };

    let mut row = Row::new(vec![
        json!(text(pod, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age(pod, now),
        json!(pod_ip),
        json!(none_if_empty(text(pod, "/spec/nodeName"))),
        json!(none_if_empty(text(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates),
    ]);
    match phase {
        "Succeeded" => row.conditions.push(json!({"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."})),
        "Failed" => row.conditions.push(json!({"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."})),
        _ => {}
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2025-01-01T01:00:00Z".parse().unwrap()
    }

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2025-01-01T00:00:00Z"},
               "spec": spec, "status": status})
    }

    fn running(name: &str, restarts: i64) -> Value {
        json!({"name": name, "ready": true, "restartCount": restarts, "state": {"running": {"startedAt": "2025-01-01T00:00:01Z"}}})
    }

    fn cells(p: &Value) -> (String, String, String) {
        let r = row(p, now());
        (
            r.cells[1].as_str().unwrap().to_string(),
            r.cells[2].as_str().unwrap().to_string(),
            r.cells[3].as_str().unwrap().to_string(),
        )
    }

    #[test]
    fn printpod_table() {
        let one = json!({"containers": [{"name": "main"}]});
        let two = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let with_init = json!({"containers": [{"name": "main"}], "initContainers": [{"name": "i1"}, {"name": "i2"}]});
        let with_sidecar =
            json!({"containers": [{"name": "main"}], "initContainers": [{"name": "side", "restartPolicy": "Always"}]});
        let ready_cond = json!([{"type": "Ready", "status": "True"}]);
        let cases: Vec<(&str, Value, (&str, &str, &str))> = vec![
            ("pending, no statuses", pod(one.clone(), json!({"phase": "Pending"})), ("0/1", "Pending", "0")),
            (
                "creating",
                pod(
                    one.clone(),
                    json!({"phase": "Pending", "containerStatuses": [
                    {"name": "main", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                ),
                ("0/1", "ContainerCreating", "0"),
            ),
            (
                "running",
                pod(one.clone(), json!({"phase": "Running", "containerStatuses": [running("main", 0)]})),
                ("1/1", "Running", "0"),
            ),
            (
                "crash loop with restarts",
                pod(
                    one.clone(),
                    json!({"phase": "Running", "containerStatuses": [
                    {"name": "main", "ready": false, "restartCount": 3,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-01-01T00:59:18Z"}}}]}),
                ),
                ("0/1", "CrashLoopBackOff", "3 (42s ago)"),
            ),
            (
                "terminated without reason, signal",
                pod(
                    one.clone(),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"name": "main", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                ("0/1", "Signal:9", "0"),
            ),
            (
                "terminated without reason, exit code",
                pod(
                    one.clone(),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"name": "main", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]}),
                ),
                ("0/1", "ExitCode:2", "0"),
            ),
            (
                "completed",
                pod(
                    one.clone(),
                    json!({"phase": "Succeeded", "containerStatuses": [
                    {"name": "main", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                ("0/1", "Completed", "0"),
            ),
            (
                "one completed one running, ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "conditions": ready_cond.clone(), "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    running("b", 0)]}),
                ),
                ("1/2", "Running", "0"),
            ),
            (
                "one completed one running, not ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    running("b", 0)]}),
                ),
                ("1/2", "NotReady", "0"),
            ),
            (
                "init 1/2",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "ready": true, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "i2", "ready": false, "restartCount": 0, "state": {"running": {}}}],
                    "containerStatuses": [{"name": "main", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                ("0/1", "Init:1/2", "0"),
            ),
            (
                "init waiting PodInitializing counts as progress",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                ("0/1", "Init:0/2", "0"),
            ),
            (
                "init crash loop",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T00:55:00Z"}}}]}),
                ),
                ("0/1", "Init:CrashLoopBackOff", "2 (5m ago)"),
            ),
            (
                "init failed",
                pod(
                    with_init.clone(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "i1", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                ("0/1", "Init:Error", "0"),
            ),
            (
                "init exit code",
                pod(
                    with_init.clone(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "i1", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]}),
                ),
                ("0/1", "Init:ExitCode:3", "0"),
            ),
            (
                "sidecar running counts as ready container",
                pod(
                    with_sidecar.clone(),
                    json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                    "initContainerStatuses": [{"name": "side", "ready": true, "started": true, "restartCount": 1,
                        "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T00:30:00Z"}}}],
                    "containerStatuses": [running("main", 0)]}),
                ),
                ("2/2", "Running", "1 (30m ago)"),
            ),
            (
                "terminating",
                {
                    let mut p =
                        pod(one.clone(), json!({"phase": "Running", "containerStatuses": [running("main", 0)]}));
                    p["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:59:59Z");
                    p
                },
                ("1/1", "Terminating", "0"),
            ),
            (
                "terminating but already succeeded",
                {
                    let mut p = pod(one.clone(), json!({"phase": "Succeeded"}));
                    p["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:59:59Z");
                    p
                },
                ("0/1", "Succeeded", "0"),
            ),
            (
                "scheduling gated",
                pod(
                    one.clone(),
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                ("0/1", "SchedulingGated", "0"),
            ),
            (
                "pod reason wins before containers",
                pod(one.clone(), json!({"phase": "Failed", "reason": "DeadlineExceeded"})),
                ("0/1", "DeadlineExceeded", "0"),
            ),
            (
                "first container reason wins",
                pod(
                    two.clone(),
                    json!({"phase": "Pending", "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull"}}},
                    {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                ),
                ("0/2", "ErrImagePull", "0"),
            ),
        ];
        for (name, p, (ready, status, restarts)) in cases {
            assert_eq!(cells(&p), (ready.to_string(), status.to_string(), restarts.to_string()), "{name}");
        }
    }

    #[test]
    fn wide_cells_and_conditions() {
        let p = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "main"}], "nodeName": "node1", "readinessGates": [{"conditionType": "x/y"}, {"conditionType": "z"}]},
            "status": {"phase": "Succeeded", "podIPs": [{"ip": "10.88.0.4"}], "conditions": [{"type": "x/y", "status": "True"}]}
        });
        let r = row(&p, now());
        assert_eq!(
            Value::Array(r.cells),
            json!(["web", "0/1", "Succeeded", "0", "60m", "10.88.0.4", "node1", "<none>", "1/2"])
        );
        assert_eq!(r.conditions[0]["reason"], "Succeeded");
        let bare = row(&json!({"metadata": {"name": "x"}, "spec": {"containers": []}}), now());
        assert_eq!(
            Value::Array(bare.cells),
            json!(["x", "0/0", "", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"])
        );
    }
}
