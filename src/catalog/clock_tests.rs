//! The crate's timestamps are the text SQLite's own `strftime` writes for the same instant.

use std::time::{Duration, UNIX_EPOCH};

use crate::clock::{now_text, utc_timestamp};

#[test]
fn the_text_is_what_sqlite_writes_for_the_same_instant() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let instants_ms: [u64; 8] = [
        0,
        951_782_400_123,   // 2000-02-29
        951_868_799_999,   // 2000-02-29T23:59:59.999
        4_107_542_400_000, // 2100-03-01
        1_798_761_599_500, // 2026-12-31T23:59:59.500
        1_709_164_800_007, // 2024-02-29
        253_402_300_799_000,
        1_000,
    ];
    for ms in instants_ms {
        let ours = utc_timestamp(UNIX_EPOCH + Duration::from_millis(ms));
        let sqlite: String = conn
            .query_row(
                "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1 / 1000.0, 'unixepoch')",
                [i64::try_from(ms).unwrap()],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(ours, sqlite, "{ms} ms");
    }
}

#[test]
fn now_is_now() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let before: String = conn
        .query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |r| {
            r.get(0)
        })
        .unwrap();
    let ours = now_text();
    assert!(ours >= before, "{ours} < {before}");
    assert_eq!(ours.len(), "2026-12-02T16:00:00.000Z".len());
}
