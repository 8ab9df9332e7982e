//! [`PushLedger`] on Redis, one script per step so a push costs one round
//! trip on its way in:
//!
//! - `<p>seen:<pair>`: a hash fingerprint → first-seen time (unix ms) per
//!   `(timestamp, nonce)` pair, expiring with the timestamp window — the
//!   replay guard of every instance at once.
//! - `<p>push:<message>`: `c:<claimant>` while the claimant runs the plugins
//!   (`SET NX PX`, a little past the budget: a claim of a dead instance
//!   frees itself), then `d:<decision>` for `dedup_ttl_secs`.
//!
//! A repeat whose message key is gone was either answered and forgotten
//! (first seen longer ago than the decision is kept) or claimed by an
//! instance that died before deciding (sooner): the first is `success`, the
//! second is claimed and processed again.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::Script;
use async_trait::async_trait;

use super::RedisStore;
use crate::store::{PushKeys, PushLedger, PushState, StoreError};

/// KEYS: seen, push. ARGV: fingerprint, body_signed, pair expiry (unix s),
/// claim, claim ttl ms, now ms, remembered ms.
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local seen, push = KEYS[1], KEYS[2]
local first = redis.call('HGET', seen, ARGV[1])
if not first then
  if ARGV[2] == '0' and redis.call('EXISTS', seen) == 1 then return {'forged'} end
  redis.call('HSET', seen, ARGV[1], ARGV[6])
  redis.call('EXPIREAT', seen, ARGV[3])
end
local rep = first and '1' or '0'
local v = redis.call('GET', push)
if v then
  if string.sub(v, 1, 2) == 'd:' then return {'decided', v} end
  return {'running', rep}
end
if first and tonumber(ARGV[6]) - tonumber(first) >= tonumber(ARGV[7]) then return {'forgotten'} end
redis.call('SET', push, ARGV[4], 'PX', ARGV[5])
return {'claimed', rep}
",
    )
});

/// KEYS: push. ARGV: claim, claim ttl ms.
static RECHECK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 2) == 'd:' then return {'decided', v} end
  return {'running', '1'}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'claimed', '1'}
",
    )
});

/// KEYS: seen. ARGV: fingerprint, pair expiry (unix s), now ms.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 1 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return 1
",
    )
});

impl RedisStore {
    fn seen_key(&self, pair: &[u8; 16]) -> String {
        self.key(format_args!("seen:{}", hex::encode(pair)))
    }

    fn push_key(&self, message: &[u8; 16]) -> String {
        self.key(format_args!("push:{}", hex::encode(message)))
    }
}

fn state(answer: Vec<Vec<u8>>) -> Result<PushState, StoreError> {
    let repeat = |flag: &[u8]| flag == b"1";
    match answer.as_slice() {
        [kind] if kind == b"forged" => Ok(PushState::Forged),
        [kind] if kind == b"forgotten" => Ok(PushState::Forgotten),
        [kind, flag] if kind == b"claimed" => Ok(PushState::Claimed {
            repeat: repeat(flag),
        }),
        [kind, flag] if kind == b"running" => Ok(PushState::Running {
            repeat: repeat(flag),
        }),
        [kind, value] if kind == b"decided" => Ok(PushState::Decided(
            value.get(2..).unwrap_or_default().to_vec(),
        )),
        _ => Err(StoreError::Backend("redis: unexpected push state".into())),
    }
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
                    .arg(&keys.fingerprint[..])
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

    async fn decide(
        &self,
        message: &[u8; 16],
        decision: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let push = self.push_key(message);
        let mut value = Vec::with_capacity(decision.len() + 2);
        value.extend_from_slice(b"d:");
        value.extend_from_slice(decision);
        self.call(|mut c| async move {
            ::redis::cmd("SET")
                .arg(push)
                .arg(value)
                .arg("PX")
                .arg(ms(ttl))
                .exec_async(&mut c)
                .await
        })
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
                .arg(&fingerprint[..])
                .arg(pair_expires_at)
                .arg(crate::unix_now() * 1000)
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }
}
