//! `image import|ls|rm|inspect`: peapod's own image endpoints (same server,
//! same auth; errors are `Status` bodies like the Kubernetes API):
//!
//! - `POST /peapod/v1/images/import?reference=REF&change=C...` with
//!   `Content-Type: application/x-tar` and the tarball streamed from disk (or
//!   stdin for `-`) → 201 and the image; prints
//!   `Imported REF sha256:<first 12 hex of the id>`;
//! - `GET /peapod/v1/images` → `{"items":[image...]}`, printed like
//!   `podman images` (REPOSITORY, TAG, IMAGE ID, CREATED, SIZE);
//! - `GET /peapod/v1/images/<ref, one escaped path segment>` → the image,
//!   printed as a JSON array like `podman image inspect`;
//! - `DELETE /peapod/v1/images/<ref>` → `{"untagged":[..],"deleted":[..]}`,
//!   printed as `Untagged: ...` / `Deleted: ...` lines;
//! - `POST /peapod/v1/images/pull?reference=REF` (credentials in the JSON
//!   body) → progress as JSON lines, shown by [`pull`] (bars on a
//!   terminal, one line per layer state otherwise);
//! - `POST /peapod/v1/images/load` with the archive streamed as the body →
//!   `Loaded image: REF` lines;
//! - `GET /peapod/v1/images/save?name=N...&format=F` → the archive, streamed
//!   to the `-o` file (or stdout when it is not a terminal);
//! - `POST /peapod/v1/images/prune?all=BOOL` → what was deleted and the
//!   reclaimed space, as `docker image prune` prints it.

mod pull;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use futures_util::StreamExt;

use jiff::Timestamp;
use reqwest::{Method, Url};
use serde_json::Value;

use crate::client::{ACCEPT_JSON, Client};
use crate::errors::{CliError, aggregate};
use crate::printers::humanize::{podman_ago, podman_size};
use crate::printers::json::to_json_pretty;
use crate::printers::table::TablePrinter;
use crate::resources::escape_segment;

/// `image` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// Import a root filesystem tarball as an image.
    Import(ImportArgs),
    /// List images.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove images.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Show an image's details as JSON.
    Inspect(InspectArgs),
    /// Pull an image from a registry.
    Pull(pull::PullArgs),
    /// Load images from a docker-archive or oci-archive tarball.
    Load(LoadArgs),
    /// Save images to a tarball (docker-archive or oci-archive).
    Save(SaveArgs),
    /// Remove unused images.
    Prune(PruneArgs),
}

/// Arguments of `image load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// The archive (default: stdin).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
}

/// Arguments of `image save`.
#[derive(clap::Args, Debug)]
pub struct SaveArgs {
    /// Write to this file (default: stdout, unless it is a terminal).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// `docker-archive` (docker save's layout, also an OCI layout) or `oci-archive`.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    /// Image references or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Arguments of `image prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only dangling ones.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Arguments of `image import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The tarball (`-` for stdin).
    #[arg(value_name = "TAR")]
    pub tar: PathBuf,
    /// The image reference to create (`NAME[:TAG]`).
    #[arg(value_name = "NAME[:TAG]")]
    pub reference: String,
    /// Dockerfile-style instruction for the image config (`ENV=A=B`, `CMD=["sh"]`, ...); repeatable.
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
}

/// Arguments of `image ls`.
#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Print image IDs only.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate image IDs.
    #[arg(long)]
    pub no_trunc: bool,
}

/// Arguments of `image rm`.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Image references or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Arguments of `image inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Image references or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Run an `image` subcommand.
pub async fn run(client: &Client, cmd: ImageCommand) -> Result<i32, CliError> {
    match cmd {
        ImageCommand::Import(a) => import(client, a).await,
        ImageCommand::Ls(a) => ls(client, a).await,
        ImageCommand::Rm(a) => rm(client, a).await,
        ImageCommand::Inspect(a) => inspect(client, a).await,
        ImageCommand::Pull(a) => pull::pull(client, a).await,
        ImageCommand::Load(a) => load(client, a).await,
        ImageCommand::Save(a) => save(client, a).await,
        ImageCommand::Prune(a) => prune(client, a).await,
    }
}

async fn load(client: &Client, a: LoadArgs) -> Result<i32, CliError> {
    let body = match &a.input {
        Some(path) => {
            let f = tokio::fs::File::open(path).await.map_err(|e| CliError::io(path, e))?;
            reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(f))
        }
        None if std::io::stdin().is_terminal() => {
            return Err(CliError::msg("requested load from stdin, but stdin is empty (use -i FILE)"));
        }
        None => reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(tokio::io::stdin())),
    };
    let url = client.url("/peapod/v1/images/load", &[]);
    let resp = client.send(Method::POST, url, ACCEPT_JSON, Some(("application/x-tar", body))).await?;
    let resp = client.check(resp, "load images").await?;
    let report: Value =
        resp.json().await.map_err(|e| CliError::msg(format!("the server returned an invalid load report: {e}")))?;
    print!("{}", render_load(&report));
    Ok(0)
}

/// `Loaded image: REF` (or `Loaded image ID: ID` for an unnamed image),
/// in the familiar short form Docker prints.
pub fn render_load(report: &Value) -> String {
    let mut out = String::new();
    for name in report.get("loaded").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if name.starts_with("sha256:") {
            out.push_str(&format!("Loaded image ID: {name}\n"));
        } else {
            out.push_str(&format!("Loaded image: {}\n", familiar(name)));
        }
    }
    out
}

/// `docker.io/library/x:1` → `x:1`, `docker.io/u/x:1` → `u/x:1`.
pub fn familiar(name: &str) -> &str {
    match name.strip_prefix("docker.io/") {
        Some(rest) => match rest.strip_prefix("library/") {
            Some(short) if !short.contains('/') => short,
            _ => rest,
        },
        None => name,
    }
}

async fn save(client: &Client, a: SaveArgs) -> Result<i32, CliError> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::msg("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    }
    let mut q: Vec<(&str, String)> = a.images.iter().map(|i| ("name", i.clone())).collect();
    q.push(("format", a.format.clone()));
    let url = client.url("/peapod/v1/images/save", &q);
    let resp = client.send(Method::GET, url, "application/x-tar", None).await?;
    let resp = client.check(resp, &format!("save images {}", a.images.join(" "))).await?;
    let mut stream = resp.bytes_stream();
    let mut out: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|e| CliError::io(path, e))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let result: Result<(), CliError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| CliError::Transport {
                detail: format!("the archive was cut short: {}", crate::client::error_chain(&e)),
            })?;
            out.write_all(&chunk).map_err(|e| CliError::io(a.output.clone().unwrap_or_else(|| "-".into()), e))?;
        }
        out.flush().map_err(|e| CliError::io(a.output.clone().unwrap_or_else(|| "-".into()), e))
    }
    .await;
    if result.is_err()
        && let Some(path) = &a.output
    {
        // A partial archive must not look like a good one.
        let _ = std::fs::remove_file(path);
    }
    result.map(|()| 0)
}

async fn prune(client: &Client, a: PruneArgs) -> Result<i32, CliError> {
    if !a.force && std::io::stdin().is_terminal() {
        let what =
            if a.all { "all images without at least one container associated to them" } else { "all dangling images" };
        eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let url = client.url("/peapod/v1/images/prune", &[("all", a.all.to_string())]);
    let v = client.request_json(Method::POST, url, ACCEPT_JSON, None, "", "prune images").await?;
    print!("{}", render_prune(&v));
    Ok(0)
}

/// `docker image prune` output.
pub fn render_prune(v: &Value) -> String {
    let list = |k: &str| -> Vec<String> {
        v.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
    };
    let (untagged, deleted) = (list("untagged"), list("deleted"));
    let mut out = String::new();
    if !untagged.is_empty() || !deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        for u in &untagged {
            out.push_str(&format!("untagged: {u}\n"));
        }
        for d in &deleted {
            out.push_str(&format!("deleted: {d}\n"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        podman_size(v.get("freed").and_then(Value::as_u64).unwrap_or(0)).replace(' ', "")
    ));
    out
}

/// The import URL.
pub fn import_url(client: &Client, reference: &str, changes: &[String]) -> Url {
    let mut q: Vec<(&str, String)> = vec![("reference", reference.to_string())];
    q.extend(changes.iter().map(|c| ("change", c.clone())));
    client.url("/peapod/v1/images/import", &q)
}

/// The path of one image.
pub fn image_path(reference: &str) -> String {
    format!("/peapod/v1/images/{}", escape_segment(reference))
}

async fn import(client: &Client, a: ImportArgs) -> Result<i32, CliError> {
    let body = if a.tar.as_os_str() == "-" {
        reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(tokio::io::stdin()))
    } else {
        let f = tokio::fs::File::open(&a.tar).await.map_err(|e| CliError::io(&a.tar, e))?;
        // Streamed: the tarball is never held in memory.
        reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(f))
    };
    let url = import_url(client, &a.reference, &a.changes);
    let resp = client.send(Method::POST, url, ACCEPT_JSON, Some(("application/x-tar", body))).await?;
    let resp = client.check(resp, "post images").await?;
    let image: Value = resp
        .json()
        .await
        .map_err(|e| CliError::msg(format!("the server returned an invalid image description: {e}")))?;
    let reference = image
        .get("references")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .unwrap_or(&a.reference);
    println!("Imported {reference} sha256:{}", short_id(image_id(&image)));
    Ok(0)
}

async fn ls(client: &Client, a: LsArgs) -> Result<i32, CliError> {
    let list = client.get("/peapod/v1/images", &[], ACCEPT_JSON, "get images").await?;
    let items = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    let text = render_ls(&items, &a, Timestamp::now());
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(0)
}

async fn rm(client: &Client, a: RmArgs) -> Result<i32, CliError> {
    let mut errs = Vec::new();
    for img in &a.images {
        let url = client.url(&image_path(img), &[]);
        match client.request_json(Method::DELETE, url, ACCEPT_JSON, None, "", &format!("delete images {img}")).await {
            Ok(v) => print!("{}", render_rm(&v)),
            Err(e) => errs.push(e),
        }
    }
    aggregate(errs).map(|()| 0)
}

async fn inspect(client: &Client, a: InspectArgs) -> Result<i32, CliError> {
    let mut found = Vec::new();
    let mut errs = Vec::new();
    for img in &a.images {
        match client.get(&image_path(img), &[], ACCEPT_JSON, &format!("get images {img}")).await {
            Ok(v) => found.push(v),
            Err(e) => errs.push(e),
        }
    }
    print!("{}", to_json_pretty(&Value::Array(found)));
    aggregate(errs).map(|()| 0)
}

fn image_id(img: &Value) -> &str {
    img.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// The first 12 hex digits of an image id (`sha256:` removed).
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Split `registry/repo:tag` (or `repo@sha256:...`) into repository and tag.
pub fn split_reference(r: &str) -> (String, String) {
    if let Some((repo, _digest)) = r.split_once('@') {
        return (repo.to_string(), "<none>".into());
    }
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(':') {
        Some(i) => (r[..slash + i].to_string(), r[slash + i + 1..].to_string()),
        None => (r.to_string(), "latest".into()),
    }
}

/// The `image ls` text, podman style.
pub fn render_ls(items: &[Value], a: &LsArgs, now: Timestamp) -> String {
    let mut sorted: Vec<&Value> = items.iter().collect();
    // Newest first, like podman.
    sorted.sort_by_key(|i| {
        std::cmp::Reverse(i.get("created").and_then(Value::as_str).and_then(|c| c.parse::<Timestamp>().ok()))
    });
    let id_text = |img: &Value| {
        let id = image_id(img);
        if a.no_trunc { id.to_string() } else { short_id(id).to_string() }
    };
    if a.quiet {
        let mut ids: Vec<String> = Vec::new();
        for img in &sorted {
            let id = id_text(img);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        return ids.into_iter().map(|i| format!("{i}\n")).collect();
    }
    let mut lines = vec![["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(String::from).to_vec()];
    for img in sorted {
        let created = match img.get("created").and_then(Value::as_str).and_then(|c| c.parse::<Timestamp>().ok()) {
            Some(t) => podman_ago(now.as_second() - t.as_second()),
            None => "<unknown>".to_string(),
        };
        let size = podman_size(img.get("size").and_then(Value::as_u64).unwrap_or(0));
        let refs: Vec<&str> =
            img.get("references").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let pairs: Vec<(String, String)> = if refs.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            refs.iter().map(|r| split_reference(r)).collect()
        };
        for (repo, tag) in pairs {
            lines.push(vec![repo, tag, id_text(img), created.clone(), size.clone()]);
        }
    }
    TablePrinter::with(12, 2).render(&lines)
}

/// The `image rm` text.
pub fn render_rm(v: &Value) -> String {
    let mut out = String::new();
    for (key, label) in [("untagged", "Untagged"), ("deleted", "Deleted")] {
        for item in v.get(key).and_then(Value::as_array).into_iter().flatten() {
            out.push_str(&format!("{label}: {}\n", item.as_str().unwrap_or_default()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeconfig::ClusterAccess;
    use serde_json::json;

    fn client() -> Client {
        let access = ClusterAccess {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: None,
            insecure: true,
            token: Some("t".into()),
            client_identity: None,
            namespace: "default".into(),
        };
        Client::new(&access, None, 0).unwrap()
    }

    #[test]
    fn request_urls() {
        let u = import_url(&client(), "busybox:latest", &["ENV=A=B".into(), "CMD [\"sh\"]".into()]);
        assert_eq!(
            u.as_str(),
            "https://127.0.0.1:6443/peapod/v1/images/import?reference=busybox%3Alatest&change=ENV%3DA%3DB&change=CMD+%5B%22sh%22%5D"
        );
        assert_eq!(
            image_path("docker.io/library/busybox:latest"),
            "/peapod/v1/images/docker.io%2Flibrary%2Fbusybox:latest"
        );
        assert_eq!(image_path("sha256:abc"), "/peapod/v1/images/sha256:abc");
    }

    #[test]
    fn references_split() {
        assert_eq!(
            split_reference("docker.io/library/busybox:latest"),
            ("docker.io/library/busybox".into(), "latest".into())
        );
        assert_eq!(split_reference("localhost:5000/app"), ("localhost:5000/app".into(), "latest".into()));
        assert_eq!(split_reference("localhost:5000/app:v1"), ("localhost:5000/app".into(), "v1".into()));
        assert_eq!(split_reference("repo@sha256:00"), ("repo".into(), "<none>".into()));
    }

    #[test]
    fn ls_like_podman() {
        let now: Timestamp = "2026-11-22T10:30:00Z".parse().unwrap();
        let items = [
            json!({"id": "sha256:c059bfaa849c4d8e4aecaeb3a10c2d9b3d85f5165c66ad3a4d937758128c4d18", "size": 5_870_000,
                   "created": "2026-09-22T10:30:00Z", "references": ["docker.io/library/alpine:latest"]}),
            json!({"id": "sha256:0123456789abcdef", "size": 1_984_512, "created": "2026-11-22T10:25:00Z",
                   "references": ["docker.io/library/busybox:latest", "localhost/bb:v1"]}),
            json!({"id": "sha256:ffffffffffff0000", "size": 123, "created": "2026-11-22T10:29:59Z", "references": []}),
        ];
        let a = LsArgs { quiet: false, no_trunc: false };
        assert_eq!(
            render_ls(&items, &a, now),
            "REPOSITORY                 TAG         IMAGE ID      CREATED        SIZE\n\
             <none>                     <none>      ffffffffffff  1 second ago   123 B\n\
             docker.io/library/busybox  latest      0123456789ab  5 minutes ago  1.98 MB\n\
             localhost/bb               v1          0123456789ab  5 minutes ago  1.98 MB\n\
             docker.io/library/alpine   latest      c059bfaa849c  2 months ago   5.87 MB\n"
        );
        let q = render_ls(&items, &LsArgs { quiet: true, no_trunc: false }, now);
        assert_eq!(q, "ffffffffffff\n0123456789ab\nc059bfaa849c\n");
    }

    #[test]
    fn load_and_prune_output() {
        let v = json!({"loaded": ["docker.io/library/busybox:latest", "127.0.0.1:5000/x:1", "sha256:abc"]});
        assert_eq!(
            render_load(&v),
            "Loaded image: busybox:latest\nLoaded image: 127.0.0.1:5000/x:1\nLoaded image ID: sha256:abc\n"
        );
        assert_eq!(familiar("docker.io/team/app:v1"), "team/app:v1");
        let p = json!({"untagged": ["docker.io/library/b:latest"], "deleted": ["sha256:0123"], "freed": 1_500_000});
        assert_eq!(
            render_prune(&p),
            "Deleted Images:\nuntagged: docker.io/library/b:latest\ndeleted: sha256:0123\n\nTotal reclaimed space: 1.5MB\n"
        );
        assert_eq!(render_prune(&json!({"freed": 0})), "Total reclaimed space: 0B\n");
    }

    #[test]
    fn rm_output() {
        let v = json!({"untagged": ["docker.io/library/busybox:latest"], "deleted": ["sha256:0123"]});
        assert_eq!(render_rm(&v), "Untagged: docker.io/library/busybox:latest\nDeleted: sha256:0123\n");
    }
}
