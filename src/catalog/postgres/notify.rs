//! PostgreSQL's LISTEN/NOTIFY for the nodes of one catalog: one dedicated connection per
//! listener, outside the pool, its notifications fanned out in memory. A lost connection (a
//! database restart) is opened again with backoff and the channels listened to again; since
//! notifications sent meanwhile are gone, subscribers get [`Notice::Reconnected`] and re-read
//! what they wait for.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::PgCatalog;
use crate::catalog::CatalogError;

/// Notices kept for a subscriber that falls behind; older ones are dropped (it then learns
/// it lagged, and re-reads like after a reconnect).
const BACKLOG: usize = 1024;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// What a listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `NOTIFY channel, 'payload'` from any node (this one included).
    Message { channel: String, payload: String },
    /// The connection was lost and is back: anything sent in between was missed.
    Reconnected,
}

/// A running listener; it stops when the last handle is dropped.
#[derive(Clone)]
pub struct Listener {
    notices: broadcast::Sender<Notice>,
    _stop: std::sync::Arc<DropGuard>,
}

impl Listener {
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }
}

impl PgCatalog {
    /// Starts listening on `channels`; returns once the first connection listens, so a
    /// notification sent after this returns is heard.
    pub async fn listen(&self, channels: &[&str]) -> Result<Listener, CatalogError> {
        let (notices, _) = broadcast::channel(BACKLOG);
        let stop = CancellationToken::new();
        let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        let config = self.config.clone();
        let first = open(&config, &channels, &notices).await?;
        let (sender, token) = (notices.clone(), stop.clone());
        tokio::spawn(async move {
            let mut connection = first;
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    () = &mut connection => {}
                }
                tracing::warn!("the PostgreSQL notification connection was lost; reconnecting");
                let mut wait = FIRST_RETRY;
                connection = loop {
                    tokio::select! {
                        () = token.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    match open(&config, &channels, &sender).await {
                        Ok(connection) => break connection,
                        Err(error) => {
                            tracing::debug!(%error, "reconnecting for notifications");
                            wait = (wait * 2).min(LAST_RETRY);
                        }
                    }
                };
                let _ = sender.send(Notice::Reconnected);
            }
        });
        Ok(Listener {
            notices,
            _stop: std::sync::Arc::new(stop.drop_guard()),
        })
    }

    /// Sends `payload` to every listener of `channel`, on every node.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await?;
        Ok(())
    }
}

/// A connection that listens on `channels` and forwards what it hears to `notices`; the
/// returned future ends when the connection does.
async fn open(
    config: &tokio_postgres::Config,
    channels: &[String],
    notices: &broadcast::Sender<Notice>,
) -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>, CatalogError> {
    let (client, mut connection) = super::connect_dedicated(config).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let forward = notices.clone();
    let pump = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    let _ = forward.send(Notice::Message {
                        channel: note.channel().to_string(),
                        payload: note.payload().to_string(),
                    });
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let listens: String = channels
        .iter()
        .map(|channel| format!("LISTEN \"{}\";", channel.replace('"', "\"\"")))
        .collect();
    client.batch_execute(&listens).await?;
    Ok(Box::pin(async move {
        // The client must live as long as the connection: dropping it would close it.
        let _client = client;
        let _ = pump.await;
    }))
}
