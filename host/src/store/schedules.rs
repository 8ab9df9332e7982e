//! What the store keeps of scheduled runs (`crate::schedule`), per account
//! scope: the last tick each schedule handled (so a restart knows what it
//! missed, for `catch_up`) and the recent runs with their outcome and the
//! plugin's log lines (the console's "Schedules" page and
//! `GET /api/v1/schedules`). Which instance runs a tick is decided with
//! [`SessionStore::claim`](super::SessionStore::claim), not here: a tick is
//! one `SET NX PX` on Redis, one `INSERT … ON CONFLICT DO NOTHING` on SQLite.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// How many runs each account scope keeps.
pub const RUNS_KEPT: usize = 500;

/// One tick of one schedule, as it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRun {
    pub plugin: String,
    pub schedule: String,
    /// When the tick was due, Unix milliseconds.
    pub tick_ms: u64,
    /// When it started (after the jitter), Unix milliseconds.
    pub started_ms: u64,
    /// The instance that ran it (`server.instance`).
    pub instance: String,
    /// `ok`, `failed`, `timeout`, `skipped` (the previous run was still
    /// running), `shed` (no instance free in time).
    pub outcome: String,
    pub duration_ms: u64,
    /// A catch-up run for ticks missed while no instance ran.
    #[serde(default)]
    pub catch_up: bool,
    /// The failure, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The plugin's log lines and output (bounded).
    #[serde(default)]
    pub logs: Vec<String>,
}

/// Scheduled runs' bookkeeping. Each call is one atomic step.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// The last tick `key` (`<plugin>/<schedule>`) handled, Unix ms.
    async fn last_tick(&self, key: &str) -> Result<Option<u64>, StoreError>;
    /// Records that `key` handled `tick_ms` (never moves back).
    async fn mark_tick(&self, key: &str, tick_ms: u64) -> Result<(), StoreError>;
    /// Appends a run; the oldest beyond [`RUNS_KEPT`] go.
    async fn record_run(&self, run: &ScheduleRun) -> Result<(), StoreError>;
    /// The newest `limit` runs, newest first.
    async fn runs(&self, limit: usize) -> Result<Vec<ScheduleRun>, StoreError>;
    /// Every schedule's last tick, by key (`wxhost store migrate`).
    async fn ticks(&self) -> Result<Vec<(String, u64)>, StoreError>;
}
