//! Offline fixtures for dependency tests: tiny wheels and npm packages built on the spot,
//! a gateway told to install only from them, and waits on install states.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::helpers::{spawn_app, wait_for, TestApp, TestRepo};

/// Installs run real installers on a loaded machine: allow them time.
pub const INSTALL_WAIT: Duration = Duration::from_secs(120);

/// Local packages: wheels `sgdemo` 1.0 and 2.0 and `sgshared` 1.0, npm folders
/// `sgdemo-js` 1.0.0 and 2.0.0. Each module exposes `VERSION`.
pub struct LocalPackages {
    dir: TempDir,
}

const WHEEL_BUILDER: &str = r#"
import base64, hashlib, os, sys, zipfile
def wheel(out, name, version):
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: sg-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(os.path.join(out, f"{name}-{version}-py3-none-any.whl"), "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
out = sys.argv[1]
for spec in sys.argv[2:]:
    wheel(out, *spec.split("=="))
"#;

impl LocalPackages {
    pub fn build() -> LocalPackages {
        let dir = tempfile::Builder::new()
            .prefix("sg-pkgs-")
            .tempdir()
            .expect("a temporary folder");
        let wheels = dir.path().join("wheels");
        std::fs::create_dir_all(&wheels).expect("wheels folder");
        let status = Command::new("python3")
            .args(["-c", WHEEL_BUILDER])
            .arg(&wheels)
            .args(["sgdemo==1.0", "sgdemo==2.0", "sgshared==1.0"])
            .status()
            .expect("python3 runs");
        assert!(status.success(), "the test wheels were built");
        for version in ["1.0.0", "2.0.0"] {
            let package = dir.path().join(format!("npm/sgdemo-js-{version}"));
            std::fs::create_dir_all(&package).expect("package folder");
            let manifest = json!({"name": "sgdemo-js", "version": version, "main": "index.js"});
            std::fs::write(package.join("package.json"), manifest.to_string()).expect("manifest");
            std::fs::write(
                package.join("index.js"),
                format!("exports.VERSION = '{version}';\n"),
            )
            .expect("module");
        }
        LocalPackages { dir }
    }

    pub fn wheels(&self) -> PathBuf {
        self.dir.path().join("wheels")
    }

    /// A `file:` spec for the local `sgdemo-js` of `version`.
    pub fn npm(&self, version: &str) -> String {
        format!(
            "file:{}",
            self.dir
                .path()
                .join(format!("npm/sgdemo-js-{version}"))
                .display()
        )
    }

    /// Flags that make the gateway install only from these packages, with uv when the
    /// test run names one in `DEPS_TEST_UV` (otherwise whatever PATH offers, or pip).
    pub fn gateway_flags(&self) -> Vec<String> {
        let mut flags = vec![
            format!(
                "--python-install-args=--no-index --find-links={}",
                self.wheels().display()
            ),
            "--npm-install-args=--offline".to_string(),
        ];
        if let Some(uv) = std::env::var_os("DEPS_TEST_UV") {
            flags.push(format!("--uv={}", uv.to_string_lossy()));
        }
        flags
    }
}

/// A gateway over `repo` that installs from `packages` only.
pub fn spawn_offline(
    repo: &TestRepo,
    data: &Path,
    packages: &LocalPackages,
    extra: &[&str],
) -> TestApp {
    let flags = packages.gateway_flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    spawn_app(repo, data, &args)
}

/// A Python script that imports `module` at the top and puts its VERSION in its schema.
pub fn python_importing(module: &str) -> String {
    format!(
        r#""""Uses {module}."""
import json
import sys
import {module}

ARGS_MAP = {{"x": {{"flag": "--x", "type": "str", "help": "{module} " + {module}.VERSION}}}}

if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    print(json.dumps({{"version": {module}.VERSION}}))
"#
    )
}

/// A Python script that imports nothing beyond the standard library.
pub fn python_plain() -> String {
    "import json, sys\nif __name__ == '__main__':\n    if '--_sys_get_schema' in sys.argv:\n        print(json.dumps({}))\n".into()
}

/// A JS script loading `sgdemo-js` with `import` (ES module) or `require` (CommonJS).
pub fn js_importing(esm: bool) -> String {
    let load = match esm {
        true => "import { VERSION } from 'sgdemo-js';",
        false => "const { VERSION } = require('sgdemo-js');",
    };
    format!(
        "// Uses sgdemo-js.\n{load}\nconst ARGS_MAP = {{ x: {{ flag: '--x', help: 'sgdemo-js ' + VERSION }} }};\n\
         if (process.argv.includes('--_sys_get_schema')) {{ console.log(JSON.stringify(ARGS_MAP)); process.exit(0); }}\n\
         console.log(JSON.stringify({{ version: VERSION }}));\n"
    )
}

/// Waits until the script at `path` shows `deps_status` `ready` or `failed`; returns it.
pub fn settled(app: &TestApp, path: &str) -> Value {
    wait_for(INSTALL_WAIT, || {
        let script = app.script_by_path(path)?;
        matches!(script["deps_status"].as_str(), Some("ready" | "failed")).then_some(script)
    })
    .unwrap_or_else(|| {
        panic!(
            "{path} never settled: {:?}\nstderr:\n{}",
            app.script_by_path(path),
            app.stderr()
        )
    })
}

/// Waits until the schema help of parameter `x` of `path` is `want` (schemas are
/// extracted again once the dependencies are installed).
pub fn wait_for_help(app: &TestApp, path: &str, want: &str) -> Value {
    wait_for(INSTALL_WAIT, || {
        let script = app.script_by_path(path)?;
        (script["args_schema"]["x"]["help"] == json!(want)).then_some(script)
    })
    .unwrap_or_else(|| {
        panic!(
            "{path} never got help {want:?}: {:?}",
            app.script_by_path(path)
        )
    })
}

/// `GET /api/scripts/{id}/dependencies`.
pub fn dependencies(app: &TestApp, script: &Value) -> Value {
    let (status, body) = app.get(&format!("/api/scripts/{}/dependencies", script["id"]));
    assert_eq!(status, 200, "{body}");
    body
}

pub fn cache_status(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/api/dependencies/cache/status");
    assert_eq!(status, 200, "{body}");
    body["caches"].as_array().expect("caches").clone()
}
