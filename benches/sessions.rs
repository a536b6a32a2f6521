//! Interpreter sessions and ad-hoc runs: a trivial `execute` in a live session, a one-shot
//! `/api/interpreter/execute`, the same code through `POST /api/exec` and as a script run (warm
//! and cold), side by side with a direct spawn of the same interpreter.
//!
//! `cargo bench --bench sessions` (prints figures; asserts nothing about time).

// Shared with the run bench, which uses the parts this one does not.
#[allow(dead_code)]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::{gateway_run, ms, percentile, real_python, time, Gateway};

const SAMPLES: usize = 100;
const SCRIPT: &str = r#"import json, sys
if "--_sys_get_schema" in sys.argv:
    print(json.dumps({}))
    sys.exit(0)
print(json.dumps(1 + 1))
"#;

fn post(url: &str, body: &Value) -> Value {
    ureq::post(url)
        .send_json(body.clone())
        .expect("the gateway answers")
        .into_json()
        .expect("json")
}

fn p50(mut samples: Vec<Duration>) -> String {
    format!(
        "p50 {:6.2} ms   p95 {:6.2} ms",
        ms(percentile(&mut samples, 50)),
        ms(percentile(&mut samples, 95))
    )
}

fn main() {
    let repo = tempfile::tempdir().expect("temp repo");
    let data = tempfile::tempdir().expect("temp data");
    std::fs::create_dir_all(repo.path().join("python")).unwrap();
    std::fs::write(repo.path().join("python/two.py"), SCRIPT).unwrap();
    let gateway = Gateway::start(repo.path(), data.path(), &["--exec-enabled"]);
    let base = gateway.address.clone();

    let session = post(
        &format!("{base}/api/sessions"),
        &json!({"runtime": "python"}),
    );
    let id = session["id"].as_str().expect("a session id").to_string();
    let execute = format!("{base}/api/sessions/{id}/execute");
    let trivial = json!({"code": "1 + 1"});
    for _ in 0..10 {
        assert_eq!(post(&execute, &trivial)["result"], "2");
    }
    let in_session: Vec<Duration> = (0..SAMPLES)
        .map(|_| time(|| assert_eq!(post(&execute, &trivial)["status"], "ok")))
        .collect();

    let one_shot_url = format!("{base}/api/interpreter/execute");
    let one_shot_body = json!({"code": "print(1 + 1)"});
    let one_shot: Vec<Duration> = (0..SAMPLES / 4)
        .map(|_| time(|| assert_eq!(post(&one_shot_url, &one_shot_body)["stdout"], "2\n")))
        .collect();

    let exec_url = format!("{base}/api/exec");
    let exec_body = json!({"runtime": "python", "code": "import json\nprint(json.dumps(1 + 1))"});
    let exec_once = |url: &str| assert_eq!(post(url, &exec_body)["data"], 2);
    for _ in 0..5 {
        exec_once(&exec_url);
    }
    let exec: Vec<Duration> = (0..SAMPLES)
        .map(|_| time(|| exec_once(&exec_url)))
        .collect();

    let run_url = gateway.run_url("python/two.py", "");
    for _ in 0..5 {
        gateway_run(&run_url);
    }
    let warm_run: Vec<Duration> = (0..SAMPLES)
        .map(|_| time(|| gateway_run(&run_url)))
        .collect();
    drop(gateway);

    let cold_data = tempfile::tempdir().expect("temp data");
    let cold = Gateway::start(
        repo.path(),
        cold_data.path(),
        &["--execution-mode", "cold", "--exec-enabled"],
    );
    let cold_url = cold.run_url("python/two.py", "");
    gateway_run(&cold_url);
    let cold_run: Vec<Duration> = (0..SAMPLES / 4)
        .map(|_| time(|| gateway_run(&cold_url)))
        .collect();
    let cold_exec_url = format!("{}/api/exec", cold.address);
    exec_once(&cold_exec_url);
    let cold_exec: Vec<Duration> = (0..SAMPLES / 4)
        .map(|_| time(|| exec_once(&cold_exec_url)))
        .collect();
    drop(cold);

    let python = real_python();
    let direct: Vec<Duration> = (0..SAMPLES / 4)
        .map(|_| {
            time(|| {
                let status = Command::new(&python)
                    .args(["-c", "print(1 + 1)"])
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .stdout(Stdio::null())
                    .status()
                    .expect("python runs");
                assert!(status.success());
            })
        })
        .collect();

    println!(
        "== `1 + 1` through a session, a one-shot interpreter, an ad-hoc run and a script run"
    );
    println!(
        "execute in a live session      {}   (goal p50 <= 2 ms)",
        p50(in_session)
    );
    println!(
        "one-shot /interpreter/execute  {}   (a session started and ended per call)",
        p50(one_shot)
    );
    println!(
        "ad-hoc run, warm (default)     {}   (POST /api/exec, recorded like a run)",
        p50(exec)
    );
    println!("script run, warm (default)     {}", p50(warm_run));
    println!("ad-hoc run, cold               {}", p50(cold_exec));
    println!("script run, cold               {}", p50(cold_run));
    println!(
        "direct spawn of python3 -c     {}   (the floor of a fresh interpreter)",
        p50(direct)
    );
}
