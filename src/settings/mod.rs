//! Runtime settings: every key resolved database > startup configuration (flags, then
//! environment) > default, validated on write, and applied live through a watch channel.
//! `defs` declares each setting once (key, type, bounds, default, description, its flags and
//! environment variables); `config` builds the command line from it; `effective` types it.

mod defs;
mod effective;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::watch;

pub use defs::{all as definitions, Def, Flag, Kind, Scope};
pub use effective::{Effective, RunSettings};

/// A setting given at start: its key, its value in the setting's unit, and where it came from.
pub type StartupValue = (&'static str, Value, Source);

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    Env,
    Cli,
    Db,
}

/// A setting as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingView {
    pub key: &'static str,
    pub value: Value,
    pub source: Source,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub default: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The words a choice takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<&'static [&'static str]>,
    pub description: &'static str,
}

/// Why an update was refused, per key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingProblem {
    pub key: String,
    pub message: String,
}

/// The live settings of a running gateway.
pub struct Settings {
    defs: Vec<Def>,
    startup: BTreeMap<&'static str, (Value, Source)>,
    stored: RwLock<BTreeMap<String, Value>>,
    current: watch::Sender<Arc<Effective>>,
}

impl Settings {
    /// `startup` holds values given by flag or environment; `stored` what the database holds.
    pub fn new(
        cores: usize,
        startup: Vec<StartupValue>,
        stored: BTreeMap<String, Value>,
    ) -> Settings {
        let defs = defs::all(cores);
        let mut startup_values = BTreeMap::new();
        for (key, value, source) in startup {
            match defs
                .iter()
                .find(|d| d.key == key)
                .map(|d| defs::validate(d, &value))
            {
                Some(Ok(value)) => {
                    startup_values.insert(key, (value, source));
                }
                Some(Err(problem)) => {
                    tracing::warn!(key, problem, "ignoring an invalid startup value")
                }
                None => tracing::warn!(key, "ignoring an unknown startup setting"),
            }
        }
        let stored = valid_stored(&defs, stored);
        let effective = Arc::new(Effective::from_values(&resolve(
            &defs,
            &startup_values,
            &stored,
        )));
        Settings {
            defs,
            startup: startup_values,
            stored: RwLock::new(stored),
            current: watch::channel(effective).0,
        }
    }

    pub fn current(&self) -> Arc<Effective> {
        self.current.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Effective>> {
        self.current.subscribe()
    }

    pub fn list(&self) -> Vec<SettingView> {
        let stored = self.stored.read().expect("not poisoned");
        self.defs
            .iter()
            .map(|def| self.view(def, &stored))
            .collect()
    }

    fn view(&self, def: &Def, stored: &BTreeMap<String, Value>) -> SettingView {
        let (value, source) = value_of(def, &self.startup, stored);
        let (min, max) = match def.kind {
            Kind::Integer { min, max } => (Some(min as f64), Some(max as f64)),
            Kind::Number { min, max } => (Some(min), Some(max)),
            Kind::Url | Kind::Boolean | Kind::Choice(_) => (None, None),
        };
        SettingView {
            key: def.key,
            value,
            source,
            kind: def.kind.name(),
            default: def.default.clone(),
            min,
            max,
            choices: match def.kind {
                Kind::Choice(choices) => Some(choices),
                _ => None,
            },
            description: def.description,
        }
    }

    /// Validates every change (unknown keys included); all or nothing.
    pub fn validate(
        &self,
        changes: &Map<String, Value>,
    ) -> Result<Vec<(String, Value)>, Vec<SettingProblem>> {
        let mut valid = Vec::new();
        let mut problems = Vec::new();
        for (key, value) in changes {
            let problem = |message: String| SettingProblem {
                key: key.clone(),
                message,
            };
            match self.defs.iter().find(|d| d.key == key) {
                None => problems.push(problem("is not a setting".into())),
                Some(def) => match defs::validate(def, value) {
                    Ok(value) => valid.push((key.clone(), value)),
                    Err(message) => problems.push(problem(message)),
                },
            }
        }
        if problems.is_empty() {
            Ok(valid)
        } else {
            Err(problems)
        }
    }

    /// Applies validated values (already stored) and tells every part using them.
    pub fn apply(&self, values: Vec<(String, Value)>) {
        let mut stored = self.stored.write().expect("not poisoned");
        stored.extend(values);
        self.publish(&stored);
    }

    /// Forgets the stored values of `keys`, falling back to startup or default.
    pub fn reset(&self, keys: &[String]) {
        let mut stored = self.stored.write().expect("not poisoned");
        for key in keys {
            stored.remove(key);
        }
        self.publish(&stored);
    }

    pub fn is_known(&self, key: &str) -> bool {
        self.defs.iter().any(|d| d.key == key)
    }

    fn publish(&self, stored: &BTreeMap<String, Value>) {
        let next = Effective::from_values(&resolve(&self.defs, &self.startup, stored));
        self.current.send_if_modified(|current| {
            let changed = **current != next;
            if changed {
                *current = Arc::new(next);
            }
            changed
        });
    }
}

fn valid_stored(defs: &[Def], stored: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    stored
        .into_iter()
        .filter(|(key, value)| match defs.iter().find(|d| d.key == key) {
            Some(def) => defs::validate(def, value).is_ok(),
            None => false,
        })
        .collect()
}

fn value_of(
    def: &Def,
    startup: &BTreeMap<&'static str, (Value, Source)>,
    stored: &BTreeMap<String, Value>,
) -> (Value, Source) {
    if let Some(value) = stored.get(def.key) {
        return (value.clone(), Source::Db);
    }
    if let Some((value, source)) = startup.get(def.key) {
        return (value.clone(), *source);
    }
    (def.default.clone(), Source::Default)
}

fn resolve(
    defs: &[Def],
    startup: &BTreeMap<&'static str, (Value, Source)>,
    stored: &BTreeMap<String, Value>,
) -> BTreeMap<&'static str, Value> {
    defs.iter()
        .map(|def| (def.key, value_of(def, startup, stored).0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source_of(settings: &Settings, key: &str) -> (Value, Source) {
        let view = settings.list().into_iter().find(|v| v.key == key).unwrap();
        (view.value, view.source)
    }

    use std::time::Duration;

    #[test]
    fn database_beats_startup_beats_default() {
        let startup = vec![
            ("timeout_sec", json!(120.0), Source::Env),
            ("max_queued_runs", json!(5), Source::Cli),
        ];
        let stored = BTreeMap::from([("max_queued_runs".to_string(), json!(9))]);
        let settings = Settings::new(2, startup, stored);
        assert_eq!(
            source_of(&settings, "timeout_sec"),
            (json!(120.0), Source::Env)
        );
        assert_eq!(
            source_of(&settings, "max_queued_runs"),
            (json!(9), Source::Db)
        );
        assert_eq!(
            source_of(&settings, "max_concurrent_runs"),
            (json!(4), Source::Default)
        );
        assert_eq!(settings.current().run.timeout, Duration::from_secs(120));
        assert_eq!(settings.current().max_queued_runs, 9);
        settings.reset(&["max_queued_runs".into()]);
        assert_eq!(
            source_of(&settings, "max_queued_runs"),
            (json!(5), Source::Cli)
        );
    }

    #[test]
    fn updates_are_all_or_nothing_and_name_each_bad_key() {
        let settings = Settings::new(2, vec![], BTreeMap::new());
        let changes = json!({"timeout_sec": 5, "nope": 1, "max_concurrent_runs": -3});
        let problems = settings.validate(changes.as_object().unwrap()).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["nope", "max_concurrent_runs"], "in the order given");
        let valid = settings
            .validate(json!({"timeout_sec": 5}).as_object().unwrap())
            .unwrap();
        let changes = settings.subscribe();
        settings.apply(valid);
        assert!(changes.has_changed().unwrap(), "subscribers hear about it");
        assert_eq!(settings.current().run.timeout, Duration::from_secs(5));
        assert_eq!(source_of(&settings, "timeout_sec").1, Source::Db);
    }

    #[test]
    fn invalid_stored_and_startup_values_are_ignored() {
        let stored = BTreeMap::from([
            ("timeout_sec".to_string(), json!("soon")),
            ("gone".to_string(), json!(1)),
        ]);
        let settings = Settings::new(2, vec![("max_processes", json!(-1), Source::Env)], stored);
        assert_eq!(source_of(&settings, "timeout_sec").1, Source::Default);
        assert_eq!(source_of(&settings, "max_processes").1, Source::Default);
    }

    #[test]
    fn zero_means_off_for_limits_and_retention() {
        let startup = vec![
            ("memory_limit_mb", json!(0), Source::Cli),
            ("run_retention_days", json!(0), Source::Env),
            ("scan_interval_sec", json!(0), Source::Env),
        ];
        let effective = Settings::new(2, startup, BTreeMap::new()).current();
        assert_eq!(effective.run.address_space_bytes, None);
        assert_eq!(effective.run_retention, None);
        assert_eq!(effective.scan_interval, None);
        assert_eq!(effective.run.open_files, Some(1024));
    }
}
