//! [`HostCtx`]: what the `host` interface (log, kv, config) sees of a call —
//! the plugin's id, its kv namespace and quota, its config, its log buffer
//! and the call's deadline. Nothing else of the host is reachable from here.
//!
//! The 1.0 interface is implemented here; 0.2's delegates to it, at the
//! end of this file. A store failure is an error the plugin sees, except
//! for 0.2's `kv-get`, whose signature has no error: there it traps the
//! call (see its `kv_get`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::account_scope::AccountScope;
use super::bindings::v0_2::wechat::plugin::host as host_v0_2;
use super::bindings::v1::wechat::plugin::host;
use super::convert::v0_2::Up;
use super::log_buffer::{LogBuffer, LogLevel};
use super::state::PluginScope;
use crate::config::secrets::Secrets;
use crate::store::{KvQuota, KvStore, StoreError};

/// Longest kv key.
pub const MAX_KV_KEY_BYTES: usize = 256;
/// Largest kv value.
pub const MAX_KV_VALUE_BYTES: usize = 64 * 1024;

pub(crate) struct HostCtx {
    plugin: Arc<str>,
    kv: Arc<dyn KvStore>,
    quota: KvQuota,
    config: Arc<BTreeMap<String, String>>,
    secrets: Secrets,
    pub log: LogBuffer,
    /// Set per call (an instance reused across calls gets each call's own).
    pub deadline: Instant,
}

impl HostCtx {
    /// The account's kv scope, and its config for the plugin if it has one.
    pub fn new(scope: &PluginScope, account: &AccountScope, deadline: Instant) -> HostCtx {
        let grants = account.grants(&scope.id);
        let config = grants.and_then(|g| g.config.clone());
        let secrets = grants.and_then(|g| g.secrets.clone());
        HostCtx {
            plugin: scope.id.clone(),
            kv: account.services.kv.clone(),
            // An account may have its own quota for the plugin's kv (its
            // scope is its own, so is what counts against it).
            quota: crate::store::KvQuota {
                max_bytes: grants
                    .and_then(|g| g.kv_max_bytes)
                    .unwrap_or(scope.kv_quota.max_bytes),
                max_keys: grants
                    .and_then(|g| g.kv_max_keys)
                    .unwrap_or(scope.kv_quota.max_keys),
            },
            config: config.unwrap_or_else(|| scope.config.clone()),
            secrets: secrets.unwrap_or_else(|| scope.secrets.clone()),
            log: LogBuffer::default(),
            deadline,
        }
    }

    /// `text` without the plugin's secret values (its stdout and stderr are
    /// logged).
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact(text).into_owned()
    }

    /// Runs a store call, bounded by the call's deadline (a slow store must
    /// not hold the guest past its limit); failures are logged for the
    /// operator and returned to the plugin as a `kv-error`.
    async fn store<T>(
        &self,
        op: &str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, host::KvError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, fut).await {
            Ok(Ok(v)) => Ok(v),
            // The store logs an outage once, not per call.
            Ok(Err(e @ StoreError::Unavailable(_))) => {
                Err(host::KvError::Unavailable(e.to_string()))
            }
            // The plugin's own doing (quota, not a counter): nothing to
            // tell the operator.
            Ok(Err(e @ (StoreError::KvQuota(_) | StoreError::Invalid(_)))) => {
                Err(host::KvError::Refused(e.to_string()))
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "wxhost::plugin", plugin = %self.plugin, "{op} failed: {e}");
                Err(host::KvError::Unavailable(e.to_string()))
            }
            Err(_) => {
                let e = "kv: the call's time limit was reached";
                tracing::warn!(target: "wxhost::plugin", plugin = %self.plugin, "{op} failed: {e}");
                Err(host::KvError::Unavailable(e.to_owned()))
            }
        }
    }
}

fn check_key(key: &str) -> Result<(), host::KvError> {
    if key.is_empty() || key.len() > MAX_KV_KEY_BYTES {
        return Err(host::KvError::Refused(format!(
            "key must be 1 to {MAX_KV_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

impl host::KvError {
    /// The message alone (0.2's `result<_, string>`).
    fn into_message(self) -> String {
        match self {
            host::KvError::Refused(m) | host::KvError::Unavailable(m) => m,
        }
    }
}

impl From<host::Level> for LogLevel {
    fn from(l: host::Level) -> LogLevel {
        match l {
            host::Level::Trace => LogLevel::Trace,
            host::Level::Debug => LogLevel::Debug,
            host::Level::Info => LogLevel::Info,
            host::Level::Warn => LogLevel::Warn,
            host::Level::Error => LogLevel::Error,
        }
    }
}

impl host::Host for HostCtx {
    async fn log(
        &mut self,
        level: host::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let message = self.secrets.redact(&message);
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k, self.secrets.redact(&v).into_owned()))
            .collect();
        self.log.push(&self.plugin, level.into(), &message, &fields);
        Ok(())
    }

    async fn kv_get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, host::KvError>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self.store("kv-get", self.kv.get(&self.plugin, &key)).await)
    }

    async fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), host::KvError>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        if value.len() > MAX_KV_VALUE_BYTES {
            return Ok(Err(host::KvError::Refused(format!(
                "value is {} bytes (limit {MAX_KV_VALUE_BYTES})",
                value.len()
            ))));
        }
        Ok(self
            .store(
                "kv-set",
                self.kv.set(&self.plugin, &key, &value, self.quota),
            )
            .await)
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<Result<(), host::KvError>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self
            .store("kv-delete", self.kv.delete(&self.plugin, &key))
            .await)
    }

    async fn kv_incr(
        &mut self,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, host::KvError>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self
            .store(
                "kv-incr",
                self.kv.incr(&self.plugin, &key, delta, self.quota),
            )
            .await)
    }

    async fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        // A name is config or a secret, never both (checked at start-up).
        Ok(self
            .config
            .get(&key)
            .cloned()
            .or_else(|| self.secrets.get(&key).map(str::to_owned)))
    }

    /// Secrets' names are listed with the config's: the plugin reads them
    /// the same way, and a name is what the operator wrote, not a value.
    async fn config_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        let mut keys: Vec<String> = self.config.keys().cloned().collect();
        keys.extend(self.secrets.names().map(str::to_owned));
        keys.sort_unstable();
        Ok(keys)
    }
}

/// WIT 0.2: the same functions; a kv failure is its message. 0.2's
/// `kv-get` cannot say "failed": an invalid key reads as absent (as 0.2
/// always did), and a store failure traps the call.
impl host_v0_2::Host for HostCtx {
    async fn log(
        &mut self,
        level: host_v0_2::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        host::Host::log(self, level.up(), message, fields).await
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        // Answering `none` on a failure would read as "absent", and a
        // plugin's get → default → set would then overwrite real data
        // during a store outage. The call traps instead, so no later write
        // of this call happens.
        match host::Host::kv_get(self, key).await? {
            Ok(v) => Ok(v),
            Err(host::KvError::Refused(_)) => Ok(None),
            Err(host::KvError::Unavailable(e)) => Err(wasmtime::Error::msg(format!(
                "kv-get failed, so the call was stopped before it could act on a missing value: {e}"
            ))),
        }
    }

    async fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let r = host::Host::kv_set(self, key, value).await?;
        Ok(r.map_err(host::KvError::into_message))
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<Result<(), String>> {
        let r = host::Host::kv_delete(self, key).await?;
        Ok(r.map_err(host::KvError::into_message))
    }

    async fn kv_incr(&mut self, key: String, delta: i64) -> wasmtime::Result<Result<i64, String>> {
        let r = host::Host::kv_incr(self, key, delta).await?;
        Ok(r.map_err(host::KvError::into_message))
    }

    async fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        host::Host::config_get(self, key).await
    }

    async fn config_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        host::Host::config_keys(self).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::store::KvEntry;

    /// A kv store that is down.
    struct Down;

    #[async_trait]
    impl KvStore for Down {
        async fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Err(StoreError::Unavailable("paused".into()))
        }
        async fn set(&self, _: &str, _: &str, _: &[u8], _: KvQuota) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("paused".into()))
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("paused".into()))
        }
        async fn incr(&self, _: &str, _: &str, _: i64, _: KvQuota) -> Result<i64, StoreError> {
            Err(StoreError::Unavailable("paused".into()))
        }
        async fn export(&self) -> Result<Vec<KvEntry>, StoreError> {
            Ok(Vec::new())
        }
        async fn import(&self, _: &[KvEntry]) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn ctx(kv: Arc<dyn KvStore>) -> HostCtx {
        let scope = PluginScope {
            id: Arc::from("p"),
            config: Default::default(),
            secrets: Default::default(),
            capabilities: Default::default(),
            kv_quota: KvQuota {
                max_bytes: 1 << 20,
                max_keys: 100,
            },
            http_hosts: Arc::from(Vec::<String>::new()),
        };
        let account = crate::plugin::AccountScope {
            name: Arc::from("default"),
            app_id: Arc::from("wx"),
            services: crate::plugin::HostServices {
                kv,
                wechat: None,
                jssdk: None,
                outbound: Default::default(),
            },
            plugins: None,
            grants: Default::default(),
            switches: Default::default(),
        };
        HostCtx::new(&scope, &account, Instant::now() + Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_plugin_logging_its_secret_logs_it_redacted() {
        use host::Host as _;
        let mut c = ctx(Arc::new(Down));
        c.secrets = Secrets::of(&[("api_key", "sk-live-abcdef123")]);
        c.log(
            host::Level::Warn,
            "call failed: Authorization: Bearer sk-live-abcdef123".into(),
            vec![("header".into(), "Bearer sk-live-abcdef123".into())],
        )
        .await
        .unwrap();
        let lines = std::mem::take(&mut c.log).finish("p");
        let shown = format!("{:?} {:?}", lines[0].message, lines[0].fields);
        assert!(!shown.contains("sk-live"), "{shown}");
        assert!(shown.contains("Bearer <secret>"), "{shown}");
        assert_eq!(
            c.config_get("api_key".into()).await.unwrap().as_deref(),
            Some("sk-live-abcdef123")
        );
        assert_eq!(c.config_keys().await.unwrap(), ["api_key"]);
    }

    #[tokio::test]
    async fn kv_get_on_a_failing_store_traps_instead_of_answering_absent() {
        use host_v0_2::Host as _;
        let mut down = ctx(Arc::new(Down));
        let trap = down.kv_get("count".into()).await.unwrap_err();
        assert!(trap.to_string().contains("kv-get failed"), "{trap}");
        // A missing key on a store that answers is still `none`.
        let kv = crate::store::Stores::in_memory().unwrap().kv;
        let mut up = ctx(kv);
        assert_eq!(up.kv_get("count".into()).await.unwrap(), None);
    }

    /// 1.0 says what happened: a failure is an error, absence is `none`,
    /// and an invalid key is refused (0.2 read it as absent).
    #[tokio::test]
    async fn kv_get_in_1_0_answers_a_store_failure_as_an_error() {
        use host::Host as _;
        let mut down = ctx(Arc::new(Down));
        assert!(matches!(
            down.kv_get("count".into()).await.unwrap(),
            Err(host::KvError::Unavailable(m)) if m.contains("paused")
        ));
        let mut up = ctx(crate::store::Stores::in_memory().unwrap().kv);
        assert!(matches!(up.kv_get("count".into()).await.unwrap(), Ok(None)));
        assert!(matches!(
            up.kv_get(String::new()).await.unwrap(),
            Err(host::KvError::Refused(_))
        ));
        assert_eq!(
            host_v0_2::Host::kv_get(&mut up, String::new())
                .await
                .unwrap(),
            None
        );
    }
}
