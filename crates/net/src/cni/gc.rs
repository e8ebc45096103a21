//! Start-up garbage collection (what CNI 1.1's GC verb does, for plugins
//! that predate it): the daemon may have died between a pod's ADD and its
//! DEL, or lost its cache. Two sweeps:
//!
//! 1. every cached attachment (pending or complete) whose sandbox is not
//!    live is DELeted with its recorded config, args and result;
//! 2. every host-local lease in the network's dataDir whose owner is not
//!    live and has no record is DELeted through the whole current list with
//!    an empty netns and a result made from the lease addresses, so
//!    host-local frees the address, portmap its DNAT chain, firewall its
//!    accept rules, and we the masquerade chain.
//!
//! Errors do not stop the sweep; they are collected.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Value, json};

use crate::NetError;
use crate::cni::ipam::{self, Lease};
use crate::cni::{Attachment, Inner, KNOWN_VERSIONS, cache, request};

impl Inner {
    /// Takes each sandbox's lock itself.
    pub(crate) async fn gc(&self, live: &HashSet<String>) -> Result<usize, NetError> {
        let mut cleaned = 0usize;
        let mut errors = Vec::new();

        let mut stale: BTreeSet<String> = BTreeSet::new();
        for (path, rec) in cache::list(&self.cfg.cache_dir)? {
            match rec {
                Ok(r) if !live.contains(&r.container_id) => {
                    stale.insert(r.container_id);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable CNI cache record")
                }
            }
        }
        for id in &stale {
            let res = {
                let _guard = self.locks.lock(id).await;
                self.del_records_of(id, None).await
            };
            match res {
                Ok(()) => cleaned += 1,
                Err(e) => errors.push(e),
            }
        }

        if let Some(dir) = ipam::lease_dir(&self.list) {
            let mut owners: BTreeMap<String, Vec<Lease>> = BTreeMap::new();
            for l in ipam::read_leases(&dir)? {
                owners.entry(l.container_id.clone()).or_default().push(l);
            }
            for (id, leases) in owners {
                if live.contains(&id) || request::validate_container_id(&id).is_err() {
                    continue;
                }
                // Still recorded: its DEL failed above and is reported.
                if !cache::find_container(&self.cfg.cache_dir, &id, crate::cni::IFNAME)?.is_empty() {
                    continue;
                }
                let att = Attachment {
                    list: self.list.clone(),
                    container_id: id.clone(),
                    netns: Default::default(),
                    cni_args: vec![["IgnoreUnknown".to_owned(), "1".to_owned()]],
                    capability_args: Default::default(),
                    prev_result: Some(lease_result(&self.list.cni_version, &leases)),
                };
                let res = {
                    let _guard = self.locks.lock(&id).await;
                    self.del_attachment(&att).await
                };
                match res {
                    Ok(()) => {
                        tracing::info!(sandbox = %id, "released an orphaned IPAM lease");
                        cleaned += 1;
                    }
                    Err(e) => errors.push(e),
                }
            }
        }

        tracing::info!(network = %self.list.name, cleaned, failed = errors.len(), "CNI garbage collection");
        match errors.len() {
            0 => Ok(cleaned),
            1 => Err(errors.remove(0)),
            _ => Err(NetError::Several(errors)),
        }
    }
}

/// A CNI result holding the leased addresses (host routes: only the
/// addresses matter to the plugins' DEL). Before 1.0.0 each IP also
/// carries its `version`.
pub(crate) fn lease_result(cni_version: &str, leases: &[Lease]) -> Value {
    let pre_1_0 = KNOWN_VERSIONS.iter().position(|v| *v == cni_version).is_some_and(|i| i < KNOWN_VERSIONS.len() - 1);
    let ips: Vec<Value> = leases
        .iter()
        .map(|l| {
            let (len, family) = if l.ip.is_ipv4() { (32, "4") } else { (128, "6") };
            let mut ip = json!({ "address": format!("{}/{len}", l.ip) });
            if pre_1_0 {
                ip["version"] = json!(family);
            }
            ip
        })
        .collect();
    json!({ "cniVersion": cni_version, "ips": ips })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: &str) -> Lease {
        Lease { ip: ip.parse().unwrap(), container_id: "c".into(), ifname: "eth0".into() }
    }

    #[test]
    fn results_from_leases() {
        let ls = [lease("10.0.0.7"), lease("fd00::7")];
        assert_eq!(
            lease_result("1.0.0", &ls),
            json!({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.7/32"},{"address":"fd00::7/128"}]})
        );
        assert_eq!(
            lease_result("0.4.0", &ls[..1]),
            json!({"cniVersion":"0.4.0","ips":[{"address":"10.0.0.7/32","version":"4"}]})
        );
    }
}
