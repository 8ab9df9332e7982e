//! [`SqliteQueue`]: the outbound queue in `<data_dir>/outbound.db`, a file
//! of its own beside `wxhost.db`.
//!
//! Why a file of its own: the queue is one for all accounts (one worker
//! drains it, fairly, under per-account buckets), while `wxhost.db` and
//! `accounts/<name>/wxhost.db` are per-account scopes; and a queue of
//! 10,000 jobs being drained writes far more often than anything else, so
//! its writes do not queue behind (or hold up) the push path's store.
//! Each job row carries its `account`, and every query of the API names it.
//!
//! Same rules as the main store: statements on tokio's blocking pool behind
//! one connection, WAL with `synchronous=NORMAL`, a private file, schema
//! by numbered migrations in `user_version`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::job::{Channel, HistoryEntry, JobRecord, JobSpec, Status};
use super::queue::{Enqueued, JobQueue, ListFilter, NewJob, Outcome, Pause, QueueStats};
use crate::store::StoreError;

/// The queue's file in the data dir.
pub const FILE: &str = "outbound.db";

const MIGRATIONS: &[&str] = &[
    // 1: jobs, their history, opt-outs, last pushes, paused APIs
    "CREATE TABLE job (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        channel TEXT NOT NULL,
        via TEXT NOT NULL,
        spec TEXT NOT NULL,
        idem_key TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        msgid INTEGER,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        next_attempt_ms INTEGER NOT NULL,
        deadline_ms INTEGER NOT NULL,
        lease_owner TEXT,
        lease_expires_ms INTEGER
    );
    CREATE UNIQUE INDEX job_key ON job (account, idem_key) WHERE idem_key IS NOT NULL;
    CREATE INDEX job_due ON job (next_attempt_ms) WHERE status = 'queued';
    CREATE INDEX job_msgid ON job (account, msgid) WHERE msgid IS NOT NULL;
    CREATE INDEX job_status ON job (status, id);
    CREATE TABLE job_event (
        job_id INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        note TEXT NOT NULL
    );
    CREATE INDEX job_event_job ON job_event (job_id, at_ms);
    CREATE TABLE opt_out (
        account TEXT NOT NULL,
        openid TEXT NOT NULL,
        template_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (account, openid, template_id)
    );
    CREATE TABLE last_push (
        account TEXT NOT NULL,
        openid TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (account, openid)
    );
    CREATE TABLE api_pause (
        account TEXT NOT NULL,
        api TEXT NOT NULL,
        until_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (account, api)
    );",
];

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The SQLite queue.
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteQueue {
    /// Opens (creating and migrating) `outbound.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteQueue, StoreError> {
        crate::fsutil::create_private_dir(data_dir).map_err(|e| {
            StoreError::Backend(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(FILE);
        crate::fsutil::make_private_file(&path)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        let conn = Connection::open(&path).map_err(backend)?;
        Self::with(conn)
    }

    /// A private in-memory queue (tests).
    pub fn in_memory() -> Result<SqliteQueue, StoreError> {
        Self::with(Connection::open_in_memory().map_err(backend)?)
    }

    fn with(mut conn: Connection) -> Result<SqliteQueue, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.busy_timeout(crate::store::sqlite::BUSY_TIMEOUT)
            .map_err(backend)?;
        migrate(&mut conn)?;
        Ok(SqliteQueue {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("queue task: {e}")))?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    crate::store::sqlite::apply_migrations(conn, MIGRATIONS, FILE)
}

const COLUMNS: &str = "id, account, via, spec, status, reason, attempts, msgid, created_ms, updated_ms, next_attempt_ms, deadline_ms";

fn job_row(r: &Row<'_>) -> rusqlite::Result<(JobRecord, String)> {
    let spec_text: String = r.get(3)?;
    let via: String = r.get(2)?;
    let status: String = r.get(4)?;
    let msgid: Option<i64> = r.get(7)?;
    // A spec that no longer parses (written by a newer wxhost) still lists.
    let spec: JobSpec = serde_json::from_str(&spec_text).unwrap_or_else(|_| JobSpec {
        account: None,
        channel: Channel::parse(&via).unwrap_or(Channel::Template),
        to: None,
        template_id: None,
        data: None,
        url: None,
        miniprogram: None,
        page: None,
        message: None,
        tag_id: None,
        key: None,
        fallback: None,
        deadline_secs: None,
    });
    Ok((
        JobRecord {
            id: r.get(0)?,
            account: r.get(1)?,
            via: Channel::parse(&via).unwrap_or(spec.channel),
            spec,
            status: Status::parse(&status).unwrap_or(Status::Failed),
            reason: r.get(5)?,
            attempts: r.get(6)?,
            // Stored as the same 64 bits (SQLite integers are signed).
            msgid: msgid.map(|m| m as u64),
            created_ms: r.get(8)?,
            updated_ms: r.get(9)?,
            next_attempt_ms: r.get(10)?,
            deadline_ms: r.get(11)?,
            history: Vec::new(),
        },
        spec_text,
    ))
}

fn event(
    conn: &Connection,
    id: i64,
    at_ms: i64,
    status: Status,
    note: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO job_event (job_id, at_ms, status, note) VALUES (?1, ?2, ?3, ?4)",
        params![id, at_ms, status.as_str(), note],
    )
    .map(|_| ())
}

fn history(conn: &Connection, id: i64) -> rusqlite::Result<Vec<HistoryEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at_ms, status, note FROM job_event WHERE job_id = ?1 ORDER BY at_ms, rowid",
    )?;
    let rows = stmt.query_map([id], |r| {
        let status: String = r.get(1)?;
        Ok(HistoryEntry {
            at: r.get(0)?,
            status: Status::parse(&status).unwrap_or(Status::Queued),
            note: r.get(2)?,
        })
    })?;
    rows.collect()
}

#[async_trait]
impl JobQueue for SqliteQueue {
    async fn enqueue(&self, jobs: Vec<NewJob>, now_ms: i64) -> Result<Vec<Enqueued>, StoreError> {
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let mut out = Vec::with_capacity(jobs.len());
            {
                let mut find = tx
                    .prepare_cached("SELECT id FROM job WHERE account = ?1 AND idem_key = ?2")
                    .map_err(backend)?;
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO job (account, channel, via, spec, idem_key, status, created_ms, updated_ms, next_attempt_ms, deadline_ms)
                         VALUES (?1, ?2, ?2, ?3, ?4, 'queued', ?5, ?5, ?5, ?6)",
                    )
                    .map_err(backend)?;
                for job in jobs {
                    if let Some(key) = &job.spec.key
                        && let Some(id) = find
                            .query_row(params![job.account, key], |r| r.get::<_, i64>(0))
                            .optional()
                            .map_err(backend)?
                    {
                        out.push(Enqueued {
                            id,
                            duplicate: true,
                        });
                        continue;
                    }
                    let spec = serde_json::to_string(&job.spec).map_err(backend)?;
                    insert
                        .execute(params![
                            job.account,
                            job.spec.channel.as_str(),
                            spec,
                            job.spec.key,
                            now_ms,
                            job.deadline_ms
                        ])
                        .map_err(backend)?;
                    let id = tx.last_insert_rowid();
                    event(&tx, id, now_ms, Status::Queued, "queued").map_err(backend)?;
                    out.push(Enqueued {
                        id,
                        duplicate: false,
                    });
                }
            }
            tx.commit().map_err(backend)?;
            Ok(out)
        })
        .await
    }

    async fn lease(
        &self,
        owner: &str,
        now_ms: i64,
        max: usize,
        lease_ms: i64,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let owner = owner.to_owned();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let mut jobs = Vec::new();
            {
                let mut due = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM job WHERE status = 'queued' AND next_attempt_ms <= ?1
                         AND (lease_expires_ms IS NULL OR lease_expires_ms <= ?1)
                         ORDER BY next_attempt_ms, id LIMIT ?2"
                    ))
                    .map_err(backend)?;
                let rows = due
                    .query_map(params![now_ms, max as i64], job_row)
                    .map_err(backend)?;
                for row in rows {
                    jobs.push(row.map_err(backend)?.0);
                }
                let mut take = tx
                    .prepare_cached(
                        "UPDATE job SET lease_owner = ?2, lease_expires_ms = ?3 WHERE id = ?1",
                    )
                    .map_err(backend)?;
                for j in &jobs {
                    take.execute(params![j.id, owner, now_ms + lease_ms])
                        .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(jobs)
        })
        .await
    }

    async fn record(
        &self,
        id: i64,
        owner: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let held: Option<String> = tx
                .query_row(
                    "SELECT lease_owner FROM job WHERE id = ?1 AND status = 'queued'",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?
                .flatten();
            if held.as_deref() != Some(owner.as_str()) {
                return Ok(false);
            }
            let super::queue::Effect {
                status,
                reason,
                next_ms: next,
                called,
                msgid,
                via_fallback,
                note,
            } = outcome.effect(now_ms);
            tx.execute(
                "UPDATE job SET status = ?2, reason = ?3, next_attempt_ms = ?4,
                    attempts = attempts + ?5, msgid = COALESCE(?6, msgid), updated_ms = ?7,
                    via = CASE WHEN ?8 THEN (SELECT json_extract(spec, '$.fallback.channel')) ELSE via END,
                    lease_owner = NULL, lease_expires_ms = NULL
                 WHERE id = ?1",
                params![
                    id,
                    status.as_str(),
                    reason,
                    next,
                    called as i64,
                    msgid.map(|m| m as i64),
                    now_ms,
                    via_fallback
                ],
            )
            .map_err(backend)?;
            event(&tx, id, now_ms, status, &note).map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn release(
        &self,
        id: i64,
        owner: &str,
        at_ms: i64,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let (owner, note) = (owner.to_owned(), note.map(str::to_owned));
        self.run(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let n = tx
                .execute(
                    "UPDATE job SET next_attempt_ms = ?3, lease_owner = NULL, lease_expires_ms = NULL
                     WHERE id = ?1 AND lease_owner = ?2 AND status = 'queued'",
                    params![id, owner, at_ms],
                )
                .map_err(backend)?;
            if n > 0
                && let Some(note) = note
            {
                event(&tx, id, crate::store::now_millis(), Status::Queued, &note)
                    .map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        self.run(move |conn| {
            let job = conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM job WHERE id = ?1"),
                    [id],
                    job_row,
                )
                .optional()
                .map_err(backend)?;
            let Some((mut job, _)) = job else {
                return Ok(None);
            };
            job.history = history(conn, id).map_err(backend)?;
            Ok(Some(job))
        })
        .await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<JobRecord>, StoreError> {
        let f = filter.clone();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM job WHERE (?1 IS NULL OR account = ?1)
                     AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
                     ORDER BY id DESC LIMIT ?4"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map(
                    params![
                        f.account,
                        f.status.map(Status::as_str),
                        f.before_id,
                        f.limit.max(1) as i64
                    ],
                    job_row,
                )
                .map_err(backend)?;
            rows.map(|r| r.map(|(j, _)| j).map_err(backend)).collect()
        })
        .await
    }

    async fn receipt(
        &self,
        account: &str,
        channel: Channel,
        msgid: u64,
        status: Status,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (account, reason) = (account.to_owned(), reason.map(str::to_owned));
        self.run(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            // The newest job with this msgid: WeChat's msgids are unique per
            // account and channel over any span a job lives.
            let id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM job WHERE account = ?1 AND msgid = ?2 AND via = ?3 AND status IN ('sent', 'delivered', 'failed')
                     ORDER BY id DESC LIMIT 1",
                    params![account, msgid as i64, channel.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(id) = id else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE job SET status = ?2, reason = ?3, updated_ms = ?4 WHERE id = ?1",
                params![id, status.as_str(), reason, now_ms],
            )
            .map_err(backend)?;
            let note = match &reason {
                Some(r) => format!("receipt: {r}"),
                None => "receipt: delivered".to_owned(),
            };
            event(&tx, id, now_ms, status, &note).map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(Some(id))
        })
        .await
    }

    async fn opt_out(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let args = (
            account.to_owned(),
            openid.to_owned(),
            template_id.to_owned(),
        );
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO opt_out (account, openid, template_id, at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account, openid, template_id) DO UPDATE SET at_ms = excluded.at_ms",
                params![args.0, args.1, args.2, now_ms],
            )
            .map(|_| ())
            .map_err(backend)
        })
        .await
    }

    async fn opt_in(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
    ) -> Result<(), StoreError> {
        let args = (
            account.to_owned(),
            openid.to_owned(),
            template_id.to_owned(),
        );
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM opt_out WHERE account = ?1 AND openid = ?2 AND template_id = ?3",
                params![args.0, args.1, args.2],
            )
            .map(|_| ())
            .map_err(backend)
        })
        .await
    }

    async fn opted_out(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
    ) -> Result<bool, StoreError> {
        let args = (
            account.to_owned(),
            openid.to_owned(),
            template_id.to_owned(),
        );
        self.run(move |conn| {
            conn.query_row(
                "SELECT 1 FROM opt_out WHERE account = ?1 AND openid = ?2 AND template_id = ?3",
                params![args.0, args.1, args.2],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(backend)
        })
        .await
    }

    async fn saw_user(&self, account: &str, openid: &str, at_ms: i64) -> Result<(), StoreError> {
        let args = (account.to_owned(), openid.to_owned());
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO last_push (account, openid, at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account, openid) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms)",
                params![args.0, args.1, at_ms],
            )
            .map(|_| ())
            .map_err(backend)
        })
        .await
    }

    async fn last_seen(&self, account: &str, openid: &str) -> Result<Option<i64>, StoreError> {
        let args = (account.to_owned(), openid.to_owned());
        self.run(move |conn| {
            conn.query_row(
                "SELECT at_ms FROM last_push WHERE account = ?1 AND openid = ?2",
                params![args.0, args.1],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn pause(&self, pause: &Pause) -> Result<(), StoreError> {
        let p = pause.clone();
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO api_pause (account, api, until_ms, reason) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account, api) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason",
                params![p.account, p.api, p.until_ms, p.reason],
            )
            .map(|_| ())
            .map_err(backend)
        })
        .await
    }

    async fn pauses(&self, now_ms: i64) -> Result<Vec<Pause>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT account, api, until_ms, reason FROM api_pause WHERE until_ms > ?1 ORDER BY account, api",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([now_ms], |r| {
                    Ok(Pause {
                        account: r.get(0)?,
                        api: r.get(1)?,
                        until_ms: r.get(2)?,
                        reason: r.get(3)?,
                    })
                })
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }

    async fn stats(&self, now_ms: i64) -> Result<QueueStats, StoreError> {
        self.run(move |conn| {
            let mut stats = QueueStats::default();
            let mut by_status = conn
                .prepare_cached("SELECT account, status, COUNT(*) FROM job GROUP BY account, status")
                .map_err(backend)?;
            for row in by_status
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(backend)?
            {
                let (account, status, n) = row.map_err(backend)?;
                if let Some(s) = Status::parse(&status) {
                    stats.by_status.push((account, s, n as u64));
                }
            }
            let mut failures = conn
                .prepare_cached(
                    "SELECT via, COALESCE(reason, ''), COUNT(*) FROM job WHERE status = 'failed' GROUP BY via, reason",
                )
                .map_err(backend)?;
            for row in failures
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(backend)?
            {
                let (c, r, n) = row.map_err(backend)?;
                stats.failures.push((c, r, n as u64));
            }
            stats.sent_last_minute = conn
                .query_row(
                    "SELECT COUNT(*) FROM job_event WHERE status = 'sent' AND at_ms > ?1",
                    [now_ms - 60_000],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(backend)? as u64;
            Ok(stats)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(key: Option<&str>) -> NewJob {
        let mut v = json!({"channel": "template", "to": "o1", "template_id": "T",
                           "data": {"thing1": {"value": "x"}}});
        if let Some(k) = key {
            v["key"] = json!(k);
        }
        NewJob {
            account: "default".into(),
            spec: JobSpec::from_json(v).unwrap(),
            deadline_ms: 1_000_000,
        }
    }

    #[tokio::test]
    async fn a_key_returns_the_first_job_per_account() {
        let q = SqliteQueue::in_memory().unwrap();
        let a = q
            .enqueue(vec![job(Some("k")), job(None)], 10)
            .await
            .unwrap();
        assert!(!a[0].duplicate && !a[1].duplicate);
        let b = q.enqueue(vec![job(Some("k"))], 20).await.unwrap();
        assert_eq!(
            b[0],
            Enqueued {
                id: a[0].id,
                duplicate: true
            }
        );
        let mut other = job(Some("k"));
        other.account = "shop".into();
        assert!(!q.enqueue(vec![other], 30).await.unwrap()[0].duplicate);
    }

    #[tokio::test]
    async fn a_lease_is_one_owners_until_it_lapses_and_records_need_it() {
        let q = SqliteQueue::in_memory().unwrap();
        let id = q.enqueue(vec![job(None)], 0).await.unwrap()[0].id;
        let a = q.lease("a", 100, 10, 1000).await.unwrap();
        assert_eq!(a.len(), 1);
        // Leased: nobody else gets it until it lapses.
        assert!(q.lease("b", 500, 10, 1000).await.unwrap().is_empty());
        let b = q.lease("b", 1100, 10, 1000).await.unwrap();
        assert_eq!(b[0].id, id);
        // The first owner's late answer does not count; the holder's does.
        let sent = Outcome::Sent {
            msgid: Some(u64::MAX - 1),
        };
        assert!(!q.record(id, "a", sent.clone(), 1200).await.unwrap());
        assert!(q.record(id, "b", sent, 1200).await.unwrap());
        let got = q.get(id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.attempts, got.msgid),
            (Status::Sent, 1, Some(u64::MAX - 1))
        );
        assert_eq!(got.history.len(), 2);
        assert!(q.lease("c", 10_000, 10, 1000).await.unwrap().is_empty());
        // The receipt finds it by msgid.
        let r = q
            .receipt(
                "default",
                Channel::Template,
                u64::MAX - 1,
                Status::Delivered,
                None,
                1300,
            )
            .await
            .unwrap();
        assert_eq!(r, Some(id));
        assert_eq!(q.get(id).await.unwrap().unwrap().status, Status::Delivered);
    }

    #[tokio::test]
    async fn retries_wait_their_turn_and_fallbacks_switch_the_channel() {
        let q = SqliteQueue::in_memory().unwrap();
        let spec = JobSpec::from_json(json!({"channel": "customer", "to": "o",
            "message": {"msgtype": "text", "text": {"content": "x"}},
            "fallback": {"channel": "template", "template_id": "T", "data": {"thing1": {"value": "x"}}}}))
        .unwrap();
        let id = q
            .enqueue(
                vec![NewJob {
                    account: "default".into(),
                    spec,
                    deadline_ms: 10_000,
                }],
                0,
            )
            .await
            .unwrap()[0]
            .id;
        q.lease("w", 0, 1, 1000).await.unwrap();
        let retry = Outcome::Retry {
            at_ms: 2000,
            reason: "busy".into(),
            called: true,
        };
        q.record(id, "w", retry, 0).await.unwrap();
        assert!(q.lease("w", 1999, 1, 1000).await.unwrap().is_empty());
        let again = q.lease("w", 2000, 1, 1000).await.unwrap();
        assert_eq!(again[0].via, Channel::Customer);
        let fb = Outcome::UseFallback {
            reason: "outside_48h".into(),
            called: false,
        };
        q.record(id, "w", fb, 2000).await.unwrap();
        let j = q.lease("w", 2000, 1, 1000).await.unwrap().remove(0);
        assert_eq!((j.via, j.attempts), (Channel::Template, 1));
        assert_eq!(j.effective_spec().channel, Channel::Template);
    }
}
