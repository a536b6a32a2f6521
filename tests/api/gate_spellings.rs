//! Every operation in `/openapi.json`, its path spelled every way a client or an attacker
//! might (percent-encoded letters and slashes, doubled slashes, dot segments, upper case, a
//! trailing slash), sent raw over a socket with no key, a run key and the admin key. However
//! a path is spelled, the route it reaches keeps its gate.

use serde_json::{json, Value};

use crate::helpers::{data_dir, fixtures, spawn_app, RawReply, TestApp, TestRepo};

const MASTER: &str = "master-s3cret";
/// An id nothing has, for operations that must not act for real (deletes, installs).
const NOTHING: &str = "999999";

/// One operation of the document, made concrete.
struct Operation {
    method: String,
    path: String,
    body: Option<Value>,
}

/// What the battery fills the path parameters with.
struct Ids {
    script: i64,
    run: i64,
}

/// A path spelled another way, and whether the router must see it as the same path.
struct Spelling {
    how: &'static str,
    target: String,
    same_route: bool,
}

/// A script with one required int, so run requests without it fail validation and never
/// start a process.
fn counter() -> String {
    fixtures::python(
        "Counts.",
        &json!({"n": {"flag": "--n", "type": "int", "required": true}}),
    )
}

fn with_master() -> [(&'static str, &'static str); 1] {
    [("X-API-Key", MASTER)]
}

fn create_run_key(app: &TestApp) -> String {
    let body = json!({"name": "battery", "scope": "run"});
    let reply = app.call("POST", "/api/keys", &with_master(), Some(&body));
    assert_eq!(reply.status, 201, "a run key: {}", reply.body);
    reply.body["key"].as_str().expect("the secret").to_string()
}

/// One real run, so run routes have something to find.
fn a_finished_run(app: &TestApp, script: i64) -> i64 {
    let path = format!("/api/scripts/{script}/run");
    let reply = app.call("POST", &path, &with_master(), Some(&json!({"n": 1})));
    assert_eq!(reply.status, 200, "a real run: {}", reply.body);
    reply.body["run_id"].as_i64().expect("a run id")
}

/// Every operation of the document, with its parameters filled in and a body that fails
/// validation where a real body would change something the battery needs.
fn operations(document: &Value, ids: &Ids) -> Vec<Operation> {
    let paths = document["paths"].as_object().expect("paths is an object");
    let mut found = Vec::new();
    for (template, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = method.to_uppercase();
            let path = fill(template, &method, ids);
            let body = (method != "GET" && method != "DELETE").then(|| probe_body(&path));
            found.push(Operation { method, path, body });
        }
    }
    found
}

fn fill(template: &str, method: &str, ids: &Ids) -> String {
    let mut path = String::new();
    for segment in template.split('/').skip(1) {
        path.push('/');
        if !segment.starts_with('{') {
            path.push_str(segment);
            continue;
        }
        let name = segment.trim_matches(['{', '}']);
        let name = name.split(':').next().unwrap_or(name);
        let acting = method == "DELETE" || template.ends_with("/dependencies/install");
        let value = match name {
            "id" if template.starts_with("/api/runs/") => ids.run.to_string(),
            "id" if template.starts_with("/api/scripts/") && !acting => ids.script.to_string(),
            "key" => "max_queued_runs".to_string(),
            "runtime" => "python".to_string(),
            "name" => "out.txt".to_string(),
            _ => NOTHING.to_string(),
        };
        path.push_str(&value);
    }
    path
}

/// A body every write operation refuses (unknown or mistyped fields), or ignores.
fn probe_body(path: &str) -> Value {
    if path.ends_with("/batch/dependencies/install") {
        json!({"script_ids": "none"})
    } else if path.ends_with("/deps/install") {
        json!({"runtime": 5})
    } else {
        json!({"__probe": true})
    }
}

/// `path` spelled every way the battery tries.
fn spellings(path: &str) -> Vec<Spelling> {
    let rest = path.strip_prefix("/api").filter(|r| r.starts_with('/'));
    let mut out = vec![spelled("as is", path.to_string(), true)];
    if let Some(rest) = rest {
        out.push(spelled("%61pi", format!("/%61pi{rest}"), true));
        out.push(spelled("ap%69", format!("/ap%69{rest}"), true));
        out.push(spelled("%61%70%69", format!("/%61%70%69{rest}"), true));
        out.push(spelled("api%2F", format!("/api%2F{}", &rest[1..]), false));
        out.push(spelled("dot-dot", format!("/api/x/..{rest}"), false));
        out.push(spelled("dot", format!("/api/.{rest}"), false));
    }
    if let Some(encoded) = encode_a_later_letter(path) {
        out.push(spelled("a later letter encoded", encoded, true));
    }
    if let Some(at) = path.rfind('/').filter(|at| *at > 0) {
        let target = format!("{}%2F{}", &path[..at], &path[at + 1..]);
        out.push(spelled("last slash %2F", target, false));
    }
    out.extend([
        spelled("doubled slashes", path.replace('/', "//"), true),
        spelled("leading dot", format!("/.{path}"), false),
        spelled("upper case", path.to_uppercase(), false),
        spelled("trailing slash", format!("{path}/"), false),
    ]);
    out
}

fn spelled(how: &'static str, target: String, same_route: bool) -> Spelling {
    Spelling {
        how,
        target,
        same_route,
    }
}

/// The first letter of the last segment after the first that has one, percent-encoded.
fn encode_a_later_letter(path: &str) -> Option<String> {
    let has_letter = |segment: &str| segment.chars().any(|c| c.is_ascii_alphabetic());
    let start = path
        .match_indices('/')
        .map(|(at, _)| at + 1)
        .rev()
        .find(|&start| start > 1 && has_letter(path[start..].split('/').next().unwrap_or("")))?;
    let at = start + path[start..].find(|c: char| c.is_ascii_alphabetic())?;
    let letter = path.as_bytes()[at];
    Some(format!("{}%{letter:02X}{}", &path[..at], &path[at + 1..]))
}

fn send(app: &TestApp, operation: &Operation, target: &str, key: Option<&str>) -> RawReply {
    let headers: Vec<(&str, &str)> = key.map(|k| ("X-API-Key", k)).into_iter().collect();
    app.raw_call(&operation.method, target, &headers, operation.body.as_ref())
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

#[test]
fn every_operation_keeps_its_gate_however_its_path_is_spelled() {
    let repo = TestRepo::new();
    repo.write("python/counter.py", &counter());
    let data = data_dir();
    // Sessions on, so the admin key reaches those routes too (while off they answer 403
    // `exec_disabled` to every key); the probes never start a worker.
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER, "--exec-enabled"]);
    let run_key = create_run_key(&app);
    let listed = app.call("GET", "/api/scripts", &with_master(), None);
    let script = listed.body["items"][0]["id"].as_i64().expect("a script id");
    let ids = Ids {
        script,
        run: a_finished_run(&app, script),
    };
    let document = app.get("/openapi.json").1;
    let operations = operations(&document, &ids);
    assert!(
        operations.len() > 40,
        "too few operations: {}",
        operations.len()
    );

    let mut requests = 0;
    for operation in &operations {
        // `/metrics` asks for a metrics (or admin) key, like the admin routes ask for theirs.
        let guarded = operation.path.starts_with("/api/") || operation.path == "/metrics";
        let as_is = [None, Some(run_key.as_str()), Some(MASTER)]
            .map(|key| send(&app, operation, &operation.path, key).status);
        let admin_only = guarded && as_is[1] == 403;
        for spelling in spellings(&operation.path) {
            let what = format!(
                "{} {} ({})",
                operation.method, spelling.target, spelling.how
            );
            let [anonymous, run, admin] = [None, Some(run_key.as_str()), Some(MASTER)]
                .map(|key| send(&app, operation, &spelling.target, key));
            requests += 3;
            for (who, reply) in [("no key", &anonymous), ("run key", &run), ("admin", &admin)] {
                assert!(reply.status < 500, "{what} with {who}: {}", reply.status);
            }
            if guarded {
                assert!(
                    [400, 401, 404, 405].contains(&anonymous.status),
                    "{what} without a key: {} {}",
                    anonymous.status,
                    anonymous.body
                );
                if admin_only {
                    assert!(
                        !is_success(run.status),
                        "{what} with a run key: {}",
                        run.body
                    );
                }
            } else {
                assert_ne!(anonymous.status, 401, "{what}: stays open");
            }
            assert!(
                ![401, 403].contains(&admin.status),
                "{what} with the admin key: {} {}",
                admin.status,
                admin.body
            );
            if spelling.same_route {
                let now = [anonymous.status, run.status, admin.status];
                assert_eq!(now, as_is, "{what}: answers as the path as is does");
                if guarded {
                    assert_eq!(anonymous.status, 401, "{what} without a key");
                }
            }
        }
    }
    assert!(requests > 1000, "only {requests} requests were sent");
}

#[test]
fn the_battery_spells_paths_as_intended() {
    let targets: Vec<String> = spellings("/api/settings")
        .into_iter()
        .map(|s| s.target)
        .collect();
    assert_eq!(
        targets,
        [
            "/api/settings",
            "/%61pi/settings",
            "/ap%69/settings",
            "/%61%70%69/settings",
            "/api%2Fsettings",
            "/api/x/../settings",
            "/api/./settings",
            "/api/%73ettings",
            "/api%2Fsettings",
            "//api//settings",
            "/./api/settings",
            "/API/SETTINGS",
            "/api/settings/",
        ]
    );
    assert_eq!(
        encode_a_later_letter("/api/runs/7").as_deref(),
        Some("/api/%72uns/7")
    );
}
