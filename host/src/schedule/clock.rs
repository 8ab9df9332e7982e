//! Tick arithmetic: when a cron expression, read in the configured time
//! zone, is next due, and which tick was the last one missed. Times are Unix
//! milliseconds (what the store keeps and the WIT `tick` carries).

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How many ticks [`last_missed`] walks at most: a schedule every second
/// missed for a day is 86,400; beyond the bound it settles for the newest
/// tick it can find by stepping back from now.
const MAX_STEPS: usize = 200_000;

fn at(ms: u64, tz: Tz) -> DateTime<Tz> {
    let utc = Utc
        .timestamp_millis_opt(ms as i64)
        .single()
        .unwrap_or_else(Utc::now);
    utc.with_timezone(&tz)
}

fn ms(t: &DateTime<Tz>) -> u64 {
    t.timestamp_millis().max(0) as u64
}

/// The first tick strictly after `after_ms`; `None` if there is none (a
/// year that has passed).
pub fn next_after(cron: &cron::Schedule, tz: Tz, after_ms: u64) -> Option<u64> {
    cron.after(&at(after_ms, tz)).next().map(|t| ms(&t))
}

/// The newest tick in `(since_ms, now_ms]`: the one a `catch_up = "once"`
/// run stands for. `None` when nothing was missed.
pub fn last_missed(cron: &cron::Schedule, tz: Tz, since_ms: u64, now_ms: u64) -> Option<u64> {
    let mut newest = None;
    for t in cron.after(&at(since_ms, tz)).take(MAX_STEPS) {
        let t = ms(&t);
        if t > now_ms {
            return newest;
        }
        newest = Some(t);
    }
    // Very many missed: the newest tick within the last day, if any.
    let day = 24 * 3600 * 1000;
    let mut from = now_ms.saturating_sub(day).max(since_ms);
    let mut found = newest;
    while let Some(t) = next_after(cron, tz, from) {
        if t > now_ms {
            break;
        }
        found = Some(t);
        from = t;
    }
    found
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn ticks_are_read_in_the_time_zone() {
        let daily = cron::Schedule::from_str("0 30 8 * * *").unwrap();
        // 2026-12-08T00:00:00Z is 08:00 in Shanghai: 08:30 there is 00:30Z.
        let midnight_z = 1_796_688_000_000;
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            next_after(&daily, shanghai, midnight_z),
            Some(midnight_z + 30 * 60 * 1000)
        );
        // In UTC it is 08:30Z.
        assert_eq!(
            next_after(&daily, Tz::UTC, midnight_z),
            Some(midnight_z + (8 * 60 + 30) * 60 * 1000)
        );
    }

    #[test]
    fn the_last_missed_tick_is_the_newest_before_now() {
        let every2 = cron::Schedule::from_str("*/2 * * * * *").unwrap();
        let t0 = 1_796_688_000_000;
        assert_eq!(
            last_missed(&every2, Tz::UTC, t0, t0 + 7_000),
            Some(t0 + 6_000)
        );
        assert_eq!(last_missed(&every2, Tz::UTC, t0, t0 + 1_000), None);
        // A schedule every second missed for three days: found without
        // walking every tick.
        let every1 = cron::Schedule::from_str("* * * * * *").unwrap();
        let now = t0 + 3 * 86_400_000 + 500;
        assert_eq!(last_missed(&every1, Tz::UTC, t0, now), Some(now - 500));
    }
}
