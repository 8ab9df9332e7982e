//! [`RedisQueue`]: the outbound queue on the deployment's Redis, so every
//! instance drains the same queue and a job is one instance's at a time.
//!
//! Keys, under `<key_prefix>outbound:` (the store's prefix, so deployments
//! sharing a Redis keep apart; one queue for every account, each job naming
//! its account, as in `sqlite.rs`):
//! - `seq`: the last job id; `job:<id>`: a hash per job (`msgid` a decimal
//!   string, never a float); `hist:<id>`: its history (JSON lines);
//! - `due`: a sorted set of queued job ids by the time they may be taken —
//!   the next attempt, or while leased, the lease's expiry;
//! - `ids`: every job id (listing); `key:<account>:<key>`: idempotency
//!   keys (set once, with the job, in the same script);
//! - `msgid:<account>:<channel>:<msgid>`: receipts' join;
//! - `optout`, `seen`, `pause`, `counts`, `fails`, `sent` (the last
//!   minute's sends): what the trait's other methods read.
//!
//! Leases are a sorted set and Lua rather than a Stream with a consumer
//! group and `XAUTOCLAIM`: a retry must become due at a chosen time and a
//! paused job must wait for hours, which a stream's pending list cannot
//! express without re-adding entries; here taking due jobs and moving
//! their score to the lease's expiry is one atomic script, so two
//! instances never take the same job, and a job whose instance died is due
//! again when its lease lapses. Every multi-key change is one script.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script, Value as RValue};

use super::job::{Channel, HistoryEntry, JobRecord, JobSpec, Status};
use super::queue::{Enqueued, JobQueue, ListFilter, NewJob, Outcome, Pause, QueueStats};
use crate::store::{RedisSettings, StoreError, redacted_url};

/// Separates the parts of a composite hash field or set member.
const SEP: &str = "\u{1f}";
/// Calls carry whole batches: give them more than a push-path call.
const MIN_TIMEOUT: Duration = Duration::from_secs(5);

const ENQUEUE: &str = r#"
local p, now = ARGV[1], tonumber(ARGV[2])
local out = {}
local i = 3
while i <= #ARGV do
  local account, channel, spec, key, deadline = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  i = i + 5
  local existing = false
  if key ~= '' then existing = redis.call('GET', p .. 'key:' .. account .. ':' .. key) end
  if existing then
    table.insert(out, existing); table.insert(out, 1)
  else
    local id = redis.call('INCR', p .. 'seq')
    redis.call('HSET', p .. 'job:' .. id, 'account', account, 'channel', channel, 'via', channel,
      'spec', spec, 'status', 'queued', 'attempts', 0, 'created', now, 'updated', now,
      'next', now, 'deadline', deadline)
    redis.call('ZADD', p .. 'due', now, id)
    redis.call('ZADD', p .. 'ids', id, id)
    if key ~= '' then redis.call('SET', p .. 'key:' .. account .. ':' .. key, id) end
    redis.call('RPUSH', p .. 'hist:' .. id, cjson.encode({at = now, status = 'queued', note = 'queued'}))
    redis.call('HINCRBY', p .. 'counts', account .. '\31' .. 'queued', 1)
    table.insert(out, tostring(id)); table.insert(out, 0)
  end
end
return out
"#;

const FIELDS: &str = "'account', 'via', 'spec', 'status', 'reason', 'attempts', 'msgid', 'created', 'updated', 'next', 'deadline'";

fn lease_script() -> String {
    format!(
        r#"
local p, now, max, lease, owner = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local ids = redis.call('ZRANGEBYSCORE', p .. 'due', '-inf', now, 'LIMIT', 0, max)
local out = {{}}
for _, id in ipairs(ids) do
  redis.call('ZADD', p .. 'due', now + lease, id)
  redis.call('HSET', p .. 'job:' .. id, 'owner', owner, 'lease', now + lease)
  local row = redis.call('HMGET', p .. 'job:' .. id, {FIELDS})
  table.insert(row, 1, id)
  table.insert(out, row)
end
return out
"#
    )
}

/// Moves job `id`'s count from its old status to `new` (and its failure
/// count), used by every transition.
const TRANSITION: &str = r#"
local function transition(p, id, new, reason)
  local j = p .. 'job:' .. id
  local old = redis.call('HGET', j, 'status')
  local account = redis.call('HGET', j, 'account')
  local via = redis.call('HGET', j, 'via')
  if old == 'failed' then
    redis.call('HINCRBY', p .. 'fails', via .. '\31' .. (redis.call('HGET', j, 'reason') or ''), -1)
  end
  redis.call('HINCRBY', p .. 'counts', account .. '\31' .. old, -1)
  redis.call('HINCRBY', p .. 'counts', account .. '\31' .. new, 1)
  if new == 'failed' then
    redis.call('HINCRBY', p .. 'fails', via .. '\31' .. (reason or ''), 1)
  end
end
"#;

fn record_script() -> String {
    format!(
        r#"{TRANSITION}
local p, id, owner, status, reason, nxt, called, msgid, now, fallback, note =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11]
local j = p .. 'job:' .. id
if redis.call('HGET', j, 'owner') ~= owner or redis.call('HGET', j, 'status') ~= 'queued' then return 0 end
if fallback == '1' then
  local spec = cjson.decode(redis.call('HGET', j, 'spec'))
  redis.call('HSET', j, 'via', spec['fallback']['channel'])
end
transition(p, id, status, reason)
redis.call('HSET', j, 'status', status, 'next', nxt, 'updated', now)
if reason ~= '' then redis.call('HSET', j, 'reason', reason) else redis.call('HDEL', j, 'reason') end
redis.call('HINCRBY', j, 'attempts', called)
redis.call('HDEL', j, 'owner', 'lease')
if msgid ~= '' then
  redis.call('HSET', j, 'msgid', msgid)
  redis.call('SET', p .. 'msgid:' .. redis.call('HGET', j, 'account') .. ':' .. redis.call('HGET', j, 'via') .. ':' .. msgid, id)
end
if status == 'queued' then redis.call('ZADD', p .. 'due', nxt, id) else redis.call('ZREM', p .. 'due', id) end
if status == 'sent' then
  redis.call('ZADD', p .. 'sent', now, id)
  redis.call('ZREMRANGEBYSCORE', p .. 'sent', '-inf', now - 60000)
end
redis.call('RPUSH', p .. 'hist:' .. id, cjson.encode({{at = now, status = status, note = note}}))
return 1
"#
    )
}

const RELEASE: &str = r#"
local p, id, owner, at, note, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local j = p .. 'job:' .. id
if redis.call('HGET', j, 'owner') ~= owner or redis.call('HGET', j, 'status') ~= 'queued' then return 0 end
redis.call('HSET', j, 'next', at)
redis.call('HDEL', j, 'owner', 'lease')
redis.call('ZADD', p .. 'due', at, id)
if note ~= '' then redis.call('RPUSH', p .. 'hist:' .. id, cjson.encode({at = now, status = 'queued', note = note})) end
return 1
"#;

fn receipt_script() -> String {
    format!(
        r#"{TRANSITION}
local p, account, channel, msgid, status, reason, now, note = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
local id = redis.call('GET', p .. 'msgid:' .. account .. ':' .. channel .. ':' .. msgid)
if not id then return false end
local j = p .. 'job:' .. id
local old = redis.call('HGET', j, 'status')
if old ~= 'sent' and old ~= 'delivered' and old ~= 'failed' then return false end
transition(p, id, status, reason)
redis.call('HSET', j, 'status', status, 'updated', now)
if reason ~= '' then redis.call('HSET', j, 'reason', reason) else redis.call('HDEL', j, 'reason') end
redis.call('RPUSH', p .. 'hist:' .. id, cjson.encode({{at = now, status = status, note = note}}))
return id
"#
    )
}

const SAW_USER: &str = r#"
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"#;

/// GCRA across every instance, on Redis's clock (instances' clocks may
/// differ). KEYS: the (account, API) key. ARGV: interval and longest wait,
/// in microseconds. Returns `{granted, microseconds from now}`.
const RATE_SLOT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat > now + max_wait then return {0, tat - now} end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.floor((interval + max_wait) / 1000) + 1000)
return {1, tat - now}
"#;

/// The Redis queue.
pub struct RedisQueue {
    conn: ConnectionManager,
    /// `<key_prefix>outbound:`.
    prefix: String,
    timeout: Duration,
    enqueue: Script,
    lease: Script,
    record: Script,
    release: Script,
    receipt: Script,
    saw_user: Script,
    rate_slot: Script,
}

fn backend(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        StoreError::Unavailable(format!("redis: {e}"))
    } else {
        StoreError::Backend(format!("redis: {e}"))
    }
}

impl RedisQueue {
    /// Prepares the connection (made on first use, as the store's is).
    pub fn open(settings: &RedisSettings) -> Result<RedisQueue, StoreError> {
        let client = redis::Client::open(settings.url.as_str()).map_err(|e| {
            StoreError::Backend(format!(
                "storage.redis_url {}: {}",
                redacted_url(&settings.url),
                e.category()
            ))
        })?;
        let timeout = settings.timeout.max(MIN_TIMEOUT);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(usize::MAX)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Backend(format!("redis: {}", e.category())))?;
        Ok(RedisQueue {
            conn,
            prefix: format!("{}outbound:", settings.key_prefix),
            timeout,
            enqueue: Script::new(ENQUEUE),
            lease: Script::new(&lease_script()),
            record: Script::new(&record_script()),
            release: Script::new(RELEASE),
            receipt: Script::new(&receipt_script()),
            saw_user: Script::new(SAW_USER),
            rate_slot: Script::new(RATE_SLOT),
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    async fn within<T>(
        &self,
        f: impl Future<Output = Result<T, redis::RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(backend),
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis: no answer within {:?}",
                self.timeout
            ))),
        }
    }

    async fn history(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut c = self.conn.clone();
        let lines: Vec<String> = self
            .within(c.lrange(self.key(&format!("hist:{id}")), 0, -1))
            .await?;
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| HistoryEntry {
                at: v["at"].as_i64().unwrap_or(0),
                status: v["status"]
                    .as_str()
                    .and_then(Status::parse)
                    .unwrap_or(Status::Queued),
                note: v["note"].as_str().unwrap_or("").to_owned(),
            })
            .collect())
    }

    async fn load(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        let mut c = self.conn.clone();
        let row: Vec<Option<String>> = self
            .within(
                redis::cmd("HMGET")
                    .arg(self.key(&format!("job:{id}")))
                    .arg(&[
                        "account", "via", "spec", "status", "reason", "attempts", "msgid",
                        "created", "updated", "next", "deadline",
                    ])
                    .query_async(&mut c),
            )
            .await?;
        Ok(job_from(id, &row))
    }
}

/// A job from its hash fields, in the order of `FIELDS`.
fn job_from(id: i64, f: &[Option<String>]) -> Option<JobRecord> {
    let s = |i: usize| f.get(i).cloned().flatten();
    let n = |i: usize| s(i).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let account = s(0)?;
    let spec: JobSpec = serde_json::from_str(&s(2)?).ok()?;
    Some(JobRecord {
        id,
        account,
        via: s(1)
            .as_deref()
            .and_then(Channel::parse)
            .unwrap_or(spec.channel),
        status: s(3)
            .as_deref()
            .and_then(Status::parse)
            .unwrap_or(Status::Failed),
        reason: s(4),
        attempts: n(5) as u32,
        msgid: s(6).and_then(|m| m.parse().ok()),
        created_ms: n(7),
        updated_ms: n(8),
        next_attempt_ms: n(9),
        deadline_ms: n(10),
        history: Vec::new(),
        spec,
    })
}

/// A Lua reply value as a string (bulk strings and integers).
fn text(v: &RValue) -> Option<String> {
    match v {
        RValue::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        RValue::SimpleString(s) => Some(s.clone()),
        RValue::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn reserve_shared_slot(
        &self,
        account: &str,
        api: &str,
        interval: Duration,
        max_wait: Duration,
    ) -> Option<Result<Result<Duration, Duration>, StoreError>> {
        let key = self.key(&format!("rate:{account}:{api}"));
        let mut c = self.conn.clone();
        let mut call = self.rate_slot.key(key);
        call.arg(interval.as_micros().max(1) as u64)
            .arg(max_wait.as_micros() as u64);
        let r: Result<(i64, i64), StoreError> = self.within(call.invoke_async(&mut c)).await;
        Some(r.map(|(granted, offset)| {
            let offset = Duration::from_micros(offset.max(0) as u64);
            if granted == 1 {
                Ok(offset)
            } else {
                Err(offset)
            }
        }))
    }

    async fn enqueue(&self, jobs: Vec<NewJob>, now_ms: i64) -> Result<Vec<Enqueued>, StoreError> {
        let mut inv = self.enqueue.prepare_invoke();
        inv.arg(&self.prefix).arg(now_ms);
        for j in &jobs {
            let spec =
                serde_json::to_string(&j.spec).map_err(|e| StoreError::Backend(e.to_string()))?;
            inv.arg(&j.account)
                .arg(j.spec.channel.as_str())
                .arg(spec)
                .arg(j.spec.key.as_deref().unwrap_or(""))
                .arg(j.deadline_ms);
        }
        let mut c = self.conn.clone();
        let out: Vec<RValue> = self.within(inv.invoke_async(&mut c)).await?;
        Ok(out
            .chunks(2)
            .map(|pair| Enqueued {
                id: pair
                    .first()
                    .and_then(text)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
                duplicate: pair.get(1).and_then(text).as_deref() == Some("1"),
            })
            .collect())
    }

    async fn lease(
        &self,
        owner: &str,
        now_ms: i64,
        max: usize,
        lease_ms: i64,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let mut c = self.conn.clone();
        let rows: Vec<Vec<RValue>> = self
            .within(
                self.lease
                    .arg(&self.prefix)
                    .arg(now_ms)
                    .arg(max)
                    .arg(lease_ms)
                    .arg(owner)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let id: i64 = row.first().and_then(text)?.parse().ok()?;
                let fields: Vec<Option<String>> = row[1..].iter().map(text).collect();
                job_from(id, &fields)
            })
            .collect())
    }

    async fn record(
        &self,
        id: i64,
        owner: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let e = outcome.effect(now_ms);
        let (status, reason, next, called, fallback, note) = (
            e.status,
            e.reason.unwrap_or_default(),
            e.next_ms,
            e.called,
            e.via_fallback,
            e.note,
        );
        let msgid = e.msgid.map(|m| m.to_string()).unwrap_or_default();
        let mut c = self.conn.clone();
        let done: i64 = self
            .within(
                self.record
                    .arg(&self.prefix)
                    .arg(id)
                    .arg(owner)
                    .arg(status.as_str())
                    .arg(reason)
                    .arg(next)
                    .arg(called as i64)
                    .arg(msgid)
                    .arg(now_ms)
                    .arg(if fallback { "1" } else { "0" })
                    .arg(note)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(done == 1)
    }

    async fn release(
        &self,
        id: i64,
        owner: &str,
        at_ms: i64,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .within(
                self.release
                    .arg(&self.prefix)
                    .arg(id)
                    .arg(owner)
                    .arg(at_ms)
                    .arg(note.unwrap_or(""))
                    .arg(crate::store::now_millis())
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(())
    }

    async fn get(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        let Some(mut job) = self.load(id).await? else {
            return Ok(None);
        };
        job.history = self.history(id).await?;
        Ok(Some(job))
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<JobRecord>, StoreError> {
        let limit = filter.limit.max(1);
        let mut out = Vec::new();
        let mut below = filter
            .before_id
            .map_or("+inf".to_owned(), |b| format!("({b}"));
        // Newest first, a page at a time, filtered here.
        loop {
            let mut c = self.conn.clone();
            let ids: Vec<i64> = self
                .within(
                    redis::cmd("ZREVRANGEBYSCORE")
                        .arg(self.key("ids"))
                        .arg(&below)
                        .arg("-inf")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(500)
                        .query_async(&mut c),
                )
                .await?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            for id in ids {
                if let Some(j) = self.load(id).await?
                    && filter.account.as_ref().is_none_or(|a| *a == j.account)
                    && filter.status.is_none_or(|s| s == j.status)
                {
                    out.push(j);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            below = format!("({last}");
        }
        Ok(out)
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
        let note = match reason {
            Some(r) => format!("receipt: {r}"),
            None => "receipt: delivered".to_owned(),
        };
        let mut c = self.conn.clone();
        let id: Option<String> = self
            .within(
                self.receipt
                    .arg(&self.prefix)
                    .arg(account)
                    .arg(channel.as_str())
                    .arg(msgid.to_string())
                    .arg(status.as_str())
                    .arg(reason.unwrap_or(""))
                    .arg(now_ms)
                    .arg(note)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(id.and_then(|i| i.parse().ok()))
    }

    async fn opt_out(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
        _now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let member = [account, openid, template_id].join(SEP);
        let _: i64 = self.within(c.sadd(self.key("optout"), member)).await?;
        Ok(())
    }

    async fn opt_in(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let member = [account, openid, template_id].join(SEP);
        let _: i64 = self.within(c.srem(self.key("optout"), member)).await?;
        Ok(())
    }

    async fn opted_out(
        &self,
        account: &str,
        openid: &str,
        template_id: &str,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let member = [account, openid, template_id].join(SEP);
        self.within(c.sismember(self.key("optout"), member)).await
    }

    async fn saw_user(&self, account: &str, openid: &str, at_ms: i64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .within(
                self.saw_user
                    .key(self.key("seen"))
                    .arg([account, openid].join(SEP))
                    .arg(at_ms)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(())
    }

    async fn last_seen(&self, account: &str, openid: &str) -> Result<Option<i64>, StoreError> {
        let mut c = self.conn.clone();
        self.within(c.hget(self.key("seen"), [account, openid].join(SEP)))
            .await
    }

    async fn pause(&self, pause: &Pause) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let field = [pause.account.as_str(), pause.api.as_str()].join(SEP);
        let value = format!("{}{SEP}{}", pause.until_ms, pause.reason);
        let _: i64 = self.within(c.hset(self.key("pause"), field, value)).await?;
        Ok(())
    }

    async fn pauses(&self, now_ms: i64) -> Result<Vec<Pause>, StoreError> {
        let mut c = self.conn.clone();
        let all: Vec<(String, String)> = self.within(c.hgetall(self.key("pause"))).await?;
        let mut out: Vec<Pause> = all
            .into_iter()
            .filter_map(|(field, value)| {
                let (account, api) = field.split_once(SEP)?;
                let (until, reason) = value.split_once(SEP)?;
                let until_ms: i64 = until.parse().ok()?;
                (until_ms > now_ms).then(|| Pause {
                    account: account.to_owned(),
                    api: api.to_owned(),
                    until_ms,
                    reason: reason.to_owned(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.account, &a.api).cmp(&(&b.account, &b.api)));
        Ok(out)
    }

    async fn stats(&self, now_ms: i64) -> Result<QueueStats, StoreError> {
        let mut c = self.conn.clone();
        let counts: Vec<(String, i64)> = self.within(c.hgetall(self.key("counts"))).await?;
        let fails: Vec<(String, i64)> = self.within(c.hgetall(self.key("fails"))).await?;
        let sent: u64 = self
            .within(c.zcount(self.key("sent"), now_ms - 60_000, "+inf"))
            .await?;
        let mut stats = QueueStats {
            sent_last_minute: sent,
            ..Default::default()
        };
        for (field, n) in counts {
            if let Some((account, status)) = field.split_once(SEP)
                && let Some(s) = Status::parse(status)
                && n > 0
            {
                stats.by_status.push((account.to_owned(), s, n as u64));
            }
        }
        for (field, n) in fails {
            if let Some((channel, reason)) = field.split_once(SEP)
                && n > 0
            {
                stats
                    .failures
                    .push((channel.to_owned(), reason.to_owned(), n as u64));
            }
        }
        Ok(stats)
    }
}
