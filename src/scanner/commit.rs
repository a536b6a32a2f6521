//! Writing what a scan learned: the changes known without extracting (revived, regrouped
//! and removed scripts) at planning time, and each extraction's result as soon as it is
//! known, with its sidecar.

use crate::catalog::ScriptUpsert;

use super::discover::FoundScript;
use super::plan::{Action, Plan};
use super::{deps_sync, sidecar, ScanError, ScanReport, Scanner};

impl Scanner {
    /// Commits every change of `plan` that needs no extraction; counts the rest.
    pub(super) async fn apply_known(&self, plan: Plan) -> Result<ScanReport, ScanError> {
        let mut report = ScanReport::default();
        let mut upserts = Vec::new();
        for (script, action) in plan.actions {
            match action {
                Action::Unchanged { stored_schema } => {
                    report.unchanged += 1;
                    restore_missing_sidecar(&script, stored_schema.as_ref());
                }
                Action::Revive { stored_schema } => {
                    report.added += 1;
                    restore_missing_sidecar(&script, stored_schema.as_ref());
                    upserts.push(upsert_for(script, None));
                }
                Action::Regroup => {
                    report.updated += 1;
                    upserts.push(upsert_for(script, None));
                }
                Action::Add => report.added += 1,
                Action::Update => report.updated += 1,
            }
        }
        report.removed = plan.removed.len();
        for removed in &plan.removed {
            let _ = sidecar::remove(&self.config.scripts_repo.join(&removed.path));
        }
        if upserts.is_empty() && plan.removed.is_empty() {
            return Ok(report);
        }
        let removed_ids = plan.removed.iter().map(|r| r.id).collect();
        self.catalog.apply_scan(upserts, removed_ids).await?;
        self.catalog_changed();
        Ok(report)
    }

    /// Records an extraction's result, with whatever other results are waiting, in one
    /// transaction; the extractions' ends are signalled once it is written.
    pub(super) async fn commit(&self, finished: Finished) {
        self.finished.lock().expect("never poisoned").push(finished);
        let _writing = self.writing.lock().await;
        let batch = std::mem::take(&mut *self.finished.lock().expect("never poisoned"));
        if batch.is_empty() {
            return; // an earlier commit took this result along
        }
        if let Err(error) = self.commit_batch(&batch).await {
            tracing::error!(%error, results = batch.len(), "cannot record schemas");
        }
        for finished in batch {
            let _ = finished.done.send(true);
        }
    }

    /// Writes the results that are still current (no newer content, file still there).
    async fn commit_batch(&self, batch: &[Finished]) -> Result<(), ScanError> {
        let mut upserts = Vec::new();
        let mut declared = Vec::new();
        for finished in batch {
            if !self.jobs.finish(&finished.script.path, finished.id) {
                continue;
            }
            write_sidecar(&finished.script, &finished.loaded);
            declared.push(deps_sync::declared_by(&finished.script));
            upserts.push(upsert_for(
                finished.script.clone(),
                Some(finished.loaded.clone()),
            ));
        }
        if upserts.is_empty() {
            return Ok(());
        }
        self.catalog.apply_scan(upserts, Vec::new()).await?;
        if let Some(deps) = &self.deps {
            deps.sync_scan(declared).await?;
        }
        self.catalog_changed();
        Ok(())
    }
}

/// An extraction's result on its way to the catalog.
pub(super) struct Finished {
    pub script: FoundScript,
    pub id: u64,
    pub loaded: Result<serde_json::Value, String>,
    pub done: tokio::sync::watch::Sender<bool>,
}

fn upsert_for(
    script: FoundScript,
    load: Option<Result<serde_json::Value, String>>,
) -> ScriptUpsert {
    ScriptUpsert {
        path: script.path,
        runtime: script.runtime,
        entry: script.entry,
        name: script.name,
        group_path: script.group_path,
        description: script.description,
        file_hash: script.file_hash,
        file_size: script.file_size,
        load,
    }
}

fn write_sidecar(script: &FoundScript, loaded: &Result<serde_json::Value, String>) {
    let result = match loaded {
        Ok(schema) => sidecar::write(&script.absolute, schema),
        Err(_) => sidecar::remove(&script.absolute),
    };
    if let Err(error) = result {
        tracing::warn!(path = %script.path, %error, "cannot update the schema sidecar");
    }
}

fn restore_missing_sidecar(script: &FoundScript, schema: Option<&serde_json::Value>) {
    if let Some(schema) = schema {
        if !sidecar::path_for(&script.absolute).exists() {
            write_sidecar(script, &Ok(schema.clone()));
        }
    }
}
