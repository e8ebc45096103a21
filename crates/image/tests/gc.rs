//! Image garbage collection: thresholds, LRU order, in-use and minimum-age
//! protection, unreferenced content, and prune.

mod common;

use std::time::Duration;

use common::{TarBuilder, list_dir};
use peapod_image::{GcPolicy, ImageStore, StoreOptions, Threshold};

/// A rootfs with `n` bytes of incompressible data, so sizes are predictable.
fn rootfs(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut t = TarBuilder::new();
    t.file("data", &data, 0o644);
    t.finish()
}

fn store_with(dir: &std::path::Path, high: &str, low: &str, min_age: Duration) -> ImageStore {
    let gc = GcPolicy { high: high.parse().unwrap(), low: low.parse().unwrap(), min_age };
    ImageStore::open_with(&dir.join("images"), StoreOptions { gc, ..Default::default() }).unwrap()
}

#[test]
fn lru_unused_images_go_until_the_low_threshold() {
    let dir = tempfile::tempdir().unwrap();
    // Each image: ~200 KB blob + ~200 KB snapshot. Four of them ≈ 1.6 MB;
    // two of them fit under the low threshold.
    let s = store_with(dir.path(), "1Mi", "900Ki", Duration::ZERO);
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let info = s.import_rootfs(&rootfs(2 * i + 1, 200_000)[..], &format!("img{i}"), &[]).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            info.id
        })
        .collect();
    // img0 is the oldest but in use; img1 was used recently (a container
    // started from it).
    let ctr = dir.path().join("ctr");
    std::fs::create_dir(&ctr).unwrap();
    s.prepare_rootfs(&s.get("img1").unwrap().unwrap(), &ctr).unwrap();
    s.cleanup_rootfs(&ctr).unwrap();

    let report = s.collect_images(std::slice::from_ref(&ids[0])).unwrap();
    assert!(report.triggered);
    assert!(report.freed >= report.to_free, "{report:?}");
    // Least recently used first: img2, then img3; img1 (just used) survives.
    assert_eq!(report.deleted, [ids[2].clone(), ids[3].clone()], "{report:?}");
    let left: Vec<String> = s.list().unwrap().into_iter().map(|i| i.id).collect();
    assert!(left.contains(&ids[0]) && left.contains(&ids[1]));
    assert!(s.disk_usage().unwrap() <= 900 * 1024, "{}", s.disk_usage().unwrap());

    // Under the high threshold now: nothing happens.
    assert!(!s.collect_images(&[]).unwrap().triggered);
}

#[test]
fn young_images_are_protected_by_the_minimum_age() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with(dir.path(), "1Ki", "0", Duration::from_secs(3600));
    s.import_rootfs(&rootfs(9, 50_000)[..], "fresh", &[]).unwrap();
    let report = s.collect_images(&[]).unwrap();
    assert!(report.triggered && report.deleted.is_empty(), "{report:?}");
    assert_eq!(s.list().unwrap().len(), 1);
}

#[test]
fn percentage_thresholds_measure_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    // 100 %: never over; 0 %: always over (any used filesystem).
    let never = store_with(dir.path(), "100%", "90%", Duration::ZERO);
    never.import_rootfs(&rootfs(3, 1000)[..], "x", &[]).unwrap();
    assert!(!never.collect_images(&[]).unwrap().triggered);
    drop(never);
    let always = store_with(dir.path(), "0%", "0%", Duration::ZERO);
    let report = always.collect_images(&[]).unwrap();
    assert!(report.triggered && report.deleted.len() == 1, "{report:?}");
    assert_eq!("85%".parse::<Threshold>().unwrap(), Threshold::Percent(85));
}

#[test]
fn prune_removes_unused_images_and_unreferenced_content() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with(dir.path(), "100%", "100%", Duration::ZERO);
    let a = s.import_rootfs(&rootfs(5, 10_000)[..], "a", &[]).unwrap();
    let b = s.import_rootfs(&rootfs(6, 10_000)[..], "b", &[]).unwrap();
    // Content left by an abandoned pull: a blob no image references.
    let stray = format!("{:064x}", 7);
    std::fs::write(s.root().join("blobs/sha256").join(&stray), b"stray").unwrap();

    let dangling = s.prune(false, &[]).unwrap();
    assert!(dangling.deleted.is_empty(), "tagged images are not dangling: {dangling:?}");
    assert!(!list_dir(&s.root().join("blobs/sha256")).contains(&stray));

    let report = s.prune(true, std::slice::from_ref(&a.id)).unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&b.id));
    assert_eq!(report.untagged, ["docker.io/library/b:latest"]);
    assert!(report.freed > 10_000, "{report:?}");
    assert_eq!(s.list().unwrap().len(), 1);
}
