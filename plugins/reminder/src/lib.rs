//! `reminder`: on each tick of its schedules, sends a template message
//! through the host's outbound queue to every openid of its config `to`
//! (comma-separated) with its config `template_id`, and records the run in
//! kv (`runs`: how many; `last`: the last tick and how many were queued).
//!
//! ```toml
//! [plugin.reminder]
//! capabilities = ["outbound"]
//! [plugin.reminder.config]
//! to = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M,o6_bmasdasdsad6_2sgVt7hMZOPfL"
//! template_id = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
//! # optional: WeChat's template `data` (`{tick}` is replaced by the tick's
//! # time, Beijing time, `{schedule}` by the schedule's name) and the link
//! data = '{"thing1": {"value": "{schedule}"}, "time2": {"value": "{tick}"}}'
//! url = "https://example.com/today"
//! [plugin.reminder.schedules]
//! evening = { cron = "0 0 20 * * *", catch_up = "once" }
//! ```
//!
//! Each job carries an idempotency key of the tick and the openid, so a
//! tick run twice (it never is, but a plugin should not rely on it) queues
//! each message once.

use wxhost_sdk::prelude::*;

struct Reminder;

impl Plugin for Reminder {
    fn describe() -> PluginInfo {
        // Messages are not its business: it only runs on schedules.
        PluginInfo::new("reminder", env!("CARGO_PKG_VERSION"))
    }
}

/// The template `data` for one tick.
fn data(tick: &Tick) -> Result<serde_json::Value, String> {
    let template = config::get("data").unwrap_or_else(|| {
        r#"{"thing1": {"value": "{schedule}"}, "time2": {"value": "{tick}"}}"#.into()
    });
    let filled = template
        .replace("{schedule}", &tick.name)
        .replace("{tick}", &beijing_time(tick.scheduled_at));
    serde_json::from_str(&filled).map_err(|e| format!("config data is not JSON: {e}"))
}

/// `2026-12-08 20:00` in UTC+8 (China has no daylight saving time).
fn beijing_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000 + 8 * 3600;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

impl Scheduled for Reminder {
    fn handle_schedule(tick: Tick) -> Result<(), String> {
        let template_id = config::get("template_id")
            .filter(|t| !t.is_empty())
            .ok_or("config template_id is not set")?;
        let to = config::get("to").unwrap_or_default();
        let openids: Vec<&str> = to
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect();
        if openids.is_empty() {
            log::warn(&format!("schedule {}: config `to` lists nobody", tick.name));
        }
        let data = data(&tick)?;
        let url = config::get("url");
        let mut queued = 0;
        let mut failures = Vec::new();
        for openid in &openids {
            let mut job = serde_json::json!({
                "channel": "template",
                "to": openid,
                "template_id": template_id,
                "data": data,
                "key": format!("reminder/{}/{}/{openid}", tick.name, tick.scheduled_at),
            });
            if let Some(u) = &url {
                job["url"] = serde_json::Value::String(u.clone());
            }
            match outbound::enqueue(&job.to_string()) {
                Ok(id) => {
                    queued += 1;
                    log::info(&format!("queued job {id} for {openid}"));
                }
                Err(e) => failures.push(format!("{openid}: {e}")),
            }
        }
        kv::incr("runs")?;
        kv::set_string(
            "last",
            &format!("{} {} {queued}", tick.name, tick.scheduled_at),
        )?;
        log::info(&format!(
            "schedule {} at {}: {queued} of {} queued",
            tick.name,
            tick.scheduled_at,
            openids.len()
        ));
        match failures.is_empty() {
            true => Ok(()),
            false => Err(format!("not queued: {}", failures.join("; "))),
        }
    }
}

wxhost_sdk::export_scheduled_plugin!(Reminder);

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_are_shown_in_beijing_time() {
        // 2026-12-08T12:00:00Z is 20:00 in Beijing.
        assert_eq!(super::beijing_time(1_796_731_200_000), "2026-12-08 20:00");
        assert_eq!(super::beijing_time(0), "1970-01-01 08:00");
    }
}
