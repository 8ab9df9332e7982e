//! [`PushLedger`] on Redis, one script per step so a push costs one round
//! trip on its way in (two commands for a new push):
//!
//! - `<p>seen:<pair>`: `<fingerprint>:<first seen, unix ms>` of the first
//!   request under a `(timestamp, nonce)` pair, expiring with the timestamp
//!   window — the replay guard of every instance at once. WeChat's own
//!   second encrypted push under a pair (their nonces collide at volume)
//!   gets `<p>seen:<pair>:<fingerprint>`.
//! - `<p>push:<message>`: `c:<claimant>` while the claimant runs the plugins
//!   (`SET NX PX`, a short lease its live claimant renews: a claim of a
//!   dead instance frees itself soon), then `d:<decision>` for
//!   `dedup_ttl_secs`.
//!
//! A repeat whose message key is gone was either answered and forgotten
//! (first seen longer ago than the decision is kept) or claimed by an
//! instance that died before deciding (sooner): the first is `success`, the
//! second is claimed and processed again.
//!
//! Scripts answer with a number (the state) or the decision itself, which
//! the client reads without building lists.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{Script, Value};
use async_trait::async_trait;

use super::RedisStore;
use crate::store::{PushKeys, PushLedger, PushState, StoreError};

/// KEYS: seen, push. ARGV: fingerprint, body_signed, pair expiry (unix s),
/// claim, claim ttl ms, now ms, remembered ms.
/// Returns 1/2 claimed (new/repeat), 3/4 running, 5 forged, 6 forgotten,
/// or the decision (`d:…`).
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local seen, push, fp, now = KEYS[1], KEYS[2], ARGV[1], ARGV[6]
local first = false
local v = redis.call('SET', seen, fp .. ':' .. now, 'NX', 'GET', 'EXAT', ARGV[3])
if v then
  local at = string.find(v, ':', 1, true)
  if string.sub(v, 1, at - 1) == fp then
    first = string.sub(v, at + 1)
  elseif ARGV[2] == '0' then
    return 5
  else
    first = redis.call('SET', seen .. ':' .. fp, now, 'NX', 'GET', 'EXAT', ARGV[3])
  end
end
if not first then
  local d = redis.call('SET', push, ARGV[4], 'NX', 'GET', 'PX', ARGV[5])
  if not d then return 1 end
  if string.sub(d, 1, 2) == 'd:' then return d end
  return 3
end
local d = redis.call('GET', push)
if d then
  if string.sub(d, 1, 2) == 'd:' then return d end
  return 4
end
if tonumber(now) - tonumber(first) >= tonumber(ARGV[7]) then return 6 end
redis.call('SET', push, ARGV[4], 'PX', ARGV[5])
return 2
",
    )
});

/// KEYS: push. ARGV: claim, claim ttl ms. Answers as [`BEGIN`] (2 or 4).
static RECHECK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local d = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'GET', 'PX', ARGV[2])
if not d then return 2 end
if string.sub(d, 1, 2) == 'd:' then return d end
return 4
",
    )
});

/// KEYS: push. ARGV: claim, ttl ms. 1 if the claim was still this one's
/// (and now lives `ttl` from now), else 0.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// KEYS: seen. ARGV: fingerprint, pair expiry (unix s), now ms.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[3], 'NX', 'EXAT', ARGV[2])
return 1
",
    )
});

impl RedisStore {
    fn seen_key(&self, pair: &[u8; 16]) -> String {
        let mut k = self.key(format_args!("seen:"));
        push_hex(&mut k, pair);
        k
    }

    fn push_key(&self, message: &[u8; 16]) -> String {
        let mut k = self.key(format_args!("push:"));
        push_hex(&mut k, message);
        k
    }
}

/// Appends `bytes` as lowercase hex (on the push path: no per-char iterator).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

fn state(answer: Value) -> Result<PushState, StoreError> {
    Ok(match answer {
        Value::Int(1) => PushState::Claimed { repeat: false },
        Value::Int(2) => PushState::Claimed { repeat: true },
        Value::Int(3) => PushState::Running { repeat: false },
        Value::Int(4) => PushState::Running { repeat: true },
        Value::Int(5) => PushState::Forged,
        Value::Int(6) => PushState::Forgotten,
        Value::BulkString(mut d) if d.starts_with(b"d:") => {
            d.drain(..2);
            PushState::Decided(d)
        }
        _ => return Err(StoreError::Backend("redis: unexpected push state".into())),
    })
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

#[async_trait]
impl PushLedger for RedisStore {
    async fn begin(&self, keys: &PushKeys<'_>) -> Result<PushState, StoreError> {
        let (seen, push) = (self.seen_key(&keys.pair), self.push_key(&keys.message));
        let answer = self
            .call(|mut c| async move {
                BEGIN
                    .key(seen)
                    .key(push)
                    .arg(hex::encode(keys.fingerprint))
                    .arg(if keys.body_signed { "1" } else { "0" })
                    .arg(keys.pair_expires_at)
                    .arg(format!("c:{}", keys.claimant))
                    .arg(ms(keys.claim_ttl))
                    .arg(keys.now_ms)
                    .arg(ms(keys.remembered))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        state(answer)
    }

    async fn recheck(&self, keys: &PushKeys<'_>) -> Result<PushState, StoreError> {
        let push = self.push_key(&keys.message);
        let answer = self
            .call(|mut c| async move {
                RECHECK
                    .key(push)
                    .arg(format!("c:{}", keys.claimant))
                    .arg(ms(keys.claim_ttl))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        state(answer)
    }

    async fn renew(
        &self,
        message: &[u8; 16],
        claimant: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let push = self.push_key(message);
        let held: i64 = self
            .call(|mut c| async move {
                RENEW
                    .key(push)
                    .arg(format!("c:{claimant}"))
                    .arg(ms(ttl))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(held == 1)
    }

    async fn decide(
        &self,
        decisions: &[([u8; 16], Vec<u8>)],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut pipe = ::redis::pipe();
        for (message, decision) in decisions {
            let mut value = Vec::with_capacity(decision.len() + 2);
            value.extend_from_slice(b"d:");
            value.extend_from_slice(decision);
            pipe.cmd("SET")
                .arg(self.push_key(message))
                .arg(value)
                .arg("PX")
                .arg(ms(ttl))
                .ignore();
        }
        let pipe = &pipe;
        self.call(|mut c| async move { pipe.exec_async(&mut c).await })
            .await
    }

    async fn record(
        &self,
        pair: &[u8; 16],
        fingerprint: &[u8; 8],
        pair_expires_at: u64,
    ) -> Result<(), StoreError> {
        let seen = self.seen_key(pair);
        self.call(|mut c| async move {
            RECORD
                .key(seen)
                .arg(hex::encode(fingerprint))
                .arg(pair_expires_at)
                .arg(crate::unix_now() * 1000)
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }
}
