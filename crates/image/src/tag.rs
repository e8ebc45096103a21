//! `image tag`: another reference to an existing image.

use crate::error::ImageError;
use crate::image::ImageInfo;
use crate::reference::Reference;
use crate::store::ImageStore;

impl ImageStore {
    /// Point the reference `target` at the image `source` names (any form
    /// [`ImageStore::get`] accepts). An image `target` pointed at before is
    /// deleted if nothing else references it. [`ImageError::NotFound`] if
    /// `source` matches nothing.
    pub fn tag(&self, source: &str, target: &str) -> Result<ImageInfo, ImageError> {
        let target = Reference::parse(target)?;
        if target.digest.is_some() {
            return Err(ImageError::DigestReference(target.to_string()));
        }
        let inner = &self.inner;
        let state = inner.state();
        let mut index = inner.load_index()?;
        let resolved = inner.resolve(&index, source)?.ok_or_else(|| ImageError::NotFound(source.to_string()))?;
        let manifest = &resolved.manifests[0];
        let mut descriptor = index
            .manifests
            .iter()
            .find(|d| &d.digest == manifest)
            .cloned()
            .expect("resolve only returns manifests listed in the index");
        descriptor.annotations.clear();
        inner.point_reference(&state, &mut index, &target, descriptor)?;
        inner.info(&index, manifest)
    }
}
