//! The container sections of `describe pod` (kubectl's `describeContainers`:
//! ids, image, ports, command/args, state, last state, readiness, restart
//! count, resources, probes, environment, mounts).

use serde_json::Value;

use super::describe::{PrefixWriter, s, v_text};
use crate::printers::humanize::rfc1123z;

pub(crate) fn describe_containers(
    w: &mut PrefixWriter,
    label: &str,
    containers: &[Value],
    statuses: &[Value],
    pod: &Value,
) {
    let none = if containers.is_empty() { " <none>" } else { "" };
    w.write(0, &format!("{label}:{none}\n"));
    for c in containers {
        let name = s(c, "/name");
        let status = statuses.iter().find(|st| s(st, "/name") == name);
        w.write(1, &format!("{name}:\n"));
        if let Some(st) = status {
            w.write(2, &format!("Container ID:\t{}\n", s(st, "/containerID")));
        }
        w.write(2, &format!("Image:\t{}\n", s(c, "/image")));
        if let Some(st) = status {
            w.write(2, &format!("Image ID:\t{}\n", s(st, "/imageID")));
        }
        let ports = c.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
        // kubectl 1.33 prints `PORT/PROTO` without the port's name.
        let port_str = |key: &str| {
            ports
                .iter()
                .map(|p| format!("{}/{}", p.get(key).and_then(Value::as_i64).unwrap_or(0), s(p, "/protocol")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (one, many, text) in
            [("Port", "Ports", port_str("containerPort")), ("Host Port", "Host Ports", port_str("hostPort"))]
        {
            if text.contains(',') {
                w.write(2, &format!("{many}:\t{text}\n"));
            } else {
                w.write(2, &format!("{one}:\t{}\n", if text.is_empty() { "<none>" } else { &text }));
            }
        }
        let sp = s(c, "/securityContext/seccompProfile/type");
        if !sp.is_empty() {
            w.write(2, &format!("SeccompProfile:\t{sp}\n"));
            if sp == "Localhost" {
                w.write(
                    3,
                    &format!("LocalhostProfile:\t{}\n", s(c, "/securityContext/seccompProfile/localhostProfile")),
                );
            }
        }
        for (title, key) in [("Command", "command"), ("Args", "args")] {
            if let Some(items) = c.get(key).and_then(Value::as_array).filter(|a| !a.is_empty()) {
                w.write(2, &format!("{title}:\n"));
                for item in items {
                    for line in item.as_str().unwrap_or_default().split('\n') {
                        w.write(3, &format!("{line}\n"));
                    }
                }
            }
        }
        if let Some(st) = status {
            describe_state(w, "State", st.get("state"));
            if st.pointer("/lastState/terminated").is_some_and(Value::is_object) {
                describe_state(w, "Last State", st.get("lastState"));
            }
            let ready = st.get("ready").and_then(Value::as_bool).unwrap_or(false);
            w.write(2, &format!("Ready:\t{}\n", if ready { "True" } else { "False" }));
            w.write(2, &format!("Restart Count:\t{}\n", st.get("restartCount").and_then(Value::as_i64).unwrap_or(0)));
        }
        if let Some(r) = c.get("resources") {
            describe_resources(w, r, 2);
        }
        for (label, key) in
            [("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")]
        {
            if let Some(p) = c.get(key).filter(|p| p.is_object()) {
                w.write(2, &format!("{label}:\t{}\n", describe_probe(p)));
            }
        }
        if let Some(from) = c.get("envFrom").and_then(Value::as_array).filter(|a| !a.is_empty()) {
            w.write(2, "Environment Variables from:\n");
            for e in from {
                let (kind, r) = match (e.get("configMapRef"), e.get("secretRef")) {
                    (Some(r), _) => ("ConfigMap", r),
                    (_, Some(r)) => ("Secret", r),
                    _ => ("", &Value::Null),
                };
                let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
                let prefix = s(e, "/prefix");
                if prefix.is_empty() {
                    w.write(3, &format!("{}\t{kind}\tOptional: {optional}\n", s(r, "/name")));
                } else {
                    w.write(3, &format!("{}\t{kind} with prefix '{prefix}'\tOptional: {optional}\n", s(r, "/name")));
                }
            }
        }
        describe_env(w, c, pod);
        describe_mounts(w, c);
    }
}

fn describe_state(w: &mut PrefixWriter, title: &str, state: Option<&Value>) {
    let st = state.cloned().unwrap_or(Value::Null);
    if let Some(r) = st.get("running").filter(|v| v.is_object()) {
        w.write(2, &format!("{title}:\tRunning\n"));
        w.write(3, &format!("Started:\t{}\n", rfc1123z(s(r, "/startedAt"))));
    } else if let Some(wt) = st.get("waiting").filter(|v| v.is_object()) {
        w.write(2, &format!("{title}:\tWaiting\n"));
        let reason = s(wt, "/reason");
        if !reason.is_empty() {
            w.write(3, &format!("Reason:\t{reason}\n"));
        }
    } else if let Some(t) = st.get("terminated").filter(|v| v.is_object()) {
        w.write(2, &format!("{title}:\tTerminated\n"));
        for (label, ptr) in [("Reason", "/reason"), ("Message", "/message")] {
            let v = s(t, ptr);
            if !v.is_empty() {
                w.write(3, &format!("{label}:\t{v}\n"));
            }
        }
        w.write(3, &format!("Exit Code:\t{}\n", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)));
        if let Some(sig) = t.get("signal").and_then(Value::as_i64).filter(|s| *s > 0) {
            w.write(3, &format!("Signal:\t{sig}\n"));
        }
        w.write(3, &format!("Started:\t{}\n", go_time(s(t, "/startedAt"))));
        w.write(3, &format!("Finished:\t{}\n", go_time(s(t, "/finishedAt"))));
    } else {
        w.write(2, &format!("{title}:\tWaiting\n"));
    }
}

/// RFC1123Z of a timestamp; Go formats a zero time as year 1.
fn go_time(ts: &str) -> String {
    if ts.is_empty() { "Mon, 01 Jan 0001 00:00:00 +0000".to_string() } else { rfc1123z(ts) }
}

pub(crate) fn describe_resources(w: &mut PrefixWriter, r: &Value, level: usize) {
    for (title, key) in [("Limits", "limits"), ("Requests", "requests")] {
        let Some(m) = r.get(key).and_then(Value::as_object).filter(|m| !m.is_empty()) else {
            continue;
        };
        w.write(level, &format!("{title}:\n"));
        let mut names: Vec<&String> = m.keys().collect();
        names.sort();
        for n in names {
            w.write(level + 1, &format!("{n}:\t{}\n", v_text(m.get(n.as_str()))));
        }
    }
}

/// kubectl's `DescribeProbe`.
pub fn describe_probe(p: &Value) -> String {
    let n = |k: &str| p.get(k).and_then(Value::as_i64).unwrap_or(0);
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        n("initialDelaySeconds"),
        n("timeoutSeconds"),
        n("periodSeconds"),
        n("successThreshold"),
        n("failureThreshold")
    );
    if let Some(e) = p.get("exec").filter(|v| v.is_object()) {
        let cmd: Vec<String> =
            e.get("command").and_then(Value::as_array).into_iter().flatten().map(|c| v_text(Some(c))).collect();
        return format!("exec [{}] {attrs}", cmd.join(" "));
    }
    if let Some(h) = p.get("httpGet").filter(|v| v.is_object()) {
        let scheme = s(h, "/scheme").to_lowercase();
        let port = v_text(h.get("port"));
        let host = s(h, "/host");
        let hostport = if port.is_empty() {
            host.to_string()
        } else if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}:") };
        return format!("http-get {scheme}//{hostport}{} {attrs}", s(h, "/path"));
    }
    if let Some(t) = p.get("tcpSocket").filter(|v| v.is_object()) {
        return format!("tcp-socket {}:{} {attrs}", s(t, "/host"), v_text(t.get("port")));
    }
    if let Some(g) = p.get("grpc").filter(|v| v.is_object()) {
        return format!("grpc <pod>:{} {} {attrs}", v_text(g.get("port")), s(g, "/service"));
    }
    format!("unknown {attrs}")
}

fn describe_env(w: &mut PrefixWriter, c: &Value, pod: &Value) {
    let env = c.get("env").and_then(Value::as_array).cloned().unwrap_or_default();
    w.write(2, &format!("Environment:{}\n", if env.is_empty() { "\t<none>" } else { "" }));
    for e in &env {
        let name = s(e, "/name");
        let Some(from) = e.get("valueFrom").filter(|v| v.is_object()) else {
            for (i, line) in s(e, "/value").split('\n').enumerate() {
                if i == 0 {
                    w.write(3, &format!("{name}:\t{line}\n"));
                } else {
                    w.write(3, &format!("\t{line}\n"));
                }
            }
            continue;
        };
        if let Some(f) = from.get("fieldRef").filter(|v| v.is_object()) {
            let path = s(f, "/fieldPath");
            w.write(
                3,
                &format!(
                    "{name}:\t{} ({}:{path})\n",
                    // kubectl resolves nothing without an apiVersion.
                    if s(f, "/apiVersion").is_empty() { String::new() } else { field_value(pod, path) },
                    s(f, "/apiVersion")
                ),
            );
        } else if let Some(r) = from.get("resourceFieldRef").filter(|v| v.is_object()) {
            let res = s(r, "/resource");
            let value = resource_field_value(c, res, s(r, "/divisor"));
            let value = if value == "0" && (res == "limits.cpu" || res == "limits.memory") {
                "node allocatable".to_string()
            } else {
                value
            };
            w.write(3, &format!("{name}:\t{value} ({res})\n"));
        } else if let Some(k) = from.get("secretKeyRef").filter(|v| v.is_object()) {
            let optional = k.get("optional").and_then(Value::as_bool).unwrap_or(false);
            w.write(
                3,
                &format!(
                    "{name}:\t<set to the key '{}' in secret '{}'>\tOptional: {optional}\n",
                    s(k, "/key"),
                    s(k, "/name")
                ),
            );
        } else if let Some(k) = from.get("configMapKeyRef").filter(|v| v.is_object()) {
            let optional = k.get("optional").and_then(Value::as_bool).unwrap_or(false);
            w.write(
                3,
                &format!(
                    "{name}:\t<set to the key '{}' of config map '{}'>\tOptional: {optional}\n",
                    s(k, "/key"),
                    s(k, "/name")
                ),
            );
        }
    }
}

/// kubectl's `ExtractContainerResourceValue`: the container's limit or
/// request divided by the divisor (default 1), rounded up; `0` when unset.
fn resource_field_value(c: &Value, res: &str, divisor: &str) -> String {
    let Some((kind, which)) = res.split_once('.') else {
        return String::new();
    };
    let q = c.pointer(&format!("/resources/{kind}/{which}")).map(|v| v_text(Some(v))).unwrap_or_default();
    let value = parse_quantity(&q).unwrap_or(0.0);
    let divisor = parse_quantity(divisor).filter(|d| *d > 0.0).unwrap_or(1.0);
    if which == "cpu" {
        // In millicores on both sides, as kubectl computes it.
        let (v, d) = ((value * 1000.0).ceil(), (divisor * 1000.0).ceil());
        format!("{}", (v / d).ceil() as i64)
    } else {
        format!("{}", (value.ceil() / divisor.ceil()).ceil() as i64)
    }
}

/// A Kubernetes quantity (`500m`, `64Mi`, `1.5G`, `2e3`) as a number.
pub(crate) fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, mult) in SUFFIXES.iter().chain([("P", 1e15), ("E", 1e18)].iter()) {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|v| v * mult);
        }
    }
    q.parse::<f64>().ok()
}

/// The value of a downward-API field path, for `Environment:` lines.
fn field_value(pod: &Value, path: &str) -> String {
    let bracketed = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['").and_then(|r| r.strip_suffix("']")))
            .map(str::to_string)
    };
    if let Some(k) = bracketed("metadata.labels") {
        return v_text(pod.pointer("/metadata/labels").and_then(|l| l.get(&k)));
    }
    if let Some(k) = bracketed("metadata.annotations") {
        return v_text(pod.pointer("/metadata/annotations").and_then(|l| l.get(&k)));
    }
    let ptr = match path {
        "metadata.name" => "/metadata/name",
        "metadata.namespace" => "/metadata/namespace",
        "metadata.uid" => "/metadata/uid",
        "spec.nodeName" => "/spec/nodeName",
        "spec.serviceAccountName" => "/spec/serviceAccountName",
        "status.hostIP" => "/status/hostIP",
        "status.podIP" => "/status/podIP",
        _ => return String::new(),
    };
    s(pod, ptr).to_string()
}

fn describe_mounts(w: &mut PrefixWriter, c: &Value) {
    let mut mounts = c.get("volumeMounts").and_then(Value::as_array).cloned().unwrap_or_default();
    w.write(2, &format!("Mounts:{}\n", if mounts.is_empty() { "\t<none>" } else { "" }));
    mounts.sort_by(|a, b| s(a, "/mountPath").cmp(s(b, "/mountPath")));
    for m in &mounts {
        let mut flags = vec![if m.get("readOnly").and_then(Value::as_bool).unwrap_or(false) {
            "ro".to_string()
        } else {
            "rw".to_string()
        }];
        let sub = s(m, "/subPath");
        if !sub.is_empty() {
            flags.push(format!("path={sub:?}"));
        }
        w.write(3, &format!("{} from {} ({})\n", s(m, "/mountPath"), s(m, "/name"), flags.join(",")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probes() {
        assert_eq!(
            describe_probe(
                &json!({"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
            ),
            "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3"
        );
        assert_eq!(
            describe_probe(&json!({"exec": {"command": ["cat", "/tmp/ok"]}, "initialDelaySeconds": 5})),
            "exec [cat /tmp/ok] delay=5s timeout=0s period=0s #success=0 #failure=0"
        );
        assert_eq!(
            describe_probe(&json!({"tcpSocket": {"port": "http"}})),
            "tcp-socket :http delay=0s timeout=0s period=0s #success=0 #failure=0"
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("64Mi"), Some(67108864.0));
        assert_eq!(parse_quantity("1.5G"), Some(1.5e9));
        assert_eq!(parse_quantity("2e3"), Some(2000.0));
        assert_eq!(parse_quantity("x"), None);
        let c = json!({"resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}});
        assert_eq!(resource_field_value(&c, "limits.cpu", ""), "1");
        assert_eq!(resource_field_value(&c, "limits.cpu", "1m"), "500");
        assert_eq!(resource_field_value(&c, "limits.memory", "1Mi"), "64");
        assert_eq!(resource_field_value(&c, "requests.cpu", ""), "0");
    }

    #[test]
    fn full_container_section() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}},
                         "status": {"podIP": "10.0.0.5"}});
        let c = json!({
            "name": "app", "image": "busybox", "command": ["sh", "-c"], "args": ["echo a\necho b"],
            "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 53, "protocol": "UDP", "hostPort": 5353}],
            "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}, "requests": {"cpu": "100m"}},
            "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "env": [{"name": "PLAIN", "value": "v"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                    {"name": "LBL", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['app']"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
                    {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data", "subPath": "sub"}, {"name": "cfg", "mountPath": "/cfg", "readOnly": true}]
        });
        let status = json!({"name": "app", "containerID": "runc://1", "imageID": "sha256:1", "ready": false, "restartCount": 2,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-11-22T10:00:00Z", "finishedAt": "2026-11-22T10:00:01Z"}}});
        let mut w = PrefixWriter::new();
        describe_containers(&mut w, "Containers", &[c], &[status], &pod);
        let (started, finished) = (rfc1123z("2026-11-22T10:00:00Z"), rfc1123z("2026-11-22T10:00:01Z"));
        let want = format!(
            "Containers:
  app:
    Container ID:  runc://1
    Image:         busybox
    Image ID:      sha256:1
    Ports:         80/TCP, 53/UDP
    Host Ports:    0/TCP, 5353/UDP
    Command:
      sh
      -c
    Args:
      echo a
      echo b
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Started:      {started}
      Finished:     {finished}
    Ready:          False
    Restart Count:  2
    Limits:
      cpu:     500m
      memory:  128Mi
    Requests:
      cpu:     100m
    Liveness:  tcp-socket :80 delay=0s timeout=1s period=10s #success=1 #failure=3
    Environment:
      PLAIN:   v
      POD_IP:  10.0.0.5 (v1:status.podIP)
      LBL:     x (v1:metadata.labels['app'])
      MEM:     134217728 (limits.memory)
      PW:      <set to the key 'k' in secret 's'>  Optional: false
    Mounts:
      /cfg from cfg (ro)
      /data from data (rw,path=\"sub\")
"
        );
        assert_eq!(w.finish(), want);
    }
}
