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

    /// Records extraction `id` of `script`, unless a newer one replaced it or its file went.
    pub(super) async fn commit(
        &self,
        script: FoundScript,
        id: u64,
        loaded: Result<serde_json::Value, String>,
    ) -> Result<(), ScanError> {
        let _writing = self.writing.lock().await;
        if !self.jobs.finish(&script.path, id) {
            return Ok(());
        }
        write_sidecar(&script, &loaded);
        let declared = deps_sync::declared_by(&script);
        self.catalog
            .apply_scan(vec![upsert_for(script, Some(loaded))], Vec::new())
            .await?;
        if let Some(deps) = &self.deps {
            deps.sync_scan(vec![declared]).await?;
        }
        self.catalog_changed();
        Ok(())
    }
}

fn upsert_for(
    script: FoundScript,
    load: Option<Result<serde_json::Value, String>>,
) -> ScriptUpsert {
    ScriptUpsert {
        path: script.path,
        runtime: script.runtime,
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
