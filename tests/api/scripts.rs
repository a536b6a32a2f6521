//! The scripts endpoints: listing, one script, its schema, filters, pagination, health.

use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::helpers::{data_dir, fixtures, paths_of, spawn_app, wait_until, TestRepo, WAIT};

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

fn id_of(script: &Value) -> i64 {
    script["id"].as_i64().expect("id is an integer")
}

#[test]
fn listing_returns_python_and_js_scripts_with_their_path_name_runtime_and_schema() {
    let repo = TestRepo::new();
    let uuid_schema = json!({
        "count": {"flag": "--count", "type": "int", "default": 1, "help": "Сколько штук ✓"},
        "upper": {"flag": "--upper", "type": "bool", "action": "store_true", "x-extra": [1, 2]}
    });
    let title_schema = json!({"site": {"flag": "--site", "type": "url", "required": true}});
    let sources = [
        (
            "python/hello.py",
            fixtures::python("Greets people politely.", &fixtures::greet_schema()),
        ),
        (
            "js/uuid_gen.js",
            fixtures::js("Makes random UUIDs.", &uuid_schema),
        ),
        (
            "js/title.mjs",
            fixtures::js("Fetches a page title — déjà vu.", &title_schema),
        ),
    ];
    for (path, source) in &sources {
        repo.write(path, source);
    }
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let (status, page) = app.get("/api/scripts");
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], json!(3), "{page}");
    assert_eq!(
        (page["page"].clone(), page["page_size"].clone()),
        (json!(1), json!(20))
    );
    let items = page["items"].as_array().expect("items").clone();
    let mut paths = paths_of(&items);
    paths.sort();
    assert_eq!(paths, ["js/title.mjs", "js/uuid_gen.js", "python/hello.py"]);

    let expected = [
        (
            "python/hello.py",
            "hello",
            "python",
            fixtures::greet_schema(),
            "Greets people politely.",
        ),
        (
            "js/uuid_gen.js",
            "uuid_gen",
            "js",
            uuid_schema,
            "Makes random UUIDs.",
        ),
        (
            "js/title.mjs",
            "title",
            "js",
            title_schema,
            "Fetches a page title — déjà vu.",
        ),
    ];
    let mut ids = Vec::new();
    for (path, name, runtime, schema, description) in expected {
        let item = items.iter().find(|s| s["path"] == json!(path)).expect(path);
        assert_eq!(item["name"], json!(name), "{path}: name");
        assert_eq!(item["runtime"], json!(runtime), "{path}: runtime");
        assert_eq!(item["load_status"], json!("ok"), "{path}: {item}");
        assert_eq!(item["load_error"], Value::Null, "{path}");
        assert_eq!(item["args_schema"], schema, "{path}: args_schema");
        assert_eq!(
            item["description"],
            json!(description),
            "{path}: description"
        );
        assert_eq!(item["enabled"], json!(true), "{path}: enabled");
        let source = &sources.iter().find(|(p, _)| *p == path).expect(path).1;
        assert_eq!(
            item["file_hash"],
            json!(md5_hex(source)),
            "{path}: file_hash"
        );
        let id = id_of(item);
        assert!(id > 0, "{path}: id {id}");
        ids.push(id);

        let (status, one) = app.get(&format!("/api/scripts/{id}"));
        assert_eq!(status, 200, "{path}: {one}");
        assert_eq!(&one, item, "{path}: GET by id equals the listed item");

        let (status, got) = app.get(&format!("/api/scripts/{id}/schema"));
        assert_eq!(status, 200, "{path}: {got}");
        assert_eq!(got, schema, "{path}: /schema is the ARGS_MAP");
        let keys: Vec<_> = got
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        let want: Vec<_> = schema
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, want, "{path}: /schema keeps the declaration order");
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every script has its own id");
}

#[test]
fn listing_filters_by_type_status_and_case_insensitive_search() {
    let repo = TestRepo::new();
    let one = fixtures::one_param("x");
    repo.write(
        "python/hello.py",
        &fixtures::python("Greets people politely.", &one),
    );
    repo.write(
        "python/report_maker.py",
        &fixtures::python("Builds the weekly REPORT.", &one),
    );
    repo.write(
        "python/broken.py",
        &fixtures::python_schema_mode("raise SystemExit(3)"),
    );
    repo.write("js/uuid_gen.js", &fixtures::js("Makes random UUIDs.", &one));
    repo.write("js/title.mjs", &fixtures::js("Fetches a page title.", &one));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let cases: &[(&str, &[&str], &str)] = &[
        (
            "type=python",
            &[
                "python/broken.py",
                "python/hello.py",
                "python/report_maker.py",
            ],
            "python only",
        ),
        ("type=js", &["js/title.mjs", "js/uuid_gen.js"], "js only"),
        (
            "status=ok",
            &[
                "js/title.mjs",
                "js/uuid_gen.js",
                "python/hello.py",
                "python/report_maker.py",
            ],
            "loaded only",
        ),
        ("status=error", &["python/broken.py"], "broken only"),
        (
            "type=python&status=ok",
            &["python/hello.py", "python/report_maker.py"],
            "filters combine",
        ),
        (
            "search=HELLO",
            &["python/hello.py"],
            "name, case-insensitive",
        ),
        (
            "search=politely",
            &["python/hello.py"],
            "python docstring only",
        ),
        ("search=Random", &["js/uuid_gen.js"], "js comment only"),
        (
            "search=report",
            &["python/report_maker.py"],
            "description in capitals",
        ),
        ("search=js%2Ftitle", &["js/title.mjs"], "path"),
        (
            "type=js&search=page",
            &["js/title.mjs"],
            "type and search combine",
        ),
        ("type=python&search=page", &[], "type excludes the match"),
        ("search=no-such-thing", &[], "nothing matches"),
        ("search=%25", &[], "'%' is a literal character"),
        (
            "search=",
            &[
                "js/title.mjs",
                "js/uuid_gen.js",
                "python/broken.py",
                "python/hello.py",
                "python/report_maker.py",
            ],
            "empty search is no filter",
        ),
    ];
    for (query, want, why) in cases {
        let (status, page) = app.get(&format!("/api/scripts?{query}"));
        assert_eq!(status, 200, "{query} ({why}): {page}");
        let mut got = paths_of(page["items"].as_array().expect("items"));
        got.sort();
        assert_eq!(got, *want, "{query} ({why})");
        assert_eq!(page["total"], json!(want.len()), "{query} ({why}): total");
    }
    let broken = app.script_by_path("python/broken.py").expect("listed");
    assert_eq!(broken["load_status"], json!("error"), "{broken}");
}

#[test]
fn listing_pages_through_scripts_with_page_and_page_size() {
    let repo = TestRepo::new();
    for i in 1..=5 {
        repo.write(
            &format!("python/s{i}.py"),
            &fixtures::python("Paged.", &fixtures::one_param("x")),
        );
    }
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let mut seen = Vec::new();
    for (page, want_len) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let (status, body) = app.get(&format!("/api/scripts?page={page}&page_size=2"));
        assert_eq!(status, 200, "page {page}: {body}");
        assert_eq!(
            body["total"],
            json!(5),
            "page {page}: total counts every match"
        );
        assert_eq!(body["page"], json!(page), "page {page}: echoed");
        assert_eq!(body["page_size"], json!(2), "page {page}: page_size echoed");
        let items = paths_of(body["items"].as_array().expect("items"));
        assert_eq!(items.len(), want_len, "page {page}: {items:?}");
        seen.extend(items);
    }
    let mut all = seen.clone();
    all.sort();
    all.dedup();
    assert_eq!(seen.len(), 5, "pages do not overlap: {seen:?}");
    assert_eq!(
        all,
        [
            "python/s1.py",
            "python/s2.py",
            "python/s3.py",
            "python/s4.py",
            "python/s5.py"
        ]
    );
    let (_, big) = app.get("/api/scripts?page_size=500");
    assert_eq!(
        big["items"].as_array().map(Vec::len),
        Some(5),
        "the largest page size is accepted"
    );
}

#[test]
fn health_reports_ok_version_and_the_number_of_scripts() {
    let repo = TestRepo::new();
    repo.write(
        "python/a.py",
        &fixtures::python("A.", &fixtures::one_param("x")),
    );
    repo.write("js/b.js", &fixtures::js("B.", &fixtures::one_param("y")));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let (status, health) = app.get("/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], json!("ok"), "{health}");
    assert_eq!(
        health["version"],
        json!(env!("CARGO_PKG_VERSION")),
        "{health}"
    );
    assert_eq!(health["scripts"], json!(2), "{health}");
    assert!(health["uptime_s"].is_u64(), "{health}");
    assert_eq!(health["auth_required"], json!(false), "{health}");

    repo.write(
        "python/c.py",
        &fixtures::python("C.", &fixtures::one_param("z")),
    );
    assert!(
        wait_until(WAIT, || app.get("/health").1["scripts"] == json!(3)),
        "the count follows the repository: {}",
        app.get("/health").1
    );
}
