//! Finding scripts, extracting schemas, sidecars, hot reload, restarts and `POST /api/scan`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, data_dir, fixtures, spawn_app, wait_for, wait_until, TestApp, TestRepo, WAIT,
};

fn id_of(script: &Value) -> i64 {
    script["id"].as_i64().expect("id is an integer")
}

/// `{path: id}` of every listed script.
fn ids_by_path(app: &TestApp) -> BTreeMap<String, i64> {
    app.all_scripts()
        .iter()
        .map(|s| (s["path"].as_str().expect("path").to_string(), id_of(s)))
        .collect()
}

/// How many lines the counting fixture appended to its log.
fn runs_logged(repo: &TestRepo, log: &str) -> usize {
    if !repo.exists(log) {
        return 0;
    }
    repo.read(log).lines().count()
}

/// Whether a process is alive (a zombie counts as gone: it no longer runs).
fn is_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

#[test]
fn groups_share_their_folder_and_helpers_and_ignored_folders_are_not_listed() {
    let repo = TestRepo::new();
    let script = fixtures::python("A script.", &fixtures::one_param("x"));
    let js_script = fixtures::js("A JS script.", &fixtures::one_param("x"));
    repo.write("python/grp/requirements.txt", "requests\n");
    repo.write("python/grp/main.py", &script);
    repo.write("python/grp/sub/tool.py", &script);
    repo.write("python/grp/util.py", fixtures::PY_HELPER);
    repo.write("python/helper.py", fixtures::PY_HELPER);
    repo.write("python/solo.py", &script);
    repo.write("python/__pycache__/cached.py", &script);
    repo.write("python/.hidden/secret.py", &script);
    repo.write("python/.venv/lib/site.py", &script);
    repo.write("python/myenv/pyvenv.cfg", "home = /usr/bin\n");
    repo.write("python/myenv/lib/tool.py", &script);
    repo.write("python/notes.txt", "_sys_get_schema\n");
    repo.write("js/app/package.json", "{\"dependencies\": {}}\n");
    repo.write("js/app/index.js", &js_script);
    repo.write("js/app/node_modules/dep/index.js", &js_script);
    repo.write("js/lib.js", "module.exports = { add: (a, b) => a + b };\n");
    repo.write("js/.cache/x.js", &js_script);
    repo.write("elsewhere/outside.py", &script);
    // Symbolic links are not followed: a script must live inside the repository.
    let outside = data_dir();
    std::fs::write(outside.path().join("linked.py"), &script).expect("outside script");
    std::os::unix::fs::symlink(
        outside.path().join("linked.py"),
        repo.abs("python/linked.py"),
    )
    .expect("file symlink");
    std::os::unix::fs::symlink(outside.path(), repo.abs("python/linked_dir")).expect("dir symlink");
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let scripts = app.all_scripts();
    let summary: Vec<_> = scripts
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap_or_default().to_string(),
                s["name"].clone(),
                s["group"].clone(),
                s["load_status"].clone(),
            )
        })
        .collect();
    let row =
        |path: &str, name: &str, group: Value| (path.to_string(), json!(name), group, json!("ok"));
    assert_eq!(
        summary,
        [
            row("js/app/index.js", "app", json!("js/app")),
            row("python/grp/main.py", "grp", json!("python/grp")),
            row("python/grp/sub/tool.py", "tool", json!("python/grp")),
            row("python/solo.py", "solo", Value::Null),
        ],
        "groups, entry-script names, and nothing from helpers, ignored folders or symlinks"
    );
}

#[test]
fn a_main_guard_alone_makes_a_python_file_a_script() {
    let repo = TestRepo::new();
    repo.write(
        "python/guarded.py",
        "print('imported')\nif __name__ == '__main__':\n    print('hi')\n",
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let guarded = app.script_by_path("python/guarded.py").expect("listed");
    assert_eq!(guarded["load_status"], json!("error"), "{guarded}");
    let reason = guarded["load_error"].as_str().unwrap_or_default();
    assert!(reason.contains("not valid JSON"), "{reason}");
}

#[test]
fn sidecars_are_written_beside_loaded_scripts_and_removed_when_they_break() {
    let repo = TestRepo::new();
    let hello = fixtures::greet_schema();
    let tool = fixtures::one_param("tool");
    let main = fixtures::one_param("main");
    repo.write("python/hello.py", &fixtures::python("Hello.", &hello));
    repo.write("js/tool.mjs", &fixtures::js("Tool.", &tool));
    repo.write("python/grp/requirements.txt", "\n");
    repo.write("python/grp/main.py", &fixtures::python("Group.", &main));
    repo.write(
        "python/broken.py",
        &fixtures::python_schema_mode("print('nope')"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let cases = [
        ("python/hello._map.json", Some(&hello)),
        ("js/tool._map.json", Some(&tool)),
        ("python/grp/main._map.json", Some(&main)),
        ("python/broken._map.json", None),
    ];
    for (sidecar, want) in cases {
        assert_eq!(repo.sidecar(sidecar).as_ref(), want, "{sidecar}");
    }

    repo.write(
        "python/hello.py",
        &fixtures::python_schema_mode("sys.exit(1)"),
    );
    assert!(
        wait_until(WAIT, || app
            .script_by_path("python/hello.py")
            .expect("listed")["load_status"]
            == json!("error")),
        "hello.py broke"
    );
    assert!(
        !repo.exists("python/hello._map.json"),
        "a broken script has no sidecar"
    );

    repo.write("python/hello.py", &fixtures::python("Hello.", &hello));
    assert!(
        wait_until(WAIT, || repo.sidecar("python/hello._map.json")
            == Some(hello.clone())),
        "the sidecar comes back when the script is fixed"
    );

    std::fs::remove_file(repo.abs("js/tool._map.json")).expect("sidecar removed by hand");
    let (status, report) = app.post("/api/scan", &json!({}));
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        repo.sidecar("js/tool._map.json"),
        Some(tool),
        "a scan rewrites a missing sidecar"
    );
}

#[test]
fn every_broken_schema_is_listed_with_the_reason_and_a_hanging_one_is_killed() {
    let repo = TestRepo::new();
    // (path, source, substrings the load_error must contain)
    let hang = "import subprocess, time, os\n\
                child = subprocess.Popen(['sleep', '60'])\n\
                open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hang.pids'), 'w')\
                .write(f'{os.getpid()} {child.pid}')\n\
                time.sleep(60)";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "python/crash.py",
            fixtures::python_schema_mode("raise ValueError('crash-marker-42')"),
            vec!["exited with code 1", "ValueError: crash-marker-42"],
        ),
        (
            "python/not_json.py",
            fixtures::python_schema_mode("print('hello there')"),
            vec!["not valid JSON", "hello there"],
        ),
        (
            "python/array.py",
            fixtures::python_schema_mode("print('[1, 2]')"),
            vec!["schema is an array"],
        ),
        (
            "python/no_flag.py",
            fixtures::python_schema_mode("print(json.dumps({'count': {'type': 'int'}}))"),
            vec!["count", "has no \"flag\""],
        ),
        (
            "python/unknown_type.py",
            fixtures::python_schema_mode(
                "print(json.dumps({'c': {'flag': '--c', 'type': 'colour'}}))",
            ),
            vec!["unknown type", "colour"],
        ),
        (
            "python/choice.py",
            fixtures::python_schema_mode(
                "print(json.dumps({'fmt': {'flag': '--fmt', 'type': 'choice'}}))",
            ),
            vec!["fmt", "\"choices\""],
        ),
        (
            "python/silent.py",
            fixtures::python_schema_mode("pass"),
            vec!["printed nothing"],
        ),
        (
            "python/hang.py",
            fixtures::python_schema_mode(hang),
            vec!["timed out"],
        ),
        (
            "python/flood.py",
            fixtures::python_schema_mode("sys.stdout.write('x' * 3_000_000)"),
            vec!["more than 1 MiB on stdout"],
        ),
        (
            "python/killed.py",
            fixtures::python_schema_mode("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
            vec!["killed by signal 9"],
        ),
        (
            "js/not_object.js",
            "if (process.argv.includes('--_sys_get_schema')) { console.log('\"just text\"'); }\n"
                .to_string(),
            vec!["schema is a string"],
        ),
    ];
    for (path, source, _) in &cases {
        repo.write(path, source);
    }
    repo.write(
        "python/fine.py",
        &fixtures::python("Fine.", &fixtures::one_param("x")),
    );
    // Reading stdin must not hang an extraction: stdin is closed.
    repo.write(
        "python/reads_stdin.py",
        &fixtures::python_schema_mode(
            "sys.stdin.read()\nprint(json.dumps({'x': {'flag': '--x'}}))",
        ),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    assert!(
        app.startup < Duration::from_secs(10),
        "the hanging script was killed at its 2 s timeout, yet start-up took {:?}",
        app.startup
    );

    let pids = repo.read("python/hang.pids");
    let pids: Vec<i32> = pids
        .split_whitespace()
        .map(|p| p.parse().expect("a pid"))
        .collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    for pid in &pids {
        assert!(
            wait_until(Duration::from_secs(5), || !is_running(*pid)),
            "process {pid} of the hanging script (script, grandchild) is still running"
        );
    }

    for (path, _, wants) in &cases {
        let script = app
            .script_by_path(path)
            .unwrap_or_else(|| panic!("{path} is listed"));
        assert_eq!(script["load_status"], json!("error"), "{path}: {script}");
        assert_eq!(script["args_schema"], Value::Null, "{path}");
        let reason = script["load_error"].as_str().unwrap_or_default();
        for want in wants {
            assert!(
                reason.contains(want),
                "{path}: load_error {reason:?} lacks {want:?}"
            );
        }
        let sidecar = format!(
            "{}._map.json",
            path.rsplit_once('.').expect("an extension").0
        );
        assert!(
            !repo.exists(&sidecar),
            "{path}: no sidecar for a broken script"
        );

        let (status, body) = app.get(&format!("/api/scripts/{}/schema", id_of(&script)));
        assert_error(path, status, &body, 422, "schema_not_loadable");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(wants[0]),
            "{path}: 422 message {message:?} says why"
        );
    }
    let fine = app.script_by_path("python/fine.py").expect("listed");
    assert_eq!(
        fine["load_status"],
        json!("ok"),
        "broken neighbours do not matter: {fine}"
    );
    let stdin = app.script_by_path("python/reads_stdin.py").expect("listed");
    assert_eq!(
        stdin["load_status"],
        json!("ok"),
        "stdin is closed, not inherited: {stdin}"
    );

    let began = Instant::now();
    let (status, report) = app.post("/api/scan?force=true", &json!({}));
    let elapsed = began.elapsed();
    assert_eq!(status, 200, "{report}");
    assert!(
        elapsed < Duration::from_secs(10),
        "a forced rescan took {elapsed:?}"
    );
    assert_eq!(report["updated"], json!(cases.len() + 2), "{report}");
    let errors = report["errors"].as_array().expect("errors is a list");
    let mut reported: Vec<_> = errors
        .iter()
        .map(|e| e["path"].as_str().unwrap_or(""))
        .collect();
    reported.sort_unstable();
    let mut broken: Vec<_> = cases.iter().map(|(p, _, _)| *p).collect();
    broken.sort_unstable();
    assert_eq!(reported, broken, "{report}");
    for error in errors {
        let path = error["path"].as_str().unwrap_or_default();
        let wants = &cases.iter().find(|(p, _, _)| *p == path).expect("a case").2;
        let reason = error["error"].as_str().unwrap_or_default();
        assert!(reason.contains(wants[0]), "{path}: scan error {reason:?}");
    }
}

#[test]
fn hot_reload_follows_added_edited_deleted_and_restored_scripts() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    assert_eq!(app.paths(), Vec::<String>::new(), "an empty repository");

    let first = fixtures::one_param("first");
    repo.write("python/live.py", &fixtures::python("Live.", &first));
    let added = wait_for(WAIT, || {
        app.script_by_path("python/live.py")
            .filter(|s| s["load_status"] == json!("ok"))
    })
    .expect("an added script appears without a restart");
    assert_eq!(added["args_schema"], first);
    let id = id_of(&added);

    let second = fixtures::one_param("second");
    repo.write(
        "python/live.py",
        &fixtures::python("Live, edited.", &second),
    );
    let edited = wait_for(WAIT, || {
        app.script_by_path("python/live.py")
            .filter(|s| s["args_schema"] == second)
    })
    .expect("an edit is picked up");
    assert_eq!(id_of(&edited), id, "an edited script keeps its id");
    assert_eq!(edited["description"], json!("Live, edited."));
    assert_eq!(app.get(&format!("/api/scripts/{id}/schema")).1, second);

    repo.write("js/deep/er/tool.mjs", &fixtures::js("Deep.", &first));
    assert!(
        wait_until(WAIT, || app.script_by_path("js/deep/er/tool.mjs").is_some()),
        "a script in a new folder appears: {:?}",
        app.paths()
    );

    repo.remove("python/live.py");
    assert!(
        wait_until(WAIT, || app.script_by_path("python/live.py").is_none()),
        "a deleted script disappears"
    );
    let (status, body) = app.get(&format!("/api/scripts/{id}"));
    assert_error("deleted script", status, &body, 404, "not_found");
    assert!(
        !repo.exists("python/live._map.json"),
        "its sidecar goes too"
    );

    let third = fixtures::one_param("third");
    repo.write("python/live.py", &fixtures::python("Back.", &third));
    let back = wait_for(WAIT, || {
        app.script_by_path("python/live.py")
            .filter(|s| s["args_schema"] == third)
    })
    .expect("a script added back appears");
    assert_eq!(id_of(&back), id, "a path added back gets its old id");
    let (status, one) = app.get(&format!("/api/scripts/{id}"));
    assert_eq!(
        (status, one["path"].clone()),
        (200, json!("python/live.py"))
    );
}

#[test]
fn ids_survive_restarts_and_unchanged_scripts_are_not_run_again() {
    let repo = TestRepo::new();
    let log = "python/counted.runs.log";
    repo.write(
        "python/counted.py",
        &fixtures::python_counting(&fixtures::one_param("a")),
    );
    repo.write(
        "js/other.js",
        &fixtures::js("Other.", &fixtures::one_param("o")),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let ids = ids_by_path(&app);
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(runs_logged(&repo, log), 1, "extracted once at start-up");

    let app = app.restart();
    assert_eq!(ids_by_path(&app), ids, "ids are stable across a restart");
    assert_eq!(
        runs_logged(&repo, log),
        1,
        "an unchanged script is not re-run after a restart"
    );
    let counted = app.script_by_path("python/counted.py").expect("listed");
    assert_eq!(counted["load_status"], json!("ok"), "{counted}");
    assert_eq!(
        counted["args_schema"],
        fixtures::one_param("a"),
        "the stored schema is served"
    );

    let (status, report) = app.post("/api/scan", &json!({}));
    assert_eq!(status, 200, "{report}");
    let counts = |r: &Value| {
        (
            r["added"].clone(),
            r["updated"].clone(),
            r["removed"].clone(),
            r["unchanged"].clone(),
        )
    };
    assert_eq!(
        counts(&report),
        (json!(0), json!(0), json!(0), json!(2)),
        "{report}"
    );
    assert_eq!(runs_logged(&repo, log), 1, "nor by a scan");

    repo.write(
        "python/counted.py",
        &fixtures::python_counting(&fixtures::one_param("b")),
    );
    let (status, report) = app.post("/api/scan", &json!({}));
    assert_eq!(status, 200, "{report}");
    assert!(
        wait_until(WAIT, || app
            .script_by_path("python/counted.py")
            .expect("listed")["args_schema"]
            == fixtures::one_param("b")),
        "the edit is picked up"
    );
    assert_eq!(
        runs_logged(&repo, log),
        2,
        "an edited script is extracted exactly once more"
    );

    let (status, report) = app.post("/api/scan?force=true", &json!({}));
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        counts(&report),
        (json!(0), json!(2), json!(0), json!(0)),
        "{report}"
    );
    assert_eq!(runs_logged(&repo, log), 3, "a forced scan re-runs it");

    let app = app.restart();
    assert_eq!(
        ids_by_path(&app),
        ids,
        "ids are still the same after edits and a restart"
    );
    assert_eq!(runs_logged(&repo, log), 3);

    let app = app.restart_after(|| repo.remove("js/other.js"));
    assert_eq!(
        app.paths(),
        ["python/counted.py"],
        "a script deleted while the gateway was down is gone"
    );
    repo.write(
        "js/other.js",
        &fixtures::js("Other again.", &fixtures::one_param("o2")),
    );
    let back = wait_for(WAIT, || app.script_by_path("js/other.js")).expect("added back");
    assert_eq!(
        Some(&id_of(&back)),
        ids.get("js/other.js"),
        "and keeps its id when it returns"
    );
}

#[test]
fn a_dependency_file_turns_a_folder_into_a_group_and_back() {
    let repo = TestRepo::new();
    repo.write(
        "python/tools/a.py",
        &fixtures::python("A.", &fixtures::one_param("x")),
    );
    repo.write(
        "js/web/b.js",
        &fixtures::js("B.", &fixtures::one_param("y")),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let group = |path: &str| app.script_by_path(path).map(|s| s["group"].clone());
    assert_eq!(group("python/tools/a.py"), Some(Value::Null));
    assert_eq!(group("js/web/b.js"), Some(Value::Null));
    let id = id_of(&app.script_by_path("python/tools/a.py").expect("listed"));

    repo.write("python/tools/requirements.txt", "requests==2.32.3\n");
    repo.write(
        "js/web/package.json",
        "{\"dependencies\": {\"uuid\": \"^9.0.1\"}}\n",
    );
    assert!(
        wait_until(WAIT, || group("python/tools/a.py")
            == Some(json!("python/tools"))
            && group("js/web/b.js") == Some(json!("js/web"))),
        "a new dependency file makes a group: {:?}",
        app.all_scripts()
    );
    let a = app.script_by_path("python/tools/a.py").expect("listed");
    assert_eq!(
        (id_of(&a), a["load_status"].clone()),
        (id, json!("ok")),
        "{a}"
    );

    repo.remove("python/tools/requirements.txt");
    assert!(
        wait_until(WAIT, || group("python/tools/a.py") == Some(Value::Null)),
        "without it the folder is no group"
    );

    std::fs::remove_dir_all(repo.abs("js/web")).expect("the folder can be removed");
    assert!(
        wait_until(WAIT, || app.script_by_path("js/web/b.js").is_none()),
        "removing a whole folder removes its scripts"
    );
}

#[test]
fn post_scan_reports_added_updated_removed_unchanged_and_errors() {
    let repo = TestRepo::new();
    repo.write(
        "python/a.py",
        &fixtures::python("A.", &fixtures::one_param("a")),
    );
    repo.write(
        "python/b.py",
        &fixtures::python("B.", &fixtures::one_param("b")),
    );
    repo.write(
        "python/c_broken.py",
        &fixtures::python_schema_mode("sys.exit(7)"),
    );
    repo.write("js/d.js", &fixtures::js("D.", &fixtures::one_param("d")));
    let data = data_dir();
    // A 10 s debounce keeps the watcher out of the way: this scan sees the changes.
    let app = spawn_app(&repo, data.path(), &["--watch-debounce-ms", "10000"]);
    let before = ids_by_path(&app);

    repo.write(
        "python/e.py",
        &fixtures::python("E.", &fixtures::one_param("e")),
    );
    repo.write(
        "python/a.py",
        &fixtures::python("A2.", &fixtures::one_param("a2")),
    );
    repo.remove("python/b.py");
    let (status, report) = app.post("/api/scan", &json!({}));
    assert_eq!(status, 200, "{report}");
    let counts: Vec<_> = ["added", "updated", "removed", "unchanged"]
        .iter()
        .map(|k| report[k].clone())
        .collect();
    assert_eq!(counts, [json!(1), json!(1), json!(1), json!(2)], "{report}");
    let errors = report["errors"].as_array().expect("errors is a list");
    assert_eq!(errors.len(), 1, "{report}");
    let mut keys: Vec<_> = errors[0]
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(keys, ["error", "path"], "{report}");
    assert_eq!(errors[0]["path"], json!("python/c_broken.py"));
    let reason = errors[0]["error"].as_str().unwrap_or_default();
    assert!(reason.contains("exited with code 7"), "{reason}");
    let broken = app.script_by_path("python/c_broken.py").expect("listed");
    assert_eq!(
        broken["load_error"], errors[0]["error"],
        "the same reason as the listing"
    );

    let after = ids_by_path(&app);
    assert_eq!(
        after.get("python/a.py"),
        before.get("python/a.py"),
        "an update keeps the id"
    );
    assert!(!after.contains_key("python/b.py"), "{after:?}");
    assert!(after.contains_key("python/e.py"), "{after:?}");

    let (_, again) = app.post("/api/scan", &json!({}));
    let counts: Vec<_> = ["added", "updated", "removed", "unchanged"]
        .iter()
        .map(|k| again[k].clone())
        .collect();
    assert_eq!(
        counts,
        [json!(0), json!(0), json!(0), json!(4)],
        "a second scan: {again}"
    );
}

#[test]
fn a_crashing_js_script_reports_the_exception_message() {
    let repo = TestRepo::new();
    // The exception is thrown a few calls deep, as in any real script: Node prints the
    // message first and the stack after it.
    let source = "function parse(v) { throw new TypeError('js-crash-marker: bad config'); }\n\
                  function load() { return parse(1); }\n\
                  function main() { return load(); }\n\
                  if (process.argv.includes('--_sys_get_schema')) { main(); }\n";
    repo.write("js/tools/crash.js", source);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let script = app.script_by_path("js/tools/crash.js").expect("listed");
    assert_eq!(script["load_status"], json!("error"), "{script}");
    let reason = script["load_error"].as_str().unwrap_or_default();
    assert!(reason.contains("exited with code 1"), "{reason}");
    assert!(
        reason.contains("TypeError: js-crash-marker: bad config"),
        "the load_error must say why the script failed, not only where: {reason:?}"
    );
}

#[test]
fn a_script_restored_with_its_old_content_gets_its_sidecar_back() {
    let repo = TestRepo::new();
    let schema = fixtures::one_param("x");
    let source = fixtures::python("Comes back.", &schema);
    repo.write("python/back.py", &source);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = id_of(&app.script_by_path("python/back.py").expect("listed"));
    assert_eq!(repo.sidecar("python/back._map.json"), Some(schema.clone()));

    repo.remove("python/back.py");
    assert!(
        wait_until(WAIT, || app.script_by_path("python/back.py").is_none()),
        "removed"
    );
    assert!(
        !repo.exists("python/back._map.json"),
        "the sidecar went with it"
    );

    repo.write("python/back.py", &source);
    let back = wait_for(WAIT, || app.script_by_path("python/back.py")).expect("restored");
    assert_eq!(id_of(&back), id, "same id");
    assert_eq!(back["load_status"], json!("ok"), "{back}");
    assert_eq!(back["args_schema"], schema, "the stored schema is reused");
    assert_eq!(
        repo.sidecar("python/back._map.json"),
        Some(schema),
        "a loaded script has its sidecar beside it"
    );
}

#[test]
fn a_background_process_that_keeps_stdout_open_does_not_lose_the_printed_schema() {
    let repo = TestRepo::new();
    let body = "import subprocess\n\
                subprocess.Popen(['sleep', '5'], start_new_session=True)\n\
                print(json.dumps({'x': {'flag': '--x'}}), flush=True)";
    repo.write("python/detached.py", &fixtures::python_schema_mode(body));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let script = app.script_by_path("python/detached.py").expect("listed");
    assert_eq!(script["load_status"], json!("ok"), "{script}");
    assert_eq!(script["args_schema"], json!({"x": {"flag": "--x"}}));
}
