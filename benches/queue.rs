//! The PostgreSQL catalog's cost: how many runs the shared queue lets workers claim and
//! finish per second (a no-op run: claim, then record its end) with 1, 2 and 4 workers, and
//! what a synchronous run through the gateway costs with its catalog on PostgreSQL against the
//! embedded SQLite default, side by side in one run. Needs Debian's PostgreSQL (it starts a
//! cluster of its own); says SKIPPED without it.
//!
//! `cargo bench --bench queue` (prints figures; asserts nothing about time).

#[path = "../tests/support/pg_cluster.rs"]
mod pg_cluster;
// Shared with the run bench, which uses the parts this one does not.
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use script_gateway::catalog::postgres::PgCatalog;
use script_gateway::catalog::{NewRun, RunEnd, RunStatus, ScriptUpsert};
use script_gateway::domain::{EntryKind, Runtime};
use support::{gateway_run, ms, percentile, time, Gateway};

const QUEUED: usize = 2000;
const SEQUENTIAL: usize = 100;
const LEASE: Duration = Duration::from_secs(30);
const SCRIPT: &str = r#"import json, sys
if "--_sys_get_schema" in sys.argv:
    print(json.dumps({"name": {"flag": "--name", "type": "str", "default": "x"}}))
    sys.exit(0)
print(json.dumps({"hello": sys.argv[2]}))
"#;

fn main() {
    let Some(cluster) = pg_cluster::PgCluster::start() else {
        println!("SKIPPED: the queue benchmark needs PostgreSQL");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    println!("== the shared queue: {QUEUED} no-op runs queued, then claimed and finished");
    println!("workers  submitted/s  claimed+finished/s");
    for workers in [1, 2, 4] {
        let url = cluster.create_database(&format!("sg_queue_{workers}"));
        let (submitted, drained) = runtime.block_on(drain(&url, workers));
        println!("{workers:>7}  {submitted:>11.0}  {drained:>18.0}");
    }

    println!(
        "\n== a synchronous Python run through the gateway, {SEQUENTIAL} sequential, interleaved"
    );
    let repo = tempfile::tempdir().expect("temp repo");
    std::fs::create_dir_all(repo.path().join("python")).unwrap();
    std::fs::write(repo.path().join("python/hello.py"), SCRIPT).unwrap();
    let (sqlite_data, pg_data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = cluster.create_database("sg_gateway");
    let embedded = Gateway::start(
        repo.path(),
        sqlite_data.path(),
        &["--execution-mode", "cold"],
    );
    let shared = Gateway::start(
        repo.path(),
        pg_data.path(),
        &["--execution-mode", "cold", "--database", &url],
    );
    let (a, b) = (
        embedded.run_url("python/hello.py", "?name=bench"),
        shared.run_url("python/hello.py", "?name=bench"),
    );
    for _ in 0..5 {
        gateway_run(&a);
        gateway_run(&b);
    }
    let (mut on_sqlite, mut on_pg) = (Vec::new(), Vec::new());
    for _ in 0..SEQUENTIAL {
        on_sqlite.push(time(|| gateway_run(&a)));
        on_pg.push(time(|| gateway_run(&b)));
    }
    let p50 = (percentile(&mut on_sqlite, 50), percentile(&mut on_pg, 50));
    let p95 = (percentile(&mut on_sqlite, 95), percentile(&mut on_pg, 95));
    println!("catalog     p50 ms   p95 ms");
    println!("SQLite    {:>8.2} {:>8.2}", ms(p50.0), ms(p95.0));
    println!("PostgreSQL{:>8.2} {:>8.2}", ms(p50.1), ms(p95.1));
    println!(
        "added by PostgreSQL: {:+.2} ms at p50",
        ms(p50.1) - ms(p50.0)
    );
}

/// Queues `QUEUED` runs, then lets `workers` workers claim and finish them all; returns the
/// submit rate and the drain rate, per second.
async fn drain(url: &str, workers: usize) -> (f64, f64) {
    let pg = PgCatalog::connect(url, "bench").await.expect("connect");
    let script = ScriptUpsert {
        path: "python/noop.py".into(),
        runtime: Runtime::Python,
        entry: EntryKind::Classic,
        name: "noop".into(),
        group_path: None,
        description: None,
        file_hash: "h".into(),
        file_size: 1,
        load: Some(Ok(serde_json::json!({}))),
    };
    pg.apply_scan(vec![script], vec![]).await.unwrap();
    let began = Instant::now();
    let submitters: Vec<_> = (0..4)
        .map(|_| {
            let pg = pg.clone();
            tokio::spawn(async move {
                for _ in 0..QUEUED / 4 {
                    let run = NewRun {
                        script_id: Some(1),
                        script_path: "python/noop.py".into(),
                        params: serde_json::json!({}),
                        ignored_params: vec![],
                    };
                    pg.start_run(run, |id| id.to_string().into(), true)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.await.unwrap();
    }
    let submitted = QUEUED as f64 / began.elapsed().as_secs_f64();
    let began = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|n| {
            let pg = pg.clone();
            tokio::spawn(async move {
                let me = pg.register_worker("bench", n as u32, 1).await.unwrap();
                let mut done = 0;
                while let Some(run) = pg.claim_run(me, LEASE).await.unwrap() {
                    pg.finish_run(run.id, noop_end()).await.unwrap();
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut finished = 0;
    for task in tasks {
        finished += task.await.unwrap();
    }
    assert_eq!(finished, QUEUED, "every run was claimed once");
    (submitted, QUEUED as f64 / began.elapsed().as_secs_f64())
}

fn noop_end() -> RunEnd {
    RunEnd {
        status: RunStatus::Success,
        exit_code: Some(0),
        duration_ms: 1,
        data: None,
        stdout_preview: None,
        output_file: None,
        output_size: None,
        output_content_type: None,
        stderr: String::new(),
        files: vec![],
        error_code: None,
        error_message: None,
        event_log: None,
    }
}
