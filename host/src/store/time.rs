//! Time as the store keeps it: signed unix seconds, and WeChat's quota day.

/// Unix seconds now, as stored (SQLite integers are signed).
pub fn now_secs() -> i64 {
    crate::unix_now() as i64
}

/// Unix milliseconds now, as stored (expiries finer than a second: locks,
/// sessions).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The calendar day (`YYYY-MM-DD`) in Beijing time (UTC+8) of unix second
/// `t`: WeChat's daily quotas reset at Beijing midnight.
pub fn quota_day(t: i64) -> String {
    let (y, m, d) = civil_from_days((t + 8 * 3600).div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix second `t` as `YYYY-MM-DD HH:MM:SS UTC` (for CLI output).
pub fn format_utc(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// algorithm, proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quota_day_is_beijing_time() {
        assert_eq!(super::quota_day(0), "1970-01-01");
        // 2024-02-29 15:59:59 UTC = 23:59:59 in Beijing; one second later is March 1st there.
        assert_eq!(super::quota_day(1_709_222_399), "2024-02-29");
        assert_eq!(super::quota_day(1_709_222_400), "2024-03-01");
        assert_eq!(super::format_utc(1_709_222_399), "2024-02-29 15:59:59 UTC");
    }
}
