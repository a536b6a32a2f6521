//! Routes of the original gateway outside `/scripts`, with its request and response shapes,
//! mapped onto this gateway's features: template download and reset, and the shared
//! dependency set read as the original's "config file" or checked against a pasted file.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::deps::{parse_declaration, SharedSet};
use crate::domain::Runtime;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::manage::ScriptManager;

use super::{object_body, resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/templates/{runtime}/download",
        Gate::Admin,
        [(Method::GET, web::to(download_template))],
    ))
    .service(resource(
        "/templates/{runtime}/reset",
        Gate::Admin,
        [(Method::POST, web::to(reset_template))],
    ))
    .service(resource(
        "/deps/config-file",
        Gate::Admin,
        [(Method::GET, web::to(get_config_file))],
    ))
    .service(resource(
        "/deps/parse",
        Gate::Admin,
        [(Method::POST, web::to(parse_deps))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(download_template, reset_template, get_config_file, parse_deps))]
pub struct OriginalApi;

/// `python`, `js` or `javascript`, as the original took them.
fn runtime_of(text: &str) -> Result<Runtime, ApiError> {
    match text {
        "javascript" => Ok(Runtime::Js),
        other => Runtime::parse(other).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("runtime must be \"python\" or \"js\", not {other:?}"),
            )
        }),
    }
}

/// The template new scripts of a runtime start from, as a file.
#[utoipa::path(get, path = "/templates/{runtime}/download", tag = "manage",
    params(("runtime" = String, Path, description = "python or js")),
    responses((status = 200, description = "The template", content_type = "text/plain"), (status = 400, description = "An unknown runtime", body = ErrorBody)))]
async fn download_template(
    state: web::Data<AppState>,
    runtime: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let runtime = runtime_of(&runtime)?;
    let template = state.manager.template(runtime).await?;
    let name = ScriptManager::template_file_name(runtime);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name.to_string())],
        })
        .body(template.content))
}

#[derive(Serialize, ToSchema)]
struct ResetView {
    /// Always `success`.
    status: &'static str,
    /// The built-in template now in use.
    content: String,
}

/// Drops a custom template: new scripts start from the built-in one again.
#[utoipa::path(post, path = "/templates/{runtime}/reset", tag = "manage",
    params(("runtime" = String, Path, description = "python or js")),
    responses((status = 200, description = "Reset", body = ResetView), (status = 400, description = "An unknown runtime", body = ErrorBody)))]
async fn reset_template(
    state: web::Data<AppState>,
    runtime: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let template = state.manager.reset_template(runtime_of(&runtime)?).await?;
    Ok(HttpResponse::Ok().json(ResetView {
        status: "success",
        content: template.content,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConfigFileRequest {
    /// `python` (default), `js` or `javascript`.
    runtime: Option<String>,
}

/// One package as the original listed it: its name and the version part of its entry.
#[derive(Serialize, ToSchema)]
#[schema(as = OriginalPackage)]
struct PackageView {
    name: String,
    version: String,
}

#[derive(Serialize, ToSchema)]
struct ConfigFileView {
    runtime: String,
    deps: Vec<PackageView>,
    /// Where these come from here.
    source: &'static str,
}

/// The shared dependencies every run of a runtime gets (the original read its own
/// requirements.txt / package.json; here the shared set is that file).
#[utoipa::path(get, path = "/deps/config-file", tag = "dependencies", params(ConfigFileRequest),
    responses((status = 200, description = "The shared set's packages", body = ConfigFileView), (status = 400, description = "An unknown runtime", body = ErrorBody)))]
async fn get_config_file(
    state: web::Data<AppState>,
    query: web::Query<ConfigFileRequest>,
) -> Result<HttpResponse, ApiError> {
    let named = query.runtime.clone().unwrap_or_else(|| "python".into());
    let runtime = runtime_of(&named)?;
    let shared = state.deps.shared_view(runtime).await?;
    Ok(HttpResponse::Ok().json(ConfigFileView {
        runtime: named,
        deps: shared
            .deps
            .iter()
            .map(|p| package(runtime, &p.requested))
            .collect(),
        source: "the shared dependency set (GET /api/deps, POST /api/deps/install)",
    }))
}

/// `{"runtime", "content"}`: a requirements.txt or package.json to check.
#[derive(Deserialize, ToSchema)]
struct ParseRequest {
    #[serde(default = "python")]
    runtime: String,
    #[serde(default)]
    content: String,
}

fn python() -> String {
    "python".into()
}

#[derive(Serialize, ToSchema)]
struct ConflictView {
    name: String,
    current_version: String,
    requested_version: String,
}

#[derive(Serialize, ToSchema)]
struct ParseView {
    runtime: String,
    requested: Vec<PackageView>,
    /// Python packages pinned (`==`) to another version than the shared set has installed.
    conflicts: Vec<ConflictView>,
}

/// Reads a dependency file as this gateway would and compares its pins with the shared set.
#[utoipa::path(post, path = "/deps/parse", tag = "dependencies", request_body = ParseRequest,
    responses((status = 200, description = "The packages and conflicts", body = ParseView), (status = 400, description = "An unknown runtime, or a file this gateway refuses (the message names the line)", body = ErrorBody)))]
async fn parse_deps(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let request: ParseRequest = object_body(body.into_inner())?;
    let runtime = runtime_of(&request.runtime)?;
    let base = state.runner.scripts_repo().to_path_buf();
    let entries = parse_declaration(runtime, &request.content, &base)
        .map_err(|reason| ApiError::new(ErrorCode::InvalidRequest, reason))?;
    let requested: Vec<PackageView> = entries
        .iter()
        .filter(|entry| !entry.starts_with('-'))
        .map(|entry| package(runtime, entry))
        .collect();
    let conflicts = match runtime {
        Runtime::Python => conflicts(&requested, &state.deps.shared_view(runtime).await?),
        Runtime::Js => Vec::new(),
    };
    Ok(HttpResponse::Ok().json(ParseView {
        runtime: request.runtime,
        requested,
        conflicts,
    }))
}

/// `requests==2.31` → (`requests`, `==2.31`); `@scope/pkg@^1` → (`@scope/pkg`, `^1`).
fn package(runtime: Runtime, entry: &str) -> PackageView {
    let (name, version) = match runtime {
        Runtime::Python => {
            let end = entry
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._-[],".contains(c)))
                .unwrap_or(entry.len());
            (&entry[..end], entry[end..].trim())
        }
        Runtime::Js => match entry[1..].rfind('@') {
            Some(at) => (&entry[..=at], &entry[at + 2..]),
            None => (entry, ""),
        },
    };
    PackageView {
        name: name.to_string(),
        version: version.to_string(),
    }
}

fn conflicts(requested: &[PackageView], shared: &SharedSet) -> Vec<ConflictView> {
    requested
        .iter()
        .filter_map(|wanted| {
            let pinned = wanted.version.strip_prefix("==")?.trim();
            let base = |name: &str| name.split('[').next().unwrap_or(name).to_lowercase();
            let installed = shared
                .deps
                .iter()
                .find(|p| base(&p.name) == base(&wanted.name))?
                .installed_version
                .clone()?;
            (installed != pinned).then(|| ConflictView {
                name: wanted.name.clone(),
                current_version: installed,
                requested_version: pinned.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_into_name_and_version() {
        let split = |runtime, entry| {
            let p = package(runtime, entry);
            (p.name, p.version)
        };
        assert_eq!(
            split(Runtime::Python, "requests==2.31.0"),
            ("requests".into(), "==2.31.0".into())
        );
        assert_eq!(
            split(Runtime::Python, "uvicorn[standard]>=0.20"),
            ("uvicorn[standard]".into(), ">=0.20".into())
        );
        assert_eq!(split(Runtime::Python, "six"), ("six".into(), String::new()));
        assert_eq!(
            split(Runtime::Js, "uuid@^9.0.0"),
            ("uuid".into(), "^9.0.0".into())
        );
        assert_eq!(
            split(Runtime::Js, "@types/node@22"),
            ("@types/node".into(), "22".into())
        );
    }
}
