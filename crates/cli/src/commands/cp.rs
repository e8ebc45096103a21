//! `cp SRC DEST` between the local machine and a container, as kubectl does
//! it (§10.5): tar archives through `exec` (the container needs `tar`).
//!
//! - local → pod: exec `test -d DEST` to learn whether DEST is a directory,
//!   then exec `tar -xmf - -C DIR` with stdin = a tar archive whose member is
//!   named after the destination (stdin closed with the v5 close signal);
//! - pod → local: exec `tar cf - SRC`, then unpack the archive locally,
//!   mapping SRC to DEST and refusing entries that would escape DEST.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::streams::{self, ExecRequest, ExitStatus, Input};
use crate::client::Client;
use crate::errors::CliError;

/// Arguments of `cp`.
#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// `LOCAL_PATH` or `[NAMESPACE/]POD:PATH`.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// `LOCAL_PATH` or `[NAMESPACE/]POD:PATH`.
    #[arg(value_name = "DEST")]
    pub dest: String,
    /// Container name (default: kubectl's choice).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
}

/// One side of a copy.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// A local path.
    Local(PathBuf),
    /// A path in a pod.
    Remote {
        /// Namespace given as `ns/pod:path`.
        namespace: Option<String>,
        /// Pod name.
        pod: String,
        /// Path in the container.
        path: String,
    },
}

/// Parse `[ns/]pod:path` or a local path.
pub fn parse_spec(s: &str) -> Spec {
    if s.starts_with('/') || s.starts_with('.') {
        return Spec::Local(PathBuf::from(s));
    }
    match s.split_once(':') {
        Some((left, path)) if !left.is_empty() => {
            let (namespace, pod) = match left.split_once('/') {
                Some((ns, pod)) => (Some(ns.to_string()), pod.to_string()),
                None => (None, left.to_string()),
            };
            Spec::Remote { namespace, pod, path: path.to_string() }
        }
        _ => Spec::Local(PathBuf::from(s)),
    }
}

/// Run `cp`.
pub async fn run(client: &Client, a: CpArgs) -> Result<i32, CliError> {
    match (parse_spec(&a.src), parse_spec(&a.dest)) {
        (Spec::Local(src), Spec::Remote { namespace, pod, path }) => {
            let client = with_namespace(client, namespace);
            to_pod(&client, &src, &pod, &path, a.container.as_deref()).await
        }
        (Spec::Remote { namespace, pod, path }, Spec::Local(dest)) => {
            let client = with_namespace(client, namespace);
            from_pod(&client, &pod, &path, &dest, a.container.as_deref()).await
        }
        (Spec::Local(_), Spec::Local(_)) => {
            Err(CliError::msg("one of src or dest must be a remote file specification"))
        }
        _ => Err(CliError::msg("one of src or dest must be a local file specification")),
    }
}

fn with_namespace(client: &Client, ns: Option<String>) -> Client {
    let mut c = client.clone();
    if let Some(ns) = ns {
        c.namespace = ns;
    }
    c
}

async fn container_for(client: &Client, pod: &str, requested: Option<&str>) -> Result<String, CliError> {
    let obj = super::logs::get_pod(client, pod).await?;
    if let Some(c) = requested {
        return Ok(c.to_string());
    }
    let (c, note) = super::logs::default_container(&obj, None)?;
    if let Some(n) = note {
        eprintln!("{n}");
    }
    Ok(c)
}

async fn run_remote(
    client: &Client,
    pod: &str,
    container: &str,
    command: &[&str],
    input: Input,
) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), CliError> {
    let req = ExecRequest {
        pod: pod.to_string(),
        container: container.to_string(),
        command: command.iter().map(|s| s.to_string()).collect(),
        stdin: !matches!(input, Input::None),
        tty: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = streams::exec(client, &req, input, &mut out, &mut err).await?;
    Ok((status, out, err))
}

fn remote_failure(status: &ExitStatus, stderr: &[u8]) -> Option<CliError> {
    let text = String::from_utf8_lossy(stderr).trim().to_string();
    match status {
        ExitStatus::Success | ExitStatus::Unknown => None,
        ExitStatus::Code(c) if text.is_empty() => Some(CliError::msg(format!("command terminated with exit code {c}"))),
        ExitStatus::Code(_) => Some(CliError::Msg(text)),
        ExitStatus::Failed(m) => Some(CliError::Msg(m.clone())),
    }
}

async fn to_pod(client: &Client, src: &Path, pod: &str, dest: &str, container: Option<&str>) -> Result<i32, CliError> {
    if !src.exists() {
        return Err(CliError::msg(format!("{}: no such file or directory", src.display())));
    }
    let container = container_for(client, pod, container).await?;
    let dest = if dest.is_empty() { "." } else { dest };
    let (status, _, _) = run_remote(client, pod, &container, &["test", "-d", dest], Input::None).await?;
    let src_name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into());
    let (dir, name) = if status == ExitStatus::Success {
        (dest.to_string(), src_name)
    } else {
        let p = Path::new(dest);
        let parent = p
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        let base = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(src_name);
        (parent, base)
    };
    let archive = build_archive(src, &name)?;
    let (status, _, err) =
        run_remote(client, pod, &container, &["tar", "-xmf", "-", "-C", &dir], Input::Bytes(archive)).await?;
    match remote_failure(&status, &err) {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// A tar archive of `src` (file or directory) named `name`.
pub fn build_archive(src: &Path, name: &str) -> Result<Vec<u8>, CliError> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let res = if src.is_dir() { b.append_dir_all(name, src) } else { b.append_path_with_name(src, name) };
    res.map_err(|e| CliError::io(src, e))?;
    b.into_inner().map_err(|e| CliError::io(src, e))
}

async fn from_pod(
    client: &Client,
    pod: &str,
    src: &str,
    dest: &Path,
    container: Option<&str>,
) -> Result<i32, CliError> {
    let container = container_for(client, pod, container).await?;
    let (status, archive, err) = run_remote(client, pod, &container, &["tar", "cf", "-", src], Input::None).await?;
    // tar's note about stripping the leading '/' is expected noise.
    let noise = |l: &&str| !l.contains("Removing leading");
    let err_text: Vec<&str> = std::str::from_utf8(&err).unwrap_or_default().lines().filter(noise).collect();
    if let Some(e) = remote_failure(&status, err_text.join("\n").as_bytes()) {
        return Err(e);
    }
    let mut dest = dest.to_path_buf();
    if dest.is_dir()
        && let Some(base) = Path::new(src.trim_end_matches('/')).file_name()
    {
        dest = dest.join(base);
    }
    unpack(&archive, src, &dest)?;
    Ok(0)
}

/// Unpack `archive` (made by `tar cf - SRC` in the container) so that SRC
/// lands at `dest`.
pub fn unpack(archive: &[u8], src: &str, dest: &Path) -> Result<(), CliError> {
    let prefix = PathBuf::from(src.trim_start_matches('/').trim_end_matches('/'));
    let mut ar = tar::Archive::new(archive);
    let entries = ar.entries().map_err(|e| CliError::io(dest, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| CliError::io(dest, e))?;
        let path = entry.path().map_err(|e| CliError::io(dest, e))?.into_owned();
        let Ok(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(CliError::msg(format!("refusing to unpack {}: it leaves the destination", path.display())));
        }
        let target = if rel.as_os_str().is_empty() { dest.to_path_buf() } else { dest.join(rel) };
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| CliError::io(&target, e))?;
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
            }
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| CliError::io(&target, e))?;
            std::fs::write(&target, &data).map_err(|e| CliError::io(&target, e))?;
            if let Ok(mode) = entry.header().mode() {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777));
            }
        } else {
            eprintln!("warning: skipping {} (links and special files are not copied)", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(parse_spec("/tmp/x"), Spec::Local("/tmp/x".into()));
        assert_eq!(parse_spec("./a:b"), Spec::Local("./a:b".into()));
        assert_eq!(
            parse_spec("web:/etc/hosts"),
            Spec::Remote { namespace: None, pod: "web".into(), path: "/etc/hosts".into() }
        );
        assert_eq!(
            parse_spec("ns/web:f"),
            Spec::Remote { namespace: Some("ns".into()), pod: "web".into(), path: "f".into() }
        );
        assert_eq!(parse_spec("file.txt"), Spec::Local("file.txt".into()));
    }

    #[test]
    fn archive_round_trip_maps_src_to_dest() {
        let base = std::env::temp_dir().join(format!("peapod-cli-cp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("src/sub")).unwrap();
        std::fs::write(base.join("src/a.txt"), "A").unwrap();
        std::fs::write(base.join("src/sub/b.txt"), "B").unwrap();
        // What `tar cf - /data/src` in the container produces: members under data/src.
        let ar = build_archive(&base.join("src"), "data/src").unwrap();
        unpack(&ar, "/data/src", &base.join("out")).unwrap();
        assert_eq!(std::fs::read_to_string(base.join("out/a.txt")).unwrap(), "A");
        assert_eq!(std::fs::read_to_string(base.join("out/sub/b.txt")).unwrap(), "B");
        // A single file.
        let ar = build_archive(&base.join("src/a.txt"), "x/a.txt").unwrap();
        unpack(&ar, "/x/a.txt", &base.join("single.txt")).unwrap();
        assert_eq!(std::fs::read_to_string(base.join("single.txt")).unwrap(), "A");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn refuses_escaping_entries() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Bypass the builder's own path checks to forge a hostile member.
        h.as_old_mut().name[..12].copy_from_slice(b"src/../../ev");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let ar = b.into_inner().unwrap();
        let dest = std::env::temp_dir().join(format!("peapod-cli-cp-evil-{}", std::process::id()));
        assert!(unpack(&ar, "src", &dest).is_err());
        let _ = std::fs::remove_dir_all(&dest);
    }
}
