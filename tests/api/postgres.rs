//! The catalog on PostgreSQL (`--database postgres://…`), against a real cluster each test
//! starts: what a gateway records survives its restarts and the database's, a second node on
//! the same catalog is refused while the first serves, and a bad URL is a clear error. (CI also
//! runs the whole API suite with every test gateway on PostgreSQL: scripts/with_postgres.sh.)

#[path = "../support/pg_cluster.rs"]
mod pg_cluster;

use serde_json::json;

use crate::helpers::{data_dir, run_to_end, serve_args, spawn_app, TestApp, TestRepo, WAIT};
use crate::run_support::python;
use pg_cluster::PgCluster;

fn hello_repo() -> TestRepo {
    let repo = TestRepo::new();
    let schema = json!({"name": {"type": "str", "flag": "--name", "default": "world"}});
    repo.write(
        "python/hello.py",
        &python(
            &schema,
            "i = sys.argv.index('--name') if '--name' in sys.argv else -1\n\
             print(json.dumps({'hello': sys.argv[i + 1] if i >= 0 else 'world'}))",
        ),
    );
    repo
}

/// `serve` over `repo` and `data` on the catalog at `url` (whatever catalog the test pass
/// gives every test server otherwise).
fn serve_on(repo: &TestRepo, data: &std::path::Path, url: &str) -> Vec<String> {
    let mut args: Vec<String> = serve_args(repo.path(), data);
    if let Some(at) = args.iter().position(|arg| arg == "--database") {
        args.drain(at..at + 2);
    }
    args.extend(["--database".to_string(), url.to_string()]);
    args
}

fn run_hello(app: &TestApp, name: &str) -> i64 {
    let (status, body) = app.post("/api/scripts/1/run", &json!({ "name": name }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({ "hello": name }), "{body}");
    body["run_id"].as_i64().expect("a run id")
}

#[test]
fn a_gateway_keeps_its_catalog_on_postgresql_across_restarts() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("sg_restarts");
    let repo = hello_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--database", &url]);
    let first = run_hello(&app, "ada");
    let reply = app.call(
        "PATCH",
        "/api/settings",
        &[],
        Some(&json!({"timeout_sec": 42})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = app.call(
        "PATCH",
        "/api/scripts/1",
        &[],
        Some(&json!({"alias": "greeter"})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        !data.path().join("gateway.db").exists(),
        "nothing went to SQLite"
    );
    assert_eq!(
        cluster.psql_in(&url, "SELECT script_path || ' ' || status FROM runs"),
        "python/hello.py success"
    );

    let app = app.restart();
    let second = run_hello(&app, "grace");
    assert_eq!(second, first + 1, "ids go on where they were");
    let (_, runs) = app.get("/api/runs?page_size=10");
    assert_eq!(runs["total"], json!(2), "{runs}");
    assert_eq!(runs["items"][1]["data"], json!({"hello": "ada"}), "{runs}");
    let (_, settings) = app.get("/api/settings");
    let timeout = &settings["settings"]["timeout_sec"];
    assert_eq!(
        (&timeout["value"], &timeout["source"]),
        (&json!(42.0), &json!("db")),
        "{settings}"
    );
    let (_, script) = app.get("/api/scripts/1");
    assert_eq!(script["alias"], json!("greeter"), "{script}");
}

#[test]
fn a_postgresql_restart_costs_the_gateway_no_request() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("sg_db_restart");
    let repo = hello_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--database", &url]);
    run_hello(&app, "before");
    // As a crash of the database would: every connection the gateway holds is cut.
    cluster.stop_immediately();
    cluster.restart();
    let after = run_hello(&app, "after");
    let (status, run) = app.get(&format!("/api/runs/{after}"));
    assert_eq!((status, &run["status"]), (200, &json!("success")), "{run}");
    let (status, scripts) = app.get("/api/scripts");
    assert_eq!((status, &scripts["total"]), (200, &json!(1)), "{scripts}");

    // The sole-node lock went with the old connection and is taken again.
    let held = || {
        cluster.psql_in(
            &url,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
        ) == "1"
    };
    assert!(
        crate::helpers::wait_until(WAIT, held),
        "the lock was taken again"
    );
    let other = data_dir();
    let second = serve_on(&repo, other.path(), &url);
    let refused = run_to_end(&second, WAIT);
    assert!(!refused.status.success(), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("another ScriptGateway node"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_second_node_on_the_same_catalog_is_refused_while_the_first_serves() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("sg_two_nodes");
    let repo = hello_repo();
    let (data_a, data_b) = (data_dir(), data_dir());
    let first = spawn_app(&repo, data_a.path(), &["--database", &url]);
    let second = serve_on(&repo, data_b.path(), &url);
    let refused = run_to_end(&second, WAIT);
    assert!(!refused.status.success(), "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("another ScriptGateway node is serving this PostgreSQL catalog"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stdout.contains("listening on"),
        "{}",
        refused.stdout
    );
    drop(first);
    let second = spawn_app(&repo, data_b.path(), &["--database", &url]);
    run_hello(&second, "next");
}

#[test]
fn a_database_url_that_is_not_postgresql_is_refused_without_echoing_it() {
    let repo = hello_repo();
    let data = data_dir();
    for (url, want) in [
        (
            "mysql://admin:hunter2@db.internal/catalog",
            "--database must be a postgres:// or postgresql:// URL",
        ),
        (
            "postgres://admin:hunter2@127.0.0.1:1/catalog",
            "the PostgreSQL catalog is unavailable",
        ),
    ] {
        let args = serve_on(&repo, data.path(), url);
        let done = run_to_end(&args, WAIT);
        assert!(!done.status.success(), "{url}: {}", done.stdout);
        assert!(done.stderr.contains(want), "{url}: {}", done.stderr);
        assert!(!done.stderr.contains("hunter2"), "{url}: {}", done.stderr);
    }
}

#[test]
fn a_database_that_never_answers_is_an_error_in_seconds_not_a_hang() {
    // A port that accepts connections and says nothing: a database host that hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let repo = hello_repo();
    let data = data_dir();
    let args = serve_on(
        &repo,
        data.path(),
        &format!("postgres://sg@127.0.0.1:{port}/sg"),
    );
    let began = std::time::Instant::now();
    let done = run_to_end(&args, WAIT);
    assert!(!done.status.success(), "{}", done.stdout);
    assert!(
        done.stderr
            .contains("the PostgreSQL catalog is unavailable"),
        "{}",
        done.stderr
    );
    assert!(began.elapsed() < WAIT, "gave up in {:?}", began.elapsed());
    drop(silent);
}
