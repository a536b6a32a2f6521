//! What a run printed and the files it was given or wrote, kept in PostgreSQL so that every
//! node can replay and serve them, whichever worker ran it. Rows go with their run (retention
//! deletes cascade); the output caps that bound a run's folder bound these rows too.

use super::{text, PgCatalog};
use crate::catalog::CatalogError;

/// The channel whose payload is a run id, sent when new events of that run were stored.
pub const RUN_EVENTS_CHANNEL: &str = "run_events";

/// One line of a run's live output, numbered from 1 in the order it was printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    /// `stdout`, `stderr`, or another event name of the live stream.
    pub event: String,
    pub data: String,
}

/// Whether a stored file was given to the run or written by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    Input,
    Output,
}

impl FileRole {
    fn as_str(self) -> &'static str {
        match self {
            FileRole::Input => "input",
            FileRole::Output => "output",
        }
    }
}

impl PgCatalog {
    /// Stores a batch of a run's events and tells the listeners of `run_events`, in one
    /// transaction: a listener woken by the notification finds the rows.
    pub async fn append_run_events(
        &self,
        run_id: i64,
        events: Vec<StoredEvent>,
    ) -> Result<(), CatalogError> {
        if events.is_empty() {
            return Ok(());
        }
        let (mut seqs, mut names, mut data) = (Vec::new(), Vec::new(), Vec::new());
        for event in events {
            seqs.push(event.seq);
            names.push(event.event);
            data.push(text::store(&event.data).into_owned());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO run_events (run_id, seq, event, data)
                 SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])",
            )
            .await?;
        tx.execute(&insert, &[&run_id, &seqs, &names, &data])
            .await?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&RUN_EVENTS_CHANNEL, &run_id.to_string()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A run's events after `after` (0 for all), oldest first, at most `limit`.
    pub async fn run_events_after(
        &self,
        run_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, CatalogError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(
                "SELECT seq, event, data FROM run_events
                 WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .await?;
        let rows = client.query(&select, &[&run_id, &after, &limit]).await?;
        Ok(rows
            .iter()
            .map(|row| StoredEvent {
                seq: row.get(0),
                event: row.get(1),
                data: text::load(row.get(2)),
            })
            .collect())
    }

    /// Stores files of a run (a name given again replaces its bytes).
    pub async fn put_run_files(
        &self,
        run_id: i64,
        role: FileRole,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO run_files (run_id, role, name, bytes) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run_id, role, name) DO UPDATE SET bytes = excluded.bytes",
            )
            .await?;
        for (name, bytes) in &files {
            tx.execute(&upsert, &[&run_id, &role.as_str(), name, bytes])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The names and sizes of a run's files in `role`, by name.
    pub async fn run_file_list(
        &self,
        run_id: i64,
        role: FileRole,
    ) -> Result<Vec<(String, i64)>, CatalogError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, octet_length(bytes)::bigint FROM run_files
                 WHERE run_id = $1 AND role = $2 ORDER BY name COLLATE \"C\"",
                &[&run_id, &role.as_str()],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// One file's bytes; None when the run has no such file.
    pub async fn run_file(
        &self,
        run_id: i64,
        role: FileRole,
        name: String,
    ) -> Result<Option<Vec<u8>>, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT bytes FROM run_files WHERE run_id = $1 AND role = $2 AND name = $3",
                &[&run_id, &role.as_str(), &name],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }
}
