//! Migrations that rebuild a table keep its rows, its ids and its AUTOINCREMENT counter.

use rusqlite::Connection;

use super::MIGRATIONS;

fn opcodes(conn: &Connection, sql: &str, params: usize) -> Vec<String> {
    let mut statement = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let nulls = vec![rusqlite::types::Null; params];
    let rows = statement
        .query_map(rusqlite::params_from_iter(nulls), |row| {
            row.get::<_, String>(1)
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn the_runs_rebuild_keeps_rows_ids_and_the_counter_and_still_checks_the_status() {
    let mut conn = Connection::open_in_memory().unwrap();
    MIGRATIONS.to_version(&mut conn, 8).unwrap();
    conn.execute_batch(
        "INSERT INTO scripts (path, name, runtime, load_status, file_hash) VALUES ('python/a.py', 'a', 'python', 'ok', 'h');
         INSERT INTO runs (script_id, script_path, status, event_log) VALUES (1, 'python/a.py', 'success', 'log');
         INSERT INTO runs (script_id, script_path, status) VALUES (1, 'python/a.py', 'queued');
         INSERT INTO runs (script_id, script_path, status) VALUES (1, 'python/a.py', 'error');
         DELETE FROM runs WHERE id = 3;",
    )
    .unwrap();
    MIGRATIONS.to_latest(&mut conn).unwrap();

    let kept: Vec<(i64, String, Option<String>)> = conn
        .prepare("SELECT id, status, event_log FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        kept,
        vec![
            (1, "success".into(), Some("log".into())),
            (2, "queued".into(), None)
        ]
    );
    // The id of the deleted run is never handed out again.
    conn.execute(
        "INSERT INTO runs (script_id, script_path, status) VALUES (1, 'python/a.py', 'running')",
        [],
    )
    .unwrap();
    assert_eq!(conn.last_insert_rowid(), 4);
    let refused = conn.execute(
        "INSERT INTO runs (script_id, script_path, status) VALUES (1, 'python/a.py', 'bogus')",
        [],
    );
    assert!(refused.is_err(), "an unknown status must be refused");
    let indexes: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 3);
}

#[test]
fn recording_and_finishing_a_run_build_no_temporary_b_tree() {
    let mut conn = Connection::open_in_memory().unwrap();
    MIGRATIONS.to_latest(&mut conn).unwrap();
    let insert = opcodes(
        &conn,
        "INSERT INTO runs (script_id, script_path, status) VALUES (?1, ?2, ?3)",
        3,
    );
    let finish = opcodes(&conn, "UPDATE runs SET status = ?2 WHERE id = ?1", 2);
    for program in [insert, finish] {
        assert!(
            !program.iter().any(|op| op == "OpenEphemeral"),
            "{program:?}"
        );
    }
}

#[test]
fn ad_hoc_runs_have_no_script_and_say_so_and_older_runs_stay_script_runs() {
    let mut conn = Connection::open_in_memory().unwrap();
    MIGRATIONS.to_version(&mut conn, 10).unwrap();
    conn.execute_batch(
        "INSERT INTO scripts (path, name, runtime, load_status, file_hash) VALUES ('python/a.py', 'a', 'python', 'ok', 'h');
         INSERT INTO runs (script_id, script_path, status) VALUES (1, 'python/a.py', 'success');
         INSERT INTO runs (script_id, script_path, status) VALUES (1, 'python/a.py', 'error');
         DELETE FROM runs WHERE id = 2;",
    )
    .unwrap();
    MIGRATIONS.to_latest(&mut conn).unwrap();

    let kind: String = conn
        .query_row("SELECT kind FROM runs WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kind, "script");
    conn.execute(
        "INSERT INTO runs (script_id, script_path, status, kind) VALUES (NULL, 'exec:python', 'running', 'exec')",
        [],
    )
    .unwrap();
    assert_eq!(
        conn.last_insert_rowid(),
        3,
        "ids of deleted runs are never reused"
    );
    for (script_id, kind) in [("NULL", "script"), ("1", "exec"), ("NULL", "other")] {
        let refused = conn.execute(
            &format!("INSERT INTO runs (script_id, script_path, status, kind) VALUES ({script_id}, 'x', 'running', '{kind}')"),
            [],
        );
        assert!(refused.is_err(), "script_id {script_id} with kind {kind}");
    }
}
