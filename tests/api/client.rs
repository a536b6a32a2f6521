//! The typed Python client (`clients/python`, imported as `scriptgateway`): its own pytest suite,
//! run by `clients/python/run_tests.sh` against this build's binary. The script makes or reuses a
//! venv and installs the client with its test dependencies, each only when missing; it exits 77
//! when it cannot (no `python3 -m venv`, or PyPI out of reach), and this test then says SKIPPED.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::wait_for;

/// What `run_tests.sh` answers when the Python tools it needs are missing.
const TOOLS_MISSING: i32 = 77;

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python")
}

fn python3_missing() -> bool {
    let probe = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    !matches!(probe, Ok(status) if status.success())
}

#[test]
fn the_python_client_passes_its_suite_against_a_real_gateway() {
    if python3_missing() {
        eprintln!("SKIPPED the Python client suite: no python3 on PATH");
        return;
    }
    let mut child = Command::new("bash")
        .arg(client_dir().join("run_tests.sh"))
        .env("SG_BINARY", env!("CARGO_BIN_EXE_script-gateway"))
        .stdin(Stdio::null())
        .spawn()
        .expect("bash starts");
    let status = wait_for(Duration::from_secs(600), || {
        child.try_wait().expect("try_wait works")
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the Python client suite still ran after 10 minutes");
    };
    if status.code() == Some(TOOLS_MISSING) {
        eprintln!("SKIPPED the Python client suite: its Python tools are missing (see above)");
        return;
    }
    assert!(
        status.success(),
        "the Python client suite failed (its output is above)"
    );
}
