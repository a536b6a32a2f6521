//! What a caller asked for, as a pure parse: the script's parameters and the gateway's own
//! options (`timeout`, `async`, `wait`, or `_timeout`, … when the script declares the name).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ArgsMap, RawValue};

/// An option value that is not what its name needs; the message says why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOption(pub String);

/// Gateway options a request can carry in its query string. When the script declares a
/// parameter of the same name, the query value goes to the script and the option must be
/// written with a leading underscore (`_timeout`).
pub const OPTION_NAMES: [&str; 3] = ["timeout", "async", "wait"];
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// What a caller sent, still as text.
#[derive(Debug, Default)]
pub struct RunRequest {
    pub params: BTreeMap<String, RawValue>,
    /// (option name without a leading `_`, value, whether it was written with `_`).
    pub options: Vec<(String, String, bool)>,
    /// Parameters came from the query string, so a plain option name may be a parameter.
    pub params_in_query: bool,
    /// `Prefer: respond-async` was sent.
    pub prefer_async: bool,
}

impl RunRequest {
    /// Sorts query pairs into options and (when `params_in_query`) parameters.
    pub fn from_query_pairs(pairs: Vec<(String, String)>, params_in_query: bool) -> RunRequest {
        let mut request = RunRequest {
            params_in_query,
            ..RunRequest::default()
        };
        for (key, value) in pairs {
            let (bare, underscored) = match key.strip_prefix('_') {
                Some(bare) => (bare.to_string(), true),
                None => (key.clone(), false),
            };
            if OPTION_NAMES.contains(&bare.as_str()) {
                request.options.push((bare, value, underscored));
            } else if params_in_query {
                request.params.insert(key, RawValue::Text(value));
            }
        }
        request
    }
}

/// How the caller wants the run handled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunOptions {
    /// Shortens this run's timeout; never lengthens it.
    pub timeout: Option<Duration>,
    /// Answer at once with the run id.
    pub respond_async: bool,
    /// Answer with the result if the run ends within this time, else with the run id.
    pub wait: Option<Duration>,
}

/// Takes the options out of `request`, moving plain names the script declares into its parameters.
pub fn parse_options(
    schema: &ArgsMap,
    request: &mut RunRequest,
) -> Result<RunOptions, InvalidOption> {
    let mut options = RunOptions {
        respond_async: request.prefer_async,
        ..RunOptions::default()
    };
    let declared = |name: &str| schema.specs().iter().any(|s| s.name == name);
    for (name, value, underscored) in std::mem::take(&mut request.options) {
        if request.params_in_query && !underscored && declared(&name) {
            request.params.entry(name).or_insert(RawValue::Text(value));
            continue;
        }
        match name.as_str() {
            "timeout" => {
                options.timeout = Some(seconds(&name, &value)?.min(Duration::from_secs(86_400)))
            }
            "wait" => options.wait = Some(seconds(&name, &value)?.min(MAX_WAIT)),
            "async" => options.respond_async |= flag(&name, &value)?,
            _ => {}
        }
    }
    Ok(options)
}

fn seconds(name: &str, value: &str) -> Result<Duration, InvalidOption> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        // Past a day, every option is capped anyway (and 1.9e19 s overflows a `Duration`).
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .ok_or_else(|| {
            InvalidOption(format!(
                "{name} must be a positive number of seconds, not {value:?}"
            ))
        })
}

fn flag(name: &str, value: &str) -> Result<bool, InvalidOption> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(InvalidOption(format!(
            "{name} must be true or false, not {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_parsed() {
        let plain = ArgsMap::parse(json!({"n": {"flag": "--n"}})).unwrap();
        let mut request = RunRequest::from_query_pairs(
            pairs(&[("n", "1"), ("timeout", "2.5"), ("async", ""), ("wait", "3")]),
            true,
        );
        let options = parse_options(&plain, &mut request).unwrap();
        assert_eq!(
            options,
            RunOptions {
                timeout: Some(Duration::from_millis(2500)),
                respond_async: true,
                wait: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(request.params.keys().collect::<Vec<_>>(), ["n"]);
    }

    #[test]
    fn a_declared_name_goes_to_the_script_and_the_underscore_form_to_the_gateway() {
        let declares =
            ArgsMap::parse(json!({"timeout": {"flag": "--timeout", "type": "int"}})).unwrap();
        let mut request =
            RunRequest::from_query_pairs(pairs(&[("timeout", "30"), ("_timeout", "1")]), true);
        let options = parse_options(&declares, &mut request).unwrap();
        assert_eq!(options.timeout, Some(Duration::from_secs(1)));
        assert_eq!(
            request.params.get("timeout"),
            Some(&RawValue::Text("30".into()))
        );
    }

    #[test]
    fn in_a_post_the_query_holds_only_options() {
        let declares = ArgsMap::parse(json!({"timeout": {"flag": "--timeout"}})).unwrap();
        let mut request =
            RunRequest::from_query_pairs(pairs(&[("timeout", "3"), ("other", "x")]), false);
        assert!(request.params.is_empty());
        assert_eq!(
            parse_options(&declares, &mut request).unwrap().timeout,
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn option_values_are_read_as_the_table_says() {
        let plain = ArgsMap::parse(json!({})).unwrap();
        let secs = |s: u64| Some(Duration::from_secs(s));
        type Case<'a> = (&'a [(&'a str, &'a str)], RunOptions, &'a str);
        let cases: [Case; 7] = [
            (&[], RunOptions::default(), "no options, no changes"),
            (
                &[("async", "")],
                RunOptions {
                    respond_async: true,
                    ..RunOptions::default()
                },
                "a bare flag is true",
            ),
            (
                &[("_async", "off")],
                RunOptions::default(),
                "off is false, underscore or not",
            ),
            (
                &[("async", "YES")],
                RunOptions {
                    respond_async: true,
                    ..RunOptions::default()
                },
                "flags ignore case",
            ),
            (
                &[("wait", " 2 ")],
                RunOptions {
                    wait: secs(2),
                    ..RunOptions::default()
                },
                "numbers are trimmed",
            ),
            (
                &[("_timeout", "5")],
                RunOptions {
                    timeout: secs(5),
                    ..RunOptions::default()
                },
                "the underscore form is the option",
            ),
            (
                &[("other", "1")],
                RunOptions::default(),
                "unknown names are not options",
            ),
        ];
        for (given, expected, why) in cases {
            let mut request = RunRequest::from_query_pairs(pairs(given), true);
            assert_eq!(parse_options(&plain, &mut request), Ok(expected), "{why}");
        }
    }

    #[test]
    fn bad_option_values_are_refused() {
        let plain = ArgsMap::parse(json!({})).unwrap();
        for (name, bad) in [
            ("timeout", "0"),
            ("timeout", "-1"),
            ("timeout", "soon"),
            ("wait", "NaN"),
            ("async", "maybe"),
        ] {
            let mut request = RunRequest::from_query_pairs(pairs(&[(name, bad)]), true);
            assert!(
                matches!(parse_options(&plain, &mut request), Err(InvalidOption(_))),
                "{name}={bad}"
            );
        }
    }

    #[test]
    fn huge_values_are_capped_not_a_crash() {
        let plain = ArgsMap::parse(json!({})).unwrap();
        let mut request = RunRequest::from_query_pairs(
            pairs(&[("timeout", "1.8446744073709552e19"), ("wait", "1e308")]),
            true,
        );
        let options = parse_options(&plain, &mut request).unwrap();
        assert_eq!(options.timeout, Some(Duration::from_secs(86_400)));
        assert_eq!(options.wait, Some(MAX_WAIT));
    }

    #[test]
    fn prefer_respond_async_counts() {
        let plain = ArgsMap::parse(json!({})).unwrap();
        let mut request = RunRequest {
            prefer_async: true,
            ..RunRequest::default()
        };
        assert!(parse_options(&plain, &mut request).unwrap().respond_async);
    }
}
