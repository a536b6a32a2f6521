//! Turns what a caller sent into the argv a script gets, validated against its ARGS_MAP.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::args_map::{ArgSpec, ArgsMap, ParamType};

/// One value as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// From a query string or a multipart text field.
    Text(String),
    /// From a JSON body (or a multipart `payload` field).
    Json(Value),
    /// An uploaded file, already stored on disk.
    Upload {
        file_name: String,
        path: PathBuf,
        size: u64,
    },
}

/// Why one parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamProblem {
    pub param: String,
    pub message: String,
}

/// Validated parameters, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    /// `FLAG VALUE` pairs in ARGS_MAP order (a store_true flag stands alone).
    pub argv: Vec<OsString>,
    /// The values as recorded in the run history (uploads by name, never their path).
    pub recorded: Map<String, Value>,
    /// Names the script does not declare; they were not passed.
    pub ignored: Vec<String>,
    /// Positions in `argv` that hold an uploaded file's path.
    file_positions: Vec<usize>,
}

impl RunArgs {
    /// Arguments built elsewhere than from a schema (an ad-hoc run's), with the positions
    /// in `argv` that hold uploaded files' paths.
    pub fn new(
        argv: Vec<OsString>,
        recorded: Map<String, Value>,
        file_positions: Vec<usize>,
    ) -> RunArgs {
        RunArgs {
            argv,
            recorded,
            ignored: Vec::new(),
            file_positions,
        }
    }

    /// Points upload arguments at their new home after the upload folder moved from `from` to `to`.
    pub fn relocate_uploads(&mut self, from: &Path, to: &Path) {
        for &position in &self.file_positions {
            let current = Path::new(&self.argv[position]);
            if let Ok(rest) = current.strip_prefix(from) {
                self.argv[position] = to.join(rest).into_os_string();
            }
        }
    }
}

/// Validates and coerces every parameter; all problems are reported at once.
pub fn bind(
    map: &ArgsMap,
    mut input: BTreeMap<String, RawValue>,
) -> Result<RunArgs, Vec<ParamProblem>> {
    let mut argv = Vec::new();
    let mut recorded = Map::new();
    let mut problems = Vec::new();
    let mut file_positions = Vec::new();
    for spec in map.specs() {
        let given = input.remove(&spec.name).filter(|raw| !is_absent(spec, raw));
        let value = match given {
            Some(raw) => coerce(spec, raw),
            None if spec.required => Err("is required".to_string()),
            None => match &spec.default {
                Some(default) => coerce(spec, RawValue::Json(default.clone())),
                None => continue,
            },
        };
        let value = value.and_then(fits_in_an_argument);
        match value {
            Ok(bound) => {
                if matches!(bound, Bound::File { .. }) {
                    file_positions.push(argv.len() + 1);
                }
                push_argv(spec, &bound, &mut argv);
                recorded.insert(spec.name.clone(), bound.recorded());
            }
            Err(message) => problems.push(ParamProblem {
                param: spec.name.clone(),
                message,
            }),
        }
    }
    if problems.is_empty() {
        problems.extend(too_many_argument_bytes(map, &argv));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(RunArgs {
        argv,
        recorded,
        ignored: input.into_keys().collect(),
        file_positions,
    })
}

/// Linux refuses to start a program with one argument of 128 KiB or more.
const MAX_ARGUMENT_BYTES: usize = 128 * 1024 - 1;
/// All arguments together, leaving room for the environment within ARG_MAX (2 MiB here).
const MAX_ARGV_BYTES: usize = 1024 * 1024;

fn fits_in_an_argument(bound: Bound) -> Result<Bound, String> {
    // JSON values are passed as serialised text, which escapes NUL; text is passed as is,
    // and no argv entry can hold a NUL byte (the spawn itself would fail).
    if matches!(&bound, Bound::Text(text) if text.contains('\0')) {
        return Err("contains a NUL byte, which a command-line argument cannot hold".into());
    }
    let length = match &bound {
        Bound::Text(text) => text.len(),
        Bound::Json(value) => value.to_string().len(),
        _ => 0,
    };
    if length > MAX_ARGUMENT_BYTES {
        return Err(format!(
            "is {length} bytes, more than one command-line argument can hold ({MAX_ARGUMENT_BYTES}); send large input as a file"
        ));
    }
    Ok(bound)
}

fn too_many_argument_bytes(map: &ArgsMap, argv: &[OsString]) -> Option<ParamProblem> {
    let total: usize = argv.iter().map(|a| a.len() + 1).sum();
    if total <= MAX_ARGV_BYTES {
        return None;
    }
    let largest = map.specs().iter().max_by_key(|spec| {
        let at = argv
            .iter()
            .position(|a| a.to_str() == Some(spec.flag.as_str()));
        at.and_then(|i| argv.get(i + 1)).map_or(0, |v| v.len())
    })?;
    Some(ParamProblem {
        param: largest.name.clone(),
        message: format!("the parameters add up to {total} bytes, more than the {MAX_ARGV_BYTES} that can be passed as arguments; send large input as a file"),
    })
}

/// Null, and an empty text field for anything but a string, count as not given
/// (HTML forms and workflow tools send empty fields for blanks).
fn is_absent(spec: &ArgSpec, raw: &RawValue) -> bool {
    match raw {
        RawValue::Json(Value::Null) => true,
        RawValue::Text(text) => text.is_empty() && spec.kind != ParamType::Str,
        _ => false,
    }
}

/// A coerced value.
#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Json(Value),
    File {
        file_name: String,
        path: PathBuf,
        size: u64,
    },
}

impl Bound {
    fn recorded(&self) -> Value {
        match self {
            Bound::Text(text) => Value::String(text.clone()),
            Bound::Int(n) => Value::from(*n),
            Bound::Float(x) => Value::from(*x),
            Bound::Bool(b) => Value::Bool(*b),
            Bound::Json(value) => value.clone(),
            Bound::File {
                file_name, size, ..
            } => serde_json::json!({"file": file_name, "size": size}),
        }
    }
}

fn push_argv(spec: &ArgSpec, bound: &Bound, argv: &mut Vec<OsString>) {
    let value: OsString = match bound {
        Bound::Bool(true) if spec.store_true => return argv.push(spec.flag.clone().into()),
        Bound::Bool(false) if spec.store_true => return,
        Bound::Bool(b) => if *b { "1" } else { "0" }.into(),
        Bound::Text(text) => text.into(),
        Bound::Int(n) => n.to_string().into(),
        Bound::Float(x) => x.to_string().into(),
        Bound::Json(value) => value.to_string().into(),
        Bound::File { path, .. } => path.clone().into_os_string(),
    };
    argv.push(spec.flag.clone().into());
    argv.push(value);
}

fn coerce(spec: &ArgSpec, raw: RawValue) -> Result<Bound, String> {
    if let RawValue::Upload {
        file_name,
        path,
        size,
    } = raw
    {
        return match spec.kind {
            ParamType::File => Ok(Bound::File {
                file_name,
                path,
                size,
            }),
            _ => Err("got an uploaded file, but this parameter is not a file".into()),
        };
    }
    match spec.kind {
        ParamType::Str => coerce_str(raw).map(Bound::Text),
        ParamType::Int => coerce_int(raw).map(Bound::Int),
        ParamType::Float => coerce_float(raw).map(Bound::Float),
        ParamType::Bool => coerce_bool(raw).map(Bound::Bool),
        ParamType::Choice => coerce_choice(spec, raw).map(Bound::Text),
        ParamType::Json => coerce_json(raw).map(Bound::Json),
        ParamType::Url => coerce_url(raw).map(Bound::Text),
        ParamType::File => Err(
            "must be uploaded as a file (multipart/form-data); a path or text is not accepted"
                .into(),
        ),
    }
}

fn coerce_str(raw: RawValue) -> Result<String, String> {
    match raw {
        RawValue::Text(text) | RawValue::Json(Value::String(text)) => Ok(text),
        RawValue::Json(value @ (Value::Number(_) | Value::Bool(_))) => Ok(value.to_string()),
        RawValue::Json(other) => Err(format!("expected a string, got {}", kind(&other))),
        RawValue::Upload { .. } => unreachable!("uploads are handled first"),
    }
}

fn coerce_int(raw: RawValue) -> Result<i64, String> {
    let bad = |shown: &str| format!("expected an integer, got {shown}");
    match raw {
        RawValue::Text(text) | RawValue::Json(Value::String(text)) => text
            .trim()
            .parse::<i64>()
            .map_err(|_| bad(&format!("{text:?}"))),
        RawValue::Json(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .map(|x| x as i64)
            })
            .ok_or_else(|| bad(&n.to_string())),
        RawValue::Json(other) => Err(bad(kind(&other))),
        RawValue::Upload { .. } => unreachable!("uploads are handled first"),
    }
}

fn coerce_float(raw: RawValue) -> Result<f64, String> {
    let bad = |shown: &str| format!("expected a number, got {shown}");
    let number = match raw {
        RawValue::Text(text) | RawValue::Json(Value::String(text)) => text
            .trim()
            .parse::<f64>()
            .map_err(|_| bad(&format!("{text:?}")))?,
        RawValue::Json(Value::Number(n)) => n.as_f64().ok_or_else(|| bad(&n.to_string()))?,
        RawValue::Json(other) => return Err(bad(kind(&other))),
        RawValue::Upload { .. } => unreachable!("uploads are handled first"),
    };
    if number.is_finite() {
        Ok(number)
    } else {
        Err(bad(&number.to_string()))
    }
}

fn coerce_bool(raw: RawValue) -> Result<bool, String> {
    let bad =
        |shown: &str| format!("expected a boolean (true/false, 1/0, yes/no, on/off), got {shown}");
    match raw {
        RawValue::Json(Value::Bool(b)) => Ok(b),
        RawValue::Json(Value::Number(n)) => match n.as_i64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(bad(&n.to_string())),
        },
        RawValue::Text(text) | RawValue::Json(Value::String(text)) => {
            match text.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(bad(&format!("{text:?}"))),
            }
        }
        RawValue::Json(other) => Err(bad(kind(&other))),
        RawValue::Upload { .. } => unreachable!("uploads are handled first"),
    }
}

fn coerce_choice(spec: &ArgSpec, raw: RawValue) -> Result<String, String> {
    let given = match raw {
        RawValue::Text(text) | RawValue::Json(Value::String(text)) => text,
        RawValue::Json(value @ Value::Number(_)) => value.to_string(),
        RawValue::Json(other) => {
            return Err(format!("expected one of the choices, got {}", kind(&other)))
        }
        RawValue::Upload { .. } => unreachable!("uploads are handled first"),
    };
    let as_text = |choice: &Value| match choice {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if spec.choices.iter().any(|c| as_text(c) == given) {
        return Ok(given);
    }
    let allowed: Vec<String> = spec.choices.iter().map(|c| c.to_string()).collect();
    Err(format!("{given:?} is not one of {}", allowed.join(", ")))
}

fn coerce_json(raw: RawValue) -> Result<Value, String> {
    match raw {
        RawValue::Text(text) => {
            serde_json::from_str(&text).map_err(|e| format!("is not valid JSON: {e}"))
        }
        // A JSON string holding an object or array is the common way workflow tools send JSON.
        RawValue::Json(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(value @ (Value::Object(_) | Value::Array(_))) => Ok(value),
            _ => Ok(Value::String(text)),
        },
        RawValue::Json(value) => Ok(value),
        RawValue::Upload { .. } => unreachable!("uploads are handled first"),
    }
}

fn coerce_url(raw: RawValue) -> Result<String, String> {
    let text = coerce_str(raw)?;
    let parsed = url::Url::parse(text.trim()).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} is not an http(s) URL"));
    }
    Ok(text.trim().to_string())
}

fn kind(value: &Value) -> &'static str {
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
mod tests;
