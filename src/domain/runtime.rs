//! The runtimes a script is written for (Python, JavaScript), named as in paths and the API,
//! what makes a file a script, and how the gateway starts it.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What makes a file a script, as error messages tell it.
pub const SCRIPT_RULE: &str = "it must mention _sys_get_schema, or (Python) define a top-level \
    `main` function or have an `if __name__ == \"__main__\"` guard, or (JS) use the \
    scriptgateway-sdk package";

/// The interpreters a script can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Python,
    Js,
}

/// A plain environment variable name (letters, digits after the first, underscores): what
/// a caller may set for a run or a session.
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
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

    /// The interpreter's name as callers of ad-hoc runs and sessions write it.
    pub fn interpreter_name(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Js => "node",
        }
    }

    /// What an ad-hoc run of this runtime records where a script run has its path (never a
    /// script's path: scripts end in `.py` or `.js`).
    pub fn exec_label(self) -> &'static str {
        match self {
            Runtime::Python => "exec:python",
            Runtime::Js => "exec:node",
        }
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

    /// Whether the source text declares a script (as opposed to a helper module): it
    /// mentions `_sys_get_schema`; or (Python) has a `__main__` guard or a top-level
    /// `main` function; or (JS) uses the `scriptgateway-sdk` package.
    pub fn is_script_source(self, source: &str) -> bool {
        if source.contains("_sys_get_schema") {
            return true;
        }
        match self {
            Runtime::Python => source
                .lines()
                .any(|line| is_python_main_guard(line) || is_python_main_def(line)),
            Runtime::Js => uses_js_sdk(source),
        }
    }

    /// How a script with this source is started; see [`EntryKind`].
    pub fn entry_kind(self, source: &str) -> EntryKind {
        let sdk = self == Runtime::Python
            && !source.contains("_sys_get_schema")
            && source.lines().any(is_python_main_def);
        if sdk {
            EntryKind::PythonSdk
        } else {
            EntryKind::Classic
        }
    }
}

fn is_python_main_guard(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("if __name__") && line.contains("__main__")
}

/// `def main(` or `async def main(` at column 0 (a method or nested function does not count).
fn is_python_main_def(line: &str) -> bool {
    let rest = line.strip_prefix("async ").unwrap_or(line);
    rest.strip_prefix("def")
        .filter(|r| r.starts_with([' ', '\t']))
        .and_then(|r| r.trim_start().strip_prefix("main"))
        .is_some_and(|r| r.trim_start().starts_with('('))
}

fn uses_js_sdk(source: &str) -> bool {
    ['\'', '"', '`']
        .iter()
        .any(|quote| source.contains(&format!("{quote}scriptgateway-sdk{quote}")))
}

/// How the gateway starts a script, decided from its source when it is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// `interpreter script args...`: the script answers `--_sys_get_schema` itself.
    #[default]
    Classic,
    /// A Python script whose `main` function is its parameters (it does not mention
    /// `_sys_get_schema`): `python launcher script args...`, the SDK's launcher answering.
    PythonSdk,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Classic => "classic",
            EntryKind::PythonSdk => "python_sdk",
        }
    }

    /// Unknown text is read as `Classic`, the start every script had before SDK scripts.
    pub fn parse(text: &str) -> EntryKind {
        match text {
            "python_sdk" => EntryKind::PythonSdk,
            _ => EntryKind::Classic,
        }
    }

    /// The interpreter's arguments before the script's own: the script file, preceded by
    /// the SDK launcher for an SDK script (an error when the launcher could not be written).
    pub fn argv_prefix(
        self,
        script: &Path,
        python_launcher: Option<&Path>,
    ) -> Result<Vec<OsString>, String> {
        match self {
            EntryKind::Classic => Ok(vec![script.into()]),
            EntryKind::PythonSdk => match python_launcher {
                Some(launcher) => Ok(vec![launcher.into(), script.into()]),
                None => {
                    Err("the script SDK's launcher is not available (see the gateway's log)".into())
                }
            },
        }
    }
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
            (
                Runtime::Python,
                "from scriptgateway_sdk import script\n\n@script\ndef main(name: str):\n    return name\n",
                true,
            ),
            (Runtime::Python, "async def main():\n    pass\n", true),
            (
                Runtime::Python,
                "class A:\n    def main(self):\n        pass\n",
                false,
            ),
            (Runtime::Python, "def main_helper():\n    pass\n", false),
            (
                Runtime::Js,
                "const { script } = require('scriptgateway-sdk');\nscript({ main() {} });\n",
                true,
            ),
            (
                Runtime::Js,
                "import { script } from \"scriptgateway-sdk\";\n",
                true,
            ),
            (Runtime::Js, "// scriptgateway-sdk is not used here\n", false),
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
    fn the_entry_kind_follows_the_start_rule() {
        use EntryKind::{Classic, PythonSdk};
        let cases = [
            (
                "top-level main",
                Runtime::Python,
                "def main(name: str):\n    return name\n",
                PythonSdk,
            ),
            (
                "async main",
                Runtime::Python,
                "import asyncio\nasync def main():\n    pass\n",
                PythonSdk,
            ),
            (
                "spaced main",
                Runtime::Python,
                "def  main (x):\n    pass\n",
                PythonSdk,
            ),
            (
                "main with a local-testing guard",
                Runtime::Python,
                "def main():\n    pass\nif __name__ == '__main__':\n    run(main)\n",
                PythonSdk,
            ),
            (
                "main that mentions the schema flag is classic",
                Runtime::Python,
                "def main():\n    pass\nif '--_sys_get_schema' in sys.argv:\n    pass\n",
                Classic,
            ),
            (
                "guard only",
                Runtime::Python,
                "if __name__ == '__main__':\n    pass\n",
                Classic,
            ),
            (
                "indented main",
                Runtime::Python,
                "class A:\n    def main(self):\n        pass\n",
                Classic,
            ),
            (
                "main_x",
                Runtime::Python,
                "def main_x():\n    pass\n",
                Classic,
            ),
            (
                "commented main",
                Runtime::Python,
                "# def main():\n",
                Classic,
            ),
            (
                "js sdk",
                Runtime::Js,
                "const { script } = require('scriptgateway-sdk');\nfunction main() {}\n",
                Classic,
            ),
            ("js main", Runtime::Js, "def main():\n", Classic),
        ];
        for (what, runtime, source, want) in cases {
            assert_eq!(runtime.entry_kind(source), want, "{what}");
            assert_eq!(EntryKind::parse(want.as_str()), want, "{what}");
        }
    }

    #[test]
    fn an_sdk_script_starts_behind_the_launcher() {
        let script = Path::new("/r/python/a.py");
        let launcher = Path::new("/sg/python-launch/sg_launch.py");
        assert_eq!(
            EntryKind::Classic.argv_prefix(script, Some(launcher)),
            Ok(vec![OsString::from("/r/python/a.py")])
        );
        assert_eq!(
            EntryKind::PythonSdk.argv_prefix(script, Some(launcher)),
            Ok(vec![launcher.into(), script.into()])
        );
        let missing = EntryKind::PythonSdk.argv_prefix(script, None).unwrap_err();
        assert!(missing.contains("launcher"), "{missing}");
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
