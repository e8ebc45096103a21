//! ADD: attach a pod's namespace to the network.
//!
//! Order matters, and each step names the failure it prevents:
//! 1. validate the request (ids end up in file names and CNI_ARGS);
//! 2. clear any attachment left for this sandbox (a retried setup), which
//!    also releases its old host ports;
//! 3. reserve the host ports (check + record under one lock: two pods
//!    racing for a port cannot both pass);
//! 4. write the pending cache record (a crash after this point is
//!    recoverable by teardown/gc; before it, nothing was set up);
//! 5. run the plugins in order, each with the previous result;
//! 6. on failure, DEL the whole list (reverse order) with the partial
//!    result, then drop the record and the reservation;
//! 7. on success, cache the final result before returning.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::cni::invoke::CniCommand;
use crate::cni::{Attachment, Inner, cache, ports, request, result};
use crate::{NetError, NetRequest, NetResult};

impl Inner {
    /// ADD; the caller holds the sandbox lock.
    pub(crate) async fn add(&self, req: &NetRequest) -> Result<NetResult, NetError> {
        request::validate_container_id(&req.sandbox_id)?;
        let cni_args = request::cni_args(req)?;
        let capability_args = request::capability_args(req);
        let pod = format!("{}/{}", req.pod_namespace, req.pod_name);
        let path = self.record_path(&self.list.name, &req.sandbox_id);
        // Held until the attachment's record exists (see `host_rules_installed`).
        let _rules = self.ensure_host_rules().await?;
        // A record for this sandbox means an earlier setup got somewhere:
        // undo it first (host-local refuses a second lease for one id).
        // Before reserving: this releases the sandbox's old ports.
        self.del_records_of(&req.sandbox_id, Some(&req.netns)).await?;
        self.ports.lock().expect("port book").reserve(&req.sandbox_id, &pod, ports::host_ports(&capability_args))?;
        let att = Attachment {
            list: self.list.clone(),
            container_id: req.sandbox_id.clone(),
            netns: req.netns.clone(),
            cni_args,
            capability_args,
            prev_result: None,
        };
        let res = self.add_locked(req, att, &path).await;
        // The reservation lives as long as a record does: a failed
        // rollback keeps both until teardown or gc succeeds.
        if res.is_err() && !path.exists() {
            self.ports.lock().expect("port book").release(&req.sandbox_id);
        }
        res
    }

    async fn add_locked(&self, req: &NetRequest, att: Attachment, path: &Path) -> Result<NetResult, NetError> {
        let started = Instant::now();
        let mut rec = cache::CacheRecord {
            kind: cache::CACHE_KIND.to_owned(),
            container_id: att.container_id.clone(),
            config: att.list.bytes.clone(),
            if_name: crate::cni::IFNAME.to_owned(),
            network_name: att.list.name.clone(),
            netns: req.netns.display().to_string(),
            cni_args: att.cni_args.clone(),
            capability_args: att.capability_args.clone(),
            result: None,
        };
        cache::write(path, &rec)?;

        let netns = req.netns.display().to_string();
        let mut prev: Option<Value> = None;
        for plugin in &att.list.plugins {
            let out = match self.run_plugin(&att, plugin, CniCommand::Add, &netns, prev.as_ref()).await {
                Ok(out) => out,
                Err(e) => return Err(self.roll_back(att, prev, path, e).await),
            };
            match parse_result(&out) {
                Ok(v) => prev = Some(v),
                Err(source) => {
                    let e = NetError::BadResult { plugin: plugin.plugin_type.clone(), command: "ADD".into(), source };
                    return Err(self.roll_back(att, prev, path, e).await);
                }
            }
        }
        let final_result = prev.unwrap_or(Value::Null);
        rec.result = Some(final_result.clone());
        if let Err(e) = cache::write(path, &rec) {
            // Without the record a later DEL would lack the result; undo now.
            return Err(self.roll_back(att, Some(final_result), path, e).await);
        }
        let ips = result::result_ips(&final_result);
        tracing::info!(
            network = %self.list.name,
            sandbox = %req.sandbox_id,
            ips = ?ips,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "pod attached"
        );
        Ok(NetResult { ips })
    }

    /// Undo a failed ADD: DEL the whole list with the partial result (the
    /// firewall plugin, for one, finds its rules through it). The ADD error
    /// is returned; a failing rollback keeps the pending record so that
    /// teardown or gc retries it.
    async fn roll_back(&self, mut att: Attachment, partial: Option<Value>, path: &Path, err: NetError) -> NetError {
        att.prev_result = partial;
        match self.del_attachment(&att).await {
            Ok(()) => {
                if let Err(e) = cache::remove(path) {
                    tracing::warn!(error = %e, "removing the CNI cache record after a rollback");
                }
            }
            Err(del_err) => tracing::warn!(
                sandbox = %att.container_id,
                error = %del_err,
                "rolling back a failed CNI ADD; teardown will retry"
            ),
        }
        err
    }
}

/// A plugin's ADD output: it must be a JSON object.
fn parse_result(out: &[u8]) -> Result<Value, serde_json::Error> {
    let v: Value = serde_json::from_slice(out)?;
    if v.is_object() { Ok(v) } else { Err(serde::de::Error::custom("not a JSON object")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_must_be_objects() {
        assert!(parse_result(br#"{"cniVersion":"1.0.0"}"#).is_ok());
        assert!(parse_result(b"[1]").is_err());
        assert!(parse_result(b"").is_err());
    }
}
