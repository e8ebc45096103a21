//! Runtime handlers: the CRI's `runtime_handler` (what a RuntimeClass's
//! `handler` names), mapped to OCI runtime binaries the way containerd maps
//! `runtimes.<name>.BinaryName`.
//!
//! The default handler `runc` is always `RuntimeConfig::runc`; a sandbox
//! config with an empty handler uses it. Other handlers come from
//! `RuntimeConfig::runtime_handlers`. An unknown handler is refused with
//! containerd's message before anything of the sandbox exists.
//!
//! Each handler has a state root of its own, so `list` on one root finds
//! exactly that handler's containers: the default keeps `<state>/runc`
//! (where every container lived before handlers existed, so a daemon
//! upgraded under running pods still finds them), the others use
//! `<state>/runtimes/<handler>`. Sandbox and container records name their
//! handler and the binary it had, so a handler dropped from the
//! configuration can still stop and remove what it started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::RuntimeError;
use crate::runc::Runc;

/// The handler of pods that name none (containerd's `default_runtime_name`).
pub const DEFAULT_HANDLER: &str = "runc";

/// Records written before handlers existed ran on the default one.
pub(crate) fn default_handler() -> String {
    DEFAULT_HANDLER.to_owned()
}

/// The configured handlers and where each keeps its state.
#[derive(Debug, Clone)]
pub struct Handlers {
    state_dir: PathBuf,
    binaries: BTreeMap<String, PathBuf>,
}

impl Handlers {
    /// `default_binary` runs [`DEFAULT_HANDLER`] (an entry of that name in
    /// `extra` does not replace it); `extra` maps other names to binaries.
    pub fn new(state_dir: &Path, default_binary: &Path, extra: &BTreeMap<String, PathBuf>) -> Handlers {
        let mut binaries = extra.clone();
        binaries.insert(DEFAULT_HANDLER.to_owned(), default_binary.to_path_buf());
        Handlers { state_dir: state_dir.to_path_buf(), binaries }
    }

    /// The state root (`runc --root`) of a handler.
    pub fn root(&self, handler: &str) -> PathBuf {
        if handler == DEFAULT_HANDLER {
            self.state_dir.join("runc")
        } else {
            self.state_dir.join("runtimes").join(handler)
        }
    }

    /// The handler a sandbox asks for (empty: the default), resolved to its
    /// name and driver; an unconfigured one is containerd's error.
    pub fn resolve(&self, requested: &str) -> Result<(String, Runc), RuntimeError> {
        let name = if requested.is_empty() { DEFAULT_HANDLER } else { requested };
        let binary = self.binaries.get(name).ok_or_else(|| RuntimeError::UnknownHandler(name.to_owned()))?;
        Ok((name.to_owned(), Runc::new(binary, self.root(name))))
    }

    /// The driver of something recorded as run by `handler` with `binary`:
    /// the handler's configured binary, or the recorded one when the
    /// handler has left the configuration since.
    pub fn for_record(&self, handler: &str, binary: Option<&Path>) -> Runc {
        let configured = self.binaries.get(handler).map(PathBuf::as_path);
        let binary = configured.or(binary).unwrap_or_else(|| &self.binaries[DEFAULT_HANDLER]);
        Runc::new(binary, self.root(handler))
    }

    /// The default handler's driver.
    pub fn default_runc(&self) -> Runc {
        self.for_record(DEFAULT_HANDLER, None)
    }

    /// Every configured handler's name and driver, the default first.
    pub fn all(&self) -> Vec<(String, Runc)> {
        let mut names: Vec<&String> = self.binaries.keys().collect();
        names.sort_by_key(|n| (n.as_str() != DEFAULT_HANDLER, n.as_str()));
        names.into_iter().map(|n| (n.clone(), self.for_record(n, None))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handlers() -> Handlers {
        let extra = BTreeMap::from([
            ("crun".to_string(), PathBuf::from("/usr/bin/crun")),
            ("runc".to_string(), PathBuf::from("/ignored")),
        ]);
        Handlers::new(Path::new("/run/p"), Path::new("/usr/sbin/runc"), &extra)
    }

    #[test]
    fn resolves_names_to_binaries_and_roots() {
        let h = handlers();
        // (requested, Ok((name, binary, root)) or the error)
        type Want<'a> = Result<(&'a str, &'a str, &'a str), &'a str>;
        let table: [(&str, Want); 4] = [
            ("", Ok(("runc", "/usr/sbin/runc", "/run/p/runc"))),
            ("runc", Ok(("runc", "/usr/sbin/runc", "/run/p/runc"))),
            ("crun", Ok(("crun", "/usr/bin/crun", "/run/p/runtimes/crun"))),
            ("kata", Err("failed to get sandbox runtime: no runtime for \"kata\" is configured")),
        ];
        for (requested, want) in table {
            let got = h.resolve(requested).map_err(|e| e.to_string());
            match (got, want) {
                (Ok((name, r)), Ok((n, b, root))) => {
                    assert_eq!((name.as_str(), r.binary.to_str().unwrap(), r.root.to_str().unwrap()), (n, b, root))
                }
                (Err(e), Err(w)) => assert_eq!(e, w),
                (g, w) => panic!("{requested:?}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn records_outlive_their_handler() {
        let h = handlers();
        let r = h.for_record("crun", Some(Path::new("/old/crun")));
        assert_eq!(r.binary, Path::new("/usr/bin/crun"), "the configured binary wins");
        let r = h.for_record("youki", Some(Path::new("/opt/youki")));
        assert_eq!(
            (r.binary.as_path(), r.root.as_path()),
            (Path::new("/opt/youki"), Path::new("/run/p/runtimes/youki"))
        );
        let names: Vec<String> = h.all().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["runc", "crun"]);
    }
}
