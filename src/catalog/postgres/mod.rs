//! The catalog on PostgreSQL, for several nodes sharing one catalog and run queue: a
//! `deadpool-postgres` pool, the migrations of `migrations/postgres/`, and the same queries as
//! the SQLite side, answering with the same records.

mod deps;
mod keys;
mod locks;
mod notify;
mod queue;
mod retention;
mod run_output;
mod runs;
mod scripts;
mod settings;
#[cfg(test)]
mod tests;
mod text;

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use include_dir::{include_dir, Dir};
use tokio_postgres::NoTls;

pub use locks::{Leadership, SoleNode};
pub use notify::{Listener, Notice};
pub use queue::{CancelOutcome, Heartbeat};
pub use run_output::{FileRole, StoredEvent, RUN_EVENTS_CHANNEL};

use super::CatalogError;

static MIGRATIONS_DIR: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/postgres");

/// The advisory lock nodes take while migrating, so two nodes starting at once apply each
/// migration exactly once ("SGMIGRAT" in ASCII).
const MIGRATION_LOCK: i64 = 0x5347_4d49_4752_4154;

/// How many connections one node holds at most.
const POOL_SIZE: usize = 16;

/// How long opening (or checking) a connection may take, the server's greeting included.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a request waits for a free connection when all are busy.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A handle to the PostgreSQL catalog; cheap to clone.
#[derive(Clone)]
pub struct PgCatalog {
    pool: Pool,
    /// Where the pool connects, for connections of its own (a lock held for a lifetime).
    config: std::sync::Arc<tokio_postgres::Config>,
    /// This node's name, for what lives on its own disk (dependency caches).
    node: String,
}

impl PgCatalog {
    /// Connects to `url` (`postgres://user@host:port/database`) as the node named `node`
    /// and applies pending migrations.
    pub async fn connect(url: &str, node: &str) -> Result<PgCatalog, CatalogError> {
        let mut config = tokio_postgres::Config::from_str(url)?;
        if !is_node_name(node) {
            return Err(CatalogError::Refused(format!(
                "a node name is letters, digits and . _ : - only, not {node:?}"
            )));
        }
        // Instants without an offset mean UTC, as on SQLite; sg.node is what the scripts_here
        // view reads to show this node's dependency caches.
        config.options(format!("-c TimeZone=UTC -c sg.node={node}"));
        config.connect_timeout(CONNECT_TIMEOUT);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection the server dropped (a restart) is noticed by the check and
                // replaced, so the next statement after a restart does not fail.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        // A database that hangs makes a request fail after these, rather than wait forever.
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| CatalogError::Task(format!("PostgreSQL pool: {e}")))?;
        let catalog = PgCatalog {
            pool,
            config: std::sync::Arc::new(config),
            node: node.to_string(),
        };
        catalog.migrate().await?;
        Ok(catalog)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, CatalogError> {
        self.pool.get().await.map_err(|error| {
            // The pool's own message hides why (a refused connection, a bad password).
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !reason.contains(&cause_text) {
                    reason = format!("{reason}: {cause_text}");
                }
                source = cause.source();
            }
            CatalogError::PgUnavailable(reason)
        })
    }

    /// Applies every migration not yet applied, in order, in one transaction (PostgreSQL's
    /// DDL is transactional) under an advisory lock: all of them or none.
    async fn migrate(&self) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let applied: Vec<i64> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for migration in migrations()? {
            if applied.contains(&migration.version) {
                continue;
            }
            tx.batch_execute(migration.sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Whether `name` can name a node: it goes into the session's options unquoted.
pub fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

/// A connection of its own, outside the pool (for a lock or for listening), given up after
/// the same time as the pool's.
async fn connect_dedicated(
    config: &tokio_postgres::Config,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    CatalogError,
> {
    tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| {
            CatalogError::PgUnavailable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))
        })?
        .map_err(CatalogError::from)
}

/// One folder of `migrations/postgres/`: `NN-name/up.sql`.
struct Migration {
    version: i64,
    name: String,
    sql: &'static str,
}

fn migrations() -> Result<Vec<Migration>, CatalogError> {
    let malformed = |what: &str| CatalogError::Task(format!("migrations/postgres/{what}"));
    let mut found = MIGRATIONS_DIR
        .dirs()
        .map(|dir| {
            let name = dir.path().display().to_string();
            let version = name
                .split('-')
                .next()
                .and_then(|number| number.parse().ok())
                .ok_or_else(|| malformed(&format!("{name}: the name must start with a number")))?;
            let sql = dir
                .get_file(dir.path().join("up.sql"))
                .and_then(|file| file.contents_utf8())
                .ok_or_else(|| malformed(&format!("{name}: no UTF-8 up.sql")))?;
            Ok(Migration { version, name, sql })
        })
        .collect::<Result<Vec<_>, CatalogError>>()?;
    found.sort_by_key(|migration| migration.version);
    Ok(found)
}
