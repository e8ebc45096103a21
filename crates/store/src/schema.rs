//! The SQLite side: connection settings, schema migrations, loading at open,
//! and the statements each write runs inside its transaction.
//!
//! The schema is described in the crate docs. Migrations are an ordered list:
//! entry `i` takes a file from `user_version = i` to `i + 1`. Never edit a
//! released entry; append a new one.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;

use crate::index::Index;
use crate::{ObjKey, StoreError, object};

/// Migrations in order; `MIGRATIONS[i]` upgrades schema version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: objects and the global revision counter.
    "CREATE TABLE objects(
         resource  TEXT NOT NULL,
         namespace TEXT NOT NULL,
         name      TEXT NOT NULL,
         uid       TEXT NOT NULL,
         rv        INTEGER NOT NULL,
         body      TEXT NOT NULL,
         PRIMARY KEY(resource, namespace, name)
     );
     CREATE TABLE meta(key TEXT PRIMARY KEY, value);
     INSERT INTO meta(key, value) VALUES ('revision', 0);",
];

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a statement waits for a lock held by another connection (e.g. a
/// `sqlite3` shell inspecting the file) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Applies the connection settings. `on_disk` is false for `:memory:`, where
/// SQLite reports journal mode "memory" instead of WAL.
pub(crate) fn configure(conn: &Connection, on_disk: bool) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if on_disk && !mode.eq_ignore_ascii_case("wal") {
        // Still correct, only slower (rollback journal + fsync per commit).
        tracing::warn!(journal_mode = %mode, "store: SQLite refused WAL mode");
    }
    // In WAL mode NORMAL syncs only at checkpoints: a commit survives a
    // process crash, not necessarily a power cut.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Brings the file to [`SCHEMA_VERSION`]; returns the version it had.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    // IMMEDIATE takes the write lock before reading the version, so two
    // openers cannot both decide to run the same migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tracing::debug!(version = from + 1, "store: applied schema migration");
    }
    // user_version is part of the database header, so it commits atomically
    // with the migrations above.
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(found)
}

/// The current revision: the stored counter, but never below an object's rv
/// (a guard against a counter that was lost or edited by hand).
pub(crate) fn load_revision(conn: &Connection) -> Result<u64, StoreError> {
    let counter: Option<u64> =
        conn.query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| r.get(0)).optional()?;
    let max_rv: Option<u64> = conn.query_row("SELECT MAX(rv) FROM objects", [], |r| r.get(0))?;
    Ok(counter.unwrap_or(0).max(max_rv.unwrap_or(0)))
}

/// Reads every object into memory. The `rv` column is authoritative: it is
/// written into each body's `metadata.resourceVersion`.
pub(crate) fn load_objects(conn: &Connection) -> Result<Index, StoreError> {
    let mut stmt = conn.prepare("SELECT resource, namespace, name, rv, body FROM objects")?;
    let mut rows = stmt.query([])?;
    let mut index = Index::default();
    while let Some(row) = rows.next()? {
        let key = ObjKey::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?);
        let rv: u64 = row.get(3)?;
        let body: String = row.get(4)?;
        let mut obj: Value = match serde_json::from_str(&body) {
            Ok(obj) => obj,
            Err(source) => {
                return Err(StoreError::Corrupt {
                    key,
                    message: "body is not valid JSON".into(),
                    source: Some(source),
                });
            }
        };
        if let Err(e) = object::validate(&key, &obj) {
            return Err(StoreError::Corrupt { key, message: e.to_string(), source: None });
        }
        object::set_resource_version(&mut obj, rv);
        index.insert(&key, Arc::new(obj));
    }
    Ok(index)
}

/// Inserts or replaces one object row.
pub(crate) fn put_object(
    tx: &Transaction<'_>,
    key: &ObjKey,
    uid: &str,
    rv: u64,
    body: &str,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO objects(resource, namespace, name, uid, rv, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(resource, namespace, name)
         DO UPDATE SET uid = excluded.uid, rv = excluded.rv, body = excluded.body",
    )?
    .execute(params![key.resource, key.namespace, key.name, uid, rv, body])?;
    Ok(())
}

/// Deletes one object row.
pub(crate) fn delete_object(tx: &Transaction<'_>, key: &ObjKey) -> Result<(), rusqlite::Error> {
    tx.prepare_cached("DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3")?.execute(params![
        key.resource,
        key.namespace,
        key.name
    ])?;
    Ok(())
}

/// Stores the global revision counter.
pub(crate) fn put_revision(tx: &Transaction<'_>, rv: u64) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO meta(key, value) VALUES ('revision', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![rv])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    }

    #[test]
    fn migrate_fresh_then_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(user_version(&conn), SCHEMA_VERSION);
        assert_eq!(load_revision(&conn).unwrap(), 0);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(user_version(&conn), SCHEMA_VERSION);
    }

    #[test]
    fn refuses_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
            "{err:?}"
        );
    }

    #[test]
    fn revision_is_at_least_the_highest_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        put_object(&tx, &ObjKey::new("pods", "a", "p"), "u", 7, r#"{"metadata":{}}"#).unwrap();
        put_revision(&tx, 5).unwrap();
        tx.commit().unwrap();
        assert_eq!(load_revision(&conn).unwrap(), 7);
    }

    #[test]
    fn load_sets_rv_from_column_and_reports_corrupt_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let key = ObjKey::new("pods", "a", "p");
        let tx = conn.transaction().unwrap();
        put_object(&tx, &key, "u", 4, r#"{"metadata":{"name":"p","resourceVersion":"1"}}"#).unwrap();
        tx.commit().unwrap();
        let index = load_objects(&conn).unwrap();
        assert_eq!(index.get(&key).unwrap()["metadata"]["resourceVersion"], "4");

        let bad = [("{not json", true), (r#"{"spec":{}}"#, false)];
        for (body, json_source) in bad {
            let tx = conn.transaction().unwrap();
            put_object(&tx, &key, "u", 5, body).unwrap();
            tx.commit().unwrap();
            match load_objects(&conn) {
                Err(StoreError::Corrupt { key: k, source, .. }) => {
                    assert_eq!(k, key);
                    assert_eq!(source.is_some(), json_source, "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
