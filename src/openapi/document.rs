//! Assembles the document: the gateway's description and tags, the static API document it is
//! given, the scripts' operations, then the rules every operation shares (security, common
//! errors).

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
use utoipa::OpenApi;

use crate::catalog::Script;
use crate::error::ErrorBody;

use super::script_paths;

/// The scheme names in `components.securitySchemes`.
pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ScriptGateway",
        description = "Python and JavaScript scripts in `scripts_repo/` as typed HTTP endpoints.\n\n\
            Every loaded script has its own `/api/scripts/ID/run` operations, typed from its \
            ARGS_MAP (tagged by its folder). When the gateway runs with an API key, every \
            `/api/*` route needs `Authorization: Bearer KEY` or `X-API-Key: KEY`: use \
            **Authorize** before *Try it out*. Errors are always \
            `{\"status\": \"error\", \"error\": {\"code\", \"message\"}}`."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "run", description = "Run any script by id; each script also has its own typed operations below"),
        (name = "scripts", description = "The scripts the gateway found, and rescans"),
        (name = "runs", description = "Run history, outputs, files, live events, cancel"),
        (name = "docs", description = "This document and Swagger UI"),
        (name = "ui", description = "The web UI (open: its pages hold no data and ask for a key) and the original gateway's page addresses"),
        (name = "manage", description = "Create, edit and delete scripts; templates; per-script overrides"),
        (name = "dependencies", description = "Per-script dependency caches, shared dependencies, installs"),
        (name = "settings", description = "Runtime settings, applied without a restart; notification test"),
        (name = "keys", description = "Named API keys with a run, metrics, exec or admin scope"),
        (name = "exec", description = "Ad-hoc code runs, for exec keys while the exec_enabled setting is on"),
        (name = "sessions", description = "Stateful Python and Node interpreter sessions and their files, for exec keys while the exec_enabled setting is on"),
        (name = "health", description = "Liveness"),
        (name = "metrics", description = "Prometheus metrics: runs, extractions, installs, scripts, HTTP requests, the process"),
        (name = "system", description = "How runs are contained on this host, and which guarantees hold"),
    )
)]
struct Gateway;

/// The document without any script: the gateway's own API (`api`, the static document of
/// every mounted route).
pub fn static_document(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = Gateway::openapi().merge_from(api);
    apply_shared_rules(&mut doc);
    doc
}

/// The whole document: the gateway's API (`api`) plus the typed operations of every loaded
/// script.
pub fn document(api: utoipa::openapi::OpenApi, scripts: &[Script]) -> utoipa::openapi::OpenApi {
    let mut doc = Gateway::openapi().merge_from(api);
    script_paths::add_scripts(&mut doc, scripts);
    apply_shared_rules(&mut doc);
    doc
}

fn apply_shared_rules(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "`Authorization: Bearer KEY`, when the gateway has an API key",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-API-Key",
            "`X-API-Key: KEY`, when the gateway has an API key",
        ))),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        // `/metrics` asks for a key unless the `metrics_public` setting is on.
        let protected = path == "/api" || path.starts_with("/api/") || path == "/metrics";
        for operation in operations_mut(item) {
            if protected {
                secure(operation);
            }
            add_common_errors(operation);
        }
    }
}

/// Every operation of a path item.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn secure(operation: &mut Operation) {
    operation.security = Some(vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(API_KEY, Vec::<String>::new()),
    ]);
    add_error(
        operation,
        "401",
        "The API key is missing or wrong (`unauthorized`)",
    );
}

/// What any operation can answer before its handler runs: a path or query value that does
/// not parse is a 400, and an id that names nothing is a 404.
fn add_common_errors(operation: &mut Operation) {
    let has = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let (in_path, in_query) = (has(ParameterIn::Path), has(ParameterIn::Query));
    if in_path || in_query || operation.request_body.is_some() {
        add_error(
            operation,
            "400",
            "A parameter or the body is not valid (`invalid_path`, `invalid_query`, `invalid_json`)",
        );
    }
    if in_path {
        add_error(operation, "404", "Nothing has this id (`not_found`)");
    }
}

fn add_error(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error_response(description));
}

/// A response with the error body.
pub fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .into()
}
