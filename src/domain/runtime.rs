//! The runtimes a script is written for (Python, JavaScript), named as in paths and the API.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The interpreters a script can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Python,
    Js,
}

impl Runtime {
    pub const ALL: [Runtime; 2] = [Runtime::Python, Runtime::Js];

    /// The folder under `scripts_repo` that holds this runtime's scripts.
    pub fn folder(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Js => "js",
        }
    }

    pub fn as_str(self) -> &'static str {
        self.folder()
    }

    pub fn parse(text: &str) -> Option<Runtime> {
        match text {
            "python" | "py" => Some(Runtime::Python),
            "js" | "node" | "javascript" => Some(Runtime::Js),
            _ => None,
        }
    }

    pub fn is_script_extension(self, extension: &str) -> bool {
        match self {
            Runtime::Python => extension == "py",
            Runtime::Js => matches!(extension, "js" | "mjs" | "cjs"),
        }
    }

    /// The file that turns a folder into a script group for this runtime.
    pub fn group_marker(self) -> &'static str {
        match self {
            Runtime::Python => "requirements.txt",
            Runtime::Js => "package.json",
        }
    }

    /// Whether the source text declares a script (as opposed to a helper module).
    pub fn is_script_source(self, source: &str) -> bool {
        if source.contains("_sys_get_schema") {
            return true;
        }
        self == Runtime::Python && source.lines().any(is_python_main_guard)
    }
}

fn is_python_main_guard(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("if __name__") && line.contains("__main__")
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_detection_follows_the_convention() {
        let cases = [
            (
                Runtime::Python,
                "import sys\nif '--_sys_get_schema' in sys.argv: pass",
                true,
            ),
            (
                Runtime::Python,
                "def main(): ...\n\nif __name__ == \"__main__\":\n    main()",
                true,
            ),
            (Runtime::Python, "if __name__ == '__main__': main()", true),
            (Runtime::Python, "def helper():\n    return 1\n", false),
            (
                Runtime::Python,
                "# __main__ mentioned in a comment only\n",
                false,
            ),
            (
                Runtime::Js,
                "if (process.argv.includes('--_sys_get_schema')) {}",
                true,
            ),
            (Runtime::Js, "module.exports = { helper() {} };\n", false),
            (Runtime::Js, "if __name__ == '__main__': pass", false),
        ];
        for (runtime, source, expected) in cases {
            assert_eq!(
                runtime.is_script_source(source),
                expected,
                "{runtime}: {source:?}"
            );
        }
    }

    #[test]
    fn extensions_belong_to_one_runtime() {
        assert!(Runtime::Python.is_script_extension("py"));
        assert!(!Runtime::Python.is_script_extension("js"));
        for ext in ["js", "mjs", "cjs"] {
            assert!(Runtime::Js.is_script_extension(ext), "{ext}");
        }
        assert!(!Runtime::Js.is_script_extension("json"));
    }
}
