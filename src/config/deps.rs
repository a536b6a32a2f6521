//! Dependency installers and their limits, resolved once.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::args::DepsArgs;

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
    /// Where `uv` and `npm` are looked up: the gateway's PATH, split.
    pub search_path: Vec<PathBuf>,
}

impl DepsSettings {
    pub fn from_args(
        args: &DepsArgs,
        environment: impl Iterator<Item = (OsString, OsString)>,
        search_path: Vec<PathBuf>,
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
            search_path,
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
