//! The PostgreSQL catalog against a real cluster: its schema is SQLite's plus the queue's, and
//! every query answers what the SQLite catalog answers for the same history.

mod deps;
mod locks;
mod notify;
#[path = "../../../../tests/support/pg_cluster.rs"]
mod pg_cluster;
mod queue;
mod run_output;
mod runs;
mod scripts;

use std::collections::{BTreeMap, BTreeSet};

use super::PgCatalog;
use crate::catalog::{Catalog, Script};
pub(super) use pg_cluster::PgCluster;

/// Both catalogs, empty: SQLite in a temp dir, PostgreSQL in a fresh database of `cluster`.
pub(super) async fn both(cluster: &PgCluster) -> (tempfile::TempDir, Catalog, PgCatalog, String) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let url = cluster.create_database(&format!("sg_{}", rand_suffix()));
    let pg = PgCatalog::connect(&url, "node-a").await.unwrap();
    (dir, sqlite, pg, url)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A script as both backends must agree on it: everything but the clock's readings.
pub(super) fn comparable(script: &Script) -> String {
    let mut script = script.clone();
    script.created_at.clear();
    script.updated_at.clear();
    script.loaded_at = script.loaded_at.map(|_| "set".into());
    format!("{script:?}")
}

#[tokio::test]
async fn migrations_apply_once_even_when_nodes_start_together() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("sg_migrate");
    let (a, b, c) = tokio::join!(
        PgCatalog::connect(&url, "node-a"),
        PgCatalog::connect(&url, "node-a"),
        PgCatalog::connect(&url, "node-a")
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let applied = cluster.psql_in(&url, "SELECT count(*) FROM schema_migrations");
    assert_eq!(applied, super::migrations().unwrap().len().to_string());
    PgCatalog::connect(&url, "node-a")
        .await
        .expect("a second start is a no-op");
}

#[tokio::test]
async fn the_schema_is_sqlites_plus_the_queue() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, sqlite, _pg, url) = both(&cluster).await;
    let conn = sqlite.pool().get().unwrap();
    let mut sqlite_columns = BTreeMap::<String, BTreeSet<(String, bool)>>::new();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let columns = conn
            .prepare(&format!(
                "SELECT name, \"notnull\" OR pk FROM pragma_table_info('{table}')"
            ))
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        sqlite_columns.insert(table, columns);
    }
    let listing = cluster.psql_in(
        &url,
        "SELECT table_name || ' ' || column_name || ' ' || (is_nullable = 'NO')
         FROM information_schema.columns WHERE table_schema = 'public'
           AND table_name IN (SELECT table_name FROM information_schema.tables
                              WHERE table_schema = 'public' AND table_type = 'BASE TABLE')",
    );
    let mut pg_columns = BTreeMap::<String, BTreeSet<(String, bool)>>::new();
    for line in listing.lines() {
        let mut parts = line.split(' ');
        let (table, column, not_null) = (parts.next(), parts.next(), parts.next());
        pg_columns
            .entry(table.unwrap().to_string())
            .or_default()
            .insert((column.unwrap().to_string(), not_null == Some("true")));
    }
    let queue_only: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "runs",
            &["worker_id", "lease_until", "cancel_requested", "attempt"][..],
        ),
        (
            "workers",
            &[
                "id",
                "host",
                "pid",
                "slots",
                "started_at",
                "heartbeat_at",
                "stopped_at",
            ][..],
        ),
        ("run_events", &["run_id", "seq", "event", "data"][..]),
        ("run_files", &["run_id", "role", "name", "bytes"][..]),
        ("schema_migrations", &["version", "name", "applied_at"][..]),
        ("dep_caches", &["node"][..]),
        ("install_logs", &["node"][..]),
    ]);
    for (table, columns) in &pg_columns {
        let extra = queue_only.get(table.as_str()).copied().unwrap_or_default();
        let shared: BTreeSet<_> = columns
            .iter()
            .filter(|(name, _)| !extra.contains(&name.as_str()))
            .cloned()
            .collect();
        match sqlite_columns.get(table) {
            Some(sqlite) => assert_eq!(&shared, sqlite, "table {table}"),
            None => assert!(
                shared.is_empty(),
                "{table} is only on PostgreSQL but not listed"
            ),
        }
    }
    for table in sqlite_columns.keys() {
        assert!(
            pg_columns.contains_key(table),
            "{table} is missing on PostgreSQL"
        );
    }
}
