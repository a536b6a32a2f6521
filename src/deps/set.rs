//! A normalised dependency set and the key its cache is filed under.

use std::fmt;

use md5::{Digest, Md5};
use serde::Serialize;

use crate::domain::Runtime;

/// The dependencies one script (or the shared set) declares, normalised: one entry per
/// requirement, sorted, without duplicates. Identical sets have identical entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepSet {
    pub runtime: Runtime,
    pub entries: Vec<String>,
    /// MD5 (lowercase hex) of the entries joined by newlines.
    pub hash: String,
}

impl DepSet {
    pub fn new(runtime: Runtime, mut entries: Vec<String>) -> DepSet {
        entries.sort();
        entries.dedup();
        let hash = hex::encode(Md5::digest(entries.join("\n").as_bytes()));
        DepSet {
            runtime,
            entries,
            hash,
        }
    }

    pub fn key(&self) -> DepsKey {
        DepsKey {
            runtime: self.runtime,
            hash: self.hash.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The package names the set asks for (installer options left out).
    pub fn names(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter_map(|e| entry_name(self.runtime, e))
            .collect()
    }
}

/// The package an entry names: `requests` of `requests[socks]>=2`, `@scope/pkg` of
/// `@scope/pkg@^1`; `None` for an installer option such as `--index-url=...`.
pub fn entry_name(runtime: Runtime, entry: &str) -> Option<&str> {
    if entry.starts_with('-') {
        return None;
    }
    let end = match runtime {
        Runtime::Python => entry
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(entry.len()),
        Runtime::Js => entry[1..].find('@').map_or(entry.len(), |i| i + 1),
    };
    Some(&entry[..end])
}

/// Where a set's cache lives: its runtime and hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DepsKey {
    pub runtime: Runtime,
    pub hash: String,
}

impl fmt::Display for DepsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.runtime, self.hash)
    }
}

/// Whether `text` is an MD5 in lowercase hex, as cache folder names are.
pub fn is_hash(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_duplicates_do_not_change_the_hash() {
        let a = DepSet::new(Runtime::Python, vec!["b==1".into(), "a".into()]);
        let b = DepSet::new(Runtime::Python, vec!["a".into(), "b==1".into(), "a".into()]);
        assert_eq!(a, b);
        assert!(is_hash(&a.hash));
        assert_ne!(a.hash, DepSet::new(Runtime::Python, vec!["a".into()]).hash);
    }

    #[test]
    fn entry_names() {
        let cases = [
            (Runtime::Python, "requests[socks]>=2", Some("requests")),
            (Runtime::Python, "six", Some("six")),
            (
                Runtime::Python,
                "zope-interface; python_version>'3'",
                Some("zope-interface"),
            ),
            (Runtime::Python, "--index-url=https://x", None),
            (Runtime::Js, "@scope/pkg@^1.0.0", Some("@scope/pkg")),
            (Runtime::Js, "uuid@npm:uuid@9", Some("uuid")),
        ];
        for (runtime, entry, want) in cases {
            assert_eq!(entry_name(runtime, entry), want, "{entry}");
        }
    }
}
