//! ScriptGateway: Python and JavaScript scripts in a folder become typed HTTP endpoints.

/// Who may call the API: the master key and named, scoped keys.
pub mod access;
/// HTTP handlers, one module per resource.
pub mod api;
/// The SQLite catalog: pool, migrations and every query.
pub mod catalog;
/// Command line: `serve`, `scan`, `openapi` and `import-original`.
pub mod cli;
/// Timestamps in the catalog's text form.
pub mod clock;
/// Typed configuration, read in one place.
pub mod config;
/// Per-script dependency caches: normalised sets, installs, the run environment.
pub mod deps;
/// ARGS_MAP types and their validation.
pub mod domain;
/// The HTTP error boundary: one JSON error shape with a stable code.
pub mod error;
/// `import-original`: the original gateway's aliases, notification switches and settings.
pub mod import;
/// Script management: create, edit, delete, templates.
pub mod manage;
/// Prometheus metrics: the registry and the calls that record into it.
pub mod metrics;
/// Feeds the metrics from what the runner announces.
pub mod observe;
/// The OpenAPI 3.1 document (static API plus one typed operation pair per script) and Swagger UI.
pub mod openapi;
/// The one place that spawns child processes.
pub mod process;
/// Script files in the repository, confined to their runtime folders.
pub mod repo;
/// Keeps the run history bounded: old runs and runs beyond a per-script cap are pruned.
pub mod retention;
/// One run of one script: folder, argv, limits, outputs.
pub mod runner;
/// Finds scripts, extracts their schemas, keeps the catalog in step with the disk.
pub mod scanner;
/// Interpreter sessions for trusted callers: a live Python or Node.js worker per session.
pub mod sessions;
/// Runtime settings: stored, validated, applied live.
pub mod settings;
/// Builds and runs the HTTP application.
pub mod startup;
/// Logging set-up.
pub mod telemetry;
/// Notifications: finished runs POSTed to `notify_url`, off the request path, with retries.
pub mod webhook;
