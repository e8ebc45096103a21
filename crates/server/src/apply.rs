//! Field management: `metadata.managedFields` and server-side apply
//! (`application/apply-patch+yaml`), after structured-merge-diff, the
//! apiserver's library, in the parts kubectl relies on (kubectl-wire.md §7.3).
//!
//! Every write records which manager (`?fieldManager=`, else the client's
//! user agent) owns which fields, as a `FieldsV1` set per (manager,
//! operation, subresource):
//! - an *Update* (create, PUT, merge/strategic/JSON patch) gives its manager
//!   the fields it changed and takes them away from every other manager;
//! - an *Apply* makes the applier's set exactly the fields of its
//!   configuration. A field it sets to a new value while another manager
//!   owns it is a conflict (409, `FieldManagerConflict`) unless
//!   `force=true`, which takes the field over. Fields the applier owned
//!   before and no longer applies are removed, unless someone else owns them.
//!
//! Sets are computed from the objects as the client sent them (before
//! defaulting), so server-filled fields (defaults, `spec.nodeName`) belong
//! to nobody and an applier can never remove them. A client may replace
//! `managedFields` outright (kubectl's client-side-apply migration does, with
//! a JSON patch); we then keep what it sent.
//!
//! Lists are atomic unless they are maps keyed by a field (containers by
//! `name`, ...) or sets of scalars (finalizers), as in the Kubernetes schema.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use peapod_api::{ApiError, StatusDetails, StatusReason};

/// Lists that are maps keyed by a field (`x-kubernetes-list-type: map`),
/// by their path from the object root (`[]` = any element of a list).
const LIST_MAPS: &[(&str, &str)] = &[
    ("metadata.ownerReferences", "uid"),
    ("spec.containers", "name"),
    ("spec.initContainers", "name"),
    ("spec.ephemeralContainers", "name"),
    ("spec.containers[].ports", "containerPort"),
    ("spec.initContainers[].ports", "containerPort"),
    ("spec.ephemeralContainers[].ports", "containerPort"),
    ("spec.containers[].env", "name"),
    ("spec.initContainers[].env", "name"),
    ("spec.ephemeralContainers[].env", "name"),
    ("spec.containers[].volumeMounts", "mountPath"),
    ("spec.initContainers[].volumeMounts", "mountPath"),
    ("spec.ephemeralContainers[].volumeMounts", "mountPath"),
    ("spec.containers[].volumeDevices", "devicePath"),
    ("spec.initContainers[].volumeDevices", "devicePath"),
    ("spec.volumes", "name"),
    ("spec.imagePullSecrets", "name"),
    ("spec.hostAliases", "ip"),
    ("spec.resourceClaims", "name"),
    ("spec.schedulingGates", "name"),
    ("status.conditions", "type"),
    ("status.addresses", "type"),
];

/// Lists that are sets of scalars (`x-kubernetes-list-type: set`).
const LIST_SETS: &[&str] = &["metadata.finalizers", "spec.finalizers"];

/// Fields nobody manages: identity and server bookkeeping.
const UNMANAGED_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// How a list at some path is merged and tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Map(&'static str),
    Set,
    Atomic,
}

fn list_kind(path: &str) -> ListKind {
    if let Some((_, k)) = LIST_MAPS.iter().find(|(p, _)| *p == path) {
        return ListKind::Map(k);
    }
    if LIST_SETS.contains(&path) { ListKind::Set } else { ListKind::Atomic }
}

fn child_path(parent: &str, field: &str) -> String {
    if parent.is_empty() { field.to_owned() } else { format!("{parent}.{field}") }
}

/// A set of field paths as a tree, keyed by path elements in the FieldsV1
/// syntax (`f:name`, `k:{"name":"main"}`, `v:"x"`); `member` is the `.`
/// entry: the node itself (a list element) is in the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    /// Parse a `fieldsV1` value.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(m) = v else {
            return Err("fieldsV1 must be an object".into());
        };
        let mut s = FieldSet::default();
        for (k, child) in m {
            if k == "." {
                s.member = true;
            } else if k.len() > 2 && matches!(&k[..2], "f:" | "k:" | "v:" | "i:") {
                s.children.insert(k.clone(), FieldSet::from_fields_v1(child)?);
            } else {
                return Err(format!("unknown path element {k:?}"));
            }
        }
        Ok(s)
    }

    /// The `fieldsV1` form.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1());
        }
        Value::Object(m)
    }

    /// No paths at all. (A child node without children is a leaf path,
    /// written `{}` in FieldsV1, so any child means a non-empty set.)
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Every path in the set (leaves and members), as element lists.
    fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.walk(&mut Vec::new(), &mut out);
        out
    }

    fn walk(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if (self.member || self.children.is_empty()) && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.walk(prefix, out);
            prefix.pop();
        }
    }

    fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => {
                let c = self.children.entry(first.clone()).or_default();
                if rest.is_empty() && c.children.is_empty() {
                    // A leaf: an empty node (or a list element, marked member).
                    if first.starts_with("k:") {
                        c.member = true;
                    }
                } else {
                    c.insert(rest);
                }
            }
        }
    }

    /// Does the set hold `path` itself?
    fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member || self.children.is_empty(),
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Does the set hold `path` or anything below it?
    fn touches(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => true,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.touches(rest)),
        }
    }

    fn remove(&mut self, path: &[String]) {
        if let Some((first, rest)) = path.split_first()
            && let Some(c) = self.children.get_mut(first)
        {
            if rest.is_empty() {
                if c.children.is_empty() {
                    self.children.remove(first);
                } else {
                    c.member = false;
                }
            } else {
                c.remove(rest);
                if c.is_empty() {
                    self.children.remove(first);
                }
            }
        }
    }
}

/// The fields of `obj` a manager can own, as a set. `status_only` for the
/// status subresource; otherwise status is not part of the main resource.
pub fn field_set(obj: &Value, status_only: bool) -> FieldSet {
    let mut s = FieldSet::default();
    let Value::Object(m) = obj else { return s };
    for (k, v) in m {
        let tracked = match k.as_str() {
            "apiVersion" | "kind" => false,
            "status" => status_only,
            _ => !status_only,
        };
        if !tracked {
            continue;
        }
        let elem = format!("f:{k}");
        if k == "metadata" {
            let mut meta = v.clone();
            if let Some(mm) = meta.as_object_mut() {
                for f in UNMANAGED_META {
                    mm.remove(*f);
                }
                if mm.is_empty() {
                    continue;
                }
            }
            collect(&meta, k, s.children.entry(elem).or_default());
        } else {
            collect(v, k, s.children.entry(elem).or_default());
        }
    }
    s
}

fn collect(v: &Value, path: &str, node: &mut FieldSet) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                collect(c, &child_path(path, k), node.children.entry(format!("f:{k}")).or_default());
            }
        }
        Value::Array(items) => match list_kind(path) {
            ListKind::Map(key) => {
                for item in items {
                    let Some(kv) = item.get(key) else { continue };
                    let child = node.children.entry(key_element(key, kv)).or_default();
                    child.member = true;
                    collect(item, &format!("{path}[]"), child);
                }
            }
            ListKind::Set => {
                for item in items {
                    node.children.entry(format!("v:{item}")).or_default();
                }
            }
            ListKind::Atomic => {}
        },
        _ => {}
    }
}

fn key_element(key: &str, value: &Value) -> String {
    format!("k:{}", json!({key: value}))
}

/// The value at `path` in `obj` (None if absent).
fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for e in path {
        cur = step(cur, e)?;
    }
    Some(cur)
}

fn step<'a>(v: &'a Value, elem: &str) -> Option<&'a Value> {
    match elem.split_at(2) {
        ("f:", name) => v.get(name),
        ("i:", idx) => v.as_array()?.get(idx.parse::<usize>().ok()?),
        _ => v.as_array()?.iter().find(|item| is_element(item, elem)),
    }
}

fn step_mut<'a>(v: &'a mut Value, elem: &str) -> Option<&'a mut Value> {
    match elem.split_at(2) {
        ("f:", name) => v.get_mut(name),
        ("i:", idx) => v.as_array_mut()?.get_mut(idx.parse::<usize>().ok()?),
        _ => v.as_array_mut()?.iter_mut().find(|item| is_element(item, elem)),
    }
}

/// Is `item` the list element named by a `k:` (key fields) or `v:` (value) element?
fn is_element(item: &Value, elem: &str) -> bool {
    match elem.split_at(2) {
        ("k:", keys) => serde_json::from_str::<Map<String, Value>>(keys)
            .is_ok_and(|keys| keys.iter().all(|(k, kv)| item.get(k) == Some(kv))),
        ("v:", value) => serde_json::from_str::<Value>(value).is_ok_and(|v| *item == v),
        _ => false,
    }
}

/// Remove the field or list element at `path` from `obj`.
fn delete(obj: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else { return };
    let mut cur = obj;
    for e in parent {
        match step_mut(cur, e) {
            Some(next) => cur = next,
            None => return,
        }
    }
    match (last.split_at(2), cur) {
        (("f:", name), Value::Object(m)) => {
            m.remove(name);
        }
        (("i:", idx), Value::Array(items)) => {
            if let Ok(i) = idx.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        (_, Value::Array(items)) => items.retain(|i| !is_element(i, last)),
        _ => {}
    }
}

/// `.spec.containers[name="main"].image`, the way conflicts name fields.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for e in path {
        let (kind, rest) = e.split_at(2);
        match kind {
            "f:" => {
                s.push('.');
                s.push_str(rest);
            }
            "k:" => {
                let keys: Map<String, Value> = serde_json::from_str(rest).unwrap_or_default();
                let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            "v:" => s.push_str(&format!("[={rest}]")),
            _ => s.push_str(&format!("[{rest}]")),
        }
    }
    s
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    subresource: String,
    time: String,
    fields: FieldSet,
}

impl Entry {
    fn parse(v: &Value) -> Option<Entry> {
        Some(Entry {
            manager: v.get("manager")?.as_str()?.to_owned(),
            operation: v.get("operation").and_then(Value::as_str).unwrap_or("Update").to_owned(),
            subresource: v.get("subresource").and_then(Value::as_str).unwrap_or("").to_owned(),
            time: v.get("time").and_then(Value::as_str).unwrap_or("").to_owned(),
            fields: v.get("fieldsV1").map(FieldSet::from_fields_v1).transpose().ok()?.unwrap_or_default(),
        })
    }

    /// The entry as stored; `api_version` is the object's (`v1`, `node.k8s.io/v1`).
    fn to_value(&self, api_version: &str) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(api_version));
        if !self.time.is_empty() {
            m.insert("time".into(), json!(self.time));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    fn is(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }

    /// How conflicts name this manager (the apiserver's `printManager`).
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(" using v1");
            if !self.time.is_empty() {
                s.push_str(&format!(" at {}", self.time));
            }
        }
        s
    }
}

fn entries_of(obj: Option<&Value>) -> Vec<Entry> {
    obj.and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::parse).collect())
        .unwrap_or_default()
}

fn set_entries(obj: &mut Value, entries: &[Entry]) {
    let api_version =
        obj.get("apiVersion").and_then(Value::as_str).filter(|v| !v.is_empty()).unwrap_or("v1").to_owned();
    let list: Vec<Value> = entries.iter().filter(|e| !e.fields.is_empty()).map(|e| e.to_value(&api_version)).collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn now() -> String {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).map(|t| t.to_string()).unwrap_or_default()
}

/// The manager of a request: `?fieldManager=`, else the user agent's
/// program name (as the apiserver does).
pub fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    match field_manager.filter(|m| !m.is_empty()) {
        Some(m) => m.to_owned(),
        None => user_agent.and_then(|ua| ua.split('/').next()).filter(|s| !s.is_empty()).unwrap_or("unknown").into(),
    }
}

/// Record an Update by `manager` that turned `old` (None: a create) into
/// `new`, in `new.metadata.managedFields`. `new` is the object as the client
/// sent it (after patching), before admission. If the client changed
/// `managedFields` itself, its list is kept.
pub fn track_update(old: Option<&Value>, new: &mut Value, manager: &str, subresource: Option<&str>) {
    let sent = new.pointer("/metadata/managedFields").cloned();
    let before = old.and_then(|o| o.pointer("/metadata/managedFields")).cloned();
    if sent.is_some() && sent != before {
        // Replaced by the client: keep it if it is valid, as the apiserver does.
        if sent.as_ref().and_then(Value::as_array).is_some_and(|a| a.iter().all(|e| Entry::parse(e).is_some())) {
            return;
        }
    }
    let status_only = subresource == Some("status");
    let mut entries = entries_of(old);
    let old_set = old.map(|o| field_set(o, status_only)).unwrap_or_default();
    let new_set = field_set(new, status_only);
    let empty = Value::Null;
    let changed: Vec<Vec<String>> = new_set
        .paths()
        .into_iter()
        .filter(|p| {
            let o = old.and_then(|o| get(o, p));
            // Members (list elements) change when added; leaves when their value does.
            let n = get(new, p);
            if p.last().is_some_and(|e| e.starts_with("k:")) {
                o.is_none()
            } else {
                o.unwrap_or(&empty) != n.unwrap_or(&empty)
            }
        })
        .collect();
    let gone: Vec<Vec<String>> = old_set.paths().into_iter().filter(|p| !new_set.contains(p)).collect();
    for e in &mut entries {
        if (e.subresource == "status") != status_only {
            continue;
        }
        for p in changed.iter().chain(&gone) {
            e.fields.remove(p);
        }
    }
    if !changed.is_empty() {
        let sub = subresource.filter(|s| *s == "status").unwrap_or("");
        let idx = match entries.iter().position(|e| e.is(manager, "Update", sub)) {
            Some(i) => i,
            None => {
                entries.push(Entry {
                    manager: manager.into(),
                    operation: "Update".into(),
                    subresource: sub.into(),
                    time: String::new(),
                    fields: FieldSet::default(),
                });
                entries.len() - 1
            }
        };
        let e = &mut entries[idx];
        for p in &changed {
            e.fields.insert(p);
        }
        e.time = now();
    }
    set_entries(new, &entries);
}

/// Server-side apply of `config` by `manager` onto `live` (None: the object
/// does not exist yet). Returns the merged object with its managedFields,
/// ready for admission, or the 409 of the conflicts.
pub fn apply(live: Option<&Value>, config: &Value, manager: &str, force: bool) -> Result<Value, ApiError> {
    if !config.is_object() {
        return Err(ApiError::bad_request("the apply configuration must be an object"));
    }
    let mut entries = entries_of(live);
    let config_set = field_set(config, false);
    let mine = |e: &Entry| e.is(manager, "Apply", "");

    // Conflicts: fields we set to a new value that someone else owns.
    let mut conflicts: Vec<(usize, Vec<String>)> = Vec::new();
    if let Some(live) = live {
        for p in config_set.paths() {
            if p.last().is_some_and(|e| e.starts_with("k:")) || get(live, &p) == get(config, &p) {
                continue;
            }
            for (i, e) in entries.iter().enumerate() {
                if !mine(e) && e.subresource.is_empty() && e.fields.contains(&p) {
                    conflicts.push((i, p.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&entries, &conflicts));
    }
    for (i, p) in &conflicts {
        entries[*i].fields.remove(p);
    }

    let mut merged = match live {
        Some(l) => merge(l, config, ""),
        None => config.clone(),
    };
    // Fields this applier owned and no longer applies go, unless shared.
    if let Some(prev) = entries.iter().find(|e| mine(e)) {
        for p in prev.fields.paths() {
            if config_set.contains(&p) || config_set.touches(&p) {
                continue;
            }
            let shared = entries.iter().any(|e| !mine(e) && e.fields.touches(&p));
            if !shared {
                delete(&mut merged, &p);
            }
        }
    }
    match entries.iter().position(mine) {
        Some(i) => {
            entries[i].fields = config_set;
            entries[i].time = now();
        }
        None => entries.push(Entry {
            manager: manager.into(),
            operation: "Apply".into(),
            subresource: String::new(),
            time: now(),
            fields: config_set,
        }),
    }
    set_entries(&mut merged, &entries);
    Ok(merged)
}

/// Merge an applied configuration into the live object: maps by key, keyed
/// lists by their key, sets as a union, everything else replaced.
fn merge(live: &Value, config: &Value, path: &str) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, &child_path(path, k)),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match list_kind(path) {
            ListKind::Map(key) => {
                let mut out = l.clone();
                for item in c {
                    match out.iter().position(|x| x.get(key).is_some() && x.get(key) == item.get(key)) {
                        Some(i) => out[i] = merge(&out[i], item, &format!("{path}[]")),
                        None => out.push(item.clone()),
                    }
                }
                Value::Array(out)
            }
            ListKind::Set => {
                let mut out = l.clone();
                out.extend(c.iter().filter(|i| !l.contains(i)).cloned());
                Value::Array(out)
            }
            ListKind::Atomic => config.clone(),
        },
        _ => config.clone(),
    }
}

fn conflict_error(entries: &[Entry], conflicts: &[(usize, Vec<String>)]) -> ApiError {
    let causes = conflicts
        .iter()
        .map(|(i, p)| peapod_api::errors::StatusCause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", entries[*i].describe()),
            field: path_string(p),
        })
        .collect();
    let message = if let [(i, p)] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {}: {}", entries[*i].describe(), path_string(p))
    } else {
        let mut by_manager: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, p) in conflicts {
            by_manager.entry(entries[*i].describe()).or_default().push(path_string(p));
        }
        let lines: Vec<String> = by_manager
            .iter()
            .flat_map(|(m, ps)| {
                std::iter::once(format!("conflicts with {m}:")).chain(ps.iter().map(|p| format!("- {p}")))
            })
            .collect();
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    ApiError {
        code: 409,
        reason: StatusReason::Conflict,
        message,
        details: Some(StatusDetails { causes, ..Default::default() }),
    }
}

#[cfg(test)]
mod tests;
