//! Before the first scan is done, a script the catalog does not know may be one the scan has
//! not reached yet: a run request for it waits (at most `FIRST_SCAN_WAIT`) for it to be listed
//! or for the scan to end, else gets 503 `scanning` with `Retry-After`, never a false 404.

use crate::error::{ApiError, ErrorCode};

use crate::api::AppState;

/// How long a run of a script the first scan has not reached yet waits for it.
const FIRST_SCAN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How a request names its script.
#[derive(Debug, Clone, Copy)]
pub enum Wanted<'a> {
    Id(i64),
    /// A path, with or without its extension.
    Path(&'a str),
}

impl Wanted<'_> {
    async fn is_listed(self, state: &AppState) -> Result<bool, ApiError> {
        Ok(match self {
            Wanted::Id(id) => state.catalog.script(id).await?.is_some(),
            Wanted::Path(path) => !state.catalog.scripts_at(path.to_string()).await?.is_empty(),
        })
    }

    fn not_yet(self) -> String {
        let named = match self {
            Wanted::Id(id) => format!("with id {id}"),
            Wanted::Path(path) => format!("at {path}"),
        };
        format!("no script {named} yet: the first scan is still running; retry shortly")
    }
}

/// Returns once the script is listed or the first scan is done; 503 `scanning` if neither
/// happens within `FIRST_SCAN_WAIT`.
pub async fn await_first_scan(state: &AppState, wanted: Wanted<'_>) -> Result<(), ApiError> {
    let mut ready = state.scanner.readiness();
    let mut changes = state.scanner.changes();
    let deadline = tokio::time::Instant::now() + FIRST_SCAN_WAIT;
    loop {
        changes.borrow_and_update();
        if *ready.borrow_and_update() || wanted.is_listed(state).await? {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return Err(ApiError::new(ErrorCode::Scanning, wanted.not_yet()));
            }
            changed = ready.changed() => if changed.is_err() { return Ok(()) },
            changed = changes.changed() => if changed.is_err() { return Ok(()) },
        }
    }
}
