//! Containment of a run's whole process tree: a process that detaches (fork, `setsid`, exec)
//! is stopped in every ending, limits hold for the tree as a whole, the run's folder has a
//! disk cap, and scripts run as a user that cannot reach the gateway's own state.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::async_support::{
    pids_with, processes_gone, spawn_owned, unique_marker, wait_for_processes, Reaper,
};
use crate::helpers::{data_dir, spawn_app, wait_until, TestApp, TestRepo, WAIT};
use crate::run_support::{
    gateway_pid, post_multipart, python, runs_as_a_separate_user, script_id, Multipart,
};

/// Forks; the child starts a new session and forks again; the grandchild execs a sleeping
/// interpreter that carries `--token` in its argv. Then `--then` decides how the run goes on.
const ESCAPE: &str = r#"import time
token = sys.argv[sys.argv.index("--token") + 1]
then = sys.argv[sys.argv.index("--then") + 1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", token])
    os._exit(0)
print("detached", flush=True)
if then == "hang":
    time.sleep(300)
elif then == "flood":
    while True:
        sys.stdout.write("x" * 65536)"#;

fn escape_script() -> String {
    let schema = json!({
        "token": {"flag": "--token", "type": "str", "required": true},
        "then": {"flag": "--then", "type": "choice", "choices": ["end", "hang", "flood"], "default": "end"}
    });
    python(&schema, ESCAPE)
}

/// The containment the gateway reports.
fn containment(app: &TestApp) -> Value {
    let (status, body) = app.get("/api/system");
    assert_eq!(status, 200, "GET /api/system: {body}");
    body["containment"].clone()
}

fn has_cgroups(app: &TestApp) -> bool {
    let report = containment(app);
    let cgroups = report["mechanism"]
        .as_str()
        .is_some_and(|m| m.starts_with("cgroup"));
    if !cgroups {
        eprintln!("SKIPPED: no cgroups on this host (containment {report}); per-run caps and crash cleanup need them");
    }
    cgroups
}

fn assert_gone(token: &str, what: &str) {
    assert!(
        processes_gone(token, Duration::from_secs(5)),
        "{what}: the detached grandchild outlived its run: {:?}",
        pids_with(token)
    );
}

#[test]
fn a_detached_grandchild_ends_with_its_run_in_every_ending() {
    detached_grandchildren_end_with_their_runs(&[]);
}

/// Every ending of a run whose grandchild detached leaves nothing behind, in the execution
/// mode `extra_args` choose (a warm gateway's first run starts its fork server).
pub fn detached_grandchildren_end_with_their_runs(extra_args: &[&str]) {
    let repo = TestRepo::new();
    repo.write("python/escape.py", &escape_script());
    let schema_token = unique_marker("schema-escape");
    let _schema_reaper = Reaper(schema_token.clone());
    let schema_escape = format!(
        "import os, sys, time\nif '--_sys_get_schema' in sys.argv:\n    if os.fork() == 0:\n        os.setsid()\n        \
         if os.fork() == 0:\n            os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(300)', '{schema_token}'])\n        \
         os._exit(0)\n    time.sleep(300)\n"
    );
    repo.write("python/schema_escape.py", &schema_escape);
    let data = data_dir();
    let mut args = vec!["--max-output-mb", "1"];
    args.extend(extra_args);
    let app = spawn_app(&repo, data.path(), &args);
    assert_gone(&schema_token, "a schema extraction that timed out");
    let broken = app
        .script_by_path("python/schema_escape.py")
        .expect("listed");
    assert!(
        broken["load_error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{broken}"
    );
    let id = script_id(&app, "python/escape.py");
    crate::warm::warm_up(&app, &format!("/api/scripts/{id}/run?token=warm-up"));

    for (then, query, run_status) in [
        ("end", "", "success"),
        ("hang", "&timeout=1", "timeout"),
        ("flood", "", "limit_exceeded"),
    ] {
        let token = unique_marker(&format!("escape-{then}"));
        let _reaper = Reaper(token.clone());
        let (status, body) = app.get(&format!(
            "/api/scripts/{id}/run?token={token}&then={then}{query}"
        ));
        assert_eq!(status, 200, "{then}: {body}");
        assert_eq!(body["run_status"], json!(run_status), "{then}: {body}");
        assert_gone(&token, then);
    }

    let token = unique_marker("escape-cancel");
    let _reaper = Reaper(token.clone());
    let (status, body) = app.get(&format!(
        "/api/scripts/{id}/run?token={token}&then=hang&async=true"
    ));
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_i64().expect("a run id");
    wait_for_processes(&token, 1, "the detached grandchild of the run to cancel");
    let (status, body) = app.post(&format!("/api/runs/{run_id}/cancel"), &json!({}));
    assert!(status < 300, "cancel: {status} {body}");
    assert_gone(&token, "cancel");
}

#[test]
fn a_detached_grandchild_ends_with_its_run_under_the_subreaper_fallback() {
    let repo = TestRepo::new();
    repo.write("python/escape.py", &escape_script());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--containment", "subreaper"]);
    let report = containment(&app);
    assert_eq!(report["mechanism"], json!("subreaper"), "{report}");
    assert_eq!(report["process_cap_per_run"], json!(false), "{report}");
    let id = script_id(&app, "python/escape.py");
    for (then, query) in [("end", ""), ("hang", "&timeout=1")] {
        let token = unique_marker(&format!("subreaper-{then}"));
        let _reaper = Reaper(token.clone());
        let (status, body) = app.get(&format!(
            "/api/scripts/{id}/run?token={token}&then={then}{query}"
        ));
        assert_eq!(status, 200, "{then}: {body}");
        assert_gone(&token, then);
    }
}

#[test]
fn a_detached_grandchild_ends_when_the_gateway_stops_or_crashes() {
    let repo = TestRepo::new();
    repo.write("python/escape.py", &escape_script());
    let data = data_dir();

    let mut gateway = spawn_owned(&repo, data.path(), &["--shutdown-grace-sec", "1"]);
    let id = gateway.script_id("python/escape.py");
    let token = unique_marker("escape-sigterm");
    let _reaper = Reaper(token.clone());
    let (status, body) = gateway.call(
        "GET",
        &format!("/api/scripts/{id}/run?token={token}&then=hang&async=true"),
        None,
    );
    assert_eq!(status, 202, "{body}");
    wait_for_processes(&token, 1, "the detached grandchild before SIGTERM");
    gateway.signal(Signal::SIGTERM);
    assert!(
        gateway.exit_within(WAIT).is_some(),
        "the gateway exits after SIGTERM"
    );
    assert_gone(&token, "gateway SIGTERM");
    drop(gateway);

    let app = spawn_app(&repo, data.path(), &[]);
    if !has_cgroups(&app) {
        return;
    }
    let token = unique_marker("escape-crash");
    let _reaper = Reaper(token.clone());
    let (status, body) = app.get(&format!(
        "/api/scripts/{id}/run?token={token}&then=hang&async=true"
    ));
    assert_eq!(status, 202, "{body}");
    wait_for_processes(&token, 1, "the detached grandchild before kill -9");
    let pid = gateway_pid(data.path());
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("the gateway can be killed");
    assert!(
        wait_until(WAIT, || std::fs::read(format!("/proc/{pid}/cmdline"))
            .map_or(true, |c| c.is_empty())),
        "the gateway died"
    );
    assert!(
        !pids_with(&token).is_empty(),
        "precondition: the crash left the grandchild running"
    );
    let _app = app.restart();
    assert_gone(&token, "kill -9 then restart");
}

const FORK_BOMB: &str = r#"import time
children = 0
try:
    while children < 3000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
finally:
    print(json.dumps({"children": children}), flush=True)"#;

const MEMORY_HOG: &str = r#"import time
for _ in range(4):
    if os.fork() == 0:
        block = bytearray(150 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(60)
        os._exit(0)
time.sleep(60)"#;

#[test]
fn process_and_memory_caps_hold_for_the_whole_tree() {
    let repo = TestRepo::new();
    repo.write("python/bomb.py", &python(&json!({}), FORK_BOMB));
    repo.write("python/hog.py", &python(&json!({}), MEMORY_HOG));
    let data = data_dir();
    let app = spawn_app(
        &repo,
        data.path(),
        &["--max-processes", "40", "--memory-limit-mb", "300"],
    );
    if !has_cgroups(&app) {
        return;
    }
    let report = containment(&app);
    assert_eq!(report["process_cap_per_run"], json!(true), "{report}");
    assert_eq!(report["memory_cap_per_run"], json!(true), "{report}");

    let bomb = script_id(&app, "python/bomb.py");
    let (status, body) = app.get(&format!("/api/scripts/{bomb}/run?timeout=20"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_status"], json!("limit_exceeded"), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("process limit"), "{body}");

    let hog = script_id(&app, "python/hog.py");
    let (status, body) = app.get(&format!("/api/scripts/{hog}/run?timeout=20"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_status"], json!("limit_exceeded"), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("memory limit"), "{body}");
}

const DISK_FILLER: &str = r#"chunk = b"\xa5" * (1024 * 1024)
for n in range(2000):
    with open(f"filler-{n}.bin", "wb") as out:
        out.write(chunk)
print(json.dumps({"wrote": "everything"}))"#;

const ONE_BIG_FILE: &str = r#"chunk = b"\xa5" * (1024 * 1024)
with open("big.bin", "wb") as out:
    for _ in range(2000):
        out.write(chunk)
print(json.dumps({"wrote": "everything"}))"#;

#[test]
fn a_run_that_fills_its_folder_past_the_disk_cap_is_stopped() {
    let repo = TestRepo::new();
    repo.write("python/filler.py", &python(&json!({}), DISK_FILLER));
    repo.write("python/big.py", &python(&json!({}), ONE_BIG_FILE));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--max-run-disk-mb", "20"]);
    let id = script_id(&app, "python/filler.py");
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?timeout=60"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_status"], json!("limit_exceeded"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("disk limit")),
        "{body}"
    );
    let run_id = body["run_id"].as_i64().expect("a run id");
    let folder = data.path().join("runs").join(run_id.to_string());
    let used: u64 = walk_size(&folder);
    // Measured every 100 ms: a fast writer passes the cap by what it writes in that time.
    assert!(
        used < 1024 * 1024 * 1024,
        "the run was stopped near its cap, not after 2 GB: {used}"
    );

    let big = script_id(&app, "python/big.py");
    let (status, body) = app.get(&format!("/api/scripts/{big}/run?timeout=60"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_status"], json!("limit_exceeded"), "{body}");
    let run_id = body["run_id"].as_i64().expect("a run id");
    let used = walk_size(&data.path().join("runs").join(run_id.to_string()));
    assert!(
        used <= 21 * 1024 * 1024,
        "no single file passes the disk cap: {used}"
    );
}

fn walk_size(folder: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => walk_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

const PEEK: &str = r#"db = sys.argv[sys.argv.index("--db") + 1]
gateway = int(sys.argv[sys.argv.index("--gateway") + 1])
seen = {"uid": os.getuid()}
if "--upload" in sys.argv:
    seen["upload"] = open(sys.argv[sys.argv.index("--upload") + 1]).read()
for name, attempt in [
    ("read_db", lambda: open(db, "rb").read(16)),
    ("write_db", lambda: open(db, "ab").close()),
    ("list_data", lambda: os.listdir(os.path.dirname(db))),
    ("signal_gateway", lambda: os.kill(gateway, 0)),
    ("read_other_run", lambda: os.listdir(os.path.join(os.path.dirname(db), "runs", "1", "work"))),
]:
    try:
        attempt()
        seen[name] = "allowed"
    except PermissionError:
        seen[name] = "denied"
    except OSError as error:
        seen[name] = type(error).__name__
print(json.dumps(seen))"#;

#[test]
fn scripts_cannot_read_the_database_nor_signal_the_gateway() {
    if !runs_as_a_separate_user() {
        return;
    }
    // A repository and data folder other users may pass through, as in the Docker image.
    let repo = TestRepo::new();
    let data = data_dir();
    for folder in [
        repo.path(),
        &repo.abs("python"),
        &repo.abs("js"),
        data.path(),
    ] {
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let schema = json!({
        "db": {"flag": "--db", "type": "str", "required": true},
        "gateway": {"flag": "--gateway", "type": "int", "required": true},
        "upload": {"flag": "--upload", "type": "file"}
    });
    repo.write("python/peek.py", &python(&schema, PEEK));
    std::fs::set_permissions(
        repo.abs("python/peek.py"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let app = spawn_app(&repo, data.path(), &["--python", "/usr/bin/python3"]);
    let report = containment(&app);
    assert_eq!(report["run_as"], json!("nobody"), "{report}");
    assert_eq!(report["gateway_state_closed"], json!(true), "{report}");

    let id = script_id(&app, "python/peek.py");
    let db = data.path().join("gateway.db");
    let gateway = gateway_pid(data.path());
    let path = format!(
        "/api/scripts/{id}/run?db={}&gateway={gateway}",
        db.display()
    );
    let (status, first) = app.get(&path);
    assert_eq!(status, 200, "{first}");
    let (status, body) = app.get(&path);
    assert_eq!(status, 200, "{body}");
    let seen = &body["data"];
    assert_ne!(seen["uid"], json!(0), "{body}");
    // On PostgreSQL there is no catalog file to read, only the folder it would be in.
    let catalog_file = if std::env::var_os("SG_TEST_POSTGRES").is_some() {
        "FileNotFoundError"
    } else {
        "denied"
    };
    assert_eq!(seen["read_db"], json!(catalog_file), "read_db: {body}");
    for attempt in ["write_db", "list_data", "signal_gateway", "read_other_run"] {
        assert_eq!(seen[attempt], json!("denied"), "{attempt}: {body}");
    }

    let form = Multipart::new()
        .text("db", &db.display().to_string())
        .text("gateway", &gateway.to_string())
        .file("upload", "note.txt", b"uploaded for this run");
    let (status, body) = post_multipart(&app, &format!("/api/scripts/{id}/run"), form);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["upload"],
        json!("uploaded for this run"),
        "the run user reads its uploads: {body}"
    );

    let managed = "import json, os, sys\nif '--_sys_get_schema' in sys.argv:\n    print(json.dumps({}))\n    sys.exit(0)\nprint(json.dumps({'uid': os.getuid()}))\n";
    let (status, body) = app.post(
        "/api/scripts",
        &json!({"path": "python/managed.py", "content": managed}),
    );
    assert_eq!(status, 201, "{body}");
    let managed_id = body["id"].as_i64().expect("an id");
    let (status, body) = app.get(&format!("/api/scripts/{managed_id}/run"));
    assert_eq!(
        status, 200,
        "a script saved over the API runs as the run user: {body}"
    );
    assert_ne!(body["data"]["uid"], json!(0), "{body}");
}

/// This gateway's cgroup folder (its instance, named after its data folder) in whichever
/// hierarchy the host offers, if it exists.
fn instance_folder(data: &std::path::Path) -> Option<std::path::PathBuf> {
    use sha2::{Digest, Sha256};
    let canonical = data.canonicalize().expect("the data folder exists");
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let instance = format!("gw-{}", &hex::encode(digest)[..16]);
    [
        "/sys/fs/cgroup/pids/scriptgateway",
        "/sys/fs/cgroup/scriptgateway",
        "/sys/fs/cgroup/unified/scriptgateway",
    ]
    .iter()
    .map(|parent| std::path::Path::new(parent).join(&instance))
    .find(|folder| folder.is_dir())
}

fn cells_in(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .map(|entries| entries.flatten().filter(|e| e.path().is_dir()).count())
        .unwrap_or(0)
}

/// An emptied cell serves the next run instead of a cell being made and removed per run, and
/// a clean stop removes every cell and the gateway's own folder.
#[test]
fn emptied_cells_serve_the_next_runs_and_a_clean_stop_removes_them() {
    let repo = TestRepo::new();
    repo.write(
        "python/quick.py",
        &python(&json!({}), "print(json.dumps({'ok': True}))"),
    );
    let data = data_dir();
    let mut gateway = spawn_owned(&repo, data.path(), &[]);
    let (_, system) = gateway.call("GET", "/api/system", None);
    if !system["containment"]["mechanism"]
        .as_str()
        .is_some_and(|m| m.starts_with("cgroup"))
    {
        eprintln!("SKIPPED: no cgroups on this host ({system}); cells need them");
        return;
    }
    let folder = instance_folder(data.path()).expect("the gateway's cgroup folder exists");
    let id = gateway.script_id("python/quick.py");
    // The schema extraction ran in a cell of its own limits, kept too.
    let before = cells_in(&folder);
    for round in 0..5 {
        let (status, body) = gateway.call("GET", &format!("/api/scripts/{id}/run"), None);
        assert_eq!(status, 200, "run {round}: {body}");
        assert_eq!(body["data"], json!({"ok": true}), "run {round}: {body}");
        assert_eq!(
            cells_in(&folder),
            before + 1,
            "after run {round}, the runs' one cell is kept for the next run"
        );
    }
    gateway.signal(Signal::SIGTERM);
    let status = gateway.exit_within(WAIT).expect("the gateway stops");
    assert!(status.success(), "{status:?}: {}", gateway.stderr());
    assert!(
        !folder.exists(),
        "a clean stop removes the gateway's cgroup folder and its cells"
    );
}

/// Another gateway starting on the same host (it prunes the cells of gateways that died)
/// leaves a live gateway's kept cells alone: a run handed a cell removed under it would fail.
#[test]
fn another_gateways_start_leaves_a_live_gateways_cells_alone() {
    let repo = TestRepo::new();
    repo.write(
        "python/quick.py",
        &python(&json!({}), "print(json.dumps({'ok': True}))"),
    );
    let data = data_dir();
    let first = spawn_app(&repo, data.path(), &[]);
    if !has_cgroups(&first) {
        eprintln!("SKIPPED: no cgroups on this host; cells need them");
        return;
    }
    let id = script_id(&first, "python/quick.py");
    let (status, body) = first.get(&format!("/api/scripts/{id}/run"));
    assert_eq!(status, 200, "{body}");
    let folder = instance_folder(data.path()).expect("the first gateway's cgroup folder");
    let kept = cells_in(&folder);
    assert!(kept > 0, "the first gateway keeps its emptied cells");

    let other_data = data_dir();
    let second = spawn_app(&repo, other_data.path(), &[]);
    assert_eq!(second.get("/health").0, 200);
    assert_eq!(
        cells_in(&folder),
        kept,
        "the second gateway's start kept the first one's cells"
    );
    let (status, body) = first.get(&format!("/api/scripts/{id}/run"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"ok": true}), "{body}");
}
