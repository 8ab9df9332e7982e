//! An authorized account: an Official Account that authorized this
//! platform. It IS an account: its row is a runtime account's in the
//! [`AccountStore`](crate::store::AccountStore) (named by its app id,
//! [`AuthorizerInfo`] in its settings), so every instance serves it within
//! a second and its plugins, kv, menus, QR codes and outbound sends work as
//! any account's. What differs is supplied by the platform when the account
//! is built ([`AuthorizedBy`]): its pushes are opened and sealed with the
//! platform's Token, key and component app id, and its access_token comes
//! from `api_authorizer_token` ([`AuthorizerGrant`]).
//!
//! The refresh token is the one credential that cannot be fetched again
//! (only a new authorization, or `api_get_authorizer_list`, gives one), so
//! it is sealed with `WXHOST_SECRETS_KEY` and kept in the deployment's
//! token store (durable on both backends); a rotated one is stored before
//! the access_token that came with it is used. 61023 marks the account
//! "needs re-authorization".

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Platform;
use crate::api::ApiError;
use crate::api::credential::Fetched;
use crate::api::token::AuthorizerGrant;
use crate::config::AccountConfig;
use crate::store::{StoreError, StoredAccount, StoredToken, now_millis, now_secs, quota_day};

/// Where an authorized account stands with the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorizerState {
    /// Served, its tokens obtainable.
    #[default]
    Active,
    /// It withdrew the authorization: not served, its tokens purged; its
    /// data stays for a re-authorization.
    Unauthorized,
    /// WeChat refused its refresh token (61023): it must authorize again.
    /// Still served (passive replies need no token).
    NeedsReauth,
}

impl AuthorizerState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizerState::Active => "active",
            AuthorizerState::Unauthorized => "unauthorized",
            AuthorizerState::NeedsReauth => "needs-reauth",
        }
    }
}

/// What the platform knows of an authorized account (kept in its row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerInfo {
    /// Its original id, `gh_…`.
    #[serde(default)]
    pub user_name: String,
    /// Its name.
    #[serde(default)]
    pub nick_name: String,
    /// The permission sets (`funcscope_category` ids) it granted.
    #[serde(default)]
    pub func_info: Vec<u32>,
    #[serde(default)]
    pub state: AuthorizerState,
    /// Unix seconds of its last authorization.
    #[serde(default)]
    pub authorized_at: i64,
}

/// What the platform gives an authorized account when it is built.
#[derive(Clone)]
pub struct AuthorizedBy {
    /// The receiveId its pushes are encrypted for.
    pub component_app_id: String,
    pub grant: Arc<dyn AuthorizerGrant>,
    /// The permission sets it granted ([`super::permissions`]).
    pub func_info: Arc<[u32]>,
    /// The platform's HTTP client, shared by every authorizer.
    pub client: crate::api::client::ApiClient,
}

impl std::fmt::Debug for AuthorizedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedBy")
            .field("component_app_id", &self.component_app_id)
            .finish_non_exhaustive()
    }
}

/// The permission set ids in a `func_info` array.
pub fn func_ids(func_info: Option<&Value>) -> Vec<u32> {
    let mut ids: Vec<u32> = func_info
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f["funcscope_category"]["id"].as_u64())
        .filter_map(|id| u32::try_from(id).ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Lives "until the merchant de-authorizes": stored without expiry.
const NEVER: i64 = 100 * 365 * 86_400;

impl Platform {
    fn refresh_key(app_id: &str) -> String {
        format!("open:refresh:{app_id}")
    }

    /// The stored refresh token of `app_id`.
    pub async fn refresh_token(&self, app_id: &str) -> Result<Option<String>, ApiError> {
        let key = Self::refresh_key(app_id);
        let Some(stored) = self.stores.tokens.get(&key).await? else {
            return Ok(None);
        };
        let sealed =
            hex::decode(&stored.token).map_err(|_| ApiError::Storage(format!("{key}: not hex")))?;
        let plain = self.key.open(&key, &sealed).ok_or_else(|| {
            ApiError::Storage(format!(
                "the refresh token of {app_id} does not open with {} (another key?)",
                crate::account::secrets::ENV
            ))
        })?;
        Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
    }

    /// Keeps `refresh` as `app_id`'s refresh token, sealed.
    pub async fn save_refresh_token(&self, app_id: &str, refresh: &str) -> Result<(), StoreError> {
        let key = Self::refresh_key(app_id);
        let now = now_secs();
        let stored = StoredToken {
            token: hex::encode(self.key.seal(&key, refresh.as_bytes())),
            expires_at: now + NEVER,
            fetched_at: now,
        };
        self.stores.tokens.put(&key, &stored, &quota_day(now)).await
    }

    /// Forgets `app_id`'s refresh token and access_token.
    async fn purge_tokens(&self, app_id: &str) -> Result<(), StoreError> {
        let key = Self::refresh_key(app_id);
        if let Some(t) = self.stores.tokens.get(&key).await? {
            self.stores.tokens.invalidate(&key, &t.token).await?;
        }
        let scope = self.stores.for_account(app_id)?;
        if let Some(t) = scope.tokens.get(app_id).await? {
            scope.tokens.invalidate(app_id, &t.token).await?;
        }
        Ok(())
    }

    /// The stored row of authorized account `app_id`, with its settings.
    pub async fn authorizer(
        &self,
        app_id: &str,
    ) -> Result<Option<(StoredAccount, AccountConfig)>, StoreError> {
        let rows = self.stores.accounts.list().await?;
        Ok(rows.into_iter().find(|r| r.name == app_id).and_then(|r| {
            let a: AccountConfig = serde_json::from_str(&r.settings).ok()?;
            a.authorizer.is_some().then_some((r, a))
        }))
    }

    /// Every authorized account (any state), by app id.
    pub async fn authorizers(&self) -> Result<Vec<(String, AuthorizerInfo)>, StoreError> {
        let rows = self.stores.accounts.list().await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let a: AccountConfig = serde_json::from_str(&r.settings).ok()?;
                Some((r.name, a.authorizer?))
            })
            .collect())
    }

    /// Writes `app_id`'s row with `info` (a new version: every instance
    /// rebuilds it). Refused if a runtime account not authorized through
    /// the platform has that name.
    pub async fn put_authorizer(&self, app_id: &str, info: AuthorizerInfo) -> Result<(), ApiError> {
        if !crate::store::valid_account_name(app_id) {
            return Err(ApiError::Invalid(format!(
                "authorizer app id {app_id:?} cannot name an account"
            )));
        }
        let rows = self.stores.accounts.list().await?;
        let existing = rows.iter().find(|r| r.name == app_id);
        let mut settings = match existing {
            Some(r) => {
                let a: AccountConfig = serde_json::from_str(&r.settings).unwrap_or_default();
                if a.authorizer.is_none() {
                    return Err(ApiError::Invalid(format!(
                        "runtime account {app_id} exists and is not an authorized one"
                    )));
                }
                a
            }
            None => AccountConfig {
                app_id: app_id.to_owned(),
                plugins: self.config.plugins.clone(),
                ..AccountConfig::default()
            },
        };
        settings.disabled = info.state == AuthorizerState::Unauthorized;
        settings.authorizer = Some(info);
        self.stores
            .accounts
            .put(&StoredAccount {
                name: app_id.to_owned(),
                settings: serde_json::to_string(&settings).expect("settings serialize"),
                // Its credentials are the platform's: nothing to seal.
                secrets: Vec::new(),
                updated_ms: now_millis().max(existing.map_or(0, |r| r.updated_ms) + 1),
            })
            .await?;
        Ok(())
    }

    /// Moves `app_id` to `state` (a no-op if it is not an authorizer or is
    /// in it already).
    pub async fn set_state(&self, app_id: &str, state: AuthorizerState) -> Result<(), ApiError> {
        let Some((_, a)) = self.authorizer(app_id).await? else {
            return Ok(());
        };
        let info = a.authorizer.unwrap_or_default();
        if info.state == state {
            return Ok(());
        }
        self.put_authorizer(app_id, AuthorizerInfo { state, ..info })
            .await
    }

    /// `unauthorized`: not served any more, its tokens purged; its data
    /// (kv, menus, QR codes) stays in its store scope.
    pub async fn unauthorize(&self, app_id: &str) -> Result<(), ApiError> {
        if self.authorizer(app_id).await?.is_none() {
            return Ok(());
        }
        self.set_state(app_id, AuthorizerState::Unauthorized)
            .await?;
        self.purge_tokens(app_id).await?;
        tracing::info!(
            app_id,
            "authorizer withdrew its authorization: no longer served"
        );
        Ok(())
    }

    /// An authorization (code exchanged): its refresh token stored first,
    /// then its access_token in its own scope, its info fetched, and its
    /// row written active.
    pub(super) async fn store_authorization(&self, auth: &Value) -> Result<String, ApiError> {
        let app_id = auth["authorizer_appid"]
            .as_str()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                ApiError::Transport("api_query_auth answered no authorizer_appid".into())
            })?
            .to_owned();
        if !crate::store::valid_account_name(&app_id) {
            return Err(ApiError::Invalid(format!(
                "authorizer app id {app_id:?} cannot name an account"
            )));
        }
        let refresh = auth["authorizer_refresh_token"].as_str().unwrap_or("");
        if refresh.is_empty() {
            return Err(ApiError::Transport(format!(
                "api_query_auth answered no refresh token for {app_id}"
            )));
        }
        self.save_refresh_token(&app_id, refresh).await?;
        if let Some(token) = auth["authorizer_access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            let now = now_secs();
            let stored = StoredToken {
                token: token.to_owned(),
                expires_at: now + auth["expires_in"].as_i64().unwrap_or(7200),
                fetched_at: now,
            };
            let scope = self.stores.for_account(&app_id)?;
            scope.tokens.put(&app_id, &stored, &quota_day(now)).await?;
        }
        self.describe_and_put(&app_id, func_ids(auth.get("func_info")), now_secs())
            .await?;
        tracing::info!(app_id, "account authorized this platform: served");
        Ok(app_id)
    }

    /// Fetches `app_id`'s name and `gh_` id and writes its row, active.
    pub(super) async fn describe_and_put(
        &self,
        app_id: &str,
        func_info: Vec<u32>,
        authorized_at: i64,
    ) -> Result<(), ApiError> {
        let mut info = AuthorizerInfo {
            func_info,
            state: AuthorizerState::Active,
            authorized_at,
            ..AuthorizerInfo::default()
        };
        let body = json!({"component_appid": self.component_app_id(), "authorizer_appid": app_id});
        match self
            .call("/cgi-bin/component/api_get_authorizer_info", &body)
            .await
        {
            Ok(v) => {
                let a = &v["authorizer_info"];
                info.user_name = a["user_name"].as_str().unwrap_or("").to_owned();
                info.nick_name = a["nick_name"].as_str().unwrap_or("").to_owned();
                if info.func_info.is_empty() {
                    info.func_info = func_ids(v["authorization_info"].get("func_info"));
                }
            }
            // Served without its name rather than not at all.
            Err(e) => tracing::warn!(app_id, error = %e, "api_get_authorizer_info failed"),
        }
        self.put_authorizer(app_id, info).await
    }

    /// `api_authorizer_token` for `app_id` with its stored refresh token.
    async fn fetch_authorizer_token(&self, app_id: &str) -> Result<Fetched, ApiError> {
        let refresh = self.refresh_token(app_id).await?.ok_or_else(|| {
            ApiError::Invalid(format!(
                "account {app_id} has no stored refresh token: it must authorize the platform again, or run `wxhost open recover`"
            ))
        })?;
        let body = json!({
            "component_appid": self.component_app_id(),
            "authorizer_appid": app_id,
            "authorizer_refresh_token": refresh,
        });
        let answer = match self
            .call("/cgi-bin/component/api_authorizer_token", &body)
            .await
        {
            Err(e @ ApiError::Wechat { code: 61023, .. }) => {
                if let Err(s) = self.set_state(app_id, AuthorizerState::NeedsReauth).await {
                    tracing::warn!(app_id, error = %s, "could not mark the account as needing re-authorization");
                }
                return Err(e);
            }
            other => other?,
        };
        let token = answer["authorizer_access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Transport("api_authorizer_token answered no access token".into())
            })?;
        if let Some(rotated) = answer["authorizer_refresh_token"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != refresh)
        {
            // Durably before the token is used: the old one may be dead.
            self.save_refresh_token(app_id, rotated).await.map_err(|e| {
                tracing::error!(app_id, error = %e, "the rotated refresh token could not be stored");
                ApiError::from(e)
            })?;
        }
        Ok(Fetched {
            value: token.to_owned(),
            expires_in: answer["expires_in"].as_i64().unwrap_or(7200),
        })
    }
}

#[async_trait]
impl AuthorizerGrant for Platform {
    async fn authorizer_token(&self, app_id: &str) -> Result<Fetched, ApiError> {
        self.fetch_authorizer_token(app_id).await
    }
}
