//! Pure types of the script convention: runtimes, ARGS_MAP schemas and run requests.

mod args_map;
mod params;
mod run_request;
mod runtime;

pub use args_map::{ArgSpec, ArgsMap, ParamType, SchemaError};
pub use params::{bind, ParamProblem, RawValue, RunArgs};
pub use run_request::{parse_options, InvalidOption, RunOptions, RunRequest, OPTION_NAMES};
pub use runtime::{is_variable_name, EntryKind, Runtime, SCRIPT_RULE};
