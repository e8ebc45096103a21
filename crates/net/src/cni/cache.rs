//! The attachment cache, in libcni's format and place so its tools can
//! read it: `<cache_dir>/results/<network>-<container id>-<ifname>`, a JSON
//! object `{"kind":"cniCacheV1","containerId","config" (base64 of the list
//! JSON, as Go encodes []byte),"ifName","networkName","netns","cniArgs",
//! "capabilityArgs","result"}`.
//!
//! One deviation, on purpose: we write the record *before* running the
//! first plugin, without `result` (a "pending" record), and add the result
//! when the chain succeeds. A daemon killed half-way through ADD thus
//! leaves a record naming the config, args and netns, and start-up
//! garbage collection or teardown can DEL exactly what was set up.
//! libcni readers treat a record without result as "no cached result".

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::NetError;

/// libcni's cache record kind.
pub(crate) const CACHE_KIND: &str = "cniCacheV1";

/// One cached attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CacheRecord {
    pub kind: String,
    #[serde(rename = "containerId")]
    pub container_id: String,
    /// The network configuration list used, as JSON bytes.
    #[serde(with = "base64_bytes")]
    pub config: Vec<u8>,
    #[serde(rename = "ifName")]
    pub if_name: String,
    #[serde(rename = "networkName")]
    pub network_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub netns: String,
    #[serde(rename = "cniArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub cni_args: Vec<[String; 2]>,
    #[serde(rename = "capabilityArgs", default, skip_serializing_if = "Map::is_empty")]
    pub capability_args: Map<String, Value>,
    /// The chain's final result; `None` while ADD is in progress (or was
    /// cut short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// A record file and its parse outcome.
pub(crate) type Listed = (PathBuf, Result<CacheRecord, NetError>);

/// The record's file.
pub(crate) fn record_path(cache_dir: &Path, network: &str, id: &str, ifname: &str) -> PathBuf {
    cache_dir.join("results").join(format!("{network}-{id}-{ifname}"))
}

/// Write `bytes` to `path` via a temporary file and rename, so readers
/// (and a crash) never see half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NetError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().unwrap_or_default().to_string_lossy()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        NetError::io(format!("writing {}", path.display()), e)
    })
}

/// Store `rec` at `path` (directory 0700, file 0600 as libcni does).
pub(crate) fn write(path: &Path, rec: &CacheRecord) -> Result<(), NetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
    }
    let bytes = serde_json::to_vec(rec).expect("a cache record serializes");
    write_atomic(path, &bytes, 0o600)
}

/// Parse a record's bytes.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<CacheRecord, NetError> {
    let rec: CacheRecord =
        serde_json::from_slice(bytes).map_err(|source| NetError::Cache { path: path.to_path_buf(), source })?;
    if rec.kind != CACHE_KIND {
        return Err(NetError::Cache {
            path: path.to_path_buf(),
            source: serde::de::Error::custom(format!("unknown kind {:?}", rec.kind)),
        });
    }
    Ok(rec)
}

/// The record at `path`, `None` if there is none.
pub(crate) fn read(path: &Path) -> Result<Option<CacheRecord>, NetError> {
    match std::fs::read(path) {
        Ok(b) => parse(path, &b).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io(format!("reading {}", path.display()), e)),
    }
}

/// Delete the record; a missing one is fine.
pub(crate) fn remove(path: &Path) -> Result<(), NetError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("removing {}", path.display()), e)),
    }
}

/// Record files in the cache, sorted by name.
fn record_files(cache_dir: &Path) -> Result<Vec<PathBuf>, NetError> {
    let dir = cache_dir.join("results");
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(NetError::io(format!("reading {}", dir.display()), e)),
    };
    let mut paths = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| NetError::io(format!("reading {}", dir.display()), e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue; // a temporary file of write_atomic
        }
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}

/// Read the given record files (those gone meanwhile are skipped).
fn read_all(paths: Vec<PathBuf>) -> Vec<Listed> {
    paths
        .into_iter()
        .filter_map(|p| match read(&p) {
            Ok(Some(r)) => Some((p, Ok(r))),
            Ok(None) => None,
            Err(e) => Some((p, Err(e))),
        })
        .collect()
}

/// Remove temp files of writes a crash cut short (`write_atomic` renames a
/// complete temp file into place, so a leftover one is never a record).
pub(crate) fn sweep_temp_files(cache_dir: &Path) -> usize {
    let dir = cache_dir.join("results");
    let Ok(rd) = std::fs::read_dir(&dir) else { return 0 };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// Every record file in the cache with its parse outcome, sorted by name.
pub(crate) fn list(cache_dir: &Path) -> Result<Vec<Listed>, NetError> {
    Ok(read_all(record_files(cache_dir)?))
}

/// The records of one container on any network (libcni's
/// `GetCachedAttachments`): files named `<network>-<id>-<ifname>` whose
/// record names that container, plus unreadable ones with such a name.
pub(crate) fn find_container(cache_dir: &Path, id: &str, ifname: &str) -> Result<Vec<Listed>, NetError> {
    let suffix = format!("-{id}-{ifname}");
    let named: Vec<PathBuf> = record_files(cache_dir)?
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(&suffix)))
        .collect();
    Ok(read_all(named).into_iter().filter(|(_, r)| r.as_ref().map_or(true, |r| r.container_id == id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn rec(result: Option<Value>) -> CacheRecord {
        CacheRecord {
            kind: CACHE_KIND.into(),
            container_id: "sb1".into(),
            config: br#"{"name":"n"}"#.to_vec(),
            if_name: "eth0".into(),
            network_name: "n".into(),
            netns: "/ns".into(),
            cni_args: vec![["IgnoreUnknown".into(), "1".into()]],
            capability_args: Map::new(),
            result,
        }
    }

    #[test]
    fn libcni_shape() {
        let v = serde_json::to_value(rec(Some(json!({"cniVersion":"1.0.0"})))).unwrap();
        assert_eq!(
            v,
            json!({"kind":"cniCacheV1","containerId":"sb1","config":b64(br#"{"name":"n"}"#),
                   "ifName":"eth0","networkName":"n","netns":"/ns",
                   "cniArgs":[["IgnoreUnknown","1"]],"result":{"cniVersion":"1.0.0"}})
        );
        // Pending records carry no result key at all.
        let v = serde_json::to_value(rec(None)).unwrap();
        assert!(v.get("result").is_none());
    }

    #[test]
    fn round_trip_and_list() {
        let d = tempfile::tempdir().unwrap();
        let p = record_path(d.path(), "n", "sb1", "eth0");
        assert_eq!(p, d.path().join("results/n-sb1-eth0"));
        assert_eq!(read(&p).unwrap(), None);
        write(&p, &rec(None)).unwrap();
        assert_eq!(read(&p).unwrap(), Some(rec(None)));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write(&p, &rec(Some(json!({"ips":[]})))).unwrap();
        assert_eq!(read(&p).unwrap().unwrap().result, Some(json!({"ips":[]})));

        let bad = d.path().join("results/n-junk-eth0");
        std::fs::write(&bad, "{").unwrap();
        let other_kind = d.path().join("results/n-old-eth0");
        std::fs::write(
            &other_kind,
            r#"{"kind":"v0","containerId":"old","config":"","ifName":"eth0","networkName":"n"}"#,
        )
        .unwrap();
        let listed = list(d.path()).unwrap();
        let summary: Vec<_> =
            listed.iter().map(|(p, r)| (p.file_name().unwrap().to_string_lossy().into_owned(), r.is_ok())).collect();
        assert_eq!(
            summary,
            [("n-junk-eth0".to_owned(), false), ("n-old-eth0".to_owned(), false), ("n-sb1-eth0".to_owned(), true)]
        );
        let found: Vec<_> =
            find_container(d.path(), "sb1", "eth0").unwrap().into_iter().map(|(p, r)| (p, r.is_ok())).collect();
        assert_eq!(found, [(p.clone(), true)]);
        assert_eq!(find_container(d.path(), "junk", "eth0").unwrap().len(), 1, "unreadable records are found by name");
        assert!(find_container(d.path(), "b1", "eth0").unwrap().is_empty());
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert_eq!(read(&p).unwrap(), None);
        assert!(list(&d.path().join("none")).unwrap().is_empty());
    }
}
