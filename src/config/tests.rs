//! Flags, environment and defaults resolve into one `Config`.

use super::*;
use crate::settings::{Settings, Source};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Parser)]
struct ScanCli {
    #[command(flatten)]
    repo: RepoArgs,
}

fn serve_config(args: &ServeArgs) -> Result<Config, ConfigError> {
    Config::for_serve(args)
}

/// The value and source `flags` give `key` at start, if any.
fn startup(flags: &[&str], key: &str) -> Option<(serde_json::Value, Source)> {
    let config = serve_config(&serve_args(flags)).unwrap();
    config
        .startup_settings
        .into_iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, v, s)| (v, s))
}

#[test]
fn startup_settings_carry_the_source_of_their_flag() {
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
    let args = TestCli::try_parse_from(argv).expect("valid flags").serve;
    let config = Config::for_serve(&args).unwrap();
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
    let timeout = |args: &[&str]| startup(args, "timeout_sec").map(|(v, _)| v);
    assert_eq!(timeout(&["--timeout-sec", "7"]), Some(json!(7.0)));
    assert_eq!(timeout(&["--timeout-min", "2"]), Some(json!(120.0)));
    assert_eq!(
        timeout(&["--timeout-min", "2", "--timeout-sec", "5"]),
        Some(json!(5.0))
    );
    if std::env::var_os("TIMEOUT_MIN").is_none() && std::env::var_os("SG_TIMEOUT_SEC").is_none() {
        assert_eq!(timeout(&[]), None, "the table's default applies");
    }
}

#[test]
fn flags_in_other_units_become_the_settings_unit() {
    let cases = [
        (
            "--max-output-mb",
            "3",
            "max_output_bytes",
            json!(3 * 1024 * 1024),
        ),
        (
            "--max-body-mb",
            "2",
            "max_body_bytes",
            json!(2 * 1024 * 1024),
        ),
        (
            "--max-json-body-kb",
            "2",
            "max_json_body_bytes",
            json!(2048),
        ),
        ("--memory-limit-mb", "0", "memory_limit_mb", json!(0)),
        (
            "--schema-timeout-sec",
            "1.5",
            "schema_timeout_sec",
            json!(1.5),
        ),
        (
            "--base-url",
            "http://gw.local",
            "base_url",
            json!("http://gw.local"),
        ),
    ];
    for (flag, given, key, expected) in cases {
        assert_eq!(
            startup(&[flag, given], key),
            Some((expected, Source::Cli)),
            "{flag} {given}"
        );
    }
}

#[test]
fn flags_with_bounds_refuse_values_outside_them() {
    let cases = [
        ("--max-output-mb", "0"),
        ("--max-output-mb", "4097"),
        ("--max-json-body-kb", "0"),
        ("--max-concurrent-runs", "0"),
        ("--cpu-limit-sec", "-1"),
        ("--timeout-sec", "0"),
        ("--notify-timeout-sec", "abc"),
    ];
    for (flag, given) in cases {
        let parsed = TestCli::try_parse_from(["sg", flag, given]);
        assert!(parsed.is_err(), "{flag} {given} accepted");
    }
}

#[test]
fn scan_takes_only_the_settings_of_every_command() {
    assert!(ScanCli::try_parse_from(["sg", "--schema-timeout-sec", "3"]).is_ok());
    assert!(ScanCli::try_parse_from(["sg", "--timeout-sec", "3"]).is_err());
}

#[test]
fn zero_turns_a_resource_limit_off() {
    let config = serve_config(&serve_args(&[
        "--memory-limit-mb",
        "0",
        "--cpu-limit-sec",
        "5",
    ]))
    .unwrap();
    let settings = Settings::new(2, config.startup_settings, Default::default());
    let run = settings.current().run.clone();
    assert_eq!(run.address_space_bytes, None);
    assert_eq!(run.cpu_seconds, Some(5));
    if std::env::var_os("SG_MAX_OUTPUT_MB").is_none() {
        assert_eq!(run.max_output_bytes, 10 * 1024 * 1024);
    }
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
    let deps = DepsSettings::from_args(&args.repo.deps, environment.into_iter(), Vec::new());
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

#[test]
fn the_command_line_built_from_the_table_is_consistent() {
    use clap::CommandFactory;
    TestCli::command().debug_assert();
    ScanCli::command().debug_assert();
}

#[test]
fn the_readme_lists_every_setting_flag_and_its_environment_variable() {
    let readme = include_str!("../../README.md");
    let table = readme
        .split("## Configuration")
        .nth(1)
        .expect("README has a Configuration section");
    for def in crate::settings::definitions(2) {
        for flag in &def.flags {
            let (long, env) = (format!("`--{}`", flag.long), format!("`{}`", flag.env));
            assert!(
                table.contains(&long),
                "{} ({long}) is not in README",
                def.key
            );
            assert!(table.contains(&env), "{} ({env}) is not in README", def.key);
        }
    }
}

#[test]
fn the_catalog_is_sqlite_in_the_data_folder_unless_a_postgresql_url_is_given() {
    let config = serve_config(&serve_args(&[])).unwrap();
    assert_eq!(
        config.catalog,
        CatalogLocation::Sqlite(config.data_dir.join("gateway.db"))
    );
    let url = "postgres://sg@db:5432/catalog";
    let config = serve_config(&serve_args(&["--database", url])).unwrap();
    let CatalogLocation::Postgres { url: given, node } = &config.catalog else {
        panic!("{:?}", config.catalog);
    };
    assert_eq!(given, url);
    let (host, digest) = node.rsplit_once(':').expect("host:digest");
    assert!(!host.is_empty() && digest.len() == 8, "{node}");
    let named = serve_config(&serve_args(&["--database", url, "--node-name", "api-1"])).unwrap();
    assert!(matches!(&named.catalog, CatalogLocation::Postgres { node, .. } if node == "api-1"));
    for bad in ["two words", "a/b", "", "é"] {
        let refused = serve_config(&serve_args(&["--database", url, "--node-name", bad]));
        assert!(matches!(refused, Err(ConfigError::NodeName(_))), "{bad:?}");
    }
    for not_postgres in ["mysql://u:secret@h/d", "sqlite:///x.db", "db.internal"] {
        let refused = serve_config(&serve_args(&["--database", not_postgres]));
        let Err(ConfigError::Database(shown)) = refused else {
            panic!("{not_postgres} was accepted");
        };
        assert!(!shown.contains("secret"), "{shown}");
    }
}
