//! The registry side of pulls: where to pull from ([`config`]), as whom
//! ([`auth`]), which documents to ask for ([`media`]), and the HTTP
//! protocol itself (`client`). The pull flow that uses them is in
//! `crate::pull`.
//!
//! The distribution client is our own, on reqwest, rather than oci-client:
//! a pull streams each layer into the content store and the unpacker in
//! one pass and resumes with `Range` from a partial file, it chooses among
//! mirrors and per-registry plain HTTP, and it sends our exact Accept list;
//! oci-client's blob API would have to be bent to each of those, and the
//! protocol part is small (manifests, blobs, the 401 token dance).

pub mod auth;
pub(crate) mod client;
pub mod config;
pub mod media;

pub use auth::{Challenge, Credentials, Keyring, PullAuth};
pub use config::{Endpoint, RegistriesConfig};
