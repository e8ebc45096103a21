//! [`ObjKey`]: the identity of a stored object.

use std::fmt;

/// Identity of a stored object: `(resource, namespace, name)`.
///
/// `resource` is the plural resource name as a free string (`"pods"`,
/// `"configmaps"`, `"nodes"`, ...); `namespace` is `""` for cluster-scoped
/// objects. Keys order by resource, then namespace, then name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    /// Plural resource name, e.g. `"pods"`.
    pub resource: String,
    /// Namespace, or `""` for cluster-scoped resources.
    pub namespace: String,
    /// `metadata.name` of the object.
    pub name: String,
}

impl ObjKey {
    /// Builds a key from its three parts.
    pub fn new(resource: impl Into<String>, namespace: impl Into<String>, name: impl Into<String>) -> ObjKey {
        ObjKey { resource: resource.into(), namespace: namespace.into(), name: name.into() }
    }
}

/// `resource/namespace/name`, or `resource/name` when cluster-scoped.
impl fmt::Display for ObjKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.resource, self.name)
        } else {
            write!(f, "{}/{}/{}", self.resource, self.namespace, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_empty_namespace() {
        let cases =
            [(ObjKey::new("pods", "default", "web"), "pods/default/web"), (ObjKey::new("nodes", "", "n1"), "nodes/n1")];
        for (key, want) in cases {
            assert_eq!(key.to_string(), want);
        }
    }

    #[test]
    fn orders_by_resource_then_namespace_then_name() {
        let mut keys = [
            ObjKey::new("pods", "b", "a"),
            ObjKey::new("configmaps", "z", "z"),
            ObjKey::new("pods", "a", "b"),
            ObjKey::new("pods", "a", "a"),
        ];
        keys.sort();
        let names: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["configmaps/z/z", "pods/a/a", "pods/a/b", "pods/b/a"]);
    }
}
