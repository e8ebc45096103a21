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
//!   printed as `Untagged: ...` / `Deleted: ...` lines.

use std::io::Write;
use std::path::PathBuf;

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
    }
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
    fn rm_output() {
        let v = json!({"untagged": ["docker.io/library/busybox:latest"], "deleted": ["sha256:0123"]});
        assert_eq!(render_rm(&v), "Untagged: docker.io/library/busybox:latest\nDeleted: sha256:0123\n");
    }
}
