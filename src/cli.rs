//! The command line: `serve` (the default), `scan`, `openapi` and `import-original`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::api::DocCache;
use crate::catalog::ScriptFilter;
use crate::config::{Config, RepoArgs, ServeArgs};
use crate::startup::{Application, Core};
use crate::telemetry;

#[derive(Parser)]
#[command(
    name = "script-gateway",
    version,
    about = "Python and JavaScript scripts as typed HTTP endpoints"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(Box<ServeArgs>),
    /// Scan the scripts repository once, print every script's status, and exit
    /// (non-zero when a script failed to load).
    Scan(RepoArgs),
    /// Scan the scripts repository once and print the OpenAPI 3.1 document (the static API
    /// plus every loaded script), without starting a server.
    Openapi(RepoArgs),
    /// Bring over what the original script gateway kept in its database (script aliases,
    /// notification switches, settings), after scanning the scripts folder; prints what it
    /// did with each entry. Restart a running gateway to apply imported settings.
    ImportOriginal(ImportArgs),
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The original's `gateway.db`, or the folder that holds it.
    original: std::path::PathBuf,
    #[command(flatten)]
    repo: RepoArgs,
}

pub fn main() -> ExitCode {
    crate::process::seal_inherited_descriptors();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(main_runtime_workers())
        .enable_all()
        .build()
        .expect("a tokio runtime can be created");
    match cli.command {
        Some(Command::Serve(args)) => runtime.block_on(serve(*args)),
        None => runtime.block_on(serve(cli.serve)),
        Some(Command::Scan(args)) => runtime.block_on(scan(args)),
        Some(Command::Openapi(args)) => runtime.block_on(print_openapi(args)),
        Some(Command::ImportOriginal(args)) => runtime.block_on(import_original(args)),
    }
}

/// Workers for the main runtime, which mostly waits: on runs' pipes and exits, timers and
/// the blocking pool's answers (HTTP has workers of its own; parsing large output, SQLite
/// and files go to the blocking pool). One per four cores: a second worker on a small
/// machine mostly wakes to find nothing to steal, which cost a tenth of the gateway's CPU
/// per run on two cores (benches/run.rs).
fn main_runtime_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 4).max(1))
}

async fn serve(args: ServeArgs) -> ExitCode {
    telemetry::init(&args.repo.log, args.repo.log_format);
    let config = match Config::for_serve(&args) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => return fail(&error),
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on http://{}", app.address());
    let _ = stdout.flush();
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// The catalog and its parts for a one-off command, logging set up first.
async fn open_core(args: &RepoArgs) -> Result<Core, ExitCode> {
    telemetry::init(&args.log, args.log_format);
    let config = Config::for_repo(args).map_err(|error| fail(&error))?;
    Core::open(&config).await.map_err(|error| fail(&error))
}

async fn scan(args: RepoArgs) -> ExitCode {
    let core = match open_core(&args).await {
        Ok(core) => core,
        Err(code) => return code,
    };
    let report = match core.scanner.scan(false).await {
        Ok(report) => report,
        Err(error) => return fail(&error),
    };
    let filter = ScriptFilter {
        page: 1,
        page_size: u32::MAX,
        ..Default::default()
    };
    let scripts = match core.catalog.list_scripts(filter).await {
        Ok(page) => page.items,
        Err(error) => return fail(&error),
    };
    println!(
        "{:>4}  {:<6}  {:<6}  {:<40}  ERROR",
        "ID", "STATUS", "TYPE", "PATH"
    );
    for s in &scripts {
        let error = s
            .load_error
            .as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        println!(
            "{:>4}  {:<6}  {:<6}  {:<40}  {}",
            s.id,
            s.load_status.as_str(),
            s.runtime.as_str(),
            s.path,
            error
        );
    }
    println!(
        "{} scripts, {} with errors ({} added, {} updated, {} removed, {} schema runs, {} ms)",
        scripts.len(),
        report.errors.len(),
        report.added,
        report.updated,
        report.removed,
        report.extracted,
        report.duration_ms
    );
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn print_openapi(args: RepoArgs) -> ExitCode {
    let core = match open_core(&args).await {
        Ok(core) => core,
        Err(code) => return code,
    };
    if let Err(error) = core.scanner.scan(false).await {
        return fail(&error);
    }
    let cache = match DocCache::load(&core.catalog).await {
        Ok(cache) => cache,
        Err(error) => return fail(&error),
    };
    let document = cache.current().document.clone();
    let text = serde_json::to_string_pretty(&document).expect("a JSON value serialises");
    let mut stdout = std::io::stdout();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

async fn import_original(args: ImportArgs) -> ExitCode {
    let database = if args.original.is_dir() {
        args.original.join("gateway.db")
    } else {
        args.original.clone()
    };
    let read = tokio::task::spawn_blocking(move || crate::catalog::read_original(&database));
    let original = match read.await {
        Ok(Ok(original)) => original,
        Ok(Err(error)) => {
            let path = args.original.display();
            return fail(&format!(
                "cannot read the original gateway's database at {path}: {error}"
            ));
        }
        Err(error) => return fail(&error),
    };
    let core = match open_core(&args.repo).await {
        Ok(core) => core,
        Err(code) => return code,
    };
    if let Err(error) = core.scanner.scan(false).await {
        return fail(&error);
    }
    match crate::import::import_original(&core.catalog, &core.settings, original).await {
        Ok(report) => {
            for line in &report.lines {
                println!("{line}");
            }
            println!("{} imported, {} skipped", report.imported, report.skipped);
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}
