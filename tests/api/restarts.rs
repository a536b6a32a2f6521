//! Safe restarts: SIGTERM lets runs in flight finish within the grace period, then stops and
//! records the rest as `interrupted`; after a crash (kill -9) the next start marks what was
//! left running or queued as `interrupted` and kills the processes it left behind.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::async_support::{
    item_run_id, line_pairs, open_events, pids_with, processes_gone, sleeper, spawn_owned,
    unique_marker, wait_for_processes, OwnedGateway, Reaper, SLEEPER_PATH,
};
use crate::helpers::{data_dir, spawn_app, wait_until, TestApp, TestRepo, WAIT};
use crate::run_support::{assert_success, crash_gateway, gateway_pid, python, run_dir, script_id};

fn sleeper_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(SLEEPER_PATH, &sleeper());
    repo
}

/// Whether a new run request is turned away (connection refused or reset, or 503).
fn refuses_new_runs(gateway: &OwnedGateway, script: i64) -> bool {
    match gateway.try_call(
        "GET",
        &format!("/api/scripts/{script}/run?value=late"),
        None,
    ) {
        Err(_) => true,
        Ok((503, body)) => {
            assert_eq!(body["error"]["code"], json!("shutting_down"), "{body}");
            true
        }
        Ok(_) => false,
    }
}

/// `GET /api/runs/{id}` on a restarted gateway.
fn run_after_restart(app: &TestApp, run_id: i64) -> Value {
    let (status, run) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "run {run_id} after the restart: {run}");
    run
}

#[test]
fn sigterm_lets_a_run_in_flight_finish_and_exits_0() {
    a_signal_lets_a_run_in_flight_finish_and_exits_0(Signal::SIGTERM);
}

#[test]
fn sigint_lets_a_run_in_flight_finish_and_exits_0() {
    a_signal_lets_a_run_in_flight_finish_and_exits_0(Signal::SIGINT);
}

fn a_signal_lets_a_run_in_flight_finish_and_exits_0(signal: Signal) {
    let repo = sleeper_repo();
    let data = data_dir();
    let mut gateway = spawn_owned(&repo, data.path(), &["--shutdown-grace-sec", "5"]);
    let id = gateway.script_id(SLEEPER_PATH);

    let (answer, run_id, signalled) = std::thread::scope(|scope| {
        let gateway_ref = &gateway;
        let client = scope.spawn(move || {
            gateway_ref.call(
                "GET",
                &format!("/api/scripts/{id}/run?seconds=1&value=in-flight"),
                None,
            )
        });
        let items = gateway.wait_active("the run in flight", |items| {
            items.len() == 1 && items[0]["status"] == json!("running")
        });
        gateway.signal(signal);
        let signalled = Instant::now();
        assert!(
            wait_until(Duration::from_secs(3), || refuses_new_runs(&gateway, id)),
            "after {signal} new runs are turned away"
        );
        let answer = client.join().expect("no panic");
        (answer, item_run_id(&items[0]), signalled)
    });
    let (status, body) = answer;
    assert_success(&format!("the run in flight during {signal}"), status, &body);
    assert_eq!(body["run_id"], json!(run_id), "{body}");
    assert_eq!(
        body["data"],
        json!({"value": "in-flight", "slept": 1.0}),
        "{body}"
    );
    let exit = gateway
        .exit_within(Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "the gateway still runs after {signal}; stderr:\n{}",
                gateway.stderr()
            )
        });
    assert!(
        exit.success(),
        "exit status after {signal}: {exit:?}; stderr:\n{}",
        gateway.stderr()
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "it exits once the run ended, not at the end of the grace period: {:?}",
        signalled.elapsed()
    );
    drop(gateway);

    let app = spawn_app(&repo, data.path(), &[]);
    let run = run_after_restart(&app, run_id);
    assert_eq!(run["status"], json!("success"), "{run}");
    let (_, body) = app.get("/api/runs?page_size=100");
    let statuses: Vec<&Value> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert!(
        statuses.iter().all(|s| **s == json!("success")),
        "no run was cut short or left unfinished: {body}"
    );
}

#[test]
fn sigterm_stops_a_run_longer_than_the_grace_period_and_records_it_interrupted() {
    let repo = sleeper_repo();
    let data = data_dir();
    let mut gateway = spawn_owned(
        &repo,
        data.path(),
        &["--shutdown-grace-sec", "1", "--max-concurrent-runs", "1"],
    );
    let id = gateway.script_id(SLEEPER_PATH);
    let marker = unique_marker("grace");
    let _reaper = Reaper(marker.clone());

    let (answer, run_id, queued, signalled) = std::thread::scope(|scope| {
        let gateway_ref = &gateway;
        let path = format!("/api/scripts/{id}/run?seconds=30&child_seconds=30&marker={marker}");
        let client = scope.spawn(move || gateway_ref.try_call("GET", &path, None));
        wait_for_processes(&marker, 2, "the script and its grandchild");
        let items = gateway.wait_active("the run in flight", |items| items.len() == 1);
        let (status, body) = gateway.call(
            "GET",
            &format!("/api/scripts/{id}/run?value=queued&async=true"),
            None,
        );
        assert_eq!((status, &body["queued"]), (202, &json!(true)), "{body}");
        gateway.signal(Signal::SIGTERM);
        let signalled = Instant::now();
        let queued = body["run_id"].as_i64().expect("a run id");
        (
            client.join().expect("no panic"),
            item_run_id(&items[0]),
            queued,
            signalled,
        )
    });
    let exit = gateway
        .exit_within(Duration::from_secs(20))
        .unwrap_or_else(|| {
            panic!(
                "the gateway still runs after SIGTERM; stderr:\n{}",
                gateway.stderr()
            )
        });
    let took = signalled.elapsed();
    assert!(
        exit.success(),
        "exit status after SIGTERM: {exit:?}; stderr:\n{}",
        gateway.stderr()
    );
    assert!(
        took < Duration::from_secs(10),
        "a 1 s grace period, yet it took {took:?} to exit"
    );
    assert!(
        processes_gone(&marker, Duration::from_secs(5)),
        "the run's processes outlive the gateway: {:?}",
        pids_with(&marker)
    );
    let (status, body) = answer.unwrap_or_else(|e| {
        panic!(
            "the waiting client got no answer ({e}); stderr:\n{}",
            gateway.stderr()
        )
    });
    assert_eq!(
        status, 200,
        "the waiting client hears how its run ended: {body}"
    );
    assert_eq!(body["status"], json!("error"), "{body}");
    assert_eq!(body["run_status"], json!("interrupted"), "{body}");
    assert_eq!(body["error"]["code"], json!("interrupted"), "{body}");
    drop(gateway);

    let app = spawn_app(&repo, data.path(), &[]);
    let run = run_after_restart(&app, run_id);
    assert_eq!(run["status"], json!("interrupted"), "{run}");
    assert_eq!(run["error"]["code"], json!("interrupted"), "{run}");
    assert!(run["finished_at"].is_string(), "{run}");
    let run = run_after_restart(&app, queued);
    assert_eq!(run["status"], json!("interrupted"), "{run}");
    assert_eq!(
        run["started_at"],
        Value::Null,
        "a queued run is not started during shutdown: {run}"
    );
    let (_, body) = app.get("/api/scripts/running");
    assert_eq!(body["items"], json!([]), "{body}");
}

#[test]
fn after_kill_9_the_next_start_marks_left_runs_interrupted_and_kills_their_processes() {
    let repo = sleeper_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--max-concurrent-runs", "1"]);
    let id = script_id(&app, SLEEPER_PATH);
    let marker = unique_marker("crash");
    let _reaper = Reaper(marker.clone());

    let start = |query: &str| {
        let reply = app.call(
            "GET",
            &format!("/api/scripts/{id}/run?{query}&async=true"),
            &[],
            None,
        );
        assert_eq!(reply.status, 202, "{}", reply.body);
        reply.body["run_id"].as_i64().expect("a run id")
    };
    let running = start(&format!("seconds=30&child_seconds=30&marker={marker}"));
    let queued = start("seconds=0.1&value=queued");
    let scripts = wait_for_processes(&marker, 2, "the script and its grandchild");
    let (_, view) = app.get(&format!("/api/runs/{queued}"));
    assert_eq!(view["status"], json!("queued"), "{view}");

    crash_gateway(data.path());
    assert_eq!(
        pids_with(&marker).len(),
        scripts.len(),
        "precondition: the crash left the run's processes running"
    );

    let app = app.restart();
    assert!(
        processes_gone(&marker, Duration::from_secs(5)),
        "the restart kills the processes a crashed gateway left: {:?}",
        pids_with(&marker)
    );
    let run = run_after_restart(&app, running);
    assert_eq!(run["status"], json!("interrupted"), "{run}");
    assert_eq!(run["error"]["code"], json!("interrupted"), "{run}");
    assert!(
        run["started_at"].is_string() && run["finished_at"].is_string(),
        "{run}"
    );
    let run = run_after_restart(&app, queued);
    assert_eq!(run["status"], json!("interrupted"), "{run}");
    assert_eq!(
        run["started_at"],
        Value::Null,
        "the queued run never started: {run}"
    );
    let (_, body) = app.get("/api/scripts/running");
    assert_eq!(body["items"], json!([]), "{body}");
    let (_, health) = app.get("/health");
    assert_eq!(
        health["runs"],
        json!({"running": 0, "queued": 0}),
        "{health}"
    );

    // Nothing is left inconsistent: the one slot is free again.
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?value=after-crash"));
    assert_success("a run after the restart", status, &body);
    assert_eq!(
        body["data"],
        json!({"value": "after-crash", "slept": 0.0}),
        "{body}"
    );
}

/// The script itself may end while the gateway is down; what it started is still the run's
/// and must not be left orphaned.
#[test]
fn after_kill_9_the_restart_also_kills_a_grandchild_whose_script_already_ended() {
    let repo = sleeper_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, SLEEPER_PATH);
    let marker = unique_marker("orphan");
    let _reaper = Reaper(marker.clone());
    let reply = app.call(
        "GET",
        &format!("/api/scripts/{id}/run?seconds=1&child_seconds=30&marker={marker}&async=true"),
        &[],
        None,
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    let run_id = reply.body["run_id"].as_i64().expect("a run id");
    wait_for_processes(&marker, 2, "the script and its grandchild");

    let gateway = gateway_pid(data.path());
    kill(Pid::from_raw(gateway as i32), Signal::SIGKILL).expect("the gateway can be killed");
    assert!(
        wait_until(WAIT, || pids_with(&marker).len() == 1),
        "precondition: the script ended while the gateway was down, its grandchild did not: {:?}",
        pids_with(&marker)
    );

    let app = app.restart();
    let run = run_after_restart(&app, run_id);
    assert_eq!(run["status"], json!("interrupted"), "{run}");
    assert!(
        processes_gone(&marker, Duration::from_secs(5)),
        "the restart leaves the run's grandchild running (its process group outlived its leader): {:?}",
        pids_with(&marker)
    );
}

/// A finished run's printed lines are replayed exactly, also by a restarted gateway: a short
/// log is kept in the run's record, a long one (past 16 KiB) as a file in its folder.
#[test]
fn printed_lines_replay_exactly_after_a_restart_short_and_long() {
    let repo = TestRepo::new();
    let printer = |count: usize| {
        python(
            &json!({}),
            &format!(
                "for i in range({count}):\n    print(f'line {{i:05}} ' + 'x' * 40)\n\
                 sys.stderr.write('done\\n')"
            ),
        )
    };
    repo.write("python/short.py", &printer(3));
    repo.write("python/long.py", &printer(2_000));
    let data = data_dir();
    let replay = |app: &TestApp, run_id: i64| {
        let mut events = open_events(app, &format!("/api/runs/{run_id}/events"), &[]);
        assert_eq!(events.status, 200, "events of run {run_id}");
        line_pairs(&events.until_end(WAIT))
    };
    let mut runs = Vec::new();
    {
        let app = spawn_app(&repo, data.path(), &[]);
        for (path, count) in [("python/short.py", 3), ("python/long.py", 2_000)] {
            let id = script_id(&app, path);
            let (status, body) = app.get(&format!("/api/scripts/{id}/run"));
            assert_eq!(status, 200, "{path}: {body}");
            let run_id = body["run_id"].as_i64().expect("the answer names its run");
            let lines = replay(&app, run_id);
            // stdout and stderr are separate pipes: only each stream's own order is fixed.
            let stream = |name: &str| -> Vec<String> {
                lines
                    .iter()
                    .filter(|(s, _)| s == name)
                    .map(|(_, l)| l.clone())
                    .collect()
            };
            let printed: Vec<String> = (0..count)
                .map(|i| format!("line {i:05} {}", "x".repeat(40)))
                .collect();
            assert_eq!(stream("stdout"), printed, "{path}");
            assert_eq!(stream("stderr"), ["done"], "{path}");
            runs.push((path, run_id, lines));
        }
        assert!(
            run_dir(data.path(), runs[1].1)
                .join("events.jsonl")
                .is_file(),
            "a long log is a file in the run's folder"
        );
        assert!(
            !run_dir(data.path(), runs[0].1)
                .join("events.jsonl")
                .exists(),
            "a short log lives in the record, not in a file"
        );
    }
    let app = spawn_app(&repo, data.path(), &[]);
    for (path, run_id, before) in runs {
        assert_eq!(replay(&app, run_id), before, "{path} after a restart");
    }
}
