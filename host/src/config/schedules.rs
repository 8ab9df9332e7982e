//! `[schedules]` and the schedules plugins run on: `[plugin.<id>.schedules]`
//! (every account) and `[account.<name>.plugin.<id>.schedules]` (that
//! account's, replacing the plugin's for it). A schedule is a cron
//! expression — six fields, seconds first (`"0 30 8 * * *"`: 08:30:00
//! every day) — read in `[schedules] timezone`, with what to do about
//! ticks missed while no instance ran (`catch_up`), a bounded start jitter
//! and an optional time limit of its own.
//!
//! Everything is parsed here, at load, so a bad expression or time zone is
//! a config error naming the plugin and the schedule, never a run that
//! silently does not happen.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// `[schedules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulesConfig {
    /// Run schedules in `serve` (set false on instances that should not).
    pub enabled: bool,
    /// The IANA time zone cron expressions are read in. WeChat's users
    /// mostly live in China: `Asia/Shanghai` by default.
    pub timezone: String,
    /// The longest any run may take, whatever its plugin's `timeout_ms`.
    pub max_run_ms: u64,
}

impl Default for SchedulesConfig {
    fn default() -> Self {
        SchedulesConfig {
            enabled: true,
            timezone: "Asia/Shanghai".to_owned(),
            max_run_ms: 60_000,
        }
    }
}

impl SchedulesConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.tz()?;
        if self.max_run_ms == 0 {
            return Err(invalid("schedules.max_run_ms", "must be positive"));
        }
        Ok(())
    }

    /// The time zone, parsed.
    pub fn tz(&self) -> Result<chrono_tz::Tz, ConfigError> {
        chrono_tz::Tz::from_str(&self.timezone).map_err(|_| {
            invalid(
                "schedules.timezone",
                format!(
                    "{:?} is not an IANA time zone (e.g. \"Asia/Shanghai\", \"UTC\")",
                    self.timezone
                ),
            )
        })
    }
}

/// What happens to ticks missed while no instance ran (a restart, an
/// outage): `skip` them, or run `once` for all of them together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchUp {
    #[default]
    Skip,
    Once,
}

impl CatchUp {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Skip => "skip",
            CatchUp::Once => "once",
        }
    }
}

/// One schedule as written: `"<cron>"`, or a table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ScheduleDecl {
    Cron(String),
    Table(ScheduleTable),
}

/// `{ cron = "…", catch_up = "once", jitter_ms = 5000, timeout_ms = 30000 }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTable {
    pub cron: String,
    #[serde(default)]
    pub catch_up: CatchUp,
    #[serde(default)]
    pub jitter_ms: u64,
    /// This schedule's time limit (default: the plugin's `timeout_ms`);
    /// never more than `[schedules] max_run_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// The longest start jitter: spreading a tick's runs over a minute is
/// plenty, and a longer one would overlap the next tick of most schedules.
pub const MAX_JITTER_MS: u64 = 60_000;

/// A schedule, parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub cron: cron::Schedule,
    pub catch_up: CatchUp,
    pub jitter: Duration,
    pub timeout: Option<Duration>,
}

impl Schedule {
    /// The expression as written.
    pub fn expr(&self) -> &str {
        self.cron.source()
    }
}

/// Whether `name` may name a schedule: it becomes a key segment and a
/// metrics label.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses `decl`; `key` names it in errors (`plugin.reminder.schedules.daily`).
pub fn parse(key: &str, name: &str, decl: &ScheduleDecl) -> Result<Schedule, ConfigError> {
    if !valid_name(name) {
        return Err(invalid(
            key,
            "a schedule's name is 1 to 64 letters, digits, - or _",
        ));
    }
    let table = match decl {
        ScheduleDecl::Cron(cron) => ScheduleTable {
            cron: cron.clone(),
            catch_up: CatchUp::Skip,
            jitter_ms: 0,
            timeout_ms: None,
        },
        ScheduleDecl::Table(t) => t.clone(),
    };
    let fields = table.cron.split_whitespace().count();
    if fields != 6 {
        return Err(invalid(
            key,
            format!(
                "{:?} has {fields} fields: a schedule has six, seconds first (\"0 30 8 * * *\" is 08:30:00 every day)",
                table.cron
            ),
        ));
    }
    let cron = cron::Schedule::from_str(&table.cron).map_err(|e| {
        invalid(
            key,
            format!("{:?} is not a cron expression: {e}", table.cron),
        )
    })?;
    if table.jitter_ms > MAX_JITTER_MS {
        return Err(invalid(
            &format!("{key}.jitter_ms"),
            format!("must be at most {MAX_JITTER_MS}"),
        ));
    }
    if table.timeout_ms == Some(0) {
        return Err(invalid(&format!("{key}.timeout_ms"), "must be positive"));
    }
    Ok(Schedule {
        name: name.to_owned(),
        cron,
        catch_up: table.catch_up,
        jitter: Duration::from_millis(table.jitter_ms),
        timeout: table.timeout_ms.map(Duration::from_millis),
    })
}

/// Parses every schedule of one table (`key`: `plugin.<id>.schedules`).
pub fn parse_all(
    key: &str,
    decls: &BTreeMap<String, ScheduleDecl>,
) -> Result<Vec<Schedule>, ConfigError> {
    decls
        .iter()
        .map(|(name, decl)| parse(&format!("{key}.{name}"), name, decl))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_bad_ones_name_the_key() {
        let s = parse("k", "daily", &ScheduleDecl::Cron("0 30 8 * * *".into())).unwrap();
        assert_eq!(s.expr(), "0 30 8 * * *");
        assert_eq!(s.catch_up, CatchUp::Skip);
        let t: BTreeMap<String, ScheduleDecl> = toml::from_str(
            r#"
            daily = "0 30 8 * * *"
            often = { cron = "*/2 * * * * *", catch_up = "once", jitter_ms = 100 }
            "#,
        )
        .unwrap();
        let all = parse_all("plugin.r.schedules", &t).unwrap();
        assert_eq!(all[1].name, "often");
        assert_eq!(all[1].catch_up, CatchUp::Once);
        assert_eq!(all[1].jitter, Duration::from_millis(100));

        let five = parse(
            "plugin.r.schedules.x",
            "x",
            &ScheduleDecl::Cron("30 8 * * *".into()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            five.contains("plugin.r.schedules.x") && five.contains("six"),
            "{five}"
        );
        let bad = parse("k", "x", &ScheduleDecl::Cron("0 99 8 * * *".into()))
            .unwrap_err()
            .to_string();
        assert!(bad.contains("not a cron expression"), "{bad}");
        assert!(parse("k", "a b", &ScheduleDecl::Cron("0 * * * * *".into())).is_err());
        let tz = SchedulesConfig {
            timezone: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert!(
            tz.validate()
                .unwrap_err()
                .to_string()
                .contains("Mars/Olympus")
        );
        assert!(SchedulesConfig::default().validate().is_ok());
    }
}
