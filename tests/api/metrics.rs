//! `GET /metrics`: the Prometheus text format, parsed strictly here; run counters that move by
//! exactly the runs made; bounded label sets; route templates; and the `metrics` scope.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::deps_support::{python_plain, settled, spawn_offline, LocalPackages};
use crate::helpers::{
    data_dir, fixtures, spawn_app, spawn_app_with_env, wait_for, TestApp, TestRepo, WAIT,
};
use crate::run_support::{python, script_id, ECHO_ARGV};

const MASTER: &str = "master-s3cret";

type Headers<'a> = &'a [(&'a str, &'a str)];

/// One sample line: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly: every line is a `# HELP`, a `# TYPE` or a
/// sample of a family whose `# TYPE` came before it; label values are quoted and escaped.
fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| fail("a TYPE without a type"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(fail("an unknown type"));
            }
            if families
                .insert(name.to_string(), kind.to_string())
                .is_some()
            {
                return Err(fail("a family typed twice"));
            }
        } else if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        } else if line.starts_with('#') {
            return Err(fail("an unknown comment"));
        } else {
            let sample = parse_sample(line).map_err(|why| fail(&why))?;
            let family = family_of(&sample.name, &families).ok_or_else(|| fail("no TYPE"))?;
            if family.1 == "histogram"
                && sample.name.ends_with("_bucket")
                && !sample.labels.contains_key("le")
            {
                return Err(fail("a bucket without le"));
            }
            samples.push(sample);
        }
    }
    Ok(samples)
}

fn family_of<'a>(
    name: &str,
    families: &'a BTreeMap<String, String>,
) -> Option<(&'a String, &'a String)> {
    if let Some(found) = families.get_key_value(name) {
        return Some(found);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        families
            .get_key_value(base)
            .filter(|(_, kind)| ["histogram", "summary"].contains(&kind.as_str()))
    })
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = value.split(' ').next().unwrap_or_default();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => number
            .parse()
            .map_err(|_| format!("bad value {number:?}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `a="x",b="y"}` → the labels and what follows the `}`.
fn parse_labels(mut text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = text.split_once("=\"").ok_or("a label without =\"")?;
        if !is_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("a bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} given twice"));
        }
        text = &after[end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

#[test]
fn the_strict_parser_refuses_what_prometheus_would() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\",y=\"\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
    let samples = parse(good).expect("valid text parses");
    assert_eq!(samples[0].labels["x"], "q\"\\");
    assert_eq!(samples.len(), 4);
    let bad = [
        ("b 1\n", "a sample without a TYPE"),
        (
            "# TYPE a counter\na{x=\"1} 1\n",
            "an unterminated label value",
        ),
        ("# TYPE a counter\na{x=1} 1\n", "an unquoted label value"),
        ("# TYPE a counter\na one\n", "a value that is no number"),
        ("# TYPE a gauge\na_count 1\n", "a suffix on a gauge"),
        (
            "# TYPE a counter\n# TYPE a counter\n",
            "a family typed twice",
        ),
    ];
    for (text, why) in bad {
        assert!(parse(text).is_err(), "{why}: {text:?}");
    }
}

/// A `/metrics` answer with `headers`: status and body text.
fn scrape_as(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String) {
    let reply = app.call("GET", "/metrics", headers, None);
    let text = match &reply.body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    (reply.status, text)
}

/// Every sample `/metrics` lists, asserting the answer is the Prometheus text format.
fn scrape(app: &TestApp, headers: &[(&str, &str)]) -> Vec<Sample> {
    let reply = app.call("GET", "/metrics", headers, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "{content_type}"
    );
    let text = reply.body.as_str().expect("a text body");
    parse(text).unwrap_or_else(|why| panic!("{why}\n{text}"))
}

/// The value of the one sample named `name` with exactly these `labels`, if listed.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
}

fn run(app: &TestApp, id: i64) -> u16 {
    app.get(&format!("/api/scripts/{id}/run")).0
}

/// Waits until the finished-run counter of `script`/`status` reads `count`.
fn wait_for_runs(app: &TestApp, script: &str, status: &str, count: f64) -> Vec<Sample> {
    let labels = [("script", script), ("status", status)];
    wait_for(WAIT, || {
        let samples = scrape(app, &[]);
        (value(&samples, "scriptgateway_runs_total", &labels) == Some(count)).then_some(samples)
    })
    .unwrap_or_else(|| {
        let now = value(&scrape(app, &[]), "scriptgateway_runs_total", &labels);
        panic!("{script} {status}: {now:?}, not {count}")
    })
}

fn two_scripts(repo: &TestRepo) {
    repo.write("python/ok.py", &python(&json!({}), ECHO_ARGV));
    repo.write(
        "python/fail.py",
        &python(&json!({}), "sys.stderr.write(\"bad\")\nsys.exit(2)"),
    );
}

#[test]
fn run_counters_move_by_exactly_the_runs_made_and_histograms_count_them() {
    let repo = TestRepo::new();
    two_scripts(&repo);
    repo.write(
        "python/broken.py",
        &fixtures::python_schema_mode("sys.exit(1)"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let (ok, fail) = (
        script_id(&app, "python/ok.py"),
        script_id(&app, "python/fail.py"),
    );
    let before = scrape(&app, &[]);
    assert_eq!(
        value(
            &before,
            "scriptgateway_runs_total",
            &[("script", "python/ok.py"), ("status", "success")]
        ),
        None
    );
    for _ in 0..3 {
        assert_eq!(run(&app, ok), 200);
    }
    run(&app, fail);
    wait_for_runs(&app, "python/ok.py", "success", 3.0);
    let samples = wait_for_runs(&app, "python/fail.py", "error", 1.0);
    let runs: f64 = samples
        .iter()
        .filter(|s| s.name == "scriptgateway_runs_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(runs, 4.0, "no other run was counted");
    let ok_script = [("script", "python/ok.py")];
    let cases = [
        (
            "scriptgateway_run_duration_seconds_count",
            &ok_script[..],
            3.0,
        ),
        (
            "scriptgateway_run_queue_wait_seconds_count",
            &ok_script[..],
            3.0,
        ),
        (
            "scriptgateway_run_duration_seconds_count",
            &[("script", "python/fail.py")][..],
            1.0,
        ),
        (
            "scriptgateway_run_duration_seconds_bucket",
            &[("script", "python/ok.py"), ("le", "+Inf")][..],
            3.0,
        ),
        ("scriptgateway_runs_running", &[][..], 0.0),
        ("scriptgateway_runs_queued", &[][..], 0.0),
        ("scriptgateway_scripts", &[("status", "ok")][..], 2.0),
        ("scriptgateway_scripts", &[("status", "error")][..], 1.0),
    ];
    for (name, labels, expected) in cases {
        assert_eq!(
            value(&samples, name, labels),
            Some(expected),
            "{name} {labels:?}"
        );
    }
    let extractions = value(
        &samples,
        "scriptgateway_schema_extractions_total",
        &[("outcome", "ok")],
    );
    assert!(extractions.is_some_and(|n| n >= 2.0), "{extractions:?}");
    let failed = value(
        &samples,
        "scriptgateway_schema_extractions_total",
        &[("outcome", "error")],
    );
    assert!(failed.is_some_and(|n| n >= 1.0), "{failed:?}");
    let cpu = value(&samples, "process_cpu_seconds_total", &[]);
    assert!(
        cpu.is_some_and(|s| s >= 0.0),
        "process_cpu_seconds_total: {cpu:?}"
    );
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
    ] {
        let got = value(&samples, name, &[]);
        assert!(got.is_some_and(|v| v > 0.0), "{name}: {got:?}");
    }
}

/// Every series (name and label set) that names a script.
fn script_series(samples: &[Sample]) -> BTreeSet<String> {
    samples
        .iter()
        .filter(|s| s.labels.contains_key("script"))
        .map(|s| format!("{}{:?}", s.name, s.labels))
        .collect()
}

#[test]
fn many_runs_of_one_script_add_no_series_and_http_metrics_use_route_templates() {
    let repo = TestRepo::new();
    two_scripts(&repo);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let ok = script_id(&app, "python/ok.py");
    assert_eq!(run(&app, ok), 200);
    let first = script_series(&wait_for_runs(&app, "python/ok.py", "success", 1.0));
    let mut run_ids = Vec::new();
    for _ in 0..12 {
        let (status, body) = app.get(&format!("/api/scripts/{ok}/run"));
        assert_eq!(status, 200, "{body}");
        let id = body["run_id"].as_i64().expect("a run id");
        assert_eq!(app.get(&format!("/api/runs/{id}")).0, 200);
        run_ids.push(id);
    }
    assert_eq!(app.get("/no/such/page").0, 404);
    assert_eq!(app.get("/api/no/such/route").0, 404);
    let samples = wait_for_runs(&app, "python/ok.py", "success", 13.0);
    assert_eq!(script_series(&samples), first, "13 runs, the series of 1");
    for sample in &samples {
        for (label, text) in &sample.labels {
            assert!(
                !["run_id", "run", "id", "path"].contains(&label.as_str()),
                "{sample:?}"
            );
            if label == "route" {
                let raw = text.split('/').any(|segment| {
                    segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty()
                });
                assert!(!raw, "a raw path, not a template: {sample:?}");
            }
        }
    }
    let requests = |route: &str, method: &str, status: &str| {
        value(
            &samples,
            "scriptgateway_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("/api/scripts/{id}/run", "GET", "200"), Some(13.0));
    assert_eq!(requests("/api/runs/{id}", "GET", "200"), Some(12.0));
    assert_eq!(
        requests("unmatched", "GET", "404"),
        Some(2.0),
        "both unknown paths, one label"
    );
    let durations = value(
        &samples,
        "scriptgateway_http_request_duration_seconds_count",
        &[
            ("route", "/api/runs/{id}"),
            ("method", "GET"),
            ("status", "200"),
        ],
    );
    assert_eq!(durations, Some(12.0));
}

/// Creates a named key with the master key and returns its secret.
fn create_key(app: &TestApp, scope: &str) -> String {
    let body = json!({"name": format!("{scope} key"), "scope": scope});
    let reply = app.call("POST", "/api/keys", &[("X-API-Key", MASTER)], Some(&body));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["key"].as_str().expect("the secret").to_string()
}

#[test]
fn metrics_need_a_metrics_or_admin_key_unless_metrics_public_is_on() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER]);
    let (run_key, metrics_key) = (create_key(&app, "run"), create_key(&app, "metrics"));
    let cases: [(&str, Headers, u16); 5] = [
        ("no key", &[], 401),
        ("a wrong key", &[("X-API-Key", "nope")], 401),
        ("a run key", &[("X-API-Key", &run_key)], 403),
        (
            "a metrics key",
            &[("Authorization", &format!("Bearer {metrics_key}"))],
            200,
        ),
        ("the master (admin) key", &[("X-API-Key", MASTER)], 200),
    ];
    for (why, headers, status) in cases {
        let (got, text) = scrape_as(&app, headers);
        assert_eq!(got, status, "{why}: {text}");
    }
    for path in ["/api/scripts", "/api/runs", "/api/settings"] {
        let reply = app.call("GET", path, &[("X-API-Key", &metrics_key)], None);
        assert_eq!(
            reply.status, 403,
            "a metrics key reads nothing else: {path}"
        );
    }
    let public = json!({"metrics_public": true});
    let reply = app.call(
        "PATCH",
        "/api/settings",
        &[("X-API-Key", MASTER)],
        Some(&public),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(scrape_as(&app, &[]).0, 200, "public metrics need no key");
    assert_eq!(app.get("/api/scripts").0, 401, "the rest still does");
    let document = app.get("/openapi.json").1;
    let get = &document["paths"]["/metrics"]["get"];
    assert!(
        get["responses"]["200"]["content"]["text/plain"].is_object(),
        "{get}"
    );
    assert!(
        get["security"].is_array(),
        "documented as needing a key: {get}"
    );
}

#[test]
fn metrics_public_can_be_given_at_start_and_metrics_are_open_without_keys() {
    let repo = TestRepo::new();
    let data = data_dir();
    let open = spawn_app(&repo, data.path(), &[]);
    assert_eq!(
        scrape_as(&open, &[]).0,
        200,
        "no keys in use: open like every route"
    );
    drop(open);
    let data = data_dir();
    let env = [("SG_METRICS_PUBLIC", "true")];
    let app = spawn_app_with_env(&repo, data.path(), &["--api-key", MASTER], &env);
    assert_eq!(scrape_as(&app, &[]).0, 200, "SG_METRICS_PUBLIC=true");
    let data = data_dir();
    let flagged = spawn_app(
        &repo,
        data.path(),
        &["--api-key", MASTER, "--metrics-public"],
    );
    assert_eq!(scrape_as(&flagged, &[]).0, 200, "--metrics-public");
    let data = data_dir();
    let off = spawn_app(
        &repo,
        data.path(),
        &["--api-key", MASTER, "--metrics-public=false"],
    );
    assert_eq!(scrape_as(&off, &[]).0, 401, "--metrics-public=false");
}

#[test]
fn dependency_installs_are_counted_by_outcome_and_a_remembered_failure_is_not_an_install() {
    let packages = LocalPackages::build();
    let repo = TestRepo::new();
    repo.write("python/good.py", &python_plain());
    repo.write("python/good_requirements.txt", "sgdemo==1.0\n");
    repo.write("python/bad.py", &python_plain());
    repo.write("python/bad_requirements.txt", "nosuchpkg==1.0\n");
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    assert_eq!(
        settled(&app, "python/good.py")["deps_status"],
        json!("ready")
    );
    let bad = settled(&app, "python/bad.py");
    assert_eq!(bad["deps_status"], json!("failed"), "{bad}");
    let install = format!("/api/scripts/{}/dependencies/install", bad["id"]);
    let (_, remembered) = app.post(&install, &json!({}));
    assert_eq!(remembered["reused"], json!(true), "{remembered}");
    let samples = scrape(&app, &[]);
    let installs = |outcome| {
        value(
            &samples,
            "scriptgateway_dependency_installs_total",
            &[("runtime", "python"), ("outcome", outcome)],
        )
    };
    assert_eq!(
        (installs("ready"), installs("failed")),
        (Some(1.0), Some(1.0))
    );
}
