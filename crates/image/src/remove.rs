//! `image rm`: untag, and delete what nothing references any more.
//!
//! Docker's rules: removing by *name* untags that one reference; removing by
//! *id* untags every reference of the image, but refuses (without force)
//! when they span several repositories. When an image is left without
//! references its manifest and config are deleted, together with layer blobs
//! and snapshots no other image uses. Whether a container still uses the
//! image is the caller's check.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::ImageError;
use crate::reference::Reference;
use crate::store::{ImageStore, Matched};

/// What [`ImageStore::remove`] did, in Docker's `Untagged:` / `Deleted:`
/// terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemoveReport {
    /// References removed (full normalized form).
    pub untagged: Vec<String>,
    /// Deleted image ids, then the diff_ids of deleted layer snapshots.
    pub deleted: Vec<String>,
}

impl ImageStore {
    /// Remove a reference (or, given an id, all references of that image);
    /// if the image is left with none, delete it and the layers only it
    /// used. [`ImageError::NotFound`] if nothing matches.
    pub fn remove(&self, name_or_id: &str) -> Result<RemoveReport, ImageError> {
        let inner = &self.inner;
        let state = inner.state();
        let mut index = inner.load_index()?;
        let resolved =
            inner.resolve(&index, name_or_id)?.ok_or_else(|| ImageError::NotFound(name_or_id.to_string()))?;

        let untag: Vec<String> = match &resolved.matched {
            Matched::Reference(reference) => {
                let full = reference.to_string();
                if index.lookup(&full).is_some() {
                    vec![full]
                } else {
                    // `repo@digest` matched a tag of that repository: drop the
                    // repository's references to that manifest.
                    let name = reference.name();
                    index
                        .refs_of(&resolved.manifests[0])
                        .into_iter()
                        .filter(|r| Reference::parse(r).is_ok_and(|r| r.name() == name))
                        .collect()
                }
            }
            Matched::Id => {
                let refs: Vec<String> = resolved.manifests.iter().flat_map(|m| index.refs_of(m)).collect();
                let repositories: BTreeSet<String> =
                    refs.iter().filter_map(|r| Reference::parse(r).ok()).map(|r| r.name()).collect();
                if repositories.len() > 1 {
                    let image = inner.load_image(&resolved.manifests[0])?;
                    return Err(ImageError::Conflict { id: image.manifest.config.digest.to_string() });
                }
                refs
            }
        };

        for reference in &untag {
            index.remove_ref(reference);
        }
        if matches!(resolved.matched, Matched::Id) {
            // Images without any reference are listed under their manifest
            // digest only; removing by id removes those entries too.
            index.manifests.retain(|d| !(d.ref_name().is_none() && resolved.manifests.contains(&d.digest)));
        }
        inner.save_index(&index)?;

        let orphans: Vec<_> = resolved.manifests.iter().filter(|m| !index.contains(m)).cloned().collect();
        let deleted = inner.collect_garbage(&state, &index, &orphans)?.deleted;
        tracing::info!(name = name_or_id, ?untag, ?deleted, "removed image");
        Ok(RemoveReport { untagged: untag, deleted })
    }
}
