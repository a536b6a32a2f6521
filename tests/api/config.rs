//! Configuration reaches the gateway from flags and the environment; the gateway's own
//! environment never reaches the scripts.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    data_dir, fixtures, run_to_end, serve_args, spawn_app_with_env, TestApp, TestRepo,
};

fn status_with_key(app: &TestApp, key: &str) -> u16 {
    app.call("GET", "/api/scripts", &[("X-API-Key", key)], None)
        .status
}

#[test]
fn the_api_key_comes_from_the_environment_and_the_flag_beats_it() {
    let repo = TestRepo::new();
    let data = data_dir();
    let env = [("SG_API_KEY", "from-env")];
    let app = spawn_app_with_env(&repo, data.path(), &[], &env);
    assert_eq!(
        status_with_key(&app, "from-env"),
        200,
        "SG_API_KEY is the key"
    );
    assert_eq!(status_with_key(&app, "other"), 401);
    drop(app);

    let app = spawn_app_with_env(&repo, data.path(), &["--api-key", "from-flag"], &env);
    assert_eq!(status_with_key(&app, "from-flag"), 200, "the flag wins");
    assert_eq!(
        status_with_key(&app, "from-env"),
        401,
        "the env key is overridden"
    );
}

#[test]
fn schema_extraction_does_not_see_the_gateways_environment() {
    let repo = TestRepo::new();
    let body = "import os\n\
                names = ','.join(sorted(os.environ))\n\
                leaked = os.environ.get('MY_TOKEN', '') + os.environ.get('SG_API_KEY', '')\n\
                print(json.dumps({'x': {'flag': '--x', 'help': names, 'leaked': leaked}}))";
    repo.write("python/env.py", &fixtures::python_schema_mode(body));
    let data = data_dir();
    let env = [("MY_TOKEN", "leak123"), ("SG_API_KEY", "topsecret")];
    let app = spawn_app_with_env(&repo, data.path(), &[], &env);
    let listing = app.call("GET", "/api/scripts", &[("X-API-Key", "topsecret")], None);
    assert_eq!(listing.status, 200, "{}", listing.body);
    let script = &listing.body["items"][0];
    assert_eq!(script["path"], json!("python/env.py"), "{script}");
    assert_eq!(script["load_status"], json!("ok"), "{script}");
    let entry = &script["args_schema"]["x"];
    assert_eq!(
        entry["leaked"],
        json!(""),
        "no secret reaches a script: {entry}"
    );
    let names = entry["help"].as_str().unwrap_or_default();
    let names: Vec<_> = names.split(',').collect();
    assert!(names.contains(&"PATH"), "a script gets a PATH: {names:?}");
    for secret in ["MY_TOKEN", "SG_API_KEY"] {
        assert!(!names.contains(&secret), "{secret} leaked: {names:?}");
    }
}

#[test]
fn an_empty_api_key_is_refused_at_start() {
    let repo = TestRepo::new();
    let data = data_dir();
    let mut args = serve_args(repo.path(), data.path());
    args.extend(["--api-key", " "].map(String::from));
    let done = run_to_end(&args, Duration::from_secs(60));
    assert!(!done.status.success(), "stdout:\n{}", done.stdout);
    assert!(!done.stdout.contains("listening on"), "{}", done.stdout);
    assert!(done.stderr.contains("API key"), "{}", done.stderr);
}
