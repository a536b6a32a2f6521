//! Per-script dependency caches, the shared sets and the dependency API, offline: every
//! package comes from wheels and npm folders built by the test.

use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::deps_support::{
    cache_status, dependencies, js_importing, python_importing, python_plain, settled,
    spawn_offline, wait_for_help, LocalPackages, INSTALL_WAIT,
};
use crate::helpers::{data_dir, wait_until, TestRepo};

#[test]
fn identical_sets_written_differently_share_one_cache() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_importing("sgdemo"));
    repo.write("python/a_requirements.txt", "sgdemo==1.0\n");
    repo.write("python/b.py", &python_importing("sgdemo"));
    repo.write(
        "python/b_requirements.txt",
        "# the demo\n\n   SGDemo == 1.0   # pinned\n",
    );
    repo.write(
        "python/grp/requirements.txt",
        "sgdemo==1.0\r\nsgdemo==1.0\r\n",
    );
    repo.write("python/grp/main.py", &python_importing("sgdemo"));
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);

    let paths = ["python/a.py", "python/b.py", "python/grp/main.py"];
    let scripts: Vec<Value> = paths.iter().map(|p| settled(&app, p)).collect();
    for script in &scripts {
        assert_eq!(script["deps_status"], json!("ready"), "{script}");
        assert_eq!(
            script["deps_hash"], scripts[0]["deps_hash"],
            "one hash for one set: {script}"
        );
    }
    let caches = cache_status(&app);
    assert_eq!(caches.len(), 1, "one cache: {caches:?}");
    let users: Vec<&str> = caches[0]["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["path"].as_str().unwrap())
        .collect();
    assert_eq!(users, paths, "every script uses it");
    assert_eq!(
        dependencies(&app, &scripts[1])["attempts"],
        json!(1),
        "installed once"
    );
    for path in paths {
        wait_for_help(&app, path, "sgdemo 1.0");
    }
}

#[test]
fn two_versions_of_one_package_stay_isolated() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/one.py", &python_importing("sgdemo"));
    repo.write("python/one_requirements.txt", "sgdemo==1.0\n");
    repo.write("python/two.py", &python_importing("sgdemo"));
    repo.write("python/two_requirements.txt", "sgdemo==2.0\n");
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);

    let one = wait_for_help(&app, "python/one.py", "sgdemo 1.0");
    let two = wait_for_help(&app, "python/two.py", "sgdemo 2.0");
    assert_ne!(one["deps_hash"], two["deps_hash"]);
    assert_eq!(
        two["deps_file"],
        json!("python/two_requirements.txt"),
        "{two}"
    );
    let deps = dependencies(&app, &two);
    assert_eq!(deps["deps"], json!(["sgdemo==2.0"]), "{deps}");
    assert_eq!(deps["source_file"], json!("python/two_requirements.txt"));
    assert_eq!(deps["installed"], json!(true));
    let cache_dir = deps["cache_dir"].as_str().unwrap();
    assert!(
        cache_dir.ends_with(&format!(
            "deps_cache/python/{}",
            two["deps_hash"].as_str().unwrap()
        )),
        "{cache_dir}"
    );
    assert!(std::path::Path::new(cache_dir)
        .join("sgdemo/__init__.py")
        .is_file());
}

#[test]
fn js_packages_load_by_require_and_by_import_and_identical_sets_share() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    let (v1, v2) = (packages.npm("1.0.0"), packages.npm("2.0.0"));
    repo.write("js/cjs.cjs", &js_importing(false));
    repo.write(
        "js/cjs_package.json",
        &json!({"dependencies": {"sgdemo-js": v1}}).to_string(),
    );
    repo.write("js/esm.mjs", &js_importing(true));
    repo.write(
        "js/esm_package.json",
        &json!({"devDependencies": {"sgdemo-js": v2}}).to_string(),
    );
    repo.write("js/same.cjs", &js_importing(false));
    repo.write(
        "js/same_package.json",
        &format!(
            "{{\n  \"name\": \"same\",\n  \"dependencies\": {{ \"sgdemo-js\": \"  {v1} \" }}\n}}\n"
        ),
    );
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);

    let cjs = wait_for_help(&app, "js/cjs.cjs", "sgdemo-js 1.0.0");
    let esm = wait_for_help(&app, "js/esm.mjs", "sgdemo-js 2.0.0");
    let same = wait_for_help(&app, "js/same.cjs", "sgdemo-js 1.0.0");
    assert_eq!(
        cjs["deps_hash"], same["deps_hash"],
        "written differently, one set"
    );
    assert_ne!(cjs["deps_hash"], esm["deps_hash"]);
    let deps = dependencies(&app, &cjs);
    assert_eq!(deps["installer"], json!("npm"));
    assert!(
        deps["cache_dir"]
            .as_str()
            .unwrap()
            .contains("deps_cache/nodejs/"),
        "{deps}"
    );
    assert_eq!(cache_status(&app).len(), 2);
}

#[test]
fn concurrent_install_requests_run_the_installer_once() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_plain());
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    let id = app.script_by_path("python/a.py").expect("listed")["id"].clone();
    // The file appears while the gateway runs: a scan install and the requests race.
    repo.write("python/a_requirements.txt", "sgdemo==2.0\n");
    let path = format!("/api/scripts/{id}/dependencies/install");
    let answers: Vec<(u16, Value)> = thread::scope(|scope| {
        let calls: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| app.post(&path, &json!({}))))
            .collect();
        calls
            .into_iter()
            .map(|c| c.join().expect("the request thread"))
            .collect()
    });
    for (status, body) in &answers {
        assert_eq!((*status, &body["status"]), (200, &json!("ready")), "{body}");
    }
    let installed = answers
        .iter()
        .filter(|(_, b)| b["reused"] == json!(false))
        .count();
    assert!(
        installed <= 1,
        "at most one request ran the installer: {answers:?}"
    );
    let script = settled(&app, "python/a.py");
    assert_eq!(
        dependencies(&app, &script)["attempts"],
        json!(1),
        "one install in all"
    );
}

#[test]
fn a_failing_install_is_remembered_until_the_file_changes_or_a_forced_reinstall() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_plain());
    repo.write("python/a_requirements.txt", "sgdemo==1.0\nnosuchpkg==1.0\n");
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);

    let script = settled(&app, "python/a.py");
    assert_eq!(script["deps_status"], json!("failed"), "{script}");
    assert_eq!(
        script["load_status"],
        json!("ok"),
        "the schema does not need the packages"
    );
    let deps = dependencies(&app, &script);
    let error = deps["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("nosuchpkg") && !error.contains("sgdemo"),
        "names the failing package: {deps}"
    );
    assert!(
        deps["last_install"]["log"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchpkg"),
        "{deps}"
    );

    repo.write("python/a.py", &format!("{}# edited\n", python_plain()));
    let (status, report) = app.post("/api/scan", &json!({}));
    assert_eq!(status, 200, "{report}");
    let after = app.script_by_path("python/a.py").unwrap();
    assert_eq!(
        after["deps_status"],
        json!("failed"),
        "not retried on rescan: {after}"
    );
    assert_eq!(dependencies(&app, &after)["attempts"], json!(1));

    let install = format!("/api/scripts/{}/dependencies/install", script["id"]);
    let (_, remembered) = app.post(&install, &json!({}));
    assert_eq!(
        (&remembered["status"], &remembered["reused"]),
        (&json!("failed"), &json!(true)),
        "{remembered}"
    );
    let (_, forced) = app.post(&format!("{install}?force=true"), &json!({}));
    assert_eq!(
        (&forced["status"], &forced["reused"]),
        (&json!("failed"), &json!(false)),
        "{forced}"
    );
    assert_eq!(dependencies(&app, &after)["attempts"], json!(2));

    repo.write("python/a_requirements.txt", "sgdemo==1.0\n");
    assert!(
        wait_until(INSTALL_WAIT, || app.script_by_path("python/a.py").unwrap()
            ["deps_status"]
            == json!("ready")),
        "a changed file is installed: {:?}",
        app.script_by_path("python/a.py")
    );
}

#[test]
fn shell_metacharacters_in_requirements_are_never_interpreted() {
    let packages = LocalPackages::build();
    let marker = std::env::temp_dir().join(format!("sg-pwned-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let marker_text = marker.display().to_string();
    let repo = TestRepo::new();
    repo.write("python/marker.py", &python_plain());
    repo.write(
        "python/marker_requirements.txt",
        &format!("sgdemo; touch {marker_text}\n"),
    );
    repo.write("python/subst.py", &python_plain());
    repo.write(
        "python/subst_requirements.txt",
        &format!("$(touch {marker_text})\n"),
    );
    repo.write("js/x.cjs", &js_importing(false));
    repo.write(
        "js/x_package.json",
        &json!({"dependencies": {"sgdemo-js": format!("1.0.0; touch {marker_text}")}}).to_string(),
    );
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);

    for path in ["python/marker.py", "python/subst.py", "js/x.cjs"] {
        let script = settled(&app, path);
        assert_eq!(script["deps_status"], json!("failed"), "{script}");
        let error = dependencies(&app, &script)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            error.contains("sgdemo") || error.contains("is not a requirement"),
            "{path}: {error}"
        );
    }
    assert!(!marker.exists(), "no shell ran the requirement text");
}

#[test]
fn malformed_dependency_files_fail_with_the_reason() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    let cases = [
        (
            "python/opt.py",
            "python/opt_requirements.txt",
            "six\n-r other.txt\n",
            "line 2: the option -r is not supported",
        ),
        (
            "python/bad.py",
            "python/bad_requirements.txt",
            "requests | 2\n",
            "is not a version specifier",
        ),
        (
            "js/app/index.js",
            "js/app/package.json",
            "{\"dependencies\": [\"uuid\"]}",
            "\"dependencies\" must be an object",
        ),
        (
            "js/broken.cjs",
            "js/broken_package.json",
            "{oops",
            "not valid JSON",
        ),
    ];
    for (script, file, content, _) in cases {
        let source = if script.starts_with("python") {
            python_plain()
        } else {
            js_importing(false)
        };
        repo.write(script, &source);
        repo.write(file, content);
    }
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    for (path, file, _, reason) in cases {
        let script = app.script_by_path(path).expect("listed");
        assert_eq!(script["deps_status"], json!("failed"), "{script}");
        let deps = dependencies(&app, &script);
        let error = deps["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(file) && error.contains(reason),
            "{path}: {error}"
        );
        assert_eq!(deps["attempts"], json!(0), "no installer ran: {deps}");
    }
}

#[test]
fn cleanup_removes_only_unused_caches() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_plain());
    repo.write("python/a_requirements.txt", "sgdemo==1.0\n");
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    let old = settled(&app, "python/a.py");
    let (status, shared) = app.post(
        "/api/deps/install",
        &json!({"runtime": "python", "deps": [{"name": "sgshared", "version": "1.0"}]}),
    );
    assert_eq!(
        (status, &shared["status"]),
        (200, &json!("ready")),
        "{shared}"
    );

    repo.write("python/a_requirements.txt", "sgdemo==2.0\n");
    assert!(wait_until(INSTALL_WAIT, || {
        let now = app.script_by_path("python/a.py").unwrap();
        now["deps_hash"] != old["deps_hash"] && now["deps_status"] == json!("ready")
    }));
    assert_eq!(cache_status(&app).len(), 3, "old, new and shared");

    let (_, recent) = app.post("/api/dependencies/cache/cleanup", &json!({}));
    assert_eq!(
        recent["removed"],
        json!([]),
        "the default spares recently used caches: {recent}"
    );
    let (status, report) = app.post(
        "/api/dependencies/cache/cleanup",
        &json!({"older_than_days": 0}),
    );
    assert_eq!(status, 200, "{report}");
    let removed: Vec<&str> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hash"].as_str().unwrap())
        .collect();
    assert_eq!(removed, [old["deps_hash"].as_str().unwrap()], "{report}");
    assert_eq!(report["kept_in_use"], json!(2), "{report}");
    let old_dir = data
        .path()
        .join("deps_cache/python")
        .join(old["deps_hash"].as_str().unwrap());
    assert!(!old_dir.exists());
    let (status, bad) = app.post(
        "/api/dependencies/cache/cleanup",
        &json!({"older_than_days": -1}),
    );
    assert_eq!(
        (status, &bad["error"]["code"]),
        (400, &json!("invalid_request")),
        "{bad}"
    );
}

/// The install does not wait for the bytecode compiler (it made a first load of a repo with
/// a large set seconds slower); the ready cache gets its bytecode right after.
#[test]
fn a_ready_python_cache_gets_its_bytecode_after_the_install() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_importing("sgdemo"));
    repo.write("python/a_requirements.txt", "sgdemo==1.0\n");
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    wait_for_help(&app, "python/a.py", "sgdemo 1.0");
    let caches = cache_status(&app);
    assert_eq!(caches.len(), 1, "{caches:?}");
    let dir = std::path::PathBuf::from(caches[0]["cache_dir"].as_str().expect("cache_dir"));
    assert!(
        wait_until(Duration::from_secs(30), || compiled(&dir, "sgdemo")),
        "no bytecode of sgdemo under {}",
        dir.display()
    );
}

/// Whether a `.pyc` of `module` is anywhere under `dir`.
fn compiled(dir: &std::path::Path, module: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            compiled(&path, module)
        } else {
            name.ends_with(".pyc") && path.to_string_lossy().contains(module)
        }
    })
}

#[test]
fn a_restart_finds_caches_ready_without_reinstalling() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_importing("sgdemo"));
    repo.write("python/a_requirements.txt", "sgdemo==1.0\n");
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    let before = wait_for_help(&app, "python/a.py", "sgdemo 1.0");
    assert_eq!(before["deps_status"], json!("ready"));

    let app = app.restart();
    let after = app.script_by_path("python/a.py").expect("listed");
    assert_eq!(
        (&after["deps_status"], &after["load_status"]),
        (&json!("ready"), &json!("ok")),
        "{after}"
    );
    assert_eq!(
        dependencies(&app, &after)["attempts"],
        json!(1),
        "nothing was installed again"
    );
}

#[test]
fn shared_deps_are_installed_into_their_own_cache_and_listed() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_plain());
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);

    let body = json!({"runtime": "python", "deps": [{"name": "sgshared", "version": "1.0"}]});
    let (status, report) = app.post("/api/deps/install", &body);
    assert_eq!(
        (status, &report["status"]),
        (200, &json!("ready")),
        "{report}"
    );
    let (_, listed) = app.get("/api/deps?runtime=python");
    let item = &listed["items"][0];
    assert_eq!(
        item["deps"],
        json!([{"name": "sgshared", "requested": "sgshared==1.0", "installed_version": "1.0"}]),
        "{listed}"
    );
    assert!(data
        .path()
        .join("deps_cache/python/shared/sgshared/__init__.py")
        .is_file());

    let script = app.script_by_path("python/a.py").unwrap();
    let (_, env) = app.get(&format!("/api/scripts/{}/environment", script["id"]));
    let pythonpath = env["env"]["PYTHONPATH"].as_str().unwrap_or_default();
    let folders: Vec<&str> = pythonpath.split(':').collect();
    assert!(
        folders.len() == 2 && folders[0].ends_with("deps_cache/python/shared"),
        "runs get the shared set, then the original gateway's helper modules: {env}"
    );

    let cases = [
        (
            json!({"runtime": "ruby", "deps": [{"name": "x"}]}),
            "runtime must be",
        ),
        (
            json!({"runtime": "python", "deps": []}),
            "at least one package",
        ),
        (
            json!({"runtime": "python", "deps": [{"name": "six; rm -rf /"}]}),
            "is not a package name",
        ),
        (
            json!({"runtime": "js", "deps": [{"name": "a b", "version": "1"}]}),
            "not a valid npm package name",
        ),
    ];
    for (body, reason) in cases {
        let (status, answer) = app.post("/api/deps/install", &body);
        assert_eq!(
            (status, &answer["error"]["code"]),
            (400, &json!("invalid_request")),
            "{body}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "{answer}"
        );
    }
}

#[test]
fn environment_shows_what_a_run_gets_without_the_gateways_secrets() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("js/tool.mjs", &js_importing(true));
    repo.write(
        "js/tool_package.json",
        &json!({"dependencies": {"sgdemo-js": packages.npm("1.0.0")}}).to_string(),
    );
    let data = data_dir();
    let app = spawn_offline(
        &repo,
        data.path(),
        &packages,
        &["--api-key", "top-secret-key"],
    );
    let auth = [("Authorization", "Bearer top-secret-key")];
    let list = app.call("GET", "/api/scripts", &auth, None);
    let id = list.body["items"][0]["id"].clone();

    let reply = app.call(
        "GET",
        &format!("/api/scripts/{id}/environment"),
        &auth,
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let env = &reply.body["env"];
    assert!(
        env["NODE_PATH"]
            .as_str()
            .unwrap_or_default()
            .contains("deps_cache/nodejs/"),
        "{env}"
    );
    assert!(
        env["NODE_OPTIONS"]
            .as_str()
            .unwrap_or_default()
            .starts_with("--import=file://"),
        "ES modules get the hook: {env}"
    );
    assert!(env["PATH"].is_string() && env["HOME"].is_string(), "{env}");
    assert!(
        !reply.body.to_string().contains("top-secret-key"),
        "no secret leaks: {}",
        reply.body
    );
    assert_eq!(reply.body["runtime"], json!("js"));
}

#[test]
fn the_batch_route_is_not_taken_for_a_script_id() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_plain());
    repo.write("python/a_requirements.txt", "sgdemo==1.0\n");
    repo.write("python/b.py", &python_plain());
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    let a = app.script_by_path("python/a.py").unwrap();
    let b = app.script_by_path("python/b.py").unwrap();

    let body = json!({"script_ids": [a["id"], b["id"], 9999]});
    let (status, batch) = app.post("/api/scripts/batch/dependencies/install", &body);
    assert_eq!(status, 200, "{batch}");
    assert_eq!(
        (&batch["ready"], &batch["none"], &batch["not_found"]),
        (&json!(1), &json!(1), &json!([9999])),
        "{batch}"
    );
    let (status, all) = app.post("/api/scripts/batch/dependencies/install", &json!({}));
    assert_eq!(
        (status, all["results"].as_array().map(Vec::len)),
        (200, Some(1)),
        "every script with a file: {all}"
    );
    let reply = app.call("GET", "/api/scripts/batch/dependencies/install", &[], None);
    assert_eq!(reply.status, 405, "{}", reply.body);
    let (status, unknown) = app.get("/api/scripts/9999/dependencies");
    assert_eq!(
        (status, &unknown["error"]["code"]),
        (404, &json!("not_found"))
    );
}

/// Needs the runner to call `DepsManager::prepare_for_run`; enable once it does.
#[test]
fn runs_get_their_dependencies_and_a_failed_set_answers_a_clear_error() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/ok.py", &python_importing("sgdemo"));
    repo.write("python/ok_requirements.txt", "sgdemo==2.0\n");
    repo.write("python/bad.py", &python_plain());
    repo.write("python/bad_requirements.txt", "nosuchpkg==1.0\n");
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    let ok = wait_for_help(&app, "python/ok.py", "sgdemo 2.0");
    let (status, run) = app.post(&format!("/api/scripts/{}/run", ok["id"]), &json!({}));
    assert_eq!(
        (status, &run["data"]),
        (200, &json!({"version": "2.0"})),
        "{run}"
    );

    let bad = settled(&app, "python/bad.py");
    let (status, answer) = app.post(&format!("/api/scripts/{}/run", bad["id"]), &json!({}));
    assert_eq!(
        (status, &answer["error"]["code"]),
        (409, &json!("dependencies_failed")),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchpkg"),
        "{answer}"
    );
}

/// Needs the runner to call `DepsManager::prepare_for_run`; enable once it does.
#[test]
fn concurrent_first_runs_install_once() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/a.py", &python_plain());
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    let id = app.script_by_path("python/a.py").unwrap()["id"].clone();
    let cache_root = data.path().join("deps_cache/python");
    repo.write("python/a_requirements.txt", "sgdemo==1.0\n");
    // Remove whatever the scan installs, so the runs find the cache missing.
    assert!(wait_until(INSTALL_WAIT, || settled(&app, "python/a.py")
        ["deps_status"]
        == json!("ready")));
    let (_, cleaned) = app.post(
        "/api/dependencies/cache/cleanup",
        &json!({"older_than_days": 0}),
    );
    assert_eq!(cleaned["removed"], json!([]), "in use, so kept");
    let hash = app.script_by_path("python/a.py").unwrap()["deps_hash"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_dir_all(cache_root.join(&hash)).expect("the cache can be removed by hand");
    let runs: Vec<(u16, Value)> = thread::scope(|scope| {
        let calls: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| app.post(&format!("/api/scripts/{id}/run"), &json!({}))))
            .collect();
        calls
            .into_iter()
            .map(|c| c.join().expect("the request thread"))
            .collect()
    });
    for (status, run) in &runs {
        assert_eq!((*status, &run["status"]), (200, &json!("success")), "{run}");
    }
    let script = app.script_by_path("python/a.py").unwrap();
    assert_eq!(
        dependencies(&app, &script)["attempts"],
        json!(2),
        "the scan's install and one run's"
    );
}
