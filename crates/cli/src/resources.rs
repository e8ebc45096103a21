//! The resource types peapod serves and how to address them.
//!
//! kubectl learns this from discovery; peapod's CLI knows the small fixed set
//! of core/v1 types the daemon serves, so it needs no discovery round trip.
//! [`lookup`] resolves what a user typed (`pods`, `pod`, `po`, `Pod`);
//! [`for_kind`] resolves a manifest's `apiVersion`/`kind`; [`ResourceType::path`]
//! builds REST paths.

use serde_json::Value;

/// One served resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// `Pod`.
    pub kind: &'static str,
    /// `pods`.
    pub plural: &'static str,
    /// `pod`.
    pub singular: &'static str,
    /// `po`.
    pub short: &'static [&'static str],
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

/// Every type the CLI knows (all core `v1`).
pub const TYPES: &[ResourceType] = &[
    ResourceType { kind: "Pod", plural: "pods", singular: "pod", short: &["po"], namespaced: true },
    ResourceType { kind: "ConfigMap", plural: "configmaps", singular: "configmap", short: &["cm"], namespaced: true },
    ResourceType { kind: "Secret", plural: "secrets", singular: "secret", short: &[], namespaced: true },
    ResourceType { kind: "Namespace", plural: "namespaces", singular: "namespace", short: &["ns"], namespaced: false },
    ResourceType { kind: "Event", plural: "events", singular: "event", short: &["ev"], namespaced: true },
    ResourceType { kind: "Node", plural: "nodes", singular: "node", short: &["no"], namespaced: false },
];

/// The pod type.
pub const POD: &ResourceType = &TYPES[0];
/// The event type.
pub const EVENT: &ResourceType = &TYPES[4];

/// Resolve a type name as typed on the command line (case-insensitive).
pub fn lookup(name: &str) -> Option<&'static ResourceType> {
    let n = name.to_ascii_lowercase();
    // `pods.v1.` / `pods.` forms (resource.version.group) name the core group.
    let n = n.strip_suffix(".v1.").or_else(|| n.strip_suffix('.')).unwrap_or(&n).to_string();
    TYPES
        .iter()
        .find(|t| t.plural == n || t.singular == n || t.short.contains(&n.as_str()) || t.kind.eq_ignore_ascii_case(&n))
}

/// Resolve a manifest's `apiVersion` and `kind`.
pub fn for_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    if api_version != "v1" {
        return None;
    }
    TYPES.iter().find(|t| t.kind == kind)
}

impl ResourceType {
    /// REST path: collection when `name` is `None`; across namespaces when
    /// `namespace` is `None` for a namespaced type.
    pub fn path(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        let mut p = String::from("/api/v1");
        if self.namespaced
            && let Some(ns) = namespace
        {
            p.push_str("/namespaces/");
            p.push_str(&escape_segment(ns));
        }
        p.push('/');
        p.push_str(self.plural);
        if let Some(n) = name {
            p.push('/');
            p.push_str(&escape_segment(n));
        }
        p
    }

    /// `pod/web` as printed by kubectl (`-o name`, apply results).
    pub fn slash_name(&self, name: &str) -> String {
        format!("{}/{}", self.singular, name)
    }
}

/// Percent-escape one path segment (object names are normally DNS labels;
/// this only matters for odd input, which the server then rejects cleanly).
pub fn escape_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `metadata.name` of an object.
pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}

/// `metadata.namespace` of an object.
pub fn namespace_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/namespace").and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Split `pods,cm` / `pod/web` style arguments into (type, names) groups, in
/// order. `TYPE NAME...` and `TYPE/NAME...` cannot be mixed (kubectl refuses).
pub fn parse_type_args(args: &[String]) -> Result<Vec<(&'static ResourceType, Vec<String>)>, String> {
    let Some(first) = args.first() else {
        return Err("you must specify the type of resource to get".into());
    };
    let unknown = |t: &str| format!("the server doesn't have a resource type \"{t}\"");
    if args.iter().any(|a| a.contains('/')) {
        let mut out: Vec<(&'static ResourceType, Vec<String>)> = Vec::new();
        for a in args {
            let Some((t, n)) = a.split_once('/') else {
                return Err("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'peapod get resource/<resource_name>' instead of 'peapod get resource resource/<resource_name>'".into());
            };
            if n.is_empty() {
                return Err("arguments in resource/name form must have a single resource and name".into());
            }
            let rt = lookup(t).ok_or_else(|| unknown(t))?;
            match out.iter_mut().find(|(r, _)| *r == rt) {
                Some((_, names)) => names.push(n.to_string()),
                None => out.push((rt, vec![n.to_string()])),
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    let types: Vec<&str> = first.split(',').filter(|s| !s.is_empty()).collect();
    // `get pods,cm web` means `web` of each type, as kubectl does.
    types.into_iter().map(|t| lookup(t).map(|rt| (rt, names.clone())).ok_or_else(|| unknown(t))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_aliases() {
        for (typed, plural) in [
            ("pods", "pods"),
            ("pod", "pods"),
            ("po", "pods"),
            ("Pod", "pods"),
            ("cm", "configmaps"),
            ("secret", "secrets"),
            ("ns", "namespaces"),
            ("ev", "events"),
            ("no", "nodes"),
            ("pods.", "pods"),
        ] {
            assert_eq!(lookup(typed).map(|t| t.plural), Some(plural), "{typed}");
        }
        assert!(lookup("deployments").is_none());
    }

    #[test]
    fn paths() {
        let pod = lookup("po").unwrap();
        assert_eq!(pod.path(Some("default"), Some("web")), "/api/v1/namespaces/default/pods/web");
        assert_eq!(pod.path(None, None), "/api/v1/pods");
        let ns = lookup("ns").unwrap();
        assert_eq!(ns.path(Some("ignored"), Some("x")), "/api/v1/namespaces/x");
        assert_eq!(escape_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(for_kind("v1", "Secret").unwrap().plural, "secrets");
        assert!(for_kind("apps/v1", "Deployment").is_none());
        assert!(for_kind("v1", "Foo").is_none());
    }

    #[test]
    fn type_args() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let g = parse_type_args(&s(&["pods,cm"])).unwrap();
        assert_eq!(g.iter().map(|(t, n)| (t.plural, n.len())).collect::<Vec<_>>(), [("pods", 0), ("configmaps", 0)]);
        let g = parse_type_args(&s(&["pod/a", "cm/b", "po/c"])).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].1, ["a", "c"]);
        let g = parse_type_args(&s(&["po", "a", "b"])).unwrap();
        assert_eq!(g[0].1, ["a", "b"]);
        assert_eq!(parse_type_args(&s(&["foo"])).unwrap_err(), "the server doesn't have a resource type \"foo\"");
        assert!(parse_type_args(&s(&["pods", "pod/x"])).is_err());
    }
}
