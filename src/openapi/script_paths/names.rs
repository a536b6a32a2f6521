//! Where each script's operations live and what they are called: both come from the script's
//! path, so they are the same on every machine and after every rescan.

use std::collections::{BTreeSet, HashMap};

use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What a path segment may not hold as is (RFC 3986 `pchar`, `/` kept as the separator).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// The concrete run address of the script at `script_path`: the same on every machine.
pub fn run_path(script_path: &str) -> String {
    format!("/api/run/{}", utf8_percent_encode(script_path, SEGMENT))
}

/// Each script's operation name, from its path: `python/hello.py` → `run_python_hello`. Two
/// scripts whose names would meet keep their extension (`run_python_a_py`), and past that a
/// hash of their path, so every name is unique and depends only on the scripts' paths.
pub fn operation_names<'a>(paths: impl IntoIterator<Item = &'a str>) -> HashMap<String, String> {
    let paths: BTreeSet<&str> = paths.into_iter().collect();
    let stem = |path: &str| {
        let cut = path.rfind('.').filter(|dot| !path[*dot..].contains('/'));
        slug(&path[..cut.unwrap_or(path.len())])
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for path in &paths {
        *seen.entry(stem(path)).or_default() += 1;
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    let first: Vec<(&str, String)> = paths
        .iter()
        .map(|path| {
            let short = stem(path);
            let name = if seen[&short] > 1 { slug(path) } else { short };
            *names.entry(name.clone()).or_default() += 1;
            (*path, name)
        })
        .collect();
    first
        .into_iter()
        .map(|(path, name)| {
            let name = if names[&name] > 1 {
                let digest = hex::encode(Md5::digest(path.as_bytes()));
                format!("{name}_{}", &digest[..8])
            } else {
                name
            };
            (path.to_string(), format!("run_{name}"))
        })
        .collect()
}

/// Lower-case ASCII letters and digits, everything else one `_`.
fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "script".into()
    } else {
        trimmed.to_string()
    }
}
