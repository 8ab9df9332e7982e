//! [`WebUserStore`] on Redis: a user is a hash `<p>web-user:<openid>` with
//! the fields of [`WebUser`]; a login is one script, so two instances
//! recording the same user at once never lose a field or `first_seen`.

use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;

use super::{RedisStore, field, parse_i64};
use crate::store::{StoreError, WebUser, WebUserLogin, WebUserStore};

/// KEYS: user. ARGV: openid, scope, snapshot (0/1), now, unionid,
/// nickname, avatar_url (an empty string: this login did not bring it).
/// Returns the user's fields (HGETALL) after the login.
static LOGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local u = KEYS[1]
redis.call('HSETNX', u, 'first_seen', ARGV[4])
redis.call('HSET', u, 'openid', ARGV[1], 'scope', ARGV[2], 'snapshot', ARGV[3], 'last_seen', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', u, 'unionid', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', u, 'nickname', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', u, 'avatar_url', ARGV[7]) end
return redis.call('HGETALL', u)
",
    )
});

impl RedisStore {
    fn web_user_key(&self, openid: &str) -> String {
        self.key(format_args!("web-user:{openid}"))
    }

    async fn read_web_user(&self, key: &str) -> Result<Option<WebUser>, StoreError> {
        let fields: Vec<String> = self
            .call(|mut c| async move { ::redis::cmd("HGETALL").arg(key).query_async(&mut c).await })
            .await?;
        (!fields.is_empty()).then(|| user(&fields)).transpose()
    }
}

fn user(fields: &[String]) -> Result<WebUser, StoreError> {
    let text = |name| field(fields, name).map(str::to_owned);
    Ok(WebUser {
        openid: text("openid")
            .ok_or_else(|| StoreError::Backend("redis: web user without an openid".into()))?,
        unionid: text("unionid"),
        nickname: text("nickname"),
        avatar_url: text("avatar_url"),
        scope: text("scope").unwrap_or_default(),
        snapshot: field(fields, "snapshot") == Some("1"),
        first_seen: parse_i64(field(fields, "first_seen"), "web user first_seen")?,
        last_seen: parse_i64(field(fields, "last_seen"), "web user last_seen")?,
    })
}

#[async_trait]
impl WebUserStore for RedisStore {
    async fn record_login(&self, login: &WebUserLogin, now: i64) -> Result<WebUser, StoreError> {
        let k = self.web_user_key(&login.openid);
        let fields: Vec<String> = self
            .call(|mut c| async move {
                LOGIN
                    .key(k)
                    .arg(&login.openid)
                    .arg(&login.scope)
                    .arg(u8::from(login.snapshot))
                    .arg(now)
                    .arg(login.unionid.as_deref().unwrap_or(""))
                    .arg(login.nickname.as_deref().unwrap_or(""))
                    .arg(login.avatar_url.as_deref().unwrap_or(""))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        user(&fields)
    }

    async fn get(&self, openid: &str) -> Result<Option<WebUser>, StoreError> {
        self.read_web_user(&self.web_user_key(openid)).await
    }

    async fn export(&self) -> Result<Vec<WebUser>, StoreError> {
        let mut users = Vec::new();
        for k in self.scan("web-user:").await? {
            users.extend(self.read_web_user(&k).await?);
        }
        users.sort_by(|a, b| a.openid.cmp(&b.openid));
        Ok(users)
    }

    async fn import(&self, users: &[WebUser]) -> Result<(), StoreError> {
        for u in users {
            let k = self.web_user_key(&u.openid);
            let mut fields: Vec<(&str, String)> = vec![
                ("openid", u.openid.clone()),
                ("scope", u.scope.clone()),
                ("snapshot", u8::from(u.snapshot).to_string()),
                ("first_seen", u.first_seen.to_string()),
                ("last_seen", u.last_seen.to_string()),
            ];
            for (name, v) in [
                ("unionid", &u.unionid),
                ("nickname", &u.nickname),
                ("avatar_url", &u.avatar_url),
            ] {
                if let Some(v) = v {
                    fields.push((name, v.clone()));
                }
            }
            self.call(|mut c| async move {
                ::redis::cmd("HSET")
                    .arg(k)
                    .arg(fields)
                    .exec_async(&mut c)
                    .await
            })
            .await?;
        }
        Ok(())
    }
}
