//! The document and the mounted routes stay in step: every route `api::configure` mounts is
//! documented, and every documented operation is mounted. The routes are read from the
//! running app itself (its resource map), so there is no second list to keep up to date.

use std::collections::BTreeSet;

use actix_web::http::Method;
use actix_web::test as actix_test;
use actix_web::{web, App, HttpRequest, HttpResponse};

use crate::access::Access;
use crate::catalog::Catalog;

use crate::openapi::{operations_mut, static_document};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const DUMP: &str = "/__resource_map";

async fn dump_resource_map(request: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().body(format!("{:?}", request.resource_map()))
}

/// The full pattern of every leaf resource in actix's `Debug` of a `ResourceMap`: each node
/// prints `patterns: Single("..")` and then `nodes: None` (a resource) or `nodes: Some([..])`
/// (a scope, whose pattern prefixes its children's).
fn leaf_patterns(debug: &str) -> Vec<String> {
    assert!(
        !debug.contains("named: {\""),
        "named resources are not expected here: {debug}"
    );
    assert!(
        !debug.contains("Multi("),
        "multi-pattern resources are not expected"
    );
    let mut found = Vec::new();
    let mut scopes: Vec<(String, usize)> = Vec::new();
    let mut last_pattern = String::new();
    let mut depth = 0usize;
    let mut rest = debug;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("patterns: Single(") {
            let (pattern, tail) = string_literal(after);
            last_pattern = pattern;
            rest = tail;
        } else if let Some(after) = rest.strip_prefix("nodes: None") {
            let prefix: String = scopes.iter().map(|(p, _)| p.as_str()).collect();
            found.push(format!("{prefix}{last_pattern}"));
            rest = after;
        } else if let Some(after) = rest.strip_prefix("nodes: Some([") {
            depth += 1;
            scopes.push((std::mem::take(&mut last_pattern), depth));
            rest = after;
        } else if c == '"' {
            rest = string_literal(rest).1;
        } else {
            match c {
                '[' => depth += 1,
                ']' => {
                    if scopes.last().is_some_and(|(_, d)| *d == depth) {
                        scopes.pop();
                    }
                    depth -= 1;
                }
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    found
}

/// Parses a `Debug` string literal at the start of `text`: its value and what follows.
fn string_literal(text: &str) -> (String, &str) {
    let body = text.strip_prefix('"').expect("a string literal");
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next().map(|(_, c)| c).unwrap_or('\\')),
            '"' => return (value, &body[i + 1..]),
            other => value.push(other),
        }
    }
    panic!("an unterminated string literal in {text}")
}

/// `{name}` and `{name:regex}` become `{}`; an unnamed tail (`{_:.*}`, a folder of static
/// files) becomes its index, the folder itself.
fn normalise(pattern: &str) -> String {
    let pattern = pattern.strip_suffix("{_:.*}").unwrap_or(pattern);
    let mut out = String::new();
    let mut in_param = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// A concrete path that the pattern matches.
fn sample(pattern: &str) -> String {
    normalise(pattern).replace("{}", "0")
}

/// Key checking over an empty catalog: no key in use, so every gate lets requests through
/// to the routes (each gate refuses to run without it).
async fn open_access(folder: &std::path::Path) -> web::Data<Access> {
    let catalog = Catalog::open(&folder.join("gateway.db")).expect("a fresh catalog opens");
    let access = Access::new(None, catalog)
        .await
        .expect("keys can be counted");
    web::Data::new(access)
}

#[actix_web::test]
async fn every_mounted_route_is_documented_and_every_documented_one_is_mounted() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let app = actix_test::init_service(
        App::new()
            .app_data(open_access(folder.path()).await)
            .configure(crate::api::configure)
            .service(web::resource(DUMP).to(dump_resource_map)),
    )
    .await;
    let request = actix_test::TestRequest::get().uri(DUMP).to_request();
    let debug =
        String::from_utf8(actix_test::call_and_read_body(&app, request).await.to_vec()).unwrap();
    let patterns: Vec<String> = leaf_patterns(&debug)
        .into_iter()
        .filter(|p| p != DUMP)
        .collect();
    assert!(patterns.len() > 10, "too few routes found: {patterns:?}");

    let mut mounted = BTreeSet::new();
    for pattern in &patterns {
        for method in METHODS {
            let request = actix_test::TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&sample(pattern))
                .to_request();
            let response = actix_test::call_service(&app, request).await;
            let status = response.status().as_u16();
            let body = actix_test::read_body(response).await;
            let unrouted = String::from_utf8_lossy(&body).contains("no route for");
            // No state is configured, so a mounted handler fails on its extractors (500)
            // without running; a method a resource lacks answers 405 (no key is in use, so
            // the gates let every request through).
            if status != 405 && !unrouted {
                mounted.insert(format!("{method} {}", normalise(pattern)));
            }
        }
    }

    let mut documented = BTreeSet::new();
    let mut doc = static_document(super::openapi());
    for (path, item) in doc.paths.paths.iter_mut() {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (method, present) in methods {
            if present {
                documented.insert(format!("{method} {}", normalise(path)));
            }
        }
        assert!(
            operations_mut(item).all(|op| !op.responses.responses.is_empty()),
            "{path}: every operation documents its responses"
        );
    }

    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty() && unmounted.is_empty(),
        "mounted but not documented: {undocumented:#?}\ndocumented but not mounted: {unmounted:#?}"
    );
}

#[test]
fn the_resource_map_walk_finds_nested_patterns() {
    let debug = r#"ResourceMap { pattern: ResourceDef { patterns: Single(""), is_prefix: true }, named: {}, nodes: Some([ResourceMap { pattern: ResourceDef { patterns: Single("/health"), segments: [Const("/health")] }, named: {}, nodes: None }, ResourceMap { pattern: ResourceDef { patterns: Single("/api"), segments: [Const("/api")] }, named: {}, nodes: Some([ResourceMap { pattern: ResourceDef { patterns: Single("/runs/{id}/files/{name:.*}"), pat_type: Dynamic(Regex("((?s-m)^/runs/(?P<id>[^/]+)/files/(?P<name>.*))$"), ["id", "name"]), segments: [Const("/runs/"), Var("id")] }, named: {}, nodes: None }]) }, ResourceMap { pattern: ResourceDef { patterns: Single("/docs/{_:.*}") }, named: {}, nodes: None }]) }"#;
    assert_eq!(
        leaf_patterns(debug),
        ["/health", "/api/runs/{id}/files/{name:.*}", "/docs/{_:.*}"]
    );
    assert_eq!(
        normalise("/api/runs/{id}/files/{name:.*}"),
        "/api/runs/{}/files/{}"
    );
    assert_eq!(normalise("/docs/{_:.*}"), "/docs/");
    assert_eq!(sample("/api/scripts/{id}/run"), "/api/scripts/0/run");
}
