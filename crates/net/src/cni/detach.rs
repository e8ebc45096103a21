//! DEL: detach a pod from the network, idempotently.
//!
//! Teardown works from the cache record, not from the request or the
//! current configuration: the record has the exact list, CNI_ARGS,
//! capability arguments and result of the ADD (SPEC: DEL gets the cached
//! `prevResult`). No record means nothing was ever set up for the sandbox
//! (ADD writes a pending record before its first plugin), so a second DEL,
//! or a DEL for a pod whose setup failed early, returns at once.
//!
//! Plugins run in reverse order. Unlike the SPEC's "stop at the first
//! error", every plugin's DEL runs and the errors are collected (netavark's
//! rule; our architecture's "teardown collects all errors"): plugin DELs
//! are independent and idempotent, and stopping would leave, say, the IPAM
//! lease and veth behind forever because portmap's DEL fails on a bad
//! config. On any error the record stays, so a retry (or gc) finishes the
//! job; on success the record and the pod's host ports are dropped.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cni::cache::CacheRecord;
use crate::cni::invoke::CniCommand;
use crate::cni::{Attachment, Inner, cache, config, del_netns_arg, has_prev_result_on_del, ipam, iptables, request};
use crate::{NetError, NetRequest};

impl Inner {
    /// DEL; the caller holds the sandbox lock.
    pub(crate) async fn teardown(&self, req: &NetRequest) -> Result<(), NetError> {
        if request::validate_container_id(&req.sandbox_id).is_err() {
            // ADD refuses such ids, so nothing can be attached.
            return Ok(());
        }
        self.del_records_of(&req.sandbox_id, Some(&req.netns)).await
    }

    /// DEL every cached attachment of sandbox `id` (whatever network name
    /// it was made under), dropping each record that succeeds, and the
    /// sandbox's host ports once none is left. `netns` overrides the
    /// recorded namespace path. The caller holds the sandbox lock.
    pub(crate) async fn del_records_of(&self, id: &str, netns: Option<&Path>) -> Result<(), NetError> {
        let mut errors = Vec::new();
        for (path, rec) in cache::find_container(&self.cfg.cache_dir, id, crate::cni::IFNAME)? {
            let att = match rec {
                Ok(rec) => self.attachment_from_record(&path, rec, netns),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e,
                        "unreadable CNI cache record; deleting with the current network");
                    Attachment {
                        list: self.list.clone(),
                        container_id: id.to_owned(),
                        netns: netns.map(Path::to_path_buf).unwrap_or_default(),
                        cni_args: vec![["IgnoreUnknown".to_owned(), "1".to_owned()]],
                        capability_args: Default::default(),
                        prev_result: None,
                    }
                }
            };
            match self.del_attachment(&att).await {
                Ok(()) => cache::remove(&path)?,
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            self.ports.lock().expect("port book").release(id);
            return Ok(());
        }
        for e in errors.iter().skip(1) {
            tracing::warn!(sandbox = id, error = %e, "further CNI DEL error");
        }
        Err(errors.swap_remove(0))
    }

    /// The attachment a record describes. Its own list is used (the
    /// configuration may have changed since); the current one only if the
    /// recorded list cannot be parsed.
    pub(crate) fn attachment_from_record(&self, path: &Path, rec: CacheRecord, netns: Option<&Path>) -> Attachment {
        let list = config::parse_network(&rec.config, path).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cached CNI config unreadable; using the current network");
            self.list.clone()
        });
        // A pending record (the daemon died in the middle of ADD) has no
        // result. The addresses host-local leased to this sandbox stand in for
        // it, so the DELs of plugins that keep per-address state (firewall,
        // bridge's masquerade rules) can still find and remove it.
        let prev_result = rec.result.or_else(|| pending_result(&list, &rec.container_id));
        Attachment {
            list,
            container_id: rec.container_id,
            netns: netns.map_or_else(|| PathBuf::from(&rec.netns), Path::to_path_buf),
            cni_args: rec.cni_args,
            capability_args: rec.capability_args,
            prev_result,
        }
    }

    /// Run DEL for every plugin of the attachment, last first; then, if the
    /// namespace was gone, remove the masquerade rules bridge leaves in
    /// that case (see `iptables`). Every plugin runs even if one fails
    /// (see the module docs); the first error is returned.
    pub(crate) async fn del_attachment(&self, att: &Attachment) -> Result<(), NetError> {
        let netns = del_netns_arg(&att.netns);
        let prev = att.prev_result.as_ref().filter(|_| has_prev_result_on_del(&att.list.cni_version));
        let mut errors = Vec::new();
        for plugin in att.list.plugins.iter().rev() {
            match self.run_plugin(att, plugin, CniCommand::Del, &netns, prev).await {
                Ok(_) => {}
                // Not installed (any more): it cannot have state to remove
                // from this ADD, and never will for an older one; failing
                // would wedge the pod's teardown for good.
                Err(e @ NetError::PluginNotFound { .. }) => {
                    tracing::warn!(sandbox = %att.container_id, error = %e, "skipping DEL")
                }
                Err(e) => errors.push(e),
            }
        }
        if netns.is_empty() && uses_ip_masq(att) {
            for bin in masq_binaries(att) {
                if let Err(e) = iptables::remove_masq_chains(bin, &att.list.name, &att.container_id).await {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            tracing::debug!(network = %att.list.name, sandbox = %att.container_id, "pod detached");
            return Ok(());
        }
        for e in errors.iter().skip(1) {
            tracing::warn!(sandbox = %att.container_id, error = %e, "further CNI DEL error");
        }
        Err(errors.swap_remove(0))
    }
}

/// Does a plugin of the list set up per-attachment masquerading?
fn uses_ip_masq(att: &Attachment) -> bool {
    att.list.plugins.iter().any(|p| p.raw.get("ipMasq").and_then(Value::as_bool) == Some(true))
}

/// `iptables`/`ip6tables` for the families the attachment has addresses
/// in: from its result, else from its IPAM ranges, else IPv4.
fn masq_binaries(att: &Attachment) -> Vec<&'static str> {
    let mut v6: Vec<bool> = match &att.prev_result {
        Some(r) => crate::cni::result::result_ips(r).iter().map(|ip| ip.contains(':')).collect(),
        None => ipam::list_families(&att.list),
    };
    v6.sort();
    v6.dedup();
    if v6.is_empty() {
        v6.push(false);
    }
    v6.into_iter().map(|is6| if is6 { "ip6tables" } else { "iptables" }).collect()
}

/// The result an interrupted ADD would have returned, from the leases
/// host-local wrote for `id` (None if it leased nothing).
fn pending_result(list: &config::NetworkList, id: &str) -> Option<Value> {
    let dir = ipam::lease_dir(list)?;
    let leases: Vec<ipam::Lease> = ipam::read_leases(&dir).ok()?.into_iter().filter(|l| l.container_id == id).collect();
    (!leases.is_empty()).then(|| crate::cni::gc::lease_result(&list.cni_version, &leases))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn att(plugins: Value, result: Option<Value>) -> Attachment {
        let v = json!({"cniVersion":"1.0.0","name":"n","plugins":plugins});
        Attachment {
            list: config::parse_network(&serde_json::to_vec(&v).unwrap(), Path::new("/x.conflist")).unwrap(),
            container_id: "c".into(),
            netns: PathBuf::new(),
            cni_args: vec![],
            capability_args: Default::default(),
            prev_result: result,
        }
    }

    #[test]
    fn masq_detection_and_families() {
        let bridge =
            json!([{"type":"bridge","ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"fd00::/64"}]]}}]);
        assert!(uses_ip_masq(&att(bridge.clone(), None)));
        assert!(!uses_ip_masq(&att(json!([{"type":"bridge"}]), None)));
        // From the IPAM ranges when there is no result.
        assert_eq!(masq_binaries(&att(bridge.clone(), None)), ["ip6tables"]);
        // From the result when there is one.
        let r = json!({"ips":[{"address":"10.0.0.2/24"},{"address":"fd00::2/64"}]});
        assert_eq!(masq_binaries(&att(bridge, Some(r))), ["iptables", "ip6tables"]);
        // Nothing known: IPv4.
        assert_eq!(masq_binaries(&att(json!([{"type":"ptp","ipMasq":true}]), None)), ["iptables"]);
    }
}
