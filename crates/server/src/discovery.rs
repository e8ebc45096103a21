//! Discovery (/version, /api, /apis, /api/v1, /apis/<group>[/<version>])
//! and the OpenAPI documents kubectl fetches before `apply`/`create -f`
//! (kubectl-wire.md §3, §5), one v3 document per group version:
//! v3 JSON for kubectl ≥ 1.29, v2 protobuf for 1.27/1.28. Each kind has a
//! `patch` operation tagged with its GVK and a `fieldValidation` query
//! parameter, which is what kubectl looks for before sending
//! `fieldValidation=Strict`. The v3 document also carries the real schemas
//! of the served kinds (from k8s-openapi), which `kubectl explain` walks.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use peapod_api::resources;

use crate::AppState;
use crate::error::HttpError;

/// The Kubernetes version we serve (k8s-openapi's v1_35 types).
pub const KUBE_MINOR: &str = "35";

fn json_response(content_type: &str, body: &Value) -> Response {
    ([(header::CONTENT_TYPE, content_type.to_owned())], serde_json::to_vec(body).unwrap_or_default()).into_response()
}

pub async fn version() -> Response {
    json_response(
        "application/json",
        &json!({
            "major": "1",
            "minor": KUBE_MINOR,
            "gitVersion": format!("v1.{KUBE_MINOR}.0-peapod.{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "rust",
            "compiler": "rustc",
            "platform": "linux/amd64",
        }),
    )
}

/// The aggregated discovery version the client asked for first, if any.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    for part in accept.split(',') {
        if !part.contains("as=APIGroupDiscoveryList") {
            if part.trim().starts_with("application/json") || part.trim() == "*/*" {
                return None;
            }
            continue;
        }
        if part.contains("v=v2beta1") {
            return Some("v2beta1");
        }
        if part.contains("v=v2") {
            return Some("v2");
        }
    }
    None
}

pub async fn api(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match aggregated_version(&headers) {
        Some(v) => json_response(&resources::aggregated_discovery_content_type(v), &resources::aggregated_discovery(v)),
        None => json_response("application/json", &resources::api_versions(&st.server_address)),
    }
}

pub async fn apis(headers: HeaderMap) -> Response {
    match aggregated_version(&headers) {
        Some(v) => {
            json_response(&resources::aggregated_discovery_content_type(v), &resources::aggregated_discovery_apis(v))
        }
        None => json_response("application/json", &resources::api_group_list()),
    }
}

pub async fn api_v1() -> Response {
    json_response("application/json", &resources::api_resource_list())
}

/// `GET /apis/<group>`: the legacy `APIGroup`.
pub async fn api_group(Path(group): Path<String>) -> Result<Response, HttpError> {
    let doc = resources::api_group(&group).ok_or_else(|| HttpError(peapod_api::ApiError::unknown_path()))?;
    Ok(json_response("application/json", &doc))
}

/// `GET /apis/<group>/<version>`: the legacy `APIResourceList` of the group version.
pub async fn group_version(Path((group, version)): Path<(String, String)>) -> Result<Response, HttpError> {
    let doc = resources::group_resource_list(&group, &version)
        .ok_or_else(|| HttpError(peapod_api::ApiError::unknown_path()))?;
    Ok(json_response("application/json", &doc))
}

/// One OpenAPI v3 document: its index path (`api/v1`,
/// `apis/node.k8s.io/v1`), body and hash.
struct OpenApiDoc {
    path: String,
    body: Vec<u8>,
    hash: String,
}

/// Every group version served: ("", "v1") first, then the named groups.
fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("", "v1")];
    out.extend(resources::named_groups());
    out
}

/// The OpenAPI v3 documents, one per group version, built once; each
/// with its hash (kubectl caches documents by the `hash` in their URL).
fn openapi_v3() -> &'static [OpenApiDoc] {
    static DOCS: std::sync::OnceLock<Vec<OpenApiDoc>> = std::sync::OnceLock::new();
    DOCS.get_or_init(|| {
        group_versions()
            .into_iter()
            .map(|(group, version)| {
                let body = serde_json::to_vec(&openapi_v3_group(group, version)).unwrap_or_default();
                // Any change of the document (a new peapod) changes the URL.
                let mut h = std::hash::DefaultHasher::new();
                std::hash::Hasher::write(&mut h, &body);
                let hash = format!("{:016X}", std::hash::Hasher::finish(&h));
                let path = if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") };
                OpenApiDoc { path, body, hash }
            })
            .collect()
    })
}

pub async fn openapi_v3_index() -> Response {
    let paths: serde_json::Map<String, Value> = openapi_v3()
        .iter()
        .map(|d| (d.path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={}", d.path, d.hash)})))
        .collect();
    json_response("application/json", &json!({"paths": paths}))
}

pub async fn openapi_v3_doc(Path(path): Path<String>) -> Result<Response, HttpError> {
    let wanted = path.trim_end_matches('/');
    let doc = openapi_v3()
        .iter()
        .find(|d| d.path == wanted)
        .ok_or_else(|| HttpError(peapod_api::ApiError::unknown_path()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], doc.body.clone()).into_response())
}

fn resource_path(r: &resources::ResourceInfo) -> String {
    let base =
        if r.group.is_empty() { format!("/api/{}", r.version) } else { format!("/apis/{}/{}", r.group, r.version) };
    if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("{base}/{}/{{name}}", r.plural)
    }
}

/// The upstream schema of a served kind and everything it references, from
/// k8s-openapi's generated schemas (the same Kubernetes OpenAPI spec the
/// apiserver serves, in the same `#/components/schemas/io.k8s...` layout).
fn kind_schema(g: &mut schemars::SchemaGenerator, kind: &str) -> Option<String> {
    use k8s_openapi::api::core::v1 as core;
    let name = match kind {
        "Pod" => g.subschema_for::<core::Pod>(),
        "ConfigMap" => g.subschema_for::<core::ConfigMap>(),
        "Secret" => g.subschema_for::<core::Secret>(),
        "Namespace" => g.subschema_for::<core::Namespace>(),
        "Event" => g.subschema_for::<core::Event>(),
        "Node" => g.subschema_for::<core::Node>(),
        "RuntimeClass" => g.subschema_for::<k8s_openapi::api::node::v1::RuntimeClass>(),
        _ => return None,
    };
    let reference = name.as_value().get("$ref")?.as_str()?;
    Some(reference.trim_start_matches("#/components/schemas/").to_owned())
}

/// The OpenAPI v3 document of one group version: one patch operation per
/// kind (for kubectl's validation check) and the real schemas (for `explain`).
///
/// The patch operations deliberately declare no request body: kubectl
/// computes `apply` patches from the OpenAPI v3 schema only when the
/// operation lists `application/strategic-merge-patch+json`, and these
/// schemas lack the patch-strategy extensions; without it kubectl uses its
/// compiled-in types, which have them.
fn openapi_v3_group(group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    let mut g = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut kinds = Vec::new();
    // The apiserver's operation ids: patchCoreV1Pod, patchNodeV1RuntimeClass.
    let group_word =
        if group.is_empty() { "Core".to_owned() } else { title_case(group.split('.').next().unwrap_or("")) };
    let op_prefix = format!("patch{group_word}{}", title_case(version));
    for r in resources::all().iter().filter(|r| r.group == group && r.version == version) {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        paths.insert(
            resource_path(r),
            json!({"patch": {
                "operationId": format!("{op_prefix}{}", r.kind),
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
                "responses": {"200": {"description": "OK"}},
            }}),
        );
        kinds.push((r.kind, r.version, kind_schema(&mut g, r.kind)));
    }
    let mut schemas = g.take_definitions(true);
    for (kind, version, name) in kinds {
        let name = name.unwrap_or_else(|| format!("io.k8s.api.core.v1.{kind}"));
        let schema = schemas.entry(name).or_insert_with(|| fallback_schema(kind));
        schema["x-kubernetes-group-version-kind"] = json!([{"group": group, "version": version, "kind": kind}]);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{KUBE_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// `node` → `Node`, `v1` → `V1`.
fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// A minimal schema for a kind k8s-openapi has no type for.
fn fallback_schema(kind: &str) -> Value {
    json!({
        "description": format!("{kind} is a core/v1 object served by peapod."),
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": {"type": "object", "description": "Standard object's metadata."},
        },
    })
}

/// kubectl 1.27/1.28 read only the v2 document, and only as protobuf (a
/// gnostic `openapi.v2.Document`); its content type must parse as MIME, so
/// the `@` of the requested type becomes a dot (kubectl-wire.md §5.3).
pub async fn openapi_v2() -> Response {
    ([(header::CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")], openapi_v2_protobuf())
        .into_response()
}

fn pb_bytes(field: u32, data: &[u8]) -> Vec<u8> {
    let mut out = varint(((field as u64) << 3) | 2);
    out.extend(varint(data.len() as u64));
    out.extend_from_slice(data);
    out
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

pub fn openapi_v2_protobuf() -> Vec<u8> {
    let mut doc = pb_bytes(1, b"2.0");
    let info = [pb_bytes(1, b"Kubernetes"), pb_bytes(2, format!("v1.{KUBE_MINOR}.0").as_bytes())].concat();
    doc.extend(pb_bytes(2, &info));
    let mut paths = Vec::new();
    for r in resources::all() {
        // QueryParameterSubSchema{in=2,name=4,type=6,unique_items=20 (bool)}
        let mut q = [pb_bytes(2, b"query"), pb_bytes(4, b"fieldValidation"), pb_bytes(6, b"string")].concat();
        q.extend(varint(20 << 3));
        q.push(1);
        let param = pb_bytes(1, &pb_bytes(2, &pb_bytes(3, &q))); // ParametersItem{parameter{non_body{query}}}
        let yaml = format!("group: \"{}\"\nkind: {}\nversion: {}\n", r.group, r.kind, r.version);
        let ext = pb_bytes(
            13,
            &[pb_bytes(1, b"x-kubernetes-group-version-kind"), pb_bytes(2, &pb_bytes(2, yaml.as_bytes()))].concat(),
        );
        let op = [pb_bytes(8, &param), ext].concat();
        let item = [pb_bytes(1, resource_path(r).as_bytes()), pb_bytes(2, &pb_bytes(8, &op))].concat();
        paths.extend(pb_bytes(2, &item));
    }
    doc.extend(pb_bytes(8, &paths));
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_aggregated_discovery_like_the_client_asks() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, v.parse().unwrap());
            m
        };
        assert_eq!(
            aggregated_version(&h(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
            )),
            Some("v2")
        );
        assert_eq!(
            aggregated_version(&h(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
            )),
            Some("v2beta1")
        );
        assert_eq!(aggregated_version(&h("application/json, */*")), None);
        assert_eq!(aggregated_version(&HeaderMap::new()), None);
    }

    #[test]
    fn v2_protobuf_carries_every_kind() {
        let pb = openapi_v2_protobuf();
        assert!(pb.starts_with(&[0x0a, 3, b'2', b'.', b'0']));
        let text = String::from_utf8_lossy(&pb);
        for k in ["Pod", "ConfigMap", "Secret", "Namespace"] {
            assert!(text.contains(&format!("kind: {k}\n")), "{k}");
        }
        assert!(text.contains("fieldValidation"));
    }

    #[test]
    fn v3_has_patch_with_field_validation_per_kind() {
        let d = openapi_v3_group("", "v1");
        let p = &d["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert_eq!(p["parameters"][0]["name"], "fieldValidation");
        assert_eq!(p["parameters"][0]["in"], "query");
        let schemas = &d["components"]["schemas"];
        assert_eq!(schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        // Real schemas, references resolvable: explain pod.spec.containers.
        let spec_ref = &schemas["io.k8s.api.core.v1.Pod"]["properties"]["spec"]["allOf"][0]["$ref"];
        assert_eq!(spec_ref, "#/components/schemas/io.k8s.api.core.v1.PodSpec");
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
        assert!(schemas["io.k8s.api.core.v1.Container"]["properties"]["image"]["description"].is_string());
        assert!(p.get("requestBody").is_none(), "kubectl must keep computing apply patches from its own types");
        assert!(d["paths"].as_object().unwrap().keys().all(|k| k.starts_with("/api/v1/")), "core kinds only");
    }

    #[test]
    fn v3_node_group_document() {
        let d = openapi_v3_group("node.k8s.io", "v1");
        let p = &d["paths"]["/apis/node.k8s.io/v1/runtimeclasses/{name}"]["patch"];
        assert_eq!(p["operationId"], "patchNodeV1RuntimeClass");
        assert_eq!(
            p["x-kubernetes-group-version-kind"],
            json!({"group": "node.k8s.io", "version": "v1", "kind": "RuntimeClass"})
        );
        let schema = &d["components"]["schemas"]["io.k8s.api.node.v1.RuntimeClass"];
        assert_eq!(schema["x-kubernetes-group-version-kind"][0]["group"], "node.k8s.io");
        assert!(schema["properties"]["handler"]["description"].is_string(), "explain runtimeclass.handler");
        let paths: Vec<&str> = openapi_v3().iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["api/v1", "apis/node.k8s.io/v1"]);
        let text = String::from_utf8_lossy(&openapi_v2_protobuf()).into_owned();
        assert!(text.contains("group: \"node.k8s.io\"\nkind: RuntimeClass\nversion: v1\n"));
    }
}
