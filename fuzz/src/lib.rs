//! The fuzz entry points, one per parser of untrusted input. Each takes the
//! raw input, runs the code under test, and asserts the properties that
//! must hold for every input (panics are findings). The cargo-fuzz targets
//! in `fuzz_targets/` call these functions; so does the normal test suite
//! (`crates/peapod/tests/fuzz_corpus.rs`, which includes this file), over
//! the seed corpus plus a few thousand mutated inputs, so CI exercises the
//! same code in seconds without a fuzzing toolchain.
//!
//! - [`yaml`]: manifest decoding (`peapod_api::yaml`), YAML and JSON;
//! - [`patch`]: merge, JSON and strategic merge patches and kubectl's
//!   three-way apply patch (`peapod_api::patch`);
//! - [`unpack`]: image layer unpacking (`peapod_image::unpack`), which must
//!   never write outside its destination;
//! - [`cri_log`]: CRI log line parsing (`peapod_api::cri_log`).

use std::path::Path;

use serde_json::Value;

/// Decode a manifest stream; every decoded document must survive a JSON
/// round trip through the same decoder unchanged.
pub fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(docs) = peapod_api::yaml::decode_documents(text) else { return };
    for d in &docs {
        assert!(!d.is_null(), "null documents are skipped");
        // A document that is itself shaped like a List would be expanded
        // again; everything else must come back as it is.
        if d.get("items").is_some() {
            continue;
        }
        let json = serde_json::to_string(d).expect("a decoded value serializes");
        let again = peapod_api::yaml::decode_documents(&json).expect("JSON output decodes");
        assert_eq!(again.as_slice(), std::slice::from_ref(d), "JSON round trip of {json}");
        let _ = peapod_api::yaml::decode_one(&json);
    }
    let _ = peapod_api::yaml::decode_one(text);
}

/// Up to three JSON values from the input (target, patch, third).
fn json_values(data: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(data).into_iter::<Value>().take(3).map_while(Result::ok).collect()
}

/// Does `v` hold a `null` as an object member anywhere (merge patches
/// cannot express such a value: `null` means "delete")?
fn has_null_member(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().any(|x| x.is_null() || has_null_member(x)),
        Value::Array(a) => a.iter().any(has_null_member),
        _ => false,
    }
}

/// Is every member of `want` present in `have` with the same value
/// (objects compared member-wise, recursively)?
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w.iter().all(|(k, wv)| h.get(k).is_some_and(|hv| contains(hv, wv))),
        _ => have == want,
    }
}

const KINDS: [&str; 7] = ["Pod", "ConfigMap", "Secret", "Namespace", "Event", "Node", "Unknown"];

/// Apply every patch type to the input's values. Properties: nothing
/// panics; the merge patch computed from A to B turns A into B; applying
/// kubectl's three-way patch yields an object that has everything of the
/// new manifest.
pub fn patch(data: &[u8]) {
    let vals = json_values(data);
    let (Some(a), Some(b)) = (vals.first(), vals.get(1)) else { return };
    let _ = peapod_api::patch::merge_patch(a, b);
    let _ = peapod_api::patch::json_patch(a, b);
    let kind = KINDS[data.len() % KINDS.len()];
    if let Ok(v) = peapod_api::patch::strategic_merge_patch(kind, a, b) {
        assert!(v.is_object(), "a strategic merge patch yields an object");
    }
    if a.is_object() && b.is_object() && !has_null_member(b) {
        let p = peapod_api::patch::create_merge_patch(a, b);
        assert_eq!(&peapod_api::patch::merge_patch(a, &p), b, "create_merge_patch({a}, {b}) = {p}");
    }
    if let Some(c) = vals.get(2)
        && b.is_object()
        && c.is_object()
        && !has_null_member(b)
    {
        // original = a, modified = b, current = c
        let p = peapod_api::patch::three_way_merge_patch(a, b, c);
        let applied = peapod_api::patch::merge_patch(c, &p);
        assert!(contains(&applied, b), "three-way patch {p} on {c} lost part of {b}: {applied}");
    }
}

/// Unpack the input as a layer into a fresh `dest` under `scratch`.
/// Properties: nothing panics, and nothing appears outside `dest` (a
/// sibling directory with a sentinel file stays exactly as it was).
pub fn unpack(data: &[u8], scratch: &Path) {
    let dest = scratch.join("dest");
    let outside = scratch.join("outside");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest).expect("creating dest");
    std::fs::create_dir_all(&outside).expect("creating the sentinel dir");
    std::fs::write(outside.join("sentinel"), b"untouched").expect("writing the sentinel");
    let limits = peapod_image::unpack::UnpackLimits { max_bytes: 8 << 20, max_entries: 10_000 };
    let _ = peapod_image::unpack::unpack_layer(data, &dest, &limits);
    let mut around: Vec<String> = std::fs::read_dir(scratch)
        .expect("reading scratch")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    around.sort();
    assert_eq!(around, ["dest", "outside"], "an entry was created beside the destination");
    let inside: Vec<String> = std::fs::read_dir(&outside)
        .expect("reading the sentinel dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(inside, ["sentinel"], "an entry was created outside the destination");
    assert_eq!(std::fs::read(outside.join("sentinel")).expect("sentinel"), b"untouched");
    make_removable(&dest);
    std::fs::remove_dir_all(&dest).expect("removing dest");
}

/// Give every directory under `dir` owner rwx, so an archive that made a
/// directory read-only cannot make the cleanup fail.
fn make_removable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return };
    if !meta.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(meta.permissions().mode() | 0o700));
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        make_removable(&e.path());
    }
}

/// Parse every line of the input as a CRI log line, and a line built from
/// the input as the shim builds them. Properties: a parsed entry names a
/// real stream, its content is the line's tail, and a well-formed line
/// parses back to exactly what was written.
pub fn cri_log(data: &[u8]) {
    for line in data.split(|b| *b == b'\n') {
        if let Some(e) = peapod_api::cri_log::parse_line(line) {
            assert!(e.stream == "stdout" || e.stream == "stderr");
            assert!(line.ends_with(e.content), "content is the line's tail");
            assert!(line.starts_with(e.timestamp.as_bytes()));
        }
    }
    let content: Vec<u8> = data.iter().map(|b| if *b == b'\n' { b' ' } else { *b }).collect();
    let partial = data.first().is_some_and(|b| b & 1 == 1);
    let stream = if data.len().is_multiple_of(2) { "stdout" } else { "stderr" };
    let mut line = format!("2026-01-02T03:04:05.123456789Z {stream} {} ", if partial { "P" } else { "F" }).into_bytes();
    line.extend_from_slice(&content);
    let e = peapod_api::cri_log::parse_line(&line).expect("a well-formed line parses");
    assert_eq!(
        (e.timestamp, e.stream, e.partial, e.content),
        ("2026-01-02T03:04:05.123456789Z", stream, partial, content.as_slice())
    );
}
