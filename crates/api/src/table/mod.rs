//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get`
//! asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! Columns and cells follow the apiserver's printers
//! (`pkg/printers/internalversion/printers.go`); the server always fills the
//! wide (`priority: 1`) columns and kubectl hides them unless `-o wide`.
//! Rows carry the object as `PartialObjectMetadata` by default, which
//! kubectl needs for `-A` (NAMESPACE) and `--show-labels`.
//!
//! Rows are computed from JSON objects, so the same code prints stored
//! objects and watch events. Time is passed in, never read.

mod duration;
mod events;
mod other;
mod pods;

pub use duration::{human_duration, short_human_duration};

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// What `rows[].object` carries (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object (`null`).
    None,
    /// `PartialObjectMetadata` with the object's metadata (the default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter; empty means the default (Metadata).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

pub(crate) const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub(crate) const CREATED_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One column definition.
pub(crate) struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

impl Column {
    pub(crate) const fn new(name: &'static str, type_: &'static str, description: &'static str) -> Self {
        Column { name, type_, format: "", description, priority: 0 }
    }

    pub(crate) const fn name_column() -> Self {
        Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 }
    }

    pub(crate) const fn age_column() -> Self {
        Column::new("Age", "string", CREATED_DESCRIPTION)
    }

    pub(crate) const fn wide(mut self) -> Self {
        self.priority = 1;
        self
    }

    fn to_value(&self) -> Value {
        json!({"name": self.name, "type": self.type_, "format": self.format,
               "description": self.description, "priority": self.priority})
    }
}

/// A printed row: cells plus the optional row conditions.
pub(crate) struct Row {
    pub cells: Vec<Value>,
    pub conditions: Vec<Value>,
}

impl Row {
    pub(crate) fn new(cells: Vec<Value>) -> Self {
        Row { cells, conditions: Vec::new() }
    }
}

fn columns(resource: &str) -> Vec<Column> {
    match resource {
        "pods" => pods::columns(),
        "events" => events::columns(),
        "configmaps" => other::configmap_columns(),
        "secrets" => other::secret_columns(),
        "namespaces" => other::namespace_columns(),
        "nodes" => other::node_columns(),
        "runtimeclasses" => other::runtime_class_columns(),
        _ => other::default_columns(),
    }
}

fn row(resource: &str, obj: &Value, now: Timestamp) -> Row {
    match resource {
        "pods" => pods::row(obj, now),
        "events" => events::row(obj, now),
        "configmaps" => other::configmap_row(obj, now),
        "secrets" => other::secret_row(obj, now),
        "namespaces" => other::namespace_row(obj, now),
        "nodes" => other::node_row(obj, now),
        "runtimeclasses" => other::runtime_class_row(obj, now),
        _ => other::default_row(obj),
    }
}

/// The `columnDefinitions` of `resource` (plural name; unknown resources
/// get the generic `Name`, `Created At`).
pub fn column_definitions(resource: &str) -> Value {
    Value::Array(columns(resource).iter().map(Column::to_value).collect())
}

/// One `rows[]` entry for `obj`.
pub fn table_row(resource: &str, obj: &Value, now: Timestamp, include: IncludeObject) -> Value {
    let r = row(resource, obj, now);
    let mut m = Map::new();
    m.insert("cells".into(), Value::Array(r.cells));
    if !r.conditions.is_empty() {
        m.insert("conditions".into(), Value::Array(r.conditions));
    }
    m.insert("object".into(), embedded_object(obj, include));
    Value::Object(m)
}

/// Builds a `Table` of `objs`. `metadata` is left empty for the caller to
/// fill (`resourceVersion`, `continue`).
pub fn build_table(resource: &str, objs: &[&Value], now: Timestamp, include_object: IncludeObject) -> Value {
    let rows: Vec<Value> = objs.iter().map(|o| table_row(resource, o, now, include_object)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": column_definitions(resource),
        "rows": rows,
    })
}

fn embedded_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => {
            let mut meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.remove("managedFields");
            }
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
        }
    }
}

/// Reads a string at a JSON pointer (`""` when absent).
pub(crate) fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Parses an RFC 3339 timestamp at a JSON pointer.
pub(crate) fn timestamp(obj: &Value, pointer: &str) -> Option<Timestamp> {
    text(obj, pointer).parse().ok()
}

/// Go's `translateTimestampSince`: `<unknown>` for a missing time.
pub(crate) fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// The AGE cell of an object.
pub(crate) fn age(obj: &Value, now: Timestamp) -> Value {
    json!(since(timestamp(obj, "/metadata/creationTimestamp"), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2025-01-01T00:10:00Z".parse().unwrap()
    }

    #[test]
    fn partial_object_metadata_rows() {
        let cm = json!({"kind": "ConfigMap", "apiVersion": "v1",
                        "metadata": {"name": "c", "namespace": "d", "creationTimestamp": "2025-01-01T00:00:00Z",
                                     "labels": {"a": "b"}, "managedFields": [{"manager": "kubectl"}]},
                        "data": {"x": "1", "y": "2"}, "binaryData": {"z": "AA=="}});
        let t = build_table("configmaps", &[&cm], now(), IncludeObject::Metadata);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["rows"][0]["cells"], json!(["c", 3, "10m"]));
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"name": "c", "namespace": "d", "creationTimestamp": "2025-01-01T00:00:00Z", "labels": {"a": "b"}}})
        );
        assert_eq!(
            t["columnDefinitions"][1],
            json!({"name": "Data", "type": "integer", "format": "", "description": "Number of data in configmap", "priority": 0})
        );
        let full = build_table("configmaps", &[&cm], now(), IncludeObject::Object);
        assert_eq!(full["rows"][0]["object"], cm);
        let none = build_table("configmaps", &[&cm], now(), IncludeObject::None);
        assert_eq!(none["rows"][0]["object"], Value::Null);
        assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
        assert_eq!(IncludeObject::parse("bogus"), None);
    }

    #[test]
    fn runtime_class_rows() {
        let rc = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "handler": "crun",
                        "metadata": {"name": "fast", "creationTimestamp": "2025-01-01T00:00:00Z"}});
        let t = build_table("runtimeclasses", &[&rc], now(), IncludeObject::Metadata);
        let names: Vec<&str> =
            t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Name", "Handler", "Age"]);
        assert_eq!(t["rows"][0]["cells"], json!(["fast", "crun", "10m"]));
    }

    #[test]
    fn unknown_resources_use_default_columns() {
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2025-01-01T00:00:00Z"}});
        let t = build_table("widgets", &[&obj], now(), IncludeObject::Metadata);
        let names: Vec<&str> =
            t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Name", "Created At"]);
        assert_eq!(t["rows"][0]["cells"], json!(["x", "2025-01-01T00:00:00Z"]));
    }
}
