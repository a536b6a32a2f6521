//! Every runtime setting, declared once: its type, bounds, default, meaning, and the flags and
//! environment variables that give it at start.

use serde_json::{json, Value};

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Integer {
        min: i64,
        max: i64,
    },
    Number {
        min: f64,
        max: f64,
    },
    /// An http(s) URL, or empty for none.
    Url,
    /// `true` or `false`.
    Boolean,
    /// One of a few words.
    Choice(&'static [&'static str]),
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Integer { .. } => "integer",
            Kind::Number { .. } => "number",
            Kind::Url => "url",
            Kind::Boolean => "boolean",
            Kind::Choice(_) => "choice",
        }
    }
}

/// One setting: the one place it is declared.
#[derive(Debug, Clone)]
pub struct Def {
    pub key: &'static str,
    pub kind: Kind,
    pub default: Value,
    pub description: &'static str,
    /// How the setting is given at start, in order of precedence: the first one given wins.
    pub flags: Vec<Flag>,
    pub scope: Scope,
}

/// Which commands take a setting's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only `serve`.
    Serve,
    /// Every command (`serve`, `scan`, `openapi`).
    Every,
}

/// A command-line flag and environment variable that set a setting at start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flag {
    /// The long flag, without `--`.
    pub long: &'static str,
    pub env: &'static str,
    /// The flag's value times `scale` is the setting's value (MiB → bytes, minutes → seconds).
    pub scale: u32,
    /// The unit the flag is given in, for its help.
    pub unit: &'static str,
    /// Whether the flag itself refuses values outside the setting's bounds; otherwise an
    /// out-of-range start value is logged and ignored.
    pub bounded: bool,
}

impl Flag {
    /// `--long` / `ENV` in the setting's own unit.
    const fn plain(long: &'static str, env: &'static str) -> Flag {
        Flag {
            long,
            env,
            scale: 1,
            unit: "",
            bounded: false,
        }
    }

    /// `--long` / `ENV` in a unit `scale` times the setting's.
    const fn scaled(long: &'static str, env: &'static str, scale: u32, unit: &'static str) -> Flag {
        Flag {
            long,
            env,
            scale,
            unit,
            bounded: true,
        }
    }

    const fn bounded(self) -> Flag {
        Flag {
            bounded: true,
            ..self
        }
    }

    const fn unbounded(self) -> Flag {
        Flag {
            bounded: false,
            ..self
        }
    }
}

const MIB: i64 = 1024 * 1024;
const MIB_SCALE: u32 = 1024 * 1024;

fn int(key: &'static str, (min, max): (i64, i64), default: i64, description: &'static str) -> Def {
    Def {
        key,
        kind: Kind::Integer { min, max },
        default: json!(default),
        description,
        flags: Vec::new(),
        scope: Scope::Serve,
    }
}

fn number(
    key: &'static str,
    (min, max): (f64, f64),
    default: f64,
    description: &'static str,
) -> Def {
    Def {
        key,
        kind: Kind::Number { min, max },
        default: json!(default),
        description,
        flags: Vec::new(),
        scope: Scope::Serve,
    }
}

fn url(key: &'static str, description: &'static str) -> Def {
    Def {
        key,
        kind: Kind::Url,
        default: json!(""),
        description,
        flags: Vec::new(),
        scope: Scope::Serve,
    }
}

fn boolean(key: &'static str, default: bool, description: &'static str) -> Def {
    Def {
        key,
        kind: Kind::Boolean,
        default: json!(default),
        description,
        flags: Vec::new(),
        scope: Scope::Serve,
    }
}

fn choice(
    key: &'static str,
    choices: &'static [&'static str],
    default: &'static str,
    description: &'static str,
) -> Def {
    Def {
        key,
        kind: Kind::Choice(choices),
        default: json!(default),
        description,
        flags: Vec::new(),
        scope: Scope::Serve,
    }
}

impl Def {
    /// Adds a flag, after (and so beaten by) those already added.
    fn flag(mut self, flag: Flag) -> Def {
        self.flags.push(flag);
        self
    }

    fn on_every_command(self) -> Def {
        Def {
            scope: Scope::Every,
            ..self
        }
    }
}

/// All settings, in the order they are listed. Adding a setting is adding an entry here.
pub fn all(cores: usize) -> Vec<Def> {
    let cores = i64::try_from(cores).unwrap_or(2);
    vec![
        number("timeout_sec", (0.1, 86_400.0), 300.0, "Seconds a run may take before its process tree is stopped (env TIMEOUT_MIN × 60 or SG_TIMEOUT_SEC).")
            .flag(Flag::plain("timeout-sec", "SG_TIMEOUT_SEC"))
            .flag(Flag::scaled("timeout-min", "TIMEOUT_MIN", 60, "minutes").unbounded()),
        number("schema_timeout_sec", (0.1, 600.0), 10.0, "Seconds a script may take to print its ARGS_MAP.")
            .flag(Flag::plain("schema-timeout-sec", "SG_SCHEMA_TIMEOUT_SEC")).on_every_command(),
        int("scan_interval_sec", (0, 86_400), 60, "Seconds between safety-net rescans besides the file watcher; 0 = watcher only (env SCAN_INTERVAL_SEC).")
            .flag(Flag::plain("scan-interval-sec", "SCAN_INTERVAL_SEC")),
        int("watch_debounce_ms", (10, 10_000), 100, "Quiet time after a file change before it is picked up.")
            .flag(Flag::plain("watch-debounce-ms", "SG_WATCH_DEBOUNCE_MS")),
        int("max_concurrent_runs", (1, 10_000), cores * 2, "Runs executing at once; more wait in the queue.")
            .flag(Flag::plain("max-concurrent-runs", "SG_MAX_CONCURRENT_RUNS").bounded()),
        int("max_queued_runs", (0, 100_000), 100, "Runs that may wait for a slot; beyond that run requests get 429.")
            .flag(Flag::plain("max-queued-runs", "SG_MAX_QUEUED_RUNS")),
        int("max_output_bytes", (1024, 4096 * MIB), 10 * MIB, "Bytes of stdout and of stderr kept per run; a run that prints more is stopped.")
            .flag(Flag::scaled("max-output-mb", "SG_MAX_OUTPUT_MB", MIB_SCALE, "MiB")),
        int("max_body_bytes", (1024, 65_536 * MIB), 100 * MIB, "Largest accepted multipart run request body (file uploads).")
            .flag(Flag::scaled("max-body-mb", "SG_MAX_BODY_MB", MIB_SCALE, "MiB")),
        int("max_json_body_bytes", (1024, 1024 * MIB), MIB, "Largest JSON or form run request body, and of a multipart form's text fields together (held in memory); larger ones get 413.")
            .flag(Flag::scaled("max-json-body-kb", "SG_MAX_JSON_BODY_KB", 1024, "KiB")),
        int("cpu_limit_sec", (0, 1_000_000), 600, "CPU seconds a run may use; 0 = no limit.")
            .flag(Flag::plain("cpu-limit-sec", "SG_CPU_LIMIT_SEC")),
        int("memory_limit_mb", (0, 1_048_576), 2048, "Memory a run may use, in MiB: the address space of each process, and all of its processes together where cgroups are in use; 0 = no limit.")
            .flag(Flag::plain("memory-limit-mb", "SG_MEMORY_LIMIT_MB")),
        int("max_open_files", (0, 1_048_576), 1024, "Files a run may hold open at once; 0 = no limit.")
            .flag(Flag::plain("max-open-files", "SG_MAX_OPEN_FILES")),
        int("max_processes", (0, 1_000_000), 512, "Processes and threads a run may have at once, all of its processes together where cgroups are in use; 0 = no limit.")
            .flag(Flag::plain("max-processes", "SG_MAX_PROCESSES")),
        int("max_file_size_mb", (0, 1_048_576), 1024, "Largest file a run may write, in MiB; 0 = no limit.")
            .flag(Flag::plain("max-file-size-mb", "SG_MAX_FILE_SIZE_MB")),
        int("max_run_disk_mb", (0, 16_777_216), 4096, "Disk space a run's folder may take while it runs, in MiB; a run that fills more is stopped; 0 = no limit.")
            .flag(Flag::plain("max-run-disk-mb", "SG_MAX_RUN_DISK_MB")),
        url("notify_url", "Where finished runs of scripts with notifications on are POSTed; empty = off (env NOTIFY_URL).")
            .flag(Flag::plain("notify-url", "NOTIFY_URL")),
        number("notify_timeout_sec", (0.1, 120.0), 5.0, "Seconds one notification attempt may take.")
            .flag(Flag::plain("notify-timeout-sec", "SG_NOTIFY_TIMEOUT_SEC")),
        url("base_url", "The gateway's public URL, used in generated links and curl commands; empty = the request's host (env BASE_URL).")
            .flag(Flag::plain("base-url", "BASE_URL")),
        int("run_retention_days", (0, 36_500), 30, "Runs older than this many days are deleted with their files; 0 = keep forever.")
            .flag(Flag::plain("run-retention-days", "SG_RUN_RETENTION_DAYS")),
        int("max_runs_per_script", (0, 10_000_000), 1000, "Runs kept per script (oldest deleted first); 0 = no cap.")
            .flag(Flag::plain("max-runs-per-script", "SG_MAX_RUNS_PER_SCRIPT")),
        boolean("metrics_public", false, "Whether GET /metrics answers without a key; otherwise, once keys are in use, it needs a metrics or admin key.")
            .flag(Flag::plain("metrics-public", "SG_METRICS_PUBLIC")),
        choice("execution_mode", &["cold", "warm"], "warm", "How runs start: warm (Python forked from a fork server per dependency set that has the modules earlier runs imported loaded; JavaScript taken by a pre-started node; any problem falls back to cold) or cold (a new interpreter each run).")
            .flag(Flag::plain("execution-mode", "SG_EXECUTION_MODE")),
        int("max_warm_servers", (1, 1000), 8, "Fork servers kept at once for warm runs; the least recently used idle one makes room.")
            .flag(Flag::plain("max-warm-servers", "SG_MAX_WARM_SERVERS")),
        boolean("exec_enabled", false, "Whether interpreter sessions (/api/sessions, /api/interpreter/execute) are on; they need a key with the exec scope, and with no key at all only a loopback address may turn them on.")
            .flag(Flag::plain("exec-enabled", "SG_EXEC_ENABLED")),
        int("session_idle_sec", (1, 86_400), 600, "Seconds an interpreter session may stay unused before it is ended.")
            .flag(Flag::plain("session-idle-sec", "SG_SESSION_IDLE_SEC")),
        int("max_sessions", (1, 1000), 8, "Interpreter sessions alive at once; beyond that creating one gets 429.")
            .flag(Flag::plain("max-sessions", "SG_MAX_SESSIONS")),
    ]
}

/// Checks a value against its setting; returns the value in canonical form.
pub fn validate(def: &Def, value: &Value) -> Result<Value, String> {
    match def.kind {
        Kind::Integer { min, max } => {
            let n = value
                .as_i64()
                .or_else(|| {
                    value
                        .as_f64()
                        .filter(|x| x.fract() == 0.0 && x.abs() < 9e15)
                        .map(|x| x as i64)
                })
                .ok_or_else(|| format!("must be an integer, not {value}"))?;
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}, not {n}"));
            }
            Ok(json!(n))
        }
        Kind::Number { min, max } => {
            let x = value
                .as_f64()
                .ok_or_else(|| format!("must be a number, not {value}"))?;
            if !(min..=max).contains(&x) {
                return Err(format!("must be between {min} and {max}, not {x}"));
            }
            Ok(json!(x))
        }
        Kind::Url => {
            let text = value
                .as_str()
                .ok_or_else(|| format!("must be a URL string (or empty), not {value}"))?
                .trim();
            if text.is_empty() {
                return Ok(json!(""));
            }
            let parsed = url::Url::parse(text).map_err(|e| format!("is not a valid URL ({e})"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!("{text:?} is not an http(s) URL"));
            }
            Ok(json!(text))
        }
        Kind::Boolean => value
            .as_bool()
            .map(|b| json!(b))
            .ok_or_else(|| format!("must be true or false, not {value}")),
        Kind::Choice(choices) => value
            .as_str()
            .filter(|text| choices.contains(text))
            .map(|text| json!(text))
            .ok_or_else(|| format!("must be one of {}, not {value}", choices.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(key: &str) -> Def {
        all(2).into_iter().find(|d| d.key == key).unwrap()
    }

    #[test]
    fn values_are_checked_against_type_and_range() {
        let cases = [
            ("max_concurrent_runs", json!(4), Ok(json!(4))),
            ("max_concurrent_runs", json!(4.0), Ok(json!(4))),
            ("max_concurrent_runs", json!(0), Err("between 1 and 10000")),
            ("max_concurrent_runs", json!("4"), Err("must be an integer")),
            ("max_concurrent_runs", json!(2.5), Err("must be an integer")),
            ("timeout_sec", json!(2.5), Ok(json!(2.5))),
            ("execution_mode", json!("warm"), Ok(json!("warm"))),
            (
                "execution_mode",
                json!("hot"),
                Err("must be one of cold, warm"),
            ),
            ("execution_mode", json!(1), Err("must be one of cold, warm")),
            ("timeout_sec", json!(-1), Err("between 0.1 and 86400")),
            ("timeout_sec", json!(true), Err("must be a number")),
            ("notify_url", json!(""), Ok(json!(""))),
            (
                "notify_url",
                json!(" http://hooks.local/x "),
                Ok(json!("http://hooks.local/x")),
            ),
            (
                "notify_url",
                json!("file:///etc/passwd"),
                Err("not an http(s) URL"),
            ),
            ("notify_url", json!("not a url"), Err("not a valid URL")),
            ("notify_url", json!(5), Err("must be a URL string")),
            ("metrics_public", json!(true), Ok(json!(true))),
            ("metrics_public", json!(false), Ok(json!(false))),
            (
                "metrics_public",
                json!("true"),
                Err("must be true or false"),
            ),
            ("metrics_public", json!(1), Err("must be true or false")),
        ];
        for (key, value, expected) in cases {
            let got = validate(&def(key), &value);
            match expected {
                Ok(v) => assert_eq!(got, Ok(v), "{key}={value}"),
                Err(part) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(part)),
                    "{key}={value}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn every_setting_has_a_flag_and_no_two_flags_share_a_name_or_variable() {
        let defs = all(2);
        let flags: Vec<&Flag> = defs.iter().flat_map(|d| &d.flags).collect();
        for def in &defs {
            assert!(
                !def.flags.is_empty(),
                "{} cannot be given at start",
                def.key
            );
        }
        for (i, flag) in flags.iter().enumerate() {
            for other in &flags[i + 1..] {
                assert_ne!(flag.long, other.long, "a flag declared twice");
                assert_ne!(flag.env, other.env, "a variable declared twice");
            }
        }
    }

    #[test]
    fn every_default_is_valid() {
        for def in all(8) {
            assert_eq!(
                validate(&def, &def.default),
                Ok(def.default.clone()),
                "{}",
                def.key
            );
        }
    }
}
