//! ScriptGateway: Python and JavaScript scripts in a folder become typed HTTP endpoints.

/// HTTP handlers, one module per resource.
pub mod api;
/// The SQLite catalog: pool, migrations and every query.
pub mod catalog;
/// Command line: `serve` and `scan`.
pub mod cli;
/// Typed configuration, read in one place.
pub mod config;
/// ARGS_MAP types and their validation.
pub mod domain;
/// The HTTP error boundary: one JSON error shape with a stable code.
pub mod error;
/// The one place that spawns child processes.
pub mod process;
/// One run of one script: folder, argv, limits, outputs.
pub mod runner;
/// Finds scripts, extracts their schemas, keeps the catalog in step with the disk.
pub mod scanner;
/// Builds and runs the HTTP application.
pub mod startup;
/// Logging set-up.
pub mod telemetry;
