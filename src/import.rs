//! `script-gateway import-original`: brings over what the original gateway kept in its
//! database (script aliases, notification switches, settings) and says what it did with
//! each entry.

use serde_json::{Map, Value};

use crate::catalog::{Catalog, CatalogError, OriginalDatabase, ScriptPatch};
use crate::settings::Settings;

/// What happened to each entry, one line each.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub lines: Vec<String>,
    pub imported: usize,
    pub skipped: usize,
}

impl ImportReport {
    fn imported(&mut self, line: String) {
        self.imported += 1;
        self.lines.push(format!("imported  {line}"));
    }

    fn skipped(&mut self, line: String) {
        self.skipped += 1;
        self.lines.push(format!("skipped   {line}"));
    }
}

/// Applies the original's aliases and notification switches to the scripts found at the
/// same paths (the catalog must have scanned the scripts folder) and stores its settings
/// that have a counterpart here, each validated as `PUT /api/settings` would.
pub async fn import_original(
    catalog: &Catalog,
    settings: &Settings,
    original: OriginalDatabase,
) -> Result<ImportReport, CatalogError> {
    let mut report = ImportReport::default();
    for script in original.scripts {
        let folder = if script.runtime == "python" {
            "python"
        } else {
            "js"
        };
        let path = format!("{folder}/{}", script.filename.trim_start_matches('/'));
        if script.alias.is_none() && !script.notify_enabled {
            continue;
        }
        let Some(found) = catalog.script_by_path(path.clone()).await? else {
            report.skipped(format!("{path}: not in this scripts folder"));
            continue;
        };
        let patch = ScriptPatch {
            alias: script.alias.clone().map(Some),
            notify_enabled: Some(script.notify_enabled),
            ..ScriptPatch::default()
        };
        catalog.patch_script(found.id, patch).await?;
        let alias = script
            .alias
            .map_or_else(String::new, |a| format!("alias {a:?}, "));
        let notify = if script.notify_enabled { "on" } else { "off" };
        report.imported(format!("{path}: {alias}notifications {notify}"));
    }
    let mut valid = Vec::new();
    for (key, text) in original.settings {
        let (ours, value) = match counterpart(&key, &text) {
            Ok(found) => found,
            Err(why) => {
                report.skipped(format!("setting {key}: {why}"));
                continue;
            }
        };
        let change = Map::from_iter([(ours.to_string(), value.clone())]);
        match settings.validate(&change) {
            Ok(mut checked) => {
                report.imported(format!("setting {key} = {text:?} as {ours} = {value}"));
                valid.append(&mut checked);
            }
            Err(problems) => {
                let why = problems.first().map_or("invalid", |p| p.message.as_str());
                report.skipped(format!("setting {key} = {text:?}: {ours} {why}"));
            }
        }
    }
    if !valid.is_empty() {
        catalog.store_settings(valid).await?;
    }
    Ok(report)
}

/// This gateway's setting for one of the original's, with its value; or why there is none.
fn counterpart(key: &str, text: &str) -> Result<(&'static str, Value), String> {
    let number = |scale: f64| {
        text.trim()
            .parse::<f64>()
            .map(|n| n * scale)
            .map_err(|_| format!("{text:?} is not a number"))
    };
    let whole = |n: f64| Value::from(n.round() as i64);
    match key {
        "notify_url" | "base_url" if text.trim().is_empty() => {
            Err("empty (nothing to import)".into())
        }
        "notify_url" => Ok(("notify_url", Value::from(text.trim()))),
        "base_url" => Ok(("base_url", Value::from(text.trim()))),
        "timeout_min" => Ok(("timeout_sec", Value::from(number(60.0)?))),
        "scan_interval" => Ok(("scan_interval_sec", whole(number(1.0)?))),
        "script_log_retention_days" => Err("a script's logs are its runs here, kept for \
             run_retention_days with their outputs and files; set that yourself"
            .into()),
        "gateway_log_retention_days" => {
            Err("the gateway logs to stderr: keep its logs where stderr goes".into())
        }
        "temp_file_cleanup_interval" => {
            Err("run folders are removed by the hourly retention pass".into())
        }
        "local_file_access_patterns" => {
            Err("a file parameter is always an upload here, never a server path".into())
        }
        _ => Err("no counterpart here".into()),
    }
}
