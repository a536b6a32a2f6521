//! How the catalog uses its connections: a read on the calling thread never waits there,
//! and a write transaction that fails leaves nothing behind.

use super::builders::script_upsert;
use super::{in_write_transaction, Catalog, CatalogError};

#[tokio::test(flavor = "current_thread")]
async fn a_read_finding_no_free_connection_waits_in_the_blocking_pool_not_on_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    catalog
        .apply_scan(vec![script_upsert("python/a.py")], vec![])
        .await
        .unwrap();
    let every_connection: Vec<_> = (0..catalog.pool().max_size())
        .map(|_| catalog.pool().get().unwrap())
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

#[test]
fn a_write_transaction_that_fails_leaves_nothing_and_the_connection_usable() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
    let failed: Result<(), CatalogError> = in_write_transaction(&conn, |tx| {
        tx.execute("INSERT INTO t VALUES (1)", [])?;
        tx.execute("INSERT INTO no_such_table VALUES (2)", [])?;
        Ok(())
    });
    assert!(failed.is_err());
    assert!(conn.is_autocommit(), "the transaction was rolled back");
    in_write_transaction(&conn, |tx| Ok(tx.execute("INSERT INTO t VALUES (3)", [])?)).unwrap();
    let kept: Vec<i64> = conn
        .prepare("SELECT n FROM t")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, vec![3]);
}
