//! Scripts, management, keys and settings: the same answers on both backends.

use std::collections::BTreeMap;

use serde_json::json;

use super::{both, comparable, PgCluster};
use crate::catalog::builders::script_upsert;
use crate::catalog::{LoadStatus, ScriptFilter, ScriptPatch, ScriptUpsert};
use crate::domain::Runtime;

#[tokio::test]
async fn scripts_answer_alike_on_both_backends() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, sqlite, pg, _) = both(&cluster).await;
    let upsert = |path: &str, hash: &str, load| ScriptUpsert {
        description: Some("does 100% of the_work".into()),
        file_hash: hash.into(),
        load,
        ..script_upsert(path)
    };
    let scans: Vec<(Vec<ScriptUpsert>, Vec<i64>)> = vec![
        (
            vec![
                upsert("python/b.py", "h1", Some(Ok(json!({"n": {"flag": "--n"}})))),
                upsert("python/A.py", "h1", Some(Err("boom".into()))),
                upsert("python/s_1.py", "h1", Some(Ok(json!({})))),
                ScriptUpsert {
                    runtime: Runtime::Js,
                    ..upsert("js/b.js", "h1", Some(Ok(json!({}))))
                },
                // Ordered as bytes on both sides ('Z' before 'b'), whatever the locale.
                upsert("python/Z.py", "h1", Some(Ok(json!({})))),
            ],
            vec![],
        ),
        (vec![upsert("python/b.py", "h2", None)], vec![2, 3]),
        (
            vec![upsert("python/A.py", "h3", Some(Ok(json!({}))))],
            vec![],
        ),
    ];
    for (upserts, deleted) in scans {
        sqlite
            .apply_scan(upserts.clone(), deleted.clone())
            .await
            .unwrap();
        pg.apply_scan(upserts, deleted).await.unwrap();
    }
    let patch = ScriptPatch {
        alias: Some(Some("bee".into())),
        enabled: Some(false),
        timeout_sec: Some(Some(9)),
        execution_mode: Some(Some("cold".into())),
        ..Default::default()
    };
    let patched = (
        sqlite.patch_script(1, patch.clone()).await.unwrap(),
        pg.patch_script(1, patch.clone()).await.unwrap(),
    );
    assert_eq!(
        patched.0.as_ref().map(comparable),
        patched.1.as_ref().map(comparable)
    );
    assert!(
        pg.patch_script(3, patch).await.unwrap().is_none(),
        "3 was deleted (2 was deleted and came back)"
    );

    let filters = [
        ScriptFilter {
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            page: 2,
            page_size: 1,
            ..Default::default()
        },
        ScriptFilter {
            status: Some(LoadStatus::Ok),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            runtime: Some(Runtime::Js),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            search: Some("BEE".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            search: Some("s_".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
        ScriptFilter {
            search: Some("100%".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        },
    ];
    for filter in filters {
        let (a, b) = (
            sqlite.list_scripts(filter.clone()).await.unwrap(),
            pg.list_scripts(filter.clone()).await.unwrap(),
        );
        assert_eq!(a.total, b.total, "{filter:?}");
        let (a, b): (Vec<_>, Vec<_>) = (
            a.items.iter().map(comparable).collect(),
            b.items.iter().map(comparable).collect(),
        );
        assert_eq!(a, b, "{filter:?}");
    }
    for address in ["python/b", "python/A.py", "js/b", "python/s_1", "nothing"] {
        let (a, b) = (
            sqlite.scripts_at(address.into()).await.unwrap(),
            pg.scripts_at(address.into()).await.unwrap(),
        );
        let (a, b): (Vec<_>, Vec<_>) = (
            a.iter().map(comparable).collect(),
            b.iter().map(comparable).collect(),
        );
        assert_eq!(a, b, "{address}");
    }
    for id in 1..=5 {
        let (a, b) = (
            sqlite.script(id).await.unwrap(),
            pg.script(id).await.unwrap(),
        );
        assert_eq!(
            a.as_ref().map(comparable),
            b.as_ref().map(comparable),
            "script {id}"
        );
    }
    let path = "python/A.py".to_string();
    let (a, b) = (
        sqlite.script_by_path(path.clone()).await.unwrap(),
        pg.script_by_path(path).await.unwrap(),
    );
    assert_eq!(a.as_ref().map(comparable), b.as_ref().map(comparable));
    assert_eq!(
        sqlite.script_count().await.unwrap(),
        pg.script_count().await.unwrap()
    );
    let index = |entries: Vec<crate::catalog::ScriptIndexEntry>| {
        let mut entries: Vec<_> = entries.iter().map(|e| format!("{e:?}")).collect();
        entries.sort();
        entries
    };
    assert_eq!(
        index(sqlite.script_index().await.unwrap()),
        index(pg.script_index().await.unwrap())
    );
    let timestamp = pg.script(1).await.unwrap().unwrap().updated_at;
    assert_eq!(
        timestamp.len(),
        "2026-12-03T13:00:00.000Z".len(),
        "{timestamp}"
    );
    assert!(timestamp.ends_with('Z'));
}

#[tokio::test]
async fn keys_and_settings_answer_alike_on_both_backends() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let (_dir, sqlite, pg, _) = both(&cluster).await;
    for (name, hash, scope) in [("ci", "h-ci", "run"), ("ops", "h-ops", "admin")] {
        let a = sqlite
            .create_api_key(name.into(), hash.into(), "sg_ab".into(), scope.into())
            .await
            .unwrap();
        let b = pg
            .create_api_key(name.into(), hash.into(), "sg_ab".into(), scope.into())
            .await
            .unwrap();
        assert_eq!((a.id, a.name, a.scope), (b.id, b.name, b.scope));
    }
    assert!(
        pg.create_api_key("dup".into(), "h-ci".into(), "x".into(), "run".into())
            .await
            .is_err(),
        "a hash is unique"
    );
    assert!(
        pg.create_api_key("bad".into(), "h-bad".into(), "x".into(), "root".into())
            .await
            .is_err(),
        "the scope is checked"
    );
    pg.touch_api_key(1).await.unwrap();
    let revoked = pg.revoke_api_key(2).await.unwrap().unwrap();
    let again = pg.revoke_api_key(2).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at, again.revoked_at,
        "revoking twice keeps the first time"
    );
    sqlite.touch_api_key(1).await.unwrap();
    sqlite.revoke_api_key(2).await.unwrap();
    assert!(pg.revoke_api_key(9).await.unwrap().is_none());
    assert_eq!(pg.active_api_key_count().await.unwrap(), 1);
    for hash in ["h-ci", "h-ops", "h-none"] {
        assert_eq!(
            sqlite.find_api_key(hash.into()).await.unwrap(),
            pg.find_api_key(hash.into()).await.unwrap(),
            "{hash}"
        );
    }
    let listed = |keys: Vec<crate::catalog::ApiKeyRecord>| {
        keys.into_iter()
            .map(|k| {
                (
                    k.id,
                    k.name,
                    k.prefix,
                    k.scope,
                    k.last_used_at.is_some(),
                    k.revoked_at.is_some(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(sqlite.api_keys().await.unwrap()),
        listed(pg.api_keys().await.unwrap())
    );

    for catalog_values in [
        vec![
            ("timeout_sec".to_string(), json!(5.5)),
            ("notify_url".into(), json!("http://x")),
        ],
        vec![("timeout_sec".to_string(), json!(7))],
    ] {
        sqlite.store_settings(catalog_values.clone()).await.unwrap();
        pg.store_settings(catalog_values).await.unwrap();
    }
    sqlite
        .remove_settings(vec!["notify_url".into(), "never".into()])
        .await
        .unwrap();
    pg.remove_settings(vec!["notify_url".into(), "never".into()])
        .await
        .unwrap();
    assert_eq!(
        sqlite.stored_settings().await.unwrap(),
        pg.stored_settings().await.unwrap()
    );
    assert_eq!(
        pg.stored_settings().await.unwrap(),
        BTreeMap::from([("timeout_sec".into(), json!(7))])
    );
}
