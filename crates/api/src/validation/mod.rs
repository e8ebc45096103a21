//! Object validation, a faithful subset of the apiserver's
//! `pkg/apis/core/validation`: same rules, same field paths, same messages,
//! so `ApiError::invalid(kind, name, errors)` gives kubectl the text a real
//! cluster would.
//!
//! Validation runs on typed k8s-openapi objects *after* defaulting (as in
//! the apiserver, where defaults are applied while decoding): fields that
//! defaulting always fills are reported as Required when missing.
//!
//! Layout: `names` (string formats), `paths`, `meta` (ObjectMeta), `pod`
//! (Pod and PodSpec), `container_lists` (app/init/ephemeral lists),
//! `container` (per-container rules), `mounts`, `resources`, `probes`,
//! `security`, `volume`, `pod_update` (immutability), `pod_ephemeral`
//! (the `ephemeralcontainers` subresource), `config` (ConfigMap,
//! Secret), `namespace`, `runtime_class` (node.k8s.io RuntimeClass).

mod config;
mod container;
mod container_lists;
mod meta;
mod mounts;
pub mod names;
mod namespace;
mod paths;
mod pod;
mod pod_ephemeral;
mod pod_update;
mod probes;
mod resources;
mod runtime_class;
mod security;
pub use security::sysctl_namespace;
mod volume;

pub use config::{
    MAX_SECRET_SIZE, validate_configmap, validate_configmap_update, validate_secret, validate_secret_update,
};
pub use meta::{
    TOTAL_ANNOTATION_SIZE_LIMIT, name_from_generate_name, validate_annotations, validate_labels, validate_object_meta,
    validate_object_meta_update,
};
pub use names::NameValidator;
pub use namespace::{validate_namespace, validate_namespace_update};
pub use pod::{MIRROR_POD_ANNOTATION, validate_pod, validate_pod_spec};
pub use pod_ephemeral::{ephemeral_containers_update, validate_pod_ephemeral_containers_update};
pub use pod_update::{UPDATABLE_POD_SPEC_FIELDS, validate_pod_status_update, validate_pod_update};
pub use runtime_class::{validate_runtime_class, validate_runtime_class_update};

/// An optional string as Go's zero value: `""` when unset.
fn or_empty(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    use crate::errors::ApiError;

    /// The whole create path the server runs: decode, default, validate,
    /// and the Status kubectl prints as
    /// `The Pod "bad" is invalid: spec.containers[0].image: Required value`.
    #[test]
    fn manifest_to_status() {
        let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  containers:\n  - name: main\n";
        let value = crate::yaml::decode_one(manifest).unwrap();
        let mut pod: Pod = serde_json::from_value(value).unwrap();
        crate::defaults::default_pod(&mut pod);
        let errs = super::validate_pod(&pod);
        let status = ApiError::invalid("Pod", "bad", errs).to_status();
        assert_eq!(
            status,
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Pod \"bad\" is invalid: spec.containers[0].image: Required value",
                "reason": "Invalid",
                "details": {"name": "bad", "kind": "Pod", "causes": [
                    {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}]},
                "code": 422
            })
        );
    }
}
