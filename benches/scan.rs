//! Scan and watch figures for the release-built gateway, run with `cargo bench --bench scan`.
//!
//! Prints numbers and asserts nothing about timing:
//! a. save → visible: a new script appears in `GET /api/scripts` after the watcher picks it up;
//! b. rescanning 1,000 unchanged scripts (must start zero subprocesses), and their cold first scan;
//! c. a cold `script-gateway scan` of 200 scripts against bare `python3 script --_sys_get_schema`;
//! d. the idle resident memory of a serving gateway.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const GATEWAY: &str = env!("CARGO_BIN_EXE_script-gateway");
const SAVES: usize = 20;
const UNCHANGED_SCRIPTS: usize = 1_000;
const RESCANS: usize = 5;
const COLD_SCRIPTS: usize = 200;
const POLL_EVERY: Duration = Duration::from_millis(5);

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let python = Python::find()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ScriptGateway scan benchmarks: {cores} cores, Python {} ({}), binary {GATEWAY}",
        python.version,
        python.executable.display()
    );
    println!("load average before: {}", load_average());
    let started = Instant::now();
    save_to_visible()?;
    rescan_unchanged()?;
    cold_scan_against_bare_python(&python, cores)?;
    println!(
        "load average after: {} (figures are only comparable on an otherwise idle machine); total {}",
        load_average(),
        secs(started.elapsed())
    );
    Ok(())
}

/// The 1, 5 and 15 minute load averages from /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// a. and d.: a gateway over the example scripts; new files are picked up by the watcher.
fn save_to_visible() -> BenchResult<()> {
    let (repo, data) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts_repo");
    copy_scripts(&examples, repo.path())?;
    let gateway = Gateway::start(repo.path(), data.path())?;
    let rss_idle = gateway.rss_mb()?;
    let listed = gateway.get("/api/scripts?page_size=500")?["total"].clone();

    let mut latencies = Vec::with_capacity(SAVES);
    for i in 0..SAVES {
        let name = format!("bench_save_{i:02}");
        let started = Instant::now();
        write_script(
            &repo.path().join("python").join(format!("{name}.py")),
            &name,
        )?;
        gateway.wait_until_listed(&name, Duration::from_secs(10))?;
        latencies.push(started.elapsed());
    }
    let rss_after = gateway.rss_mb()?;
    println!(
        "a. save -> visible ({SAVES} new scripts, default 100 ms watch debounce): {}",
        summary(&mut latencies)
    );
    println!(
        "d. idle RSS of the serving gateway: {rss_idle:.1} MB after start over {listed} example scripts, \
         {rss_after:.1} MB after (a)"
    );
    Ok(())
}

/// b.: the first scan of 1,000 scripts, then rescans that must find nothing to do.
fn rescan_unchanged() -> BenchResult<()> {
    let (repo, data) = (tempfile::tempdir()?, tempfile::tempdir()?);
    write_scripts(repo.path(), UNCHANGED_SCRIPTS)?;
    let started = Instant::now();
    let gateway = Gateway::start(repo.path(), data.path())?;
    let cold = started.elapsed();
    let listed = gateway.get("/api/scripts?page_size=1")?["total"].clone();

    let mut durations = Vec::with_capacity(RESCANS);
    let mut server_ms = Vec::with_capacity(RESCANS);
    let mut extracted = 0;
    for _ in 0..RESCANS {
        let started = Instant::now();
        let report = gateway.post("/api/scan")?;
        durations.push(started.elapsed());
        server_ms.push(report["duration_ms"].as_u64().unwrap_or(0));
        extracted += report["extracted"]
            .as_u64()
            .ok_or("the scan report has no `extracted` count")?;
    }
    server_ms.sort_unstable();
    println!(
        "b. {UNCHANGED_SCRIPTS} scripts: cold start + first scan {} ({listed} listed); \
         rescan of the unchanged repo x{RESCANS}: {} (server-side p50 {} ms), extracted {extracted} (expected 0)",
        secs(cold),
        summary(&mut durations),
        server_ms[server_ms.len() / 2]
    );
    if extracted != 0 {
        println!("   WARNING: a rescan of unchanged scripts started {extracted} subprocesses");
    }
    println!(
        "   RSS with {UNCHANGED_SCRIPTS} scripts loaded: {:.1} MB",
        gateway.rss_mb()?
    );
    Ok(())
}

/// c.: the gateway's cold scan against the bare cost of the interpreter starts it needs.
fn cold_scan_against_bare_python(python: &Python, cores: usize) -> BenchResult<()> {
    let (repo, data) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let scripts = write_scripts(repo.path(), COLD_SCRIPTS)?;
    python.schema(&scripts[0])?; // warm the page cache for the interpreter

    let started = Instant::now();
    run_in_parallel(&scripts, cores, |script| python.schema(script))?;
    let bare = started.elapsed();

    let started = Instant::now();
    let output = Command::new(GATEWAY)
        .args(["scan", "--log", "warn", "--scripts-repo"])
        .arg(repo.path())
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::null())
        .output()?;
    let gateway = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("script-gateway scan failed: {stdout}").into());
    }
    let last = stdout.lines().last().unwrap_or_default();
    println!(
        "c. cold scan of {COLD_SCRIPTS} scripts: `script-gateway scan` {}, bare python x{COLD_SCRIPTS} \
         ({cores} at a time) {}, ratio {:.2}\n   scan said: {last}",
        secs(gateway),
        secs(bare),
        gateway.as_secs_f64() / bare.as_secs_f64()
    );
    Ok(())
}

/// A serving gateway on a free port; killed when dropped.
struct Gateway {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Gateway {
    fn start(repo: &Path, data: &Path) -> BenchResult<Gateway> {
        let mut child = Command::new(GATEWAY)
            .args(["serve", "--port", "0", "--scan-interval-sec", "0"])
            .args(["--log", "warn", "--scripts-repo"])
            .arg(repo)
            .arg("--data-dir")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let lines = drain_lines(child.stdout.take().expect("stdout is piped"));
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let mut gateway = Gateway {
            child,
            base: String::new(),
            agent,
        };
        gateway.base = wait_for_address(&lines, Duration::from_secs(300))?;
        Ok(gateway)
    }

    fn get(&self, path: &str) -> BenchResult<Value> {
        let url = format!("{}{path}", self.base);
        Ok(self.agent.get(&url).call()?.into_json()?)
    }

    fn post(&self, path: &str) -> BenchResult<Value> {
        let url = format!("{}{path}", self.base);
        Ok(self.agent.post(&url).call()?.into_json()?)
    }

    /// Polls the listing every few milliseconds until exactly one script matches `name`.
    fn wait_until_listed(&self, name: &str, limit: Duration) -> BenchResult<()> {
        let deadline = Instant::now() + limit;
        let path = format!("/api/scripts?search={name}");
        while Instant::now() < deadline {
            if self.get(&path)?["total"] == 1 {
                return Ok(());
            }
            std::thread::sleep(POLL_EVERY);
        }
        Err(format!("{name} was not listed within {limit:?}").into())
    }

    /// Resident memory from /proc/<pid>/status, in MB.
    fn rss_mb(&self) -> BenchResult<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .ok_or("no VmRSS line in /proc/<pid>/status")?;
        Ok(kb / 1024.0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's stdout on a thread for its whole life, so the pipe never fills.
fn drain_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_for_address(lines: &mpsc::Receiver<String>, limit: Duration) -> BenchResult<String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(address) = line.strip_prefix("listening on ") {
                    return Ok(address.trim().to_string());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!("no `listening on` line within {limit:?}").into())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the gateway exited before it was listening".into())
            }
        }
    }
}

/// The real interpreter behind `python3` (not a shim), as the gateway resolves it.
struct Python {
    executable: PathBuf,
    version: String,
}

impl Python {
    fn find() -> BenchResult<Python> {
        let output = Command::new("python3")
            .args([
                "-c",
                "import sys, platform; print(sys.executable); print(platform.python_version())",
            ])
            .output()?;
        let text = String::from_utf8(output.stdout)?;
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(executable), Some(version)) if output.status.success() => Ok(Python {
                executable: executable.into(),
                version: version.into(),
            }),
            _ => Err("python3 -c 'import sys; print(sys.executable)' failed".into()),
        }
    }

    /// Runs `python script --_sys_get_schema` and checks it printed JSON.
    fn schema(&self, script: &Path) -> BenchResult<()> {
        let output = Command::new(&self.executable)
            .arg(script)
            .arg("--_sys_get_schema")
            .current_dir(script.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(format!("{} failed: {:?}", script.display(), output.status).into());
        }
        serde_json::from_slice::<Value>(&output.stdout)?;
        Ok(())
    }
}

/// Calls `work` on every item, `workers` at a time.
fn run_in_parallel<T: Sync>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> BenchResult<()> + Sync,
) -> BenchResult<()> {
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if work(item).is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    match failures.into_inner() {
        0 => Ok(()),
        n => Err(format!("{n} of {} runs failed", items.len()).into()),
    }
}

const TRIVIAL_SCRIPT: &str = r#"import json
import sys

ARGS_MAP = {"n": {"flag": "--n", "type": "int", "default": 1, "help": "A number"}}

if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    print(json.dumps({"n": 1}))
"#;

fn write_script(path: &Path, name: &str) -> std::io::Result<()> {
    std::fs::write(
        path,
        format!("\"\"\"Benchmark script {name}.\"\"\"\n{TRIVIAL_SCRIPT}"),
    )
}

/// Writes `count` trivial scripts into `repo/python/` and returns their paths.
fn write_scripts(repo: &Path, count: usize) -> std::io::Result<Vec<PathBuf>> {
    let folder = repo.join("python");
    std::fs::create_dir_all(&folder)?;
    (0..count)
        .map(|i| {
            let path = folder.join(format!("s{i:04}.py"));
            write_script(&path, &format!("s{i:04}"))?;
            Ok(path)
        })
        .collect()
}

/// Copies the example scripts (not their generated sidecars or caches).
fn copy_scripts(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let target = to.join(&*name);
        if entry.file_type()?.is_dir() {
            if !name.starts_with('.') && name != "node_modules" && name != "__pycache__" {
                copy_scripts(&entry.path(), &target)?;
            }
        } else if !name.ends_with("._map.json") && !name.ends_with(".pyc") {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// p50 / p95 / max of some durations (nearest rank).
fn summary(durations: &mut [Duration]) -> String {
    durations.sort_unstable();
    let rank = |p: usize| durations[(durations.len() * p).div_ceil(100).max(1) - 1];
    format!(
        "p50 {}  p95 {}  max {}",
        millis(rank(50)),
        millis(rank(95)),
        millis(rank(100))
    )
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
