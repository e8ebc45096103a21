//! Table tests for pod validation: each case mutates a valid defaulted pod
//! and lists the exact error strings the apiserver would return.

use super::*;
use crate::defaults::default_pod;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "containers": [{
                "name": "main", "image": "nginx:1.27",
                "ports": [{"containerPort": 80, "name": "http"}],
                "env": [{"name": "A", "value": "1"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "readinessProbe": {"httpGet": {"port": "http"}}
            }],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }
    })
}

fn errors_for(mutate: &dyn Fn(&mut Value)) -> Vec<String> {
    let mut v = base();
    mutate(&mut v);
    let mut pod: Pod = serde_json::from_value(v).unwrap();
    default_pod(&mut pod);
    validate_pod(&pod).iter().map(|e| e.to_string()).collect()
}

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

type Case = (&'static str, Box<dyn Fn(&mut Value)>, Vec<String>);

fn c0(v: &mut Value) -> &mut Value {
    &mut v["spec"]["containers"][0]
}

#[test]
fn pod_validation_table() {
    let cases: Vec<Case> = vec![
        ("valid", Box::new(|_| {}), vec![]),
        (
            "no containers",
            Box::new(|v| v["spec"]["containers"] = json!([])),
            vec!["spec.containers: Required value".into()],
        ),
        (
            "missing image",
            Box::new(|v| {
                c0(v).as_object_mut().unwrap().remove("image");
            }),
            vec!["spec.containers[0].image: Required value".into()],
        ),
        (
            "image with spaces",
            Box::new(|v| c0(v)["image"] = json!(" nginx")),
            vec!["spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace".into()],
        ),
        (
            "bad container name",
            Box::new(|v| c0(v)["name"] = json!("Main")),
            vec![format!("spec.containers[0].name: Invalid value: \"Main\": {LABEL_MSG}")],
        ),
        (
            "duplicate name across init and app",
            Box::new(|v| v["spec"]["initContainers"] = json!([{"name": "main", "image": "busybox"}])),
            vec!["spec.initContainers[0].name: Duplicate value: \"main\"".into()],
        ),
        (
            "bad ports",
            Box::new(|v| {
                c0(v)["ports"] = json!([
                    {"containerPort": 0},
                    {"containerPort": 70000, "hostPort": 70000, "protocol": "ICMP"},
                    {"containerPort": 81, "name": "http"},
                    {"containerPort": 82, "name": "http"}
                ])
            }),
            vec![
                "spec.containers[0].ports[0].containerPort: Required value".into(),
                "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into(),
                "spec.containers[0].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into(),
                "spec.containers[0].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into(),
                "spec.containers[0].ports[3].name: Duplicate value: \"http\"".into(),
            ],
        ),
        (
            "host port conflict between containers",
            Box::new(|v| {
                c0(v)["ports"] = json!([{"containerPort": 80, "hostPort": 8080}]);
                v["spec"]["containers"].as_array_mut().unwrap().push(json!(
                    {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}));
            }),
            vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\"".into()],
        ),
        (
            "env",
            Box::new(|v| {
                c0(v)["env"] = json!([
                    {"name": ""},
                    {"name": "A=B"},
                    {"name": "X", "valueFrom": {}},
                    {"name": "Y", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "Z", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
                    {"name": "W", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": ""}}}
                ])
            }),
            vec![
                "spec.containers[0].env[0].name: Required value".into(),
                "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='".into(),
                "spec.containers[0].env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`".into(),
                "spec.containers[0].env[3].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty".into(),
                "spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Unsupported value: \"metadata.labels\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"".into(),
                "spec.containers[0].env[6].valueFrom.configMapKeyRef.key: Required value".into(),
            ],
        ),
        (
            "envFrom without source",
            Box::new(|v| c0(v)["envFrom"] = json!([{"prefix": "P_"}])),
            vec!["spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`".into()],
        ),
        (
            "volumes",
            Box::new(|v| {
                v["spec"]["volumes"] = json!([
                    {"name": "data", "emptyDir": {}},
                    {"name": "data", "emptyDir": {}},
                    {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
                    {"name": "hp", "hostPath": {"path": "/x/../y", "type": "Dir"}},
                    {"name": "cm", "configMap": {"name": "c", "defaultMode": 1000, "items": [{"key": "k", "path": "/abs"}]}}
                ])
            }),
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"".into(),
                "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type".into(),
                "spec.volumes[3].hostPath.path: Invalid value: \"/x/../y\": must not contain '..'".into(),
                "spec.volumes[3].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"".into(),
                "spec.volumes[4].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive".into(),
                "spec.volumes[4].configMap.items[0].path: Invalid value: \"/abs\": must be a relative path".into(),
            ],
        ),
        (
            "mounts",
            Box::new(|v| {
                c0(v)["volumeMounts"] = json!([
                    {"name": "nope", "mountPath": "/a"},
                    {"name": "data", "mountPath": ""},
                    {"name": "data", "mountPath": "/a", "subPath": "../x"}
                ])
            }),
            vec![
                "spec.containers[0].volumeMounts[0].name: Not found: \"nope\"".into(),
                "spec.containers[0].volumeMounts[1].mountPath: Required value".into(),
                "spec.containers[0].volumeMounts[2].mountPath: Invalid value: \"/a\": must be unique".into(),
                "spec.containers[0].volumeMounts.subPath: Invalid value: \"../x\": must not contain '..'".into(),
            ],
        ),
        (
            "policies",
            Box::new(|v| {
                v["spec"]["restartPolicy"] = json!("Sometimes");
                v["spec"]["dnsPolicy"] = json!("Cluster");
                c0(v)["imagePullPolicy"] = json!("Maybe");
                c0(v)["terminationMessagePolicy"] = json!("Log");
            }),
            vec![
                "spec.containers[0].terminationMessagePolicy: Unsupported value: \"Log\": supported values: \"File\", \"FallbackToLogsOnError\"".into(),
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Maybe\": supported values: \"Always\", \"IfNotPresent\", \"Never\"".into(),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into(),
                "spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"".into(),
            ],
        ),
        (
            "resources",
            Box::new(|v| {
                c0(v)["resources"] = json!({
                    "requests": {"cpu": "2", "memory": "lots", "example.com/dongle": "1"},
                    "limits": {"cpu": "1", "pods": "1"}
                })
            }),
            vec![
                "spec.containers[0].resources.limits[pods]: Invalid value: \"pods\": must be a standard resource for containers".into(),
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1".into(),
                "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources".into(),
                format!("spec.containers[0].resources.requests[memory]: Invalid value: \"lots\": {}", crate::quantity::FORMAT_ERROR),
                // Defaulting copied the `pods` limit into requests.
                "spec.containers[0].resources.requests[pods]: Invalid value: \"pods\": must be a standard resource for containers".into(),
            ],
        ),
        (
            "probes",
            Box::new(|v| {
                c0(v)["livenessProbe"] = json!({"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}, "successThreshold": 2});
                c0(v)["startupProbe"] = json!({"periodSeconds": -1});
                c0(v)["readinessProbe"] = json!({"httpGet": {"port": 0}, "terminationGracePeriodSeconds": 5});
            }),
            vec![
                "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type".into(),
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1".into(),
                "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive".into(),
                "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes".into(),
                "spec.containers[0].startupProbe: Required value: must specify a handler type".into(),
                "spec.containers[0].startupProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0".into(),
            ],
        ),
        (
            "lifecycle",
            Box::new(|v| {
                c0(v)["lifecycle"] = json!({"preStop": {"sleep": {"seconds": 60}}, "postStart": {}});
            }),
            vec![
                "spec.containers[0].lifecycle.postStart: Required value: must specify a handler type".into(),
                "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: must be non-negative and less than terminationGracePeriodSeconds (30)".into(),
            ],
        ),
        (
            "init containers and sidecars",
            Box::new(|v| {
                v["spec"]["initContainers"] = json!([
                    {"name": "init", "image": "busybox", "readinessProbe": {"exec": {"command": ["x"]}}},
                    {"name": "side", "image": "busybox", "restartPolicy": "Always", "readinessProbe": {"exec": {"command": ["x"]}}},
                    {"name": "odd", "image": "busybox", "restartPolicy": "OnFailure"}
                ]);
                c0(v)["restartPolicy"] = json!("Always");
            }),
            vec![
                "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers".into(),
                "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always".into(),
                "spec.initContainers[2].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"".into(),
            ],
        ),
        (
            "spec scalars",
            Box::new(|v| {
                v["spec"]["activeDeadlineSeconds"] = json!(0);
                v["spec"]["terminationGracePeriodSeconds"] = Value::Null;
                v["spec"]["hostname"] = json!("a.b");
                v["spec"]["hostAliases"] = json!([{"ip": "1.2.3", "hostnames": ["ok.example"]}]);
                v["spec"]["securityContext"] = json!({"sysctls": [{"name": "Bad!", "value": "1"}], "runAsUser": -1});
            }),
            vec![
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive".into(),
                "spec.securityContext.sysctls[0].name: Invalid value: \"Bad!\": must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$".into(),
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".into(),
                "spec.hostname: Invalid value: \"a.b\": must not contain dots".into(),
                "spec.hostAliases[0].ip: Invalid value: \"1.2.3\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into(),
            ],
        ),
        (
            "tolerations",
            Box::new(|v| {
                v["spec"]["tolerations"] = json!([
                    {"operator": "Equal", "value": "x"},
                    {"key": "k", "operator": "Exists", "value": "v", "effect": "NoExecute"},
                    {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}
                ])
            }),
            vec![
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"".into(),
                "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'".into(),
                "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set".into(),
            ],
        ),
        (
            "ephemeral containers on create",
            Box::new(|v| v["spec"]["ephemeralContainers"] = json!([{"name": "dbg", "image": "busybox"}])),
            vec!["spec.ephemeralContainers: Forbidden: cannot be set on create".into()],
        ),
        (
            "mirror annotation without node",
            Box::new(|v| v["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"})),
            vec!["metadata.annotations[kubernetes.io/config.mirror]: Invalid value: \"x\": must set spec.nodeName if mirror pod annotation is set".into()],
        ),
        (
            "dnsPolicy None needs config",
            Box::new(|v| v["spec"]["dnsPolicy"] = json!("None")),
            vec!["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None".into()],
        ),
    ];
    for (name, mutate, want) in cases {
        assert_eq!(errors_for(&*mutate), want, "{name}");
    }
}

#[test]
fn ephemeral_container_rules() {
    let mut v = base();
    v["spec"]["ephemeralContainers"] = json!([
        {"name": "main", "image": "busybox", "ports": [{"containerPort": 1}], "targetContainerName": "nope",
         "volumeMounts": [{"name": "data", "mountPath": "/d", "subPath": "x"}]}
    ]);
    let mut pod: Pod = serde_json::from_value(v).unwrap();
    default_pod(&mut pod);
    let spec = pod.spec.as_ref().unwrap();
    let got: Vec<String> = validate_pod_spec(spec, "web", &Path::new("spec")).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        vec![
            "spec.ephemeralContainers[0].name: Duplicate value: \"main\"",
            "spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\"",
            "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
            "spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container",
        ]
    );
}
