//! Typed configuration. Command-line flags beat environment variables, which beat
//! defaults; this is the only module that reads the process environment.

use crate::process::contain::{self, Choice, RunAsChoice};
use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::settings::Source;

/// Where scripts and state live, and how scripts are loaded. Shared by every command.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// Folder holding `python/` and `js/` scripts.
    #[arg(long, env = "SG_SCRIPTS_REPO", default_value = "./scripts_repo")]
    pub scripts_repo: PathBuf,
    /// Folder for the catalog database, dependency caches, run outputs and logs.
    #[arg(long, env = "SG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Python interpreter (a name looked up on PATH, or a path).
    #[arg(long, env = "SG_PYTHON", default_value = "python3")]
    pub python: String,
    /// Node.js interpreter (a name looked up on PATH, or a path).
    #[arg(long, env = "SG_NODE", default_value = "node")]
    pub node: String,
    /// Seconds a script may take to print its ARGS_MAP before it is killed.
    #[arg(long, env = "SG_SCHEMA_TIMEOUT_SEC", default_value_t = 10.0, value_parser = positive_seconds)]
    pub schema_timeout_sec: f64,
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
    /// Seconds between safety-net rescans besides the file watcher (0 = only the watcher).
    #[arg(long, env = "SCAN_INTERVAL_SEC", default_value_t = 60)]
    pub scan_interval_sec: u64,
    /// Quiet time after a file change before it is picked up, in milliseconds.
    #[arg(long, env = "SG_WATCH_DEBOUNCE_MS", default_value_t = 100)]
    pub watch_debounce_ms: u64,
    /// Where finished runs of scripts with notifications on are POSTed (empty = off).
    #[arg(long, env = "NOTIFY_URL", default_value = "")]
    pub notify_url: String,
    /// Seconds one notification attempt may take.
    #[arg(long, env = "SG_NOTIFY_TIMEOUT_SEC", default_value_t = 5.0, value_parser = positive_seconds)]
    pub notify_timeout_sec: f64,
    /// The gateway's public URL for generated links (empty = the request's host).
    #[arg(long, env = "BASE_URL", default_value = "")]
    pub base_url: String,
    /// Runs older than this many days are deleted with their files (0 = keep forever).
    #[arg(long, env = "SG_RUN_RETENTION_DAYS", default_value_t = 30)]
    pub run_retention_days: u64,
    /// Runs kept per script, oldest deleted first (0 = no cap).
    #[arg(long, env = "SG_MAX_RUNS_PER_SCRIPT", default_value_t = 1000)]
    pub max_runs_per_script: u64,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// How scripts run: time, output and resource limits.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Seconds a run may take before its process tree is stopped (default 300).
    #[arg(long, env = "SG_TIMEOUT_SEC", value_parser = positive_seconds)]
    pub timeout_sec: Option<f64>,
    /// The same limit in minutes, as the original gateway's TIMEOUT_MIN (used when --timeout-sec is not given).
    #[arg(long, env = "TIMEOUT_MIN", value_parser = positive_seconds)]
    pub timeout_min: Option<f64>,
    /// Bytes of stdout and of stderr kept per run, in MiB; a run that prints more is stopped.
    #[arg(long, env = "SG_MAX_OUTPUT_MB", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_output_mb: u64,
    /// Largest accepted multipart run body (file uploads), in MiB.
    #[arg(long, env = "SG_MAX_BODY_MB", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_body_mb: u64,
    /// Largest JSON or form run body (held in memory), in KiB; uploads use --max-body-mb.
    #[arg(long, env = "SG_MAX_JSON_BODY_KB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub max_json_body_kb: u64,
    /// CPU seconds a run may use (0 = no limit).
    #[arg(long, env = "SG_CPU_LIMIT_SEC", default_value_t = 600)]
    pub cpu_limit_sec: u64,
    /// Address space a run may map, in MiB (0 = no limit).
    #[arg(long, env = "SG_MEMORY_LIMIT_MB", default_value_t = 2048)]
    pub memory_limit_mb: u64,
    /// Files a run may hold open at once (0 = no limit).
    #[arg(long, env = "SG_MAX_OPEN_FILES", default_value_t = 1024)]
    pub max_open_files: u64,
    /// Processes and threads a run may have at once (0 = no limit).
    #[arg(long, env = "SG_MAX_PROCESSES", default_value_t = 512)]
    pub max_processes: u64,
    /// Largest file a run may write, in MiB (0 = no limit).
    #[arg(long, env = "SG_MAX_FILE_SIZE_MB", default_value_t = 1024)]
    pub max_file_size_mb: u64,
    /// Disk space a run's folder may take while it runs, in MiB (0 = no limit).
    #[arg(long, env = "SG_MAX_RUN_DISK_MB", default_value_t = 4096)]
    pub max_run_disk_mb: u64,
    /// Runs executing at once (default: twice the number of cores); more wait in the queue.
    #[arg(long, env = "SG_MAX_CONCURRENT_RUNS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_concurrent_runs: Option<u64>,
    /// Runs that may wait for a slot; beyond that a run request gets 429.
    #[arg(long, env = "SG_MAX_QUEUED_RUNS", default_value_t = 100)]
    pub max_queued_runs: usize,
    /// On SIGTERM/SIGINT, seconds running runs get to finish before they are stopped.
    #[arg(long, env = "SG_SHUTDOWN_GRACE_SEC", default_value_t = 30.0, value_parser = positive_seconds)]
    pub shutdown_grace_sec: f64,
}

/// How many runs go at once, and how shutdown treats them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConcurrencySettings {
    pub max_running: usize,
    pub max_queued: usize,
    pub shutdown_grace: Duration,
}

impl ConcurrencySettings {
    pub fn from_args(args: &RunArgs) -> ConcurrencySettings {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ConcurrencySettings {
            max_running: args.max_concurrent_runs.map_or(cores * 2, |n| n as usize),
            max_queued: args.max_queued_runs,
            shutdown_grace: Duration::from_secs_f64(args.shutdown_grace_sec),
        }
    }
}

/// Limits every run gets.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub timeout: Duration,
    pub max_output_bytes: usize,
    pub max_body_bytes: usize,
    pub max_json_body_bytes: usize,
    pub cpu_seconds: Option<u64>,
    pub address_space_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_bytes: Option<u64>,
    pub disk_bytes: Option<u64>,
}

impl RunSettings {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

    pub fn from_args(args: &RunArgs) -> RunSettings {
        const MIB: u64 = 1024 * 1024;
        let nonzero = |v: u64| (v > 0).then_some(v);
        let timeout = match (args.timeout_sec, args.timeout_min) {
            (Some(seconds), _) => Duration::from_secs_f64(seconds),
            (None, Some(minutes)) => Duration::from_secs_f64((minutes * 60.0).min(86_400.0)),
            (None, None) => RunSettings::DEFAULT_TIMEOUT,
        };
        RunSettings {
            timeout,
            max_output_bytes: usize::try_from(args.max_output_mb * MIB).unwrap_or(usize::MAX),
            max_body_bytes: usize::try_from(args.max_body_mb * MIB).unwrap_or(usize::MAX),
            max_json_body_bytes: usize::try_from(args.max_json_body_kb * 1024)
                .unwrap_or(usize::MAX),
            cpu_seconds: nonzero(args.cpu_limit_sec),
            address_space_bytes: nonzero(args.memory_limit_mb).map(|mb| mb * MIB),
            open_files: nonzero(args.max_open_files),
            processes: nonzero(args.max_processes),
            file_size_bytes: nonzero(args.max_file_size_mb).map(|mb| mb * MIB),
            disk_bytes: nonzero(args.max_run_disk_mb).map(|mb| mb * MIB),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400"
        )),
    }
}

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

/// Everything the gateway needs, resolved once at start.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    pub api_key: Option<ApiKey>,
    pub allow_unauthenticated: bool,
    pub scan: ScanConfig,
    pub run: RunSettings,
    pub concurrency: ConcurrencySettings,
    /// Runtime settings given by flag or environment (the database may override them).
    pub startup_settings: Vec<(&'static str, serde_json::Value, Source)>,
    pub python: String,
    pub node: String,
    /// The PATH children get (the rest of their environment is built from scratch).
    pub child_path: OsString,
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
    #[error("cannot use {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// `sources` tells which flags were given on the command line or by environment.
    pub fn for_serve(args: &ServeArgs, sources: &ValueSources) -> Result<Config, ConfigError> {
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
        config.run = RunSettings::from_args(&args.run);
        config.concurrency = ConcurrencySettings::from_args(&args.run);
        config.startup_settings = startup_settings(args, sources);
        Ok(config)
    }

    pub fn for_repo(args: &RepoArgs) -> Result<Config, ConfigError> {
        let scripts_repo = absolute_folder(&args.scripts_repo)?;
        let data_dir = absolute_folder(&args.data_dir)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8001,
            data_dir,
            api_key: None,
            allow_unauthenticated: false,
            scan: ScanConfig {
                scripts_repo,
                concurrency: args.scan_concurrency.unwrap_or(cores).clamp(1, 64),
            },
            run: RunSettings::from_args(&RunArgs {
                timeout_sec: None,
                timeout_min: None,
                max_output_mb: 10,
                max_body_mb: 100,
                max_json_body_kb: 1024,
                cpu_limit_sec: 600,
                memory_limit_mb: 2048,
                max_open_files: 1024,
                max_processes: 512,
                max_file_size_mb: 1024,
                max_run_disk_mb: 4096,
                max_concurrent_runs: None,
                max_queued_runs: 100,
                shutdown_grace_sec: 30.0,
            }),
            concurrency: ConcurrencySettings {
                max_running: cores * 2,
                max_queued: 100,
                shutdown_grace: Duration::from_secs(30),
            },
            // `serve` replaces this with every setting flag and its real source.
            startup_settings: vec![(
                "schema_timeout_sec",
                serde_json::json!(args.schema_timeout_sec),
                Source::Cli,
            )],
            python: args.python.clone(),
            node: args.node.clone(),
            child_path: std::env::var_os("PATH")
                .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
            deps: DepsSettings::from_args(&args.deps, std::env::vars_os()),
            containment: args.containment,
            run_as: args.run_as.clone(),
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("gateway.db")
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

/// Dependency installers and their limits, resolved once.
#[derive(Debug, Clone)]
pub struct DepsSettings {
    pub install_timeout: Duration,
    /// `None` when uv is switched off.
    pub uv: Option<String>,
    pub npm: String,
    pub python_install_args: Vec<String>,
    pub npm_install_args: Vec<String>,
    /// The gateway's own index, proxy and certificate settings, passed to installers only.
    pub installer_env: Vec<(OsString, OsString)>,
}

impl DepsSettings {
    pub fn from_args(
        args: &DepsArgs,
        environment: impl Iterator<Item = (OsString, OsString)>,
    ) -> DepsSettings {
        let words = |text: &str| text.split_whitespace().map(str::to_string).collect();
        let uv = args.uv.trim();
        DepsSettings {
            install_timeout: Duration::from_secs_f64(args.deps_install_timeout_sec),
            uv: (!uv.is_empty() && uv != "off").then(|| uv.to_string()),
            npm: args.npm.clone(),
            python_install_args: words(&args.python_install_args),
            npm_install_args: words(&args.npm_install_args),
            installer_env: environment
                .filter(|(k, _)| is_installer_variable(k))
                .collect(),
        }
    }
}

/// Variables that tell pip, uv and npm where to download from and whom to trust.
fn is_installer_variable(key: &std::ffi::OsStr) -> bool {
    const EXACT: [&str; 13] = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    ];
    const PREFIXES: [&str; 4] = ["PIP_", "UV_", "NPM_CONFIG_", "npm_config_"];
    let key = key.to_string_lossy();
    EXACT.contains(&key.as_ref()) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Where each flag's value came from: the command line, the environment, or its default.
#[derive(Debug, Clone, Default)]
pub struct ValueSources(std::collections::HashMap<&'static str, Source>);

impl ValueSources {
    pub fn from_matches(matches: &clap::ArgMatches) -> ValueSources {
        let mut sources = std::collections::HashMap::new();
        for id in SETTING_FLAGS {
            let source = match matches
                .try_contains_id(id)
                .ok()
                .and_then(|_| matches.value_source(id))
            {
                Some(clap::parser::ValueSource::CommandLine) => Source::Cli,
                Some(clap::parser::ValueSource::EnvVariable) => Source::Env,
                _ => continue,
            };
            sources.insert(*id, source);
        }
        ValueSources(sources)
    }

    fn get(&self, id: &str) -> Option<Source> {
        self.0.get(id).copied()
    }
}

/// Flags that set a runtime setting.
const SETTING_FLAGS: &[&str] = &[
    "timeout_sec",
    "timeout_min",
    "schema_timeout_sec",
    "scan_interval_sec",
    "watch_debounce_ms",
    "max_concurrent_runs",
    "max_queued_runs",
    "max_output_mb",
    "max_body_mb",
    "max_json_body_kb",
    "cpu_limit_sec",
    "memory_limit_mb",
    "max_open_files",
    "max_processes",
    "max_file_size_mb",
    "max_run_disk_mb",
    "notify_url",
    "notify_timeout_sec",
    "base_url",
    "run_retention_days",
    "max_runs_per_script",
];

/// The runtime settings given at start, each with the source of its flag.
fn startup_settings(
    args: &ServeArgs,
    sources: &ValueSources,
) -> Vec<(&'static str, serde_json::Value, Source)> {
    use serde_json::json;
    const MIB: u64 = 1024 * 1024;
    let run = &args.run;
    let timeout = match (run.timeout_sec, run.timeout_min) {
        (Some(seconds), _) => Some(("timeout_sec", json!(seconds))),
        (None, Some(minutes)) => Some(("timeout_min", json!(minutes * 60.0))),
        (None, None) => None,
    };
    let candidates = [
        (
            "schema_timeout_sec",
            "schema_timeout_sec",
            json!(args.repo.schema_timeout_sec),
        ),
        (
            "scan_interval_sec",
            "scan_interval_sec",
            json!(args.scan_interval_sec),
        ),
        (
            "watch_debounce_ms",
            "watch_debounce_ms",
            json!(args.watch_debounce_ms),
        ),
        (
            "max_concurrent_runs",
            "max_concurrent_runs",
            json!(run.max_concurrent_runs),
        ),
        (
            "max_queued_runs",
            "max_queued_runs",
            json!(run.max_queued_runs),
        ),
        (
            "max_output_bytes",
            "max_output_mb",
            json!(run.max_output_mb * MIB),
        ),
        (
            "max_body_bytes",
            "max_body_mb",
            json!(run.max_body_mb * MIB),
        ),
        (
            "max_json_body_bytes",
            "max_json_body_kb",
            json!(run.max_json_body_kb * 1024),
        ),
        ("cpu_limit_sec", "cpu_limit_sec", json!(run.cpu_limit_sec)),
        (
            "memory_limit_mb",
            "memory_limit_mb",
            json!(run.memory_limit_mb),
        ),
        (
            "max_open_files",
            "max_open_files",
            json!(run.max_open_files),
        ),
        ("max_processes", "max_processes", json!(run.max_processes)),
        (
            "max_file_size_mb",
            "max_file_size_mb",
            json!(run.max_file_size_mb),
        ),
        (
            "max_run_disk_mb",
            "max_run_disk_mb",
            json!(run.max_run_disk_mb),
        ),
        ("notify_url", "notify_url", json!(args.notify_url)),
        (
            "notify_timeout_sec",
            "notify_timeout_sec",
            json!(args.notify_timeout_sec),
        ),
        ("base_url", "base_url", json!(args.base_url)),
        (
            "run_retention_days",
            "run_retention_days",
            json!(args.run_retention_days),
        ),
        (
            "max_runs_per_script",
            "max_runs_per_script",
            json!(args.max_runs_per_script),
        ),
    ];
    let timeout = timeout.map(|(flag, value)| ("timeout_sec", flag, value));
    timeout
        .into_iter()
        .chain(candidates)
        .filter_map(|(key, flag, value)| Some((key, value, sources.get(flag)?)))
        .collect()
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
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn serve_config(args: &ServeArgs) -> Result<Config, ConfigError> {
        Config::for_serve(args, &ValueSources::default())
    }

    #[test]
    fn startup_settings_carry_the_source_of_their_flag() {
        use clap::{CommandFactory, FromArgMatches};
        let dir = std::env::temp_dir().join("sg-config-sources");
        let (repo, data) = (dir.join("r"), dir.join("d"));
        let argv = [
            "sg",
            "--scripts-repo",
            repo.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--timeout-min",
            "2",
            "--max-output-mb",
            "3",
            "--notify-url",
            "http://hooks.local/x",
        ];
        let matches = TestCli::command().get_matches_from(argv);
        let args = TestCli::from_arg_matches(&matches).unwrap().serve;
        let config = Config::for_serve(&args, &ValueSources::from_matches(&matches)).unwrap();
        let find = |key: &str| {
            config
                .startup_settings
                .iter()
                .find(|(k, _, _)| *k == key)
                .map(|(_, v, s)| (v.clone(), *s))
        };
        assert_eq!(
            find("timeout_sec"),
            Some((serde_json::json!(120.0), Source::Cli))
        );
        assert_eq!(
            find("max_output_bytes"),
            Some((serde_json::json!(3 * 1024 * 1024), Source::Cli))
        );
        assert_eq!(
            find("notify_url"),
            Some((serde_json::json!("http://hooks.local/x"), Source::Cli))
        );
        if std::env::var_os("SG_MAX_QUEUED_RUNS").is_none() {
            assert_eq!(
                find("max_queued_runs"),
                None,
                "defaults are not startup values"
            );
        }
    }

    fn serve_args(args: &[&str]) -> ServeArgs {
        let dir = std::env::temp_dir().join("sg-config-test");
        let repo = dir.join("repo");
        let data = dir.join("data");
        let mut argv = vec![
            "sg",
            "--scripts-repo",
            repo.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ];
        argv.extend_from_slice(args);
        TestCli::try_parse_from(argv).expect("valid flags").serve
    }

    #[test]
    fn a_public_address_needs_a_key_or_an_explicit_opt_out() {
        let err = serve_config(&serve_args(&["--host", "0.0.0.0"])).unwrap_err();
        assert!(
            matches!(err, ConfigError::UnauthenticatedPublicAddress(_)),
            "{err}"
        );
        assert!(serve_config(&serve_args(&["--host", "0.0.0.0", "--api-key", "k"])).is_ok());
        assert!(serve_config(&serve_args(&[
            "--host",
            "0.0.0.0",
            "--allow-unauthenticated"
        ]))
        .is_ok());
        assert!(
            serve_config(&serve_args(&["--host", "::1"])).is_ok(),
            "loopback needs no key"
        );
    }

    #[test]
    fn an_empty_key_is_refused() {
        assert!(matches!(
            serve_config(&serve_args(&["--api-key", " "])),
            Err(ConfigError::EmptyApiKey)
        ));
    }

    #[test]
    fn the_key_is_redacted_in_debug_output() {
        let config = serve_config(&serve_args(&["--api-key", "s3cret-value"])).unwrap();
        assert!(!format!("{config:?}").contains("s3cret-value"));
    }

    #[test]
    fn run_timeout_comes_from_seconds_then_minutes_then_the_default() {
        let timeout = |args: &[&str]| serve_config(&serve_args(args)).unwrap().run.timeout;
        assert_eq!(timeout(&["--timeout-sec", "7"]), Duration::from_secs(7));
        assert_eq!(timeout(&["--timeout-min", "2"]), Duration::from_secs(120));
        assert_eq!(
            timeout(&["--timeout-min", "2", "--timeout-sec", "5"]),
            Duration::from_secs(5)
        );
        if std::env::var_os("TIMEOUT_MIN").is_none() && std::env::var_os("SG_TIMEOUT_SEC").is_none()
        {
            assert_eq!(timeout(&[]), RunSettings::DEFAULT_TIMEOUT);
        }
    }

    #[test]
    fn zero_turns_a_resource_limit_off() {
        let run = serve_config(&serve_args(&[
            "--memory-limit-mb",
            "0",
            "--cpu-limit-sec",
            "5",
        ]))
        .unwrap()
        .run;
        assert_eq!(run.address_space_bytes, None);
        assert_eq!(run.cpu_seconds, Some(5));
        assert_eq!(run.max_output_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn installers_get_only_index_proxy_and_certificate_variables() {
        let args = serve_args(&[
            "--uv",
            "off",
            "--python-install-args=--no-index --find-links=/w",
        ]);
        let environment = [
            ("PIP_INDEX_URL", "x"),
            ("HTTPS_PROXY", "p"),
            ("SG_API_KEY", "k"),
            ("AWS_SECRET", "s"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let deps = DepsSettings::from_args(&args.repo.deps, environment.into_iter());
        assert_eq!(deps.uv, None);
        assert_eq!(deps.python_install_args, ["--no-index", "--find-links=/w"]);
        let keys: Vec<_> = deps
            .installer_env
            .iter()
            .map(|(k, _)| k.to_string_lossy().to_string())
            .collect();
        assert_eq!(keys, ["PIP_INDEX_URL", "HTTPS_PROXY"]);
    }

    #[test]
    fn bad_schema_timeouts_are_refused() {
        for bad in ["0", "-1", "abc", "inf", "100000"] {
            let parsed = TestCli::try_parse_from(["sg", "--schema-timeout-sec", bad]);
            assert!(parsed.is_err(), "{bad} accepted");
        }
    }
}
