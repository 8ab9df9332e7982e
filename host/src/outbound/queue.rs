//! [`JobQueue`]: the durable queue of outbound jobs, and what delivery
//! needs to remember beside it (opt-outs, the users' last pushes, paused
//! APIs). One implementation per backend (`sqlite.rs`).
//!
//! Leases make a job one sender's at a time: [`JobQueue::lease`] hands out
//! due jobs with an expiry, [`JobQueue::record`] only counts while the
//! lease is still the caller's, and a job whose sender died (`kill -9`)
//! becomes due again when its lease lapses.

use async_trait::async_trait;

use super::job::{Channel, JobRecord, JobSpec, Status};
use crate::store::StoreError;

/// A job ready to be queued (validated, its account resolved).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub account: String,
    pub spec: JobSpec,
    pub deadline_ms: i64,
}

/// What [`JobQueue::enqueue`] did with one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    /// An earlier job had the same key: this is its id, nothing was added.
    pub duplicate: bool,
}

/// How a leased job's attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// WeChat accepted it.
    Sent { msgid: Option<u64> },
    /// Due again at `at_ms`; `called` says whether a call was made (it
    /// counts as an attempt).
    Retry {
        at_ms: i64,
        reason: String,
        called: bool,
    },
    /// Given up.
    Failed { reason: String, called: bool },
    /// From now on the job sends its fallback; due at once.
    UseFallback { reason: String, called: bool },
}

/// What an [`Outcome`] does to its job, the same on every backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub status: Status,
    pub reason: Option<String>,
    /// When it is due next (now, for a finished job).
    pub next_ms: i64,
    /// A call to WeChat was made (an attempt).
    pub called: bool,
    pub msgid: Option<u64>,
    /// It sends its fallback from now on.
    pub via_fallback: bool,
    /// Its line in the job's history.
    pub note: String,
}

impl Outcome {
    /// Its effect on the job at `now_ms`.
    pub fn effect(&self, now_ms: i64) -> Effect {
        let (status, reason, next_ms, called, msgid, via_fallback, note) = match self {
            Outcome::Sent { msgid } => (
                Status::Sent,
                None,
                now_ms,
                true,
                *msgid,
                false,
                match msgid {
                    Some(m) => format!("sent, msgid {m}"),
                    None => "sent".to_owned(),
                },
            ),
            Outcome::Retry {
                at_ms,
                reason,
                called,
            } => (
                Status::Queued,
                Some(reason.clone()),
                *at_ms,
                *called,
                None,
                false,
                format!("{reason}; retry in {} ms", at_ms - now_ms),
            ),
            Outcome::Failed { reason, called } => (
                Status::Failed,
                Some(reason.clone()),
                now_ms,
                *called,
                None,
                false,
                format!("failed: {reason}"),
            ),
            Outcome::UseFallback { reason, called } => (
                Status::Queued,
                Some(reason.clone()),
                now_ms,
                *called,
                None,
                true,
                format!("{reason}; sending the fallback"),
            ),
        };
        Effect {
            status,
            reason,
            next_ms,
            called,
            msgid,
            via_fallback,
            note,
        }
    }
}

/// Which jobs [`JobQueue::list`] returns (newest first).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub account: Option<String>,
    pub status: Option<Status>,
    pub limit: usize,
    /// Only jobs with an id below this (paging).
    pub before_id: Option<i64>,
}

/// An API paused for an account (45009).
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    pub account: String,
    pub api: String,
    pub until_ms: i64,
    pub reason: String,
}

/// The queue at a glance (the console, the metrics).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Jobs per (account, status).
    pub by_status: Vec<(String, Status, u64)>,
    /// Failed jobs per (channel, reason).
    pub failures: Vec<(String, String, u64)>,
    /// Jobs sent in the last minute.
    pub sent_last_minute: u64,
}

#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Queues `jobs` in one step (all or none): a job whose `key` an
    /// earlier job of its account has gets that job's id instead.
    async fn enqueue(&self, jobs: Vec<NewJob>, now_ms: i64) -> Result<Vec<Enqueued>, StoreError>;
    /// Up to `max` queued jobs due at `now_ms` whose lease (if any) lapsed,
    /// now leased to `owner` until `now_ms + lease_ms`, oldest due first.
    async fn lease(
        &self,
        owner: &str,
        now_ms: i64,
        max: usize,
        lease_ms: i64,
    ) -> Result<Vec<JobRecord>, StoreError>;
    /// Records how job `id`'s attempt ended, if `owner` still holds its
    /// lease; returns whether it did.
    async fn record(
        &self,
        id: i64,
        owner: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Puts a leased job back, due at `at_ms`, without counting an attempt
    /// (its API is paused, its rate slot is later).
    async fn release(
        &self,
        id: i64,
        owner: &str,
        at_ms: i64,
        note: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn get(&self, id: i64) -> Result<Option<JobRecord>, StoreError>;
    async fn list(&self, filter: &ListFilter) -> Result<Vec<JobRecord>, StoreError>;
    /// A receipt push for `msgid` of `account`: the sent job with that
    /// msgid (on `channel`) becomes `status` with `reason`. Returns its id.
    async fn receipt(
        &self,
        account: &str,
        channel: Channel,
        msgid: u64,
        status: Status,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// The user refused `template_id` (a `reject` in a subscription event,
    /// or 43101): later jobs to them with it fail as `opted_out`.
    async fn opt_out(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// The user accepted `template_id` again.
    async fn opt_in(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
    ) -> Result<(), StoreError>;
    async fn opted_out(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
    ) -> Result<bool, StoreError>;
    /// The user pushed something at `at_ms` (the customer-service window).
    async fn saw_user(&self, account: &str, openid: &str, at_ms: i64) -> Result<(), StoreError>;
    async fn last_seen(&self, account: &str, openid: &str) -> Result<Option<i64>, StoreError>;
    /// Pauses `api` for `account` until `until_ms`.
    async fn pause(&self, pause: &Pause) -> Result<(), StoreError>;
    /// Pauses still in force at `now_ms`.
    async fn pauses(&self, now_ms: i64) -> Result<Vec<Pause>, StoreError>;
    async fn stats(&self, now_ms: i64) -> Result<QueueStats, StoreError>;
    /// For a queue several processes drain: reserves the next send slot of
    /// (`account`, `api`) spaced `interval` after the previous one *across
    /// all of them*, on the backend's clock; `Some(Ok(wait))` to send after
    /// `wait`, `Some(Err(later))` when it is more than `max_wait` off.
    /// `None`: one process alone drains this queue (`rate.rs` suffices).
    async fn reserve_shared_slot(
        &self,
        _account: &str,
        _api: &str,
        _interval: std::time::Duration,
        _max_wait: std::time::Duration,
    ) -> Option<Result<Result<std::time::Duration, std::time::Duration>, StoreError>> {
        None
    }
}
