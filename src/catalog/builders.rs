//! Test builders for the catalog's records: one plain value each, changed per test with
//! struct-update syntax (`RunEnd { stderr: "warn".into(), ..run_end(RunStatus::Error) }`).

use serde_json::json;

use crate::domain::Runtime;

use super::{Run, RunEnd, RunKind, RunStatus, ScriptUpsert};

/// A successful run of `python/a.py` (script 1) with nothing recorded besides its exit code.
pub fn run(id: i64) -> Run {
    Run {
        id,
        script_id: Some(1),
        script_path: "python/a.py".into(),
        kind: RunKind::Script,
        status: RunStatus::Success,
        params: None,
        ignored_params: vec![],
        run_dir: None,
        queued_at: String::new(),
        started_at: None,
        finished_at: None,
        duration_ms: None,
        exit_code: Some(0),
        data: None,
        stdout_preview: None,
        output_file: None,
        output_size: None,
        output_content_type: None,
        stderr: None,
        files: vec![],
        error_code: None,
        error_message: None,
    }
}

/// The end of a run that exited 0 after a millisecond and printed nothing.
pub fn run_end(status: RunStatus) -> RunEnd {
    RunEnd {
        status,
        exit_code: Some(0),
        duration_ms: 1,
        data: None,
        stdout_preview: None,
        output_file: None,
        output_size: None,
        output_content_type: None,
        stderr: String::new(),
        files: vec![],
        error_code: None,
        error_message: None,
        event_log: None,
    }
}

/// A Python script at `path` (also its name) whose schema loaded as `{}`.
pub fn script_upsert(path: &str) -> ScriptUpsert {
    ScriptUpsert {
        path: path.into(),
        runtime: Runtime::Python,
        entry: crate::domain::EntryKind::Classic,
        name: path.into(),
        group_path: None,
        description: None,
        file_hash: "f".into(),
        file_size: 1,
        load: Some(Ok(json!({}))),
    }
}
