//! 200 concurrent run requests of a 50 ms script against a limit of 4 running at once:
//! every request is answered (none 5xx, none lost), every run is recorded, and the total
//! time approaches 200 × 50 ms / 4.
//!
//! `cargo bench --bench load` (prints figures; asserts only correctness).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REQUESTS: usize = 200;
const LIMIT: usize = 4;
const SCRIPT_MS: u64 = 50;
const SCRIPT: &str = r#"import json, sys, time
if "--_sys_get_schema" in sys.argv:
    print(json.dumps({"i": {"flag": "--i", "type": "int", "required": True}}))
    sys.exit(0)
time.sleep(0.05)
print(json.dumps({"i": int(sys.argv[2])}))
"#;

fn main() {
    let repo = tempfile::tempdir().expect("temp repo");
    let data = tempfile::tempdir().expect("temp data");
    std::fs::create_dir_all(repo.path().join("python")).unwrap();
    std::fs::write(repo.path().join("python/sleepy.py"), SCRIPT).unwrap();
    let mut gateway = start(repo.path(), data.path());
    let address = read_address(&mut gateway);

    let statuses = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let url = format!("{address}/api/scripts/1/run?i={i}");
            let statuses = statuses.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(120))
                    .build();
                let outcome = match agent.get(&url).call() {
                    Ok(response) => {
                        let body: serde_json::Value = response.into_json().unwrap_or_default();
                        if body["data"]["i"] == i {
                            200
                        } else {
                            0
                        }
                    }
                    Err(ureq::Error::Status(code, _)) => code,
                    Err(_) => 1,
                };
                statuses.lock().unwrap().push(outcome);
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().expect("client"));
    let elapsed = started.elapsed();

    let statuses = statuses.lock().unwrap();
    let count = |code: u16| statuses.iter().filter(|s| **s == code).count();
    let runs: serde_json::Value =
        ureq::get(&format!("{address}/api/runs?page_size=1&status=success"))
            .call()
            .expect("history")
            .into_json()
            .expect("json");
    let ideal = Duration::from_millis(REQUESTS as u64 * SCRIPT_MS / LIMIT as u64);
    println!("== {REQUESTS} concurrent requests, {SCRIPT_MS} ms script, {LIMIT} running at once");
    println!("answered 200 with the right data : {}", count(200));
    println!("answered 429 (queue full)        : {}", count(429));
    println!(
        "5xx                              : {}",
        statuses.iter().filter(|s| (500..600).contains(*s)).count()
    );
    println!("wrong data or no answer          : {}", count(0) + count(1));
    println!("successful runs recorded         : {}", runs["total"]);
    println!(
        "total time {:.2} s; sleep-bound ideal {:.2} s; ratio {:.2}",
        elapsed.as_secs_f64(),
        ideal.as_secs_f64(),
        elapsed.as_secs_f64() / ideal.as_secs_f64()
    );
    println!("(each run also pays the interpreter's start-up, ≈ 20–30 ms of CPU on 2 cores)");
    let _ = gateway.kill();
    let _ = gateway.wait();
    assert_eq!(
        count(200),
        REQUESTS,
        "every request must succeed with its own data"
    );
}

fn start(repo: &std::path::Path, data: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_script-gateway"))
        .args([
            "serve",
            "--port",
            "0",
            "--scan-interval-sec",
            "0",
            "--log",
            "warn",
            // Cold starts: what this bench measures is the queue under interpreter starts.
            "--execution-mode",
            "cold",
        ])
        .args([
            "--max-concurrent-runs",
            &LIMIT.to_string(),
            "--max-queued-runs",
            &REQUESTS.to_string(),
        ])
        .arg("--scripts-repo")
        .arg(repo)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .spawn()
        .expect("gateway starts")
}

fn read_address(gateway: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(gateway.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("listening line");
    line.trim()
        .strip_prefix("listening on ")
        .expect("listening on ...")
        .to_string()
}
