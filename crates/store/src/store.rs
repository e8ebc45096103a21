//! [`Store`]: opening, reads, and the one write path every change goes through.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, TransactionBehavior};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::history::History;
use crate::index::Index;
use crate::{EventType, ObjKey, StoreError, WatchEvent, object, schema};

/// Tuning of a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How many recent events are kept for watch resume (default 10 000). A
    /// watch resuming from a revision whose events were dropped gets
    /// [`StoreError::Expired`].
    pub history: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { history: 10_000 }
    }
}

/// Bounds of the live broadcast channel's capacity, which follows
/// [`StoreOptions::history`]. A receiver more than `capacity` events behind
/// lags and resyncs from history. Every slot holds its event's decoded
/// object until it is overwritten, so the channel stays short (a decoded pod
/// is ~25 KiB; the history keeps the ~3 KiB JSON). The floor keeps tiny test
/// histories from lagging constantly.
const MIN_BROADCAST: usize = 64;
const MAX_BROADCAST: usize = 256;

/// The object store. Cheap to clone (one `Arc`); all clones share one state.
///
/// Reads ([`get`](Store::get), [`list`](Store::list)) come from memory;
/// writes go to SQLite and memory under one mutex. Calls are synchronous and
/// short (no I/O wait beyond an SQLite WAL append), so they are fine to make
/// from async code.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    /// Main database file; `None` for an in-memory store.
    path: Option<PathBuf>,
}

/// Everything behind the store's mutex.
pub(crate) struct State {
    conn: Connection,
    pub(crate) revision: u64,
    pub(crate) objects: Index,
    pub(crate) history: History,
    /// Live events. Sent and subscribed to only with the lock held, which is
    /// what makes replay + live gap-free (see `watch.rs`). Dropped with the
    /// store, which ends every watch.
    pub(crate) events: broadcast::Sender<Arc<WatchEvent>>,
}

/// One change, decided under the lock and carried out by [`State::commit`].
pub(crate) enum Change {
    /// Create (`existed == false`) or replace.
    Put { obj: Value, existed: bool },
    /// Delete; `last` is the object as stored.
    Delete { last: Arc<Value> },
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl Inner {
    /// Locks the state. A panic while the lock was held (only possible inside a
    /// caller's `update_with` closure, which runs before anything is changed)
    /// leaves the state consistent, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// Opens (creating if needed, with parent directories) the store file at
    /// `path` and loads every object into memory.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        }
        let conn = Connection::open(path)?;
        Store::from_connection(conn, Some(path.to_path_buf()), opts)
    }

    /// Opens an empty store that lives only in memory (SQLite `:memory:`), for
    /// tests. Behaves exactly like a file-backed store.
    pub fn open_in_memory(opts: StoreOptions) -> Result<Store, StoreError> {
        Store::from_connection(Connection::open_in_memory()?, None, opts)
    }

    fn from_connection(mut conn: Connection, path: Option<PathBuf>, opts: StoreOptions) -> Result<Store, StoreError> {
        schema::configure(&conn, path.is_some())?;
        let found_version = schema::migrate(&mut conn)?;
        let revision = schema::load_revision(&conn)?;
        let objects = schema::load_objects(&conn)?;
        tracing::info!(
            path = ?path,
            revision,
            objects = objects.len(),
            schema_version = found_version,
            "store opened"
        );
        let (events, _) = broadcast::channel(opts.history.clamp(MIN_BROADCAST, MAX_BROADCAST));
        let state = State {
            conn,
            revision,
            objects,
            // History starts empty: nothing at or before `revision` can be
            // replayed, so older watches get Expired and relist.
            history: History::new(opts.history, revision),
            events,
        };
        Ok(Store { inner: Arc::new(Inner { state: Mutex::new(state), path }) })
    }

    /// The current global revision (resourceVersion of the latest write; 0 for
    /// a new store).
    pub fn revision(&self) -> u64 {
        self.inner.lock().revision
    }

    /// The object under `key`, if any.
    pub fn get(&self, key: &ObjKey) -> Option<Arc<Value>> {
        self.inner.lock().objects.get(key).cloned()
    }

    /// All objects of a resource, optionally of one namespace, sorted by
    /// (namespace, name); plus the revision at which the list was taken (use
    /// it as the list's `metadata.resourceVersion` and to start a watch).
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let state = self.inner.lock();
        (state.objects.list(resource, namespace), state.revision)
    }

    /// Size of the store's files (database + WAL) in bytes, for metrics; 0 for
    /// an in-memory store.
    pub fn size_bytes(&self) -> u64 {
        let Some(path) = &self.inner.path else {
            return 0;
        };
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        [path.as_path(), Path::new(&wal)].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }
}

impl State {
    /// Carries out one change: next revision, SQLite transaction, memory,
    /// history, broadcast. Returns the stored object (for a delete: the last
    /// state stamped with the deletion revision).
    ///
    /// Order matters. SQLite commits first: if it fails, memory and the
    /// revision are untouched, so readers never see a change that would vanish
    /// at restart, and the failed revision is reused by the next write rather
    /// than skipped in memory but not on disk. The event is published last and
    /// under the lock, after the object is visible, so a watcher that reacts
    /// with a `get` sees at least that version.
    pub(crate) fn commit(&mut self, key: &ObjKey, change: Change) -> Result<Arc<Value>, StoreError> {
        let rv = self.revision + 1;
        let (kind, mut obj) = match change {
            Change::Put { obj, existed } => (if existed { EventType::Modified } else { EventType::Added }, obj),
            Change::Delete { last } => (EventType::Deleted, Value::clone(&last)),
        };
        object::set_resource_version(&mut obj, rv);

        let body = serde_json::to_string(&obj)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if kind == EventType::Deleted {
            schema::delete_object(&tx, key)?;
        } else {
            schema::put_object(&tx, key, object::uid(&obj), rv, &body)?;
        }
        schema::put_revision(&tx, rv)?;
        tx.commit()?;

        self.revision = rv;
        let obj = Arc::new(obj);
        if kind == EventType::Deleted {
            self.objects.remove(key);
        } else {
            self.objects.insert(key, Arc::clone(&obj));
        }
        let event = Arc::new(WatchEvent {
            kind,
            resource: key.resource.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            rv,
            object: Arc::clone(&obj),
        });
        self.history.push(&event, body);
        // Err only means "no watcher right now".
        let _ = self.events.send(event);
        Ok(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Store>();
    }
}
