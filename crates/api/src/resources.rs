//! The registry of served resources and the discovery documents built
//! from it.
//!
//! kubectl resolves `po`, `pod`, `pods` and `get all` from discovery, so the
//! entries carry the apiserver's short names, singular names and
//! categories. Discovery is served both ways kubectl asks for it: the legacy
//! `APIVersions`/`APIResourceList` documents and the aggregated
//! `APIGroupDiscoveryList` (`apidiscovery.k8s.io/v2` or `v2beta1`).

use serde_json::{Map, Value, json};

/// A subresource such as `pods/log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubresourceInfo {
    /// The part after the slash (`log`).
    pub name: &'static str,
    /// The kind it returns (`Pod`, `PodExecOptions`).
    pub kind: &'static str,
    /// Verbs it supports.
    pub verbs: &'static [&'static str],
}

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group (`""` for core).
    pub group: &'static str,
    /// API version (`v1`).
    pub version: &'static str,
    /// Kind (`Pod`).
    pub kind: &'static str,
    /// Plural resource name, used in URLs (`pods`).
    pub plural: &'static str,
    /// Singular name (`pod`).
    pub singular: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// kubectl aliases (`po`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Verbs on the collection and items.
    pub verbs: &'static [&'static str],
    /// Kind of the list (`PodList`).
    pub list_kind: &'static str,
    /// Subresources served.
    pub subresources: &'static [SubresourceInfo],
}

impl ResourceInfo {
    /// `v1` for core, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The resource name as the apiserver qualifies it in messages
    /// (`pods`, `deployments.apps`).
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// The subresource with this name, if served.
    pub fn subresource(&self, name: &str) -> Option<&SubresourceInfo> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        verbs: ALL_VERBS,
        list_kind: "ConfigMapList",
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        verbs: ALL_VERBS,
        list_kind: "EventList",
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        verbs: &["create", "delete", "get", "list", "patch", "update", "watch"],
        list_kind: "NamespaceList",
        subresources: &[
            SubresourceInfo { name: "finalize", kind: "Namespace", verbs: &["update"] },
            SubresourceInfo { name: "status", kind: "Namespace", verbs: STATUS_VERBS },
        ],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        verbs: ALL_VERBS,
        list_kind: "NodeList",
        subresources: &[SubresourceInfo { name: "status", kind: "Node", verbs: STATUS_VERBS }],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        verbs: ALL_VERBS,
        list_kind: "PodList",
        subresources: &[
            SubresourceInfo { name: "attach", kind: "PodAttachOptions", verbs: &["create", "get"] },
            SubresourceInfo { name: "binding", kind: "Binding", verbs: &["create"] },
            SubresourceInfo { name: "ephemeralcontainers", kind: "Pod", verbs: STATUS_VERBS },
            SubresourceInfo { name: "exec", kind: "PodExecOptions", verbs: &["create", "get"] },
            SubresourceInfo { name: "log", kind: "Pod", verbs: &["get"] },
            SubresourceInfo { name: "portforward", kind: "PodPortForwardOptions", verbs: &["create", "get"] },
            SubresourceInfo { name: "status", kind: "Pod", verbs: STATUS_VERBS },
        ],
    },
    ResourceInfo {
        group: "node.k8s.io",
        version: "v1",
        kind: "RuntimeClass",
        plural: "runtimeclasses",
        singular: "runtimeclass",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        list_kind: "RuntimeClassList",
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        list_kind: "SecretList",
        subresources: &[],
    },
];

/// Every served resource, sorted by plural name.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// Finds a resource by plural, singular, short name or kind
/// (case-insensitive), e.g. `po`, `pod`, `pods`, `Pod`.
pub fn lookup(name: &str) -> Option<&'static ResourceInfo> {
    let n = name.to_ascii_lowercase();
    RESOURCES.iter().find(|r| {
        r.plural == n || r.singular == n || r.kind.eq_ignore_ascii_case(&n) || r.short_names.contains(&n.as_str())
    })
}

/// The resource serving `kind` in `api_version` (`v1`, `Pod`).
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.kind == kind && r.api_version() == api_version)
}

fn str_list(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| json!(s)).collect())
}

/// `GET /api`: the legacy `APIVersions` document.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The named API groups served (`node.k8s.io`), each once, with the one
/// version served of it, in registry order.
pub fn named_groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.iter().any(|(g, _)| *g == r.group) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// One group as `APIGroupList` lists it and `GET /apis/<group>` answers.
fn group_doc(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `GET /apis`: the legacy `APIGroupList`, one entry per named group.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = named_groups().into_iter().map(|(g, v)| group_doc(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`: the legacy `APIGroup`; None for a group not served.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = named_groups().into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_doc(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `GET /api/v1`: the legacy `APIResourceList`, resources and
/// subresources sorted by name as the apiserver lists them.
pub fn api_resource_list() -> Value {
    group_resource_list("", "v1").expect("core/v1 is served")
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`: the legacy
/// `APIResourceList` of one group version (None when it is not served).
pub fn group_resource_list(group: &str, version: &str) -> Option<Value> {
    let mut entries: Vec<(String, Value)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        let mut m = Map::new();
        m.insert("name".into(), json!(r.plural));
        m.insert("singularName".into(), json!(r.singular));
        m.insert("namespaced".into(), json!(r.namespaced));
        m.insert("kind".into(), json!(r.kind));
        m.insert("verbs".into(), str_list(r.verbs));
        if !r.short_names.is_empty() {
            m.insert("shortNames".into(), str_list(r.short_names));
        }
        if !r.categories.is_empty() {
            m.insert("categories".into(), str_list(r.categories));
        }
        entries.push((r.plural.to_string(), Value::Object(m)));
        for s in r.subresources {
            let name = format!("{}/{}", r.plural, s.name);
            entries.push((
                name.clone(),
                json!({"name": name, "singularName": "", "namespaced": r.namespaced,
                       "kind": s.kind, "verbs": str_list(s.verbs)}),
            ));
        }
    }
    if entries.is_empty() {
        return None;
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
}

/// The media type of an aggregated discovery answer in `version`
/// (`v2` or `v2beta1`), to send as Content-Type.
pub fn aggregated_discovery_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let kind_ref = |kind: &str| json!({"group": r.group, "version": r.version, "kind": kind});
    let mut m = Map::new();
    m.insert("resource".into(), json!(r.plural));
    m.insert("responseKind".into(), kind_ref(r.kind));
    m.insert("scope".into(), json!(if r.namespaced { "Namespaced" } else { "Cluster" }));
    m.insert("singularResource".into(), json!(r.singular));
    m.insert("verbs".into(), str_list(r.verbs));
    if !r.short_names.is_empty() {
        m.insert("shortNames".into(), str_list(r.short_names));
    }
    if !r.categories.is_empty() {
        m.insert("categories".into(), str_list(r.categories));
    }
    if !r.subresources.is_empty() {
        let subs: Vec<Value> = r
            .subresources
            .iter()
            .map(|s| json!({"subresource": s.name, "responseKind": kind_ref(s.kind), "verbs": str_list(s.verbs)}))
            .collect();
        m.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(m)
}

/// `GET /api` answered as an aggregated `APIGroupDiscoveryList` in
/// `version` (`v2` for kubectl ≥ 1.30, `v2beta1` for older ones).
pub fn aggregated_discovery(version: &str) -> Value {
    let resources: Vec<Value> = RESOURCES.iter().filter(|r| r.group.is_empty()).map(aggregated_resource).collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": [{
            "metadata": {"creationTimestamp": null},
            "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
        }],
    })
}

/// `GET /apis` answered as an aggregated `APIGroupDiscoveryList`: one item
/// per named group.
pub fn aggregated_discovery_apis(version: &str) -> Value {
    let items: Vec<Value> = named_groups()
        .into_iter()
        .map(|(g, v)| {
            let resources: Vec<Value> =
                RESOURCES.iter().filter(|r| r.group == g && r.version == v).map(aggregated_resource).collect();
            json!({"metadata": {"name": g, "creationTimestamp": null},
                   "versions": [{"version": v, "resources": resources, "freshness": "Current"}]})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_aliases() {
        let table = [
            ("po", Some("pods")),
            ("pod", Some("pods")),
            ("Pods", Some("pods")),
            ("Pod", Some("pods")),
            ("cm", Some("configmaps")),
            ("ns", Some("namespaces")),
            ("ev", Some("events")),
            ("no", Some("nodes")),
            ("secret", Some("secrets")),
            ("runtimeclass", Some("runtimeclasses")),
            ("RuntimeClass", Some("runtimeclasses")),
            ("deployments", None),
            ("all", None),
        ];
        for (name, want) in table {
            assert_eq!(lookup(name).map(|r| r.plural), want, "{name}");
        }
        assert_eq!(lookup_kind("v1", "Namespace").unwrap().plural, "namespaces");
        assert!(lookup_kind("apps/v1", "Pod").is_none());
        assert_eq!(lookup("pods").unwrap().qualified_plural(), "pods");
        assert!(lookup("pods").unwrap().subresource("exec").is_some());
        let rc = lookup_kind("node.k8s.io/v1", "RuntimeClass").unwrap();
        assert_eq!((rc.qualified_plural().as_str(), rc.namespaced), ("runtimeclasses.node.k8s.io", false));
        assert!(lookup_kind("v1", "RuntimeClass").is_none());
    }

    #[test]
    fn named_groups_in_legacy_discovery() {
        let gv = json!({"groupVersion": "node.k8s.io/v1", "version": "v1"});
        assert_eq!(
            api_group_list(),
            json!({"kind": "APIGroupList", "apiVersion": "v1",
                   "groups": [{"name": "node.k8s.io", "versions": [gv.clone()], "preferredVersion": gv.clone()}]})
        );
        assert_eq!(api_group("node.k8s.io").unwrap()["kind"], "APIGroup");
        assert!(api_group("apps").is_none());
        let list = group_resource_list("node.k8s.io", "v1").unwrap();
        assert_eq!(list["groupVersion"], "node.k8s.io/v1");
        assert_eq!(
            list["resources"],
            json!([{"name": "runtimeclasses", "singularName": "runtimeclass", "namespaced": false,
                    "kind": "RuntimeClass", "verbs": ALL_VERBS}])
        );
        assert!(group_resource_list("node.k8s.io", "v1beta1").is_none());
        let core = api_resource_list();
        assert!(core["resources"].as_array().unwrap().iter().all(|r| r["name"] != "runtimeclasses"));
    }

    #[test]
    fn legacy_resource_list_shape() {
        let v = api_resource_list();
        let names: Vec<&str> = v["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "configmaps",
                "events",
                "namespaces",
                "namespaces/finalize",
                "namespaces/status",
                "nodes",
                "nodes/status",
                "pods",
                "pods/attach",
                "pods/binding",
                "pods/ephemeralcontainers",
                "pods/exec",
                "pods/log",
                "pods/portforward",
                "pods/status",
                "secrets"
            ]
        );
        let pods = &v["resources"][7];
        assert_eq!(
            serde_json::to_string(pods).unwrap(),
            r#"{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["po"],"categories":["all"]}"#
        );
        assert_eq!(
            v["resources"][11],
            json!({"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]})
        );
    }

    fn v2_core_has_no_named(version: &str) -> bool {
        let v = aggregated_discovery(version);
        v["items"][0]["versions"][0]["resources"].as_array().unwrap().iter().all(|r| r["resource"] != "runtimeclasses")
    }

    #[test]
    fn aggregated_shape() {
        for version in ["v2", "v2beta1"] {
            let v = aggregated_discovery(version);
            assert_eq!(v["apiVersion"], format!("apidiscovery.k8s.io/{version}"));
            let item = &v["items"][0];
            assert_eq!(item["metadata"], json!({"creationTimestamp": null}));
            let version0 = &item["versions"][0];
            assert_eq!(version0["freshness"], "Current");
            let pods = version0["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "pods").unwrap();
            assert_eq!(pods["responseKind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
            assert_eq!(pods["scope"], "Namespaced");
            assert_eq!(pods["categories"], json!(["all"]));
            assert_eq!(
                pods["subresources"][4],
                json!({"subresource": "log", "responseKind": {"group": "", "version": "v1", "kind": "Pod"}, "verbs": ["get"]})
            );
            let ns = version0["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "namespaces").unwrap();
            assert_eq!(ns["scope"], "Cluster");
        }
        let apis = aggregated_discovery_apis("v2");
        assert_eq!(apis["items"][0]["metadata"]["name"], "node.k8s.io");
        let rc = &apis["items"][0]["versions"][0]["resources"][0];
        assert_eq!(rc["responseKind"], json!({"group": "node.k8s.io", "version": "v1", "kind": "RuntimeClass"}));
        assert_eq!(rc["scope"], "Cluster");
        assert!(v2_core_has_no_named("v2"), "named groups are not in the core document");
        assert_eq!(
            aggregated_discovery_content_type("v2"),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
    }
}
