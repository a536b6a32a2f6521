//! Interpreter sessions: off by default, behind the exec scope, state kept between calls,
//! output split per call, exceptions, interrupts and kills on timeout, `exit()`, idle expiry,
//! the session cap, files confined to the session's folder, and no worker left behind when
//! the gateway stops or is killed.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{json, Value};

use crate::async_support::{
    processes_gone, spawn_owned, unique_marker, wait_for_processes, OwnedGateway,
};
use crate::helpers::{
    assert_error, data_dir, run_to_end, serve_args, spawn_app, wait_until, Reply, TestApp,
    TestRepo, WAIT,
};

pub const MASTER: &str = "master-s3cret";

/// A gateway with sessions on, behind the master key.
pub fn exec_app(repo: &TestRepo, data: &std::path::Path, extra: &[&str]) -> TestApp {
    let mut args = vec!["--api-key", MASTER, "--exec-enabled"];
    args.extend_from_slice(extra);
    spawn_app(repo, data, &args)
}

pub fn call(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> Reply {
    app.call(method, path, &[("X-API-Key", MASTER)], body)
}

/// A new session's id and its worker's pid.
pub fn create(app: &TestApp) -> (String, u32) {
    let reply = call(
        app,
        "POST",
        "/api/sessions",
        Some(&json!({"runtime": "python"})),
    );
    assert_eq!(reply.status, 201, "create: {}", reply.body);
    let id = reply.body["id"].as_str().expect("an id").to_string();
    let pid = reply.body["pid"].as_u64().expect("a pid") as u32;
    (id, pid)
}

pub fn execute(app: &TestApp, id: &str, code: &str, timeout: Option<f64>) -> Value {
    let mut body = json!({"code": code});
    if let Some(timeout) = timeout {
        body["timeout"] = json!(timeout);
    }
    let reply = call(
        app,
        "POST",
        &format!("/api/sessions/{id}/execute"),
        Some(&body),
    );
    assert_eq!(reply.status, 200, "execute {code:?}: {}", reply.body);
    reply.body
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat[stat.rfind(')')? + 2..].starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

pub fn assert_gone(pid: u32, what: &str) {
    assert!(
        wait_until(WAIT, || !alive(pid)),
        "{what}: process {pid} is still alive"
    );
}

/// Python code that starts a grandchild ignoring SIGINT, marked by `marker` in its argv.
fn start_grandchild(marker: &str) -> String {
    format!(
        "import subprocess, sys\n\
         child = subprocess.Popen([sys.executable, '-c', 'import signal, time; \
         signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(300)', '{marker}'])\n\
         child.pid"
    )
}

#[test]
fn every_session_route_answers_403_exec_disabled_while_exec_is_off() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let routes = [
        ("GET", "/api/sessions", None),
        ("POST", "/api/sessions", Some(json!({"runtime": "python"}))),
        ("GET", "/api/sessions/abc", None),
        ("DELETE", "/api/sessions/abc", None),
        (
            "POST",
            "/api/sessions/abc/execute",
            Some(json!({"code": "1"})),
        ),
        (
            "POST",
            "/api/interpreter/execute",
            Some(json!({"code": "1"})),
        ),
        ("GET", "/api/sessions/abc/files", None),
        ("GET", "/api/sessions/abc/files/a.txt", None),
        ("PUT", "/api/sessions/abc/files/a.txt", Some(json!("x"))),
        ("DELETE", "/api/sessions/abc/files/a.txt", None),
    ];
    for (method, path, body) in routes {
        let reply = app.call(method, path, &[], body.as_ref());
        assert_error(
            &format!("{method} {path}"),
            reply.status,
            &reply.body,
            403,
            "exec_disabled",
        );
    }
    let reply = app.call("POST", "/api/sessions", &[], Some(&json!([1, 2])));
    assert_error(
        "a bad body while off",
        reply.status,
        &reply.body,
        403,
        "exec_disabled",
    );
}

#[test]
fn only_exec_and_admin_keys_reach_sessions() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let mut keys = Vec::new();
    for scope in ["run", "metrics", "exec"] {
        let body = json!({"name": scope, "scope": scope});
        let reply = call(&app, "POST", "/api/keys", Some(&body));
        assert_eq!(reply.status, 201, "create a {scope} key: {}", reply.body);
        keys.push(reply.body["key"].as_str().expect("a key").to_string());
    }
    let body = json!({"runtime": "python"});
    for (scope, key) in ["run", "metrics"].iter().zip(&keys) {
        let reply = app.call("POST", "/api/sessions", &[("X-API-Key", key)], Some(&body));
        assert_error(
            &format!("a {scope} key"),
            reply.status,
            &reply.body,
            403,
            "forbidden",
        );
    }
    let reply = app.call("POST", "/api/sessions", &[], Some(&body));
    assert_error("no key", reply.status, &reply.body, 401, "unauthorized");
    let exec = &keys[2];
    let reply = app.call("POST", "/api/sessions", &[("X-API-Key", exec)], Some(&body));
    assert_eq!(reply.status, 201, "an exec key: {}", reply.body);
    let reply = app.call("GET", "/api/scripts", &[("X-API-Key", exec)], None);
    assert_error(
        "an exec key on scripts",
        reply.status,
        &reply.body,
        403,
        "forbidden",
    );
}

#[test]
fn without_any_key_exec_is_refused_off_loopback_and_allowed_on_it() {
    let repo = TestRepo::new();
    let data = data_dir();
    let mut args = serve_args(repo.path(), data.path());
    args.extend(
        [
            "--host",
            "0.0.0.0",
            "--allow-unauthenticated",
            "--exec-enabled",
        ]
        .map(String::from),
    );
    let refused = run_to_end(&args, Duration::from_secs(60));
    assert!(!refused.status.success(), "stdout:\n{}", refused.stdout);
    assert!(
        refused.stderr.contains("exec_enabled") && refused.stderr.contains("--api-key"),
        "the refusal says why: {}",
        refused.stderr
    );

    let open = spawn_app(
        &repo,
        data.path(),
        &["--host", "0.0.0.0", "--allow-unauthenticated"],
    );
    let reply = open.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"exec_enabled": true})),
    );
    assert_error(
        "turning exec on",
        reply.status,
        &reply.body,
        400,
        "invalid_settings",
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{}",
        reply.body
    );
    drop(open);

    let local = spawn_app(&repo, data.path(), &[]);
    let reply = local.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"exec_enabled": true})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = local.call(
        "POST",
        "/api/interpreter/execute",
        &[],
        Some(&json!({"code": "6 * 7"})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["result"], json!("42"), "{}", reply.body);
    let reply = local.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"exec_enabled": false})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = local.call("GET", "/api/sessions", &[], None);
    assert_error(
        "turned off again",
        reply.status,
        &reply.body,
        403,
        "exec_disabled",
    );
}

#[test]
fn a_worker_that_dies_between_calls_is_reaped() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, pid) = create(&app);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL)
        .expect("the worker can be killed");
    let reaped = wait_until(WAIT, || {
        call(&app, "GET", &format!("/api/sessions/{id}"), None).status == 404
    });
    assert!(reaped, "the dead session is removed");
    let (id, pid) = create(&app);
    let reply = execute(
        &app,
        &id,
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        None,
    );
    assert_eq!(reply["status"], json!("exit"), "{reply}");
    assert_eq!(reply["error"]["name"], json!("Signaled"), "{reply}");
    assert_gone(pid, "the worker that killed itself");
}

#[test]
fn state_persists_across_calls_and_output_is_split_per_call() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, _) = create(&app);
    let first = execute(&app, &id, "x = 40\nprint('one')", None);
    assert_eq!(first["status"], json!("ok"), "{first}");
    assert_eq!(first["stdout"], json!("one\n"), "{first}");
    assert_eq!(first["result"], json!(null), "{first}");
    let second = execute(&app, &id, "import math\nx += 2\nx", None);
    assert_eq!(second["status"], json!("ok"), "{second}");
    assert_eq!(
        second["stdout"],
        json!(""),
        "the first call's output is not repeated: {second}"
    );
    assert_eq!(second["result"], json!("42"), "{second}");
    let code = "import os, sys\nprint(x, __name__)\nprint('oops', file=sys.stderr)\n\
                os.system('echo from-shell; echo shell-err >&2')\nmath.sqrt(x + 22)";
    let third = execute(&app, &id, code, None);
    assert_eq!(third["status"], json!("ok"), "{third}");
    assert_eq!(
        third["stdout"],
        json!("42 __main__\nfrom-shell\n"),
        "{third}"
    );
    assert_eq!(third["stderr"], json!("oops\nshell-err\n"), "{third}");
    assert_eq!(third["result"], json!("8.0"), "{third}");
    let text = execute(&app, &id, "'a' * 3", None);
    assert_eq!(
        text["result"],
        json!("'aaa'"),
        "a repr, as the REPL shows it: {text}"
    );
}

#[test]
fn an_exception_reports_its_name_value_and_a_traceback_of_the_users_code() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, _) = create(&app);
    let reply = execute(
        &app,
        &id,
        "def f():\n    raise ValueError('bad value')\nprint('before')\nf()",
        None,
    );
    assert_eq!(reply["status"], json!("error"), "{reply}");
    assert_eq!(reply["stdout"], json!("before\n"), "{reply}");
    let error = &reply["error"];
    assert_eq!(error["name"], json!("ValueError"), "{reply}");
    assert_eq!(error["value"], json!("bad value"), "{reply}");
    let traceback = error["traceback"].as_str().expect("a traceback");
    assert!(
        traceback.contains("in f") && traceback.contains("raise ValueError('bad value')"),
        "{traceback}"
    );
    assert!(
        !traceback.contains("python_worker"),
        "the worker's frames are trimmed: {traceback}"
    );
    let syntax = execute(&app, &id, "def (:", None);
    assert_eq!(syntax["error"]["name"], json!("SyntaxError"), "{syntax}");
    let after = execute(&app, &id, "f.__name__", None);
    assert_eq!(
        after["result"],
        json!("'f'"),
        "the session lives on: {after}"
    );
}

#[test]
fn a_timeout_interrupts_the_code_and_the_session_stays_usable() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, pid) = create(&app);
    execute(&app, &id, "kept = 41", None);
    let began = Instant::now();
    let reply = execute(
        &app,
        &id,
        "print('looping')\nwhile True:\n    pass",
        Some(0.5),
    );
    assert_eq!(reply["status"], json!("interrupted"), "{reply}");
    assert_eq!(
        reply["error"]["name"],
        json!("KeyboardInterrupt"),
        "{reply}"
    );
    assert_eq!(reply["stdout"], json!("looping\n"), "{reply}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "took {:?}",
        began.elapsed()
    );
    let after = execute(&app, &id, "kept + 1", None);
    assert_eq!(after["result"], json!("42"), "{after}");
    assert!(alive(pid), "the same worker");
}

#[test]
fn code_that_ignores_sigint_is_killed_after_the_grace_period_with_its_whole_tree() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, pid) = create(&app);
    let marker = unique_marker("session-grandchild");
    let started = execute(&app, &id, &start_grandchild(&marker), None);
    assert_eq!(started["status"], json!("ok"), "{started}");
    // Popen returns once it forked: the exec that puts the marker in argv may come later.
    wait_for_processes(&marker, 1, "the grandchild runs");
    let began = Instant::now();
    let code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass";
    let reply = execute(&app, &id, code, Some(0.5));
    let took = began.elapsed();
    assert_eq!(reply["status"], json!("exit"), "{reply}");
    assert_eq!(reply["error"]["name"], json!("Killed"), "{reply}");
    assert!(
        took >= Duration::from_millis(2400) && took < Duration::from_secs(15),
        "took {took:?}"
    );
    assert_gone(pid, "the worker");
    assert!(processes_gone(&marker, WAIT), "the grandchild is gone");
    let reply = call(&app, "GET", &format!("/api/sessions/{id}"), None);
    assert_error(
        "the ended session",
        reply.status,
        &reply.body,
        404,
        "not_found",
    );
}

#[test]
fn exit_ends_the_session() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    for code in ["exit()", "import sys\nsys.exit(3)"] {
        let (id, pid) = create(&app);
        let reply = execute(&app, &id, code, None);
        assert_eq!(reply["status"], json!("exit"), "{code}: {reply}");
        assert_gone(pid, code);
        let reply = call(
            &app,
            "POST",
            &format!("/api/sessions/{id}/execute"),
            Some(&json!({"code": "1"})),
        );
        assert_error(code, reply.status, &reply.body, 404, "not_found");
    }
}

#[test]
fn idle_sessions_expire_and_their_worker_ends() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &["--session-idle-sec", "1"]);
    let (id, pid) = create(&app);
    let listed = call(&app, "GET", "/api/sessions", None);
    assert_eq!(listed.body["total"], json!(1), "{}", listed.body);
    let expired = wait_until(WAIT, || {
        call(&app, "GET", &format!("/api/sessions/{id}"), None).status == 404
    });
    assert!(expired, "the idle session expires");
    assert_gone(pid, "the idle worker");
    let folder = data.path().join("sessions").join(&id);
    assert!(
        wait_until(WAIT, || !folder.exists()),
        "its folder is removed"
    );
}

#[test]
fn sessions_beyond_max_sessions_get_429_until_one_ends() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &["--max-sessions", "2"]);
    let (first, first_pid) = create(&app);
    create(&app);
    let reply = call(
        &app,
        "POST",
        "/api/sessions",
        Some(&json!({"runtime": "python"})),
    );
    assert_error(
        "a third session",
        reply.status,
        &reply.body,
        429,
        "too_many_sessions",
    );
    assert!(reply.header("retry-after").is_some(), "{:?}", reply.headers);
    let reply = call(
        &app,
        "POST",
        "/api/interpreter/execute",
        Some(&json!({"code": "1"})),
    );
    assert_error(
        "a one-shot call",
        reply.status,
        &reply.body,
        429,
        "too_many_sessions",
    );
    let reply = call(&app, "DELETE", &format!("/api/sessions/{first}"), None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_gone(first_pid, "the deleted session's worker");
    let reply = call(
        &app,
        "POST",
        "/api/interpreter/execute",
        Some(
            &json!({"code": "import os\nos.environ['GREETING'] + '!'", "envs": {"GREETING": "hi"}}),
        ),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["result"], json!("'hi!'"), "{}", reply.body);
    // `env`, as session creation spells it, is accepted too.
    let reply = call(
        &app,
        "POST",
        "/api/interpreter/execute",
        Some(&json!({"code": "import os\nos.environ['GREETING']", "env": {"GREETING": "yo"}})),
    );
    assert_eq!(reply.body["result"], json!("'yo'"), "{}", reply.body);
    create(&app);
}

#[test]
fn session_files_stay_inside_the_session_folder() {
    let repo = TestRepo::new();
    let data = data_dir();
    let outside = data_dir();
    let target = outside.path().join("target.txt");
    std::fs::write(&target, "untouched").unwrap();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, _) = create(&app);
    let files = format!("/api/sessions/{id}/files");
    let reply = call(
        &app,
        "PUT",
        &format!("{files}/in/data.json"),
        Some(&json!({"n": 5})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        (
            &reply.body["path"],
            &reply.body["kind"],
            &reply.body["size"]
        ),
        (&json!("in/data.json"), &json!("file"), &json!(7)),
        "the written file, shaped like a listed one"
    );
    let code = format!(
        "import json, os\nn = json.load(open('in/data.json'))['n']\nopen('out.txt', 'w').write(str(n * 2))\n\
         os.symlink('{}', 'link')\nos.symlink('{}', 'dir_link')\nn",
        target.display(),
        outside.path().display()
    );
    let reply = execute(&app, &id, &code, None);
    assert_eq!(reply["result"], json!("5"), "{reply}");
    let reply = call(&app, "GET", &format!("{files}/out.txt"), None);
    assert_eq!(
        (reply.status, reply.body.clone()),
        (200, json!(10)),
        "the file the code wrote"
    );
    let listed = call(&app, "GET", &files, None).body;
    let paths: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["dir_link", "in", "in/data.json", "link", "out.txt"],
        "{listed}"
    );
    let refused = [
        ("GET", format!("{files}/link")),
        ("GET", format!("{files}/dir_link/target.txt")),
        ("PUT", format!("{files}/link")),
        ("PUT", format!("{files}/dir_link/new.txt")),
        ("GET", format!("{files}/../../../../etc/passwd")),
        ("GET", format!("{files}/in/../../x")),
        ("GET", format!("{files}/%2e%2e/%2e%2e/%2e%2e/etc/passwd")),
        ("GET", format!("{files}/%2Fetc%2Fpasswd")),
        ("DELETE", format!("{files}/%2e%2e/{id}")),
    ];
    for (method, target_path) in refused {
        let reply = app.raw_call(
            method,
            &target_path,
            &[("X-API-Key", MASTER)],
            Some(&json!("x")),
        );
        assert!(
            (400..500).contains(&reply.status) && !reply.body.contains("root:"),
            "{method} {target_path}: {} {}",
            reply.status,
            reply.body
        );
        if reply.status == 400 {
            assert!(
                reply.body.contains("unsafe_path"),
                "{method} {target_path}: {}",
                reply.body
            );
        }
    }
    let unsafe_link = call(&app, "GET", &format!("{files}/link"), None);
    assert_error(
        "the symlink",
        unsafe_link.status,
        &unsafe_link.body,
        400,
        "unsafe_path",
    );
    let dotted = app.raw_call(
        "GET",
        &format!("{files}/../../../../etc/passwd"),
        &[("X-API-Key", MASTER)],
        None,
    );
    assert_eq!(dotted.status, 400, "{}", dotted.body);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    assert!(!outside.path().join("new.txt").exists());
    let reply = call(&app, "DELETE", &format!("{files}/link"), None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(target.exists(), "deleting the link leaves its target");
}

#[test]
fn node_sessions_keep_state_split_output_interrupt_and_exit() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let body = json!({"runtime": "node", "env": {"GREETING": "hi"}});
    let reply = call(&app, "POST", "/api/sessions", Some(&body));
    assert_eq!(reply.status, 201, "create: {}", reply.body);
    assert_eq!(reply.body["runtime"], json!("node"), "{}", reply.body);
    let id = reply.body["id"].as_str().expect("an id").to_string();
    let pid = reply.body["pid"].as_u64().expect("a pid") as u32;
    let first = execute(
        &app,
        &id,
        "var n = 40; let step = 1; console.log(process.env.GREETING)",
        None,
    );
    assert_eq!(
        (first["status"].clone(), first["stdout"].clone()),
        (json!("ok"), json!("hi\n")),
        "{first}"
    );
    let code = "n += step + 1;\nconsole.error('oops');\n\
                require('child_process').execSync('echo from-shell', {stdio: 'inherit'});\nn";
    let second = execute(&app, &id, code, None);
    assert_eq!(
        second["stdout"],
        json!("from-shell\n"),
        "the first call's output is not repeated: {second}"
    );
    assert_eq!(second["stderr"], json!("oops\n"), "{second}");
    assert_eq!(second["result"], json!("42"), "{second}");
    let third = execute(&app, &id, "({n, twice: n * 2})", None);
    assert_eq!(third["result"], json!("{ n: 42, twice: 84 }"), "{third}");
    let failed = execute(
        &app,
        &id,
        "function f() { throw new TypeError('bad value') }\nf()",
        None,
    );
    assert_eq!(failed["status"], json!("error"), "{failed}");
    assert_eq!(failed["error"]["name"], json!("TypeError"), "{failed}");
    assert_eq!(failed["error"]["value"], json!("bad value"), "{failed}");
    let traceback = failed["error"]["traceback"].as_str().expect("a traceback");
    assert!(traceback.contains("at f (<cell-4>"), "{traceback}");
    assert!(
        !traceback.contains("node_worker"),
        "the worker's frames are trimmed: {traceback}"
    );
    let looped = execute(&app, &id, "while (true) {}", Some(0.5));
    assert_eq!(looped["status"], json!("interrupted"), "{looped}");
    let after = execute(&app, &id, "n + step", None);
    assert_eq!(
        after["result"],
        json!("43"),
        "the session lives on: {after}"
    );
    let exited = execute(&app, &id, "process.exit(3)", None);
    assert_eq!(
        (exited["status"].clone(), exited["exit_code"].clone()),
        (json!("exit"), json!(3)),
        "{exited}"
    );
    assert_gone(pid, "the node worker");
}

#[test]
fn a_stopped_or_killed_gateway_leaves_no_worker_behind() {
    let repo = TestRepo::new();
    let data = data_dir();
    let args = ["--api-key", MASTER, "--exec-enabled"];
    let mut gateway = spawn_owned(&repo, data.path(), &args);
    let marker = unique_marker("sigterm-session");
    let (_, session) = owned_session(&gateway, &marker);
    gateway.signal(Signal::SIGTERM);
    assert!(
        gateway.exit_within(WAIT).is_some(),
        "the gateway exits after SIGTERM"
    );
    assert_gone(session, "the worker after SIGTERM");
    assert!(
        processes_gone(&marker, WAIT),
        "its grandchild after SIGTERM"
    );
    drop(gateway);

    let gateway = spawn_owned(&repo, data.path(), &args);
    let marker = unique_marker("sigkill-session");
    let (id, session) = owned_session(&gateway, &marker);
    // A call still running: the worker is busy when its gateway dies.
    let address = gateway.address.clone();
    std::thread::spawn(move || {
        let _ = ureq::post(&format!("{address}/api/sessions/{id}/execute"))
            .set("X-API-Key", MASTER)
            .send_json(json!({"code": "while True:\n    pass", "timeout": 100}));
    });
    let busy = wait_until(WAIT, || {
        owned_call(&gateway, "GET", "/api/sessions", None)["items"][0]["status"] == json!("busy")
    });
    assert!(busy, "the session is busy");
    gateway.signal(Signal::SIGKILL);
    drop(gateway);
    assert_gone(session, "the worker after SIGKILL");
    assert!(
        processes_gone(&marker, WAIT),
        "its grandchild after SIGKILL"
    );
    let app = exec_app(&repo, data.path(), &[]);
    let listed = call(&app, "GET", "/api/sessions", None);
    assert_eq!(
        listed.body["total"],
        json!(0),
        "sessions are gone after a restart: {}",
        listed.body
    );
}

#[test]
fn a_busy_node_worker_left_by_a_killed_gateway_is_killed_at_the_next_start() {
    let repo = TestRepo::new();
    let data = data_dir();
    let args = ["--api-key", MASTER, "--exec-enabled"];
    let gateway = spawn_owned(&repo, data.path(), &args);
    let created = owned_call(
        &gateway,
        "POST",
        "/api/sessions",
        Some(json!({"runtime": "node"})),
    );
    let id = created["id"].as_str().expect("an id").to_string();
    let pid = created["pid"].as_u64().expect("a pid") as u32;
    let address = gateway.address.clone();
    std::thread::spawn(move || {
        let _ = ureq::post(&format!("{address}/api/sessions/{id}/execute"))
            .set("X-API-Key", MASTER)
            .send_json(json!({"code": "while (true) {}", "timeout": 100}));
    });
    let busy = wait_until(WAIT, || {
        owned_call(&gateway, "GET", "/api/sessions", None)["items"][0]["status"] == json!("busy")
    });
    assert!(busy, "the session is busy");
    gateway.signal(Signal::SIGKILL);
    drop(gateway);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        alive(pid),
        "busy in synchronous code, the worker outlived its gateway"
    );
    let app = exec_app(&repo, data.path(), &[]);
    assert_gone(pid, "the busy worker, once the gateway starts again");
    assert_eq!(
        call(&app, "GET", "/api/sessions", None).body["total"],
        json!(0)
    );
}

/// Starts a session with a marked grandchild on a gateway this test owns: its id and its
/// worker's pid.
fn owned_session(gateway: &OwnedGateway, marker: &str) -> (String, u32) {
    let auth = |path: &str, body: Value| owned_call(gateway, "POST", path, Some(body));
    let created = auth("/api/sessions", json!({"runtime": "python"}));
    let id = created["id"].as_str().expect("an id");
    let started = auth(
        &format!("/api/sessions/{id}/execute"),
        json!({"code": start_grandchild(marker)}),
    );
    assert_eq!(started["status"], json!("ok"), "{started}");
    wait_for_processes(marker, 1, "the grandchild runs");
    (
        id.to_string(),
        created["pid"].as_u64().expect("a pid") as u32,
    )
}

/// A call with the master key to a gateway this test owns; the JSON answer.
fn owned_call(gateway: &OwnedGateway, method: &str, path: &str, body: Option<Value>) -> Value {
    let request =
        ureq::request(method, &format!("{}{path}", gateway.address)).set("X-API-Key", MASTER);
    let answer = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    answer
        .expect("the call succeeds")
        .into_json::<Value>()
        .expect("a JSON answer")
}

#[test]
fn a_session_can_get_the_dependency_set_of_a_script() {
    use crate::deps_support::{python_importing, spawn_offline, wait_for_help, LocalPackages};
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_importing("sgdemo"));
    repo.write("python/a_requirements.txt", "sgdemo==2.0\n");
    let data = data_dir();
    // No key here (loopback): the dependency helpers list scripts without one.
    let app = spawn_offline(&repo, data.path(), &packages, &["--exec-enabled"]);
    wait_for_help(&app, "python/a.py", "sgdemo 2.0");

    let (plain, _) = create(&app);
    let reply = execute(&app, &plain, "import sgdemo", None);
    assert_eq!(reply["status"], json!("error"), "{reply}");
    assert_eq!(
        reply["error"]["name"],
        json!("ModuleNotFoundError"),
        "{reply}"
    );

    let body = json!({"runtime": "python", "deps_of": "python/a"});
    let reply = call(&app, "POST", "/api/sessions", Some(&body));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["id"].as_str().expect("an id").to_string();
    let reply = execute(&app, &id, "import sgdemo\nsgdemo.VERSION", None);
    assert_eq!(
        (&reply["status"], &reply["result"]),
        (&json!("ok"), &json!("'2.0'")),
        "{reply}"
    );

    let refusals = [
        (
            json!({"runtime": "node", "deps_of": "python/a.py"}),
            400,
            "invalid_request",
        ),
        (
            json!({"runtime": "python", "deps_of": "python/nope.py"}),
            404,
            "not_found",
        ),
    ];
    for (body, status, code) in refusals {
        let reply = call(&app, "POST", "/api/sessions", Some(&body));
        assert_error(&body.to_string(), reply.status, &reply.body, status, code);
    }
}
