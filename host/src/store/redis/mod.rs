//! The Redis backend: every store trait on one Redis, so any number of
//! wxhost instances (and CLI commands) share the token, the fetch lock, menus,
//! QR codes, plugin kv, sessions and what each push has become.
//!
//! - One [`ConnectionManager`] (the `redis` crate's): a multiplexed
//!   connection, pipelined by concurrent callers, remade in the background
//!   whenever it drops. Opening does not wait for Redis: `serve` starts
//!   without it and recovers when it comes.
//! - Every call has a timeout (`storage.redis_timeout_ms`, small: it sits on
//!   the push path). [`health`] notes when Redis stops answering — logged
//!   once when it starts and once when it ends, not per call — and, while it
//!   is down, fails calls at once except one probe at a time, so nothing
//!   waits for a dead server.
//! - Each operation that touches several keys is one Lua script (a
//!   `redis::Script`: EVALSHA, reloaded after a restart), so it is atomic on
//!   its own: kv quota + write, incr, the fetch lock and the token's
//!   compare-and-swap, menu "one current version", the permanent-QR
//!   reservation against its quota, push claims.
//! - Keys: `<key_prefix><family>:<name>` (see each file), so deployments
//!   sharing a Redis keep apart by prefix. A single Redis (or a primary with
//!   replicas behind one address); scripts build some key names themselves,
//!   so Redis Cluster is not supported.
//!
//! Files: [`health`] (reachability), `kv.rs`, `tokens.rs`, `menus.rs`,
//! `qrcodes.rs`, `sessions.rs`, `web_users.rs`, `operator.rs` (the admin
//! console's three), `pushes.rs`, `accounts.rs` (one trait each).

mod accounts;
mod activity;
mod health;
mod kv;
mod menus;
mod operator;
mod published;
mod pushes;
mod qrcodes;
mod schedules;
mod sessions;
mod tokens;
mod web_users;

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ErrorKind, RedisError, ServerErrorKind};

use super::StoreError;
use health::Health;

/// Where the Redis backend is and how long its calls may take.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://…` or `rediss://…`; may hold a password.
    pub url: String,
    pub key_prefix: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redacted_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `url` with any password replaced by `<redacted>` (for logs and
/// `wxhost config`); an unparsable URL is shown as `<unparsable URL>`.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("<redacted>"));
            }
            u.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// Shared by every account's view of this Redis: one server, one state.
    health: std::sync::Arc<Health>,
}

impl RedisStore {
    /// Prepares the connection (made on first use, in the background after
    /// that). Fails only for a URL the client cannot use.
    pub fn open(settings: &RedisSettings) -> Result<RedisStore, StoreError> {
        let client = ::redis::Client::open(settings.url.as_str()).map_err(|e| {
            StoreError::Backend(format!(
                "storage.redis_url {}: {}",
                redacted_url(&settings.url),
                e.category()
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            // Reconnect for as long as it takes, at least once a second, so
            // the service is back within a second of Redis.
            .set_number_of_retries(usize::MAX)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            // Many pushes at once queue on the one connection.
            .set_pipeline_buffer_size(4096);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Backend(format!("redis: {}", e.category())))?;
        Ok(RedisStore {
            conn,
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout,
            health: std::sync::Arc::new(Health::new(redacted_url(&settings.url))),
        })
    }

    /// The same Redis (one connection, one health) under the key prefix of
    /// account `account`: `<prefix>@<account>:`. No key of the default
    /// account's starts with `@` (every family is a word), so the two never
    /// meet, and a prefix from before accounts is the default account's.
    pub fn for_account(&self, account: &str) -> RedisStore {
        RedisStore {
            conn: self.conn.clone(),
            prefix: format!("{}@{account}:", self.prefix),
            timeout: self.timeout,
            health: self.health.clone(),
        }
    }

    /// `<prefix><rest>`.
    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        let mut k = self.prefix.clone();
        std::fmt::Write::write_fmt(&mut k, rest).expect("writing to a String");
        k
    }

    /// Runs one call against Redis within the timeout, keeping [`Health`]:
    /// while Redis is known down, fails at once unless this call is the
    /// probe.
    async fn call<T, F>(&self, f: impl FnOnce(ConnectionManager) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        let Some(admitted) = self.health.admit() else {
            return Err(StoreError::Unavailable("redis unreachable".into()));
        };
        match tokio::time::timeout(self.timeout, f(self.conn.clone())).await {
            Ok(Ok(v)) => {
                self.health.answered(admitted);
                Ok(v)
            }
            Ok(Err(e)) if unreachable(&e) => {
                let message = format!("redis unreachable: {}", describe(&e));
                self.health.failed(&message);
                Err(StoreError::Unavailable(message))
            }
            Ok(Err(e)) => {
                self.health.answered(admitted);
                Err(StoreError::Backend(format!("redis: {}", describe(&e))))
            }
            Err(_) => {
                let message = format!("redis unreachable: no answer within {:?}", self.timeout);
                self.health.failed(&message);
                Err(StoreError::Unavailable(message))
            }
        }
    }

    /// Every key matching `<prefix><pattern>*` (SCAN: for migration, never
    /// on a request path).
    async fn scan(&self, family: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}{family}*", glob_escape(&self.prefix));
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .call(|mut c| {
                    let pattern = pattern.clone();
                    async move {
                        ::redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut c)
                            .await
                    }
                })
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// `key` without the prefix and `family` (a key [`RedisStore::scan`]
    /// returned).
    fn name_in<'k>(&self, key: &'k str, family: &str) -> &'k str {
        &key[self.prefix.len() + family.len()..]
    }
}

/// Errors that mean "Redis did not answer" (as opposed to a command it
/// refused): they mark it down.
fn unreachable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::Client
                | ErrorKind::InvalidClientConfig
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::ReadOnly
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::NoPerm
                )
        )
}

/// An error's text without anything the URL could have put in it.
fn describe(e: &RedisError) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.category()),
        None => e.to_string(),
    }
}

/// `s` with Redis glob metacharacters escaped (a prefix in SCAN MATCH).
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A field of a flat `[field, value, field, value, …]` list (HGETALL).
fn field<'a>(fields: &'a [String], name: &str) -> Option<&'a str> {
    fields
        .chunks_exact(2)
        .find(|p| p[0] == name)
        .map(|p| p[1].as_str())
}

fn parse_i64(s: Option<&str>, what: &str) -> Result<i64, StoreError> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Backend(format!("redis: malformed {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redacted_url("redis://:s3cret@10.0.0.5:6379/2"),
            "redis://:%3Credacted%3E@10.0.0.5:6379/2"
        );
        assert!(!redacted_url("rediss://user:s3cret@h/0").contains("s3cret"));
        assert_eq!(redacted_url("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(redacted_url("::nope s3cret"), "<unparsable URL>");
    }

    #[test]
    fn a_prefix_matches_itself_only_in_scans() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
