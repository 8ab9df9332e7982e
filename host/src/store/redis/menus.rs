//! [`MenuStore`] on Redis: a version is a hash `<p>menu:<id>`, ids come
//! from `<p>menu-seq`, every id is in the sorted set `<p>menu-ids`, and the
//! current one is the string `<p>menu-current` — so there is at most one
//! current version by construction, and a publish is one script.

use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;

use super::{RedisStore, field, parse_i64};
use crate::store::{MenuStore, MenuVersion, StoreError, now_secs};

/// ARGV: prefix, json, note ('' = none), has_note, created_at. Returns the id.
static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local id = redis.call('INCR', p .. 'menu-seq')
local k = p .. 'menu:' .. id
redis.call('HSET', k, 'json', ARGV[2], 'created_at', ARGV[5], 'conditional_menu_ids', '')
if ARGV[4] == '1' then redis.call('HSET', k, 'note', ARGV[3]) end
redis.call('ZADD', p .. 'menu-ids', id, id)
return id
",
    )
});

/// ARGV: prefix, id, conditional ids, is_partial, partial, now. Makes
/// `id` the current version. Returns 0 if there is no such version.
static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, id = ARGV[1], ARGV[2]
local k = p .. 'menu:' .. id
if redis.call('EXISTS', k) == 0 then return 0 end
redis.call('HSET', k, 'conditional_menu_ids', ARGV[3])
if ARGV[4] == '0' then
  redis.call('HSET', k, 'published_at', ARGV[6])
  redis.call('HDEL', k, 'partial')
else
  redis.call('HSET', k, 'partial', ARGV[5])
end
redis.call('SET', p .. 'menu-current', id)
return 1
",
    )
});

/// ARGV: prefix, which ('all', 'current' or an id). Returns
/// {{current id or ''}, {id, field, value, ...}, ...}, newest first.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, which = ARGV[1], ARGV[2]
local current = redis.call('GET', p .. 'menu-current') or ''
local ids
if which == 'all' then ids = redis.call('ZREVRANGE', p .. 'menu-ids', 0, -1)
elseif which == 'current' then ids = {current}
else ids = {which} end
local out = {{current}}
for _, id in ipairs(ids) do
  if id ~= '' then
    local f = redis.call('HGETALL', p .. 'menu:' .. id)
    if #f > 0 then
      table.insert(f, 1, id)
      table.insert(out, f)
    end
  end
end
return out
",
    )
});

fn version(row: &[String], current: &str) -> Result<MenuVersion, StoreError> {
    let (id, fields) = row
        .split_first()
        .ok_or_else(|| StoreError::Backend("redis: malformed menu version".into()))?;
    let published_at = field(fields, "published_at")
        .map(|t| parse_i64(Some(t), "menu publish time"))
        .transpose()?;
    Ok(MenuVersion {
        id: parse_i64(Some(id), "menu id")?,
        json: field(fields, "json").unwrap_or_default().to_owned(),
        note: field(fields, "note").map(str::to_owned),
        created_at: parse_i64(field(fields, "created_at"), "menu creation time")?,
        published_at,
        current: id == current,
        conditional_menu_ids: field(fields, "conditional_menu_ids")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        partial: field(fields, "partial").map(str::to_owned),
    })
}

impl RedisStore {
    async fn read_menus(&self, which: &str) -> Result<Vec<MenuVersion>, StoreError> {
        let prefix = &self.prefix;
        let rows: Vec<Vec<String>> = self
            .call(|mut c| async move { READ.arg(prefix).arg(which).invoke_async(&mut c).await })
            .await?;
        let Some((current, rows)) = rows.split_first() else {
            return Ok(Vec::new());
        };
        let current = current.first().map(String::as_str).unwrap_or_default();
        rows.iter().map(|r| version(r, current)).collect()
    }

    async fn mark(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
        partial: Option<&str>,
    ) -> Result<(), StoreError> {
        let prefix = &self.prefix;
        let ids = conditional_menu_ids.join(",");
        let found: i64 = self
            .call(|mut c| async move {
                MARK.arg(prefix)
                    .arg(id)
                    .arg(ids)
                    .arg(if partial.is_some() { "1" } else { "0" })
                    .arg(partial.unwrap_or_default())
                    .arg(now_secs())
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if found == 0 {
            return Err(StoreError::Backend(format!("no menu version {id}")));
        }
        Ok(())
    }
}

#[async_trait]
impl MenuStore for RedisStore {
    async fn insert(&self, json: &str, note: Option<&str>) -> Result<i64, StoreError> {
        let prefix = &self.prefix;
        self.call(|mut c| async move {
            INSERT
                .arg(prefix)
                .arg(json)
                .arg(note.unwrap_or_default())
                .arg(if note.is_some() { "1" } else { "0" })
                .arg(now_secs())
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    async fn mark_published(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
    ) -> Result<(), StoreError> {
        self.mark(id, conditional_menu_ids, None).await
    }

    async fn mark_partial(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
        partial: &str,
    ) -> Result<(), StoreError> {
        self.mark(id, conditional_menu_ids, Some(partial)).await
    }

    async fn clear_current(&self) -> Result<(), StoreError> {
        let current = self.key(format_args!("menu-current"));
        self.call(|mut c| async move { ::redis::cmd("DEL").arg(current).exec_async(&mut c).await })
            .await
    }

    async fn get(&self, id: i64) -> Result<Option<MenuVersion>, StoreError> {
        Ok(self.read_menus(&id.to_string()).await?.pop())
    }

    async fn current(&self) -> Result<Option<MenuVersion>, StoreError> {
        Ok(self.read_menus("current").await?.pop())
    }

    async fn history(&self) -> Result<Vec<MenuVersion>, StoreError> {
        self.read_menus("all").await
    }

    async fn import(&self, versions: &[MenuVersion]) -> Result<(), StoreError> {
        let (seq, ids, current) = (
            self.key(format_args!("menu-seq")),
            self.key(format_args!("menu-ids")),
            self.key(format_args!("menu-current")),
        );
        for v in versions {
            let k = self.key(format_args!("menu:{}", v.id));
            let mut fields = vec![
                ("json", v.json.clone()),
                ("created_at", v.created_at.to_string()),
                ("conditional_menu_ids", v.conditional_menu_ids.join(",")),
            ];
            fields.extend(v.note.clone().map(|n| ("note", n)));
            fields.extend(v.published_at.map(|t| ("published_at", t.to_string())));
            fields.extend(v.partial.clone().map(|p| ("partial", p)));
            let (ids, current, seq) = (&ids, &current, &seq);
            self.call(|mut c| async move {
                let mut p = ::redis::pipe();
                p.atomic()
                    .hset_multiple(&k, &fields)
                    .ignore()
                    .zadd(ids, v.id, v.id)
                    .ignore();
                if v.current {
                    p.set(current, v.id).ignore();
                }
                // The sequence continues after the highest imported id.
                p.cmd("EVAL")
                    .arg("if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end")
                    .arg(1)
                    .arg(seq)
                    .arg(v.id)
                    .ignore();
                p.exec_async(&mut c).await
            })
            .await?;
        }
        Ok(())
    }
}
