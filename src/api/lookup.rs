//! Catalog lookups every resource shares: a script or run by id, absent as one 404, and the
//! page bounds every list validates.

use crate::catalog::{Run, Script};
use crate::error::{ApiError, ErrorCode};

use super::AppState;

/// The largest page any list answers.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The 404 for a script id that names nothing.
pub fn script_not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("no script with id {id}"))
}

/// The 404 for a run id that names nothing.
pub fn run_not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("no run with id {id}"))
}

/// The 422 for a script whose ARGS_MAP could not be loaded, with the reason.
pub fn schema_not_loadable(script: &Script) -> ApiError {
    ApiError::new(
        ErrorCode::SchemaNotLoadable,
        format!(
            "the schema of {} could not be loaded: {}",
            script.path,
            script.load_error.as_deref().unwrap_or_default()
        ),
    )
}

/// The script with this id, or its 404.
pub async fn find_script(state: &AppState, id: i64) -> Result<Script, ApiError> {
    state
        .catalog
        .script(id)
        .await?
        .ok_or_else(|| script_not_found(id))
}

/// The run with this id, or its 404.
pub async fn find_run(state: &AppState, id: i64) -> Result<Run, ApiError> {
    state
        .catalog
        .run(id)
        .await?
        .ok_or_else(|| run_not_found(id))
}

/// Validated pagination: pages start at 1, sizes are 1..=MAX_PAGE_SIZE (default 20).
pub fn page_bounds(page: Option<u32>, page_size: Option<u32>) -> Result<(u32, u32), ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidQuery, message);
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(invalid("page starts at 1".into()));
    }
    let page_size = page_size.unwrap_or(20);
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(invalid(format!(
            "page_size must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok((page, page_size))
}
