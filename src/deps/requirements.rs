//! Python `requirements.txt` → normalised entries. Comments, blank lines, whitespace,
//! order and name case do not matter; anything that is not a requirement (or one of
//! the few index options) is refused with the line it is on.

use std::path::Path;

/// Options a dependency file may carry; everything else (`-r`, `-e`, `--target`...) is refused.
const ALLOWED_OPTIONS: [&str; 4] = [
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--no-index",
];

/// The normalised entries of a requirements file whose folder is `base_dir`
/// (relative paths are made absolute against it).
pub fn parse(text: &str, base_dir: &Path) -> Result<Vec<String>, String> {
    let mut entries = Vec::new();
    for (number, line) in logical_lines(text) {
        let line = strip_comment(&line);
        if line.is_empty() {
            continue;
        }
        if line.chars().any(char::is_control) {
            return Err(format!("line {number}: contains a control character"));
        }
        let entry = if line.starts_with('-') {
            option(line, base_dir)
        } else {
            requirement(line, base_dir)
        };
        entries.push(entry.map_err(|reason| format!("line {number}: {reason}"))?);
    }
    Ok(entries)
}

/// Lines with `\` continuations joined, each with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let (number, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        match raw.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                current = Some((number, joined));
            }
            None => {
                joined.push_str(raw);
                lines.push((number, joined));
            }
        }
    }
    lines.extend(current);
    lines
}

/// pip's rule: `#` starts a comment at the start of a line or after whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let cut = (0..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()))
        .unwrap_or(bytes.len());
    line[..cut].trim()
}

fn option(line: &str, base_dir: &Path) -> Result<String, String> {
    let (name, value) = match line.split_once(|c: char| c == '=' || c.is_whitespace()) {
        Some((name, value)) => (name, value.trim()),
        None => (line, ""),
    };
    let name = match name {
        "-i" => "--index-url",
        "-f" => "--find-links",
        other => other,
    };
    if !ALLOWED_OPTIONS.contains(&name) {
        return Err(format!(
            "the option {name} is not supported in a dependency file (allowed: {})",
            ALLOWED_OPTIONS.join(", ")
        ));
    }
    match (name, value.is_empty()) {
        ("--no-index", true) => Ok(name.to_string()),
        ("--no-index", false) => Err("--no-index takes no value".into()),
        (_, true) => Err(format!("{name} needs a value")),
        ("--find-links", false) if !value.contains("://") => {
            Ok(format!("{name}={}", absolute(value, base_dir)))
        }
        (_, false) => Ok(format!("{name}={value}")),
    }
}

fn requirement(line: &str, base_dir: &Path) -> Result<String, String> {
    if line.starts_with('.') || line.starts_with('/') || line.contains("://") {
        return Ok(path_or_url(line, base_dir));
    }
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "{line:?} is not a requirement (expected a package name first)"
        ));
    }
    let (rest, marker) = match line[name_end..].split_once(';') {
        Some((rest, marker)) => (rest.trim(), Some(collapse_whitespace(marker))),
        None => (line[name_end..].trim(), None),
    };
    let (extras, spec) = split_extras(rest)?;
    let mut entry = format!("{}{extras}", canonical_name(name));
    if let Some(url) = spec.strip_prefix('@') {
        entry.push_str(&format!(" @ {}", url.trim()));
        if let Some(marker) = marker {
            entry.push_str(&format!(" ; {marker}"));
        }
        return Ok(entry);
    }
    entry.push_str(&version_spec(spec).map_err(|reason| format!("{line:?}: {reason}"))?);
    if let Some(marker) = marker.filter(|m| !m.is_empty()) {
        entry.push_str(&format!("; {marker}"));
    }
    Ok(entry)
}

/// PEP 503: case-insensitive, runs of `-`, `_` and `.` are one `-`.
pub fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `[b, A]` → `[a,b]`, and what follows it.
fn split_extras(rest: &str) -> Result<(String, &str), String> {
    let Some(inner) = rest.strip_prefix('[') else {
        return Ok((String::new(), rest));
    };
    let (list, after) = inner
        .split_once(']')
        .ok_or_else(|| format!("{rest:?}: the list of extras is not closed"))?;
    let mut extras = Vec::new();
    for extra in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if !extra
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!("{extra:?} is not a valid extra"));
        }
        extras.push(canonical_name(extra));
    }
    extras.sort();
    extras.dedup();
    let extras = match extras.is_empty() {
        true => String::new(),
        false => format!("[{}]", extras.join(",")),
    };
    Ok((extras, after.trim()))
}

/// `>= 1.0 , <2` → `>=1.0,<2`; `(>=1)` → `>=1`.
fn version_spec(spec: &str) -> Result<String, String> {
    let spec = spec.trim();
    let spec = spec
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(spec);
    let compact: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "<>=!~,.*+-_".contains(c);
    if compact.is_empty() {
        return Ok(compact);
    }
    if !compact.starts_with(['<', '>', '=', '!', '~']) || !compact.chars().all(allowed) {
        return Err(format!("{spec:?} is not a version specifier"));
    }
    Ok(compact)
}

fn path_or_url(line: &str, base_dir: &Path) -> String {
    let line = collapse_whitespace(line);
    if line.contains("://") || line.starts_with('/') {
        return line;
    }
    absolute(&line, base_dir)
}

fn absolute(path: &str, base_dir: &Path) -> String {
    base_dir.join(path).display().to_string()
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries as a set keeps them: sorted, without duplicates.
    fn entries(text: &str) -> Vec<String> {
        let entries = parse(text, Path::new("/repo/python")).expect(text);
        crate::deps::DepSet::new(crate::domain::Runtime::Python, entries).entries
    }

    #[test]
    fn the_same_set_written_differently_normalises_the_same() {
        let plain = entries("requests==2.32.3\nsix\n");
        let cases = [
            "six\nrequests==2.32.3\n",
            "# tools\n\n  Requests == 2.32.3   # pinned\nSIX\n",
            "REQUESTS==2.32.3\r\n\r\nsix\r\n",
            "requests\\\n==2.32.3\nsix\nsix\n",
        ];
        for text in cases {
            assert_eq!(entries(text), plain, "{text:?}");
        }
    }

    #[test]
    fn entries_are_normalised() {
        let cases = [
            ("Zope.Interface_X", "zope-interface-x"),
            ("pkg [Socks , a] >= 1.0 , < 2", "pkg[a,socks]>=1.0,<2"),
            ("pkg (>=1)", "pkg>=1"),
            (
                "pkg>=1 ;  python_version  <  '3.12'",
                "pkg>=1; python_version < '3.12'",
            ),
            ("pkg @ https://x.org/p.whl", "pkg @ https://x.org/p.whl"),
            ("./wheels/p.whl", "/repo/python/./wheels/p.whl"),
            (
                "-i https://mirror/simple",
                "--index-url=https://mirror/simple",
            ),
            ("--find-links wheels", "--find-links=/repo/python/wheels"),
            ("--no-index", "--no-index"),
            ("https://x.org/p.whl#egg=p", "https://x.org/p.whl#egg=p"),
        ];
        for (line, want) in cases {
            assert_eq!(entries(line), [want.to_string()], "{line:?}");
        }
    }

    #[test]
    fn malformed_lines_are_refused_with_their_line_number() {
        let cases = [
            (
                "ok\nfoo bar baz\n",
                "line 2: \"foo bar baz\": \"bar baz\" is not a version",
            ),
            (
                "$(touch /tmp/x)\n",
                "line 1: \"$(touch /tmp/x)\" is not a requirement",
            ),
            ("-r other.txt\n", "line 1: the option -r is not supported"),
            ("-e .\n", "the option -e is not supported"),
            ("--target=/etc\n", "the option --target is not supported"),
            ("pkg[a\n", "the list of extras is not closed"),
            ("pkg==1|x\n", "is not a version specifier"),
            ("--index-url\n", "--index-url needs a value"),
            ("pkg\u{7}\n", "control character"),
        ];
        for (text, want) in cases {
            let error = parse(text, Path::new("/r")).expect_err(text);
            assert!(
                error.contains(want),
                "{text:?}: got {error:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn markers_reach_the_installer_as_written() {
        assert_eq!(
            entries("foo; touch /tmp/pwned\n"),
            ["foo; touch /tmp/pwned".to_string()],
            "a marker is the installer's to judge, as one argv entry"
        );
    }
}
