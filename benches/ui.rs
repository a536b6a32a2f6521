//! The web UI's weight and speed, run with `cargo bench --bench ui`: the bytes of the page, its
//! scripts and styles, the size of the script list it fetches over 1,000 scripts, and the time
//! to first render of the scripts page in headless chromium (goal: ≤ 500 ms). Prints figures,
//! asserts nothing about timing; skips the browser part, saying so, without chromium or
//! Playwright for Python.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GATEWAY: &str = env!("CARGO_BIN_EXE_script-gateway");
const SCRIPTS: usize = 1_000;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let (mut code, mut html) = (0, 0);
    for_each_file(
        &static_dir,
        &mut |path, size| match path.extension().and_then(|e| e.to_str()) {
            Some("js" | "css") => code += size,
            _ => html += size,
        },
    )?;
    println!("page weight: {html} B of HTML, {code} B of JS + CSS (limit 153600), uncompressed");

    let (repo, data) = (tempfile::tempdir()?, tempfile::tempdir()?);
    write_scripts(repo.path())?;
    let started = Instant::now();
    let mut child = Command::new(GATEWAY)
        .args([
            "serve",
            "--port",
            "0",
            "--scan-interval-sec",
            "0",
            "--log",
            "warn",
        ])
        .arg("--scripts-repo")
        .arg(repo.path())
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Each poll of /ready during the first scan is logged as a 503.
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let base = loop {
        let line = lines
            .next()
            .ok_or("the gateway exited before listening")??;
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.to_string();
        }
    };
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    while agent.get(&format!("{base}/ready")).call().is_err() {
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "{SCRIPTS} scripts scanned in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut listed = 0;
    for page in 1..=SCRIPTS.div_ceil(500) {
        let url = format!("{base}/api/scripts?page_size=500&page={page}");
        listed += agent.get(&url).call()?.into_string()?.len();
    }
    println!(
        "the script list the page fetches: {listed} B of JSON in {} requests",
        SCRIPTS.div_ceil(500)
    );

    let render = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ui_first_render.py");
    let status = Command::new("python3").arg(render).arg(&base).status();
    if !matches!(status, Ok(s) if s.success()) {
        println!("the first-render measurement failed: {status:?}");
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

fn for_each_file(dir: &Path, visit: &mut dyn FnMut(&Path, u64)) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            for_each_file(&entry.path(), visit)?;
        } else {
            visit(&entry.path(), entry.metadata()?.len());
        }
    }
    Ok(())
}

/// Scripts with a description and three parameters each, like a real repository's.
fn write_scripts(repo: &Path) -> std::io::Result<()> {
    let folder = repo.join("python");
    std::fs::create_dir_all(&folder)?;
    for i in 0..SCRIPTS {
        let text = format!(
            "\"\"\"Tool number {i}: does one small thing well.\"\"\"\nimport json, sys\n\
             ARGS_MAP = {{\"name\": {{\"flag\": \"--name\", \"type\": \"str\", \"required\": True, \"help\": \"Who\"}},\n\
             \"times\": {{\"flag\": \"--times\", \"type\": \"int\", \"default\": 1}},\n\
             \"mode\": {{\"flag\": \"--mode\", \"type\": \"choice\", \"choices\": [\"a\", \"b\"]}}}}\n\
             if __name__ == \"__main__\":\n    if \"--_sys_get_schema\" in sys.argv:\n        print(json.dumps(ARGS_MAP))\n"
        );
        std::fs::write(folder.join(format!("tool_{i:04}.py")), text)?;
    }
    Ok(())
}
