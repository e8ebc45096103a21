//! Watches: replay from history, then live events from the broadcast channel.
//!
//! The invariant that makes resume exact: every write pushes its event to
//! the history ring *and* sends it on the broadcast channel while holding the
//! store lock, and a watch subscribes to the channel *and* copies the history
//! it must replay while holding the same lock. Each event is therefore either
//! in the copied replay (written before) or in the receiver (written after),
//! never both and never neither.
//!
//! If a receiver falls more than the channel's capacity behind, tokio reports
//! `Lagged` and the skipped events are gone from the channel. The watch then
//! resynchronises from history if history still holds every event of its
//! resource after the last one delivered; otherwise it ends with
//! [`StoreError::Expired`] so the client relists instead of silently missing
//! events.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};

use tokio::sync::broadcast::{self, error::RecvError};

use crate::event::Filter;
use crate::history::Recorded;
use crate::store::{Inner, State};
use crate::{EventType, Store, StoreError, WatchEvent, object};

/// A stream of changes to one resource (optionally one namespace): replayed
/// events first, then live ones, in revision order, each exactly once.
///
/// Holds only a weak reference to the store: when every [`Store`] clone is
/// dropped, [`Watch::next`] returns `None`.
pub struct Watch {
    filter: Filter,
    /// Events to deliver before reading the channel (replay or initial state).
    pending: VecDeque<WatchEvent>,
    rx: broadcast::Receiver<Arc<WatchEvent>>,
    /// Revision of the last event delivered (or the start point): only events
    /// after it are delivered, and a resync resumes from it.
    after: u64,
    store: Weak<Inner>,
    /// Set after `Expired` or close; the watch then only returns `None`.
    done: bool,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("resource", &self.filter.resource)
            .field("namespace", &self.filter.namespace)
            .field("after", &self.after)
            .field("pending", &self.pending.len())
            .field("done", &self.done)
            .finish()
    }
}

impl Store {
    /// Starts a watch on `resource` (in `namespace` if given).
    ///
    /// * `from_rv: None` — only changes made after this call.
    /// * `from_rv: Some(n)` — every change with revision > n, then live ones.
    ///   Fails with [`StoreError::Expired`] if some of those were already
    ///   dropped from history (or `n` predates the store's opening), and with
    ///   [`StoreError::TooLargeResourceVersion`] if `n` is above the current
    ///   revision. Kubernetes' `resourceVersion=0` ("any") is the caller's to
    ///   map to `None` or [`Store::watch_with_initial_events`]; here `Some(0)`
    ///   literally means "from the beginning".
    pub fn watch(&self, resource: &str, namespace: Option<&str>, from_rv: Option<u64>) -> Result<Watch, StoreError> {
        let filter = Filter { resource: resource.to_owned(), namespace: namespace.map(str::to_owned) };
        let state = self.inner.lock();
        let after = match from_rv {
            Some(rv) if rv > state.revision => {
                return Err(StoreError::TooLargeResourceVersion { requested: rv, current: state.revision });
            }
            Some(rv) => rv,
            None => state.revision,
        };
        let (rx, replay) = subscribe(&state, &filter, after)?;
        drop(state);
        let pending = decode(replay);
        Ok(Watch { filter, pending, rx, after, store: Arc::downgrade(&self.inner), done: false })
    }

    /// Starts a watch that first yields a synthetic `ADDED` event for every
    /// current object (sorted by namespace, name; each with its own
    /// resourceVersion), then every later change. This is what the API serves
    /// for a watch with no resourceVersion (or `"0"`). List and subscription are
    /// taken under one lock, so nothing falls between them.
    pub fn watch_with_initial_events(&self, resource: &str, namespace: Option<&str>) -> Watch {
        let filter = Filter { resource: resource.to_owned(), namespace: namespace.map(str::to_owned) };
        let state = self.inner.lock();
        let pending = state
            .objects
            .entries(resource, namespace)
            .map(|(ns, name, object)| WatchEvent {
                kind: EventType::Added,
                resource: resource.to_owned(),
                namespace: ns.to_owned(),
                name: name.to_owned(),
                rv: object::resource_version(object).and_then(|rv| rv.parse().ok()).unwrap_or_default(),
                object: Arc::clone(object),
            })
            .collect();
        Watch {
            filter,
            pending,
            rx: state.events.subscribe(),
            after: state.revision,
            store: Arc::downgrade(&self.inner),
            done: false,
        }
    }
}

/// Subscribes to live events and copies the replay after `after`. Must be
/// called with the store lock held (it takes `&State`, which only exists behind
/// the lock) — that is what makes replay and live events meet without a gap.
/// The replay stays encoded: [`decode`] it once the lock is released.
fn subscribe(
    state: &State,
    filter: &Filter,
    after: u64,
) -> Result<(broadcast::Receiver<Arc<WatchEvent>>, Vec<Recorded>), StoreError> {
    let oldest = state.history.horizon(&filter.resource);
    if after < oldest {
        return Err(StoreError::Expired { requested: after, oldest });
    }
    let rx = state.events.subscribe();
    let replay = state.history.since(after, |resource, namespace| filter.matches_key(resource, namespace));
    Ok((rx, replay))
}

/// Decode replayed events (outside the store lock: parsing is the costly part).
fn decode(replay: Vec<Recorded>) -> VecDeque<WatchEvent> {
    replay.into_iter().map(Recorded::decode).collect()
}

impl Watch {
    /// The next event: replayed ones first, then live ones.
    ///
    /// Returns `Some(Err(`[`StoreError::Expired`]`))` once if the watch fell
    /// too far behind to continue without a gap (then `None` forever), and
    /// `None` when the store has been dropped. Cancel-safe: dropping the future
    /// (e.g. in `tokio::select!` with a timeout) loses no event.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(ev) = self.pending.pop_front() {
                // Synthetic initial events are at or below `after`; replayed
                // ones move it forward.
                self.after = self.after.max(ev.rv);
                return Some(Ok(ev));
            }
            match self.rx.recv().await {
                Ok(ev) => {
                    if ev.rv <= self.after || !self.filter.matches(&ev) {
                        continue;
                    }
                    self.after = ev.rv;
                    return Some(Ok(WatchEvent::clone(&ev)));
                }
                Err(RecvError::Closed) => {
                    self.done = true;
                    return None;
                }
                Err(RecvError::Lagged(skipped)) => match self.resync() {
                    Some(Ok(())) => {
                        tracing::debug!(skipped, after = self.after, "watch resynced from history after lag");
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => {
                        self.done = true;
                        return None;
                    }
                },
            }
        }
    }

    /// Revision of the last event delivered, or the revision the watch started
    /// after: where a client would resume (e.g. for a BOOKMARK).
    pub fn resource_version(&self) -> u64 {
        self.after
    }

    /// After a lag: a fresh receiver plus the replay after the last delivered
    /// event, if history still has it. `None` if the store is gone.
    fn resync(&mut self) -> Option<Result<(), StoreError>> {
        let inner = self.store.upgrade()?;
        let state = inner.lock();
        let subscribed = subscribe(&state, &self.filter, self.after);
        drop(state);
        Some(subscribed.map(|(rx, replay)| {
            self.rx = rx;
            self.pending = decode(replay);
        }))
    }
}
