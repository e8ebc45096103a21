//! RuntimeClass handlers end to end (issue 8): a handler configured with
//! `--runtime-handler` runs the pods whose RuntimeClass names it, with its
//! own binary — here a wrapper that records its arguments and runs runc,
//! as users do with wrappers — while other pods keep the default runc.
//! A class whose handler is not configured leaves its pod waiting with
//! containerd's message; a class that does not exist refuses the pod.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn kubectl_ok(d: &Daemon, args: &[&str], stdin: &str) -> String {
    let out = d.kubectl(args, stdin.as_bytes());
    assert!(
        out.status.success(),
        "kubectl {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pod_yaml(name: &str, class: Option<&str>) -> String {
    let class = class.map(|c| format!("  runtimeClassName: {c}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{class}  terminationGracePeriodSeconds: 1\n  \
         containers:\n  - name: main\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    \
         command: [sleep, '3600']\n"
    )
}

/// The container id of the pod's only container.
fn main_id(pod: &Value) -> String {
    container_id(&pod["status"]["containerStatuses"][0])
}

#[test]
fn runtime_class_handlers_pick_the_oci_runtime() {
    let scripts = tempfile::tempdir().unwrap();
    let trace = scripts.path().join("trace");
    let wrapper = scripts.path().join("traced-runc");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$@\" >> {}\nexec runc \"$@\"\n", trace.display())).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let d = Daemon::start_with("rtclass", &["--runtime-handler", &format!("traced={}", wrapper.display())]);
    d.import_busybox();

    // The RuntimeClass API, as the Kubernetes docs use it.
    let classes = "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: traced\nhandler: traced\n---\n\
                   apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: nowhere\nhandler: kata\n";
    kubectl_ok(&d, &["apply", "-f", "-"], classes);
    let table = kubectl_ok(&d, &["get", "runtimeclass"], "");
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "HANDLER", "AGE"], "{table}");
    assert!(rows.iter().any(|r| r[..2] == ["traced", "traced"]) && rows.iter().any(|r| r[..2] == ["nowhere", "kata"]));
    let resources = kubectl_ok(&d, &["api-resources", "--api-group", "node.k8s.io"], "");
    assert!(
        resources.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["runtimeclasses", "node.k8s.io/v1", "false", "RuntimeClass"]),
        "{resources}"
    );
    assert!(kubectl_ok(&d, &["explain", "runtimeclass.handler"], "").contains("handler"));
    let out = d.kubectl(&["patch", "runtimeclass", "traced", "--type=merge", "-p", r#"{"handler":"other"}"#], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("handler: Invalid value: \"other\": field is immutable"), "{err}");

    // A pod of the class runs through the wrapper; one without a class does not.
    d.apply(&pod_yaml("traced", Some("traced")));
    d.apply(&pod_yaml("plain", None));
    let traced = d.wait_running("traced");
    let plain = d.wait_running("plain");
    assert_eq!(kubectl_ok(&d, &["exec", "traced", "--", "cat", "/etc/hostname"], "").trim(), "traced");
    let calls = std::fs::read_to_string(&trace).unwrap();
    let called = |verb: &str, id: &str| {
        calls.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.contains(&verb) && words.contains(&id)
        })
    };
    let (tid, pid) = (main_id(&traced), main_id(&plain));
    for verb in ["create", "start", "exec"] {
        assert!(called(verb, &tid), "{verb} of the traced pod's container: {calls}");
    }
    // The pause container too (one `runc run --detach`).
    let pause_runs = calls.lines().filter(|l| l.split_whitespace().any(|w| w == "run")).count();
    assert!(pause_runs >= 1, "the pause container too: {calls}");
    assert!(!calls.contains(&pid), "the plain pod never went through the wrapper: {calls}");

    // A class whose handler the node lacks: the sandbox is refused, the pod waits.
    d.apply(&pod_yaml("lost", Some("nowhere")));
    let want = "no runtime for \"kata\" is configured";
    d.wait_event("lost", "FailedCreatePodSandBox", want, Duration::from_secs(20));
    let lost = d.pod("lost").unwrap();
    assert_eq!(lost["status"]["phase"], "Pending");
    assert_eq!(lost["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating", "{lost}");

    // A class that does not exist: the pod is refused at admission.
    let out = d.kubectl(&["apply", "-f", "-"], pod_yaml("ghost", Some("missing")).as_bytes());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("pods \"ghost\" is forbidden: pod rejected: RuntimeClass \"missing\" not found"), "{err}");
    assert!(d.pod("ghost").is_none());

    // Deleting the class does not touch the running pod; deleting the pods cleans up.
    kubectl_ok(&d, &["delete", "runtimeclass", "traced"], "");
    assert_eq!(kubectl_ok(&d, &["exec", "traced", "--", "echo", "still"], "").trim(), "still");
    d.ok(&["delete", "pod", "traced", "plain", "lost"]);
    for p in ["traced", "plain", "lost"] {
        d.wait_gone(p, Duration::from_secs(20));
    }
    assert!(std::fs::read_to_string(&trace).unwrap().lines().any(|l| l.contains("delete") && l.contains(&tid)));
    d.assert_clean();
}
