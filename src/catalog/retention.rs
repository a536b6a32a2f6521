//! Pruning the run history: finished runs past an age, and the oldest beyond a per-script
//! cap. Queued and running runs are never touched.

use rusqlite::{params, Connection};

use super::CatalogError;

/// A deleted run and the folder it leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedRun {
    pub id: i64,
    pub run_dir: Option<String>,
}

const FINISHED: &str = "status NOT IN ('queued', 'running')";

fn collect(
    statement: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<PrunedRun>, CatalogError> {
    let rows = statement.query_map(params, |row| {
        Ok(PrunedRun {
            id: row.get(0)?,
            run_dir: row.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Deletes finished runs that ended at least `age_secs` seconds ago.
pub fn delete_older_than(conn: &Connection, age_secs: u64) -> Result<Vec<PrunedRun>, CatalogError> {
    let sql = format!(
        "DELETE FROM runs
         WHERE {FINISHED} AND finished_at IS NOT NULL
           AND finished_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)
         RETURNING id, run_dir"
    );
    let shift = format!("-{} seconds", age_secs.min(i64::MAX as u64));
    collect(&mut conn.prepare(&sql)?, params![shift])
}

/// Deletes the finished runs of each script beyond its `keep` newest runs (runs still in
/// progress count among the newest but are never deleted).
pub fn delete_beyond_cap(conn: &Connection, keep: u64) -> Result<Vec<PrunedRun>, CatalogError> {
    let sql = format!(
        "DELETE FROM runs
         WHERE id IN (
             SELECT id FROM (
                 SELECT id, status,
                        ROW_NUMBER() OVER (PARTITION BY script_id ORDER BY id DESC) AS newest
                 FROM runs
             ) WHERE newest > ?1 AND {FINISHED}
         )
         RETURNING id, run_dir"
    );
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    collect(&mut conn.prepare(&sql)?, params![keep])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builders::{run_end, script_upsert};
    use crate::catalog::{runs, scripts, Catalog, NewRun, RunStatus, ScriptUpsert};
    use serde_json::json;

    type Conn = r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>;

    fn setup() -> (tempfile::TempDir, Conn) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let conn = catalog.pool().get().unwrap();
        for path in ["python/a.py", "python/b.py"] {
            let upsert = ScriptUpsert {
                file_hash: "h".into(),
                ..script_upsert(path)
            };
            scripts::upsert(&conn, &upsert).unwrap();
        }
        (dir, conn)
    }

    fn add_run(conn: &mut Conn, script_id: i64, finished: bool) -> i64 {
        let new = NewRun {
            script_id: Some(script_id),
            script_path: "python/x.py".into(),
            params: json!({}),
            ignored_params: vec![],
        };
        let id = runs::insert(conn, &new, false).unwrap();
        runs::set_run_dir(conn, id, &format!("/data/runs/{id}")).unwrap();
        if finished {
            let end = run_end(RunStatus::Success);
            runs::finish(conn, id, &end).unwrap();
        }
        id
    }

    fn ids(pruned: &[PrunedRun]) -> Vec<i64> {
        let mut ids: Vec<_> = pruned.iter().map(|p| p.id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn the_cap_keeps_the_newest_runs_of_each_script_and_spares_runs_in_progress() {
        let (_dir, mut conn) = setup();
        let a1 = add_run(&mut conn, 1, true);
        let a2 = add_run(&mut conn, 1, false);
        let a3 = add_run(&mut conn, 1, true);
        let b1 = add_run(&mut conn, 2, true);
        let _b2 = add_run(&mut conn, 2, true);
        let _a4 = add_run(&mut conn, 1, true);
        let pruned = delete_beyond_cap(&conn, 1).unwrap();
        assert_eq!(ids(&pruned), [a1, a3, b1], "a2 is still running");
        let a1_dir = pruned.iter().find(|p| p.id == a1).unwrap();
        assert_eq!(
            a1_dir.run_dir.as_deref(),
            Some(&*format!("/data/runs/{a1}"))
        );
        assert!(runs::by_id(&conn, a2).unwrap().is_some());
        assert!(
            delete_beyond_cap(&conn, 1).unwrap().is_empty(),
            "idempotent"
        );
    }

    #[test]
    fn age_pruning_takes_finished_runs_only() {
        let (_dir, mut conn) = setup();
        let done = add_run(&mut conn, 1, true);
        let running = add_run(&mut conn, 1, false);
        assert!(
            delete_older_than(&conn, 3600).unwrap().is_empty(),
            "too young"
        );
        assert_eq!(ids(&delete_older_than(&conn, 0).unwrap()), [done]);
        assert!(runs::by_id(&conn, running).unwrap().is_some());
    }
}
