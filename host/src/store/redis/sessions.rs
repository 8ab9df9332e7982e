//! [`SessionStore`] on Redis: a record is a string
//! `<p>session:<realm length>:<realm>:<id>` with Redis's own expiry (`SET
//! PX`), so expired records disappear by themselves; `take` is `GETDEL`.

use std::time::Duration;

use async_trait::async_trait;

use super::RedisStore;
use crate::store::{SessionRecord, SessionStore, StoreError, now_millis};

impl RedisStore {
    fn session_key(&self, realm: &str, id: &str) -> String {
        // The realm's length keeps (realm, id) pairs apart whatever they contain.
        self.key(format_args!("session:{}:{realm}:{id}", realm.len()))
    }
}

/// (realm, id) of a session key's name (after `session:`).
fn split(name: &str) -> Option<(&str, &str)> {
    let (len, rest) = name.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let realm = rest.get(..len)?;
    let id = rest.get(len..)?.strip_prefix(':')?;
    Some((realm, id))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn put(
        &self,
        realm: &str,
        id: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let k = self.session_key(realm, id);
        let ttl_ms = ttl.as_millis().max(1) as u64;
        self.call(|mut c| async move {
            ::redis::cmd("SET")
                .arg(k)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms)
                .exec_async(&mut c)
                .await
        })
        .await
    }

    async fn get(&self, realm: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let k = self.session_key(realm, id);
        self.call(|mut c| async move { ::redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await
    }

    async fn take(&self, realm: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let k = self.session_key(realm, id);
        self.call(|mut c| async move { ::redis::cmd("GETDEL").arg(k).query_async(&mut c).await })
            .await
    }

    async fn claim(&self, realm: &str, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let k = self.session_key(realm, id);
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let set: Option<String> = self
            .call(|mut c| async move {
                ::redis::cmd("SET")
                    .arg(k)
                    .arg("")
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    async fn delete(&self, realm: &str, id: &str) -> Result<(), StoreError> {
        let k = self.session_key(realm, id);
        self.call(|mut c| async move { ::redis::cmd("DEL").arg(k).exec_async(&mut c).await })
            .await
    }

    async fn export(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out = Vec::new();
        for k in self.scan("session:").await? {
            let Some((realm, id)) = split(self.name_in(&k, "session:")) else {
                continue;
            };
            let key = &k;
            let (value, ttl_ms): (Option<Vec<u8>>, i64) = self
                .call(|mut c| async move {
                    ::redis::pipe()
                        .cmd("GET")
                        .arg(key)
                        .cmd("PTTL")
                        .arg(key)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            if let (Some(value), true) = (value, ttl_ms > 0) {
                out.push(SessionRecord {
                    realm: realm.to_owned(),
                    id: id.to_owned(),
                    value,
                    expires_ms: now_millis() + ttl_ms,
                });
            }
        }
        Ok(out)
    }

    async fn import(&self, records: &[SessionRecord]) -> Result<(), StoreError> {
        for r in records {
            let left = r.expires_ms - now_millis();
            if left > 0 {
                self.put(
                    &r.realm,
                    &r.id,
                    &r.value,
                    Duration::from_millis(left as u64),
                )
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_key_names_split_back_into_realm_and_id() {
        assert_eq!(super::split("3:web:abc"), Some(("web", "abc")));
        assert_eq!(super::split("5:a:b:c:d:e"), Some(("a:b:c", "d:e")));
        assert_eq!(super::split("9:short"), None);
    }
}
