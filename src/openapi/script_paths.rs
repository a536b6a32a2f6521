//! One typed operation pair per loaded script, on its concrete `/api/run/PATH` address (so
//! "Try it out" needs no id), built from its ARGS_MAP and named after the script's path
//! (`run_python_hello`), so a client generated from the document keeps its names and URLs
//! across rescans, restarts and machines. The responses and the gateway's options are taken
//! from the generic `/api/scripts/{id}/run` operations, so they cannot drift.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::Type;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Required};

use crate::catalog::{LoadStatus, Script};
use crate::domain::{ArgSpec, ArgsMap, ParamType};

const GENERIC_RUN: &str = "/api/scripts/{id}/run";

/// A script's tag: its folder, `/` written ` › ` (Swagger UI's deep links break on a `/` in
/// a tag), e.g. `python` or `python › tools`.
pub fn script_tag(script: &Script) -> String {
    match script.path.rsplit_once('/') {
        Some((folder, _)) => folder.replace('/', " › "),
        None => script.runtime.folder().to_string(),
    }
}

/// The ARGS_MAP of a script that can run; `None` for one whose schema did not load.
pub fn loaded_args_map(script: &Script) -> Option<ArgsMap> {
    if script.load_status != LoadStatus::Ok {
        return None;
    }
    ArgsMap::parse(script.args_schema.clone()?).ok()
}

/// Adds each loaded script's path and a tag per folder.
pub fn add_scripts(doc: &mut OpenApi, scripts: &[Script]) {
    let generic = doc
        .paths
        .paths
        .get(GENERIC_RUN)
        .cloned()
        .unwrap_or_default();
    let mut tags = BTreeSet::new();
    let loaded: Vec<(&Script, ArgsMap)> = scripts
        .iter()
        .filter_map(|script| Some((script, loaded_args_map(script)?)))
        .collect();
    let names = operation_names(loaded.iter().map(|(script, _)| script.path.as_str()));
    for (script, map) in &loaded {
        let tag = script_tag(script);
        let item = path_item(script, map, &generic, &tag, &names[&script.path]);
        doc.paths.paths.insert(run_path(&script.path), item);
        tags.insert(tag);
    }
    // The scripts come first: calling them is what most readers are here for.
    let listed = doc.tags.get_or_insert_with(Vec::new);
    let gateway = std::mem::take(listed);
    listed.extend(tags.into_iter().map(|tag| {
        TagBuilder::new()
            .description(Some(format!(
                "The scripts in `{}/`",
                tag.replace(" › ", "/")
            )))
            .name(tag)
            .build()
    }));
    listed.extend(gateway);
}

fn path_item(
    script: &Script,
    map: &ArgsMap,
    generic: &PathItem,
    tag: &str,
    name: &str,
) -> PathItem {
    let mut item = PathItem::default();
    if !map.has_file_param() {
        let mut get = operation(script, map, generic.get.as_ref(), tag, "get");
        get.operation_id = Some(format!("{name}_get"));
        let mut parameters: Vec<RefOr<Parameter>> = map
            .specs()
            .iter()
            .map(|s| RefOr::T(query_param(s)))
            .collect();
        parameters.extend(get.parameters.take().into_iter().flatten());
        get.parameters = Some(parameters);
        item.get = Some(get);
    }
    let mut post = operation(script, map, generic.post.as_ref(), tag, "post");
    post.operation_id = Some(name.to_string());
    post.request_body = Some(RefOr::T(request_body(map)));
    item.post = Some(post);
    item
}

/// The operation's identity and description; responses and gateway options from `template`.
fn operation(
    script: &Script,
    map: &ArgsMap,
    template: Option<&Operation>,
    tag: &str,
    method: &str,
) -> Operation {
    let mut operation = template.cloned().unwrap_or_default();
    operation.tags = Some(vec![tag.to_string()]);
    operation.summary = Some(summary(script));
    operation.description = Some(description(script, map, method));
    operation.request_body = None;
    operation.parameters = Some(gateway_options(operation.parameters.take(), map));
    // The template speaks of ids; on a script's own address a 404 means it went away.
    if let Some(RefOr::T(gone)) = operation.responses.responses.get_mut("404") {
        gone.description =
            "The script is no longer there (removed since this document was built)".into();
    }
    examples::add_examples(&mut operation, script.id);
    operation
}

/// The template's query options (`async`, `wait`, `timeout`); a name the script declares
/// itself goes to the script, so the option is written with a leading underscore.
fn gateway_options(
    template: Option<Vec<RefOr<Parameter>>>,
    map: &ArgsMap,
) -> Vec<RefOr<Parameter>> {
    let declared = |name: &str| map.specs().iter().any(|s| s.name == name);
    template
        .into_iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) if p.parameter_in == ParameterIn::Query && p.name != "params" => Some(p),
            _ => None,
        })
        .map(|mut p| {
            if declared(&p.name) {
                p.name = format!("_{}", p.name);
            }
            RefOr::T(p)
        })
        .collect()
}

fn summary(script: &Script) -> String {
    let described = script
        .description
        .as_deref()
        .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()));
    script
        .alias
        .as_deref()
        .filter(|a| !a.trim().is_empty())
        .or(described)
        .unwrap_or(&script.name)
        .to_string()
}

fn description(script: &Script, map: &ArgsMap, method: &str) -> String {
    let mut text = format!("Runs `{}` ({}).", script.path, script.runtime.as_str());
    if let Some(description) = script
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        text.push_str("\n\n");
        text.push_str(description.trim());
    }
    text.push_str(match method {
        "get" => "\n\nParameters in the query string, typed from the script's ARGS_MAP.",
        _ if map
            .specs()
            .iter()
            .any(|s| s.required && s.kind == ParamType::File) =>
        {
            "\n\nParameters as multipart fields, the files by parameter name."
        }
        _ if map.has_file_param() => {
            "\n\nParameters as JSON, or as multipart fields with the files by parameter name."
        }
        _ => "\n\nParameters as a JSON object, typed from the script's ARGS_MAP.",
    });
    text.push_str(
        " A run that fails still answers 200, with `status: \"error\"` and `error.code`.",
    );
    if !script.enabled {
        text.push_str("\n\n**Disabled**: runs answer 409 until it is enabled again.");
    }
    text
}

fn query_param(spec: &ArgSpec) -> Parameter {
    let builder = ParameterBuilder::new()
        .name(&spec.name)
        .parameter_in(ParameterIn::Query)
        .required(required(spec.required))
        .description(spec.help.clone());
    if spec.kind == ParamType::Json {
        // JSON text in the query: the `content` form says so, and Swagger UI offers a text area.
        let content = ContentBuilder::new()
            .schema(Some(param_schema(spec)))
            .build();
        builder.content("application/json", content).build()
    } else {
        builder.schema(Some(param_schema(spec))).build()
    }
}

fn required(yes: bool) -> Required {
    if yes {
        Required::True
    } else {
        Required::False
    }
}

/// JSON (without the files, which cannot be sent as JSON; so none when a file is required),
/// and multipart too when there are files.
fn request_body(map: &ArgsMap) -> utoipa::openapi::request_body::RequestBody {
    let file_required = map
        .specs()
        .iter()
        .any(|s| s.required && s.kind == ParamType::File);
    let mut body = RequestBodyBuilder::new()
        .description(Some("The script's parameters, by name"))
        .required(Some(required(map.specs().iter().any(|s| s.required))));
    if !file_required {
        let json = ContentBuilder::new()
            .schema(Some(object_schema(map, Encoding::Json)))
            .example(Some(Value::Object(example_params(map))))
            .build();
        body = body.content("application/json", json);
    }
    if map.has_file_param() {
        let multipart = ContentBuilder::new()
            .schema(Some(object_schema(map, Encoding::Multipart)))
            .build();
        body = body.content("multipart/form-data", multipart);
    }
    body.build()
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Json,
    Multipart,
}

fn object_schema(map: &ArgsMap, encoding: Encoding) -> Schema {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for spec in map.specs() {
        if spec.kind == ParamType::File && encoding == Encoding::Json {
            continue;
        }
        let schema = match (spec.kind, encoding) {
            // A multipart field is text: a JSON parameter is sent as JSON text.
            (ParamType::Json, Encoding::Multipart) => ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/json")
                .description(spec.help.clone())
                .build()
                .into(),
            _ => with_description(param_schema(spec), spec.help.clone()),
        };
        object = object.property(&spec.name, schema);
        if spec.required {
            object = object.required(&spec.name);
        }
    }
    object.into()
}

fn with_description(schema: Schema, description: Option<String>) -> Schema {
    match schema {
        Schema::Object(mut object) => {
            object.description = description;
            Schema::Object(object)
        }
        other => other,
    }
}

/// A parameter's schema: int → integer, float → number, bool → boolean, choice → enum,
/// json → any value, url → string/uri, file → string/binary; with its default.
pub fn param_schema(spec: &ArgSpec) -> Schema {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let builder = match spec.kind {
        ParamType::Str => string(),
        ParamType::Int => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
        ParamType::Float => ObjectBuilder::new()
            .schema_type(Type::Number)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double))),
        ParamType::Bool => ObjectBuilder::new().schema_type(Type::Boolean),
        ParamType::Choice => ObjectBuilder::new()
            .schema_type(choice_type(&spec.choices))
            .enum_values(Some(spec.choices.clone())),
        ParamType::Json => ObjectBuilder::new().schema_type(SchemaType::AnyValue),
        ParamType::Url => string()
            .format(Some(SchemaFormat::Custom("uri".into())))
            .pattern(Some("^https?://")),
        ParamType::File => string()
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type("application/octet-stream"),
    };
    builder.default(spec.default.clone()).into()
}

fn choice_type(choices: &[Value]) -> SchemaType {
    if choices.iter().all(Value::is_string) {
        Type::String.into()
    } else if choices.iter().all(|c| c.is_i64() || c.is_u64()) {
        Type::Integer.into()
    } else if choices.iter().all(Value::is_number) {
        Type::Number.into()
    } else {
        SchemaType::from_iter([Type::String, Type::Number])
    }
}

/// An example request: every default, and a placeholder for each required parameter
/// without one. File parameters are left out (they are uploads).
pub fn example_params(map: &ArgsMap) -> Map<String, Value> {
    map.specs()
        .iter()
        .filter(|s| s.kind != ParamType::File)
        .filter_map(|s| example_value(s).map(|v| (s.name.clone(), v)))
        .collect()
}

fn example_value(spec: &ArgSpec) -> Option<Value> {
    if let Some(default) = &spec.default {
        return Some(default.clone());
    }
    if !spec.required {
        return None;
    }
    Some(match spec.kind {
        ParamType::Str => json!("text"),
        ParamType::Int => json!(1),
        ParamType::Float => json!(1.5),
        ParamType::Bool => json!(true),
        ParamType::Choice => spec.choices.first().cloned().unwrap_or(Value::Null),
        ParamType::Json => json!({}),
        ParamType::Url => json!("https://example.com"),
        ParamType::File => return None,
    })
}

mod examples;
mod names;
#[cfg(test)]
mod tests;

pub use names::{operation_names, run_path};
