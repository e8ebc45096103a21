//! Conformance suite for `peapod_store::Store`, written once and run against
//! every backend: SQLite `:memory:` and a SQLite file in a temp dir. Cases that
//! reopen a store run only against the file backend (memory cannot reopen).

mod crud;
mod harness;
mod persist;
mod watch;

/// Instantiates every case as a `#[tokio::test]` in one module per backend.
macro_rules! suite {
    (all: [$($module:ident::$case:ident),* $(,)?], persistent: [$($pmodule:ident::$pcase:ident),* $(,)?] $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::$module::$case(crate::harness::Backend::memory()).await;
                }
            )*
        }
        mod sqlite_file {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::$module::$case(crate::harness::Backend::file()).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $pcase() {
                    crate::$pmodule::$pcase(crate::harness::Backend::file()).await;
                }
            )*
        }
    };
}

suite! {
    all: [
        crud::create_sets_resource_version_and_get_returns_it,
        crud::create_existing_is_already_exists,
        crud::invalid_bodies_are_rejected_without_a_revision,
        crud::list_is_sorted_filtered_and_carries_revision,
        crud::update_replaces_and_bumps_revision,
        crud::update_with_stale_resource_version_conflicts,
        crud::update_without_resource_version_is_unconditional,
        crud::update_missing_is_not_found,
        crud::identical_update_is_a_no_op,
        crud::delete_returns_object_with_deletion_revision,
        crud::delete_preconditions,
        crud::update_with_unchanged_does_not_bump,
        crud::update_with_put_creates_then_modifies,
        crud::update_with_delete,
        crud::update_with_aborted_writes_nothing,
        crud::update_with_put_invalid_is_rejected,
        crud::revision_increases_by_one_per_write,
        crud::concurrent_writers_get_unique_revisions,
        crud::cluster_scoped_objects,
        crud::size_bytes_reports_file_size,
        crud::panicking_closure_leaves_store_usable,
        watch::watch_replays_from_revision_then_live,
        watch::watch_from_now_sees_only_new_changes,
        watch::watch_filters_by_resource_and_namespace,
        watch::watch_deleted_event_carries_deletion_revision,
        watch::watch_expired_when_history_exceeded,
        watch::watch_horizon_is_per_resource,
        watch::watch_future_revision_is_too_large,
        watch::watch_lagging_receiver_resyncs_from_history,
        watch::watch_lagging_receiver_ends_expired,
        watch::watch_with_initial_events_lists_then_follows,
        watch::initial_events_take_namespace_from_the_key,
        watch::watch_ends_when_store_dropped,
        watch::no_op_writes_emit_no_event,
    ],
    persistent: [
        persist::reopen_keeps_objects_and_revision,
        persist::reopen_without_clean_close,
        persist::revision_never_reused_after_deletes_and_reopen,
        persist::watch_after_reopen_expires_older_revisions,
        persist::file_has_documented_schema,
        persist::newer_schema_is_refused,
        persist::open_creates_parent_directories,
    ],
}
