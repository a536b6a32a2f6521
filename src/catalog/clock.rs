//! The timestamps of a run's record, made here: SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`
//! went through its date parser and formatter three times a run, ≈ 3% of the gateway's CPU per
//! run. Same text, same clock (the system's real-time clock, milliseconds truncated).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
pub fn now_text() -> String {
    text_of(SystemTime::now())
}

fn text_of(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * shifted_month + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
            let ours = text_of(UNIX_EPOCH + Duration::from_millis(ms));
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
}
