//! The in-memory copy of every object: the store's read path.
//!
//! Nested maps `resource → namespace → name → object` so that a list of one
//! resource (optionally one namespace) is a walk over already-sorted maps, and
//! a lookup takes `&str` parts without building an [`ObjKey`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::ObjKey;

type Names = BTreeMap<String, Arc<Value>>;

/// All objects, keyed by `(resource, namespace, name)`.
#[derive(Debug, Default)]
pub(crate) struct Index {
    by_resource: HashMap<String, BTreeMap<String, Names>>,
    len: usize,
}

impl Index {
    pub(crate) fn get(&self, key: &ObjKey) -> Option<&Arc<Value>> {
        self.by_resource.get(&key.resource)?.get(&key.namespace)?.get(&key.name)
    }

    /// Inserts or replaces; returns the previous object.
    pub(crate) fn insert(&mut self, key: &ObjKey, obj: Arc<Value>) -> Option<Arc<Value>> {
        let previous = self
            .by_resource
            .entry(key.resource.clone())
            .or_default()
            .entry(key.namespace.clone())
            .or_default()
            .insert(key.name.clone(), obj);
        if previous.is_none() {
            self.len += 1;
        }
        previous
    }

    /// Removes and returns the object; drops maps that become empty so that
    /// deleted namespaces leave nothing behind.
    pub(crate) fn remove(&mut self, key: &ObjKey) -> Option<Arc<Value>> {
        let namespaces = self.by_resource.get_mut(&key.resource)?;
        let names = namespaces.get_mut(&key.namespace)?;
        let removed = names.remove(&key.name)?;
        self.len -= 1;
        if names.is_empty() {
            namespaces.remove(&key.namespace);
            if namespaces.is_empty() {
                self.by_resource.remove(&key.resource);
            }
        }
        Some(removed)
    }

    /// Objects of `resource` (in `namespace` if given), sorted by
    /// (namespace, name).
    pub(crate) fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        self.entries(resource, namespace).map(|(_, _, obj)| Arc::clone(obj)).collect()
    }

    /// Like [`Index::list`], with each object's namespace and name from its
    /// key (a body may omit `metadata.namespace`).
    pub(crate) fn entries<'a>(
        &'a self,
        resource: &str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a Arc<Value>)> + 'a {
        self.by_resource
            .get(resource)
            .into_iter()
            .flat_map(move |namespaces| {
                namespaces.iter().filter(move |(ns, _)| namespace.is_none_or(|want| want == ns.as_str()))
            })
            .flat_map(|(ns, names)| names.iter().map(move |(name, obj)| (ns.as_str(), name.as_str(), obj)))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(tag: &str) -> Arc<Value> {
        Arc::new(json!({ "metadata": { "name": tag } }))
    }

    fn names(list: &[Arc<Value>]) -> Vec<&str> {
        list.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect()
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut index = Index::default();
        let key = ObjKey::new("pods", "a", "web");
        assert!(index.insert(&key, obj("v1")).is_none());
        assert_eq!(index.len(), 1);
        let old = index.insert(&key, obj("v2")).unwrap();
        assert_eq!(old["metadata"]["name"], "v1");
        assert_eq!(index.len(), 1);
        assert_eq!(index.get(&key).unwrap()["metadata"]["name"], "v2");
        assert!(index.get(&ObjKey::new("pods", "b", "web")).is_none());
        assert!(index.get(&ObjKey::new("services", "a", "web")).is_none());
        assert!(index.remove(&key).is_some());
        assert!(index.remove(&key).is_none());
        assert_eq!(index.len(), 0);
        assert!(index.by_resource.is_empty(), "empty maps are pruned");
    }

    #[test]
    fn entries_carry_key_parts() {
        let mut index = Index::default();
        index.insert(&ObjKey::new("pods", "b", "x"), Arc::new(json!({"metadata": {}})));
        index.insert(&ObjKey::new("pods", "a", "y"), Arc::new(json!({"metadata": {}})));
        let keys: Vec<(&str, &str)> = index.entries("pods", None).map(|(ns, name, _)| (ns, name)).collect();
        assert_eq!(keys, [("a", "y"), ("b", "x")]);
    }

    #[test]
    fn list_sorts_and_filters() {
        let mut index = Index::default();
        for (resource, ns, name) in [
            ("pods", "b", "p1"),
            ("pods", "a", "p3"),
            ("pods", "a", "p2"),
            ("pods", "", "p0"),
            ("configmaps", "a", "c1"),
        ] {
            index.insert(&ObjKey::new(resource, ns, name), obj(name));
        }
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            ("pods", None, &["p0", "p2", "p3", "p1"]),
            ("pods", Some("a"), &["p2", "p3"]),
            ("pods", Some(""), &["p0"]),
            ("pods", Some("zzz"), &[]),
            ("configmaps", None, &["c1"]),
            ("secrets", None, &[]),
        ];
        for (resource, ns, want) in cases {
            assert_eq!(names(&index.list(resource, *ns)), *want, "{resource} {ns:?}");
        }
    }
}
