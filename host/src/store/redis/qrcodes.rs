//! [`QrStore`] on Redis: a code is a hash `<p>qr:<id>` (ids from
//! `<p>qr-seq`), indexed by the sorted sets `<p>qr-ids`, `<p>qr-scene:<scene>`
//! and `<p>qr-ticket:<ticket>` (ids as scores, newest last); permanent codes
//! are counted in `<p>qr-permanent-count`, the newest per scene in
//! `<p>qr-permanent:<scene>`. A reservation is `<p>qr-reservation:<id>` →
//! scene, `<p>qr-reserved:<scene>` → id, in `<p>qr-reservations` (created_at
//! as score, to drop expired ones). The count check and the slot are one
//! script, so instances racing for the last slot cannot both take it.

use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;

use super::{RedisStore, field, parse_i64};
use crate::store::{
    QrCode, QrRecord, QrReservation, QrStore, RESERVATION_TTL_SECS, Reservation, StoreError,
};

/// Shared by the scripts below.
const LIB: &str = r"
local function put_code(p, id, scene, ticket, url, permanent, expires_at, has_note, note, created_at)
  local k = p .. 'qr:' .. id
  redis.call('HSET', k, 'scene', scene, 'ticket', ticket, 'url', url, 'permanent', permanent, 'created_at', created_at)
  if expires_at ~= '' then redis.call('HSET', k, 'expires_at', expires_at) end
  if has_note == '1' then redis.call('HSET', k, 'note', note) end
  redis.call('ZADD', p .. 'qr-ids', id, id)
  redis.call('ZADD', p .. 'qr-scene:' .. scene, id, id)
  redis.call('ZADD', p .. 'qr-ticket:' .. ticket, id, id)
  if permanent == '1' then
    redis.call('INCR', p .. 'qr-permanent-count')
    local newest = tonumber(redis.call('GET', p .. 'qr-permanent:' .. scene) or '0')
    if tonumber(id) > newest then redis.call('SET', p .. 'qr-permanent:' .. scene, id) end
  end
end
local function record(p, id)
  local f = redis.call('HGETALL', p .. 'qr:' .. id)
  if #f == 0 then return {} end
  table.insert(f, 1, tostring(id))
  return f
end
local function drop_reservation(p, id)
  local scene = redis.call('GET', p .. 'qr-reservation:' .. id)
  redis.call('DEL', p .. 'qr-reservation:' .. id)
  redis.call('ZREM', p .. 'qr-reservations', id)
  if scene and redis.call('GET', p .. 'qr-reserved:' .. scene) == tostring(id) then
    redis.call('DEL', p .. 'qr-reserved:' .. scene)
  end
end
";

fn script(body: &str) -> Script {
    Script::new(&format!("{LIB}{body}"))
}

/// ARGV: prefix, limit ('' = none), then the code (scene, ticket, url,
/// permanent, expires_at, has_note, note, created_at). Returns {id} or
/// {'quota', count}.
static INSERT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local p = ARGV[1]
if ARGV[6] == '1' and ARGV[2] ~= '' then
  local count = tonumber(redis.call('GET', p .. 'qr-permanent-count') or '0')
  if count >= tonumber(ARGV[2]) then return {'quota', count} end
end
local id = redis.call('INCR', p .. 'qr-seq')
put_code(p, id, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
return {id}
",
    )
});

/// ARGV: prefix, scene, limit, now, ttl. Returns {'reserved', id},
/// {'exists', record...}, {'busy'} or {'quota', taken}.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local p, scene = ARGV[1], ARGV[2]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'qr-reservations', '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]))) do
  drop_reservation(p, id)
end
local existing = redis.call('GET', p .. 'qr-permanent:' .. scene)
if existing then
  local r = record(p, existing)
  if #r > 0 then table.insert(r, 1, 'exists') return r end
end
if redis.call('EXISTS', p .. 'qr-reserved:' .. scene) == 1 then return {'busy'} end
local taken = tonumber(redis.call('GET', p .. 'qr-permanent-count') or '0') + redis.call('ZCARD', p .. 'qr-reservations')
if taken >= tonumber(ARGV[3]) then return {'quota', taken} end
local id = redis.call('INCR', p .. 'qr-reservation-seq')
redis.call('SET', p .. 'qr-reservation:' .. id, scene)
redis.call('SET', p .. 'qr-reserved:' .. scene, id)
redis.call('ZADD', p .. 'qr-reservations', ARGV[4], id)
return {'reserved', id}
",
    )
});

/// ARGV: prefix, reservation, then the code. Returns the code's id.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local p = ARGV[1]
drop_reservation(p, ARGV[2])
local id = redis.call('INCR', p .. 'qr-seq')
put_code(p, id, ARGV[3], ARGV[4], ARGV[5], '1', '', ARGV[8], ARGV[9], ARGV[10])
return id
",
    )
});

/// ARGV: prefix, reservation.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
drop_reservation(ARGV[1], ARGV[2])
return 1
",
    )
});

/// ARGV: prefix, what, arg. Returns {record, ...}, newest first: `scene`
/// (the newest not expired at arg2 = now), `permanent`, `ticket`, `id`,
/// `list` (arg = limit).
static READ: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local p, what, a, b = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
if what == 'scene' then
  for _, id in ipairs(redis.call('ZREVRANGE', p .. 'qr-scene:' .. a, 0, -1)) do
    local exp = redis.call('HGET', p .. 'qr:' .. id, 'expires_at')
    if not exp or tonumber(exp) > tonumber(b) then
      local r = record(p, id)
      if #r > 0 then return {r} end
    end
  end
elseif what == 'permanent' then
  local id = redis.call('GET', p .. 'qr-permanent:' .. a)
  if id then table.insert(out, record(p, id)) end
elseif what == 'ticket' then
  for _, id in ipairs(redis.call('ZREVRANGE', p .. 'qr-ticket:' .. a, 0, 0)) do table.insert(out, record(p, id)) end
elseif what == 'id' then
  table.insert(out, record(p, a))
elseif what == 'list' then
  for _, id in ipairs(redis.call('ZREVRANGE', p .. 'qr-ids', 0, tonumber(a) - 1)) do table.insert(out, record(p, id)) end
end
return out
",
    )
});

fn code_args(code: &QrCode) -> [String; 8] {
    [
        code.scene.clone(),
        code.ticket.clone(),
        code.url.clone(),
        if code.permanent { "1" } else { "0" }.to_owned(),
        code.expires_at.map(|t| t.to_string()).unwrap_or_default(),
        if code.note.is_some() { "1" } else { "0" }.to_owned(),
        code.note.clone().unwrap_or_default(),
        code.created_at.to_string(),
    ]
}

fn record(row: &[String]) -> Result<Option<QrRecord>, StoreError> {
    let Some((id, f)) = row.split_first() else {
        return Ok(None);
    };
    let u = |name: &str| -> Result<Option<u64>, StoreError> {
        field(f, name)
            .map(|v| {
                v.parse()
                    .map_err(|_| StoreError::Backend(format!("redis: malformed QR code {name}")))
            })
            .transpose()
    };
    Ok(Some(QrRecord {
        id: parse_i64(Some(id), "QR code id")?,
        code: QrCode {
            scene: field(f, "scene").unwrap_or_default().to_owned(),
            ticket: field(f, "ticket").unwrap_or_default().to_owned(),
            url: field(f, "url").unwrap_or_default().to_owned(),
            permanent: field(f, "permanent") == Some("1"),
            expires_at: u("expires_at")?,
            note: field(f, "note").map(str::to_owned),
            created_at: u("created_at")?.unwrap_or(0),
        },
    }))
}

impl RedisStore {
    async fn read_qr(&self, what: &str, a: &str, b: i64) -> Result<Vec<QrRecord>, StoreError> {
        let prefix = &self.prefix;
        let rows: Vec<Vec<String>> = self
            .call(|mut c| async move {
                READ.arg(prefix)
                    .arg(what)
                    .arg(a)
                    .arg(b)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.extend(record(row)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl QrStore for RedisStore {
    async fn insert(&self, code: &QrCode, permanent_limit: Option<u64>) -> Result<i64, StoreError> {
        let prefix = &self.prefix;
        let limit = permanent_limit.map(|l| l.to_string()).unwrap_or_default();
        let args = code_args(code);
        let r: Vec<String> = self
            .call(|mut c| async move {
                INSERT
                    .arg(prefix)
                    .arg(limit)
                    .arg(&args[..])
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match r.as_slice() {
            [id] => parse_i64(Some(id), "QR code id"),
            [_, count] => Err(StoreError::QuotaReached {
                count: count.parse().unwrap_or(0),
                limit: permanent_limit.unwrap_or(0),
            }),
            _ => Err(StoreError::Backend(
                "redis: unexpected QR insert answer".into(),
            )),
        }
    }

    async fn permanent_count(&self) -> Result<u64, StoreError> {
        let k = self.key(format_args!("qr-permanent-count"));
        let n: Option<u64> = self
            .call(|mut c| async move { ::redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await?;
        Ok(n.unwrap_or(0))
    }

    async fn reserve_permanent(
        &self,
        scene: &str,
        limit: u64,
        now: i64,
    ) -> Result<Reservation, StoreError> {
        let prefix = &self.prefix;
        let r: Vec<String> = self
            .call(|mut c| async move {
                RESERVE
                    .arg(prefix)
                    .arg(scene)
                    .arg(limit)
                    .arg(now)
                    .arg(RESERVATION_TTL_SECS)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match r.split_first() {
            Some((kind, [id])) if kind == "reserved" => Ok(Reservation::Reserved(parse_i64(
                Some(id),
                "reservation id",
            )?)),
            Some((kind, row)) if kind == "exists" => record(row)?
                .map(Reservation::Exists)
                .ok_or_else(|| StoreError::Backend("redis: malformed QR code".into())),
            Some((kind, [])) if kind == "busy" => Ok(Reservation::Busy),
            Some((kind, [taken])) if kind == "quota" => Err(StoreError::QuotaReached {
                count: taken.parse().unwrap_or(0),
                limit,
            }),
            _ => Err(StoreError::Backend(
                "redis: unexpected reservation answer".into(),
            )),
        }
    }

    async fn complete_permanent(&self, reservation: i64, code: &QrCode) -> Result<i64, StoreError> {
        let prefix = &self.prefix;
        let args = code_args(code);
        self.call(|mut c| async move {
            COMPLETE
                .arg(prefix)
                .arg(reservation)
                .arg(&args[..])
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    async fn release_permanent(&self, reservation: i64) -> Result<(), StoreError> {
        let prefix = &self.prefix;
        self.call(|mut c| async move {
            RELEASE
                .arg(prefix)
                .arg(reservation)
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn by_scene_at(&self, scene: &str, now: i64) -> Result<Option<QrRecord>, StoreError> {
        Ok(self.read_qr("scene", scene, now).await?.pop())
    }

    async fn permanent_by_scene(&self, scene: &str) -> Result<Option<QrRecord>, StoreError> {
        Ok(self.read_qr("permanent", scene, 0).await?.pop())
    }

    async fn by_ticket(&self, ticket: &str) -> Result<Option<QrRecord>, StoreError> {
        Ok(self.read_qr("ticket", ticket, 0).await?.pop())
    }

    async fn by_id(&self, id: i64) -> Result<Option<QrRecord>, StoreError> {
        Ok(self.read_qr("id", &id.to_string(), 0).await?.pop())
    }

    async fn list(&self, limit: usize) -> Result<Vec<QrRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Lua numbers are doubles: keep the bound exact.
        let limit = limit.min(1_000_000_000).to_string();
        self.read_qr("list", &limit, 0).await
    }

    async fn reservations(&self) -> Result<Vec<QrReservation>, StoreError> {
        let (set, prefix) = (self.key(format_args!("qr-reservations")), &self.prefix);
        let ids: Vec<(i64, i64)> = self
            .call(|mut c| async move {
                ::redis::cmd("ZRANGE")
                    .arg(set)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, created_at) in ids {
            let k = format!("{prefix}qr-reservation:{id}");
            let scene: Option<String> = self
                .call(|mut c| async move { ::redis::cmd("GET").arg(k).query_async(&mut c).await })
                .await?;
            out.extend(scene.map(|scene| QrReservation {
                id,
                scene,
                created_at,
            }));
        }
        Ok(out)
    }

    async fn import(
        &self,
        codes: &[QrRecord],
        reservations: &[QrReservation],
    ) -> Result<(), StoreError> {
        static PUT: LazyLock<Script> = LazyLock::new(|| {
            script(
                r"
local p = ARGV[1]
put_code(p, ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
if tonumber(redis.call('GET', p .. 'qr-seq') or '0') < tonumber(ARGV[2]) then redis.call('SET', p .. 'qr-seq', ARGV[2]) end
return 1
",
            )
        });
        static RESERVED: LazyLock<Script> = LazyLock::new(|| {
            Script::new(
                r"
local p, id, scene = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', p .. 'qr-reservation:' .. id, scene)
redis.call('SET', p .. 'qr-reserved:' .. scene, id)
redis.call('ZADD', p .. 'qr-reservations', ARGV[4], id)
if tonumber(redis.call('GET', p .. 'qr-reservation-seq') or '0') < tonumber(id) then redis.call('SET', p .. 'qr-reservation-seq', id) end
return 1
",
            )
        });
        let prefix = &self.prefix;
        for r in codes {
            let args = code_args(&r.code);
            self.call(|mut c| async move {
                PUT.arg(prefix)
                    .arg(r.id)
                    .arg(&args[..])
                    .invoke_async::<()>(&mut c)
                    .await
            })
            .await?;
        }
        for r in reservations {
            self.call(|mut c| async move {
                RESERVED
                    .arg(prefix)
                    .arg(r.id)
                    .arg(&r.scene)
                    .arg(r.created_at)
                    .invoke_async::<()>(&mut c)
                    .await
            })
            .await?;
        }
        Ok(())
    }
}
