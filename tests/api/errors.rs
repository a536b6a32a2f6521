//! Every failure answers with the contract's JSON error shape and a fitting status.

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_error_shape, data_dir, fixtures, spawn_app, TestApp, TestRepo,
};

/// A server over a repository with one loaded script; returns it with that script's id.
fn app_with_one_script() -> (TestRepo, tempfile::TempDir, TestApp, i64) {
    let repo = TestRepo::new();
    repo.write(
        "python/a.py",
        &fixtures::python("A.", &fixtures::one_param("x")),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = app.script_by_path("python/a.py").expect("listed")["id"]
        .as_i64()
        .expect("an integer id");
    (repo, data, app, id)
}

#[test]
fn unknown_script_ids_and_unknown_routes_answer_404_json() {
    let (_repo, _data, app, id) = app_with_one_script();
    let missing = id + 1000;
    let cases = [
        format!("/api/scripts/{missing}"),
        format!("/api/scripts/{missing}/schema"),
        "/api/scripts/-1".to_string(),
        "/api/scripts/0".to_string(),
        "/api/no-such-route".to_string(),
        format!("/api/scripts/{id}/no-such-thing"),
        "/no-such-page".to_string(),
    ];
    for path in &cases {
        let (status, body) = app.get(path);
        assert_error(path, status, &body, 404, "not_found");
    }
    assert_eq!(
        app.get(&format!("/api/scripts/{id}")).0,
        200,
        "the existing id is found"
    );
}

#[test]
fn malformed_script_ids_answer_400_invalid_path() {
    let (_repo, _data, app, _) = app_with_one_script();
    let cases = [
        ("/api/scripts/abc", "not a number"),
        ("/api/scripts/abc/schema", "not a number, on /schema"),
        ("/api/scripts/1.5", "not an integer"),
        ("/api/scripts/99999999999999999999", "overflows i64"),
        ("/api/scripts/9223372036854775808/schema", "i64::MAX + 1"),
    ];
    for (path, why) in cases {
        let (status, body) = app.get(path);
        assert_error(
            &format!("{path} ({why})"),
            status,
            &body,
            400,
            "invalid_path",
        );
    }
}

#[test]
fn bad_list_queries_answer_400_invalid_query() {
    let (_repo, _data, app, _) = app_with_one_script();
    let cases = [
        ("page=0", "pages start at 1"),
        ("page=abc", "page is not a number"),
        ("page=-1", "negative page"),
        ("page=99999999999", "page overflows"),
        ("page_size=0", "empty pages"),
        ("page_size=100000", "page too large"),
        ("page_size=x", "page_size is not a number"),
        ("type=ruby", "unknown runtime"),
        ("status=maybe", "unknown status"),
    ];
    for (query, why) in cases {
        let path = format!("/api/scripts?{query}");
        let (status, body) = app.get(&path);
        assert_error(
            &format!("{path} ({why})"),
            status,
            &body,
            400,
            "invalid_query",
        );
    }
    let (status, body) = app.post("/api/scan?force=perhaps", &json!({}));
    assert_error("force=perhaps", status, &body, 400, "invalid_query");
}

#[test]
fn a_method_a_route_does_not_have_answers_405_json() {
    let (_repo, _data, app, id) = app_with_one_script();
    let cases = [
        ("DELETE", "/health".to_string()),
        ("POST", "/health".to_string()),
        ("GET", "/api/scan".to_string()),
        ("DELETE", format!("/api/scripts/{id}/schema")),
    ];
    for (method, path) in &cases {
        let reply = app.call(method, path, &[], None);
        assert_error(
            &format!("{method} {path}"),
            reply.status,
            &reply.body,
            405,
            "method_not_allowed",
        );
    }
}

#[test]
fn traversal_like_ids_answer_4xx_json_and_never_5xx() {
    let (_repo, _data, app, _) = app_with_one_script();
    let cases = [
        "/api/scripts/..%2F..%2Fetc",
        "/api/scripts/..%2F..%2Fetc%2Fpasswd/schema",
        "/api/scripts/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/scripts/..%5C..%5Cwindows",
        "/api/scripts/1%00",
        "/api/scripts/%00",
        "/api/scripts/1;ls",
        "/api/scripts/%FF%FE",
        "/api/scripts/1%2F..%2F2",
        "/api/scripts/python%2Fa.py",
    ];
    for path in cases {
        let (status, body) = app.get(path);
        assert!(
            (400..500).contains(&status),
            "{path}: status {status}, body {body}"
        );
        assert_error_shape(path, &body);
    }
}

#[test]
fn every_error_body_has_exactly_status_and_error_with_code_and_message() {
    let (_repo, _data, app, _) = app_with_one_script();
    let replies: Vec<(String, u16, Value)> = [
        ("GET", "/api/scripts/424242"),
        ("GET", "/api/scripts/abc"),
        ("GET", "/api/scripts?page=0"),
        ("DELETE", "/health"),
        ("GET", "/nowhere"),
    ]
    .iter()
    .map(|(method, path)| {
        let reply = app.call(method, path, &[], None);
        (format!("{method} {path}"), reply.status, reply.body)
    })
    .collect();
    for (what, status, body) in &replies {
        assert!(*status >= 400, "{what}: {status}");
        assert_error_shape(what, body);
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(2),
            "{what}: nothing besides status and error: {body}"
        );
    }
    let codes: Vec<_> = replies
        .iter()
        .map(|(_, _, b)| b["error"]["code"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            json!("not_found"),
            json!("invalid_path"),
            json!("invalid_query"),
            json!("method_not_allowed"),
            json!("not_found")
        ]
    );
}
