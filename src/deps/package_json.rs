//! JS `package.json` → normalised entries (`name@spec`) from `dependencies` and
//! `devDependencies`. Key order, whitespace and formatting do not matter; names keep
//! their case (npm names are case-sensitive, and a few old packages use capitals).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

const SECTIONS: [&str; 2] = ["dependencies", "devDependencies"];

/// The normalised entries of a package.json whose folder is `base_dir` (relative
/// `file:` specs are made absolute against it). `dependencies` win over `devDependencies`.
pub fn parse(text: &str, base_dir: &Path) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(root) = value else {
        return Err("must be a JSON object".into());
    };
    let mut merged = BTreeMap::new();
    for section in SECTIONS.iter().rev() {
        let Some(deps) = root.get(*section) else {
            continue;
        };
        let Value::Object(deps) = deps else {
            return Err(format!(
                "\"{section}\" must be an object of package names to versions"
            ));
        };
        for (name, spec) in deps {
            let Value::String(spec) = spec else {
                return Err(format!("\"{section}\".\"{name}\" must be a version string"));
            };
            check_name(name).map_err(|reason| format!("\"{section}\": {reason}"))?;
            let spec = normalise_spec(spec, base_dir)
                .map_err(|reason| format!("\"{section}\".\"{name}\": {reason}"))?;
            merged.insert(name.clone(), spec);
        }
    }
    Ok(merged
        .into_iter()
        .map(|(name, spec)| format!("{name}@{spec}"))
        .collect())
}

/// npm's rules for a package name: optional `@scope/`, URL-safe characters, no leading
/// `.` or `_`, at most 214 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let invalid = || Err(format!("{name:?} is not a valid npm package name"));
    if name.is_empty() || name.len() > 214 {
        return invalid();
    }
    let bare = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, bare)) if is_name_part(scope) => bare,
            _ => return invalid(),
        },
        None => name,
    };
    if !is_name_part(bare) || bare.starts_with(['.', '_']) {
        return invalid();
    }
    Ok(())
}

fn is_name_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

/// Whitespace collapsed, an empty spec is `*`, a relative `file:` path is made absolute.
fn normalise_spec(spec: &str, base_dir: &Path) -> Result<String, String> {
    if spec.chars().any(char::is_control) {
        return Err("the version contains a control character".into());
    }
    let spec = spec.split_whitespace().collect::<Vec<_>>().join(" ");
    if spec.is_empty() {
        return Ok("*".into());
    }
    match spec.strip_prefix("file:") {
        Some(path) if !path.starts_with('/') => {
            Ok(format!("file:{}", base_dir.join(path).display()))
        }
        _ => Ok(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<String> {
        parse(text, Path::new("/repo/js/app")).expect(text)
    }

    #[test]
    fn the_same_set_written_differently_normalises_the_same() {
        let plain = entries(r#"{"dependencies": {"uuid": "^9.0.1", "left-pad": "1.3.0"}}"#);
        let cases = [
            "{\n  \"name\": \"x\",\n  \"dependencies\": {\n    \"left-pad\": \" 1.3.0 \",\n    \"uuid\": \"^9.0.1\"\n  }\n}\n",
            r#"{"devDependencies": {"uuid": "^9.0.1"}, "dependencies": {"left-pad": "1.3.0"}}"#,
        ];
        for text in cases {
            assert_eq!(entries(text), plain, "{text}");
        }
        assert_eq!(plain, ["left-pad@1.3.0", "uuid@^9.0.1"]);
    }

    #[test]
    fn specs_are_normalised() {
        let cases = [
            (r#"{"dependencies": {"a": ""}}"#, "a@*"),
            (r#"{"dependencies": {"a": ">=1.0   <2"}}"#, "a@>=1.0 <2"),
            (
                r#"{"dependencies": {"a": "file:../lib"}}"#,
                "a@file:/repo/js/app/../lib",
            ),
            (
                r#"{"dependencies": {"a": "file:/abs/lib"}}"#,
                "a@file:/abs/lib",
            ),
            (r#"{"dependencies": {"@Scope/pkg": "1"}}"#, "@Scope/pkg@1"),
            (
                r#"{"dependencies": {"JSONStream": "1"}, "devDependencies": {"JSONStream": "2"}}"#,
                "JSONStream@1",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(entries(text), [want.to_string()], "{text}");
        }
        assert!(entries(r#"{"name": "no deps"}"#).is_empty());
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() {
        let cases = [
            ("{\"dependencies\": {", "not valid JSON"),
            ("[1]", "must be a JSON object"),
            (
                r#"{"dependencies": ["uuid"]}"#,
                "\"dependencies\" must be an object",
            ),
            (
                r#"{"dependencies": {"uuid": 9}}"#,
                "\"dependencies\".\"uuid\" must be a version string",
            ),
            (
                r#"{"dependencies": {"foo; touch /tmp/x": "1"}}"#,
                "\"foo; touch /tmp/x\" is not a valid npm package name",
            ),
            (
                r#"{"devDependencies": {"$(id)": "1"}}"#,
                "is not a valid npm package name",
            ),
            (
                r#"{"dependencies": {"_private": "1"}}"#,
                "is not a valid npm package name",
            ),
            (
                r#"{"dependencies": {"@scope": "1"}}"#,
                "is not a valid npm package name",
            ),
        ];
        for (text, want) in cases {
            let error = parse(text, Path::new("/r")).expect_err(text);
            assert!(error.contains(want), "{text}: got {error:?}, want {want:?}");
        }
    }
}
