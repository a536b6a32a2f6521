//! Ready-to-paste curl commands for one script, from its ARGS_MAP (the original gateway's
//! `GET /api/scripts/{id}/curl`, with the same field names).

use serde_json::Value;

use crate::domain::{ArgsMap, ParamType};

use super::script_paths::{example_params, run_path};

/// What a client pastes into a shell to run the script.
#[derive(Debug)]
pub struct CurlCommands {
    /// The run URL the commands call.
    pub url: String,
    /// `GET` with the parameters in the query string; `null` when the script takes files.
    pub get: Option<String>,
    /// `POST` with a JSON body.
    pub post_json: String,
    /// `POST` as multipart, files by parameter name; `null` when the script takes no files.
    pub post_multipart: Option<String>,
    /// The header the commands send when the gateway has an API key (put yours in), else `null`.
    pub auth_header: Option<String>,
}

/// The placeholder the commands carry instead of the real key.
pub const KEY_PLACEHOLDER: &str = "YOUR_API_KEY";

/// Commands against `base_url` (scheme and host, no trailing slash), with example values:
/// the defaults, and a placeholder for each required parameter without one.
pub fn curl_commands(base_url: &str, script_path: &str, map: &ArgsMap, auth: bool) -> CurlCommands {
    let url = format!(
        "{}{}",
        base_url.trim_end_matches('/'),
        run_path(script_path)
    );
    let auth_header = auth.then(|| format!("X-API-Key: {KEY_PLACEHOLDER}"));
    let header = auth_header
        .as_ref()
        .map(|h| format!(" -H {}", quote(h)))
        .unwrap_or_default();
    let example = example_params(map);
    let get = (!map.has_file_param()).then(|| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &example {
            query.append_pair(name, &as_text(value));
        }
        let query = query.finish();
        let full = if query.is_empty() {
            url.clone()
        } else {
            format!("{url}?{query}")
        };
        format!("curl{header} {}", quote(&full))
    });
    let body = Value::Object(example.clone()).to_string();
    let post_json = format!(
        "curl -X POST{header} -H 'Content-Type: application/json' {} -d {}",
        quote(&url),
        quote(&body)
    );
    let post_multipart = map.has_file_param().then(|| {
        let mut fields: Vec<String> = example
            .iter()
            .map(|(name, value)| {
                format!(
                    "--form-string {}",
                    quote(&format!("{name}={}", as_text(value)))
                )
            })
            .collect();
        fields.extend(
            map.specs()
                .iter()
                .filter(|s| s.kind == ParamType::File)
                .map(|s| format!("-F {}", quote(&format!("{}=@/path/to/{}", s.name, s.name)))),
        );
        format!("curl -X POST{header} {} {}", quote(&url), fields.join(" "))
    });
    CurlCommands {
        url,
        get,
        post_json,
        post_multipart,
        auth_header,
    }
}

/// A value as a query or form field carries it: strings as they are, the rest as JSON text.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Single-quotes for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(schema: Value) -> ArgsMap {
        ArgsMap::parse(schema).expect("a valid ARGS_MAP")
    }

    #[test]
    fn without_files_there_is_a_get_and_a_json_post() {
        let greet = map(json!({
            "name": {"flag": "--name", "required": true},
            "times": {"flag": "--times", "type": "int", "default": 2},
            "note": {"flag": "--note"}
        }));
        let commands = curl_commands("http://127.0.0.1:8001/", "python/greet.py", &greet, false);
        assert_eq!(
            commands.url,
            "http://127.0.0.1:8001/api/run/python/greet.py"
        );
        assert_eq!(
            commands.get.as_deref(),
            Some("curl 'http://127.0.0.1:8001/api/run/python/greet.py?name=text&times=2'")
        );
        assert_eq!(
            commands.post_json,
            "curl -X POST -H 'Content-Type: application/json' \
             'http://127.0.0.1:8001/api/run/python/greet.py' -d '{\"name\":\"text\",\"times\":2}'"
        );
        assert_eq!(commands.post_multipart, None);
        assert_eq!(commands.auth_header, None);
    }

    #[test]
    fn files_go_multipart_and_the_key_is_a_placeholder() {
        let upload = map(json!({
            "photo": {"flag": "--photo", "type": "file", "required": true},
            "caption": {"flag": "--caption", "default": "it's me"}
        }));
        let commands = curl_commands("http://h", "python/up load.py", &upload, true);
        assert_eq!(commands.get, None, "a script with files has no GET");
        assert_eq!(
            commands.post_multipart.as_deref(),
            Some(
                "curl -X POST -H 'X-API-Key: YOUR_API_KEY' 'http://h/api/run/python/up%20load.py' \
                 --form-string 'caption=it'\\''s me' -F 'photo=@/path/to/photo'"
            )
        );
        assert!(commands.post_json.contains("-H 'X-API-Key: YOUR_API_KEY'"));
    }
}
