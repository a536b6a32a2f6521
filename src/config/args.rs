//! The derived command-line arguments of the process-level configuration. The flags of the
//! runtime settings are not written here: they come from the settings table.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::process::contain::{Choice, RunAsChoice};

use super::parse::positive_seconds;
use super::setting_flags::{EveryCommand, ServeOnly, SettingFlags};

/// Where scripts and state live, and how scripts are loaded. Shared by every command.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// Folder holding `python/` and `js/` scripts.
    #[arg(long, env = "SG_SCRIPTS_REPO", default_value = "./scripts_repo")]
    pub scripts_repo: PathBuf,
    /// Folder for the catalog database, dependency caches, run outputs and logs.
    #[arg(long, env = "SG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The catalog (scripts, runs, settings, keys): `postgres://USER@HOST:PORT/DATABASE` puts
    /// it on PostgreSQL; without it, it is `gateway.db` (SQLite) in the data folder.
    #[arg(long, env = "SG_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// This node's name in a PostgreSQL catalog, under which it records what lives on its
    /// own disk (dependency caches); default: the host name and a digest of the data folder.
    #[arg(long, env = "SG_NODE_NAME")]
    pub node_name: Option<String>,
    /// Python interpreter (a name looked up on PATH, or a path).
    #[arg(long, env = "SG_PYTHON", default_value = "python3")]
    pub python: String,
    /// Node.js interpreter (a name looked up on PATH, or a path).
    #[arg(long, env = "SG_NODE", default_value = "node")]
    pub node: String,
    /// Schema extractions run at once (default: the number of cores).
    #[arg(long, env = "SG_SCAN_CONCURRENCY")]
    pub scan_concurrency: Option<usize>,
    /// Log filter, e.g. `info` or `script_gateway=debug`.
    #[arg(long, env = "SG_LOG", default_value = "info,tracing_actix_web=error")]
    pub log: String,
    /// Log line format.
    #[arg(long, env = "SG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How run process trees are contained: `auto` (a cgroup per run where the host offers
    /// one, else the gateway as child subreaper), `cgroup` (refuse to start without), or
    /// `subreaper`.
    #[arg(long, env = "SG_CONTAINMENT", default_value = "auto")]
    pub containment: Choice,
    /// The user scripts run as: `auto` (an unprivileged user, `scriptgateway` or `nobody`,
    /// when the gateway runs as root and that user can reach the scripts), `off`, or a user
    /// name or id.
    #[arg(long, env = "SG_RUN_AS", default_value = "auto")]
    pub run_as: RunAsChoice,
    #[command(flatten)]
    pub deps: DepsArgs,
    /// The runtime settings every command takes (`--schema-timeout-sec`).
    #[command(flatten)]
    pub settings: SettingFlags<EveryCommand>,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SG_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the chosen address is printed).
    #[arg(long, env = "SG_PORT", default_value_t = 8001)]
    pub port: u16,
    /// Key every /api/* request must present (Authorization: Bearer KEY or X-API-Key: KEY).
    #[arg(long, env = "SG_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Serve a non-loopback address without an API key.
    #[arg(long, env = "SG_ALLOW_UNAUTHENTICATED", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unauthenticated: bool,
    /// On SIGTERM/SIGINT, seconds running runs get to finish before they are stopped.
    #[arg(long, env = "SG_SHUTDOWN_GRACE_SEC", default_value_t = 30.0, value_parser = positive_seconds)]
    pub shutdown_grace_sec: f64,
    /// The runtime settings only `serve` takes (run limits, notifications, retention, …).
    #[command(flatten)]
    pub settings: SettingFlags<ServeOnly>,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// How script dependencies are installed.
#[derive(Debug, Clone, Args)]
pub struct DepsArgs {
    /// Seconds one dependency install may take before it is stopped.
    #[arg(long, env = "SG_DEPS_INSTALL_TIMEOUT_SEC", default_value_t = 600.0, value_parser = positive_seconds)]
    pub deps_install_timeout_sec: f64,
    /// uv for Python installs (a name looked up on PATH, or a path); `off` always uses pip.
    #[arg(long, env = "SG_UV", default_value = "uv")]
    pub uv: String,
    /// npm for JS installs (a name looked up on PATH, or a path).
    #[arg(long, env = "SG_NPM", default_value = "npm")]
    pub npm: String,
    /// Extra arguments for every Python install, uv or pip, split on whitespace
    /// (e.g. "--no-index --find-links=/srv/wheels").
    #[arg(
        long,
        env = "SG_PYTHON_INSTALL_ARGS",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub python_install_args: String,
    /// Extra arguments for every npm install, split on whitespace (e.g. "--offline").
    #[arg(
        long,
        env = "SG_NPM_INSTALL_ARGS",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub npm_install_args: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
