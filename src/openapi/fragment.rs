//! One script's fragment of the document: a standalone OpenAPI document holding only its
//! path and what that path references.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// A standalone document with `path` from `document`, the components it references (followed
/// transitively), the security schemes and the tags it uses; `None` when there is no such path.
pub fn fragment(document: &Value, path: &str, title: &str) -> Option<Value> {
    let item = document["paths"].get(path)?.clone();
    let components = referenced_components(document, &item);
    let used_tags = tags_of(&item);
    let tags: Vec<Value> = document["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"].as_str().is_some_and(|n| used_tags.contains(n)))
        .cloned()
        .collect();
    let mut info = document["info"].clone();
    info["title"] = json!(title);
    Some(json!({
        "openapi": document["openapi"],
        "info": info,
        "paths": {path: item},
        "components": components,
        "tags": tags,
    }))
}

/// `#/components/KIND/NAME` for every `$ref` under `value`, followed through the components.
fn referenced_components(document: &Value, item: &Value) -> Value {
    let mut seen = BTreeSet::new();
    let mut pending = refs_in(item);
    while let Some(reference) = pending.pop() {
        if !seen.insert(reference.clone()) {
            continue;
        }
        if let Some(target) = resolve(document, &reference) {
            pending.extend(refs_in(target));
        }
    }
    let mut components = Map::new();
    for (kind, name) in seen.iter().filter_map(|r| split_ref(r)) {
        if let Some(target) = document["components"][kind].get(name) {
            let section = components
                .entry(kind.to_string())
                .or_insert_with(|| json!({}));
            section[name] = target.clone();
        }
    }
    if let Some(schemes) = document["components"].get("securitySchemes") {
        components.insert("securitySchemes".into(), schemes.clone());
    }
    Value::Object(components)
}

fn refs_in(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_refs(value, &mut found);
    found
}

fn collect_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                found.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, found)),
        _ => {}
    }
}

fn split_ref(reference: &str) -> Option<(&str, &str)> {
    reference.strip_prefix("#/components/")?.split_once('/')
}

fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    let (kind, name) = split_ref(reference)?;
    document["components"][kind].get(name)
}

fn tags_of(item: &Value) -> BTreeSet<String> {
    item.as_object()
        .into_iter()
        .flat_map(|operations| operations.values())
        .flat_map(|operation| operation["tags"].as_array().cloned().unwrap_or_default())
        .filter_map(|tag| tag.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_path_and_follows_its_references() {
        let document = json!({
            "openapi": "3.1.0",
            "info": {"title": "all", "version": "1"},
            "paths": {
                "/a": {"post": {"tags": ["t"], "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
                "/b": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Unused"}}}}}}}
            },
            "components": {
                "schemas": {
                    "A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}},
                    "B": {"type": "string"},
                    "Unused": {"type": "integer"}
                },
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
            },
            "tags": [{"name": "t"}, {"name": "other"}]
        });
        let part = fragment(&document, "/a", "one").expect("the path exists");
        assert_eq!(part["info"]["title"], "one");
        assert_eq!(part["paths"].as_object().unwrap().len(), 1);
        let schemas: Vec<_> = part["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(schemas, ["A", "B"], "A and what A references, not Unused");
        assert_eq!(
            part["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(part["tags"], json!([{"name": "t"}]));
        assert!(fragment(&document, "/missing", "x").is_none());
    }
}
