//! Runs and retention: the same records on both backends.

use serde_json::json;

use super::{both, PgCluster};
use crate::catalog::builders::script_upsert;
use crate::clock;

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

#[tokio::test]
async fn retention_prunes_the_same_runs_on_both_backends() {
    use crate::catalog::builders::run_end;
    use crate::catalog::{NewRun, RunStatus};
    use std::time::Duration;

    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (dir, sqlite, pg, _) = both(&cluster).await;
    let scan = vec![script_upsert("python/a.py"), script_upsert("python/b.py")];
    sqlite.apply_scan(scan.clone(), vec![]).await.unwrap();
    pg.apply_scan(scan, vec![]).await.unwrap();
    let folder = |id: i64| dir.path().join(id.to_string());
    // Per script: finished, finished, running, finished (newest last).
    for script_id in [1, 2, 1, 2, 1, 2, 1, 2] {
        let new = NewRun {
            script_id: Some(script_id),
            script_path: format!("python/{script_id}.py"),
            params: json!({}),
            ignored_params: vec![],
        };
        let a = sqlite.start_run_here(new.clone(), folder, false).unwrap();
        let b = pg.start_run(new, folder, false).await.unwrap();
        if !(5..=6).contains(&a) {
            sqlite
                .finish_run(a, run_end(RunStatus::Success))
                .await
                .unwrap();
            pg.finish_run(b, run_end(RunStatus::Success)).await.unwrap();
        }
    }
    let ids = |runs: Vec<crate::catalog::PrunedRun>| {
        let mut runs: Vec<_> = runs.into_iter().map(|r| (r.id, r.run_dir)).collect();
        runs.sort_unstable();
        runs
    };
    let capped = ids(sqlite.delete_runs_beyond_cap(2).await.unwrap());
    assert_eq!(capped.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(capped, ids(pg.delete_runs_beyond_cap(2).await.unwrap()));
    let far = Duration::from_secs(u64::MAX);
    assert!(pg.delete_runs_older_than(far).await.unwrap().is_empty());
    assert!(sqlite.delete_runs_older_than(far).await.unwrap().is_empty());
    let hour = Duration::from_secs(3600);
    assert!(pg.delete_runs_older_than(hour).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let aged = ids(sqlite.delete_runs_older_than(Duration::ZERO).await.unwrap());
    assert_eq!(aged.iter().map(|r| r.0).collect::<Vec<_>>(), [7, 8]);
    assert_eq!(
        aged,
        ids(pg.delete_runs_older_than(Duration::ZERO).await.unwrap())
    );
    assert_eq!(
        pg.list_runs(crate::catalog::RunFilter {
            page: 1,
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .total,
        2
    );
}
