//! Removal: untagging, garbage collection of blobs and snapshots, and
//! Docker's by-id rules.

mod common;

use common::{TarBuilder, list_dir, snapshot_dir, store};
use peapod_image::{ImageError, RemoveReport};

fn layer(content: &[u8]) -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("data", 0o755).file("data/f", content, 0o644);
    t.finish()
}

#[test]
fn removing_the_last_reference_deletes_everything_it_alone_used() {
    let (_dir, store) = store();
    let info = store.import_rootfs(&layer(b"x")[..], "solo", &[]).unwrap();
    let report = store.remove("solo").unwrap();
    assert_eq!(
        report,
        RemoveReport {
            untagged: vec!["docker.io/library/solo:latest".into()],
            deleted: vec![info.id.clone(), info.layers[0].clone()],
        }
    );
    assert!(store.list().unwrap().is_empty());
    assert!(list_dir(&store.root().join("blobs/sha256")).is_empty());
    assert!(list_dir(&store.root().join("snapshots")).is_empty());
    assert!(list_dir(&store.root().join("tmp")).is_empty());
    assert!(matches!(store.remove("solo"), Err(ImageError::NotFound(n)) if n == "solo"));
}

#[test]
fn shared_layer_survives_until_its_last_image_goes() {
    let (_dir, store) = store();
    let tar = layer(b"shared");
    let a = store.import_rootfs(&tar[..], "a", &["ENV WHO=a".into()]).unwrap();
    let b = store.import_rootfs(&tar[..], "b", &["ENV WHO=b".into()]).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.layers, b.layers);
    let snapshot = snapshot_dir(&store, &a.layers[0]);
    let layer_blob = store.root().join("blobs/sha256").join(&a.layers[0][7..]);

    let report = store.remove("a").unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&a.id), "only a's config, not the shared layer");
    assert!(snapshot.join("data/f").exists());
    assert!(layer_blob.exists());
    // b still resolves and can still be prepared.
    let b_now = store.get("b").unwrap().unwrap();
    let cdir = tempfile::tempdir().unwrap();
    store.prepare_rootfs(&b_now, cdir.path()).unwrap();

    let report = store.remove(&b.id).unwrap();
    assert_eq!(report.deleted, [b.id.clone(), b.layers[0].clone()]);
    assert!(!snapshot.exists());
    assert!(!layer_blob.exists());
}

#[test]
fn untagging_one_of_several_references_keeps_the_image() {
    let (_dir, store) = store();
    let info = store.import_rootfs(&layer(b"x")[..], "app:1", &[]).unwrap();
    store.tag("app:1", "app:latest").unwrap();
    let report = store.remove("app:1").unwrap();
    assert_eq!(report.untagged, ["docker.io/library/app:1"]);
    assert!(report.deleted.is_empty());
    let left = store.get(&info.id).unwrap().unwrap();
    assert_eq!(left.references, ["docker.io/library/app:latest"]);
}

#[test]
fn remove_by_id_untags_all_tags_of_one_repository() {
    let (_dir, store) = store();
    let info = store.import_rootfs(&layer(b"x")[..], "app:1", &[]).unwrap();
    store.tag("app:1", "app:2").unwrap();
    let report = store.remove(&info.id[7..19]).unwrap();
    assert_eq!(report.untagged, ["docker.io/library/app:1", "docker.io/library/app:2"]);
    assert_eq!(report.deleted[0], info.id);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn remove_by_id_across_repositories_is_a_conflict() {
    let (_dir, store) = store();
    let info = store.import_rootfs(&layer(b"x")[..], "one", &[]).unwrap();
    store.tag("one", "localhost:5000/two").unwrap();
    let err = store.remove(&info.id).unwrap_err();
    assert!(matches!(&err, ImageError::Conflict { id } if *id == info.id), "{err}");
    assert!(err.to_string().contains("referenced in multiple repositories"));
    // Nothing changed.
    assert_eq!(store.get(&info.id).unwrap().unwrap().references.len(), 2);
    // By name each goes separately; the second deletes the image.
    assert!(store.remove("one").unwrap().deleted.is_empty());
    assert_eq!(store.remove("localhost:5000/two").unwrap().deleted[0], info.id);
}

#[test]
fn remove_by_repo_digest() {
    let (_dir, store) = store();
    let info = store.import_rootfs(&layer(b"x")[..], "app:1", &[]).unwrap();
    let report = store.remove(&format!("app@{}", info.digest)).unwrap();
    assert_eq!(report.untagged, ["docker.io/library/app:1"]);
    assert_eq!(report.deleted[0], info.id);
}
