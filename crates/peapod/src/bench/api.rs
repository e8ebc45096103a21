//! The benchmark's view of the API: pod create/delete/list/patch over the
//! client library (one HTTP/2 connection, no process per call), and a pod
//! watch whose events are stamped with their arrival time by a task of
//! their own, so a slow consumer does not inflate the measured latency.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use peapod_cli::client::{ACCEPT_JSON, Client, WatchEvent};

/// One namespace of one API server.
#[derive(Clone)]
pub struct Api {
    pub client: Client,
    pub ns: String,
}

impl Api {
    pub fn connect(kubeconfig: &std::path::Path, ns: &str) -> Result<Api> {
        let access = peapod_cli::kubeconfig::load_access(kubeconfig, None)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;
        let client = Client::new(&access, Some(ns), 0).context("building the API client")?;
        Ok(Api { client, ns: ns.to_owned() })
    }

    fn pods_path(&self) -> String {
        format!("/api/v1/namespaces/{}/pods", self.ns)
    }

    pub async fn create_pod(&self, pod: &Value) -> Result<Value> {
        let url = self.client.url(&self.pods_path(), &[]);
        Ok(self
            .client
            .request_json(Method::POST, url, ACCEPT_JSON, Some(pod), "application/json", "create pod")
            .await?)
    }

    /// Graceful delete (`grace` None = the pod's own terminationGracePeriodSeconds).
    pub async fn delete_pod(&self, name: &str, grace: Option<i64>) -> Result<()> {
        let q: Vec<(&str, String)> = grace.map(|g| ("gracePeriodSeconds", g.to_string())).into_iter().collect();
        let url = self.client.url(&format!("{}/{name}", self.pods_path()), &q);
        self.client.request_json(Method::DELETE, url, ACCEPT_JSON, None, "", "delete pod").await?;
        Ok(())
    }

    /// `DELETE .../pods?labelSelector=...` (deletecollection).
    pub async fn delete_pods(&self, selector: &str, grace: Option<i64>) -> Result<()> {
        let mut q = vec![("labelSelector", selector.to_owned())];
        if let Some(g) = grace {
            q.push(("gracePeriodSeconds", g.to_string()));
        }
        let url = self.client.url(&self.pods_path(), &q);
        self.client.request_json(Method::DELETE, url, ACCEPT_JSON, None, "", "delete pods").await?;
        Ok(())
    }

    /// Create `pods`, `concurrency` requests in flight at a time (a client
    /// creating many pods at once).
    pub async fn create_pods(&self, pods: Vec<Value>, concurrency: usize) -> Result<()> {
        let mut set = tokio::task::JoinSet::new();
        for pod in pods {
            if set.len() >= concurrency.max(1)
                && let Some(r) = set.join_next().await
            {
                r.context("create task")??;
            }
            let api = self.clone();
            set.spawn(async move { api.create_pod(&pod).await.map(drop) });
        }
        while let Some(r) = set.join_next().await {
            r.context("create task")??;
        }
        Ok(())
    }

    /// List pods; returns the item count and the response size in bytes.
    pub async fn list_pods(&self, selector: Option<&str>, accept: &str) -> Result<(usize, usize)> {
        let q: Vec<(&str, String)> = selector.map(|s| ("labelSelector", s.to_owned())).into_iter().collect();
        let url = self.client.url(&self.pods_path(), &q);
        let resp = self.client.send(Method::GET, url, accept, None).await?;
        let resp = self.client.check(resp, "list pods").await?;
        let body = resp.bytes().await.context("reading the pod list")?;
        let v: Value = serde_json::from_slice(&body).context("decoding the pod list")?;
        let n = v.get("items").or_else(|| v.get("rows")).and_then(Value::as_array).map_or(0, Vec::len);
        Ok((n, body.len()))
    }

    /// JSON merge patch of one label.
    pub async fn set_label(&self, name: &str, key: &str, value: &str) -> Result<()> {
        let url = self.client.url(&format!("{}/{name}", self.pods_path()), &[]);
        let patch = json!({"metadata": {"labels": {key: value}}});
        self.client
            .request_json(Method::PATCH, url, ACCEPT_JSON, Some(&patch), "application/merge-patch+json", "patch pod")
            .await?;
        Ok(())
    }

    /// Watch pods matching `selector` from now on (no replay of what exists).
    pub async fn watch(&self, selector: &str) -> Result<PodEvents> {
        // The list's resourceVersion makes the watch start after it: only
        // changes from here on arrive.
        let url = self.client.url(&self.pods_path(), &[("labelSelector", selector.to_owned())]);
        let list = self.client.request_json(Method::GET, url, ACCEPT_JSON, None, "", "list pods").await?;
        let rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_owned();
        let mut q = vec![("labelSelector", selector.to_owned())];
        if !rv.is_empty() {
            q.push(("resourceVersion", rv));
        }
        let mut stream = self.client.watch(&self.pods_path(), &q, ACCEPT_JSON, "watch pods").await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(Some(ev)) = stream.next().await {
                if tx.send((Instant::now(), ev)).is_err() {
                    return;
                }
            }
        });
        Ok(PodEvents { rx, task })
    }
}

/// Watch events with their arrival times.
pub struct PodEvents {
    rx: mpsc::UnboundedReceiver<(Instant, WatchEvent)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodEvents {
    /// Forget what arrived so far.
    pub fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// The events that arrived so far, without waiting.
    pub fn take_pending(&mut self) -> Vec<WatchEvent> {
        std::iter::from_fn(|| self.rx.try_recv().ok()).map(|(_, ev)| ev).collect()
    }

    /// Wait until `done` has held for an event of each pod in `names`
    /// (each pod counts once, whatever comes after); returns the arrival
    /// time of the last one.
    pub async fn until_all(
        &mut self,
        timeout: Duration,
        what: &str,
        names: &[String],
        mut done: impl FnMut(&WatchEvent) -> bool,
    ) -> Result<Instant> {
        let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut seen: HashSet<String> = HashSet::new();
        self.until(timeout, what, |_, ev| {
            let name = super::pods::name_of(&ev.object);
            if wanted.contains(name) && !seen.contains(name) && done(ev) {
                seen.insert(name.to_owned());
            }
            seen.len() == wanted.len()
        })
        .await
    }

    /// Feed events (with their arrival times) to `done` until it returns
    /// true; the arrival time of that event is returned. `what` names the wait in the timeout error.
    pub async fn until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(Instant, &WatchEvent) -> bool,
    ) -> Result<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((at, ev))) => {
                    if ev.kind == "ERROR" {
                        bail!("watch error while waiting for {what}: {}", ev.object);
                    }
                    if done(at, &ev) {
                        return Ok(at);
                    }
                }
                Ok(None) => bail!("the watch ended while waiting for {what}"),
                Err(_) => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
    }
}
