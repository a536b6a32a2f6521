//! The PostgreSQL catalog against a real cluster: its schema is SQLite's plus the queue's, and
//! every query answers what the SQLite catalog answers for the same history.

#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::PgCatalog;
use crate::catalog::builders::script_upsert;
use crate::catalog::{Catalog, LoadStatus, Script, ScriptFilter, ScriptPatch, ScriptUpsert};
use crate::clock;
use crate::domain::Runtime;
use pg_cluster::PgCluster;

/// Both catalogs, empty: SQLite in a temp dir, PostgreSQL in a fresh database of `cluster`.
async fn both(cluster: &PgCluster) -> (tempfile::TempDir, Catalog, PgCatalog, String) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let url = cluster.create_database(&format!("sg_{}", rand_suffix()));
    let pg = PgCatalog::connect(&url).await.unwrap();
    (dir, sqlite, pg, url)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A script as both backends must agree on it: everything but the clock's readings.
fn comparable(script: &Script) -> String {
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
        PgCatalog::connect(&url),
        PgCatalog::connect(&url),
        PgCatalog::connect(&url)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let applied = cluster.psql_in(&url, "SELECT count(*) FROM schema_migrations");
    assert_eq!(applied, super::migrations().unwrap().len().to_string());
    PgCatalog::connect(&url)
        .await
        .expect("a second start is a no-op");
}

#[tokio::test]
async fn the_schema_is_sqlites_plus_the_queue() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, sqlite, _pg, url) = both(&cluster).await;
    let conn = sqlite.pool.get().unwrap();
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
         FROM information_schema.columns WHERE table_schema = 'public'",
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

#[tokio::test]
async fn scripts_answer_alike_on_both_backends() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, sqlite, pg, _) = both(&cluster).await;
    let upsert = |path: &str, hash: &str, load| ScriptUpsert {
        description: Some("does 100% of the_work".into()),
        file_hash: hash.into(),
        load,
        ..script_upsert(path)
    };
    let scans: Vec<(Vec<ScriptUpsert>, Vec<i64>)> = vec![
        (
            vec![
                upsert("python/b.py", "h1", Some(Ok(json!({"n": {"flag": "--n"}})))),
                upsert("python/A.py", "h1", Some(Err("boom".into()))),
                upsert("python/s_1.py", "h1", Some(Ok(json!({})))),
                ScriptUpsert {
                    runtime: Runtime::Js,
                    ..upsert("js/b.js", "h1", Some(Ok(json!({}))))
                },
                // Ordered as bytes on both sides ('Z' before 'b'), whatever the locale.
                upsert("python/Z.py", "h1", Some(Ok(json!({})))),
            ],
            vec![],
        ),
        (vec![upsert("python/b.py", "h2", None)], vec![2, 3]),
        (
            vec![upsert("python/A.py", "h3", Some(Ok(json!({}))))],
            vec![],
        ),
    ];
    for (upserts, deleted) in scans {
        sqlite
            .apply_scan(upserts.clone(), deleted.clone())
            .await
            .unwrap();
        pg.apply_scan(upserts, deleted).await.unwrap();
    }
    let patch = ScriptPatch {
        alias: Some(Some("bee".into())),
        enabled: Some(false),
        timeout_sec: Some(Some(9)),
        execution_mode: Some(Some("cold".into())),
        ..Default::default()
    };
    let patched = (
        sqlite.patch_script(1, patch.clone()).await.unwrap(),
        pg.patch_script(1, patch.clone()).await.unwrap(),
    );
    assert_eq!(
        patched.0.as_ref().map(comparable),
        patched.1.as_ref().map(comparable)
    );
    assert!(
        pg.patch_script(3, patch).await.unwrap().is_none(),
        "3 was deleted (2 was deleted and came back)"
    );

    let filters = [
        ScriptFilter {
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            page: 2,
            page_size: 1,
            ..Default::default()
        },
        ScriptFilter {
            status: Some(LoadStatus::Ok),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            runtime: Some(Runtime::Js),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            search: Some("BEE".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            search: Some("s_".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            search: Some("100%".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
    ];
    for filter in filters {
        let (a, b) = (
            sqlite.list_scripts(filter.clone()).await.unwrap(),
            pg.list_scripts(filter.clone()).await.unwrap(),
        );
        assert_eq!(a.total, b.total, "{filter:?}");
        let (a, b): (Vec<_>, Vec<_>) = (
            a.items.iter().map(comparable).collect(),
            b.items.iter().map(comparable).collect(),
        );
        assert_eq!(a, b, "{filter:?}");
    }
    for address in ["python/b", "python/A.py", "js/b", "python/s_1", "nothing"] {
        let (a, b) = (
            sqlite.scripts_at(address.into()).await.unwrap(),
            pg.scripts_at(address.into()).await.unwrap(),
        );
        let (a, b): (Vec<_>, Vec<_>) = (
            a.iter().map(comparable).collect(),
            b.iter().map(comparable).collect(),
        );
        assert_eq!(a, b, "{address}");
    }
    for id in 1..=5 {
        let (a, b) = (
            sqlite.script(id).await.unwrap(),
            pg.script(id).await.unwrap(),
        );
        assert_eq!(
            a.as_ref().map(comparable),
            b.as_ref().map(comparable),
            "script {id}"
        );
    }
    let path = "python/A.py".to_string();
    let (a, b) = (
        sqlite.script_by_path(path.clone()).await.unwrap(),
        pg.script_by_path(path).await.unwrap(),
    );
    assert_eq!(a.as_ref().map(comparable), b.as_ref().map(comparable));
    assert_eq!(
        sqlite.script_count().await.unwrap(),
        pg.script_count().await.unwrap()
    );
    let index = |entries: Vec<crate::catalog::ScriptIndexEntry>| {
        let mut entries: Vec<_> = entries.iter().map(|e| format!("{e:?}")).collect();
        entries.sort();
        entries
    };
    assert_eq!(
        index(sqlite.script_index().await.unwrap()),
        index(pg.script_index().await.unwrap())
    );
    let timestamp = pg.script(1).await.unwrap().unwrap().updated_at;
    assert_eq!(
        timestamp.len(),
        "2026-12-03T13:00:00.000Z".len(),
        "{timestamp}"
    );
    assert!(timestamp.ends_with('Z'));
}

#[tokio::test]
async fn keys_and_settings_answer_alike_on_both_backends() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, sqlite, pg, _) = both(&cluster).await;
    for (name, hash, scope) in [("ci", "h-ci", "run"), ("ops", "h-ops", "admin")] {
        let a = sqlite
            .create_api_key(name.into(), hash.into(), "sg_ab".into(), scope.into())
            .await
            .unwrap();
        let b = pg
            .create_api_key(name.into(), hash.into(), "sg_ab".into(), scope.into())
            .await
            .unwrap();
        assert_eq!((a.id, a.name, a.scope), (b.id, b.name, b.scope));
    }
    assert!(
        pg.create_api_key("dup".into(), "h-ci".into(), "x".into(), "run".into())
            .await
            .is_err(),
        "a hash is unique"
    );
    assert!(
        pg.create_api_key("bad".into(), "h-bad".into(), "x".into(), "root".into())
            .await
            .is_err(),
        "the scope is checked"
    );
    pg.touch_api_key(1).await.unwrap();
    let revoked = pg.revoke_api_key(2).await.unwrap().unwrap();
    let again = pg.revoke_api_key(2).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at, again.revoked_at,
        "revoking twice keeps the first time"
    );
    sqlite.touch_api_key(1).await.unwrap();
    sqlite.revoke_api_key(2).await.unwrap();
    assert!(pg.revoke_api_key(9).await.unwrap().is_none());
    assert_eq!(pg.active_api_key_count().await.unwrap(), 1);
    for hash in ["h-ci", "h-ops", "h-none"] {
        assert_eq!(
            sqlite.find_api_key(hash.into()).await.unwrap(),
            pg.find_api_key(hash.into()).await.unwrap(),
            "{hash}"
        );
    }
    let listed = |keys: Vec<crate::catalog::ApiKeyRecord>| {
        keys.into_iter()
            .map(|k| {
                (
                    k.id,
                    k.name,
                    k.prefix,
                    k.scope,
                    k.last_used_at.is_some(),
                    k.revoked_at.is_some(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(sqlite.api_keys().await.unwrap()),
        listed(pg.api_keys().await.unwrap())
    );

    for catalog_values in [
        vec![
            ("timeout_sec".to_string(), json!(5.5)),
            ("notify_url".into(), json!("http://x")),
        ],
        vec![("timeout_sec".to_string(), json!(7))],
    ] {
        sqlite.store_settings(catalog_values.clone()).await.unwrap();
        pg.store_settings(catalog_values).await.unwrap();
    }
    sqlite
        .remove_settings(vec!["notify_url".into(), "never".into()])
        .await
        .unwrap();
    pg.remove_settings(vec!["notify_url".into(), "never".into()])
        .await
        .unwrap();
    assert_eq!(
        sqlite.stored_settings().await.unwrap(),
        pg.stored_settings().await.unwrap()
    );
    assert_eq!(
        pg.stored_settings().await.unwrap(),
        BTreeMap::from([("timeout_sec".into(), json!(7))])
    );
}

/// A run as both backends must agree on it: everything but the clock's readings.
fn comparable_run(run: &crate::catalog::Run) -> String {
    let mut run = run.clone();
    run.queued_at.clear();
    run.started_at = run.started_at.map(|_| "set".into());
    run.finished_at = run.finished_at.map(|_| "set".into());
    format!("{run:?}")
}

#[tokio::test]
async fn runs_answer_alike_on_both_backends() {
    use crate::catalog::builders::run_end;
    use crate::catalog::{NewRun, RunEnd, RunFile, RunFilter, RunKind, RunStatus};

    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (dir, sqlite, pg, _) = both(&cluster).await;
    let scan = vec![script_upsert("python/a.py"), script_upsert("python/b.py")];
    sqlite.apply_scan(scan.clone(), vec![]).await.unwrap();
    pg.apply_scan(scan, vec![]).await.unwrap();
    let folder = |id: i64| dir.path().join("runs").join(id.to_string());
    let new = |script_id: Option<i64>| NewRun {
        script_id,
        script_path: script_id.map_or("exec:python".into(), |id| format!("python/{id}.py")),
        params: json!({"n": script_id}),
        ignored_params: vec!["x".into()],
    };
    let ends = [
        RunEnd {
            data: Some(json!({"ok": true})),
            stderr: "warn".into(),
            files: vec![RunFile {
                name: "out.csv".into(),
                size: 3,
            }],
            event_log: Some("{\"line\":1}\n".into()),
            ..run_end(RunStatus::Success)
        },
        RunEnd {
            exit_code: Some(-9),
            error_code: Some("timeout".into()),
            error_message: Some("took too long".into()),
            output_file: Some("stdout.txt".into()),
            output_size: Some(u64::MAX),
            output_content_type: Some("text/plain".into()),
            stdout_preview: Some("partial".into()),
            ..run_end(RunStatus::Timeout)
        },
        run_end(RunStatus::Error),
    ];
    for (n, script_id) in [Some(1), Some(2), None, Some(1), Some(2)]
        .into_iter()
        .enumerate()
    {
        let queued = n % 2 == 1;
        let a = sqlite
            .start_run_here(new(script_id), folder, queued)
            .unwrap();
        let b = pg.start_run(new(script_id), folder, queued).await.unwrap();
        assert_eq!(a, b, "ids agree");
        assert_eq!(
            sqlite.run(a).await.unwrap().map(|r| comparable_run(&r)),
            pg.run(b).await.unwrap().map(|r| comparable_run(&r)),
            "run {a} as started"
        );
        if queued {
            sqlite.mark_run_running(a).await.unwrap();
            pg.mark_run_running(b).await.unwrap();
        }
        sqlite.set_run_pid(a, 4000 + a as u32).await.unwrap();
        pg.set_run_pid(b, 4000 + b as u32).await.unwrap();
        if let Some(end) = ends.get(n) {
            let (a, b) = (
                sqlite.finish_run(a, end.clone()).await.unwrap(),
                pg.finish_run(b, end.clone()).await.unwrap(),
            );
            assert_eq!(comparable_run(&a), comparable_run(&b));
        }
    }
    for id in 1..=6 {
        assert_eq!(
            sqlite.run_event_log(id).await.unwrap(),
            pg.run_event_log(id).await.unwrap(),
            "event log of {id}"
        );
    }
    for id in [1, 2] {
        let (a, b) = (
            sqlite.script(id).await.unwrap().unwrap(),
            pg.script(id).await.unwrap().unwrap(),
        );
        assert_eq!(
            (a.run_count, a.last_run_status),
            (b.run_count, b.last_run_status)
        );
    }
    let today = &clock::now_text()[..10];
    let filters = [
        RunFilter {
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        RunFilter {
            page: 2,
            page_size: 2,
            ..Default::default()
        },
        RunFilter {
            script_id: Some(1),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        RunFilter {
            status: Some(RunStatus::Running),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        RunFilter {
            kind: Some(RunKind::Exec),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        RunFilter {
            since: Some(today.into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        RunFilter {
            until: Some(today.into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        RunFilter {
            since: Some("2000-01-01T00:00:00+02:00".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        RunFilter {
            until: Some("2999-01-01T00:00:00.5Z".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
    ];
    for filter in filters {
        let (a, b) = (
            sqlite.list_runs(filter.clone()).await.unwrap(),
            pg.list_runs(filter.clone()).await.unwrap(),
        );
        assert_eq!(a.total, b.total, "{filter:?}");
        let (a, b): (Vec<_>, Vec<_>) = (
            a.items.iter().map(comparable_run).collect(),
            b.items.iter().map(comparable_run).collect(),
        );
        assert_eq!(a, b, "{filter:?}");
    }
    let mut leftovers = sqlite.interrupt_leftover_runs().await.unwrap();
    leftovers.sort_unstable();
    assert_eq!(leftovers, [(4, Some(4004)), (5, Some(4005))]);
    assert_eq!(leftovers, pg.interrupt_leftover_runs().await.unwrap());
    assert_eq!(
        comparable_run(&sqlite.run(5).await.unwrap().unwrap()),
        comparable_run(&pg.run(5).await.unwrap().unwrap())
    );
}
