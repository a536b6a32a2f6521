//! The shared run queue against a real PostgreSQL: concurrent workers claim every run exactly
//! once, scripts' limits hold across workers, cancels and silent workers are handled.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::{both, PgCluster};
use crate::catalog::builders::script_upsert;
use crate::catalog::postgres::{CancelOutcome, PgCatalog};
use crate::catalog::{NewRun, RunStatus, ScriptPatch};

const LEASE: Duration = Duration::from_secs(30);

async fn queue(pg: &PgCatalog, script_id: i64, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let run = NewRun {
            script_id: Some(script_id),
            script_path: format!("python/{script_id}.py"),
            params: json!({}),
            ignored_params: vec![],
        };
        ids.push(
            pg.start_run(run, |id| id.to_string().into(), true)
                .await
                .unwrap(),
        );
    }
    ids
}

/// A catalog with scripts 1 (`python/a.py`) and 2 (`python/b.py`).
async fn catalog(cluster: &PgCluster) -> (tempfile::TempDir, PgCatalog) {
    let (dir, _sqlite, pg, _) = both(cluster).await;
    pg.apply_scan(
        vec![script_upsert("python/a.py"), script_upsert("python/b.py")],
        vec![],
    )
    .await
    .unwrap();
    (dir, pg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_claim_every_queued_run_exactly_once() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, pg) = catalog(&cluster).await;
    let mut queued = queue(&pg, 1, 250).await;
    queued.extend(queue(&pg, 2, 250).await);
    let mut workers = Vec::new();
    for n in 0..4 {
        let pg = pg.clone();
        workers.push(tokio::spawn(async move {
            let me = pg.register_worker("test", 100 + n, 8).await.unwrap();
            let mut mine = Vec::new();
            while let Some(run) = pg.claim_run(me, LEASE).await.unwrap() {
                assert_eq!(run.status, RunStatus::Running);
                assert!(run.started_at.is_some());
                mine.push(run.id);
            }
            (me, mine)
        }));
    }
    let mut claimed = Vec::new();
    let mut busy_workers = 0;
    for worker in workers {
        let (_, mine) = worker.await.unwrap();
        busy_workers += usize::from(!mine.is_empty());
        claimed.extend(mine);
    }
    let distinct: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 500, "no run was claimed twice");
    assert_eq!(
        distinct,
        queued.into_iter().collect(),
        "no run was left behind"
    );
    assert!(busy_workers >= 2, "the work was shared");
    let attempts = cluster.psql_in(
        &pg_url(&pg),
        "SELECT count(*) FROM runs WHERE status = 'running' AND attempt = 1",
    );
    assert_eq!(attempts, "500");
}

fn pg_url(pg: &PgCatalog) -> String {
    let config = &pg.config;
    let port = config.get_ports()[0];
    let database = config.get_dbname().unwrap();
    format!("postgres://sg@127.0.0.1:{port}/{database}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scripts_limit_holds_across_workers() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, pg) = catalog(&cluster).await;
    let limited = ScriptPatch {
        max_concurrent: Some(Some(2)),
        ..Default::default()
    };
    pg.patch_script(1, limited).await.unwrap();
    queue(&pg, 1, 10).await;
    let others = queue(&pg, 2, 3).await;
    let mut claims = Vec::new();
    for n in 0..4 {
        let pg = pg.clone();
        claims.push(tokio::spawn(async move {
            let me = pg.register_worker("test", n, 8).await.unwrap();
            let mut mine = Vec::new();
            while let Some(run) = pg.claim_run(me, LEASE).await.unwrap() {
                mine.push((run.id, run.script_id));
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap());
    }
    let of_script = |id| claimed.iter().filter(|(_, s)| *s == Some(id)).count();
    assert_eq!(
        of_script(1),
        2,
        "two of script 1 at once, whichever worker: {claimed:?}"
    );
    assert_eq!(
        of_script(2),
        3,
        "script 2 has no limit; its runs were not held up"
    );
    let others_claimed: BTreeSet<i64> = claimed
        .iter()
        .filter(|(_, s)| *s == Some(2))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(others_claimed, others.into_iter().collect());

    // One of script 1 ends: exactly one more of it can start.
    let (done, _) = claimed.iter().find(|(_, s)| *s == Some(1)).unwrap();
    pg.finish_run(*done, crate::catalog::builders::run_end(RunStatus::Success))
        .await
        .unwrap();
    let me = pg.register_worker("test", 9, 8).await.unwrap();
    let next = pg
        .claim_run(me, LEASE)
        .await
        .unwrap()
        .expect("a slot was free");
    assert_eq!(next.script_id, Some(1));
    assert!(pg.claim_run(me, LEASE).await.unwrap().is_none());
}

#[tokio::test]
async fn a_cancelled_queued_run_is_never_claimed_and_a_running_one_is_flagged() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, pg) = catalog(&cluster).await;
    let ids = queue(&pg, 1, 3).await;
    assert_eq!(
        pg.request_cancel(ids[0]).await.unwrap(),
        CancelOutcome::WasQueued
    );
    let cancelled = pg.run(ids[0]).await.unwrap().unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.error_code.as_deref(), Some("cancelled"));
    assert!(cancelled.finished_at.is_some());
    let me = pg.register_worker("test", 1, 4).await.unwrap();
    let claimed = pg.claim_run(me, LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, ids[1], "the cancelled one was skipped");
    assert_eq!(
        pg.request_cancel(ids[1]).await.unwrap(),
        CancelOutcome::Running
    );
    assert_eq!(
        pg.run(ids[1]).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    let beat = pg.heartbeat(me, LEASE).await.unwrap();
    assert_eq!(
        (beat.leased, beat.cancel_requested, beat.alive),
        (vec![ids[1]], vec![ids[1]], true)
    );
    assert_eq!(
        pg.request_cancel(ids[0]).await.unwrap(),
        CancelOutcome::NotActive
    );
    assert_eq!(
        pg.request_cancel(999).await.unwrap(),
        CancelOutcome::NotActive
    );
}

#[tokio::test]
async fn a_silent_workers_runs_are_interrupted_and_a_live_ones_are_not() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, pg) = catalog(&cluster).await;
    queue(&pg, 1, 4).await;
    let silent = pg.register_worker("gone", 1, 4).await.unwrap();
    let live = pg.register_worker("here", 2, 4).await.unwrap();
    let lost = [
        pg.claim_run(silent, LEASE).await.unwrap().unwrap().id,
        pg.claim_run(silent, LEASE).await.unwrap().unwrap().id,
    ];
    let kept = pg.claim_run(live, LEASE).await.unwrap().unwrap().id;
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.heartbeat(live, LEASE).await.unwrap();
    let silence = Duration::from_millis(200);
    let (a, b) = tokio::join!(
        pg.reap_silent_workers(silence),
        pg.reap_silent_workers(silence)
    );
    let mut reaped = [a.unwrap(), b.unwrap()];
    reaped.sort();
    assert_eq!(reaped, [vec![], lost.to_vec()], "one reaper, once");
    for id in lost {
        let run = pg.run(id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Interrupted);
        assert_eq!(run.error_code.as_deref(), Some("interrupted"));
    }
    assert_eq!(
        pg.run(kept).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    let beat = pg.heartbeat(silent, LEASE).await.unwrap();
    assert!(!beat.alive && beat.leased.is_empty(), "{beat:?}");
    assert!(pg.reap_silent_workers(silence).await.unwrap().is_empty());

    // A live worker whose lease ran out (its heartbeats did not reach the database) loses
    // its run too, and learns it from its next heartbeat.
    let short = pg
        .claim_run(live, Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap()
        .id;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        pg.reap_silent_workers(Duration::from_secs(60))
            .await
            .unwrap(),
        [short]
    );
    let beat = pg.heartbeat(live, LEASE).await.unwrap();
    assert_eq!((beat.alive, beat.leased), (true, vec![kept]));
    pg.stop_worker(live).await.unwrap();
    assert!(!pg.heartbeat(live, LEASE).await.unwrap().alive);
}
