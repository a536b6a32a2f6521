//! A read on the calling thread never waits there: finding no free connection (or a lock),
//! it goes to the blocking pool, which waits while the calling thread goes on.

use super::builders::script_upsert;
use super::Catalog;

#[tokio::test(flavor = "current_thread")]
async fn a_read_finding_no_free_connection_waits_in_the_blocking_pool_not_on_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    catalog
        .apply_scan(vec![script_upsert("python/a.py")], vec![])
        .await
        .unwrap();
    let every_connection: Vec<_> = (0..catalog.pool.max_size())
        .map(|_| catalog.pool.get().unwrap())
        .collect();
    // Only this thread can give the connections back: had the read waited here for one,
    // the release could not run until the pool's own wait (30 s) ran out. The bound is far
    // above the real path (a thread hand-off) and far below that wait.
    let release = tokio::spawn(async move { drop(every_connection) });
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), catalog.script(1));
    let script = read.await.expect("the caller was not held").unwrap();
    let script = script.expect("script 1");
    assert_eq!(script.path, "python/a.py");
    release.await.unwrap();
}
