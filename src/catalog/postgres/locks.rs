//! Session-level advisory locks held on connections of their own: the sole-node lock a
//! serving node holds for as long as it runs (until several nodes can share one catalog, see
//! docs/scale-out.md), and leadership that nodes contend for (the scanner's, the reaper's),
//! which moves to another node when its holder stops or loses its connection. A lock lives
//! with the session that took it, so a lost connection (a database restart) loses it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::PgCatalog;
use crate::catalog::CatalogError;

/// "SGSOLENO" in ASCII.
const SOLE_NODE_LOCK: i64 = 0x5347_534f_4c45_4e4f;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// Held while this node serves; dropping it closes the connection, releasing the lock.
pub struct SoleNode {
    _stop: DropGuard,
}

/// A connection holding the lock; the future ends when the connection does.
type Held = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Whether this node leads, as it changes; contending stops when it is dropped.
pub struct Leadership {
    leading: watch::Receiver<bool>,
    _stop: DropGuard,
}

impl Leadership {
    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Waits until leadership is taken or lost.
    pub async fn changed(&mut self) {
        let _ = self.leading.changed().await;
    }
}

impl PgCatalog {
    /// Takes the sole-node lock, or refuses: another node serves this catalog.
    pub async fn hold_sole_node(&self) -> Result<SoleNode, CatalogError> {
        let Some(held) = take(&self.config, SOLE_NODE_LOCK).await? else {
            return Err(CatalogError::Refused(
                "another ScriptGateway node is serving this PostgreSQL catalog; one node at a \
                 time can until the serve and worker roles arrive (docs/scale-out.md)"
                    .into(),
            ));
        };
        let (stop, _) = self.keep(SOLE_NODE_LOCK, Some(held), LAST_RETRY, true);
        Ok(SoleNode {
            _stop: stop.drop_guard(),
        })
    }

    /// Contends for the advisory lock `key`: this node leads while it holds it, and tries
    /// again every `retry` while another node does (or the database cannot be reached).
    pub fn contend(&self, key: i64, retry: Duration) -> Leadership {
        let (stop, leading) = self.keep(key, None, retry, false);
        Leadership {
            leading,
            _stop: stop.drop_guard(),
        }
    }

    /// Holds the lock `key` (from `held`, if given) until cancelled, taking it again whenever
    /// it is not held, waiting up to `retry` between attempts. `alone`: another session
    /// holding it is a fault to report, not a turn to wait for.
    fn keep(
        &self,
        key: i64,
        mut held: Option<Held>,
        retry: Duration,
        alone: bool,
    ) -> (CancellationToken, watch::Receiver<bool>) {
        let (tell, leading) = watch::channel(false);
        let stop = CancellationToken::new();
        let (token, config) = (stop.clone(), self.config.clone());
        tokio::spawn(async move {
            let mut wait = FIRST_RETRY.min(retry);
            loop {
                if let Some(mut connection) = held.take() {
                    let _ = tell.send(true);
                    tokio::select! {
                        () = token.cancelled() => return,
                        () = &mut connection => {}
                    }
                    let _ = tell.send(false);
                    tracing::warn!(key, "lost the connection holding a lock; taking it again");
                    wait = FIRST_RETRY.min(retry);
                }
                tokio::select! {
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                match take(&config, key).await {
                    Ok(Some(connection)) => held = Some(connection),
                    Ok(None) if alone => tracing::error!(
                        "another node took the sole-node lock while this one was cut off from \
                         the database; two nodes now serve one catalog: stop one"
                    ),
                    Ok(None) => {}
                    Err(error) => tracing::debug!(%error, key, "taking a lock again"),
                }
                wait = (wait * 2).min(retry);
            }
        });
        (stop, leading)
    }
}

/// A new connection holding the lock `key`, or None when another session holds it.
async fn take(config: &tokio_postgres::Config, key: i64) -> Result<Option<Held>, CatalogError> {
    let (client, connection) = super::connect_dedicated(config).await?;
    let connection = tokio::spawn(connection);
    let held: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .await?
        .get(0);
    if !held {
        connection.abort();
        return Ok(None);
    }
    Ok(Some(Box::pin(async move {
        // The client must live as long as the connection: dropping it would close it.
        let _client = client;
        let _ = connection.await;
    })))
}
