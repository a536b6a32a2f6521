//! Leadership between nodes: one leads at a time, and it moves when the leader stops or the
//! database restarts.

use std::time::Duration;

use super::{both, PgCluster};
use crate::catalog::postgres::{Leadership, PgCatalog};

const KEY: i64 = 0x5347_5445_5354;
const RETRY: Duration = Duration::from_millis(100);

/// Waits until exactly one of `nodes` leads; returns its index.
async fn one_leader(nodes: &[&Leadership]) -> usize {
    let settled = async {
        loop {
            let leading: Vec<usize> = (0..nodes.len())
                .filter(|&i| nodes[i].is_leading())
                .collect();
            if let [one] = leading[..] {
                // Still one a little later: not a moment between a loss and a takeover.
                tokio::time::sleep(RETRY * 3).await;
                if nodes[one].is_leading()
                    && (0..nodes.len()).filter(|&i| nodes[i].is_leading()).count() == 1
                {
                    return one;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), settled)
        .await
        .expect("exactly one leader within 15 s")
}

/// The nodes still contending, by index, and their leadership.
fn contenders(nodes: &[Option<Leadership>]) -> (Vec<usize>, Vec<&Leadership>) {
    nodes
        .iter()
        .enumerate()
        .filter_map(|(i, node)| node.as_ref().map(|node| (i, node)))
        .unzip()
}

#[tokio::test]
async fn one_node_leads_and_leadership_moves_when_it_stops_or_the_database_restarts() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, _sqlite, a, url) = both(&cluster).await;
    let b = PgCatalog::connect(&url, "node-b").await.unwrap();
    let c = PgCatalog::connect(&url, "node-c").await.unwrap();
    let mut nodes: Vec<Option<Leadership>> = vec![
        Some(a.contend(KEY, RETRY)),
        Some(b.contend(KEY, RETRY)),
        Some(c.contend(KEY, RETRY)),
    ];
    let (ids, refs) = contenders(&nodes);
    let first = ids[one_leader(&refs).await];

    // The leader stops: another takes over.
    nodes[first] = None;
    let (ids, refs) = contenders(&nodes);
    let second = ids[one_leader(&refs).await];
    assert_ne!(second, first);

    // Every connection is cut: once the database is back, one node leads again.
    cluster.stop_immediately();
    cluster.restart();
    let (_, refs) = contenders(&nodes);
    one_leader(&refs).await;
    let held = cluster.psql_in(
        &url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    );
    assert_eq!(held, "1");
}
