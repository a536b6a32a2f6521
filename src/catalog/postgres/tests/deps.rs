//! Dependency caches and install logs: the same answers on both backends, and each node's
//! own caches on PostgreSQL.

use super::{both, PgCluster};
use crate::catalog::builders::script_upsert;
use crate::catalog::postgres::PgCatalog;
use crate::catalog::{Catalog, DepCache, InstallEnd, NewInstall, ScriptDepsState, ScriptUpsert};
use crate::domain::Runtime;

fn comparable(cache: &DepCache) -> String {
    let mut cache = cache.clone();
    cache.created_at.clear();
    cache.installed_at = cache.installed_at.map(|_| "set".into());
    cache.last_used_at = cache.last_used_at.map(|_| "set".into());
    assert!(
        (0.0..0.01).contains(&cache.idle_days),
        "{}",
        cache.idle_days
    );
    cache.idle_days = 0.0;
    format!("{cache:?}")
}

fn install(hash: &str) -> NewInstall {
    NewInstall {
        runtime: Runtime::Python,
        hash: hash.into(),
        deps: vec!["requests==2.32.3".into()],
        cache_dir: format!("/data/deps/python/{hash}"),
        trigger: "scan",
        command: "uv pip install".into(),
    }
}

/// Everything both catalogs say about dependencies, clock readings aside.
async fn state(sqlite: &Catalog, pg: &PgCatalog) -> (String, String) {
    let mut a = String::new();
    let mut b = String::new();
    for cache in sqlite.dep_caches().await.unwrap() {
        a += &comparable(&cache);
    }
    for cache in pg.dep_caches().await.unwrap() {
        b += &comparable(&cache);
    }
    for row in sqlite.script_deps_rows().await.unwrap() {
        a += &format!("{:?}{:?}", row.path, row.state);
    }
    for row in pg.script_deps_rows().await.unwrap() {
        b += &format!("{:?}{:?}", row.path, row.state);
    }
    for hash in ["h1", "h2", "h3"] {
        let (last_a, count_a) = sqlite
            .last_dep_install(Runtime::Python, hash.into())
            .await
            .unwrap();
        let (last_b, count_b) = pg
            .last_dep_install(Runtime::Python, hash.into())
            .await
            .unwrap();
        let shown = |log: Option<crate::catalog::InstallLog>| {
            log.map(|l| {
                (
                    l.id,
                    l.trigger,
                    l.status,
                    l.command,
                    l.log,
                    l.finished_at.is_some(),
                    l.duration_ms,
                )
            })
        };
        a += &format!("{:?}{count_a}", shown(last_a));
        b += &format!("{:?}{count_b}", shown(last_b));
    }
    (a, b)
}

#[tokio::test]
async fn dependency_caches_answer_alike_and_belong_to_their_node() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, sqlite, pg, url) = both(&cluster).await;
    let scan: Vec<ScriptUpsert> = ["python/a.py", "python/b.py", "python/c.py"]
        .into_iter()
        .map(script_upsert)
        .collect();
    sqlite.apply_scan(scan.clone(), vec![]).await.unwrap();
    pg.apply_scan(scan, vec![]).await.unwrap();
    let states: Vec<(String, ScriptDepsState)> = [("python/a.py", "h1"), ("python/b.py", "h2")]
        .into_iter()
        .map(|(path, hash)| {
            let state = ScriptDepsState {
                file: Some("python/requirements.txt".into()),
                hash: Some(hash.into()),
                status: None,
                error: None,
            };
            (path.to_string(), state)
        })
        .collect();
    sqlite.set_script_deps(states.clone()).await.unwrap();
    pg.set_script_deps(states).await.unwrap();

    let (a, b) = (
        sqlite.begin_dep_install(install("h1")).await.unwrap(),
        pg.begin_dep_install(install("h1")).await.unwrap(),
    );
    assert_eq!(a, b);
    let (sa, sb) = state(&sqlite, &pg).await;
    assert_eq!(sa, sb, "installing");
    assert!(sb.contains("installing"));
    let ready = InstallEnd::Ready { size_bytes: 4096 };
    sqlite
        .finish_dep_install(
            Runtime::Python,
            "h1".into(),
            a,
            ready.clone(),
            "ok".into(),
            12,
        )
        .await
        .unwrap();
    pg.finish_dep_install(Runtime::Python, "h1".into(), b, ready, "ok".into(), 12)
        .await
        .unwrap();
    for (hash, still_ready) in [("h1", true), ("h2", false)] {
        let failed = InstallEnd::Failed {
            error: "no such package".into(),
            cache_still_ready: still_ready,
        };
        let a = sqlite.begin_dep_install(install(hash)).await.unwrap();
        let b = pg.begin_dep_install(install(hash)).await.unwrap();
        sqlite
            .finish_dep_install(
                Runtime::Python,
                hash.into(),
                a,
                failed.clone(),
                "x".into(),
                5,
            )
            .await
            .unwrap();
        pg.finish_dep_install(Runtime::Python, hash.into(), b, failed, "x".into(), 5)
            .await
            .unwrap();
    }
    let found = |c: &str| {
        (
            Runtime::Python,
            "h3".to_string(),
            vec!["x".to_string()],
            c.to_string(),
        )
    };
    let (r, h, d, c) = found("/data/deps/python/h3");
    sqlite
        .mark_dep_cache_found(r, h.clone(), d.clone(), c.clone())
        .await
        .unwrap();
    pg.mark_dep_cache_found(r, h, d, c).await.unwrap();
    sqlite
        .touch_dep_cache(Runtime::Python, "h1".into())
        .await
        .unwrap();
    pg.touch_dep_cache(Runtime::Python, "h1".into())
        .await
        .unwrap();
    let (sa, sb) = state(&sqlite, &pg).await;
    assert_eq!(sa, sb, "after installs");
    for hash in ["h1", "h2", "h3", "h4"] {
        let (a, b) = (
            sqlite
                .dep_cache(Runtime::Python, hash.into())
                .await
                .unwrap(),
            pg.dep_cache(Runtime::Python, hash.into()).await.unwrap(),
        );
        assert_eq!(
            a.as_ref().map(comparable),
            b.as_ref().map(comparable),
            "{hash}"
        );
    }

    // Another node sees none of this node's caches, and records its own beside them.
    let other = PgCatalog::connect(&url, "node-b").await.unwrap();
    assert!(other.dep_caches().await.unwrap().is_empty());
    assert_eq!(
        other
            .last_dep_install(Runtime::Python, "h1".into())
            .await
            .unwrap()
            .1,
        0
    );
    other.begin_dep_install(install("h1")).await.unwrap();
    other.forget_unfinished_dep_installs().await.unwrap();
    assert!(other
        .dep_cache(Runtime::Python, "h1".into())
        .await
        .unwrap()
        .is_none());
    assert!(
        pg.dep_cache(Runtime::Python, "h1".into())
            .await
            .unwrap()
            .is_some(),
        "untouched"
    );

    sqlite.begin_dep_install(install("h4")).await.unwrap();
    pg.begin_dep_install(install("h4")).await.unwrap();
    sqlite.forget_unfinished_dep_installs().await.unwrap();
    pg.forget_unfinished_dep_installs().await.unwrap();
    sqlite
        .delete_dep_cache(Runtime::Python, "h3".into())
        .await
        .unwrap();
    pg.delete_dep_cache(Runtime::Python, "h3".into())
        .await
        .unwrap();
    let (sa, sb) = state(&sqlite, &pg).await;
    assert_eq!(sa, sb, "after forgetting and deleting");
    assert_eq!(
        sqlite.script_deps_row(1).await.unwrap().map(|r| r.state),
        pg.script_deps_row(1).await.unwrap().map(|r| r.state)
    );
}
