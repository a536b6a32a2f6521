//! Catalog lookups every resource shares: a script or run by id, absent as one 404, and the
//! page bounds every list validates.

use crate::catalog::{Run, Script};
use crate::error::{ApiError, ErrorCode};

use super::AppState;

/// The largest page any list answers.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The 404 for a script id that names nothing.
pub fn script_not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("no script with id {id}"))
}

/// The 404 for a run id that names nothing.
pub fn run_not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("no run with id {id}"))
}

/// The 422 for a script whose ARGS_MAP could not be loaded, with the reason.
pub fn schema_not_loadable(script: &Script) -> ApiError {
    ApiError::new(
        ErrorCode::SchemaNotLoadable,
        format!(
            "the schema of {} could not be loaded: {}",
            script.path,
            script.load_error.as_deref().unwrap_or_default()
        ),
    )
}

/// The script with this id, or its 404.
pub async fn find_script(state: &AppState, id: i64) -> Result<Script, ApiError> {
    state
        .catalog
        .script(id)
        .await?
        .ok_or_else(|| script_not_found(id))
}

/// The script at `address` (its path, with or without the extension), its 404, or a 409
/// `ambiguous_path` when the address leaves out an extension two scripts differ by.
pub async fn find_script_at(state: &AppState, address: &str) -> Result<Script, ApiError> {
    let mut found = state.catalog.scripts_at(address.to_string()).await?;
    // `python/a.py` is that script even when `python/a.py.py` exists too.
    if let Some(exact) = found.iter().position(|s| s.path == address) {
        return Ok(found.swap_remove(exact));
    }
    match found.len() {
        0 => Err(ApiError::not_found(format!(
            "no script at {address} (a script that was moved or renamed answers at its new path; GET /api/scripts lists them)"
        ))),
        1 => Ok(found.remove(0)),
        _ => {
            let paths: Vec<&str> = found.iter().map(|s| s.path.as_str()).collect();
            Err(ApiError::new(
                ErrorCode::AmbiguousPath,
                format!(
                    "{address} names {}; give the path with its extension",
                    paths.join(" and ")
                ),
            ))
        }
    }
}

/// The run with this id, or its 404.
pub async fn find_run(state: &AppState, id: i64) -> Result<Run, ApiError> {
    state
        .catalog
        .run(id)
        .await?
        .ok_or_else(|| run_not_found(id))
}

/// Validated pagination: pages start at 1, sizes are 1..=MAX_PAGE_SIZE (default 20).
pub fn page_bounds(page: Option<u32>, page_size: Option<u32>) -> Result<(u32, u32), ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidQuery, message);
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(invalid("page starts at 1".into()));
    }
    let page_size = page_size.unwrap_or(20);
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(invalid(format!(
            "page_size must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok((page, page_size))
}

/// A time bound of the history, checked here so a typo is a 400 rather than an empty page:
/// `YYYY-MM-DD`, optionally `THH:MM[:SS[.fff]]`, optionally `Z` or `±HH:MM`, naming a day the
/// calendar has and a time the clock shows (SQLite would read 2026-02-30 as March 2nd).
pub fn instant(name: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if is_iso_instant(&text) {
        return Ok(Some(text));
    }
    Err(ApiError::new(
        ErrorCode::InvalidQuery,
        format!("{name} must be an ISO 8601 date or time like 2026-05-01T08:00:00Z, not {text:?}"),
    ))
}

fn is_iso_instant(text: &str) -> bool {
    let shape = |part: &str, pattern: &str| {
        part.len() == pattern.len()
            && part.chars().zip(pattern.chars()).all(|(c, p)| match p {
                'd' => c.is_ascii_digit(),
                other => c == other,
            })
    };
    // Digits at `at` of a part whose shape was checked.
    let number =
        |part: &str, at: std::ops::Range<usize>| part[at].parse::<u32>().unwrap_or(u32::MAX);
    let (date, time) = text.split_once('T').unwrap_or((text, ""));
    if !shape(date, "dddd-dd-dd") {
        return false;
    }
    let (year, month, day) = (number(date, 0..4), number(date, 5..7), number(date, 8..10));
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    if time.is_empty() {
        return !text.contains('T');
    }
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let clock_ok = shape(clock, "dd:dd")
        || shape(clock, "dd:dd:dd")
        || (clock.len() > 9
            && shape(&clock[..9], "dd:dd:dd.")
            && clock[9..].chars().all(|c| c.is_ascii_digit()));
    let clock_in_range = || {
        number(clock, 0..2) < 24
            && number(clock, 3..5) < 60
            && (clock.len() == 5 || number(clock, 6..8) < 60)
    };
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (shape(&zone[1..], "dd:dd") && number(zone, 1..3) < 24 && number(zone, 4..6) < 60);
    clock_ok && clock_in_range() && zone_ok
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::is_iso_instant;

    #[test]
    fn time_bounds_take_iso_dates_and_times_only() {
        for (text, ok) in [
            ("2026-05-01", true),
            ("2026-05-01T08:00", true),
            ("2026-05-01T08:00:00Z", true),
            ("2026-05-01T08:00:00.123Z", true),
            ("2026-05-01T08:00:00+02:00", true),
            ("2026-05-01T08:00-05:30", true),
            ("yesterday", false),
            ("2026-5-1", false),
            ("2026-05-01T", false),
            ("2026-05-01T08", false),
            ("2026-05-01T08:00:00.Z", false),
            ("2026-05-01T08:00+2", false),
            ("2026-05-01 08:00", false),
            ("2024-02-29", true),
            ("2000-02-29T23:59:59.999-23:59", true),
            ("1900-02-29", false),
            ("2026-02-30", false),
            ("2026-04-31", false),
            ("2026-00-01", false),
            ("2026-01-00", false),
            ("2026-05-01T24:00", false),
            ("2026-05-01T23:60", false),
            ("2026-05-01T23:59:60Z", false),
            ("2026-05-01T08:00+24:00", false),
            ("2026-05-01T08:00-05:60", false),
        ] {
            assert_eq!(is_iso_instant(text), ok, "{text}");
        }
    }
}
