//! The OpenAPI 3.1 document as a pure builder: it takes the gateway's static API document
//! (which `api` derives from its modules) and the scripts, adds each loaded script's typed
//! `/api/scripts/ID/run` operations built from its ARGS_MAP, then the rules every operation
//! shares. It serves nothing: `api` caches and serves the result.

pub mod curl;
mod document;
pub mod fragment;
pub mod schemas;
mod script_paths;

pub use document::{document, operations_mut, static_document};
pub use script_paths::{loaded_args_map, run_path};
