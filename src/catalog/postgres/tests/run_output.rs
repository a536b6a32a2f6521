//! A run's events and files in PostgreSQL: written by one node, read and heard by another,
//! gone with the run.

use std::time::Duration;

use serde_json::json;

use super::{both, PgCluster};
use crate::catalog::builders::{run_end, script_upsert};
use crate::catalog::postgres::{FileRole, Notice, PgCatalog, StoredEvent, RUN_EVENTS_CHANNEL};
use crate::catalog::{NewRun, RunStatus};

fn event(seq: i64, event: &str, data: &str) -> StoredEvent {
    StoredEvent {
        seq,
        event: event.into(),
        data: data.into(),
    }
}

#[tokio::test]
async fn a_runs_events_and_files_are_shared_between_nodes_and_go_with_the_run() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, _sqlite, worker, url) = both(&cluster).await;
    let api = PgCatalog::connect(&url, "api").await.unwrap();
    worker
        .apply_scan(vec![script_upsert("python/a.py")], vec![])
        .await
        .unwrap();
    let new = NewRun {
        script_id: Some(1),
        script_path: "python/a.py".into(),
        params: json!({}),
        ignored_params: vec![],
    };
    let run = worker
        .start_run(new, |id| id.to_string().into(), false)
        .await
        .unwrap();
    let listener = api.listen(&[RUN_EVENTS_CHANNEL]).await.unwrap();
    let mut heard = listener.subscribe();

    worker
        .append_run_events(
            run,
            vec![event(1, "stdout", "one"), event(2, "stderr", "two\0nul")],
        )
        .await
        .unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        notice,
        Notice::Message {
            channel: RUN_EVENTS_CHANNEL.into(),
            payload: run.to_string()
        }
    );
    worker
        .append_run_events(run, vec![event(3, "stdout", "three")])
        .await
        .unwrap();
    worker.append_run_events(run, vec![]).await.unwrap();
    assert!(
        worker
            .append_run_events(run, vec![event(3, "stdout", "again")])
            .await
            .is_err(),
        "a sequence number is stored once"
    );
    assert_eq!(
        api.run_events_after(run, 0, 100).await.unwrap(),
        [
            event(1, "stdout", "one"),
            event(2, "stderr", "two\0nul"),
            event(3, "stdout", "three")
        ]
    );
    assert_eq!(
        api.run_events_after(run, 1, 1).await.unwrap(),
        [event(2, "stderr", "two\0nul")]
    );
    assert!(api.run_events_after(run, 3, 100).await.unwrap().is_empty());

    let binary: Vec<u8> = (0..=255).collect();
    worker
        .put_run_files(
            run,
            FileRole::Output,
            vec![
                ("b.bin".into(), binary.clone()),
                ("a.csv".into(), b"x,y\n".to_vec()),
            ],
        )
        .await
        .unwrap();
    worker
        .put_run_files(
            run,
            FileRole::Output,
            vec![("a.csv".into(), b"x,y\n1,2\n".to_vec())],
        )
        .await
        .unwrap();
    worker
        .put_run_files(
            run,
            FileRole::Input,
            vec![("in.txt".into(), b"hi".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!(
        api.run_file_list(run, FileRole::Output).await.unwrap(),
        [("a.csv".to_string(), 8), ("b.bin".to_string(), 256)]
    );
    assert_eq!(
        api.run_file(run, FileRole::Output, "b.bin".into())
            .await
            .unwrap(),
        Some(binary)
    );
    assert_eq!(
        api.run_file(run, FileRole::Input, "b.bin".into())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        api.run_file(run, FileRole::Input, "in.txt".into())
            .await
            .unwrap(),
        Some(b"hi".to_vec())
    );

    api.finish_run(run, run_end(RunStatus::Success))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let pruned = api.delete_runs_older_than(Duration::ZERO).await.unwrap();
    assert_eq!(pruned.len(), 1);
    assert!(api.run_events_after(run, 0, 100).await.unwrap().is_empty());
    assert!(api
        .run_file_list(run, FileRole::Output)
        .await
        .unwrap()
        .is_empty());
}
