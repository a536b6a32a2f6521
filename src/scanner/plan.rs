//! Decides, without touching anything, what a scan must do with each file.

use std::collections::HashMap;

use serde_json::Value;

use crate::catalog::ScriptIndexEntry;

use super::discover::FoundScript;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// New path: extract.
    Add,
    /// Content changed (or a forced scan): extract.
    Update,
    /// Came back with the content it had when removed: reuse the stored schema.
    Revive { stored_schema: Option<Value> },
    /// Same content, but it now belongs to another group: update without extracting.
    Regroup,
    /// Nothing to do.
    Unchanged { stored_schema: Option<Value> },
}

#[derive(Debug)]
pub struct Plan {
    pub actions: Vec<(FoundScript, Action)>,
    /// Live catalog entries whose file is gone.
    pub removed: Vec<ScriptIndexEntry>,
}

impl Plan {
    pub fn new(found: Vec<FoundScript>, index: Vec<ScriptIndexEntry>, force: bool) -> Plan {
        let mut known: HashMap<String, ScriptIndexEntry> =
            index.into_iter().map(|e| (e.path.clone(), e)).collect();
        let actions = found
            .into_iter()
            .map(|script| {
                let action = match known.remove(&script.path) {
                    None => Action::Add,
                    Some(entry) => decide(&script, entry, force),
                };
                (script, action)
            })
            .collect();
        let mut removed: Vec<_> = known.into_values().filter(|e| !e.deleted).collect();
        removed.sort_by(|a, b| a.path.cmp(&b.path));
        Plan { actions, removed }
    }

    /// Extracts again the unchanged scripts `wanted` picks (their dependencies were just installed).
    pub fn reextract(&mut self, wanted: impl Fn(&FoundScript) -> bool) {
        for (script, action) in &mut self.actions {
            if matches!(action, Action::Unchanged { .. }) && wanted(script) {
                *action = Action::Update;
            }
        }
    }

    pub fn to_extract(&self) -> Vec<FoundScript> {
        self.actions
            .iter()
            .filter(|(_, action)| matches!(action, Action::Add | Action::Update))
            .map(|(script, _)| script.clone())
            .collect()
    }
}

fn decide(script: &FoundScript, entry: ScriptIndexEntry, force: bool) -> Action {
    if force {
        return if entry.deleted {
            Action::Add
        } else {
            Action::Update
        };
    }
    if entry.file_hash != script.file_hash {
        return if entry.deleted {
            Action::Add
        } else {
            Action::Update
        };
    }
    if entry.deleted {
        return Action::Revive {
            stored_schema: entry.args_schema,
        };
    }
    if entry.entry != script.entry {
        // Same content, but stored before the gateway knew SDK scripts: read it again.
        return Action::Update;
    }
    if entry.group_path != script.group_path {
        return Action::Regroup;
    }
    Action::Unchanged {
        stored_schema: entry.args_schema,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Runtime;

    fn found(path: &str, hash: &str) -> FoundScript {
        FoundScript {
            path: path.into(),
            absolute: path.into(),
            runtime: Runtime::Python,
            entry: crate::domain::EntryKind::Classic,
            name: path.into(),
            group_path: None,
            description: None,
            file_hash: hash.into(),
            file_size: 1,
            deps: Default::default(),
        }
    }

    fn entry(id: i64, path: &str, hash: &str, deleted: bool) -> ScriptIndexEntry {
        ScriptIndexEntry {
            id,
            path: path.into(),
            file_hash: hash.into(),
            group_path: None,
            deleted,
            args_schema: None,
            entry: crate::domain::EntryKind::Classic,
        }
    }

    #[test]
    fn each_file_gets_the_cheapest_correct_action() {
        let mut regrouped = found("regrouped.py", "h");
        regrouped.group_path = Some("python/g".into());
        let plan = Plan::new(
            vec![
                found("new.py", "h"),
                found("same.py", "h"),
                found("edited.py", "h2"),
                found("back.py", "h"),
                found("back_edited.py", "h2"),
                regrouped,
            ],
            vec![
                entry(1, "same.py", "h", false),
                entry(2, "edited.py", "h1", false),
                entry(3, "back.py", "h", true),
                entry(4, "back_edited.py", "h1", true),
                entry(5, "gone.py", "h", false),
                entry(6, "long_gone.py", "h", true),
                entry(7, "regrouped.py", "h", false),
            ],
            false,
        );
        let actions: Vec<_> = plan
            .actions
            .iter()
            .map(|(s, a)| (s.path.as_str(), a.clone()))
            .collect();
        assert_eq!(
            actions,
            [
                ("new.py", Action::Add),
                (
                    "same.py",
                    Action::Unchanged {
                        stored_schema: None
                    }
                ),
                ("edited.py", Action::Update),
                (
                    "back.py",
                    Action::Revive {
                        stored_schema: None
                    }
                ),
                ("back_edited.py", Action::Add),
                ("regrouped.py", Action::Regroup),
            ]
        );
        assert_eq!(
            plan.removed.iter().map(|e| e.id).collect::<Vec<_>>(),
            [5],
            "already-deleted rows stay deleted"
        );
        let extract: Vec<_> = plan.to_extract().into_iter().map(|s| s.path).collect();
        assert_eq!(extract, ["new.py", "edited.py", "back_edited.py"]);
    }

    #[test]
    fn a_script_stored_with_another_start_is_extracted_again() {
        let mut sdk = found("sdk.py", "h");
        sdk.entry = crate::domain::EntryKind::PythonSdk;
        let plan = Plan::new(vec![sdk], vec![entry(1, "sdk.py", "h", false)], false);
        assert_eq!(plan.actions[0].1, Action::Update);
    }

    #[test]
    fn a_forced_scan_extracts_everything() {
        let plan = Plan::new(
            vec![found("same.py", "h")],
            vec![entry(1, "same.py", "h", false)],
            true,
        );
        assert_eq!(plan.actions[0].1, Action::Update);
    }
}
