//! Strategic merge patch tests. The first table mirrors the cases of
//! apimachinery's `strategicpatch/patch_test.go` (Apache-2.0), on a test
//! schema shaped like its `mergeItem` struct; the second applies real
//! kubectl patches to Pods and other served kinds.

use serde_json::{Value, json};

use super::PatchError;
use super::schema::{FieldMeta, Schema, Strategy};
use super::strategic;
use super::strategic_merge_patch;

const fn meta(elem: Option<&'static str>, strategy: Strategy) -> FieldMeta {
    FieldMeta { elem, strategy }
}

/// `mergeItem` from the upstream tests.
static MERGE_ITEM: Schema = Schema::new(&[
    ("mergeItem", "mergingList", meta(Some("mergeItem"), Strategy::Merge { key: Some("name") })),
    ("mergeItem", "nonMergingList", meta(Some("mergeItem"), Strategy::Default)),
    ("mergeItem", "mergingIntList", meta(None, Strategy::Merge { key: None })),
    ("mergeItem", "nonMergingIntList", meta(None, Strategy::Default)),
    ("mergeItem", "mergeItemPtr", meta(Some("mergeItem"), Strategy::Default)),
    ("mergeItem", "replacingItem", meta(None, Strategy::Replace)),
    ("mergeItem", "retainKeysMergingList", meta(Some("mergeItem"), Strategy::Merge { key: Some("name") })),
]);

fn apply_test(original: Value, patch: Value) -> Result<Value, PatchError> {
    let (Value::Object(o), Value::Object(p)) = (original, patch) else { panic!("test inputs must be objects") };
    strategic::apply(o, p, Some("mergeItem"), &MERGE_ITEM).map(Value::Object)
}

#[test]
fn upstream_style_cases() {
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        ("add field", json!({"name": 1}), json!({"value": 1}), json!({"name": 1, "value": 1})),
        ("delete field", json!({"name": 1, "value": 1}), json!({"value": null}), json!({"name": 1})),
        ("delete absent field", json!({"name": 1}), json!({"value": null}), json!({"name": 1})),
        (
            "replace nested map with $patch: replace",
            json!({"mergeItemPtr": {"name": "a", "value": "b"}}),
            json!({"mergeItemPtr": {"$patch": "replace", "name": "c"}}),
            json!({"mergeItemPtr": {"name": "c"}}),
        ),
        (
            "delete nested map with $patch: delete",
            json!({"simpleMap": {"k1": "v1"}}),
            json!({"simpleMap": {"$patch": "delete"}}),
            json!({"simpleMap": {}}),
        ),
        (
            "merge nested maps",
            json!({"simpleMap": {"k1": "v1", "k2": "v2"}}),
            json!({"simpleMap": {"k2": null, "k3": "v3"}}),
            json!({"simpleMap": {"k1": "v1", "k3": "v3"}}),
        ),
        (
            "unique scalars when merging lists",
            json!({"mergingIntList": [1, 2]}),
            json!({"mergingIntList": [2, 3]}),
            json!({"mergingIntList": [1, 2, 3]}),
        ),
        (
            "delete from primitive list",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
            json!({"mergingIntList": [1, 3]}),
        ),
        (
            "delete from absent primitive list",
            json!({}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
            json!({}),
        ),
        (
            "non-merging lists are replaced",
            json!({"nonMergingList": [{"name": 1}, {"name": 2}], "nonMergingIntList": [1, 2]}),
            json!({"nonMergingList": [{"name": 3}], "nonMergingIntList": [3]}),
            json!({"nonMergingList": [{"name": 3}], "nonMergingIntList": [3]}),
        ),
        (
            "merge list of maps: update in place, new items first",
            json!({"mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]}),
            json!({"mergingList": [{"name": 1, "value": "a"}, {"name": 3, "value": 3}]}),
            json!({"mergingList": [{"name": 1, "value": "a"}, {"name": 3, "value": 3}, {"name": 2, "value": 2}]}),
        ),
        (
            "add to list of maps without order directive prepends",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"mergingList": [{"name": 3}]}),
            json!({"mergingList": [{"name": 3}, {"name": 1}, {"name": 2}]}),
        ),
        (
            "delete item with $patch: delete",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}]}),
            json!({"mergingList": [{"name": 2}]}),
        ),
        (
            "replace list with $patch: replace",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"mergingList": [{"name": 3}, {"$patch": "replace"}]}),
            json!({"mergingList": [{"name": 3}]}),
        ),
        (
            "delete a field of a list item with null",
            json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}]}),
            json!({"mergingList": [{"name": 1, "value": null}]}),
            json!({"mergingList": [{"name": 1, "other": "a"}]}),
        ),
        (
            "nested merging lists",
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "a", "value": 1}]}]}),
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "b"}, {"name": "a", "value": 2}]}]}),
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "b"}, {"name": "a", "value": 2}]}]}),
        ),
        (
            "$setElementOrder reorders and merges",
            json!({"mergingList": [{"name": 1}, {"name": 2}, {"name": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 1}, {"name": 2}],
                   "mergingList": [{"name": 1, "value": "x"}]}),
            json!({"mergingList": [{"name": 3}, {"name": 1, "value": "x"}, {"name": 2}]}),
        ),
        (
            "$setElementOrder with a deletion",
            json!({"mergingList": [{"name": 1}, {"name": 2}, {"name": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 3}],
                   "mergingList": [{"name": 2, "$patch": "delete"}]}),
            json!({"mergingList": [{"name": 1}, {"name": 3}]}),
        ),
        (
            "$setElementOrder places an added item",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 3}, {"name": 2}],
                   "mergingList": [{"name": 3}]}),
            json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]}),
        ),
        (
            "$setElementOrder on a primitive list",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$setElementOrder/mergingIntList": [3, 4, 1, 2], "mergingIntList": [4]}),
            json!({"mergingIntList": [3, 4, 1, 2]}),
        ),
        (
            "$setElementOrder for a list absent from the original",
            json!({}),
            json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}],
                   "mergingList": [{"name": 2}, {"name": 1, "junk": null}]}),
            json!({"mergingList": [{"name": 2}, {"name": 1}]}),
        ),
        (
            "$retainKeys drops unlisted fields",
            json!({"mergeItemPtr": {"name": "foo", "value": "bar", "other": "baz"}}),
            json!({"mergeItemPtr": {"$retainKeys": ["name", "value"], "value": "new"}}),
            json!({"mergeItemPtr": {"name": "foo", "value": "new"}}),
        ),
        (
            "$retainKeys in a merging list item",
            json!({"retainKeysMergingList": [{"name": 1, "value": 1, "other": 1}]}),
            json!({"retainKeysMergingList": [{"name": 1, "$retainKeys": ["name", "other"], "other": 2}]}),
            json!({"retainKeysMergingList": [{"name": 1, "other": 2}]}),
        ),
        (
            "null inside a new map is dropped",
            json!({}),
            json!({"mergeItemPtr": {"name": 1, "value": null}}),
            json!({"mergeItemPtr": {"name": 1}}),
        ),
        ("type change replaces", json!({"simpleMap": {"a": 1}}), json!({"simpleMap": "x"}), json!({"simpleMap": "x"})),
        (
            "replace strategy on a map",
            json!({"replacingItem": {"a": 1}}),
            json!({"replacingItem": {"b": 2}}),
            json!({"replacingItem": {"b": 2}}),
        ),
        (
            "directive in a brand-new list",
            json!({}),
            json!({"mergingList": [{"name": 1}, {"name": 2, "$patch": "delete"}]}),
            json!({"mergingList": [{"name": 1}]}),
        ),
        (
            "$patch: replace on the whole object",
            json!({"name": 1, "value": 2}),
            json!({"$patch": "replace", "other": 3}),
            json!({"other": 3}),
        ),
    ];
    for (name, original, patch, want) in cases {
        let got = apply_test(original, patch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
        // Key order matters for the list cases: compare the text too.
        assert_eq!(got.to_string(), want.to_string(), "{name} (order)");
    }
}

#[test]
fn upstream_style_errors() {
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        (
            "missing merge key",
            json!({"mergingList": [{"name": 1}]}),
            json!({"mergingList": [{"value": 2}]}),
            "map: {\"value\":2} does not contain declared merge key: name",
        ),
        (
            "$patch: merge on a list",
            json!({"mergingList": [{"name": 1}]}),
            json!({"mergingList": [{"$patch": "merge"}]}),
            "merging lists cannot yet be specified in the patch",
        ),
        (
            "unknown map directive",
            json!({"mergeItemPtr": {"name": 1}}),
            json!({"mergeItemPtr": {"$patch": "foo"}}),
            "unknown patch type: foo in map: {\"$patch\":\"foo\"}",
        ),
        (
            "$retainKeys not covering the patch",
            json!({"mergeItemPtr": {"name": 1}}),
            json!({"mergeItemPtr": {"$retainKeys": ["name"], "value": 2}}),
            "invalid patch format of retainKeys",
        ),
        (
            "order list contradicting the patch",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                   "mergingList": [{"name": 2}, {"name": 1}]}),
            "The order in patch list:",
        ),
        (
            "mixed element kinds",
            json!({"mergingIntList": [1]}),
            json!({"mergingIntList": [{"a": 1}]}),
            "list element types are not identical",
        ),
    ];
    for (name, original, patch, want) in cases {
        let err = apply_test(original, patch).unwrap_err().to_string();
        assert!(err.starts_with(want), "{name}: {err}");
    }
}

fn live_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1",
                     "labels": {"app": "web"}, "finalizers": ["a/x"],
                     "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "o1"}]},
        "spec": {
            "containers": [
                {"name": "main", "image": "nginx:1.27",
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                 "resources": {}, "terminationMessagePath": "/dev/termination-log"},
                {"name": "side", "image": "busybox"}
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "a", "operator": "Exists"}]
        },
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}
    })
}

#[test]
fn pod_patches() {
    type Case = (&'static str, Value, Box<dyn Fn(&mut Value)>);
    let cases: Vec<Case> = vec![
        (
            "kubectl apply: new image, env added, ports dropped",
            json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                   "spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
                            "containers": [{"env": [{"name": "FOO", "value": "bar"}], "image": "nginx:1.28", "name": "main", "ports": null}]}}),
            Box::new(|p| {
                p["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
                let c = &mut p["spec"]["containers"][0];
                c["image"] = json!("nginx:1.28");
                c.as_object_mut().unwrap().shift_remove("ports");
                c["env"] =
                    json!([{"name": "FOO", "value": "bar"}, {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
            }),
        ),
        (
            "label added and removed",
            json!({"metadata": {"labels": {"tier": "front", "app": null}}}),
            Box::new(|p| p["metadata"]["labels"] = json!({"tier": "front"})),
        ),
        (
            "env by name, mounts by mountPath, ports by containerPort",
            json!({"spec": {"containers": [{"name": "main",
                "env": [{"name": "B", "value": "3"}],
                "volumeMounts": [{"mountPath": "/data", "readOnly": true}],
                "ports": [{"containerPort": 80, "name": "http"}]}]}}),
            Box::new(|p| {
                let c = &mut p["spec"]["containers"][0];
                c["env"][1]["value"] = json!("3");
                c["volumeMounts"][0]["readOnly"] = json!(true);
                c["ports"][0]["name"] = json!("http");
            }),
        ),
        (
            "volume added by name, tolerations replaced",
            json!({"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
                            "tolerations": [{"key": "b", "operator": "Exists"}]}}),
            Box::new(|p| {
                p["spec"]["volumes"] =
                    json!([{"name": "cfg", "configMap": {"name": "c"}}, {"name": "data", "emptyDir": {}}]);
                p["spec"]["tolerations"] = json!([{"key": "b", "operator": "Exists"}]);
            }),
        ),
        (
            "container deleted with $patch: delete",
            json!({"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}),
            Box::new(|p| {
                p["spec"]["containers"].as_array_mut().unwrap().remove(1);
            }),
        ),
        (
            "finalizers: union and deletion",
            json!({"metadata": {"finalizers": ["b/y"], "$deleteFromPrimitiveList/finalizers": ["a/x"]}}),
            Box::new(|p| p["metadata"]["finalizers"] = json!(["b/y"])),
        ),
        (
            "owner references merge by uid",
            json!({"metadata": {"ownerReferences": [{"uid": "o1", "controller": true}]}}),
            Box::new(|p| p["metadata"]["ownerReferences"][0]["controller"] = json!(true)),
        ),
        (
            "status conditions merge by type",
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"}], "podIP": "10.0.0.5"}}),
            Box::new(|p| {
                p["status"]["conditions"][0]["status"] = json!("True");
                p["status"]["podIP"] = json!("10.0.0.5");
            }),
        ),
    ];
    for (name, patch, expect) in cases {
        let mut want = live_pod();
        expect(&mut want);
        let got = strategic_merge_patch("Pod", &live_pod(), &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn other_kinds() {
    let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    let got = strategic_merge_patch("ConfigMap", &cm, &json!({"data": {"a": null, "c": "3"}})).unwrap();
    assert_eq!(got, json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"b": "2", "c": "3"}}));
    let node = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n"}]}});
    let got = strategic_merge_patch(
        "Node",
        &node,
        &json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
    )
    .unwrap();
    assert_eq!(got["status"]["addresses"][0], json!({"type": "InternalIP", "address": "10.0.0.2"}));
    assert_eq!(got["status"]["addresses"].as_array().unwrap().len(), 2);
}
