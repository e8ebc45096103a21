//! CHECK: ask the plugins whether a pod's attachment is still as ADD left
//! it (SPEC: plugins in order, each with the cached result as
//! `prevResult`; only for CNI ≥ 0.4.0 and unless `disableCheck`).

use crate::cni::invoke::CniCommand;
use crate::cni::{Inner, cache, has_prev_result_on_del, request};
use crate::{NetError, NetRequest};

impl Inner {
    /// CHECK; the caller holds the sandbox lock.
    pub(crate) async fn check(&self, req: &NetRequest) -> Result<(), NetError> {
        request::validate_container_id(&req.sandbox_id)?;
        let not_attached =
            || NetError::NotAttached { sandbox_id: req.sandbox_id.clone(), network: self.list.name.clone() };
        let path = self.record_path(&self.list.name, &req.sandbox_id);
        let rec = cache::read(&path)?.ok_or_else(not_attached)?;
        if rec.result.is_none() {
            // ADD never finished (pending record).
            return Err(not_attached());
        }
        let att = self.attachment_from_record(&path, rec, Some(&req.netns));
        // SPEC: a runtime must not CHECK below 0.4.0 or with
        // disableCheck; there is nothing to learn, so it passes.
        if !has_prev_result_on_del(&att.list.cni_version) || att.list.disable_check {
            return Ok(());
        }
        let netns = req.netns.display().to_string();
        for plugin in &att.list.plugins {
            self.run_plugin(&att, plugin, CniCommand::Check, &netns, att.prev_result.as_ref()).await?;
        }
        Ok(())
    }
}
