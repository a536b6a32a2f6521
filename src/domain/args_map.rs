//! The ARGS_MAP a script declares: parameter types and specs, parsed and checked once.

use serde_json::{Map, Value};
use thiserror::Error;

/// The types a parameter can declare in an ARGS_MAP entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Str,
    Int,
    Float,
    Bool,
    File,
    Choice,
    Json,
    Url,
}

impl ParamType {
    pub const NAMES: &'static str = "str, int, float, bool, file, choice, json, url";

    pub fn parse(name: &str) -> Option<ParamType> {
        Some(match name {
            "str" => ParamType::Str,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            "file" => ParamType::File,
            "choice" => ParamType::Choice,
            "json" => ParamType::Json,
            "url" => ParamType::Url,
            _ => return None,
        })
    }

    /// Whether a JSON value is acceptable as this type's `default`.
    fn accepts_default(self, value: &Value) -> bool {
        match self {
            ParamType::Str | ParamType::Url => value.is_string(),
            ParamType::Int => value.is_i64() || value.is_u64(),
            ParamType::Float => value.is_number(),
            ParamType::Bool => value.is_boolean(),
            ParamType::File => false,
            ParamType::Choice => value.is_string() || value.is_number(),
            ParamType::Json => true,
        }
    }
}

/// One parameter of a script, as declared by its ARGS_MAP entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgSpec {
    pub name: String,
    pub flag: String,
    pub kind: ParamType,
    pub required: bool,
    pub default: Option<Value>,
    pub help: Option<String>,
    pub choices: Vec<Value>,
    /// `"action": "store_true"`: the bare flag when true, nothing when false.
    pub store_true: bool,
}

/// A validated ARGS_MAP: the entries in declaration order, plus the raw object
/// (unknown keys are kept so clients see exactly what the script declared).
#[derive(Debug, Clone, PartialEq)]
pub struct ArgsMap {
    raw: Map<String, Value>,
    specs: Vec<ArgSpec>,
}

/// Why a script's ARGS_MAP was refused; the message is shown to users as `load_error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    #[error("schema is {0}, expected a JSON object mapping parameter names to entries")]
    NotAnObject(&'static str),
    #[error("entry \"{name}\": {problem}")]
    BadEntry { name: String, problem: String },
    #[error("entries \"{first}\" and \"{second}\" both use the flag \"{flag}\"")]
    DuplicateFlag {
        first: String,
        second: String,
        flag: String,
    },
}

impl ArgsMap {
    pub fn parse(value: Value) -> Result<ArgsMap, SchemaError> {
        let raw = match value {
            Value::Object(map) => map,
            other => return Err(SchemaError::NotAnObject(json_kind(&other))),
        };
        let mut specs: Vec<ArgSpec> = Vec::with_capacity(raw.len());
        for (name, entry) in &raw {
            let spec = parse_entry(name, entry).map_err(|problem| SchemaError::BadEntry {
                name: name.clone(),
                problem,
            })?;
            if let Some(first) = specs.iter().find(|s| s.flag == spec.flag) {
                return Err(SchemaError::DuplicateFlag {
                    first: first.name.clone(),
                    second: spec.name,
                    flag: spec.flag,
                });
            }
            specs.push(spec);
        }
        Ok(ArgsMap { raw, specs })
    }

    pub fn specs(&self) -> &[ArgSpec] {
        &self.specs
    }

    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.raw.clone())
    }

    pub fn has_file_param(&self) -> bool {
        self.specs.iter().any(|s| s.kind == ParamType::File)
    }
}

fn parse_entry(name: &str, entry: &Value) -> Result<ArgSpec, String> {
    let object = entry.as_object().ok_or_else(|| {
        format!(
            "is {}, expected an object with a \"flag\"",
            json_kind(entry)
        )
    })?;
    if name.trim().is_empty() {
        return Err("parameter names must not be empty".into());
    }
    let flag = parse_flag(object.get("flag"))?;
    let kind = match object.get("type") {
        None | Some(Value::Null) => ParamType::Str,
        Some(Value::String(t)) => ParamType::parse(t).ok_or_else(|| {
            format!(
                "unknown type \"{t}\" (expected one of: {})",
                ParamType::NAMES
            )
        })?,
        Some(other) => {
            return Err(format!(
                "\"type\" is {}, expected a string",
                json_kind(other)
            ))
        }
    };
    let required = match object.get("required") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "\"required\" is {}, expected true or false",
                json_kind(other)
            ))
        }
    };
    let choices = parse_choices(kind, object.get("choices"))?;
    let default = parse_default(kind, object.get("default"), &choices)?;
    let help = match object.get("help") {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) => Some(h.clone()),
        Some(other) => {
            return Err(format!(
                "\"help\" is {}, expected a string",
                json_kind(other)
            ))
        }
    };
    let store_true = object.get("action").and_then(Value::as_str) == Some("store_true");
    if store_true && kind != ParamType::Bool {
        return Err("\"action\": \"store_true\" is only allowed on a bool".into());
    }
    Ok(ArgSpec {
        name: name.to_string(),
        flag,
        kind,
        required,
        default,
        help,
        choices,
        store_true,
    })
}

fn parse_flag(flag: Option<&Value>) -> Result<String, String> {
    match flag {
        None | Some(Value::Null) => Err("has no \"flag\" (e.g. \"--name\")".into()),
        Some(Value::String(f))
            if f.starts_with('-') && f.len() > 1 && !f.contains(char::is_whitespace) =>
        {
            Ok(f.clone())
        }
        Some(Value::String(f)) => Err(format!(
            "flag \"{f}\" must start with \"-\" and contain no spaces"
        )),
        Some(other) => Err(format!(
            "\"flag\" is {}, expected a string",
            json_kind(other)
        )),
    }
}

fn parse_choices(kind: ParamType, choices: Option<&Value>) -> Result<Vec<Value>, String> {
    let list = match choices {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => {
            return Err(format!(
                "\"choices\" is {}, expected an array",
                json_kind(other)
            ))
        }
    };
    if let Some(bad) = list.iter().find(|c| !(c.is_string() || c.is_number())) {
        return Err(format!(
            "choice {bad} is {}, expected a string or a number",
            json_kind(bad)
        ));
    }
    if kind == ParamType::Choice && list.is_empty() {
        return Err("type \"choice\" needs a non-empty \"choices\" array".into());
    }
    Ok(list)
}

fn parse_default(
    kind: ParamType,
    default: Option<&Value>,
    choices: &[Value],
) -> Result<Option<Value>, String> {
    let value = match default {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    if kind == ParamType::File {
        return Err("a \"file\" parameter cannot have a default".into());
    }
    if !kind.accepts_default(value) {
        return Err(format!("default {value} does not fit its type"));
    }
    if kind == ParamType::Choice && !choices.contains(value) {
        return Err(format!("default {value} is not one of the choices"));
    }
    Ok(Some(value.clone()))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_type_in_declaration_order() {
        let map = ArgsMap::parse(json!({
            "name": {"flag": "--name", "type": "str", "required": true, "help": "Who"},
            "times": {"flag": "--times", "type": "int", "default": 1},
            "ratio": {"flag": "--ratio", "type": "float", "default": 2},
            "loud": {"flag": "--loud", "type": "bool", "action": "store_true"},
            "photo": {"flag": "--photo", "type": "file"},
            "format": {"flag": "--format", "type": "choice", "choices": ["json", "csv"], "default": "csv"},
            "options": {"flag": "--options", "type": "json", "default": {"a": 1}},
            "site": {"flag": "--site", "type": "url", "x-extra": true},
            "plain": {"flag": "-p"}
        }))
        .expect("valid schema");
        let names: Vec<_> = map.specs().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["name", "times", "ratio", "loud", "photo", "format", "options", "site", "plain"]
        );
        let kinds: Vec<_> = map.specs().iter().map(|s| s.kind).collect();
        use ParamType::*;
        assert_eq!(kinds, [Str, Int, Float, Bool, File, Choice, Json, Url, Str]);
        assert!(map.specs()[0].required);
        assert_eq!(map.specs()[0].help.as_deref(), Some("Who"));
        assert!(map.specs()[3].store_true);
        assert_eq!(map.specs()[5].default, Some(json!("csv")));
        assert!(map.has_file_param());
        assert_eq!(
            map.raw()["site"]["x-extra"],
            json!(true),
            "unknown keys are kept"
        );
    }

    #[test]
    fn refuses_bad_schemas_with_a_reason() {
        let cases = [
            (json!([1, 2]), "schema is an array, expected a JSON object"),
            (json!("text"), "schema is a string"),
            (
                json!({"a": "--a"}),
                "entry \"a\": is a string, expected an object",
            ),
            (
                json!({"a": {"type": "int"}}),
                "entry \"a\": has no \"flag\"",
            ),
            (
                json!({"a": {"flag": 3}}),
                "entry \"a\": \"flag\" is a number",
            ),
            (
                json!({"a": {"flag": "a"}}),
                "flag \"a\" must start with \"-\"",
            ),
            (
                json!({"a": {"flag": "--a", "type": "integer"}}),
                "unknown type \"integer\"",
            ),
            (
                json!({"a": {"flag": "--a", "type": "choice"}}),
                "needs a non-empty \"choices\"",
            ),
            (
                json!({"a": {"flag": "--a", "type": "choice", "choices": []}}),
                "needs a non-empty",
            ),
            (
                json!({"a": {"flag": "--a", "type": "choice", "choices": [{}]}}),
                "choice {} is an object",
            ),
            (
                json!({"a": {"flag": "--a", "type": "choice", "choices": ["x"], "default": "y"}}),
                "not one of the choices",
            ),
            (
                json!({"a": {"flag": "--a", "type": "int", "default": "3"}}),
                "default \"3\" does not fit",
            ),
            (
                json!({"a": {"flag": "--a", "type": "int", "default": 1.5}}),
                "default 1.5 does not fit",
            ),
            (
                json!({"a": {"flag": "--a", "type": "bool", "default": 1}}),
                "default 1 does not fit",
            ),
            (
                json!({"a": {"flag": "--a", "type": "file", "default": "/etc/passwd"}}),
                "cannot have a default",
            ),
            (
                json!({"a": {"flag": "--a", "required": "yes"}}),
                "\"required\" is a string",
            ),
            (
                json!({"a": {"flag": "--a", "type": "str", "action": "store_true"}}),
                "only allowed on a bool",
            ),
            (
                json!({"a": {"flag": "--x"}, "b": {"flag": "--x"}}),
                "entries \"a\" and \"b\" both use the flag \"--x\"",
            ),
        ];
        for (schema, expected) in cases {
            let err = ArgsMap::parse(schema.clone())
                .expect_err(&schema.to_string())
                .to_string();
            assert!(
                err.contains(expected),
                "{schema}: got {err:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn an_empty_object_is_a_script_without_parameters() {
        let map = ArgsMap::parse(json!({})).unwrap();
        assert!(map.specs().is_empty());
        assert_eq!(map.to_value(), json!({}));
    }
}
