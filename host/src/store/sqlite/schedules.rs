//! SQLite implementation of [`ScheduleStore`]: `schedule_tick` (key → the
//! last tick handled) and `schedule_run` (runs as JSON in `seq` order,
//! trimmed to [`RUNS_KEPT`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::schedules::{RUNS_KEPT, ScheduleRun, ScheduleStore};

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn last_tick(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let key = key.to_owned();
        self.run(move |c| {
            c.query_row(
                "SELECT tick_ms FROM schedule_tick WHERE key = ?1",
                params![key],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|t| t.map(|t| t.max(0) as u64))
        })
        .await
    }

    async fn mark_tick(&self, key: &str, tick_ms: u64) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO schedule_tick (key, tick_ms) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET tick_ms = MAX(tick_ms, excluded.tick_ms)",
                params![key, tick_ms as i64],
            )
            .map(drop)
        })
        .await
    }

    async fn record_run(&self, run: &ScheduleRun) -> Result<(), StoreError> {
        let json = serde_json::to_string(run)
            .map_err(|e| StoreError::Backend(format!("schedule run: {e}")))?;
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute("INSERT INTO schedule_run (json) VALUES (?1)", params![json])?;
            tx.execute(
                "DELETE FROM schedule_run WHERE seq <= (SELECT MAX(seq) FROM schedule_run) - ?1",
                params![RUNS_KEPT as i64],
            )?;
            tx.commit()
        })
        .await
    }

    async fn runs(&self, limit: usize) -> Result<Vec<ScheduleRun>, StoreError> {
        let rows: Vec<String> = self
            .run(move |c| {
                let mut stmt =
                    c.prepare("SELECT json FROM schedule_run ORDER BY seq DESC LIMIT ?1")?;
                let rows = stmt.query_map(params![limit as i64], |r| r.get(0))?;
                rows.collect()
            })
            .await?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j)
                    .map_err(|e| StoreError::Backend(format!("malformed schedule run: {e}")))
            })
            .collect()
    }

    async fn ticks(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare("SELECT key, tick_ms FROM schedule_tick ORDER BY key")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
            rows.collect()
        })
        .await
    }
}
