//! Strategic merge patch (`application/strategic-merge-patch+json`), a port
//! of apimachinery's `strategicpatch.StrategicMergeMapPatch` (the apply
//! side, with `MergeParallelList` and `IgnoreUnmatchedNulls`).
//!
//! Semantics: maps merge key by key and `null` deletes; lists with a merge
//! key merge element-wise by that key (`containers` by `name`, ...);
//! primitive lists with the merge strategy are unioned; other lists are
//! replaced. Directives: `$patch: replace|delete` (in a map or as a list
//! element), `$retainKeys`, `$deleteFromPrimitiveList/<field>`,
//! `$setElementOrder/<field>`.
//!
//! One deliberate difference: values copied from the patch into places the
//! original lacks are cleaned of nulls and directives (Go copies them raw
//! and relies on typed decoding to drop them; we work on untyped JSON).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::PatchError;
use super::schema::{Schema, Strategy};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

fn apply_err(msg: impl Into<String>) -> PatchError {
    PatchError::Apply(msg.into())
}

fn bad_request(msg: impl Into<String>) -> PatchError {
    PatchError::Decode(msg.into())
}

/// Applies `patch` to `original` (both JSON objects) under `schema`,
/// starting at struct type `ty`.
pub(crate) fn apply(
    original: Map<String, Value>,
    patch: Map<String, Value>,
    ty: Option<&'static str>,
    schema: &Schema,
) -> Result<Map<String, Value>, PatchError> {
    merge_map(original, patch, ty, schema)
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: Option<&'static str>,
    schema: &Schema,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.shift_remove(DIRECTIVE);
                fresh_map(patch, ty, schema)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(apply_err(format!(
                "unknown patch type: {} in map: {}",
                directive_text(directive),
                Value::Object(patch.clone())
            ))),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, ty, schema)?;

    for (key, patch_value) in patch {
        let (field, is_delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(f) => (f.to_string(), true),
            None => (key, false),
        };
        if patch_value.is_null() {
            original.shift_remove(&field);
            continue;
        }
        let meta = schema.lookup(ty, &field);
        let Some(current) = original.get_mut(&field) else {
            if !is_delete_list {
                let v = fresh(patch_value, meta.elem, meta.strategy, schema)?;
                original.insert(field, v);
            }
            continue;
        };
        let merged = match (std::mem::take(current), patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                if meta.strategy == Strategy::Replace {
                    Value::Object(fresh_map(p, meta.elem, schema)?)
                } else {
                    Value::Object(merge_map(o, p, meta.elem, schema)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => match meta.strategy {
                Strategy::Merge { key } => Value::Array(merge_slice(o, p, meta.elem, key, is_delete_list, schema)?),
                _ => fresh(Value::Array(p), meta.elem, meta.strategy, schema)?,
            },
            (o, p) => {
                // Different types: the patch value wins, except that a
                // deletion list never replaces anything.
                if is_delete_list { o } else { fresh(p, meta.elem, meta.strategy, schema)? }
            }
        };
        original.insert(field, merged);
    }
    Ok(original)
}

fn directive_text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// A patch value that lands where the original has nothing: directives are
/// interpreted against an empty original.
fn fresh(v: Value, elem: Option<&'static str>, strategy: Strategy, schema: &Schema) -> Result<Value, PatchError> {
    Ok(match v {
        Value::Object(m) => Value::Object(fresh_map(m, elem, schema)?),
        Value::Array(items) => match strategy {
            Strategy::Merge { key } => Value::Array(merge_slice(Vec::new(), items, elem, key, false, schema)?),
            _ => Value::Array(
                items.into_iter().map(|i| fresh(i, elem, Strategy::Default, schema)).collect::<Result<_, _>>()?,
            ),
        },
        other => other,
    })
}

fn fresh_map(
    m: Map<String, Value>,
    ty: Option<&'static str>,
    schema: &Schema,
) -> Result<Map<String, Value>, PatchError> {
    merge_map(Map::new(), m, ty, schema)
}

/// `$retainKeys`: drop original fields not listed; the patch itself may
/// only set listed fields.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(list) = retain else {
        return Err(bad_request("invalid patch format of retainKeys"));
    };
    let keep: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if !keep.contains(&k.as_str()) {
            return Err(bad_request("invalid patch format of retainKeys"));
        }
    }
    original.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

/// `$setElementOrder/<field>`: merge the field now and order the result by
/// the directive's list, then the patch list, then the live list.
fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: Option<&'static str>,
    schema: &Schema,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
    for key in keys {
        let order = patch.shift_remove(&key).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(bad_request(format!("expected a list for {key}, but got {order}")));
        };
        let field = &key[SET_ELEMENT_ORDER.len()..];
        let meta = schema.lookup(ty, field);
        let merge_key = match meta.strategy {
            Strategy::Merge { key } => key,
            _ => None,
        };
        let original_list = match original.get(field) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_request(format!("expected a list, but got {other}"))),
            None => None,
        };
        let patch_list = match patch.shift_remove(field) {
            Some(Value::Array(a)) => Some(a),
            Some(other) => return Err(bad_request(format!("expected a list, but got {other}"))),
            None => None,
        };
        if let Some(p) = &patch_list {
            validate_patch_with_order(p, &order, merge_key)?;
        }
        let merged = match (original_list.clone(), patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => match fresh(Value::Array(p), meta.elem, meta.strategy, schema)? {
                Value::Array(a) => a,
                _ => Vec::new(),
            },
            (Some(o), Some(p)) => match meta.strategy {
                Strategy::Merge { key } => merge_slice(o, p, meta.elem, key, false, schema)?,
                _ => match fresh(Value::Array(p), meta.elem, meta.strategy, schema)? {
                    Value::Array(a) => a,
                    _ => Vec::new(),
                },
            },
            (None, None) => continue,
        };
        let (patch_items, server_only) = partition(&merged, &order, merge_key)?;
        let server_order = original_list.unwrap_or_default();
        let ordered = normalize_element_order(patch_items, server_only, &order, &server_order, merge_key)?;
        original.insert(field.to_string(), Value::Array(ordered));
    }
    Ok(())
}

/// Every (non-directive) patch item must appear in the order list, in the
/// same relative order.
fn validate_patch_with_order(patch: &[Value], order: &[Value], merge_key: Option<&str>) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = patch
        .iter()
        .filter(|v| merge_key.is_none() || v.get(DIRECTIVE) != Some(&Value::String("delete".into())))
        .collect();
    let (mut pi, mut oi) = (0, 0);
    while pi < items.len() && oi < order.len() {
        if items[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        if same_item(items[pi], &order[oi], merge_key) {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() && oi >= order.len() {
        return Err(apply_err(format!(
            "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n",
            Value::Array(patch.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

/// JSON scalar equality with numbers compared by value (Go decodes all
/// numbers to float64).
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn key_of<'a>(v: &'a Value, merge_key: Option<&str>) -> Option<&'a Value> {
    match merge_key {
        Some(k) => v.get(k),
        None => Some(v),
    }
}

fn same_item(a: &Value, b: &Value, merge_key: Option<&str>) -> bool {
    match (key_of(a, merge_key), key_of(b, merge_key)) {
        (Some(x), Some(y)) => scalar_eq(x, y),
        _ => false,
    }
}

fn index_of(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    list.iter().position(|v| same_item(v, item, merge_key))
}

fn no_merge_key(v: &Value, key: &str) -> PatchError {
    apply_err(format!("map: {v} does not contain declared merge key: {key}"))
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem: Option<&'static str>,
    merge_key: Option<&'static str>,
    is_delete_list: bool,
    schema: &Schema,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let maps = element_kind_is_map(&original, &patch)?;
    if !maps {
        if is_delete_list {
            return Ok(original.into_iter().filter(|v| !patch.iter().any(|d| scalar_eq(d, v))).collect());
        }
        let mut merged: Vec<Value> = Vec::new();
        for v in original.iter().chain(patch.iter()) {
            if !merged.iter().any(|m| scalar_eq(m, v)) {
                merged.push(v.clone());
            }
        }
        let (patch_items, server_only) = partition(&merged, &patch, None)?;
        return normalize_element_order(patch_items, server_only, &patch, &original, None);
    }
    let Some(key) = merge_key else {
        return Err(apply_err(format!("cannot merge lists without merge key for {}", Schema::name(elem))));
    };
    let (original, patch) = merge_special_elements(original, patch, key)?;
    let mut merged = original.clone();
    for item in &patch {
        let Some(value) = item.get(key) else {
            return Err(no_merge_key(item, key));
        };
        let found = merged.iter().position(|m| m.get(key).is_some_and(|v| scalar_eq(v, value)));
        let Value::Object(patch_map) = item.clone() else {
            return Err(apply_err("list element is not a map"));
        };
        match found {
            Some(i) => {
                let Value::Object(current) = std::mem::take(&mut merged[i]) else {
                    return Err(apply_err("list element is not a map"));
                };
                merged[i] = Value::Object(merge_map(current, patch_map, elem, schema)?);
            }
            None => merged.push(Value::Object(fresh_map(patch_map, elem, schema)?)),
        }
    }
    let (patch_items, server_only) = partition(&merged, &patch, Some(key))?;
    normalize_element_order(patch_items, server_only, &patch, &original, Some(key))
}

/// True for lists of maps, false for lists of scalars; lists of lists and
/// mixed lists are errors, as in Go.
fn element_kind_is_map(a: &[Value], b: &[Value]) -> Result<bool, PatchError> {
    let mut kind: Option<bool> = None;
    for v in a.iter().chain(b) {
        if v.is_array() {
            return Err(apply_err("lists of lists are not supported"));
        }
        let is_map = v.is_object();
        match kind {
            None => kind = Some(is_map),
            Some(k) if k != is_map => {
                return Err(apply_err(format!(
                    "list element types are not identical: {}",
                    Value::Array(a.iter().chain(b).cloned().collect())
                )));
            }
            _ => {}
        }
    }
    Ok(kind.unwrap_or(false))
}

/// Handles `$patch` elements of a merge list: `delete` removes matching
/// originals, `replace` makes the rest of the patch the whole list.
fn merge_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        let Some(directive) = v.get(DIRECTIVE) else {
            plain.push(v);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = v.get(key) else {
                    return Err(no_merge_key(&v, key));
                };
                original.retain(|o| !o.get(key).is_some_and(|x| scalar_eq(x, value)));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(apply_err("merging lists cannot yet be specified in the patch"));
            }
            _ => {
                return Err(apply_err(format!("unknown patch type: {} in map: {v}", directive_text(directive))));
            }
        }
    }
    if replace { Ok((plain, Vec::new())) } else { Ok((original, plain)) }
}

/// Splits `merged` into items present in `by` and the rest.
fn partition(merged: &[Value], by: &[Value], merge_key: Option<&str>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut in_patch = Vec::new();
    let mut server_only = Vec::new();
    for v in merged {
        if let Some(k) = merge_key
            && v.get(k).is_none()
        {
            return Err(no_merge_key(v, k));
        }
        if index_of(by, v, merge_key).is_some() {
            in_patch.push(v.clone());
        } else {
            server_only.push(v.clone());
        }
    }
    Ok((in_patch, server_only))
}

/// Sorts patch items by the patch order and server-only items by the live
/// order, then interleaves them (Go `normalizeElementOrder` +
/// `mergeSortedSlice`).
fn normalize_element_order(
    mut patch: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    if let Some(k) = merge_key {
        for v in patch.iter().chain(&server_only).chain(patch_order).chain(server_order) {
            if v.get(DIRECTIVE).is_none() && v.get(k).is_none() {
                return Err(no_merge_key(v, k));
            }
        }
    }
    let by_order = |order: &[Value], a: &Value, b: &Value| -> Ordering {
        let ia = index_of(order, a, merge_key).unwrap_or(usize::MAX);
        let ib = index_of(order, b, merge_key).unwrap_or(usize::MAX);
        ia.cmp(&ib)
    };
    patch.sort_by(|a, b| by_order(patch_order, a, b));
    server_only.sort_by(|a, b| by_order(server_order, a, b));

    // Insert each server-only item before the first patch item that comes
    // after it in the live list; unrelated items keep patch-first order.
    let mut out = Vec::with_capacity(patch.len() + server_only.len());
    let (mut i, mut j) = (0, 0);
    while i < server_only.len() || j < patch.len() {
        if i >= server_only.len() {
            out.push(patch[j].clone());
            j += 1;
        } else if j >= patch.len() {
            out.push(server_only[i].clone());
            i += 1;
        } else {
            let li = index_of(server_order, &server_only[i], merge_key);
            let ri = index_of(server_order, &patch[j], merge_key);
            match (li, ri) {
                (Some(l), Some(r)) if l < r => {
                    out.push(server_only[i].clone());
                    i += 1;
                }
                _ => {
                    out.push(patch[j].clone());
                    j += 1;
                }
            }
        }
    }
    Ok(out)
}
