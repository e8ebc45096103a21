//! CNI network configuration: our settings (`CniConfig`), the default
//! conflist we write when the configuration directory is empty, and loading
//! and validating the network the way libcni and its runtimes do (first file
//! by name among `*.conflist`, `*.conf`, `*.json`; a single plugin
//! configuration is wrapped into a one-plugin list).
//!
//! Parsing and validation are plain functions over bytes; only
//! `load_network` and `validate_plugins` touch the file system or run
//! plugins (`VERSION`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::NetError;
use crate::cni::ipam::parse_cidr;

/// CNI versions this runtime understands (the ones the installed plugins,
/// containernetworking-plugins 1.1.1, implement).
pub const KNOWN_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// File name of the conflist written when `conf_dir` holds none.
pub const DEFAULT_CONFLIST: &str = "10-peapod.conflist";

/// Where CNI configuration, plugins, cached results and our IPAM leases live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniConfig {
    /// Directory of network configurations (`/etc/cni/net.d` style).
    pub conf_dir: PathBuf,
    /// Directories searched, in order, for plugin binaries (`CNI_PATH`).
    pub plugin_dirs: Vec<PathBuf>,
    /// libcni-style cache: `<cache_dir>/results/<network>-<id>-<ifname>`.
    pub cache_dir: PathBuf,
    /// The network written to `conf_dir` when it holds no configuration.
    pub default_network: DefaultNetwork,
}

/// The default pod network: one Linux bridge, host-local IPAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultNetwork {
    /// CNI network name (also names the per-pod iptables comments).
    pub name: String,
    /// Bridge device name (at most 15 bytes).
    pub bridge: String,
    /// Pod subnet in CIDR notation, e.g. `10.88.0.0/16`.
    pub subnet: String,
    /// host-local `dataDir`, so the leases are ours alone.
    pub ipam_data_dir: PathBuf,
}

/// One plugin of a loaded list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PluginConf {
    /// `type`: the executable's file name.
    pub plugin_type: String,
    /// The plugin's configuration object as written in the list.
    pub raw: Map<String, Value>,
}

impl PluginConf {
    /// Capabilities the plugin declares with `true`.
    pub fn capabilities(&self) -> impl Iterator<Item = &str> {
        self.raw
            .get("capabilities")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, v)| v.as_bool() == Some(true))
            .map(|(k, _)| k.as_str())
    }
}

/// A network configuration list, as loaded from a file or the cache.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetworkList {
    pub name: String,
    pub cni_version: String,
    pub disable_check: bool,
    pub plugins: Vec<PluginConf>,
    /// The list as JSON bytes: what the cache records as `config`.
    pub bytes: Vec<u8>,
    /// The file it came from (for error messages).
    pub source: PathBuf,
}

/// Is `name` a valid CNI network name (SPEC: alphanumeric first, then
/// alphanumerics, `_`, `.`, `-`)? The same rule applies to container ids.
pub(crate) fn valid_cni_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn config_err(path: &Path, field: &str, message: impl Into<String>) -> NetError {
    NetError::Config { path: path.to_path_buf(), field: field.to_owned(), message: message.into() }
}

/// Check our own settings for the default network before writing them.
pub(crate) fn validate_default_network(d: &DefaultNetwork, path: &Path) -> Result<(), NetError> {
    if !valid_cni_name(&d.name) {
        return Err(config_err(path, "name", format!("{:?} is not a valid CNI network name", d.name)));
    }
    if d.bridge.is_empty()
        || d.bridge.len() > 15
        || d.bridge.contains(['/', ':'])
        || d.bridge.chars().any(char::is_whitespace)
    {
        return Err(config_err(path, "bridge", format!("{:?} is not a valid interface name (1-15 bytes)", d.bridge)));
    }
    match parse_cidr(&d.subnet) {
        Some((std::net::IpAddr::V4(_), p)) if p <= 30 => Ok(()),
        Some((std::net::IpAddr::V6(_), p)) if p <= 126 => Ok(()),
        Some(_) => Err(config_err(path, "subnet", format!("{} is too small for pods", d.subnet))),
        None => Err(config_err(path, "subnet", format!("{:?} is not a CIDR", d.subnet))),
    }
}

/// The default conflist: bridge (gateway, hairpin for hostPort to self)
/// with host-local IPAM in our own dataDir, and portmap for hostPorts.
/// Masquerade and the FORWARD accepts that keep pods working when the
/// host's FORWARD policy is DROP are the daemon's, once for the subnet
/// (`hostrules`), not the bridge plugin's `ipMasq` and the firewall
/// plugin's per pod: those cost two thirds of every ADD and DEL. No
/// `loopback`: `netns::create_pinned` already brings `lo` up; no `tuning`:
/// nothing needs a sysctl.
pub fn default_conflist(d: &DefaultNetwork) -> Value {
    conflist(d, false)
}

/// The default conflist; `legacy` is the one of versions before the
/// daemon kept the subnet's masquerade and forward rules itself (bridge
/// `ipMasq` and the firewall plugin did, per pod), byte for byte: JSON
/// keys keep their insertion order.
fn conflist(d: &DefaultNetwork, legacy: bool) -> Value {
    let default_route = match parse_cidr(&d.subnet) {
        Some((std::net::IpAddr::V6(_), _)) => "::/0",
        _ => "0.0.0.0/0",
    };
    let mut bridge = json!({ "type": "bridge", "bridge": d.bridge, "isGateway": true });
    if legacy {
        bridge["ipMasq"] = json!(true);
    }
    bridge["hairpinMode"] = json!(true);
    bridge["ipam"] = json!({
        "type": "host-local",
        "ranges": [[{ "subnet": d.subnet }]],
        "routes": [{ "dst": default_route }],
        "dataDir": d.ipam_data_dir,
    });
    let mut plugins =
        vec![bridge, json!({ "type": "portmap", "capabilities": { "portMappings": true }, "snat": true })];
    if legacy {
        plugins.push(json!({ "type": "firewall" }));
    }
    json!({ "cniVersion": "1.0.0", "name": d.name, "plugins": plugins })
}

/// Parse a configuration file's bytes. `.conflist` files (and `.json`
/// files with a `plugins` array) are lists; others are one plugin, wrapped
/// into a list as libcni's `ConfListFromConf` does.
pub(crate) fn parse_network(bytes: &[u8], path: &Path) -> Result<NetworkList, NetError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| config_err(path, "(file)", format!("invalid JSON: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(config_err(path, "(file)", "not a JSON object"));
    };
    let is_list = path.extension().is_some_and(|e| e == "conflist") || obj.contains_key("plugins");
    if is_list {
        parse_list(obj, bytes.to_vec(), path)
    } else {
        let name = obj.get("name").cloned().unwrap_or(Value::Null);
        let version = obj.get("cniVersion").cloned().unwrap_or(Value::Null);
        let list = json!({ "cniVersion": version, "name": name, "plugins": [Value::Object(obj)] });
        let bytes = serde_json::to_vec(&list).expect("a JSON value serializes");
        let Value::Object(obj) = list else { unreachable!() };
        parse_list(obj, bytes, path)
    }
}

fn parse_list(obj: Map<String, Value>, bytes: Vec<u8>, path: &Path) -> Result<NetworkList, NetError> {
    let name = match obj.get("name") {
        Some(Value::String(s)) if valid_cni_name(s) => s.clone(),
        Some(Value::String(s)) => {
            return Err(config_err(path, "name", format!("{s:?} is not a valid CNI network name")));
        }
        _ => return Err(config_err(path, "name", "missing or not a string")),
    };
    let cni_version = match obj.get("cniVersion") {
        Some(Value::String(s)) if KNOWN_VERSIONS.contains(&s.as_str()) => s.clone(),
        Some(Value::String(s)) => {
            return Err(config_err(path, "cniVersion", format!("{s:?} is not one of {}", KNOWN_VERSIONS.join(", "))));
        }
        _ => return Err(config_err(path, "cniVersion", "missing or not a string")),
    };
    let disable_check = match obj.get("disableCheck") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        // The SPEC types it as a string in places; accept both spellings.
        Some(Value::String(s)) => s == "true",
        Some(_) => return Err(config_err(path, "disableCheck", "not a boolean")),
    };
    let Some(Value::Array(items)) = obj.get("plugins") else {
        return Err(config_err(path, "plugins", "missing or not an array"));
    };
    if items.is_empty() {
        return Err(config_err(path, "plugins", "empty list"));
    }
    let mut plugins = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("plugins[{i}]");
        let Value::Object(raw) = item else {
            return Err(config_err(path, &field, "not an object"));
        };
        let plugin_type = match raw.get("type") {
            Some(Value::String(t)) if !t.is_empty() && !t.contains('/') && t != ".." => t.clone(),
            _ => {
                return Err(config_err(path, &format!("{field}.type"), "missing, empty or not a plain file name"));
            }
        };
        if let Some(caps) = raw.get("capabilities")
            && !caps.as_object().is_some_and(|m| m.values().all(Value::is_boolean))
        {
            return Err(config_err(path, &format!("{field}.capabilities"), "not an object of booleans"));
        }
        plugins.push(PluginConf { plugin_type, raw: raw.clone() });
    }
    Ok(NetworkList { name, cni_version, disable_check, plugins, bytes, source: path.to_path_buf() })
}

/// Configuration files in `dir`, sorted by name (libcni's `ConfFiles`).
pub(crate) fn conf_files(dir: &Path) -> Result<Vec<PathBuf>, NetError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(NetError::io(format!("reading {}", dir.display()), e)),
    };
    let mut files = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| NetError::io(format!("reading {}", dir.display()), e))?;
        let p = entry.path();
        let is_conf = p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "conflist" | "conf" | "json"));
        if is_conf && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Write the default conflist if `conf_dir` has no configuration, then load
/// the first configuration file by name. With it, the bridge and subnet of
/// the default network, whose masquerade and forward rules the daemon keeps
/// (`hostrules`), when the file is ours.
pub(crate) fn load_network(cfg: &CniConfig) -> Result<(NetworkList, Option<(String, String)>), NetError> {
    let default_path = cfg.conf_dir.join(DEFAULT_CONFLIST);
    let generated =
        serde_json::to_vec_pretty(&default_conflist(&cfg.default_network)).expect("a JSON value serializes");
    let mut files = conf_files(&cfg.conf_dir)?;
    if files.is_empty() {
        validate_default_network(&cfg.default_network, &default_path)?;
        std::fs::create_dir_all(&cfg.conf_dir)
            .map_err(|e| NetError::io(format!("creating {}", cfg.conf_dir.display()), e))?;
        crate::cni::cache::write_atomic(&default_path, &generated, 0o644)?;
        files.push(default_path.clone());
    }
    let path = &files[0];
    let mut bytes = std::fs::read(path).map_err(|e| NetError::io(format!("reading {}", path.display()), e))?;
    // The default of earlier versions, exactly as they wrote it: replaced by
    // today's (attachments made with it keep their cached copy for DEL).
    let previous = serde_json::to_vec_pretty(&conflist(&cfg.default_network, true)).expect("a JSON value serializes");
    if *path == default_path && bytes == previous {
        crate::cni::cache::write_atomic(&default_path, &generated, 0o644)?;
        tracing::info!(path = %path.display(), "replaced the default conflist of an earlier version");
        bytes = generated.clone();
    }
    if *path == default_path && bytes != generated {
        tracing::warn!(
            path = %path.display(),
            "the CNI config differs from the configured default network; using the file"
        );
    }
    let list = parse_network(&bytes, path)?;
    let ours = if *path == default_path { masquerade_of_default(&list) } else { None };
    Ok((list, ours))
}

/// The bridge and subnet whose masquerade and forward rules the daemon
/// keeps (`hostrules`), when `list` has the default network's shape: bridge
/// without `ipMasq`, then portmap. Read from the file, which may name
/// another bridge or subnet than today's flags (it wins, see above).
fn masquerade_of_default(list: &NetworkList) -> Option<(String, String)> {
    let [bridge, portmap] = list.plugins.as_slice() else { return None };
    if bridge.plugin_type != "bridge" || portmap.plugin_type != "portmap" {
        return None;
    }
    if bridge.raw.get("ipMasq").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let name = bridge.raw.get("bridge")?.as_str()?;
    let subnet = bridge.raw.get("ipam")?.pointer("/ranges/0/0/subnet")?.as_str()?;
    Some((name.to_owned(), subnet.to_owned()))
}

/// The first executable named `plugin_type` in `dirs` (libcni's `FindInPath`).
pub(crate) fn find_plugin(plugin_type: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter()
        .map(|d| d.join(plugin_type))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Check that every plugin of `list` (and its IPAM plugin) is installed
/// and supports the list's `cniVersion` (runs each plugin's `VERSION`
/// once, synchronously: this is start-up work).
pub(crate) fn validate_plugins(list: &NetworkList, dirs: &[PathBuf]) -> Result<(), NetError> {
    let mut types: Vec<(String, String)> = Vec::new();
    for (i, p) in list.plugins.iter().enumerate() {
        types.push((format!("plugins[{i}].type"), p.plugin_type.clone()));
        if let Some(t) = p.raw.get("ipam").and_then(|i| i.get("type")).and_then(Value::as_str) {
            types.push((format!("plugins[{i}].ipam.type"), t.to_owned()));
        }
    }
    for (field, t) in types {
        let Some(bin) = find_plugin(&t, dirs) else {
            return Err(config_err(
                &list.source,
                &field,
                NetError::PluginNotFound { plugin: t.clone(), dirs: join_dirs(dirs) }.to_string(),
            ));
        };
        let out = std::process::Command::new(&bin)
            .env("CNI_COMMAND", "VERSION")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|e| NetError::io(format!("running {} VERSION", bin.display()), e))?;
        let supported = supported_versions(&out.stdout);
        if !supported.contains(&list.cni_version) {
            return Err(config_err(
                &list.source,
                "cniVersion",
                format!("plugin {t} does not support {} (it supports: {})", list.cni_version, supported.join(", ")),
            ));
        }
    }
    Ok(())
}

/// `supportedVersions` from a plugin's VERSION output (empty if unparsable).
pub(crate) fn supported_versions(stdout: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(stdout)
        .ok()
        .and_then(|v| {
            v.get("supportedVersions")?
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        })
        .unwrap_or_default()
}

/// `CNI_PATH`: the plugin directories joined by `:`.
pub(crate) fn join_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn() -> DefaultNetwork {
        DefaultNetwork {
            name: "peapod".into(),
            bridge: "peapod0".into(),
            subnet: "10.88.0.0/16".into(),
            ipam_data_dir: "/var/lib/peapod/ipam".into(),
        }
    }

    #[test]
    fn the_previous_default_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        let cfg = CniConfig {
            conf_dir: d.path().join("conf"),
            plugin_dirs: vec![],
            cache_dir: d.path().join("cache"),
            default_network: dn(),
        };
        std::fs::create_dir_all(&cfg.conf_dir).unwrap();
        let path = cfg.conf_dir.join(DEFAULT_CONFLIST);
        // What the old code wrote, byte for byte (checked against its
        // json! literal at b8e74ae): ipMasq between isGateway and
        // hairpinMode, firewall last.
        let old = serde_json::to_vec_pretty(&conflist(&cfg.default_network, true)).unwrap();
        let text = String::from_utf8_lossy(&old);
        assert!(text.contains("\"isGateway\": true,\n      \"ipMasq\": true,\n      \"hairpinMode\": true,"), "{text}");
        assert!(text.ends_with("    {\n      \"type\": \"firewall\"\n    }\n  ]\n}"), "{text}");
        std::fs::write(&path, &old).unwrap();
        let (list, ours) = load_network(&cfg).unwrap();
        assert_eq!(ours, Some(("peapod0".to_owned(), "10.88.0.0/16".to_owned())));
        assert_eq!(list.plugins.len(), 2);
        assert_eq!(std::fs::read(&path).unwrap(), serde_json::to_vec_pretty(&default_conflist(&dn())).unwrap());
        // An edited file is the user's: used as written.
        let mut edited: Value = serde_json::from_slice(&old).unwrap();
        edited["plugins"][0]["hairpinMode"] = json!(false);
        std::fs::write(&path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
        let (list, ours) = load_network(&cfg).unwrap();
        assert_eq!(ours, None, "ipMasq and firewall: the plugins masquerade");
        assert_eq!(list.plugins.len(), 3);
        // Today's default with other settings than the flags': the file's
        // bridge and subnet get the rules.
        let mut other = default_conflist(&dn());
        other["plugins"][0]["bridge"] = json!("br9");
        other["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] = json!("10.9.0.0/24");
        std::fs::write(&path, serde_json::to_vec_pretty(&other).unwrap()).unwrap();
        let (_, ours) = load_network(&cfg).unwrap();
        assert_eq!(ours, Some(("br9".to_owned(), "10.9.0.0/24".to_owned())));
    }

    #[test]
    fn default_conflist_parses_back() {
        let bytes = serde_json::to_vec(&default_conflist(&dn())).unwrap();
        let l = parse_network(&bytes, Path::new("/x/10-peapod.conflist")).unwrap();
        assert_eq!(l.name, "peapod");
        assert_eq!(l.cni_version, "1.0.0");
        let types: Vec<_> = l.plugins.iter().map(|p| p.plugin_type.as_str()).collect();
        assert_eq!(types, ["bridge", "portmap"]);
        assert_eq!(l.plugins[0].raw.get("ipMasq"), None, "masquerade is the daemon's (hostrules)");
        assert_eq!(l.plugins[1].capabilities().collect::<Vec<_>>(), ["portMappings"]);
        assert_eq!(l.plugins[0].capabilities().count(), 0);
        let ipam = &l.plugins[0].raw["ipam"];
        assert_eq!(ipam["dataDir"], "/var/lib/peapod/ipam");
        assert_eq!(ipam["ranges"][0][0]["subnet"], "10.88.0.0/16");
    }

    #[test]
    fn single_conf_is_wrapped() {
        let conf = br#"{"cniVersion":"0.4.0","name":"one","type":"bridge","bridge":"b0"}"#;
        let l = parse_network(conf, Path::new("/x/99-one.conf")).unwrap();
        assert_eq!(l.name, "one");
        assert_eq!(l.cni_version, "0.4.0");
        assert_eq!(l.plugins.len(), 1);
        assert_eq!(l.plugins[0].raw["bridge"], "b0");
        let back: Value = serde_json::from_slice(&l.bytes).unwrap();
        assert_eq!(back["plugins"][0]["type"], "bridge");
        // A .json file with `plugins` is a list.
        let list = br#"{"cniVersion":"1.0.0","name":"l","plugins":[{"type":"bridge"}]}"#;
        assert_eq!(parse_network(list, Path::new("/x/a.json")).unwrap().plugins.len(), 1);
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("not json", "a.conflist", "(file)"),
            ("[]", "a.conflist", "(file)"),
            (r#"{"cniVersion":"1.0.0","plugins":[]}"#, "a.conflist", "name"),
            (r#"{"cniVersion":"1.0.0","name":"-bad","plugins":[]}"#, "a.conflist", "name"),
            (r#"{"name":"n","plugins":[]}"#, "a.conflist", "cniVersion"),
            (r#"{"cniVersion":"9.9.9","name":"n","plugins":[]}"#, "a.conflist", "cniVersion"),
            (r#"{"cniVersion":"1.0.0","name":"n"}"#, "a.conflist", "plugins"),
            (r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#, "a.conflist", "plugins"),
            (r#"{"cniVersion":"1.0.0","name":"n","plugins":[3]}"#, "a.conflist", "plugins[0]"),
            (r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a"},{"x":1}]}"#, "a.conflist", "plugins[1].type"),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../../bin/sh"}]}"#,
                "a.conflist",
                "plugins[0].type",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a","capabilities":{"x":"yes"}}]}"#,
                "a.conflist",
                "plugins[0].capabilities",
            ),
            (r#"{"cniVersion":"1.0.0","name":"n"}"#, "a.conf", "plugins[0].type"),
        ];
        for (text, file, want_field) in cases {
            let path = PathBuf::from("/etc/cni/net.d").join(file);
            match parse_network(text.as_bytes(), &path) {
                Err(NetError::Config { field, path: p, .. }) => {
                    assert_eq!(&field, want_field, "{text}");
                    assert_eq!(p, path);
                }
                other => panic!("{text}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn default_network_validation() {
        let p = Path::new("/x");
        assert!(validate_default_network(&dn(), p).is_ok());
        type Mutation = fn(&mut DefaultNetwork);
        let cases: &[(Mutation, &str)] = &[
            (|d| d.name = "".into(), "name"),
            (|d| d.bridge = "a-very-long-bridge-name".into(), "bridge"),
            (|d| d.bridge = "".into(), "bridge"),
            (|d| d.subnet = "10.0.0.0".into(), "subnet"),
            (|d| d.subnet = "10.0.0.0/31".into(), "subnet"),
            (|d| d.subnet = "10.0.0.300/24".into(), "subnet"),
        ];
        for (mutate, want) in cases {
            let mut d = dn();
            mutate(&mut d);
            match validate_default_network(&d, p) {
                Err(NetError::Config { field, .. }) => assert_eq!(&field, want),
                other => panic!("{d:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "peapod", "pp-t1_2.x", "0abc"] {
            assert!(valid_cni_name(ok), "{ok}");
        }
        for bad in ["", "-a", "_a", "a/b", "a b", "a;b", ".."] {
            assert!(!valid_cni_name(bad), "{bad}");
        }
    }

    #[test]
    fn version_output() {
        let out = br#"{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}"#;
        assert_eq!(supported_versions(out), ["0.4.0", "1.0.0"]);
        assert!(supported_versions(b"garbage").is_empty());
    }

    #[test]
    fn conf_files_sorted_and_filtered() {
        let d = tempfile::tempdir().unwrap();
        for f in ["20-b.conf", "10-a.conflist", "05-x.txt", "30-c.json"] {
            std::fs::write(d.path().join(f), "{}").unwrap();
        }
        let names: Vec<_> = conf_files(d.path())
            .unwrap()
            .into_iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10-a.conflist", "20-b.conf", "30-c.json"]);
        assert!(conf_files(&d.path().join("missing")).unwrap().is_empty());
    }
}
