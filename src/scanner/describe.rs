//! A script's one-line description, taken from its leading docstring or comment, or for an
//! SDK script from its `main` function's docstring (Python) or `description` (JS).

use crate::domain::Runtime;

const MAX_CHARS: usize = 300;

pub fn describe(runtime: Runtime, source: &str) -> Option<String> {
    let text = match runtime {
        Runtime::Python => python_docstring(source).or_else(|| main_docstring(source)),
        Runtime::Js => js_leading_comment(source).or_else(|| sdk_description(source)),
    }?;
    let line = text.trim();
    (!line.is_empty()).then(|| line.chars().take(MAX_CHARS).collect())
}

/// The first line of the module docstring.
fn python_docstring(source: &str) -> Option<String> {
    let body = source
        .lines()
        .skip_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let body = body.trim_start();
    let body = body.strip_prefix(['r', 'R', 'u', 'U']).unwrap_or(body);
    let quote = ["\"\"\"", "'''", "\"", "'"]
        .into_iter()
        .find(|q| body.starts_with(q))?;
    let inner = &body[quote.len()..];
    let end = inner.find(quote).unwrap_or(inner.len());
    inner[..end]
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// The first line of the docstring of a top-level `def main(...)`, whose signature may span lines.
fn main_docstring(source: &str) -> Option<String> {
    let mut lines = source.lines().skip_while(|line| {
        let line = line.strip_prefix("async ").unwrap_or(line);
        !(line.starts_with("def main(") || line.starts_with("def main ("))
    });
    lines.find(|line| line.trim_end().ends_with(':'))?;
    let body: Vec<&str> = lines.collect();
    python_docstring(&body.join("\n"))
}

/// The `description: '...'` given to the SDK's `script({...})`.
fn sdk_description(source: &str) -> Option<String> {
    if !source.contains("scriptgateway-sdk") {
        return None;
    }
    let start = source.find("description:")? + "description:".len();
    let rest = source[start..].trim_start();
    let quote = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '\'' | '"' | '`'))?;
    let inner = &rest[1..];
    let end = inner.find(quote)?;
    inner[..end].lines().next().map(str::to_string)
}

/// The first line of the leading `//` or `/* */` comment, after a shebang and directives.
fn js_leading_comment(source: &str) -> Option<String> {
    let mut lines = source.lines().map(str::trim).filter(|l| {
        !l.is_empty()
            && !l.starts_with("#!")
            && !matches!(
                *l,
                "'use strict';" | "\"use strict\";" | "'use strict'" | "\"use strict\""
            )
    });
    let first = lines.next()?;
    if let Some(comment) = first.strip_prefix("//") {
        return Some(comment.trim_start_matches('/').trim().to_string());
    }
    let block = first.strip_prefix("/*")?;
    let block = block.trim_start_matches('*').trim();
    let candidates = std::iter::once(block).chain(lines);
    candidates
        .map(|l| l.trim_end_matches("*/").trim_start_matches('*').trim())
        .find(|l| !l.is_empty() && !l.starts_with('@'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_descriptions() {
        let cases = [
            (
                "\"\"\"Greets people.\n\nMore.\n\"\"\"\nimport sys",
                Some("Greets people."),
            ),
            (
                "#!/usr/bin/env python3\n# coding: utf-8\n'''\n  Counts words.\n'''",
                Some("Counts words."),
            ),
            ("r\"\"\"Raw doc.\"\"\"", Some("Raw doc.")),
            ("\"One line\"\n", Some("One line")),
            ("import sys\n\"\"\"Not a docstring\"\"\"", None),
            ("", None),
            ("\"\"\"   \"\"\"", None),
            (
                "from scriptgateway_sdk import script\n\n@script\ndef main(name: str,\n         times: int = 1) -> dict:\n    \"\"\"Greets someone.\n\n    Args:\n        name: Who\n    \"\"\"\n",
                Some("Greets someone."),
            ),
            ("async def main():\n    \"\"\"Waits.\"\"\"\n", Some("Waits.")),
            ("def main():\n    return 1\n", None),
        ];
        for (source, expected) in cases {
            assert_eq!(
                describe(Runtime::Python, source).as_deref(),
                expected,
                "{source:?}"
            );
        }
    }

    #[test]
    fn js_descriptions() {
        let cases = [
            ("// Makes UUIDs.\nconst x = 1;", Some("Makes UUIDs.")),
            (
                "#!/usr/bin/env node\n'use strict';\n/// Triple.\n",
                Some("Triple."),
            ),
            (
                "/**\n * Fetches a title.\n * @param x\n */",
                Some("Fetches a title."),
            ),
            ("/* Inline block. */\n", Some("Inline block.")),
            ("const x = 1; // late comment", None),
            (
                "const { script } = require('scriptgateway-sdk');\nscript({\n  description: 'Greets someone',\n  main() {},\n});\n",
                Some("Greets someone"),
            ),
            ("const o = { description: 'not an SDK script' };\n", None),
        ];
        for (source, expected) in cases {
            assert_eq!(
                describe(Runtime::Js, source).as_deref(),
                expected,
                "{source:?}"
            );
        }
    }

    #[test]
    fn long_descriptions_are_cut() {
        let source = format!("// {}", "x".repeat(1000));
        assert_eq!(
            describe(Runtime::Js, &source).unwrap().chars().count(),
            MAX_CHARS
        );
    }
}
