//! What the apiserver does to an object between decoding and storage:
//! typed decoding (with fieldValidation), defaulting, admission (the
//! mutations a cluster's default admission plugins make), validation, and
//! the server-managed parts of an update.

use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, PodCondition, Secret};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use peapod_api::resources::ResourceInfo;
use peapod_api::validation::{self, names::name_is_dns_subdomain};
use peapod_api::{ApiError, FieldError, defaults, strict};

mod runtime_class;

pub use runtime_class::RuntimeClassLookup;

/// `?fieldValidation=`: what to do with fields the schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<FieldValidation, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(o) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {o}; must be one of Ignore, Warn, Strict"
            ))),
        }
    }
}

/// The outcome: the object to store and `Warning` header texts.
pub struct Admitted {
    pub obj: Value,
    pub warnings: Vec<String>,
}

fn decode<T: DeserializeOwned + Serialize>(
    kind: &str,
    obj: &Value,
    fv: FieldValidation,
) -> Result<(T, Vec<String>), ApiError> {
    let version = obj.get("apiVersion").and_then(Value::as_str).and_then(|v| v.rsplit('/').next()).unwrap_or("v1");
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| {
        ApiError::bad_request(format!("{kind} in version \"{version}\" cannot be handled as a {kind}: {e}"))
    })?;
    let round = serde_json::to_value(&typed).map_err(|e| ApiError::internal(e.to_string()))?;
    let unknown = strict::unknown_fields(obj, &round);
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        match fv {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(strict::strict_error_message(&unknown)));
            }
            FieldValidation::Warn => warnings = strict::warn_messages(&unknown),
            FieldValidation::Ignore => {}
        }
    }
    Ok((typed, warnings))
}

fn to_value<T: Serialize>(t: &T) -> Result<Value, ApiError> {
    serde_json::to_value(t).map_err(|e| ApiError::internal(e.to_string()))
}

fn check(kind: &str, name: &str, errs: Vec<FieldError>) -> Result<(), ApiError> {
    if errs.is_empty() { Ok(()) } else { Err(ApiError::invalid(kind, name, errs)) }
}

fn obj_name(v: &Value) -> String {
    v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Admission of a new object (its metadata already prepared by the
/// handler). `runtime_class` reads RuntimeClasses for the pod plugin.
pub fn admit_create(
    res: &ResourceInfo,
    obj: Value,
    node_name: &str,
    runtime_class: &RuntimeClassLookup<'_>,
    fv: FieldValidation,
) -> Result<Admitted, ApiError> {
    let name = obj_name(&obj);
    let kind = res.kind;
    let (obj, warnings) = match res.plural {
        "pods" => {
            let (mut pod, w): (Pod, _) = decode(kind, &obj, fv)?;
            defaults::default_pod(&mut pod);
            // Mutating admission runs before validation, as in the apiserver.
            runtime_class::admit_pod(&mut pod, &name, runtime_class)?;
            check(kind, &name, validation::validate_pod(&pod))?;
            defaults::prepare_pod_for_create(&mut pod);
            // No scheduler: a pod is bound to this node when created.
            let spec = pod.spec.get_or_insert_with(Default::default);
            if spec.node_name.as_deref().unwrap_or("").is_empty() {
                spec.node_name = Some(node_name.to_owned());
            }
            let status = pod.status.get_or_insert_with(Default::default);
            status.conditions = Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                last_transition_time: Some(Time(now_seconds())),
                ..Default::default()
            }]);
            (to_value(&pod)?, w)
        }
        "configmaps" => {
            let (cm, w): (ConfigMap, _) = decode(kind, &obj, fv)?;
            check(kind, &name, validation::validate_configmap(&cm))?;
            (to_value(&cm)?, w)
        }
        "secrets" => {
            let (mut s, w): (Secret, _) = decode(kind, &obj, fv)?;
            defaults::default_secret(&mut s);
            check(kind, &name, validation::validate_secret(&s))?;
            (to_value(&s)?, w)
        }
        "namespaces" => {
            let (mut ns, w): (Namespace, _) = decode(kind, &obj, fv)?;
            defaults::default_namespace(&mut ns);
            check(kind, &name, validation::validate_namespace(&ns))?;
            (to_value(&ns)?, w)
        }
        "events" => {
            let (ev, w): (Event, _) = decode(kind, &obj, fv)?;
            check(kind, &name, validation::validate_object_meta(&ev.metadata, true, name_is_dns_subdomain))?;
            (to_value(&ev)?, w)
        }
        "nodes" => {
            let (n, w): (Node, _) = decode(kind, &obj, fv)?;
            check(kind, &name, validation::validate_object_meta(&n.metadata, false, name_is_dns_subdomain))?;
            (to_value(&n)?, w)
        }
        "runtimeclasses" => {
            let (rc, w): (RuntimeClass, _) = decode(kind, &with_handler(obj), fv)?;
            check(&qualified_kind(res), &name, validation::validate_runtime_class(&rc))?;
            (to_value(&rc)?, w)
        }
        other => return Err(ApiError::method_not_allowed(other, "create")),
    };
    Ok(Admitted { obj, warnings })
}

/// Admission of an update of `old` to `new` (main resource, `status`, or
/// for pods `ephemeralcontainers`).
/// Server-managed metadata is carried over from `old` by the caller.
pub fn admit_update(
    res: &ResourceInfo,
    old: &Value,
    new: Value,
    subresource: Option<&str>,
    fv: FieldValidation,
) -> Result<Admitted, ApiError> {
    let name = obj_name(old);
    let kind = res.kind;
    let internal = |e: serde_json::Error| ApiError::internal(format!("stored object: {e}"));
    let (obj, warnings) = match res.plural {
        "pods" => {
            let (mut pod, w): (Pod, _) = decode(kind, &new, fv)?;
            let old_pod: Pod = serde_json::from_value(old.clone()).map_err(internal)?;
            match subresource {
                Some("status") => {
                    // The status subresource changes status (and nothing else).
                    pod.spec = old_pod.spec.clone();
                    pod.metadata.labels = old_pod.metadata.labels.clone();
                    pod.metadata.annotations = old_pod.metadata.annotations.clone();
                    check(kind, &name, validation::validate_pod_status_update(&pod, &old_pod))?;
                }
                Some("ephemeralcontainers") => {
                    // Only spec.ephemeralContainers changes (the rest of the
                    // body is dropped), and only by additions.
                    pod = validation::ephemeral_containers_update(pod, &old_pod);
                    defaults::apply_v1_pod_defaults(&mut pod);
                    check(kind, &name, validation::validate_pod_ephemeral_containers_update(&pod, &old_pod))?;
                }
                _ => {
                    defaults::apply_v1_pod_defaults(&mut pod);
                    // The main resource ignores status changes.
                    pod.status = old_pod.status.clone();
                    check(kind, &name, validation::validate_pod_update(&pod, &old_pod))?;
                }
            }
            (to_value(&pod)?, w)
        }
        "configmaps" => {
            let (cm, w): (ConfigMap, _) = decode(kind, &new, fv)?;
            let o: ConfigMap = serde_json::from_value(old.clone()).map_err(internal)?;
            check(kind, &name, validation::validate_configmap_update(&cm, &o))?;
            (to_value(&cm)?, w)
        }
        "secrets" => {
            let (mut s, w): (Secret, _) = decode(kind, &new, fv)?;
            defaults::default_secret(&mut s);
            let o: Secret = serde_json::from_value(old.clone()).map_err(internal)?;
            check(kind, &name, validation::validate_secret_update(&s, &o))?;
            (to_value(&s)?, w)
        }
        "namespaces" => {
            let (mut ns, w): (Namespace, _) = decode(kind, &new, fv)?;
            let o: Namespace = serde_json::from_value(old.clone()).map_err(internal)?;
            if subresource != Some("status") && subresource != Some("finalize") {
                ns.status = o.status.clone();
            }
            if subresource != Some("finalize") {
                ns.spec = o.spec.clone().or(ns.spec);
            }
            defaults::default_namespace(&mut ns);
            check(kind, &name, validation::validate_namespace_update(&ns, &o))?;
            (to_value(&ns)?, w)
        }
        "events" => {
            let (ev, w): (Event, _) = decode(kind, &new, fv)?;
            (to_value(&ev)?, w)
        }
        "nodes" => {
            let (mut n, w): (Node, _) = decode(kind, &new, fv)?;
            let o: Node = serde_json::from_value(old.clone()).map_err(internal)?;
            if subresource == Some("status") {
                n.spec = o.spec.clone();
            } else {
                n.status = o.status.clone();
            }
            (to_value(&n)?, w)
        }
        "runtimeclasses" => {
            let (rc, w): (RuntimeClass, _) = decode(kind, &with_handler(new), fv)?;
            let o: RuntimeClass = serde_json::from_value(old.clone()).map_err(internal)?;
            check(&qualified_kind(res), &name, validation::validate_runtime_class_update(&rc, &o))?;
            (to_value(&rc)?, w)
        }
        other => return Err(ApiError::method_not_allowed(other, "update")),
    };
    Ok(Admitted { obj, warnings })
}

/// The kind as a 422 names it: `RuntimeClass.node.k8s.io` outside the core group.
fn qualified_kind(res: &ResourceInfo) -> String {
    if res.group.is_empty() { res.kind.to_owned() } else { format!("{}.{}", res.kind, res.group) }
}

/// A RuntimeClass without `handler` decodes in Go as the zero value `""`,
/// which validation then reports; k8s-openapi's type requires the field.
fn with_handler(mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.entry("handler").or_insert(Value::String(String::new()));
    }
    obj
}

/// A namespace object as `bootstrap` creates it.
pub fn new_namespace(name: &str) -> Value {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.to_owned());
    ns.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
    ns.metadata.creation_timestamp = Some(Time(now_seconds()));
    defaults::default_namespace(&mut ns);
    serde_json::to_value(&ns).expect("namespace serializes")
}

/// Now, at the seconds precision Kubernetes timestamps have.
pub fn now_seconds() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> &'static ResourceInfo {
        peapod_api::resources::lookup("pods").unwrap()
    }

    fn no_classes(_: &str) -> Option<Value> {
        None
    }

    #[test]
    fn runtime_classes_are_validated() {
        let rcs = peapod_api::resources::lookup("runtimeclasses").unwrap();
        let obj = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "fast"}});
        let e = admit_create(rcs, obj.clone(), "n", &no_classes, FieldValidation::Strict).err().unwrap();
        assert_eq!(e.code, 422);
        assert!(
            e.message.starts_with("RuntimeClass.node.k8s.io \"fast\" is invalid: handler: Invalid value: \"\""),
            "{}",
            e.message
        );
        let mut good = obj;
        good["handler"] = json!("crun");
        let old = admit_create(rcs, good, "n", &no_classes, FieldValidation::Strict).unwrap().obj;
        let mut changed = old.clone();
        changed["handler"] = json!("runc");
        let e = admit_update(rcs, &old, changed, None, FieldValidation::Strict).err().unwrap();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("handler: Invalid value: \"runc\": field is immutable"), "{}", e.message);
        let mut labelled = old.clone();
        labelled["metadata"]["labels"] = json!({"tier": "fast"});
        assert!(admit_update(rcs, &old, labelled, None, FieldValidation::Strict).is_ok());
    }

    #[test]
    fn pod_create_runs_the_runtime_class_plugin() {
        let obj = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
            "spec":{"runtimeClassName":"gone","containers":[{"name":"c","image":"busybox"}]}});
        let e = admit_create(pods(), obj, "n", &no_classes, FieldValidation::Strict).err().unwrap();
        assert_eq!(
            (e.code, e.message.as_str()),
            (403, "pods \"p\" is forbidden: pod rejected: RuntimeClass \"gone\" not found")
        );
    }

    #[test]
    fn pod_create_defaults_binds_and_validates() {
        let obj = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
            "spec":{"containers":[{"name":"c","image":"busybox"}]}});
        let a = admit_create(pods(), obj, "node1", &no_classes, FieldValidation::Strict).unwrap();
        assert_eq!(a.obj["spec"]["nodeName"], "node1");
        assert_eq!(a.obj["spec"]["restartPolicy"], "Always");
        assert_eq!(a.obj["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(a.obj["status"]["phase"], "Pending");
        assert_eq!(a.obj["status"]["conditions"][0]["type"], "PodScheduled");
        let bad = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}});
        let e = admit_create(pods(), bad, "n", &no_classes, FieldValidation::Strict).err().unwrap();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("spec.containers[0].image: Required value"), "{}", e.message);
    }

    #[test]
    fn unknown_fields_per_field_validation() {
        let obj = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
            "spec":{"containers":[{"name":"c","image":"x","imagee":"y"}]}});
        let e = admit_create(pods(), obj.clone(), "n", &no_classes, FieldValidation::Strict).err().unwrap();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("unknown field \"spec.containers[0].imagee\""), "{}", e.message);
        let a = admit_create(pods(), obj.clone(), "n", &no_classes, FieldValidation::Warn).unwrap();
        assert_eq!(a.warnings.len(), 1);
        assert!(admit_create(pods(), obj, "n", &no_classes, FieldValidation::Ignore).unwrap().warnings.is_empty());
        assert!(FieldValidation::parse(Some("Bogus")).is_err());
    }

    #[test]
    fn pod_update_only_image_may_change() {
        let obj = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
            "spec":{"containers":[{"name":"c","image":"busybox:1"}]}});
        let old = admit_create(pods(), obj, "n", &no_classes, FieldValidation::Strict).unwrap().obj;
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("busybox:2");
        new["status"]["phase"] = json!("Running");
        let a = admit_update(pods(), &old, new, None, FieldValidation::Strict).unwrap();
        assert_eq!(a.obj["spec"]["containers"][0]["image"], "busybox:2");
        assert_eq!(a.obj["status"]["phase"], "Pending", "status ignored on the main resource");
        let mut bad = old.clone();
        bad["spec"]["containers"][0]["command"] = json!(["sh"]);
        let e = admit_update(pods(), &old, bad, None, FieldValidation::Strict).err().unwrap();
        assert_eq!(e.code, 422);
    }

    #[test]
    fn ephemeral_containers_only_through_their_subresource() {
        let obj = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
            "spec":{"containers":[{"name":"app","image":"busybox"}]}});
        let old = admit_create(pods(), obj, "n", &no_classes, FieldValidation::Strict).unwrap().obj;
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"] =
            json!([{"name":"dbg","image":"busybox","targetContainerName":"app","stdin":true}]);
        new["metadata"]["labels"] = json!({"dropped": "yes"});
        let e = admit_update(pods(), &old, new.clone(), None, FieldValidation::Strict).err().unwrap();
        assert_eq!(e.code, 422, "the main resource may not change them");
        assert!(e.message.contains("spec: Forbidden: pod updates may not change fields"), "{}", e.message);
        let a = admit_update(pods(), &old, new, Some("ephemeralcontainers"), FieldValidation::Strict).unwrap();
        assert_eq!(a.obj["spec"]["ephemeralContainers"][0]["imagePullPolicy"], "Always", "defaulted");
        assert!(a.obj["metadata"].get("labels").is_none(), "other changes are dropped");
        let mut dup = a.obj.clone();
        dup["spec"]["ephemeralContainers"].as_array_mut().unwrap().push(json!({"name":"app","image":"busybox"}));
        let e = admit_update(pods(), &a.obj, dup, Some("ephemeralcontainers"), FieldValidation::Strict).err().unwrap();
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert!(e.message.contains("spec.ephemeralContainers[1].name: Duplicate value: \"app\""), "{}", e.message);
    }
}
