//! Script management: create, edit and delete script files, and the templates new scripts
//! start from. Every write is followed by a scan that waits only for the written file's own
//! extraction, so the answer carries the new schema (or the reason it failed to load) as soon
//! as it is known, however slow other scripts are, and the watcher finds nothing left to do.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::catalog::{Catalog, CatalogError, Script};
use crate::domain::Runtime;
use crate::repo::{RepoError, ScriptPath, ScriptRepo};
use crate::scanner::{ScanError, Scanner};

const DEFAULT_PYTHON_TEMPLATE: &str = include_str!("../templates/python.py");
const DEFAULT_JS_TEMPLATE: &str = include_str!("../templates/js.js");

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("no script with id {0}")]
    NotFound(i64),
    #[error("{0} would not be a script: {rule}", rule = crate::domain::SCRIPT_RULE)]
    NotAScript(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("file task failed: {0}")]
    Task(String),
}

/// A template and whether an operator replaced the built-in one.
#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub runtime: Runtime,
    pub content: String,
    pub custom: bool,
}

pub struct ScriptManager {
    repo: ScriptRepo,
    scanner: Arc<Scanner>,
    catalog: Catalog,
    templates_dir: PathBuf,
}

impl ScriptManager {
    pub fn new(
        scripts_repo: PathBuf,
        scanner: Arc<Scanner>,
        catalog: Catalog,
        templates_dir: PathBuf,
    ) -> ScriptManager {
        ScriptManager {
            repo: ScriptRepo::new(scripts_repo),
            scanner,
            catalog,
            templates_dir,
        }
    }

    /// Writes a new script and returns it as the scan recorded it.
    pub async fn create(&self, path: &str, content: String) -> Result<Script, ManageError> {
        let path = self.repo.resolve(path)?;
        ensure_script(&path, &content)?;
        self.blocking({
            let (repo, path) = (self.repo.clone(), path.clone());
            move || repo.write(&path, &content, true)
        })
        .await?;
        self.rescanned(&path).await
    }

    /// A new script from its runtime's template.
    pub async fn create_from_template(&self, path: &str) -> Result<Script, ManageError> {
        let runtime = self.repo.resolve(path)?.runtime;
        let template = self.template(runtime).await?;
        self.create(path, template.content).await
    }

    pub async fn content(&self, id: i64) -> Result<(Script, String), ManageError> {
        let (script, path) = self.script_path(id).await?;
        let content = self
            .blocking({
                let repo = self.repo.clone();
                move || repo.read(&path)
            })
            .await?;
        Ok((script, content))
    }

    pub async fn update(&self, id: i64, content: String) -> Result<Script, ManageError> {
        let (_, path) = self.script_path(id).await?;
        ensure_script(&path, &content)?;
        self.blocking({
            let (repo, path) = (self.repo.clone(), path.clone());
            move || repo.write(&path, &content, false)
        })
        .await?;
        self.rescanned(&path).await
    }

    /// Removes the file (and, through the scan, its sidecar); the run history stays.
    pub async fn delete(&self, id: i64) -> Result<Script, ManageError> {
        let (script, path) = self.script_path(id).await?;
        self.blocking({
            let repo = self.repo.clone();
            move || repo.delete(&path)
        })
        .await?;
        self.scanner.scan_for(&script.path).await?;
        Ok(script)
    }

    pub async fn template(&self, runtime: Runtime) -> Result<Template, ManageError> {
        let custom = self.templates_dir.join(template_file(runtime));
        match tokio::fs::read_to_string(&custom).await {
            Ok(content) => Ok(Template {
                runtime,
                content,
                custom: true,
            }),
            Err(_) => Ok(Template {
                runtime,
                content: default_template(runtime).to_string(),
                custom: false,
            }),
        }
    }

    pub async fn set_template(
        &self,
        runtime: Runtime,
        content: String,
    ) -> Result<Template, ManageError> {
        let io = |source| RepoError::Io {
            path: format!("templates/{}", template_file(runtime)),
            source,
        };
        tokio::fs::create_dir_all(&self.templates_dir)
            .await
            .map_err(io)?;
        tokio::fs::write(self.templates_dir.join(template_file(runtime)), &content)
            .await
            .map_err(io)?;
        Ok(Template {
            runtime,
            content,
            custom: true,
        })
    }

    /// Drops a custom template: new scripts start from the built-in one again.
    pub async fn reset_template(&self, runtime: Runtime) -> Result<Template, ManageError> {
        match tokio::fs::remove_file(self.templates_dir.join(template_file(runtime))).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(RepoError::Io {
                    path: format!("templates/{}", template_file(runtime)),
                    source: error,
                }
                .into())
            }
            _ => {}
        }
        Ok(Template {
            runtime,
            content: default_template(runtime).to_string(),
            custom: false,
        })
    }

    /// The file name a template downloads as.
    pub fn template_file_name(runtime: Runtime) -> &'static str {
        template_file(runtime)
    }

    async fn script_path(&self, id: i64) -> Result<(Script, ScriptPath), ManageError> {
        let script = self
            .catalog
            .script(id)
            .await?
            .ok_or(ManageError::NotFound(id))?;
        let path = self.repo.resolve(&script.path)?;
        Ok((script, path))
    }

    async fn rescanned(&self, path: &ScriptPath) -> Result<Script, ManageError> {
        self.scanner.scan_for(&path.relative).await?;
        let found = self.catalog.script_by_path(path.relative.clone()).await?;
        found.ok_or_else(|| {
            RepoError::InvalidPath(format!(
                "{} is not a script: {}",
                path.relative,
                crate::domain::SCRIPT_RULE
            ))
            .into()
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, RepoError> + Send + 'static,
    ) -> Result<T, ManageError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ManageError::Task(e.to_string()))?
            .map_err(ManageError::from)
    }
}

/// Content that is no script would make the scan drop the file from the catalog: refuse it
/// before anything is written.
fn ensure_script(path: &ScriptPath, content: &str) -> Result<(), ManageError> {
    if path.runtime.is_script_source(content) {
        Ok(())
    } else {
        Err(ManageError::NotAScript(path.relative.clone()))
    }
}

fn template_file(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Python => "python.py",
        Runtime::Js => "js.js",
    }
}

pub fn default_template(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Python => DEFAULT_PYTHON_TEMPLATE,
        Runtime::Js => DEFAULT_JS_TEMPLATE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_templates_follow_the_convention() {
        for runtime in Runtime::ALL {
            let template = default_template(runtime);
            assert!(runtime.is_script_source(template), "{runtime}");
            assert!(
                template.contains("\"name\"") || template.contains("name:"),
                "{runtime}"
            );
        }
    }
}
