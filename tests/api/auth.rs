//! The API key: required on `/api/*` when set, never on `/health`.

use serde_json::json;

use crate::helpers::{assert_error, data_dir, fixtures, spawn_app, TestRepo};

/// (method, path, headers, why)
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn api_routes_need_the_api_key_and_health_does_not() {
    let repo = TestRepo::new();
    repo.write(
        "python/a.py",
        &fixtures::python("A.", &fixtures::one_param("x")),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", "s3cret"]);

    let refused: &[Case] = &[
        ("GET", "/api/scripts", &[], "no key"),
        (
            "GET",
            "/api/scripts",
            &[("X-API-Key", "wrong")],
            "wrong X-API-Key",
        ),
        (
            "GET",
            "/api/scripts",
            &[("Authorization", "Bearer wrong")],
            "wrong bearer",
        ),
        (
            "GET",
            "/api/scripts",
            &[("Authorization", "Bearer s3cre")],
            "a prefix of the key",
        ),
        (
            "GET",
            "/api/scripts",
            &[("Authorization", "Bearer s3cret2")],
            "the key plus more",
        ),
        (
            "GET",
            "/api/scripts",
            &[("Authorization", "Basic s3cret")],
            "not a bearer",
        ),
        (
            "GET",
            "/api/scripts",
            &[("Authorization", "s3cret")],
            "no scheme",
        ),
        ("GET", "/api/scripts/1", &[], "one script, no key"),
        ("GET", "/api/scripts/1/schema", &[], "a schema, no key"),
        (
            "GET",
            "/api/no-such-route",
            &[],
            "unknown api routes are not revealed",
        ),
        ("POST", "/api/scan", &[], "scan, no key"),
    ];
    for (method, path, headers, why) in refused {
        let reply = app.call(method, path, headers, None);
        let what = format!("{method} {path} ({why})");
        assert_error(&what, reply.status, &reply.body, 401, "unauthorized");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{what}");
        assert!(
            !reply.body.to_string().contains("s3cret"),
            "{what}: the key leaks: {}",
            reply.body
        );
    }

    let accepted: &[Case] = &[
        (
            "GET",
            "/api/scripts",
            &[("Authorization", "Bearer s3cret")],
            "bearer",
        ),
        (
            "GET",
            "/api/scripts",
            &[("Authorization", "bearer s3cret")],
            "the scheme is case-insensitive",
        ),
        (
            "GET",
            "/api/scripts",
            &[("X-API-Key", "s3cret")],
            "X-API-Key",
        ),
        (
            "POST",
            "/api/scan",
            &[("X-API-Key", "s3cret")],
            "scan with the key",
        ),
        ("GET", "/health", &[], "health stays open"),
    ];
    for (method, path, headers, why) in accepted {
        let reply = app.call(method, path, headers, None);
        assert_eq!(reply.status, 200, "{method} {path} ({why}): {}", reply.body);
    }
    let reply = app.call("GET", "/api/scripts", &[("X-API-Key", "s3cret")], None);
    assert_eq!(
        reply.body["total"],
        json!(1),
        "the key gives the real listing: {}",
        reply.body
    );
    let health = app.get("/health").1;
    assert_eq!(health["status"], json!("ok"), "{health}");
    assert_eq!(health["auth_required"], json!(true), "{health}");
}
