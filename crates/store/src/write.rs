//! The write verbs: create, update, update_with, delete.
//!
//! Each takes the store lock, checks its preconditions against the in-memory
//! object, and hands one [`Change`] to `State::commit`. Checks and commit
//! happen under the same lock, so there is no window for a lost update.

use std::sync::Arc;

use serde_json::Value;

use crate::object::{self, CONFLICT_MESSAGE};
use crate::store::Change;
use crate::{ObjKey, Store, StoreError, UpdateError};

/// What an [`Store::update_with`] closure decided.
#[derive(Debug)]
pub enum Mutation {
    /// Write nothing: no new revision, no event.
    Unchanged,
    /// Create or replace with this body; the store sets its resourceVersion.
    /// A body equal to the stored one (apart from resourceVersion) is treated
    /// as [`Mutation::Unchanged`].
    Put(Value),
    /// Delete the object.
    Delete,
}

/// Conditions a delete must meet (Kubernetes `DeleteOptions.preconditions`).
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// The stored `metadata.uid` must equal this.
    pub uid: Option<String>,
    /// The stored `metadata.resourceVersion` must equal this.
    pub resource_version: Option<String>,
}

impl Store {
    /// Creates the object under `key`; fails with
    /// [`StoreError::AlreadyExists`] if the key is taken. Sets
    /// `metadata.resourceVersion` (any value sent is overwritten) and returns
    /// the stored object.
    pub fn create(&self, key: &ObjKey, obj: Value) -> Result<Arc<Value>, StoreError> {
        object::validate(key, &obj)?;
        let mut state = self.inner.lock();
        if state.objects.get(key).is_some() {
            return Err(StoreError::AlreadyExists { key: key.clone() });
        }
        state.commit(key, Change::Put { obj, existed: false })
    }

    /// Replaces the object under `key` ([`StoreError::NotFound`] if absent).
    /// If `obj` carries a `metadata.resourceVersion` that differs from the
    /// stored one, fails with [`StoreError::Conflict`] (optimistic
    /// concurrency); without one the update is unconditional. A body equal to
    /// the stored one is a no-op: the stored object is returned unchanged and
    /// no event is emitted.
    pub fn update(&self, key: &ObjKey, obj: Value) -> Result<Arc<Value>, StoreError> {
        object::validate(key, &obj)?;
        let mut state = self.inner.lock();
        let Some(current) = state.objects.get(key) else {
            return Err(StoreError::NotFound { key: key.clone() });
        };
        if let Some(sent) = object::resource_version(&obj)
            && Some(sent) != object::resource_version(current)
        {
            return Err(StoreError::Conflict { key: key.clone(), message: CONFLICT_MESSAGE.into() });
        }
        if object::same_content(current, &obj) {
            return Ok(Arc::clone(current));
        }
        state.commit(key, Change::Put { obj, existed: true })
    }

    /// Atomic read-modify-write. `f` runs under the store lock with the current
    /// object (`None` if absent) and decides what to do; nothing else can write
    /// in between, so no retry loop is needed. Keep `f` short and free of I/O:
    /// it blocks every other store call while it runs.
    ///
    /// Returns: for [`Mutation::Unchanged`] the current object (`None` if
    /// absent); for [`Mutation::Put`] the stored object; for
    /// [`Mutation::Delete`] the deleted object with the deletion revision
    /// (deleting an absent object is [`StoreError::NotFound`]). If `f` returns
    /// `Err(e)`, nothing is written and the result is
    /// [`UpdateError::Aborted(e)`](UpdateError::Aborted).
    pub fn update_with<E>(
        &self,
        key: &ObjKey,
        f: impl FnOnce(Option<&Value>) -> Result<Mutation, E>,
    ) -> Result<Option<Arc<Value>>, UpdateError<E>> {
        let mut state = self.inner.lock();
        let current = state.objects.get(key).cloned();
        let mutation = f(current.as_deref()).map_err(UpdateError::Aborted)?;
        let change = match mutation {
            Mutation::Unchanged => return Ok(current),
            Mutation::Put(obj) => {
                object::validate(key, &obj)?;
                if let Some(current) = &current
                    && object::same_content(current, &obj)
                {
                    return Ok(Some(Arc::clone(current)));
                }
                Change::Put { obj, existed: current.is_some() }
            }
            Mutation::Delete => match current {
                Some(last) => Change::Delete { last },
                None => return Err(StoreError::NotFound { key: key.clone() }.into()),
            },
        };
        Ok(Some(state.commit(key, change)?))
    }

    /// Deletes the object under `key` if `pre` holds
    /// ([`StoreError::Conflict`] with the Kubernetes precondition message if
    /// not; [`StoreError::NotFound`] if absent). Returns the deleted object
    /// with `metadata.resourceVersion` set to the deletion's revision, as the
    /// DELETED watch event carries it.
    pub fn delete(&self, key: &ObjKey, pre: &Preconditions) -> Result<Arc<Value>, StoreError> {
        let mut state = self.inner.lock();
        let Some(current) = state.objects.get(key) else {
            return Err(StoreError::NotFound { key: key.clone() });
        };
        if let Err(message) = object::check_preconditions(pre, current) {
            return Err(StoreError::Conflict { key: key.clone(), message });
        }
        let last = Arc::clone(current);
        state.commit(key, Change::Delete { last })
    }
}
