//! The HTTP error boundary: every failure becomes one JSON shape with a stable code,
//! `{"status": "error", "error": {"code": "...", "message": "...", "details"?: ...}}`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::catalog::CatalogError;
use crate::deps::DepsError;
use crate::manage::ManageError;
use crate::repo::RepoError;
use crate::runner::RunError;
use crate::scanner::ScanError;
use crate::sessions::{FileError, SessionError};

/// Every error code a client can see, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidQuery,
    InvalidPath,
    InvalidJson,
    InvalidRequest,
    InvalidParams,
    InvalidSettings,
    NotAScript,
    Unauthorized,
    Forbidden,
    /// Interpreter sessions are off (the `exec_enabled` setting).
    ExecDisabled,
    /// Sessions are on but no key guards a non-loopback address.
    ExecNeedsKey,
    /// A session file path that leaves the session's folder.
    UnsafePath,
    TooManySessions,
    NotFound,
    MethodNotAllowed,
    ScriptDisabled,
    ScriptExists,
    ScriptChanged,
    AmbiguousPath,
    RunAlreadyEnded,
    PayloadTooLarge,
    UnsupportedMediaType,
    SchemaNotLoadable,
    DependenciesFailed,
    InterpreterUnavailable,
    TooManyRuns,
    ShuttingDown,
    Scanning,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidQuery
            | ErrorCode::InvalidPath
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidRequest
            | ErrorCode::InvalidParams
            | ErrorCode::InvalidSettings
            | ErrorCode::NotAScript => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::ExecDisabled | ErrorCode::ExecNeedsKey => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::UnsafePath => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::ScriptDisabled
            | ErrorCode::RunAlreadyEnded
            | ErrorCode::ScriptExists
            | ErrorCode::ScriptChanged
            | ErrorCode::AmbiguousPath => StatusCode::CONFLICT,
            ErrorCode::TooManyRuns | ErrorCode::TooManySessions => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ShuttingDown | ErrorCode::Scanning => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::SchemaNotLoadable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::DependenciesFailed => StatusCode::CONFLICT,
            ErrorCode::InterpreterUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidParams => "invalid_params",
            ErrorCode::InvalidSettings => "invalid_settings",
            ErrorCode::NotAScript => "not_a_script",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ExecDisabled => "exec_disabled",
            ErrorCode::ExecNeedsKey => "exec_needs_key",
            ErrorCode::UnsafePath => "unsafe_path",
            ErrorCode::TooManySessions => "too_many_sessions",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::ScriptDisabled => "script_disabled",
            ErrorCode::RunAlreadyEnded => "run_already_ended",
            ErrorCode::ScriptExists => "script_exists",
            ErrorCode::ScriptChanged => "script_changed",
            ErrorCode::AmbiguousPath => "ambiguous_path",
            ErrorCode::TooManyRuns => "too_many_runs",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Scanning => "scanning",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::SchemaNotLoadable => "schema_not_loadable",
            ErrorCode::DependenciesFailed => "dependencies_failed",
            ErrorCode::InterpreterUnavailable => "interpreter_unavailable",
            ErrorCode::Internal => "internal_error",
        }
    }
}

/// Every error answer: `{"status": "error", "error": {"code", "message", "details"?}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    status: ErrorStatus,
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ErrorStatus {
    Error,
}

/// What went wrong: a stable snake_case `code`, a message for people, and for
/// `invalid_params` the `details` of each bad field.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(value_type = String, pattern = "^[a-z][a-z_]*$", example = "not_found")]
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Value>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, what)
    }

    /// A 400 `invalid_request` saying what is wrong with the request.
    pub fn invalid_request(why: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, why)
    }

    /// A 500 whose cause is logged but never shown to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            ErrorCode::Internal,
            "internal error; the cause is in the gateway's log",
        )
    }

    pub fn body(&self) -> Value {
        serde_json::to_value(self.view()).expect("an error body serialises")
    }

    /// The wire shape of this error.
    pub fn view(&self) -> ErrorBody {
        ErrorBody {
            status: ErrorStatus::Error,
            error: ErrorDetail {
                code: self.code.as_str(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(
            self.code,
            ErrorCode::TooManyRuns
                | ErrorCode::TooManySessions
                | ErrorCode::ShuttingDown
                | ErrorCode::Scanning
        ) {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if self.code == ErrorCode::Unauthorized {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(self.view())
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> ApiError {
        ApiError::internal(&error)
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> ApiError {
        let message = error.to_string();
        let code = match &error {
            SessionError::Disabled => ErrorCode::ExecDisabled,
            SessionError::NeedsKey => ErrorCode::ExecNeedsKey,
            SessionError::NotFound(_) | SessionError::File(FileError::NotFound(_)) => {
                ErrorCode::NotFound
            }
            SessionError::TooMany(_) => ErrorCode::TooManySessions,
            SessionError::Invalid(_) => ErrorCode::InvalidRequest,
            SessionError::File(FileError::Unsafe(..)) => ErrorCode::UnsafePath,
            SessionError::File(FileError::TooLarge(..)) => ErrorCode::PayloadTooLarge,
            SessionError::Interpreter(_) | SessionError::Start(_) => {
                ErrorCode::InterpreterUnavailable
            }
            SessionError::File(FileError::Io(_)) | SessionError::Io(_) => {
                return ApiError::internal(&error)
            }
        };
        ApiError::new(code, message)
    }
}

impl From<RunError> for ApiError {
    fn from(error: RunError) -> ApiError {
        let message = error.to_string();
        match error {
            RunError::ScriptNotFound(_) => ApiError::new(ErrorCode::NotFound, message),
            RunError::Disabled(_) => ApiError::new(ErrorCode::ScriptDisabled, message),
            RunError::RunNotFound(_) => ApiError::new(ErrorCode::NotFound, message),
            RunError::AlreadyEnded(..) => ApiError::new(ErrorCode::RunAlreadyEnded, message),
            RunError::QueueFull(_) => ApiError::new(ErrorCode::TooManyRuns, message),
            RunError::ShuttingDown => ApiError::new(ErrorCode::ShuttingDown, message),
            RunError::Deps(error) => ApiError::from(error),
            RunError::NotLoadable { .. } => ApiError::new(ErrorCode::SchemaNotLoadable, message),
            RunError::InvalidOption(_) => ApiError::new(ErrorCode::InvalidQuery, message),
            RunError::InvalidRequest(_) => ApiError::new(ErrorCode::InvalidRequest, message),
            RunError::ScriptChanged { .. } => ApiError::new(ErrorCode::ScriptChanged, message),
            RunError::InterpreterMissing(_) => {
                ApiError::new(ErrorCode::InterpreterUnavailable, message)
            }
            RunError::InvalidParams(problems) => {
                let fields: Vec<&str> = problems.iter().map(|p| p.param.as_str()).collect();
                ApiError::new(
                    ErrorCode::InvalidParams,
                    format!("invalid parameters: {}", fields.join(", ")),
                )
                .with_details(serde_json::to_value(&problems).unwrap_or_default())
            }
            RunError::Io(_) | RunError::Catalog(_) | RunError::Task(_) => {
                ApiError::internal(&error)
            }
        }
    }
}

impl From<DepsError> for ApiError {
    fn from(error: DepsError) -> ApiError {
        let message = error.to_string();
        match error {
            DepsError::ScriptNotFound(_) => ApiError::new(ErrorCode::NotFound, message),
            DepsError::InvalidRequest(_) => ApiError::new(ErrorCode::InvalidRequest, message),
            DepsError::InstallFailed { reason, log, .. } => {
                ApiError::new(ErrorCode::DependenciesFailed, message)
                    .with_details(json!({"reason": reason, "log": log}))
            }
            DepsError::Catalog(_) | DepsError::Io(_) | DepsError::Task(_) => {
                ApiError::internal(&error)
            }
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(error: ManageError) -> ApiError {
        let message = error.to_string();
        match error {
            ManageError::NotAScript(_) => ApiError::new(ErrorCode::NotAScript, message),
            ManageError::Repo(RepoError::InvalidPath(_)) => {
                ApiError::new(ErrorCode::InvalidPath, message)
            }
            ManageError::Repo(RepoError::Exists(_)) => {
                ApiError::new(ErrorCode::ScriptExists, message)
            }
            ManageError::Repo(RepoError::Missing(_)) | ManageError::NotFound(_) => {
                ApiError::new(ErrorCode::NotFound, message)
            }
            ManageError::Repo(RepoError::TooLarge) => {
                ApiError::new(ErrorCode::PayloadTooLarge, message)
            }
            ManageError::Repo(RepoError::Io { .. })
            | ManageError::Catalog(_)
            | ManageError::Scan(_)
            | ManageError::Task(_) => ApiError::internal(&error),
        }
    }
}

impl From<ScanError> for ApiError {
    fn from(error: ScanError) -> ApiError {
        ApiError::internal(&error)
    }
}

impl From<crate::webhook::WebhookError> for ApiError {
    fn from(error: crate::webhook::WebhookError) -> ApiError {
        use crate::webhook::WebhookError;
        match error {
            WebhookError::NoUrl | WebhookError::InvalidUrl(_) => {
                ApiError::new(ErrorCode::InvalidRequest, error.to_string())
            }
            WebhookError::Catalog(_) => ApiError::internal(&error),
        }
    }
}

impl From<crate::retention::RetentionError> for ApiError {
    fn from(error: crate::retention::RetentionError) -> ApiError {
        ApiError::internal(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_a_fitting_status() {
        let cases = [
            (ErrorCode::InvalidQuery, 400, "invalid_query"),
            (ErrorCode::InvalidPath, 400, "invalid_path"),
            (ErrorCode::Unauthorized, 401, "unauthorized"),
            (ErrorCode::NotFound, 404, "not_found"),
            (ErrorCode::ScriptChanged, 409, "script_changed"),
            (ErrorCode::MethodNotAllowed, 405, "method_not_allowed"),
            (ErrorCode::PayloadTooLarge, 413, "payload_too_large"),
            (ErrorCode::SchemaNotLoadable, 422, "schema_not_loadable"),
            (ErrorCode::Scanning, 503, "scanning"),
            (ErrorCode::Internal, 500, "internal_error"),
        ];
        for (code, status, wire) in cases {
            assert_eq!(code.status().as_u16(), status, "{code:?}");
            assert_eq!(code.as_str(), wire);
        }
    }

    #[test]
    fn the_body_has_the_contract_shape() {
        let body = ApiError::new(ErrorCode::NotFound, "no script 7")
            .with_details(json!([1]))
            .body();
        assert_eq!(
            body,
            json!({"status": "error", "error": {"code": "not_found", "message": "no script 7", "details": [1]}})
        );
    }
}
