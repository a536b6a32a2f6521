//! The command-line flags (and environment variables) of the runtime settings, built from the
//! settings table: each flag is declared once, in `settings`, and read back here with its source.

use std::marker::PhantomData;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};

use crate::settings::{self, Def, Flag, Kind, Scope, Source, StartupValue};

use super::parse::positive_seconds;

/// Which commands a set of setting flags belongs to.
pub trait FlagScope {
    const SCOPE: Scope;
}

/// The flags only `serve` takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOnly;

/// The flags every command takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EveryCommand;

impl FlagScope for ServeOnly {
    const SCOPE: Scope = Scope::Serve;
}

impl FlagScope for EveryCommand {
    const SCOPE: Scope = Scope::Every;
}

/// The runtime settings given by flag or environment, each with its source; flattened into
/// the derived argument structs with `#[command(flatten)]`.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags<S> {
    pub given: Vec<StartupValue>,
    scope: PhantomData<S>,
}

fn table() -> Vec<Def> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    settings::definitions(cores)
}

fn in_scope<S: FlagScope>() -> impl Iterator<Item = Def> {
    table().into_iter().filter(|def| def.scope == S::SCOPE)
}

/// The clap argument of one flag of `def`.
fn arg(def: &Def, flag: &Flag) -> Arg {
    let arg = Arg::new(flag.long)
        .long(flag.long)
        .env(flag.env)
        .action(ArgAction::Set)
        .value_name(match (flag.unit, def.kind) {
            ("", Kind::Integer { .. }) => "N",
            ("", Kind::Number { .. }) => "SECONDS",
            ("", Kind::Url) => "URL",
            ("", Kind::Boolean) => "BOOL",
            ("", Kind::Choice(_)) => "WORD",
            (unit, _) => unit,
        })
        .help(help(def, flag));
    match def.kind {
        Kind::Integer { min, max } if flag.bounded => {
            let scale = u64::from(flag.scale);
            let (min, max) = (min.max(0) as u64, max.max(0) as u64);
            let range = min.div_ceil(scale)..=max / scale;
            arg.value_parser(clap::value_parser!(u64).range(range))
        }
        Kind::Integer { .. } => arg.value_parser(clap::value_parser!(u64)),
        Kind::Number { .. } => arg.value_parser(positive_seconds),
        Kind::Url => arg.value_parser(clap::value_parser!(String)),
        Kind::Choice(choices) => {
            arg.value_parser(clap::builder::PossibleValuesParser::new(choices))
        }
        // `--flag` alone is `--flag=true`; the variable takes true/false, yes/no, on/off, 1/0.
        Kind::Boolean => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(clap::builder::BoolishValueParser::new()),
    }
}

/// The setting's description, the flag's unit, and the default in that unit.
fn help(def: &Def, flag: &Flag) -> String {
    let default = match &def.default {
        Value::Number(n) if flag.scale > 1 => {
            let scaled = n.as_f64().unwrap_or_default() / f64::from(flag.scale);
            format!("{scaled}")
        }
        Value::String(text) if text.is_empty() => "none".to_string(),
        value => value.to_string(),
    };
    let unit = match flag.unit {
        "" => String::new(),
        unit => format!(" Given in {unit}."),
    };
    format!("{}{unit} [default: {default}]", def.description)
}

/// The setting's value of a flag that was given.
fn value(def: &Def, flag: &Flag, matches: &ArgMatches) -> Option<Value> {
    let id = flag.long;
    match def.kind {
        Kind::Integer { .. } => matches
            .get_one::<u64>(id)
            .map(|v| json!(v.saturating_mul(u64::from(flag.scale)))),
        Kind::Number { .. } => matches
            .get_one::<f64>(id)
            .map(|v| json!(v * f64::from(flag.scale))),
        Kind::Url | Kind::Choice(_) => matches.get_one::<String>(id).map(|v| json!(v)),
        Kind::Boolean => matches.get_one::<bool>(id).map(|v| json!(v)),
    }
}

fn source(matches: &ArgMatches, id: &str) -> Option<Source> {
    match matches
        .try_contains_id(id)
        .ok()?
        .then(|| matches.value_source(id))?
    {
        Some(ValueSource::CommandLine) => Some(Source::Cli),
        Some(ValueSource::EnvVariable) => Some(Source::Env),
        _ => None,
    }
}

/// Of each setting in scope, the first of its flags that was given.
fn given<S: FlagScope>(matches: &ArgMatches) -> Vec<StartupValue> {
    in_scope::<S>()
        .filter_map(|def| {
            def.flags.iter().find_map(|flag| {
                let source = source(matches, flag.long)?;
                Some((def.key, value(&def, flag, matches)?, source))
            })
        })
        .collect()
}

impl<S: FlagScope> clap::FromArgMatches for SettingFlags<S> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(SettingFlags {
            given: given::<S>(matches),
            scope: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.given = given::<S>(matches);
        Ok(())
    }
}

impl<S: FlagScope> clap::Args for SettingFlags<S> {
    fn augment_args(command: Command) -> Command {
        in_scope::<S>().fold(command, |command, def| {
            command.args(def.flags.iter().map(|flag| arg(&def, flag)))
        })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}
