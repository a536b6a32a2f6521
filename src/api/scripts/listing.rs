//! Reading the catalog of scripts: the list, one script, and its ARGS_MAP.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::catalog::{LoadStatus, Script, ScriptFilter};
use crate::domain::Runtime;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::openapi::schemas::{ArgsMapSchema, LoadStatusName, RuntimeName};

use crate::api::lookup::{find_script, page_bounds, schema_not_loadable};
use crate::api::AppState;

#[derive(OpenApi)]
#[openapi(paths(list_scripts, get_script, get_script_schema))]
pub(super) struct ListingApi;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListScriptsRequest {
    /// Only scripts of this runtime.
    #[serde(rename = "type")]
    #[param(value_type = Option<RuntimeName>)]
    runtime: Option<String>,
    /// Text to find in the path, name, alias or description.
    search: Option<String>,
    /// Only scripts whose schema loaded (`ok`) or failed to load (`error`).
    #[param(value_type = Option<LoadStatusName>)]
    status: Option<String>,
    /// The page, from 1.
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Scripts per page, 1 to 500 (default 20).
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<u32>,
}

impl ListScriptsRequest {
    fn into_filter(self) -> Result<ScriptFilter, ApiError> {
        let invalid = |message: String| ApiError::new(ErrorCode::InvalidQuery, message);
        let runtime = match self.runtime.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(text) => Some(Runtime::parse(text).ok_or_else(|| {
                invalid(format!("type must be \"python\" or \"js\", not {text:?}"))
            })?),
        };
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("ok") => Some(LoadStatus::Ok),
            Some("error") => Some(LoadStatus::Error),
            Some(text) => {
                return Err(invalid(format!(
                    "status must be \"ok\" or \"error\", not {text:?}"
                )))
            }
        };
        let (page, page_size) = page_bounds(self.page, self.page_size)?;
        let search = self
            .search
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Ok(ScriptFilter {
            runtime,
            status,
            search,
            page,
            page_size,
        })
    }
}

/// A script as clients see it.
#[derive(Serialize, ToSchema)]
#[schema(as = Script)]
pub struct ScriptView {
    id: i64,
    /// Relative to `scripts_repo`, e.g. `python/hello.py`.
    path: String,
    name: String,
    #[schema(value_type = RuntimeName)]
    runtime: Runtime,
    /// The script group (a folder with its own dependency file), if any.
    group: Option<String>,
    alias: Option<String>,
    description: Option<String>,
    enabled: bool,
    notify_enabled: bool,
    /// This script's own timeout in seconds (replaces the global one), if set.
    timeout_sec: Option<i64>,
    /// Runs of this script allowed at once, if limited.
    max_concurrent: Option<i64>,
    /// `warm` or `cold` for this script alone, if set (else the `execution_mode` setting).
    execution_mode: Option<String>,
    #[schema(value_type = LoadStatusName)]
    load_status: &'static str,
    load_error: Option<String>,
    /// The ARGS_MAP, when it could be extracted.
    #[schema(value_type = Option<ArgsMapSchema>)]
    args_schema: Option<Value>,
    run_url: String,
    file_hash: String,
    file_size: i64,
    /// The dependency file the script uses, relative to scripts_repo.
    deps_file: Option<String>,
    deps_hash: Option<String>,
    /// `installing`, `ready` or `failed` (details at `/api/scripts/{id}/dependencies`).
    deps_status: Option<String>,
    created_at: String,
    updated_at: String,
    loaded_at: Option<String>,
    last_run_at: Option<String>,
    last_run_status: Option<String>,
    run_count: i64,
}

impl From<Script> for ScriptView {
    fn from(s: Script) -> ScriptView {
        ScriptView {
            run_url: format!("/api/scripts/{}/run", s.id),
            id: s.id,
            path: s.path,
            name: s.name,
            runtime: s.runtime,
            group: s.group_path,
            alias: s.alias,
            description: s.description,
            enabled: s.enabled,
            notify_enabled: s.notify_enabled,
            timeout_sec: s.timeout_sec,
            max_concurrent: s.max_concurrent,
            execution_mode: s.execution_mode,
            load_status: s.load_status.as_str(),
            load_error: s.load_error,
            args_schema: s.args_schema,
            file_hash: s.file_hash,
            file_size: s.file_size,
            deps_file: s.deps_file,
            deps_hash: s.deps_hash,
            deps_status: s.deps_status,
            created_at: s.created_at,
            updated_at: s.updated_at,
            loaded_at: s.loaded_at,
            last_run_at: s.last_run_at,
            last_run_status: s.last_run_status,
            run_count: s.run_count,
        }
    }
}

/// One page of scripts.
#[derive(Serialize, ToSchema)]
#[schema(as = ScriptPage)]
struct ScriptPageView {
    items: Vec<ScriptView>,
    total: i64,
    page: u32,
    page_size: u32,
}

/// Lists scripts, filtered and paged.
#[utoipa::path(
    get,
    path = "/scripts",
    tag = "scripts",
    params(ListScriptsRequest),
    responses(
        (status = 200, description = "One page of scripts", body = ScriptPageView),
        (status = 400, description = "A filter or page is not valid (`invalid_query`)", body = ErrorBody),
    )
)]
pub(super) async fn list_scripts(
    state: web::Data<AppState>,
    query: web::Query<ListScriptsRequest>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.into_inner().into_filter()?;
    let (page, page_size) = (filter.page, filter.page_size);
    let found = state.catalog.list_scripts(filter).await?;
    let items = found.items.into_iter().map(ScriptView::from).collect();
    Ok(HttpResponse::Ok().json(ScriptPageView {
        items,
        total: found.total,
        page,
        page_size,
    }))
}

/// One script: its path, status, ARGS_MAP and run statistics.
#[utoipa::path(
    get,
    path = "/scripts/{id}",
    tag = "scripts",
    params(("id" = i64, Path, description = "The script's id")),
    responses(
        (status = 200, description = "The script", body = ScriptView),
        (status = 404, description = "No script with this id", body = ErrorBody),
    )
)]
pub(super) async fn get_script(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ScriptView::from(script)))
}

/// The script's ARGS_MAP, exactly as the script declared it.
#[utoipa::path(
    get,
    path = "/scripts/{id}/schema",
    tag = "scripts",
    params(("id" = i64, Path, description = "The script's id")),
    responses(
        (status = 200, description = "The ARGS_MAP", body = ArgsMapSchema),
        (status = 404, description = "No script with this id", body = ErrorBody),
        (status = 422, description = "The schema could not be extracted (`schema_not_loadable`)", body = ErrorBody),
    )
)]
pub(super) async fn get_script_schema(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    match (script.load_status, &script.args_schema) {
        (LoadStatus::Ok, Some(schema)) => Ok(HttpResponse::Ok().json(schema)),
        _ => Err(schema_not_loadable(&script)),
    }
}
