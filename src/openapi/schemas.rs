//! Schemas written by hand because their values come from the code: enums listed by a
//! const in their own module, and the ARGS_MAP, whose entry types come from `ParamType`.

use std::borrow::Cow;

use serde_json::{json, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::catalog::{LoadStatus, RunKind, RunStatus};
use crate::domain::{ParamType, Runtime};

fn string_enum<I: IntoIterator<Item = &'static str>>(values: I) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// A schema any JSON value satisfies: `{}`.
pub fn any_value() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .into()
}

/// `python` or `js`.
pub struct RuntimeName;

impl PartialSchema for RuntimeName {
    fn schema() -> RefOr<Schema> {
        string_enum(Runtime::ALL.map(Runtime::as_str))
    }
}

impl ToSchema for RuntimeName {
    fn name() -> Cow<'static, str> {
        "Runtime".into()
    }
}

/// Whether a script's schema could be extracted: `ok` or `error`.
pub struct LoadStatusName;

impl PartialSchema for LoadStatusName {
    fn schema() -> RefOr<Schema> {
        string_enum([LoadStatus::Ok, LoadStatus::Error].map(LoadStatus::as_str))
    }
}

impl ToSchema for LoadStatusName {
    fn name() -> Cow<'static, str> {
        "LoadStatus".into()
    }
}

/// Where a run is in its life.
pub struct RunStatusName;

impl PartialSchema for RunStatusName {
    fn schema() -> RefOr<Schema> {
        string_enum(RunStatus::ALL.map(RunStatus::as_str))
    }
}

impl ToSchema for RunStatusName {
    fn name() -> Cow<'static, str> {
        "RunStatus".into()
    }
}

/// What a run executed: a script (`script`) or code sent to `POST /api/exec` (`exec`).
pub struct RunKindName;

impl PartialSchema for RunKindName {
    fn schema() -> RefOr<Schema> {
        string_enum([RunKind::Script, RunKind::Exec].map(RunKind::as_str))
    }
}

impl ToSchema for RunKindName {
    fn name() -> Cow<'static, str> {
        "RunKind".into()
    }
}

/// The parameter types an ARGS_MAP entry can declare.
pub fn param_type_names() -> Vec<&'static str> {
    ParamType::NAMES.split(", ").collect()
}

/// A script's ARGS_MAP: parameter name → entry. Unknown keys are kept as declared.
pub struct ArgsMapSchema;

impl PartialSchema for ArgsMapSchema {
    fn schema() -> RefOr<Schema> {
        let nullable = |t: Type| SchemaType::from_iter([t, Type::Null]);
        let entry = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One parameter: how it reaches the script and what it accepts.",
            ))
            .property(
                "flag",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The CLI flag, e.g. `--name`.")),
            )
            .required("flag")
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    .enum_values(Some(
                        param_type_names()
                            .into_iter()
                            .map(Value::from)
                            .chain([Value::Null]),
                    ))
                    .description(Some("Missing means `str`.")),
            )
            .property(
                "required",
                ObjectBuilder::new().schema_type(nullable(Type::Boolean)),
            )
            .property("default", any_value())
            .property(
                "help",
                ObjectBuilder::new().schema_type(nullable(Type::String)),
            )
            .property(
                "choices",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::Array))
                    .description(Some(
                        "The allowed values of a `choice` (strings or numbers).",
                    )),
            )
            .property(
                "action",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    .description(Some("`store_true`: a bool passed as the bare flag.")),
            );
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(entry))
            .examples([json!({
                "name": {"flag": "--name", "type": "str", "required": true, "help": "Who to greet"},
                "times": {"flag": "--times", "type": "int", "default": 1}
            })])
            .into()
    }
}

impl ToSchema for ArgsMapSchema {
    fn name() -> Cow<'static, str> {
        "ArgsMap".into()
    }
}

/// How a run's output appears in its result: `data` (stdout as one JSON value, or `null`), or,
/// when stdout was anything else, `type: "file"` with where to fetch it. Described as one object
/// of optional fields rather than a `oneOf` of the two shapes: the result flattens it next to
/// other fields, and generators (openapi-python-client among them) cannot merge an `allOf` that
/// holds a `oneOf`, so they dropped the whole result model.
#[derive(utoipa::ToSchema)]
#[schema(as = RunOutput)]
#[allow(dead_code)]
pub struct RunOutputDoc {
    /// stdout (trimmed) as one JSON value; `null` when it was empty. Absent with `type: "file"`.
    data: Option<Value>,
    /// `file` when stdout was not one JSON value.
    #[serde(rename = "type")]
    #[schema(pattern = "^file$")]
    kind: Option<String>,
    /// Where to fetch the stored stdout.
    url: Option<String>,
    filename: Option<String>,
    size: Option<i64>,
    content_type: Option<String>,
    /// The first characters of a text output.
    stdout_preview: Option<String>,
}
