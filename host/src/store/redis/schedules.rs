//! [`ScheduleStore`] on Redis:
//! - `<p>schedule-tick`: a hash, `<plugin>/<schedule>` → the last tick
//!   handled (raised only, by a script);
//! - `<p>schedule-runs`: a list of runs as JSON, newest first, trimmed to
//!   [`RUNS_KEPT`].

use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;

use super::RedisStore;
use crate::store::StoreError;
use crate::store::schedules::{RUNS_KEPT, ScheduleRun, ScheduleStore};

/// KEYS: the hash. ARGV: field, tick. Raises, never lowers.
static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
",
    )
});

#[async_trait]
impl ScheduleStore for RedisStore {
    async fn last_tick(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let hash = self.key(format_args!("schedule-tick"));
        let field = key.to_owned();
        let v: Option<u64> = self
            .call(|mut c| async move {
                ::redis::cmd("HGET")
                    .arg(hash)
                    .arg(field)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(v)
    }

    async fn mark_tick(&self, key: &str, tick_ms: u64) -> Result<(), StoreError> {
        let hash = self.key(format_args!("schedule-tick"));
        let field = key.to_owned();
        let _: i64 = self
            .call(|mut c| async move {
                MARK.prepare_invoke()
                    .key(hash)
                    .arg(field)
                    .arg(tick_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn record_run(&self, run: &ScheduleRun) -> Result<(), StoreError> {
        let json = serde_json::to_string(run)
            .map_err(|e| StoreError::Backend(format!("schedule run: {e}")))?;
        let list = self.key(format_args!("schedule-runs"));
        self.call(|mut c| async move {
            ::redis::pipe()
                .atomic()
                .lpush(&list, json)
                .ignore()
                .ltrim(&list, 0, RUNS_KEPT as isize - 1)
                .ignore()
                .exec_async(&mut c)
                .await
        })
        .await
    }

    async fn runs(&self, limit: usize) -> Result<Vec<ScheduleRun>, StoreError> {
        let list = self.key(format_args!("schedule-runs"));
        let rows: Vec<String> = self
            .call(|mut c| async move {
                ::redis::cmd("LRANGE")
                    .arg(list)
                    .arg(0)
                    .arg(limit.max(1) as isize - 1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j)
                    .map_err(|e| StoreError::Backend(format!("redis: malformed schedule run: {e}")))
            })
            .collect()
    }

    async fn ticks(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let hash = self.key(format_args!("schedule-tick"));
        let mut all: Vec<(String, u64)> = self
            .call(
                |mut c| async move { ::redis::cmd("HGETALL").arg(hash).query_async(&mut c).await },
            )
            .await?;
        all.sort();
        Ok(all)
    }
}
