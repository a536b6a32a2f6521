//! Typed process-level configuration: command-line flags beat environment variables, which
//! beat defaults. The runtime settings' flags come from the settings table (`settings`); this
//! is the only module that reads the process environment.

mod args;
mod deps;
mod parse;
mod setting_flags;

use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::contain::{self, Choice, RunAsChoice};
use crate::settings::StartupValue;

pub use self::args::{DepsArgs, LogFormat, RepoArgs, ServeArgs};
pub use self::deps::DepsSettings;
pub use self::setting_flags::{EveryCommand, ServeOnly, SettingFlags};
/// The run limits are a runtime setting; kept here for the parts that import them from here.
pub use crate::settings::RunSettings;

/// A secret that never shows up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// How scripts are found and loaded.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub scripts_repo: PathBuf,
    pub concurrency: usize,
}

/// Where the catalog lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogLocation {
    /// The embedded default: `gateway.db` in the data folder.
    Sqlite(PathBuf),
    /// A PostgreSQL database, shared by the nodes that name it; `node` is this node's name.
    Postgres { url: String, node: String },
}

/// Everything the gateway needs, resolved once at start.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    pub catalog: CatalogLocation,
    pub api_key: Option<ApiKey>,
    pub allow_unauthenticated: bool,
    pub scan: ScanConfig,
    /// On SIGTERM/SIGINT, how long running runs get to finish.
    pub shutdown_grace: Duration,
    /// Runtime settings given by flag or environment (the database may override them).
    pub startup_settings: Vec<StartupValue>,
    pub python: String,
    pub node: String,
    /// The PATH children get (the rest of their environment is built from scratch).
    pub child_path: OsString,
    /// The same PATH split into folders, where interpreters and installers are looked up.
    pub search_path: Vec<PathBuf>,
    pub deps: DepsSettings,
    pub containment: Choice,
    pub run_as: RunAsChoice,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("refusing to serve {0} without an API key: set --api-key / SG_API_KEY, or pass --allow-unauthenticated")]
    UnauthenticatedPublicAddress(IpAddr),
    #[error("the API key must not be empty")]
    EmptyApiKey,
    #[error("--database must be a postgres:// or postgresql:// URL (without it the catalog is SQLite in the data folder), not {0:?}")]
    Database(String),
    #[error("a node name is letters, digits and . _ : - only, not {0:?}")]
    NodeName(String),
    #[error("cannot use {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    pub fn for_serve(args: &ServeArgs) -> Result<Config, ConfigError> {
        let api_key = match args.api_key.as_deref().map(str::trim) {
            Some("") => return Err(ConfigError::EmptyApiKey),
            Some(key) => Some(ApiKey(key.to_string())),
            None => None,
        };
        if api_key.is_none() && !args.host.is_loopback() && !args.allow_unauthenticated {
            return Err(ConfigError::UnauthenticatedPublicAddress(args.host));
        }
        let mut config = Config::for_repo(&args.repo)?;
        config.host = args.host;
        config.port = args.port;
        config.api_key = api_key;
        config.allow_unauthenticated = args.allow_unauthenticated;
        config.shutdown_grace = Duration::from_secs_f64(args.shutdown_grace_sec);
        config
            .startup_settings
            .extend(args.settings.given.iter().cloned());
        Ok(config)
    }

    pub fn for_repo(args: &RepoArgs) -> Result<Config, ConfigError> {
        let scripts_repo = absolute_folder(&args.scripts_repo)?;
        let data_dir = absolute_folder(&args.data_dir)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let child_path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let search_path: Vec<PathBuf> = std::env::split_paths(&child_path).collect();
        let catalog = catalog_location(args, &data_dir)?;
        Ok(Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8001,
            catalog,
            data_dir,
            api_key: None,
            allow_unauthenticated: false,
            scan: ScanConfig {
                scripts_repo,
                concurrency: args.scan_concurrency.unwrap_or(cores).clamp(1, 64),
            },
            shutdown_grace: Duration::from_secs(30),
            startup_settings: args.settings.given.clone(),
            python: args.python.clone(),
            node: args.node.clone(),
            deps: DepsSettings::from_args(&args.deps, std::env::vars_os(), search_path.clone()),
            child_path,
            search_path,
            containment: args.containment,
            run_as: args.run_as.clone(),
        })
    }

    /// One folder per run: uploads, working directory, outputs.
    pub fn runs_dir(&self) -> PathBuf {
        self.data_dir.join("runs")
    }

    /// How child trees are contained, and which folders the run user must reach.
    pub fn containment_request(&self) -> contain::Request {
        let mut reachable = vec![self.scan.scripts_repo.clone()];
        if let Some(parent) = self.data_dir.parent() {
            reachable.push(parent.to_path_buf());
        }
        contain::Request {
            choice: self.containment,
            run_as: self.run_as.clone(),
            data_dir: self.data_dir.clone(),
            reachable,
        }
    }

    /// Scratch space for schema extractions.
    pub fn scratch_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }
}

/// The catalog `--database` names, SQLite in the data folder without it.
fn catalog_location(args: &RepoArgs, data_dir: &Path) -> Result<CatalogLocation, ConfigError> {
    let Some(url) = args
        .database
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Ok(CatalogLocation::Sqlite(data_dir.join("gateway.db")));
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        // The URL may carry a password: show only its scheme.
        let scheme = url
            .split_once("://")
            .map_or("(no scheme)", |(scheme, _)| scheme);
        return Err(ConfigError::Database(format!("{scheme}://…")));
    }
    let node = match &args.node_name {
        Some(name) => name.trim().to_string(),
        None => default_node_name(data_dir),
    };
    if !crate::catalog::postgres::is_node_name(&node) {
        return Err(ConfigError::NodeName(node));
    }
    Ok(CatalogLocation::Postgres {
        url: url.to_string(),
        node,
    })
}

/// The host's name and a digest of the data folder: two gateways on one host keep their
/// dependency caches in different folders, so they are different nodes.
fn default_node_name(data_dir: &Path) -> String {
    use md5::{Digest, Md5};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let digest = hex::encode(Md5::digest(data_dir.as_os_str().as_encoded_bytes()));
    format!("{host}:{}", &digest[..8])
}

/// Creates the folder if needed and returns its absolute, canonical path.
fn absolute_folder(path: &Path) -> Result<PathBuf, ConfigError> {
    let folder_error = |source| ConfigError::Folder {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(folder_error)?;
    path.canonicalize().map_err(folder_error)
}

#[cfg(test)]
mod tests;
