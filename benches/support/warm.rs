//! Warm runs (forked from a fork server) side by side with cold runs and with a direct
//! spawn of the same interpreter, in the same bench run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    gateway_run, ms, percentile, print_cpu, ratio, throughput, time, Cpu, Direct, Gateway,
};

/// A script whose import takes most of a second cold: sympy, from PyPI.
pub const HEAVY: &str = r#"import json, sys
if "--_sys_get_schema" in sys.argv:
    print(json.dumps({}))
    sys.exit(0)
import sympy
print(json.dumps({"root": str(sympy.sqrt(8))}))
"#;

/// A trivial Node.js script, for the pre-started node pool.
pub const NODE_HELLO: &str = r#"if (process.argv.includes('--_sys_get_schema')) {
  console.log(JSON.stringify({ name: { flag: '--name', type: 'str', default: 'x' } }));
  process.exit(0);
}
console.log(JSON.stringify({ hello: process.argv[3] }));
"#;

const SEQUENTIAL: usize = 100;
const BATCH: usize = 10;
const NODE_RUNS: usize = 40;
const CONCURRENT_TOTAL: usize = 200;
const CONCURRENCY: usize = 4;
const ROUNDS: usize = 5;
const HEAVY_RUNS: usize = 10;

pub fn compare(repo: &Path, direct: &Arc<Direct>, cold: &Gateway) {
    let data = tempfile::tempdir().expect("temp data");
    let warm = Gateway::start(repo, data.path(), &["--execution-mode", "warm"]);
    let hello_warm = warm.run_url("python/hello.py", "?name=bench");
    let hello_cold = cold.run_url("python/hello.py", "?name=bench");
    settle(&warm, &hello_warm);

    println!(
        "== warm execution: trivial Python run, {SEQUENTIAL} sequential runs each, interleaved"
    );
    let (mut direct_times, mut warm_times) = (Vec::new(), Vec::new());
    let mut warm_cpu = Cpu::default();
    for _ in 0..SEQUENTIAL {
        direct_times.push(time(|| direct.run()));
        let before = warm.cpu();
        warm_times.push(time(|| gateway_run(&hello_warm)));
        warm_cpu = warm_cpu.plus(warm.cpu().minus(before));
    }
    let (d50, d95) = (
        percentile(&mut direct_times, 50),
        percentile(&mut direct_times, 95),
    );
    let (w50, w95) = (
        percentile(&mut warm_times, 50),
        percentile(&mut warm_times, 95),
    );
    println!(
        "direct spawn   p50 {:6.1} ms   p95 {:6.1} ms",
        ms(d50),
        ms(d95)
    );
    println!("warm gateway   p50 {:6.1} ms   p95 {:6.1} ms   (HTTP, validation, run folder, history, fork)", ms(w50), ms(w95));
    println!(
        "ratio          p50 {:.3}x      p95 {:.3}x   (goal p50 <= 0.2x direct)",
        ratio(w50, d50),
        ratio(w95, d95)
    );
    print_cpu(Cpu::default(), warm_cpu, SEQUENTIAL);

    // One by one, every warm run follows a 35 ms interpreter start that evicts the caches the
    // gateway and the fork server were using: a gateway serving requests back to back does
    // not pay that. Alternating batches still share any drift of the machine's speed.
    println!("== the same, in alternating batches of {BATCH} (direct, then warm)");
    let (mut direct_times, mut warm_times) = (Vec::new(), Vec::new());
    for _ in 0..SEQUENTIAL / BATCH {
        direct_times.extend((0..BATCH).map(|_| time(|| direct.run())));
        warm_times.extend((0..BATCH).map(|_| time(|| gateway_run(&hello_warm))));
    }
    let (d50, w50) = (
        percentile(&mut direct_times, 50),
        percentile(&mut warm_times, 50),
    );
    println!(
        "direct spawn   p50 {:6.1} ms   warm gateway p50 {:6.1} ms   ratio {:.3}x   (goal p50 <= 0.2x direct)",
        ms(d50),
        ms(w50),
        ratio(w50, d50)
    );

    println!("== warm against cold through the gateway: {CONCURRENT_TOTAL} runs at concurrency {CONCURRENCY}, {ROUNDS} alternating rounds");
    let (mut cold_time, mut warm_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        for (url, total) in [(&hello_cold, &mut cold_time), (&hello_warm, &mut warm_time)] {
            let url = Arc::new(url.clone());
            let (elapsed, _) = throughput(CONCURRENT_TOTAL / ROUNDS, CONCURRENCY, move || {
                gateway_run(&url);
                Cpu::default()
            });
            *total += elapsed;
        }
    }
    let rate = |elapsed: Duration| CONCURRENT_TOTAL as f64 / elapsed.as_secs_f64();
    let (cold_rate, warm_rate) = (rate(cold_time), rate(warm_time));
    println!("cold gateway   {cold_rate:6.1} runs/s");
    println!(
        "warm gateway   {warm_rate:6.1} runs/s   ({:.2}x cold; goal >= 4x)",
        warm_rate / cold_rate
    );

    heavy(&warm, cold);
    node(repo, &warm);
    let report = warm.warm();
    for server in report["servers"].as_array().into_iter().flatten() {
        println!(
            "fork server pid {}: {:.1} MB resident, {} runs, {} modules preloaded",
            server["pid"],
            server["rss_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
            server["runs"],
            server["preloaded"].as_array().map_or(0, Vec::len)
        );
    }
    println!(
        "warm starts {}, cold starts in warm mode {}",
        report["warm_starts"], report["cold_starts"]
    );
}

/// Runs until the server preloads what the script imports (its first runs start cold and
/// teach it), then a few more.
fn settle(gateway: &Gateway, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut warm_in_a_row = 0;
    while warm_in_a_row < 5 && Instant::now() < deadline {
        let before = gateway.warm()["warm_starts"].as_u64().unwrap_or(0);
        gateway_run(url);
        let after = gateway.warm()["warm_starts"].as_u64().unwrap_or(0);
        warm_in_a_row = if after > before { warm_in_a_row + 1 } else { 0 };
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn heavy(warm: &Gateway, cold: &Gateway) {
    let available = std::process::Command::new("python3")
        .args(["-c", "import sympy"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !available {
        println!(
            "== heavy import: SKIPPED (sympy is not installed for python3: pip install sympy)"
        );
        return;
    }
    println!("== heavy import (sympy), {HEAVY_RUNS} runs each");
    let cold_url = cold.run_url("python/heavy.py", "");
    let warm_url = warm.run_url("python/heavy.py", "");
    settle(warm, &warm_url);
    let preloaded = warm.warm()["servers"].as_array().is_some_and(|s| {
        s.iter()
            .any(|s| s["preloaded"].to_string().contains("\"sympy\""))
    });
    let mut cold_times: Vec<Duration> = (0..HEAVY_RUNS)
        .map(|_| time(|| gateway_run(&cold_url)))
        .collect();
    let mut warm_times: Vec<Duration> = (0..HEAVY_RUNS)
        .map(|_| time(|| gateway_run(&warm_url)))
        .collect();
    let (c50, w50) = (
        percentile(&mut cold_times, 50),
        percentile(&mut warm_times, 50),
    );
    println!("cold gateway   p50 {:7.1} ms", ms(c50));
    println!(
        "warm gateway   p50 {:7.1} ms   ({:.1}x faster; goal >= 10x; sympy preloaded: {preloaded})",
        ms(w50),
        ratio(c50, w50)
    );
}

/// Node hello through the pre-started pool against `node` started directly (same clean
/// environment), one at a time with a pause, so the pool has refilled: low load.
fn node(repo: &Path, warm: &Gateway) {
    println!("== Node.js hello, {NODE_RUNS} runs each at low load (pre-started node against a direct spawn)");
    let script = repo.join("js/hello.js");
    let folder = tempfile::tempdir().expect("run folder");
    let direct_node = || {
        let out = std::process::Command::new("node")
            .arg(&script)
            .args(["--name", "bench"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("HOME", folder.path())
            .env("TMPDIR", folder.path())
            .current_dir(folder.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("direct node");
        assert!(out.status.success());
    };
    let url = warm.run_url("js/hello.js", "?name=bench");
    for _ in 0..3 {
        gateway_run(&url);
        std::thread::sleep(Duration::from_millis(300));
    }
    let (mut direct_times, mut warm_times) = (Vec::new(), Vec::new());
    for _ in 0..NODE_RUNS {
        direct_times.push(time(direct_node));
        warm_times.push(time(|| gateway_run(&url)));
        std::thread::sleep(Duration::from_millis(150));
    }
    let (d50, w50) = (
        percentile(&mut direct_times, 50),
        percentile(&mut warm_times, 50),
    );
    println!("direct node    p50 {:6.1} ms", ms(d50));
    println!(
        "warm gateway   p50 {:6.1} ms   ({:.3}x direct; goal <= 0.5x)",
        ms(w50),
        ratio(w50, d50)
    );
}
