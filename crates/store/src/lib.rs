//! peapod-store: the embedded object store of the peapod API server.
//!
//! It plays the part of etcd plus the kube-apiserver watch cache, in-process:
//! Kubernetes objects are stored as JSON ([`serde_json::Value`]) under an
//! [`ObjKey`] `(resource, namespace, name)`, every change gets the next value of
//! one global, monotonically increasing revision (written into
//! `metadata.resourceVersion` as a decimal string), and [`Store::watch`] streams
//! changes, resuming from a resourceVersion. The HTTP handlers and the node agent
//! share one [`Store`] (it is `Clone + Send + Sync`).
//!
//! # Design
//!
//! * **Memory is the read path.** Every object is held in memory as an
//!   `Arc<Value>` (loaded at open). [`Store::get`] and [`Store::list`] never touch
//!   SQLite, so listing a thousand pods costs a thousand `Arc` clones.
//! * **SQLite is the durable path.** Each write runs under one
//!   [`std::sync::Mutex`]: check preconditions, take revision + 1, write the row
//!   and the revision counter in one SQLite transaction, then update memory,
//!   append the event to the history ring and broadcast it. SQLite runs in WAL
//!   mode with `synchronous=NORMAL` (no fsync per commit; a committed write
//!   survives a process crash, the last few may be lost on power loss), so
//!   writes take tens of microseconds and the API is synchronous.
//! * **Watch = history ring + broadcast.** The last [`StoreOptions::history`]
//!   events are kept in memory. A watch subscribes to the live broadcast and
//!   copies the history it must replay *under the write lock*, so no event is
//!   lost or delivered twice between replay and live. A watch that asks for a
//!   revision whose events were already dropped (or any revision before the one
//!   the store was opened at, since history starts empty) fails with
//!   [`StoreError::Expired`], which the API turns into HTTP 410. Horizons are
//!   kept per resource, so a burst of `events` writes does not expire a `pods`
//!   watch.
//! * The store only manages `metadata.resourceVersion` and persistence. It does
//!   not generate names, uids or timestamps and knows nothing about kinds.
//!
//! # On-disk schema
//!
//! The schema version is SQLite's `PRAGMA user_version`; migrations are applied
//! in order at open, inside one transaction (see `schema.rs`). A file with a
//! newer version than this build knows is refused ([`StoreError::SchemaTooNew`]).
//!
//! Version 1:
//!
//! ```sql
//! CREATE TABLE objects(
//!     resource  TEXT NOT NULL,     -- "pods", "configmaps", "nodes", ...
//!     namespace TEXT NOT NULL,     -- "" for cluster-scoped objects
//!     name      TEXT NOT NULL,
//!     uid       TEXT NOT NULL,     -- metadata.uid or "" (for inspection only)
//!     rv        INTEGER NOT NULL,  -- revision of the last write; authoritative
//!                                  -- over the body's metadata.resourceVersion
//!     body      TEXT NOT NULL,     -- the object as JSON
//!     PRIMARY KEY(resource, namespace, name)
//! );
//! CREATE TABLE meta(key TEXT PRIMARY KEY, value);
//! -- meta('revision') = the current global revision. Kept apart from
//! -- MAX(objects.rv) so that a revision is never reused after deletes.
//! ```
//!
//! Events are not persisted: after a restart the history is empty, and a watch
//! from an older revision gets `Expired`, exactly as after a kube-apiserver
//! restart; clients then relist.
//!
//! One process must own a store file: the in-memory copy is the read path, so
//! writes made by another process would not be seen. Inspecting the file with
//! the `sqlite3` CLI while the daemon runs is fine.

mod error;
mod event;
mod history;
mod index;
mod key;
mod object;
mod schema;
mod store;
mod watch;
mod write;

pub use error::{StoreError, UpdateError};
pub use event::{EventType, WatchEvent};
pub use key::ObjKey;
pub use object::CONFLICT_MESSAGE;
pub use schema::SCHEMA_VERSION;
pub use store::{Store, StoreOptions};
pub use watch::Watch;
pub use write::{Mutation, Preconditions};
