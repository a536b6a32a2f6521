//! The scanner's side of dependency caches: hand each scan's declarations to the
//! dependency manager, and learn when an install finished (to extract schemas again).

use std::collections::HashSet;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::deps::{DepsKey, ScriptDeclared};

use super::discover::FoundScript;
use super::plan::Plan;

/// What every script found by a scan declares.
pub fn declared(plan: &Plan) -> Vec<ScriptDeclared> {
    plan.actions
        .iter()
        .map(|(script, _)| declared_by(script))
        .collect()
}

/// What one script declares.
pub fn declared_by(script: &FoundScript) -> ScriptDeclared {
    ScriptDeclared {
        path: script.path.clone(),
        runtime: script.runtime,
        declared: script.deps.clone(),
    }
}

/// The next finished install; never resolves without a receiver (or once it is closed).
pub async fn next_installed(receiver: &mut Option<broadcast::Receiver<DepsKey>>) -> DepsKey {
    if let Some(rx) = receiver {
        loop {
            match rx.recv().await {
                Ok(key) => return key,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "missed finished installs; their schemas refresh on the next change"
                    );
                }
                Err(RecvError::Closed) => break,
            }
        }
        *receiver = None;
    }
    std::future::pending().await
}

/// Adds the installs that finished meanwhile to `keys`.
pub fn drain(receiver: &mut Option<broadcast::Receiver<DepsKey>>, keys: &mut HashSet<DepsKey>) {
    if let Some(rx) = receiver {
        while let Ok(key) = rx.try_recv() {
            keys.insert(key);
        }
    }
}
