use serde_json::json;

use super::*;

fn pod(labels: Value, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7", "labels": labels},
        "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": 80}]}]},
        "status": {"phase": "Running"},
    })
}

fn entry<'a>(obj: &'a Value, manager: &str, op: &str) -> Option<&'a Value> {
    obj.pointer("/metadata/managedFields")?.as_array()?.iter().find(|e| e["manager"] == manager && e["operation"] == op)
}

fn owns(obj: &Value, manager: &str, op: &str, path: &[&str]) -> bool {
    let Some(e) = entry(obj, manager, op) else { return false };
    let set = FieldSet::from_fields_v1(&e["fieldsV1"]).unwrap();
    set.contains(&path.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn field_sets_follow_the_schema() {
    let set = field_set(&pod(json!({"app": "web"}), "nginx"), false);
    assert_eq!(
        set.to_fields_v1(),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {
                ".": {}, "f:image": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":80}": {".": {}, "f:containerPort": {}}},
            }}},
        }),
        "identity metadata and status are nobody's; keyed lists by key"
    );
    let status = field_set(&pod(json!({}), "nginx"), true);
    assert_eq!(status.to_fields_v1(), json!({"f:status": {"f:phase": {}}}));
    let round = FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap();
    assert_eq!(round, set);
    assert!(FieldSet::from_fields_v1(&json!({"x:bad": {}})).is_err());
}

#[test]
fn paths_print_like_structured_merge_diff() {
    let p: Vec<String> = ["f:spec", "f:containers", "k:{\"name\":\"main\"}", "f:image"].map(String::from).to_vec();
    assert_eq!(path_string(&p), ".spec.containers[name=\"main\"].image");
    assert_eq!(
        path_string(&["f:metadata".into(), "f:finalizers".into(), "v:\"x\"".into()]),
        ".metadata.finalizers[=\"x\"]"
    );
}

#[test]
fn updates_take_the_fields_they_change() {
    let mut created = pod(json!({"app": "web"}), "nginx");
    track_update(None, &mut created, "kubectl-client-side-apply", None);
    assert!(owns(&created, "kubectl-client-side-apply", "Update", &["f:metadata", "f:labels", "f:app"]));
    assert!(owns(
        &created,
        "kubectl-client-side-apply",
        "Update",
        &["f:spec", "f:containers", "k:{\"name\":\"main\"}", "f:image"]
    ));

    let mut labeled = created.clone();
    labeled["metadata"]["labels"]["app"] = json!("other");
    labeled["metadata"]["labels"]["env"] = json!("prod");
    track_update(Some(&created), &mut labeled, "kubectl-label", None);
    assert!(owns(&labeled, "kubectl-label", "Update", &["f:metadata", "f:labels", "f:app"]));
    assert!(owns(&labeled, "kubectl-label", "Update", &["f:metadata", "f:labels", "f:env"]));
    assert!(!owns(&labeled, "kubectl-client-side-apply", "Update", &["f:metadata", "f:labels", "f:app"]));
    assert!(owns(
        &labeled,
        "kubectl-client-side-apply",
        "Update",
        &["f:spec", "f:containers", "k:{\"name\":\"main\"}", "f:image"]
    ));

    // Removing a field takes it from its owner; an entry left empty goes.
    let mut unlabeled = labeled.clone();
    unlabeled["metadata"]["labels"] = json!({"app": "other"});
    track_update(Some(&labeled), &mut unlabeled, "kubectl-label", None);
    assert!(!owns(&unlabeled, "kubectl-label", "Update", &["f:metadata", "f:labels", "f:env"]));
}

#[test]
fn client_supplied_managed_fields_are_kept() {
    let mut created = pod(json!({"app": "web"}), "nginx");
    track_update(None, &mut created, "kubectl-client-side-apply", None);
    let mut migrated = created.clone();
    let mut e = entry(&created, "kubectl-client-side-apply", "Update").unwrap().clone();
    e["manager"] = json!("kubectl");
    e["operation"] = json!("Apply");
    migrated["metadata"]["managedFields"] = json!([e]);
    let sent = migrated["metadata"]["managedFields"].clone();
    track_update(Some(&created), &mut migrated, "kubectl", None);
    assert_eq!(migrated["metadata"]["managedFields"], sent);
}

#[test]
fn apply_creates_then_merges_by_key() {
    let config = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}]}});
    let created = apply(None, &config, "kubectl", false).unwrap();
    assert!(owns(&created, "kubectl", "Apply", &["f:spec", "f:containers", "k:{\"name\":\"main\"}", "f:image"]));

    let mut live = created.clone();
    live["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
    live["spec"]["nodeName"] = json!("node1");
    let mut changed = config.clone();
    changed["spec"]["containers"][0]["image"] = json!("nginx:2");
    let out = apply(Some(&live), &changed, "kubectl", false).unwrap();
    assert_eq!(out["spec"]["containers"][0]["image"], "nginx:2");
    assert_eq!(out["spec"]["containers"][0]["imagePullPolicy"], "Always", "fields nobody applied stay");
    assert_eq!(out["spec"]["nodeName"], "node1");
}

#[test]
fn apply_removes_what_it_no_longer_applies_unless_shared() {
    let config = json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "front", "shared": "x"}}});
    let mut live = apply(None, &config, "kubectl", false).unwrap();
    // Another manager also sets `shared` (same value: shared ownership).
    let before = live.clone();
    let mut e = entry(&before, "kubectl", "Apply").unwrap().clone();
    e["manager"] = json!("other");
    e["operation"] = json!("Update");
    e["fieldsV1"] = json!({"f:metadata": {"f:labels": {"f:shared": {}}}});
    live["metadata"]["managedFields"].as_array_mut().unwrap().push(e);
    let smaller = json!({"metadata": {"name": "web", "labels": {"app": "web"}}});
    let out = apply(Some(&live), &smaller, "kubectl", false).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "shared": "x"}));
    assert!(!owns(&out, "kubectl", "Apply", &["f:metadata", "f:labels", "f:tier"]));
}

#[test]
fn conflicting_apply_is_a_409_naming_fields_and_managers() {
    let mut live = pod(json!({"app": "web", "tier": "front"}), "nginx");
    track_update(None, &mut live, "kubectl-client-side-apply", None);
    let t = entry(&live, "kubectl-client-side-apply", "Update").unwrap()["time"].as_str().unwrap().to_owned();

    // The same values: shared ownership, no conflict.
    let same = json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}}});
    assert!(apply(Some(&live), &same, "kubectl", false).is_ok());

    let changed = json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "back"}}});
    let e = apply(Some(&live), &changed, "kubectl", false).unwrap_err();
    assert_eq!((e.code, e.reason), (409, StatusReason::Conflict));
    assert_eq!(
        e.message,
        format!(
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1 at {t}: .metadata.labels.tier"
        )
    );
    let causes = e.details.unwrap().causes;
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".metadata.labels.tier");

    let two = json!({"metadata": {"name": "web", "labels": {"app": "x", "tier": "back"}}});
    let e = apply(Some(&live), &two, "kubectl", false).unwrap_err();
    assert!(
        e.message.starts_with("Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\""),
        "{}",
        e.message
    );
    assert!(e.message.contains("\n- .metadata.labels.app\n- .metadata.labels.tier"), "{}", e.message);

    // force takes the field over.
    let out = apply(Some(&live), &changed, "kubectl", true).unwrap();
    assert_eq!(out["metadata"]["labels"]["tier"], "back");
    assert!(owns(&out, "kubectl", "Apply", &["f:metadata", "f:labels", "f:tier"]));
    assert!(!owns(&out, "kubectl-client-side-apply", "Update", &["f:metadata", "f:labels", "f:tier"]));
}

#[test]
fn sets_merge_as_unions_and_atomic_lists_replace() {
    let live = json!({"metadata": {"name": "n", "finalizers": ["a"]}, "spec": {"containers": [{"name": "c", "args": ["1", "2"]}]}});
    let config =
        json!({"metadata": {"name": "n", "finalizers": ["b"]}, "spec": {"containers": [{"name": "c", "args": ["3"]}]}});
    let out = apply(Some(&live), &config, "m", false).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["3"]));
}

#[test]
fn managers_come_from_the_query_or_the_user_agent() {
    assert_eq!(manager_name(Some("kubectl-label"), Some("kubectl/v1.33")), "kubectl-label");
    assert_eq!(manager_name(None, Some("kubectl.1.33/v1.33.1 (linux/amd64)")), "kubectl.1.33");
    assert_eq!(manager_name(Some(""), None), "unknown");
}
