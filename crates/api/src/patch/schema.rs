//! Patch metadata of the served kinds: which fields are lists merged by a
//! key (`patchStrategy:"merge" patchMergeKey:"name"` in `k8s.io/api`), and
//! the type of each nested struct that has such lists.
//!
//! Fields not listed behave as Go's untagged fields: maps merge key by key,
//! lists are replaced wholesale.

/// How a field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Untagged: maps merge, lists are replaced.
    Default,
    /// `patchStrategy:"merge"`: lists merge by `key` (primitive lists when
    /// `None`), maps merge.
    Merge { key: Option<&'static str> },
    /// `patchStrategy:"replace"`: the patch value replaces the field.
    Replace,
}

/// Metadata of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldMeta {
    /// Type name of the field's struct (or list element struct), if it has
    /// patch metadata of its own.
    pub elem: Option<&'static str>,
    /// How the field is patched.
    pub strategy: Strategy,
}

const DEFAULT_META: FieldMeta = FieldMeta { elem: None, strategy: Strategy::Default };

/// A table of `(type, field, meta)` entries.
pub(crate) struct Schema {
    entries: &'static [(&'static str, &'static str, FieldMeta)],
}

impl Schema {
    pub(crate) const fn new(entries: &'static [(&'static str, &'static str, FieldMeta)]) -> Self {
        Schema { entries }
    }

    /// The metadata of `field` in struct `ty` (untagged when unknown).
    pub(crate) fn lookup(&self, ty: Option<&str>, field: &str) -> FieldMeta {
        let Some(ty) = ty else { return DEFAULT_META };
        self.entries.iter().find(|(t, f, _)| *t == ty && *f == field).map(|(_, _, m)| *m).unwrap_or(DEFAULT_META)
    }

    /// A type name for error messages.
    pub(crate) fn name(ty: Option<&str>) -> &str {
        ty.unwrap_or("unknown type")
    }
}

const fn nested(elem: &'static str) -> FieldMeta {
    FieldMeta { elem: Some(elem), strategy: Strategy::Default }
}

const fn by_key(key: &'static str, elem: Option<&'static str>) -> FieldMeta {
    FieldMeta { elem, strategy: Strategy::Merge { key: Some(key) } }
}

const PRIMITIVE_SET: FieldMeta = FieldMeta { elem: None, strategy: Strategy::Merge { key: None } };

/// The kinds served (core/v1 and node.k8s.io/v1), with their nested structs.
pub(crate) static CORE: Schema = Schema::new(&[
    ("Pod", "metadata", nested("ObjectMeta")),
    ("Pod", "spec", nested("PodSpec")),
    ("Pod", "status", nested("PodStatus")),
    ("ConfigMap", "metadata", nested("ObjectMeta")),
    ("Secret", "metadata", nested("ObjectMeta")),
    ("Event", "metadata", nested("ObjectMeta")),
    ("Namespace", "metadata", nested("ObjectMeta")),
    ("Namespace", "status", nested("NamespaceStatus")),
    ("Node", "metadata", nested("ObjectMeta")),
    ("Node", "spec", nested("NodeSpec")),
    ("Node", "status", nested("NodeStatus")),
    // node.k8s.io/v1: no merge keys below metadata (tolerations are atomic there).
    ("RuntimeClass", "metadata", nested("ObjectMeta")),
    ("ObjectMeta", "ownerReferences", by_key("uid", None)),
    ("ObjectMeta", "finalizers", PRIMITIVE_SET),
    // volumes and resourceClaims are "merge,retainKeys"; retainKeys only
    // matters to patch *generation*, appliers honour `$retainKeys` anywhere.
    ("PodSpec", "volumes", by_key("name", None)),
    ("PodSpec", "initContainers", by_key("name", Some("Container"))),
    ("PodSpec", "containers", by_key("name", Some("Container"))),
    ("PodSpec", "ephemeralContainers", by_key("name", Some("Container"))),
    ("PodSpec", "imagePullSecrets", by_key("name", None)),
    ("PodSpec", "hostAliases", by_key("ip", None)),
    ("PodSpec", "topologySpreadConstraints", by_key("topologyKey", None)),
    ("PodSpec", "resourceClaims", by_key("name", None)),
    ("PodSpec", "schedulingGates", by_key("name", None)),
    ("Container", "ports", by_key("containerPort", None)),
    ("Container", "env", by_key("name", None)),
    ("Container", "volumeMounts", by_key("mountPath", None)),
    ("Container", "volumeDevices", by_key("devicePath", None)),
    ("PodStatus", "conditions", by_key("type", None)),
    ("PodStatus", "podIPs", by_key("ip", None)),
    ("PodStatus", "hostIPs", by_key("ip", None)),
    ("PodStatus", "resourceClaimStatuses", by_key("name", None)),
    ("NamespaceStatus", "conditions", by_key("type", None)),
    ("NodeSpec", "podCIDRs", PRIMITIVE_SET),
    ("NodeStatus", "conditions", by_key("type", None)),
    ("NodeStatus", "addresses", by_key("type", None)),
]);

/// The root type for a kind, if strategic merge patch is supported for it.
pub(crate) fn root_type(kind: &str) -> Option<&'static str> {
    ["Pod", "ConfigMap", "Secret", "Event", "Namespace", "Node", "RuntimeClass"].into_iter().find(|k| *k == kind)
}
