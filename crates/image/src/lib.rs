//! peapod's image store.
//!
//! A content-addressed OCI image layout on disk, image import from rootfs
//! tarballs (`docker import`), safe layer unpacking, and a snapshotter that
//! returns the overlay mount for a container's rootfs (containerd style: the
//! runtime mounts, this crate does not).
//!
//! # On-disk layout (under the root given to [`ImageStore::open`])
//!
//! ```text
//! oci-layout                    {"imageLayoutVersion":"1.0.0"}
//! index.json                    OCI image index; one entry per reference, annotated
//!                               org.opencontainers.image.ref.name = full normalized ref
//! blobs/sha256/<hex>            layers (as given), configs, manifests; verified on write
//! snapshots/<diff_id hex>/fs    one unpacked layer each, overlayfs lower-dir format
//! tmp/                          temp files and staging dirs; emptied by open()
//! ingest/<blob hex>             partial layer downloads, resumed with Range
//! usage.json                    last use per image id (GC order)
//! ```
//!
//! The blob part is a valid OCI image layout, so the same store later holds
//! images pulled from registries and `image load`ed archives.
//!
//! # Modules
//!
//! * [`reference`](mod@reference): Docker reference parsing and normalization;
//! * [`digest`]: `sha256:` digests and streaming hashers;
//! * [`changes`]: `--change` Dockerfile instructions;
//! * [`unpack`]: confined, whiteout-converting layer extraction;
//! * [`oci`]: the index, manifest and config documents;
//! * `content`, `index`, `snapshot`: the three on-disk areas;
//! * `import`, `tag`, `remove`, `rootfs`: the [`ImageStore`] operations;
//! * [`registry`] and [`pull`]: pulling from registries (the OCI
//!   distribution protocol), resumable, streamed, deduplicated;
//! * [`archive`]: `image load` / `image save` (docker-archive, OCI archive);
//! * [`gc`]: image garbage collection by disk-use thresholds, and prune.
//!
//! Everything here is blocking I/O (async callers use `spawn_blocking`),
//! except pulls, which are async and need a Tokio runtime.

pub mod archive;
pub mod changes;
pub mod compression;
mod content;
pub mod digest;
mod error;
pub mod gc;
mod image;
mod import;
mod index;
pub mod oci;
pub mod pull;
pub mod reference;
pub mod registry;
mod remove;
mod rootfs;
mod snapshot;
mod store;
mod tag;
pub mod unpack;

pub use error::ImageError;
pub use gc::{GcPolicy, GcReport, Threshold};
pub use image::{DEFAULT_PATH_ENV, ImageConfig, ImageInfo};
pub use pull::{PullHandle, PullProgress, PullReport};
pub use reference::Reference;
pub use registry::{Credentials, Keyring, PullAuth, RegistriesConfig};
pub use remove::RemoveReport;
pub use rootfs::Mount;
pub use store::{ImageStore, MIN_ID_PREFIX, StoreOptions};
pub use unpack::UnpackLimits;

/// The store is shared between the daemon's tasks.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ImageStore>();
};
