//! Pure types of the script convention: runtimes and ARGS_MAP schemas.

mod args_map;
mod params;
mod runtime;

pub use args_map::{ArgSpec, ArgsMap, ParamType, SchemaError};
pub use params::{bind, ParamProblem, RawValue, RunArgs};
pub use runtime::Runtime;
