//! LISTEN/NOTIFY between two nodes of one catalog, through a database restart.

use std::time::Duration;

use tokio::sync::broadcast::Receiver;

use super::{both, PgCluster};
use crate::catalog::postgres::{Notice, PgCatalog};

async fn next(notices: &mut Receiver<Notice>) -> Notice {
    tokio::time::timeout(Duration::from_secs(15), notices.recv())
        .await
        .expect("a notice within 15 s")
        .expect("the listener is running")
}

#[tokio::test]
async fn a_notification_reaches_another_node_and_listening_survives_a_database_restart() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, _sqlite, here, url) = both(&cluster).await;
    let there = PgCatalog::connect(&url, "node-b").await.unwrap();
    let listener = here.listen(&["run_ended", "odd \"name\""]).await.unwrap();
    let mut notices = listener.subscribe();
    there.notify("run_ended", "42").await.unwrap();
    there.notify("not_listened", "1").await.unwrap();
    there.notify("odd \"name\"", "x").await.unwrap();
    assert_eq!(
        next(&mut notices).await,
        Notice::Message {
            channel: "run_ended".into(),
            payload: "42".into()
        }
    );
    assert_eq!(
        next(&mut notices).await,
        Notice::Message {
            channel: "odd \"name\"".into(),
            payload: "x".into()
        }
    );

    cluster.stop_immediately();
    cluster.restart();
    assert_eq!(next(&mut notices).await, Notice::Reconnected);
    there.notify("run_ended", "43").await.unwrap();
    assert_eq!(
        next(&mut notices).await,
        Notice::Message {
            channel: "run_ended".into(),
            payload: "43".into()
        }
    );

    // The last handle gone, the listener's connection closes.
    drop(listener);
    let listening = || {
        cluster.psql_in(
            &url,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
        )
    };
    let closed = async {
        while listening() != "0" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the listening connection closed");
}
