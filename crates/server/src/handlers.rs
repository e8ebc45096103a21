//! `/api/v1/...` and `/apis/<group>/<version>/...`: one dispatcher parses
//! the path the way the apiserver's installer lays it out (collection,
//! object, subresource; namespaced or cluster-scoped) and calls the verb.
//! Handlers only write intent to the store; the node agent does the work.

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use peapod_api::resources::{self, ResourceInfo};
use peapod_api::selectors::{FieldSelector, LabelSelector};
use peapod_api::table::{IncludeObject, build_table};
use peapod_api::{ApiError, StatusDetails, patch};
use peapod_store::{Mutation, ObjKey};

use crate::admission::{self, Admitted, FieldValidation, now_seconds};
use crate::error::{HttpError, HttpResult, store_error, update_error};
use crate::query::{DeleteOptions, Query};
use crate::serve::MAX_OBJECT_BODY;
use crate::{AppState, apply};

/// A parsed `/api/v1/...` or `/apis/<group>/<version>/...` path.
#[derive(Debug, Clone)]
pub struct Target {
    pub res: &'static ResourceInfo,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    /// The legacy `.../watch/...` form.
    pub watch: bool,
}

impl Target {
    pub fn key(&self) -> ObjKey {
        ObjKey::new(self.res.plural, self.ns.as_deref().unwrap_or(""), self.name.as_deref().unwrap_or(""))
    }
}

/// Parse a request path: `/api/v1/<rest>` (core) or
/// `/apis/<group>/<version>/<rest>` (named groups).
pub fn parse_path(path: &str) -> Result<Target, ApiError> {
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        return parse_target("", "v1", rest);
    }
    let mut parts = path.strip_prefix("/apis/").ok_or_else(ApiError::unknown_path)?.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(group), Some(version), Some(rest)) if !group.is_empty() => parse_target(group, version, rest),
        _ => Err(ApiError::unknown_path()),
    }
}

/// Parse the part of a path after the group version (`namespaces/default/pods/web`).
pub fn parse_target(group: &str, version: &str, rest: &str) -> Result<Target, ApiError> {
    let mut segs: Vec<&str> = rest.trim_end_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let watch = segs.first() == Some(&"watch");
    if watch {
        segs.remove(0);
    }
    let lookup = |plural: &str| {
        resources::all()
            .iter()
            .find(|r| r.plural == plural && r.group == group && r.version == version)
            .ok_or_else(ApiError::unknown_path)
    };
    let (res, ns, name, sub) =
        if segs.len() >= 3 && segs[0] == "namespaces" && !matches!(segs[2], "status" | "finalize") {
            if segs.len() > 5 {
                return Err(ApiError::unknown_path());
            }
            (lookup(segs[2])?, Some(segs[1].to_owned()), segs.get(3), segs.get(4))
        } else {
            if segs.is_empty() || segs.len() > 3 {
                return Err(ApiError::unknown_path());
            }
            (lookup(segs[0])?, None, segs.get(1), segs.get(2))
        };
    if ns.is_some() && !res.namespaced {
        return Err(ApiError::unknown_path());
    }
    if ns.is_none() && res.namespaced && name.is_some() {
        return Err(ApiError::unknown_path());
    }
    if let Some(s) = sub
        && res.subresource(s).is_none()
    {
        return Err(ApiError::unknown_path());
    }
    Ok(Target { res, ns, name: name.map(|s| s.to_string()), sub: sub.map(|s| s.to_string()), watch })
}

pub async fn dispatch(State(st): State<AppState>, req: Request) -> Response {
    match route(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(st: AppState, req: Request) -> HttpResult<Response> {
    let path = req.uri().path().to_owned();
    let q = Query::parse(req.uri().query());
    let t = parse_path(&path)?;
    let method = req.method().clone();
    let headers = req.headers().clone();

    // Streaming subresources take the request itself (upgrades, long bodies).
    if let Some(sub) = t.sub.as_deref() {
        match (sub, &method) {
            ("log", &Method::GET) => return crate::logs::serve(&st, &t, &q).await,
            ("exec" | "attach" | "portforward", _) => return crate::streams::serve(&st, &t, &q, req).await,
            _ => {}
        }
    }
    let body = to_bytes(req.into_body(), MAX_OBJECT_BODY)
        .await
        .map_err(|_| HttpError(ApiError::too_large("the request body is too large")))?;

    match (t.name.is_some(), t.sub.as_deref(), &method) {
        (false, None, &Method::GET) if t.watch || q.flag("watch") => crate::watch::serve(&st, &t, &q, &headers).await,
        (false, None, &Method::GET) => list(&st, &t, &q, &headers),
        (false, None, &Method::POST) => create(&st, &t, &q, &headers, &body),
        (false, None, &Method::DELETE) => delete_collection(&st, &t, &q, &body),
        // `pods/ephemeralcontainers` reads and writes the whole Pod (admission
        // keeps only the ephemeral containers of a write).
        (true, None | Some("status" | "ephemeralcontainers"), &Method::GET) => get(&st, &t, &q, &headers),
        (true, None | Some("status" | "finalize" | "ephemeralcontainers"), &Method::PUT) => {
            update(&st, &t, &q, &headers, &body)
        }
        (true, None | Some("status" | "ephemeralcontainers"), &Method::PATCH) => {
            patch_object(&st, &t, &q, &headers, &body)
        }
        (true, None, &Method::DELETE) => delete(&st, &t, &q, &body),
        (true, Some("binding"), &Method::POST) => binding(&st, &t),
        _ => Err(ApiError::method_not_allowed(&t.res.qualified_plural(), method.as_str()).into()),
    }
}

/// Does the client want a `meta.k8s.io/v1` Table?
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().is_some_and(|first| first.contains("as=Table")))
}

pub fn json_response(code: StatusCode, v: &Value, warnings: &[String]) -> Response {
    let mut r =
        (code, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(v).unwrap_or_default()).into_response();
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(h) = HeaderValue::from_str(&text) {
            r.headers_mut().append("Warning", h);
        }
    }
    r
}

fn include_object(q: &Query) -> Result<IncludeObject, ApiError> {
    IncludeObject::parse(q.get("includeObject").unwrap_or(""))
        .ok_or_else(|| ApiError::bad_request("includeObject must be one of None, Metadata, Object"))
}

pub fn selectors(t: &Target, q: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let l =
        LabelSelector::parse(q.get("labelSelector").unwrap_or("")).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let f = FieldSelector::parse_for(t.res.plural, q.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((l, f))
}

pub fn matches(t: &Target, l: &LabelSelector, f: &FieldSelector, obj: &Value) -> bool {
    l.matches_object(obj) && f.matches(t.res.plural, obj).unwrap_or(false)
}

fn list(st: &AppState, t: &Target, q: &Query, headers: &HeaderMap) -> HttpResult<Response> {
    let (l, f) = selectors(t, q)?;
    let (items, rv) = st.store.list(t.res.plural, t.ns.as_deref());
    let mut items: Vec<_> = items.into_iter().filter(|o| matches(t, &l, &f, o)).collect();
    // Pagination: the continue token is the last key returned.
    if let Some(c) = q.get("continue").filter(|c| !c.is_empty()) {
        let last = decode_continue(c)?;
        items.retain(|o| object_key(o) > last);
    }
    let mut cont = None;
    if let Some(limit) = q.int("limit")?.filter(|l| *l > 0)
        && items.len() > limit as usize
    {
        items.truncate(limit as usize);
        cont = items.last().map(|o| encode_continue(&object_key(o)));
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
        meta["remainingItemCount"] = json!(0);
    }
    if wants_table(headers) {
        let refs: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
        let mut table = build_table(t.res.plural, &refs, jiff::Timestamp::now(), include_object(q)?);
        table["metadata"] = meta;
        return Ok(json_response(StatusCode::OK, &table, &[]));
    }
    let list = json!({
        "kind": t.res.list_kind,
        "apiVersion": t.res.api_version(),
        "metadata": meta,
        "items": items.iter().map(|o| o.as_ref().clone()).collect::<Vec<Value>>(),
    });
    Ok(json_response(StatusCode::OK, &list, &[]))
}

fn object_key(o: &Value) -> String {
    let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    format!("{ns}/{name}")
}

fn encode_continue(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_continue(c: &str) -> Result<String, ApiError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_request("continue key is not valid"))
}

fn get(st: &AppState, t: &Target, q: &Query, headers: &HeaderMap) -> HttpResult<Response> {
    let name = t.name.as_deref().unwrap_or("");
    let obj = st.store.get(&t.key()).ok_or_else(|| ApiError::not_found(&t.res.qualified_plural(), name))?;
    if wants_table(headers) {
        let mut table = build_table(t.res.plural, &[obj.as_ref()], jiff::Timestamp::now(), include_object(q)?);
        table["metadata"] =
            json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
        return Ok(json_response(StatusCode::OK, &table, &[]));
    }
    Ok(json_response(StatusCode::OK, &obj, &[]))
}

/// Decode a request body: JSON, YAML for `application/yaml` and the apply
/// patch type, or protobuf (ConfigMap, Secret, Namespace).
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::protobuf::decode(body);
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
    if ct.contains("yaml") {
        return peapod_api::yaml::decode_one(text).map_err(|e| ApiError::bad_request(e.to_string()));
    }
    serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))
}

fn check_kind(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body of the request was not an object"));
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let expected = t.res.api_version();
    if !api_version.is_empty() && api_version != expected {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )));
    }
    if !kind.is_empty() && kind != t.res.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            t.res.kind
        )));
    }
    obj["kind"] = json!(t.res.kind);
    obj["apiVersion"] = json!(expected);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    Ok(())
}

/// The namespace must exist and not be terminating to receive new objects.
fn check_namespace(st: &AppState, t: &Target, name: &str) -> Result<(), ApiError> {
    let Some(ns) = t.ns.as_deref() else {
        return Ok(());
    };
    let obj = st.store.get(&ObjKey::new("namespaces", "", ns)).ok_or_else(|| ApiError::namespace_not_found(ns))?;
    if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::namespace_terminating(&t.res.qualified_plural(), name, ns));
    }
    Ok(())
}

fn random_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5).map(|_| ALPHA[rand::random_range(0..ALPHA.len())] as char).collect()
}

/// BeforeCreate: server-set metadata. Returns the name (generated if asked).
fn prepare_create_meta(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    let meta = obj["metadata"].as_object_mut().expect("checked");
    if let Some(ns) = &t.ns {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    if meta.get("resourceVersion").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
    }
    let name_empty = meta.get("name").and_then(Value::as_str).unwrap_or("").is_empty();
    if name_empty && let Some(prefix) = meta.get("generateName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let name = peapod_api::validation::name_from_generate_name(prefix, &random_suffix());
        meta.insert("name".into(), json!(name));
    }
    for k in ["resourceVersion", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        meta.remove(k);
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now_seconds().to_string()));
    Ok(())
}

fn create(st: &AppState, t: &Target, q: &Query, headers: &HeaderMap, body: &[u8]) -> HttpResult<Response> {
    let mut obj = decode_body(headers, body)?;
    check_kind(t, &mut obj)?;
    apply::track_update(None, &mut obj, &manager(q, headers), None);
    create_object(st, t, q, obj)
}

/// The field manager of a write (`?fieldManager=`, else the user agent).
fn manager(q: &Query, headers: &HeaderMap) -> String {
    apply::manager_name(q.get("fieldManager"), headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()))
}

/// Create `obj` (kind checked, managedFields recorded).
fn create_object(st: &AppState, t: &Target, q: &Query, obj: Value) -> HttpResult<Response> {
    if t.res.namespaced && t.ns.is_none() {
        return Err(ApiError::method_not_allowed(&t.res.qualified_plural(), "create").into());
    }
    let fv = FieldValidation::parse(q.get("fieldValidation"))?;
    let generated = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").is_empty();
    for attempt in 0..5 {
        let mut o = obj.clone();
        prepare_create_meta(t, &mut o)?;
        let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
        check_namespace(st, t, &name)?;
        let runtime_class =
            |name: &str| st.store.get(&ObjKey::new("runtimeclasses", "", name)).map(|o| o.as_ref().clone());
        let Admitted { obj: admitted, warnings } =
            admission::admit_create(t.res, o, &st.node_name, &runtime_class, fv)?;
        if q.dry_run() {
            return Ok(json_response(StatusCode::CREATED, &admitted, &warnings));
        }
        let key = ObjKey::new(t.res.plural, t.ns.as_deref().unwrap_or(""), &name);
        match st.store.create(&key, admitted) {
            Ok(stored) => return Ok(json_response(StatusCode::CREATED, &stored, &warnings)),
            Err(peapod_store::StoreError::AlreadyExists { .. }) if generated && attempt < 4 => {
                continue;
            }
            Err(e) => return Err(store_error(&t.res.qualified_plural(), &name, e)),
        }
    }
    unreachable!("the loop returns")
}

/// Carry the server-managed metadata of `old` into `new` (BeforeUpdate).
fn carry_meta(old: &Value, new: &mut Value) {
    for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace"]
    {
        match old.pointer(&format!("/metadata/{k}")) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("selfLink");
    }
}

/// The object's `metadata.resourceVersion`, if the client set one.
fn rv_of(v: &Value) -> Option<String> {
    v.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The update shared by PUT and PATCH: optimistic lock, field management
/// (an Update by `manager`; `None` when `mk_new` did it, as apply does),
/// admission, store.
fn apply_update(
    st: &AppState,
    t: &Target,
    q: &Query,
    manager: Option<&str>,
    mk_new: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> HttpResult<(Value, Vec<String>)> {
    let fv = FieldValidation::parse(q.get("fieldValidation"))?;
    let name = t.name.clone().unwrap_or_default();
    let qp = t.res.qualified_plural();
    let mut warnings = Vec::new();
    let dry = q.dry_run();
    let mut dry_result = None;
    let res = st.store.update_with(&t.key(), |cur| -> Result<Mutation, HttpError> {
        let cur = cur.ok_or_else(|| ApiError::not_found(&qp, &name))?;
        let mut new = mk_new(cur)?;
        check_kind(t, &mut new)?;
        let new_name = new.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if !new_name.is_empty() && new_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({new_name}) does not match the name on the URL ({name})"
            ))
            .into());
        }
        new["metadata"]["name"] = json!(name);
        if let Some(rv) = rv_of(&new)
            && Some(&rv) != rv_of(cur).as_ref()
        {
            return Err(ApiError::conflict(&qp, &name, peapod_store::CONFLICT_MESSAGE).into());
        }
        if let Some(m) = manager {
            apply::track_update(Some(cur), &mut new, m, t.sub.as_deref());
        }
        carry_meta(cur, &mut new);
        let a = admission::admit_update(t.res, cur, new, t.sub.as_deref(), fv)?;
        warnings = a.warnings;
        if dry {
            dry_result = Some(a.obj);
            return Ok(Mutation::Unchanged);
        }
        Ok(Mutation::Put(a.obj))
    });
    let stored = res.map_err(|e| update_error(&qp, &name, e))?;
    if let Some(d) = dry_result {
        return Ok((d, warnings));
    }
    let obj = stored.map(|a| a.as_ref().clone()).unwrap_or(Value::Null);
    Ok((obj, warnings))
}

fn update(st: &AppState, t: &Target, q: &Query, headers: &HeaderMap, body: &[u8]) -> HttpResult<Response> {
    let new = decode_body(headers, body)?;
    let (obj, warnings) = apply_update(st, t, q, Some(&manager(q, headers)), |_| Ok(new))?;
    Ok(json_response(StatusCode::OK, &obj, &warnings))
}

fn patch_object(st: &AppState, t: &Target, q: &Query, headers: &HeaderMap, body: &[u8]) -> HttpResult<Response> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let ct = ct.split(';').next().unwrap_or("").trim().to_owned();
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
    let kind = t.res.kind;
    let apply = ct == "application/apply-patch+yaml";
    let p: Value = if apply {
        peapod_api::yaml::decode_one(text).map_err(|e| ApiError::bad_request(e.to_string()))?
    } else {
        serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    if apply {
        return server_side_apply(st, t, q, &p);
    }
    let (obj, warnings) = apply_update(st, t, q, Some(&manager(q, headers)), |cur| {
        let r = match ct.as_str() {
            "application/json-patch+json" => patch::json_patch(cur, &p),
            "application/merge-patch+json" => Ok(patch::merge_patch(cur, &p)),
            "application/strategic-merge-patch+json" => patch::strategic_merge_patch(kind, cur, &p),
            _ => {
                return Err(ApiError::unsupported_media_type(&[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                    "application/apply-patch+yaml",
                ]));
            }
        };
        r.map_err(|e| e.to_api_error())
    })?;
    Ok(json_response(StatusCode::OK, &obj, &warnings))
}

/// `application/apply-patch+yaml`: server-side apply (see apply.rs). A
/// missing object is created (201).
fn server_side_apply(st: &AppState, t: &Target, q: &Query, config: &Value) -> HttpResult<Response> {
    let manager = q.get("fieldManager").unwrap_or("");
    if manager.is_empty() {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        )
        .into());
    }
    let force = q.flag("force");
    if st.store.get(&t.key()).is_none() {
        let mut obj = apply::apply(None, config, manager, force)?;
        check_kind(t, &mut obj)?;
        let name = t.name.clone().unwrap_or_default();
        match obj.pointer("/metadata/name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                ))
                .into());
            }
            _ => obj["metadata"]["name"] = json!(name),
        }
        let target = Target { name: None, sub: None, ..t.clone() };
        return create_object(st, &target, q, obj);
    }
    let (obj, warnings) = apply_update(st, t, q, None, |cur| apply::apply(Some(cur), config, manager, force))?;
    Ok(json_response(StatusCode::OK, &obj, &warnings))
}

fn binding(st: &AppState, t: &Target) -> HttpResult<Response> {
    let name = t.name.clone().unwrap_or_default();
    let pod = st.store.get(&t.key()).ok_or_else(|| ApiError::not_found("pods", &name))?;
    let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    Err(ApiError::conflict("pods/binding", &name, &format!("pod {name} is already assigned to node \"{bound}\""))
        .into())
}

/// DELETE of one object. Pods are deleted gracefully (deletionTimestamp set,
/// the node stops them and removes the object); namespaces are finalized
/// by the namespace controller; everything else goes at once.
fn delete(st: &AppState, t: &Target, q: &Query, body: &[u8]) -> HttpResult<Response> {
    let opts = DeleteOptions::from_request(q, body)?;
    let name = t.name.clone().unwrap_or_default();
    let (obj, code) = delete_one(st, t.res, t.ns.as_deref().unwrap_or(""), &name, &opts)?;
    Ok(json_response(code, &obj, &[]))
}

pub fn delete_one(
    st: &AppState,
    res: &ResourceInfo,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> HttpResult<(Value, StatusCode)> {
    let qp = res.qualified_plural();
    let key = ObjKey::new(res.plural, ns, name);
    if res.plural == "namespaces" && matches!(name, "default" | "kube-system" | "kube-public") {
        return Err(ApiError::forbidden_resource(&qp, name, "this namespace may not be deleted").into());
    }
    let graceful = matches!(res.plural, "pods" | "namespaces");
    let mut outcome: Option<Value> = None;
    let res_upd = st.store.update_with(&key, |cur| -> Result<Mutation, HttpError> {
        let cur = cur.ok_or_else(|| ApiError::not_found(&qp, name))?;
        check_preconditions(&qp, name, cur, opts)?;
        if !graceful {
            outcome = Some(cur.clone());
            return Ok(if opts.dry_run { Mutation::Unchanged } else { Mutation::Delete });
        }
        let mut obj = cur.clone();
        let now = jiff::Timestamp::now();
        if res.plural == "namespaces" {
            if obj.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null) {
                obj["metadata"]["deletionTimestamp"] = json!(now_seconds().to_string());
                obj["status"]["phase"] = json!("Terminating");
            }
            outcome = Some(obj.clone());
            return Ok(if opts.dry_run { Mutation::Unchanged } else { Mutation::Put(obj) });
        }
        // Pods: how long the node may take to stop them.
        let mut grace = opts
            .grace_period_seconds
            .or_else(|| cur.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
            .unwrap_or(30);
        if grace < 0 {
            grace = 1;
        }
        let phase = cur.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
        let unbound = cur.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").is_empty();
        if unbound || matches!(phase, "Succeeded" | "Failed") {
            grace = 0;
        }
        if grace == 0 {
            outcome = Some(cur.clone());
            return Ok(if opts.dry_run { Mutation::Unchanged } else { Mutation::Delete });
        }
        // Already terminating: a shorter grace period may replace the longer one.
        if let Some(existing) = cur.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64)
            && grace >= existing
        {
            outcome = Some(cur.clone());
            return Ok(Mutation::Unchanged);
        }
        let deadline = jiff::Timestamp::from_second(now.as_second() + grace).unwrap_or(now);
        obj["metadata"]["deletionTimestamp"] = json!(deadline.to_string());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        outcome = Some(obj.clone());
        Ok(if opts.dry_run { Mutation::Unchanged } else { Mutation::Put(obj) })
    });
    let stored = res_upd.map_err(|e| update_error(&qp, name, e))?;
    let obj = match (stored, outcome) {
        // Terminating objects are returned as they are now.
        (Some(s), _) if graceful && s.pointer("/metadata/deletionTimestamp").is_some() && !opts.dry_run => {
            s.as_ref().clone()
        }
        (_, Some(o)) => o,
        (Some(s), None) => s.as_ref().clone(),
        (None, None) => Value::Null,
    };
    if !graceful {
        let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
        let details = StatusDetails::for_object(res.plural, name, uid);
        return Ok((peapod_api::errors::success_status(&details), StatusCode::OK));
    }
    Ok((obj, StatusCode::OK))
}

fn check_preconditions(qp: &str, name: &str, cur: &Value, opts: &DeleteOptions) -> Result<(), HttpError> {
    if let Some(uid) = &opts.uid {
        let have = cur.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
        if have != uid {
            return Err(ApiError::conflict(
                qp,
                name,
                &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
            )
            .into());
        }
    }
    if let Some(rv) = &opts.resource_version {
        let have = rv_of(cur).unwrap_or_default();
        if &have != rv {
            return Err(ApiError::conflict(
                qp,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"
                ),
            )
            .into());
        }
    }
    Ok(())
}

fn delete_collection(st: &AppState, t: &Target, q: &Query, body: &[u8]) -> HttpResult<Response> {
    let opts = DeleteOptions::from_request(q, body)?;
    let (l, f) = selectors(t, q)?;
    let (items, rv) = st.store.list(t.res.plural, t.ns.as_deref());
    let mut deleted = Vec::new();
    for o in items.iter().filter(|o| matches(t, &l, &f, o)) {
        let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        match delete_one(st, t.res, ns, name, &opts) {
            Ok(_) => deleted.push(o.as_ref().clone()),
            Err(HttpError(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({"kind": t.res.list_kind, "apiVersion": t.res.api_version(),
                      "metadata": {"resourceVersion": rv.to_string()}, "items": deleted});
    Ok(json_response(StatusCode::OK, &list, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_like_the_apiserver() {
        let t = parse_target("", "v1", "namespaces/default/pods/web/log").unwrap();
        assert_eq!(
            (t.res.plural, t.ns.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            ("pods", Some("default"), Some("web"), Some("log"))
        );
        let t = parse_target("", "v1", "namespaces/default/pods").unwrap();
        assert_eq!((t.res.plural, t.name.as_deref()), ("pods", None));
        let t = parse_target("", "v1", "namespaces/kube-system").unwrap();
        assert_eq!((t.res.plural, t.name.as_deref()), ("namespaces", Some("kube-system")));
        let t = parse_target("", "v1", "namespaces/foo/status").unwrap();
        assert_eq!((t.res.plural, t.name.as_deref(), t.sub.as_deref()), ("namespaces", Some("foo"), Some("status")));
        let t = parse_target("", "v1", "pods").unwrap();
        assert_eq!((t.res.plural, t.ns.as_deref()), ("pods", None));
        let t = parse_target("", "v1", "watch/namespaces/default/pods").unwrap();
        assert!(t.watch);
        assert!(parse_target("", "v1", "pods/web").is_err(), "namespaced object without a namespace");
        assert!(parse_target("", "v1", "namespaces/default/nodes").is_err());
        assert!(parse_target("", "v1", "namespaces/default/widgets").is_err());
        assert!(parse_target("", "v1", "namespaces/default/pods/web/bogus").is_err());
        assert!(parse_target("", "v1", "").is_err());
        let t = parse_path("/apis/node.k8s.io/v1/runtimeclasses/gvisor").unwrap();
        assert_eq!((t.res.kind, t.ns.as_deref(), t.name.as_deref()), ("RuntimeClass", None, Some("gvisor")));
        assert!(parse_path("/apis/node.k8s.io/v1/watch/runtimeclasses").unwrap().watch);
        assert!(parse_path("/apis/node.k8s.io/v1/namespaces/default/runtimeclasses/x").is_err(), "cluster-scoped");
        assert!(parse_path("/apis/node.k8s.io/v1beta1/runtimeclasses").is_err());
        assert!(parse_path("/apis/apps/v1/runtimeclasses").is_err());
        assert!(parse_path("/api/v1/runtimeclasses").is_err(), "not a core resource");
        assert_eq!(parse_path("/api/v1/namespaces/default/pods").unwrap().res.plural, "pods");
    }

    #[test]
    fn table_negotiation() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json".parse().unwrap());
        assert!(wants_table(&h));
        h.insert(header::ACCEPT, "application/json".parse().unwrap());
        assert!(!wants_table(&h));
    }

    #[test]
    fn continue_tokens_round_trip() {
        assert_eq!(decode_continue(&encode_continue("default/web")).unwrap(), "default/web");
        assert!(decode_continue("!!!").is_err());
    }
}
