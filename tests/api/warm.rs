//! Warm execution: Python runs forked from a fork server per dependency set are what cold
//! runs are (argv, cwd, environment, descriptors, signals, limits, `__main__`), share no
//! state, end with their whole tree, and never fail because a server did.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::helpers::{data_dir, spawn_app, wait_until, TestApp, TestRepo, WAIT};
use crate::run_support::{python, script_id};

pub const WARM: [&str; 2] = ["--execution-mode", "warm"];

/// Prints what a run can see of itself; `collections` gets a mark, and a global counts.
const PROBE: &str = r#"import random, signal, collections
seen = getattr(collections, "_probe_mark", None)
collections._probe_mark = os.environ["SG_RUN_ID"]
COUNTER = globals().get("COUNTER", 0) + 1
print(json.dumps({
    "argv": sys.argv, "cwd": os.getcwd(), "path": sys.path, "name": __name__,
    "file": __file__, "env": dict(os.environ), "fds": sorted(os.listdir("/proc/self/fd")),
    "seen": seen, "counter": COUNTER, "random": random.random(),
    "sigint": str(signal.getsignal(signal.SIGINT)), "sigpipe": str(signal.getsignal(signal.SIGPIPE)),
    "own_group": os.getpgid(0) == os.getpid(),
    "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
    "limits": open("/proc/self/limits").read().splitlines()[1:],
    "loader": type(__loader__).__name__, "modules": sorted(sys.modules),
    "cmdline": open("/proc/self/cmdline").read().rstrip("\0").split("\0"),
}))"#;

/// The fork servers the gateway runs.
pub fn servers(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/api/system/warm");
    assert_eq!(status, 200, "GET /api/system/warm: {body}");
    body["servers"].as_array().cloned().unwrap_or_default()
}

/// Runs the gateway forked from a fork server so far.
fn served(app: &TestApp) -> u64 {
    let (_, body) = app.get("/api/system/warm");
    body["warm_starts"]
        .as_u64()
        .expect("a count of warm starts")
}

/// Runs `run_path` once; on a warm gateway, then waits until a fork server is ready, so the
/// next runs of its dependency set start warm.
pub fn warm_up(app: &TestApp, run_path: &str) {
    let (status, body) = app.get(run_path);
    assert_eq!(status, 200, "warm-up run: {body}");
    let (_, warm) = app.get("/api/system/warm");
    if warm["execution_mode"] != json!("warm") {
        return;
    }
    assert!(
        wait_until(WAIT, || !servers(app).is_empty()),
        "no fork server became ready; stderr:\n{}",
        app.stderr()
    );
}

fn set_mode(app: &TestApp, mode: &str) {
    let reply = app.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"execution_mode": mode})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn run(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn probe_app() -> (TestRepo, tempfile::TempDir, TestApp, i64) {
    let repo = TestRepo::new();
    repo.write("python/probe.py", &python(&json!({}), PROBE));
    repo.write(
        "python/slow.py",
        &python(&json!({}), "import time\ntime.sleep(5)\nprint('{}')"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &WARM);
    let id = script_id(&app, "python/probe.py");
    (repo, data, app, id)
}

#[test]
fn a_warm_run_sees_what_a_cold_run_sees_and_nothing_of_earlier_runs() {
    let (_repo, _data, app, id) = probe_app();
    let path = format!("/api/scripts/{id}/run");
    set_mode(&app, "cold");
    let cold = run(&app, &path)["data"].clone();
    set_mode(&app, "warm");
    warm_up(&app, &path);
    let before = served(&app);
    let warm: Vec<Value> = (0..3).map(|_| run(&app, &path)["data"].clone()).collect();
    assert_eq!(
        served(&app),
        before + 3,
        "the three runs were forked by the server"
    );
    for (index, run) in warm.iter().enumerate() {
        for key in [
            "argv",
            "path",
            "name",
            "file",
            "fds",
            "sigint",
            "sigpipe",
            "own_group",
            "blocked",
            "limits",
            "loader",
        ] {
            assert_eq!(
                run[key], cold[key],
                "run {index}: {key} differs from a cold run's"
            );
        }
        assert_eq!(
            run["fds"],
            json!(["0", "1", "2", "3"]),
            "only stdio (and the listing itself)"
        );
        assert_eq!(
            run["seen"],
            Value::Null,
            "run {index} saw an earlier run's module state"
        );
        assert_eq!(
            run["counter"],
            json!(1),
            "run {index} saw an earlier run's global"
        );
        let run_id = run["env"]["SG_RUN_ID"].as_str().expect("a run id");
        assert!(
            run["cwd"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/runs/{run_id}/work")),
            "{run}"
        );
        let mut env = run["env"].as_object().unwrap().clone();
        let mut cold_env = cold["env"].as_object().unwrap().clone();
        for per_run in ["SG_RUN_ID", "HOME", "TMPDIR"] {
            assert!(env.remove(per_run).is_some() && cold_env.remove(per_run).is_some());
        }
        assert_eq!(env, cold_env, "the environment is the cold run's");
    }
    let draws: Vec<&Value> = warm.iter().map(|r| &r["random"]).collect();
    assert!(
        draws[0] != draws[1] && draws[1] != draws[2],
        "random is reseeded: {draws:?}"
    );

    let metrics = app.call("GET", "/metrics", &[], None).body;
    let text = metrics.as_str().expect("the metrics text");
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} is not in /metrics:\n{text}"))
    };
    assert!(value("scriptgateway_warm_starts_total{started=\"warm\"}") >= 3.0);
    assert_eq!(
        value("scriptgateway_warm_processes{kind=\"fork_servers\"}"),
        1.0
    );
    assert!(value("scriptgateway_warm_processes{kind=\"fork_server_resident_bytes\"}") > 1e6);
}

#[test]
fn a_server_learns_what_its_runs_import_and_the_next_one_preloads_it() {
    let repo = TestRepo::new();
    repo.write(
        "python/dec.py",
        &python(
            &json!({}),
            "import decimal\nprint(json.dumps({\"d\": str(decimal.Decimal('1.5') * 2)}))",
        ),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &WARM);
    let path = format!("/api/scripts/{}/run", script_id(&app, "python/dec.py"));
    warm_up(&app, &path);
    let preloads = |app: &TestApp| -> bool {
        servers(app).iter().any(|s| {
            s["preloaded"]
                .as_array()
                .is_some_and(|p| p.contains(&json!("decimal")))
        })
    };
    let learned = wait_until(WAIT, || {
        assert_eq!(run(&app, &path)["data"], json!({"d": "3.0"}));
        preloads(&app)
    });
    assert!(learned, "no server preloads decimal: {:?}", servers(&app));
}

#[test]
fn a_killed_fork_server_never_fails_a_run() {
    let (_repo, _data, app, id) = probe_app();
    let path = format!("/api/scripts/{id}/run");
    warm_up(&app, &path);
    let first = servers(&app)[0]["pid"].as_i64().expect("a pid");
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).expect("the server can be killed");
    for _ in 0..3 {
        assert_eq!(run(&app, &path)["run_status"], json!("success"));
    }
    let replaced = wait_until(WAIT, || {
        run(&app, &path);
        servers(&app)
            .iter()
            .any(|s| s["pid"].as_i64().is_some_and(|p| p != first))
    });
    assert!(
        replaced,
        "a new server replaces the killed one: {:?}",
        servers(&app)
    );

    // Killed while a run is in it: that run ends (its server reported nothing), the next runs work.
    let slow = script_id(&app, "python/slow.py");
    let (status, started) = app.get(&format!("/api/scripts/{slow}/run?async=true"));
    assert_eq!(status, 202, "{started}");
    assert!(
        wait_until(WAIT, || servers(&app)
            .iter()
            .any(|s| s["running"] == json!(1))),
        "the slow run is in the server"
    );
    let server = servers(&app)[0]["pid"].as_i64().unwrap();
    kill(Pid::from_raw(server as i32), Signal::SIGKILL).expect("the server can be killed");
    let run_id = started["run_id"].as_i64().unwrap();
    let ended = wait_until(WAIT, || {
        let (_, run) = app.get(&format!("/api/runs/{run_id}"));
        run["status"] != json!("running") && run["status"] != json!("queued")
    });
    assert!(ended, "the run in the killed server ended");
    assert_eq!(run(&app, &path)["run_status"], json!("success"));
}

#[test]
fn warm_runs_fail_stop_and_import_their_own_modules_like_cold_ones() {
    let repo = TestRepo::new();
    repo.write("python/tool/helper.py", "VALUE = 'one'\n");
    repo.write(
        "python/tool/main.py",
        &python(
            &json!({"mode": {"flag": "--mode", "type": "str", "default": "ok"}}),
            r#"import helper
mode = sys.argv[sys.argv.index("--mode") + 1]
if mode == "raise":
    raise ValueError("broken on purpose")
if mode == "exit":
    sys.exit(7)
if mode == "file":
    open("made.txt", "w").write("made")
    print("plain text, not JSON")
    sys.exit(0)
if mode == "sleep":
    import time
    time.sleep(30)
print(json.dumps({"helper": helper.VALUE}))"#,
        ),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &WARM);
    let id = script_id(&app, "python/tool/main.py");
    let path = |mode: &str| format!("/api/scripts/{id}/run?mode={mode}");
    warm_up(&app, &path("ok"));
    let before = served(&app);
    assert_eq!(run(&app, &path("ok"))["data"], json!({"helper": "one"}));
    repo.write("python/tool/helper.py", "VALUE = 'two'\n");
    assert_eq!(
        run(&app, &path("ok"))["data"],
        json!({"helper": "two"}),
        "the edited helper is loaded fresh"
    );

    let raised = run(&app, &path("raise"));
    assert_eq!(raised["run_status"], json!("error"), "{raised}");
    assert_eq!(raised["exit_code"], json!(1));
    let stderr = raised["stderr"].as_str().unwrap();
    let first_frame = stderr.lines().nth(1).unwrap_or_default();
    assert!(
        first_frame.contains("main.py"),
        "the traceback starts in the script: {stderr}"
    );
    assert!(
        !stderr.contains("fork_server"),
        "no frame of the fork server: {stderr}"
    );
    assert!(stderr.contains("ValueError: broken on purpose"), "{stderr}");
    assert_eq!(run(&app, &path("exit"))["exit_code"], json!(7));

    let made = run(&app, &path("file"));
    assert_eq!(made["run_status"], json!("success"), "{made}");
    let names: Vec<&str> = made["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"made.txt"), "{made}");

    let slow = run(&app, &format!("{}&timeout=1", path("sleep")));
    assert_eq!(slow["run_status"], json!("timeout"), "{slow}");
    assert!(served(&app) >= before + 6, "these runs started warm");
}

#[test]
fn a_detached_grandchild_of_a_warm_run_ends_with_its_run() {
    crate::containment::detached_grandchildren_end_with_their_runs(&WARM);
}

#[test]
fn an_sdk_script_runs_warm_behind_its_launcher() {
    let repo = TestRepo::new();
    repo.write(
        "python/greet.py",
        "from scriptgateway_sdk import script\n\n@script\ndef main(name: str, times: int = 1) -> dict:\n    \"\"\"Greets.\"\"\"\n    import sys\n    return {\"message\": \" \".join([f\"Hello {name}\"] * times), \"module\": __name__, \"argv0\": sys.argv[0]}\n",
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &WARM);
    let path = format!(
        "/api/scripts/{}/run?name=Ada&times=2",
        script_id(&app, "python/greet.py")
    );
    let cold = run(&app, &path);
    warm_up(&app, &path);
    let before = served(&app);
    let warm = run(&app, &path);
    assert_eq!(served(&app), before + 1, "the run started warm");
    assert_eq!(warm["data"], cold["data"], "warm and cold SDK runs agree");
    assert_eq!(warm["data"]["message"], json!("Hello Ada Hello Ada"));
}

/// Prints what a Node.js run can see of itself.
const JS_PROBE: &str = r#"const fs = require('fs');
console.log(JSON.stringify({
  argv: process.argv.slice(1), cwd: process.cwd(), main: require.main === module,
  env: process.env, cmdline: fs.readFileSync('/proc/self/cmdline', 'utf8').replace(/\0+$/, '').replace(/\0/g, ' '),
}));"#;

#[test]
fn a_pre_started_node_takes_a_run_as_a_cold_start_would() {
    let repo = TestRepo::new();
    repo.write(
        "js/probe.js",
        &crate::run_support::js(
            &json!({"x": {"flag": "--x", "type": "str", "default": "a"}}),
            JS_PROBE,
        ),
    );
    repo.write(
        "js/module.mjs",
        "if (process.argv.includes('--_sys_get_schema')) { console.log('{}'); process.exit(0); }\nconsole.log(JSON.stringify({url: import.meta.url, run: process.env.SG_RUN_ID}));\n",
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &WARM);
    let probe = format!("/api/scripts/{}/run?x=b", script_id(&app, "js/probe.js"));
    let module = format!("/api/scripts/{}/run", script_id(&app, "js/module.mjs"));
    set_mode(&app, "cold");
    let cold = run(&app, &probe)["data"].clone();
    set_mode(&app, "warm");
    run(&app, &probe);
    run(&app, &module);
    let pool_filled = |app: &TestApp| {
        let (_, warm) = app.get("/api/system/warm");
        warm["idle_node_processes"].as_u64().unwrap_or(0) >= 2
    };
    assert!(
        wait_until(WAIT, || pool_filled(&app)),
        "idle node processes wait for runs"
    );
    let before = served(&app);
    let warm = run(&app, &probe)["data"].clone();
    let esm = run(&app, &module);
    assert_eq!(
        served(&app),
        before + 2,
        "both runs were taken by pre-started processes"
    );
    for key in ["argv", "main", "cmdline"] {
        assert_eq!(warm[key], cold[key], "{key} differs from a cold run's");
    }
    assert_eq!(
        warm["argv"],
        json!([repo.abs("js/probe.js").display().to_string(), "--x", "b"])
    );
    let run_id = warm["env"]["SG_RUN_ID"]
        .as_str()
        .expect("the run's own environment");
    assert!(
        warm["cwd"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/runs/{run_id}/work")),
        "{warm}"
    );
    let mut env = warm["env"].as_object().unwrap().clone();
    let mut cold_env = cold["env"].as_object().unwrap().clone();
    for per_run in ["SG_RUN_ID", "HOME", "TMPDIR"] {
        assert!(env.remove(per_run).is_some() && cold_env.remove(per_run).is_some());
    }
    assert_eq!(env, cold_env, "the environment is the cold run's");
    assert_eq!(esm["run_status"], json!("success"), "{esm}");
    assert!(
        esm["data"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/js/module.mjs"),
        "{esm}"
    );
}

#[test]
fn a_script_can_choose_its_own_execution_mode() {
    let repo = TestRepo::new();
    repo.write(
        "python/own.py",
        &python(&json!({}), "print(json.dumps({\"ok\": True}))"),
    );
    repo.write(
        "python/other.py",
        &python(&json!({}), "print(json.dumps({\"ok\": True}))"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--execution-mode", "cold"]);
    let own = script_id(&app, "python/own.py");
    let other = format!("/api/scripts/{}/run", script_id(&app, "python/other.py"));
    let patch = |mode: Value| {
        app.call(
            "PATCH",
            &format!("/api/scripts/{own}"),
            &[],
            Some(&json!({"execution_mode": mode})),
        )
    };
    let refused = patch(json!("lukewarm"));
    assert_eq!(refused.status, 400, "{}", refused.body);
    let patched = patch(json!("warm"));
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["execution_mode"], json!("warm"));
    let path = format!("/api/scripts/{own}/run");
    warm_up(&app, &path);
    assert!(
        wait_until(WAIT, || !servers(&app).is_empty()),
        "a server starts for the warm script"
    );
    let before = served(&app);
    run(&app, &path);
    assert_eq!(
        served(&app),
        before + 1,
        "the script runs warm while the setting says cold"
    );
    run(&app, &other);
    assert_eq!(
        served(&app),
        before + 1,
        "the other script follows the setting"
    );
    assert_eq!(patch(Value::Null).body["execution_mode"], Value::Null);
    run(&app, &path);
    assert_eq!(
        served(&app),
        before + 1,
        "cleared, it follows the setting again"
    );
}

#[test]
fn a_dependency_change_gives_its_scripts_a_new_server() {
    use crate::deps_support::{
        python_importing, settled, spawn_offline, wait_for_help, LocalPackages,
    };
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/tool/requirements.txt", "sgdemo==1.0\n");
    repo.write("python/tool/main.py", &python_importing("sgdemo"));
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &WARM);
    settled(&app, "python/tool/main.py");
    wait_for_help(&app, "python/tool/main.py", "sgdemo 1.0");
    let path = format!(
        "/api/scripts/{}/run?x=1",
        script_id(&app, "python/tool/main.py")
    );
    warm_up(&app, &path);
    assert_eq!(run(&app, &path)["data"], json!({"version": "1.0"}));
    let first: Vec<Value> = servers(&app)
        .iter()
        .map(|s| s["python_path"].clone())
        .collect();

    repo.write("python/tool/requirements.txt", "sgdemo==2.0\n");
    wait_for_help(&app, "python/tool/main.py", "sgdemo 2.0");
    let before = served(&app);
    let upgraded = wait_until(WAIT, || {
        run(&app, &path)["data"] == json!({"version": "2.0"}) && served(&app) > before
    });
    assert!(upgraded, "a warm run sees the new version");
    let now: Vec<Value> = servers(&app)
        .iter()
        .map(|s| s["python_path"].clone())
        .collect();
    assert!(
        now.iter().any(|p| !first.contains(p)),
        "a server for the new set: {first:?} then {now:?}"
    );
}

#[test]
fn warm_processes_survive_the_subreapers_sweeps() {
    let repo = TestRepo::new();
    repo.write(
        "python/py.py",
        &python(&json!({}), "print(json.dumps({\"ok\": True}))"),
    );
    repo.write(
        "js/js.js",
        &crate::run_support::js(&json!({}), "console.log(JSON.stringify({ok: true}));"),
    );
    let data = data_dir();
    let app = spawn_app(
        &repo,
        data.path(),
        &["--execution-mode", "warm", "--containment", "subreaper"],
    );
    let py = format!("/api/scripts/{}/run", script_id(&app, "python/py.py"));
    let js = format!("/api/scripts/{}/run", script_id(&app, "js/js.js"));
    warm_up(&app, &py);
    run(&app, &js);
    let pool_ready =
        |app: &TestApp| app.get("/api/system/warm").1["idle_node_processes"].as_u64() >= Some(1);
    assert!(wait_until(WAIT, || pool_ready(&app)), "a node waits");
    let before = served(&app);
    for _ in 0..3 {
        run(&app, &py);
        assert!(
            wait_until(WAIT, || pool_ready(&app)),
            "the node pool refills"
        );
        run(&app, &js);
    }
    assert_eq!(
        served(&app),
        before + 6,
        "every run started warm: nothing was swept"
    );
}
