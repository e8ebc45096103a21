//! Reading manifests named by `-f`: files, directories (`*.yaml`, `*.yml`,
//! `*.json` in name order, recursively with `-R`) and `-` for stdin, each
//! holding one or more YAML/JSON documents.
//!
//! Every document becomes a [`Manifest`] that remembers its source (kubectl
//! names the file in messages like `error when creating "pod.yaml"`), and is
//! mapped to a served type with [`Manifest::resource`].

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::errors::CliError;
use crate::resources::{self, ResourceType};

/// One object read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Where it came from, as kubectl prints it (`dir/pod.yaml`, `STDIN`).
    pub source: String,
    /// The object.
    pub obj: Value,
}

impl Manifest {
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        resources::name_of(&self.obj)
    }

    /// The served type of this object, or kubectl's mapping error.
    pub fn resource(&self) -> Result<&'static ResourceType, CliError> {
        let kind = self.obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let api_version = self.obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        if kind.is_empty() || api_version.is_empty() {
            let missing = if kind.is_empty() { "Kind" } else { "Version" };
            return Err(CliError::msg(format!(
                "unable to decode \"{}\": Object '{missing}' is missing in '{}'",
                self.source,
                crate::printers::json::to_json_compact(&self.obj)
            )));
        }
        resources::for_kind(api_version, kind).ok_or_else(|| {
            let ns = resources::namespace_of(&self.obj).unwrap_or_default();
            CliError::msg(format!(
                "resource mapping not found for name: \"{}\" namespace: \"{ns}\" from \"{}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
                self.name(),
                self.source
            ))
        })
    }

    /// The namespace to use: the manifest's own, else `default_ns`
    /// (`None` for cluster-scoped types).
    pub fn namespace(&self, rt: &ResourceType, default_ns: &str) -> Option<String> {
        rt.namespaced.then(|| resources::namespace_of(&self.obj).unwrap_or(default_ns).to_string())
    }
}

/// Read every `-f` argument in order.
pub fn read_all(files: &[String], recursive: bool) -> Result<Vec<Manifest>, CliError> {
    if files.is_empty() {
        return Err(CliError::msg("must specify one of -f and -k"));
    }
    let mut out = Vec::new();
    for f in files {
        if f == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| CliError::io("STDIN", e))?;
            decode_into(&text, "STDIN", &mut out)?;
            continue;
        }
        let path = Path::new(f);
        let meta = std::fs::metadata(path).map_err(|_| CliError::msg(format!("the path \"{f}\" does not exist")))?;
        if meta.is_dir() {
            for file in dir_files(path, recursive)? {
                let text = std::fs::read_to_string(&file).map_err(|e| CliError::io(&file, e))?;
                decode_into(&text, &file.display().to_string(), &mut out)?;
            }
        } else {
            let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
            decode_into(&text, f, &mut out)?;
        }
    }
    Ok(out)
}

/// Decode the documents of one source.
pub fn decode_into(text: &str, source: &str, out: &mut Vec<Manifest>) -> Result<(), CliError> {
    let docs = peapod_api::yaml::decode_documents(text)
        .map_err(|e| CliError::ManifestDecode { path: source.to_string(), source: e })?;
    for obj in docs {
        if !obj.is_object() {
            return Err(CliError::msg(format!("error parsing {source}: a manifest must be an object")));
        }
        out.push(Manifest { source: source.to_string(), obj });
    }
    Ok(())
}

/// Manifest files of a directory in name order (sub-directories too with
/// `recursive`, visited in the same order as files).
fn dir_files(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>, CliError> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| CliError::io(dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            if recursive {
                out.extend(dir_files(&p, true)?);
            }
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json")) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_in_name_order_and_recursion() {
        let dir = std::env::temp_dir().join(format!("peapod-cli-manifests-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("b.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n").unwrap();
        std::fs::write(dir.join("a.json"), r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}"#).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.join("sub/c.yml"), "kind: Pod\napiVersion: v1\nmetadata: {name: c}\n---\n").unwrap();
        let d = dir.display().to_string();
        let names = |v: Vec<Manifest>| v.iter().map(|m| m.name().to_string()).collect::<Vec<_>>();
        assert_eq!(names(read_all(std::slice::from_ref(&d), false).unwrap()), ["a", "b"]);
        let all = read_all(std::slice::from_ref(&d), true).unwrap();
        assert_eq!(all[2].source, format!("{d}/sub/c.yml"));
        assert_eq!(names(all), ["a", "b", "c"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kubectl_errors() {
        let e = read_all(&["/nonexistent.yaml".into()], false).unwrap_err();
        assert_eq!(e.render(), "error: the path \"/nonexistent.yaml\" does not exist");
        let mut out = Vec::new();
        let e = decode_into("a: [\n", "broken.yaml", &mut out).unwrap_err().render();
        assert!(e.starts_with("error: error parsing broken.yaml: error converting YAML to JSON: yaml: line 1"), "{e}");
        assert!(!e.contains('\n'), "{e}");

        let m = Manifest {
            source: "f.yaml".into(),
            obj: serde_json::json!({"apiVersion": "v1", "kind": "Foo", "metadata": {"name": "x"}}),
        };
        assert_eq!(
            m.resource().unwrap_err().to_string(),
            "resource mapping not found for name: \"x\" namespace: \"\" from \"f.yaml\": no matches for kind \"Foo\" in version \"v1\"\nensure CRDs are installed first"
        );
        let m = Manifest {
            source: "f.yaml".into(),
            obj: serde_json::json!({"apiVersion": "v1", "metadata": {"name": "x"}}),
        };
        assert!(m.resource().unwrap_err().to_string().contains("Object 'Kind' is missing"));
        let m = Manifest {
            source: "f".into(),
            obj: serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        };
        assert_eq!(m.namespace(m.resource().unwrap(), "dflt").as_deref(), Some("dflt"));
    }
}
