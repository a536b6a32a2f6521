//! The web UI: the top-level `static/` folder embedded in the binary, served at `/` and
//! `/ui/...` to every caller (the pages hold no data; they call the JSON API with a key), and
//! the original gateway's page addresses redirected to their new pages.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use include_dir::{include_dir, Dir};
use md5::{Digest, Md5};

use crate::error::ApiError;

use super::{resource, Gate};

/// Embedded, so the release binary serves the UI from any working directory.
static STATIC: Dir = include_dir!("$CARGO_MANIFEST_DIR/static");

const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Mounts the app page, its assets and the redirects from the original gateway's pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/", Gate::Open, [(Method::GET, web::to(get_app))]))
        .service(resource(
            "/ui/{path:.*}",
            Gate::Open,
            [(Method::GET, web::to(get_asset))],
        ));
    for (old, _) in REDIRECTS {
        cfg.service(resource(
            old,
            Gate::Open,
            [(Method::GET, web::to(move || async move { redirect(old) }))],
        ));
    }
}

/// The original gateway's pages and where each lives now.
const REDIRECTS: [(&str, &str); 5] = [
    ("/index.html", "/"),
    ("/deps.html", "/#/deps"),
    ("/settings.html", "/#/settings"),
    ("/templates.html", "/#/templates"),
    ("/swagger", super::docs::UI_URL),
];

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_app,
    get_asset,
    redirect_index,
    redirect_deps,
    redirect_settings,
    redirect_templates,
    redirect_swagger
))]
pub struct UiApi;

/// The web UI (one page; its views are `#/` routes). Needs no key; the UI asks for one
/// when the API does.
#[utoipa::path(
    get,
    path = "/",
    tag = "ui",
    responses(
        (status = 200, description = "The UI's page", content_type = "text/html", body = String),
        (status = 304, description = "Not modified since the `ETag` sent in `If-None-Match`"),
    )
)]
async fn get_app(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve("index.html", &request)
}

/// A script or style sheet of the web UI.
#[utoipa::path(
    get,
    path = "/ui/{path}",
    tag = "ui",
    params(("path" = String, Path, description = "The file, e.g. `app.js`")),
    responses(
        (status = 200, description = "The file, with its content type", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified since the `ETag` sent in `If-None-Match`"),
        (status = 404, description = "No such file", body = crate::error::ErrorBody),
    )
)]
async fn get_asset(
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&format!("ui/{path}"), &request)
}

/// The embedded file at `path`, with its type and an `ETag`: browsers revalidate each load
/// (`no-cache`) and get a 304 while the binary is the same, so a new release is never stale.
fn serve(path: &str, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found(format!("no file {}", request.path()));
    let file = STATIC.get_file(path).ok_or_else(not_found)?;
    let etag = etags().get(path).ok_or_else(not_found)?;
    let cached = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| sent.split(',').any(|tag| tag.trim() == etag));
    let mut response = match cached {
        true => HttpResponse::NotModified(),
        false => HttpResponse::Ok(),
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if path.ends_with(".html") {
        // A second line of defence behind the UI's text-only rendering: no inline script
        // runs, and nothing is fetched from, or sent to, another host.
        response.insert_header(("Content-Security-Policy", CSP));
    }
    if cached {
        return Ok(response.finish());
    }
    Ok(response
        .content_type(content_type(path))
        .body(file.contents()))
}

/// Every embedded file's `ETag`, computed once.
fn etags() -> &'static HashMap<String, String> {
    static ETAGS: OnceLock<HashMap<String, String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        let mut tags = HashMap::new();
        collect_etags(&STATIC, &mut tags);
        tags
    })
}

fn collect_etags(dir: &Dir<'_>, tags: &mut HashMap<String, String>) {
    for file in dir.files() {
        let digest = hex::encode(Md5::digest(file.contents()));
        let path = file.path().to_string_lossy().into_owned();
        tags.insert(path, format!("\"{digest}\""));
    }
    for sub in dir.dirs() {
        collect_etags(sub, tags);
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn redirect(old: &str) -> HttpResponse {
    let to = REDIRECTS
        .iter()
        .find(|(path, _)| *path == old)
        .map_or("/", |(_, to)| to);
    HttpResponse::Found()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The original gateway's home page: the UI is at `/` now.
#[utoipa::path(get, path = "/index.html", tag = "ui",
    responses((status = 302, description = "To `/`", headers(("Location" = String)))))]
#[allow(dead_code)]
fn redirect_index() {}

/// The original gateway's dependencies page: the UI's `#/deps` now.
#[utoipa::path(get, path = "/deps.html", tag = "ui",
    responses((status = 302, description = "To `/#/deps`", headers(("Location" = String)))))]
#[allow(dead_code)]
fn redirect_deps() {}

/// The original gateway's settings page: the UI's `#/settings` now.
#[utoipa::path(get, path = "/settings.html", tag = "ui",
    responses((status = 302, description = "To `/#/settings`", headers(("Location" = String)))))]
#[allow(dead_code)]
fn redirect_settings() {}

/// The original gateway's templates page: the UI's `#/templates` now.
#[utoipa::path(get, path = "/templates.html", tag = "ui",
    responses((status = 302, description = "To `/#/templates`", headers(("Location" = String)))))]
#[allow(dead_code)]
fn redirect_templates() {}

/// Swagger UI, at `/docs/`.
#[utoipa::path(get, path = "/swagger", tag = "ui",
    responses((status = 302, description = "To `/docs/`", headers(("Location" = String)))))]
#[allow(dead_code)]
fn redirect_swagger() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_an_etag_and_a_known_type() {
        let tags = etags();
        assert!(tags.contains_key("index.html"), "{tags:?}");
        for path in tags.keys() {
            assert_ne!(
                content_type(path),
                "application/octet-stream",
                "{path} is served with a type"
            );
        }
    }

    #[test]
    fn the_shipped_scripts_and_styles_stay_within_150_kb() {
        let mut total = 0;
        let mut stack = vec![&STATIC];
        while let Some(dir) = stack.pop() {
            stack.extend(dir.dirs());
            total += dir
                .files()
                .filter(|f| {
                    matches!(
                        f.path().extension().and_then(|e| e.to_str()),
                        Some("js" | "css")
                    )
                })
                .map(|f| f.contents().len())
                .sum::<usize>();
        }
        assert!(total <= 150 * 1024, "JS + CSS is {total} bytes");
    }
}
