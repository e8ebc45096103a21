//! `image pull`: send the request, then show the JSON-lines progress the
//! server streams back.
//!
//! On a terminal every layer has a line with a progress bar, redrawn in
//! place at most ten times a second (plain ANSI: cursor up, clear line).
//! Otherwise a line is printed only when a layer changes state, so logs
//! stay short. The last lines are Docker's: `Digest:`, `Status:` and the
//! full reference.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::errors::CliError;
use crate::printers::humanize::podman_size;

/// Width of the bar between the brackets.
const BAR_WIDTH: usize = 30;
/// Minimum time between two redraws on a terminal.
const REDRAW: Duration = Duration::from_millis(100);

/// Arguments of `image pull`.
#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// The image to pull (`NAME[:TAG|@DIGEST]`).
    #[arg(value_name = "NAME")]
    pub reference: String,
    /// Registry credentials as `USERNAME:PASSWORD`.
    #[arg(long, value_name = "USERNAME:PASSWORD")]
    pub creds: Option<String>,
    /// A Docker config file with registry credentials (`{"auths": ...}`);
    /// default: $REGISTRY_AUTH_FILE, else ~/.docker/config.json if it exists.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Print only the image id.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// The request body: explicit credentials, or an auth file's content.
fn auth_body(a: &PullArgs) -> Result<Vec<u8>, CliError> {
    if let Some(creds) = &a.creds {
        let (user, pass) = creds
            .split_once(':')
            .filter(|(u, _)| !u.is_empty())
            .ok_or_else(|| CliError::msg("--creds must be USERNAME:PASSWORD"))?;
        return Ok(json!({"username": user, "password": pass}).to_string().into_bytes());
    }
    let file = a.authfile.clone().or_else(|| std::env::var_os("REGISTRY_AUTH_FILE").map(PathBuf::from)).or_else(|| {
        let p = Path::new(&std::env::var_os("HOME")?).join(".docker/config.json");
        p.exists().then_some(p)
    });
    match file {
        Some(f) => std::fs::read(&f).map_err(|e| CliError::io(f, e)),
        None => Ok(Vec::new()),
    }
}

/// Run `image pull`.
pub async fn pull(client: &Client, a: PullArgs) -> Result<i32, CliError> {
    let body = auth_body(&a)?;
    let url = client.url("/peapod/v1/images/pull", &[("reference", a.reference.clone())]);
    let resp = client.send(Method::POST, url, "application/x-ndjson", Some(("application/json", body.into()))).await?;
    let mut resp = client.check(resp, &format!("pull {}", a.reference)).await?;
    let tty = std::io::stdout().is_terminal() && !a.quiet;
    let mut view = Progress::new(tty);
    let mut buf: Vec<u8> = Vec::new();
    let mut last: Option<Value> = None;
    loop {
        let chunk = resp.chunk().await.map_err(|e| CliError::Transport { detail: crate::client::error_chain(&e) })?;
        let Some(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let Ok(event) = serde_json::from_slice::<Value>(&line) else { continue };
            match event.get("status").and_then(Value::as_str) {
                Some("done" | "error") => last = Some(event),
                _ if !a.quiet => {
                    if let Some(text) = view.update(&event) {
                        println!("{text}");
                    }
                }
                _ => {}
            }
        }
    }
    view.finish();
    let last = last.ok_or_else(|| CliError::msg("the server ended the pull without a result"))?;
    if last["status"] == "error" {
        return Err(CliError::msg(last["message"].as_str().unwrap_or("pull failed").to_string()));
    }
    let report = &last["report"];
    let id = report.pointer("/image/id").and_then(Value::as_str).unwrap_or_default();
    if a.quiet {
        println!("{id}");
        return Ok(0);
    }
    let reference = report["reference"].as_str().unwrap_or(&a.reference);
    let repo_digest = report["repo_digest"].as_str().unwrap_or_default();
    let digest = repo_digest.rsplit_once('@').map_or(repo_digest, |(_, d)| d);
    println!("Digest: {digest}");
    if report["layers_fetched"].as_u64().unwrap_or(0) > 0 {
        println!("Status: Downloaded newer image for {reference}");
    } else {
        println!("Status: Image is up to date for {reference}");
    }
    println!("{reference}");
    Ok(0)
}

/// One layer's line.
#[derive(Clone, Debug, Default, PartialEq)]
struct LayerLine {
    state: String,
    current: u64,
    total: u64,
}

/// What has been shown of a pull.
struct Progress {
    tty: bool,
    /// Layer digests in manifest order.
    order: Vec<String>,
    layers: HashMap<String, LayerLine>,
    /// Lines drawn last time (to move back up over them).
    drawn: usize,
    last_draw: Option<Instant>,
}

impl Progress {
    fn new(tty: bool) -> Progress {
        Progress { tty, order: Vec::new(), layers: HashMap::new(), drawn: 0, last_draw: None }
    }

    /// Take in an event; returns a line to print (the header, and in
    /// plain mode each state change). On a terminal, redraws the bars.
    fn update(&mut self, event: &Value) -> Option<String> {
        match event.get("status").and_then(Value::as_str) {
            Some("resolved") => {
                let reference = event["reference"].as_str().unwrap_or_default();
                for l in event["layers"].as_array().into_iter().flatten() {
                    let digest = l["digest"].as_str().unwrap_or_default().to_string();
                    if !self.order.contains(&digest) {
                        self.order.push(digest);
                    }
                }
                Some(match reference.rsplit_once('@') {
                    Some((repo, digest)) => format!("{digest}: Pulling from {repo}"),
                    None => {
                        let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
                        format!("{tag}: Pulling from {repo}")
                    }
                })
            }
            Some("layer") => {
                let digest = event["digest"].as_str().unwrap_or_default().to_string();
                let line = LayerLine {
                    state: event["state"].as_str().unwrap_or_default().to_string(),
                    current: event["current"].as_u64().unwrap_or(0),
                    total: event["total"].as_u64().unwrap_or(0),
                };
                if !self.order.contains(&digest) {
                    self.order.push(digest.clone());
                }
                let changed_state = self.layers.get(&digest).is_none_or(|old| old.state != line.state);
                self.layers.insert(digest.clone(), line.clone());
                if self.tty {
                    self.draw(false);
                    None
                } else if changed_state && line.state != "waiting" {
                    Some(render_plain(&digest, &line))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn draw(&mut self, force: bool) {
        if !force && self.last_draw.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let mut out = std::io::stdout().lock();
        let mut text = String::new();
        if self.drawn > 0 {
            text.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for digest in &self.order {
            let line = self.layers.get(digest).cloned().unwrap_or_default();
            text.push_str(&format!("\x1b[2K{}\n", render_bar(digest, &line)));
        }
        self.drawn = self.order.len();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn finish(&mut self) {
        if self.tty && !self.order.is_empty() {
            self.draw(true);
        }
    }
}

/// The 12 hex digits Docker shows for a layer.
fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Docker's wording for a layer state.
fn state_text(state: &str) -> &str {
    match state {
        "waiting" => "Waiting",
        "exists" => "Already exists",
        "downloading" => "Downloading",
        "extracting" => "Extracting",
        "done" => "Pull complete",
        other => other,
    }
}

/// A layer line without a bar (logs, pipes).
fn render_plain(digest: &str, l: &LayerLine) -> String {
    match l.state.as_str() {
        "downloading" | "extracting" => {
            format!("{}: {} {}", short(digest), state_text(&l.state), podman_size(l.total))
        }
        _ => format!("{}: {}", short(digest), state_text(&l.state)),
    }
}

/// A layer line with a progress bar (terminals).
fn render_bar(digest: &str, l: &LayerLine) -> String {
    if l.state != "downloading" {
        return format!("{}: {}", short(digest), state_text(&l.state));
    }
    let filled = (l.current.min(l.total) * BAR_WIDTH as u64).checked_div(l.total).unwrap_or(0) as usize;
    let bar: String = if filled >= BAR_WIDTH {
        "=".repeat(BAR_WIDTH)
    } else {
        format!("{}>{}", "=".repeat(filled), " ".repeat(BAR_WIDTH - filled - 1))
    };
    format!(
        "{}: Downloading [{bar}] {}/{}",
        short(digest),
        podman_size(l.current).replace(' ', ""),
        podman_size(l.total).replace(' ', "")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn line(state: &str, current: u64, total: u64) -> LayerLine {
        LayerLine { state: state.into(), current, total }
    }

    #[test]
    fn bars_and_plain_lines() {
        assert_eq!(
            render_bar(D, &line("downloading", 5_000_000, 20_000_000)),
            "0123456789ab: Downloading [=======>                      ] 5MB/20MB"
        );
        assert_eq!(
            render_bar(D, &line("downloading", 20_000_000, 20_000_000)),
            "0123456789ab: Downloading [==============================] 20MB/20MB"
        );
        assert_eq!(
            render_bar(D, &line("downloading", 0, 0)),
            format!("0123456789ab: Downloading [>{}] 0B/0B", " ".repeat(29))
        );
        assert_eq!(render_bar(D, &line("done", 1, 1)), "0123456789ab: Pull complete");
        assert_eq!(render_plain(D, &line("exists", 1, 1)), "0123456789ab: Already exists");
        assert_eq!(render_plain(D, &line("downloading", 0, 1_500_000)), "0123456789ab: Downloading 1.5 MB");
    }

    #[test]
    fn plain_mode_prints_only_state_changes() {
        let mut p = Progress::new(false);
        let resolved = json!({"status": "resolved", "reference": "127.0.0.1:5000/app:v1", "digest": "sha256:m",
                              "layers": [{"digest": D, "size": 10}]});
        assert_eq!(p.update(&resolved).as_deref(), Some("v1: Pulling from 127.0.0.1:5000/app"));
        let ev = |state: &str, current: u64| json!({"status": "layer", "digest": D, "state": state, "current": current, "total": 10});
        let printed: Vec<Option<String>> =
            [ev("waiting", 0), ev("downloading", 1), ev("downloading", 5), ev("extracting", 10), ev("done", 10)]
                .iter()
                .map(|e| p.update(e))
                .collect();
        assert_eq!(
            printed,
            [
                None,
                Some("0123456789ab: Downloading 10 B".to_string()),
                None,
                Some("0123456789ab: Extracting 10 B".to_string()),
                Some("0123456789ab: Pull complete".to_string()),
            ]
        );
        assert_eq!(p.order, [D]);
        let by_digest = json!({"status": "resolved", "reference": "r.io/a@sha256:ab", "digest": "x", "layers": []});
        assert_eq!(p.update(&by_digest).as_deref(), Some("sha256:ab: Pulling from r.io/a"));
    }

    #[test]
    fn creds_body() {
        let a = PullArgs { reference: "x".into(), creds: Some("u:p:w".into()), authfile: None, quiet: false };
        let v: Value = serde_json::from_slice(&auth_body(&a).unwrap()).unwrap();
        assert_eq!(v, json!({"username": "u", "password": "p:w"}));
        let bad = PullArgs { creds: Some("nocolon".into()), ..a };
        assert!(auth_body(&bad).is_err());
    }
}
