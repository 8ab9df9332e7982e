//! Configuration: one TOML file, overridden by `WXHOST_*` environment variables.
//!
//! Every command reads the same [`Config`]. Secrets (AppSecret, EncodingAESKey)
//! are expected from the environment in production; [`Config`]'s `Debug` never
//! prints them. A bad value is a [`ConfigError`] naming the key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod accounts;
mod outbound;
mod schedules;
pub mod secrets;

pub use accounts::{
    AccountConfig, AccountPluginSettings, AccountSettings, AccountWebConfig, env_prefix,
    validate_account, web_host,
};
pub use outbound::OutboundConfig;
pub use schedules::{
    CatchUp, MAX_JITTER_MS, Schedule, ScheduleDecl, ScheduleTable, SchedulesConfig,
    parse_all as parse_schedules,
};

/// The configuration used when no file is given and `wxhost.toml` is absent:
/// sample credentials (WeChat's own test vectors), so that `wxhost serve` and
/// `wxhost simulate` work together out of the box.
pub const EMBEDDED_DEFAULT: &str = include_str!("../wxhost.default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub wechat: WechatConfig,
    pub storage: StorageConfig,
    pub plugins: PluginsConfig,
    /// The web side: OAuth login, sessions, JS-SDK, plugin pages.
    pub web: WebConfig,
    /// Per-plugin settings, keyed by plugin id (the `.wasm` file stem).
    #[serde(default)]
    pub plugin: BTreeMap<String, PluginSettings>,
    /// The operator's console, API and metrics (`host/src/admin`).
    #[serde(default)]
    pub admin: AdminConfig,
    /// The outbound message queue (`crate::outbound`).
    #[serde(default)]
    pub outbound: OutboundConfig,
    /// Scheduled plugin runs (`crate::schedule`): time zone and limits.
    #[serde(default)]
    pub schedules: SchedulesConfig,
    /// More Official Accounts beside `[wechat]` (the `default` one), by name
    /// (`accounts.rs`).
    #[serde(default)]
    pub account: BTreeMap<String, AccountConfig>,
    /// This deployment as an Open Platform third-party platform
    /// (`crate::open`): the accounts that authorize it are served too.
    #[serde(default)]
    pub open_platform: Option<crate::open::OpenPlatformConfig>,
    /// The account a command acts for (`--account`, see
    /// [`Config::acting_as`]); never read from a file.
    #[serde(skip)]
    pub acting_account: Option<String>,
    /// `WXHOST_SECRETS_KEY` (environment only): seals runtime accounts'
    /// credentials (`crate::account::secrets`).
    #[serde(skip)]
    pub secrets_key: Option<EnvSecret>,
}

/// A secret read from the environment only; `Debug` never shows it.
#[derive(Clone)]
pub struct EnvSecret(pub String);

impl fmt::Debug for EnvSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `[web]`: the pages served beside the callback (see `crate::web`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The origin users reach this server at (`https://wx.example.com`):
    /// OAuth's `redirect_uri` is built from it, only URLs on it get a
    /// JS-SDK signature, and an https origin makes cookies `Secure`. Empty:
    /// `http://` + `server.listen` (local trials only).
    #[serde(default)]
    pub public_url: String,
    /// Signs the session cookies. Empty: a random secret generated once
    /// and kept in `<data_dir>/web-session.key` (0600).
    #[serde(default)]
    pub session_secret: String,
    /// How long a login lasts.
    pub session_ttl_secs: u64,
    /// How long a started login (its OAuth `state`) may take to come back.
    pub oauth_state_ttl_secs: u64,
    /// WeChat's OAuth authorize page (a stand-in in tests and the dev loop).
    pub oauth_authorize_url: String,
    /// Largest response a plugin page may give (larger: 500).
    pub max_response_bytes: usize,
    /// Requests to plugin pages (`/app/…`) one client address (IPv6: its
    /// /64) may make per second, in bursts of twice as many; more get 429.
    /// 0: no limit (behind a reverse proxy every request is the proxy's).
    pub page_requests_per_client_per_sec: u32,
    /// OAuth callbacks one client address may send on to WeChat per minute
    /// (a junk `code` costs an API call); 0: no limit (behind a proxy).
    pub oauth_callbacks_per_client_per_min: u32,
}

/// `[plugin.<id>.web]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginWebSettings {
    /// What a visitor needs before the plugin's pages see the request.
    /// Unset: the plugin's pages are not served at all (a plugin uploaded
    /// under a new id must not be public by accident); `"none"` makes them
    /// public.
    #[serde(default)]
    pub login: Option<WebLogin>,
    /// The `Content-Security-Policy` sent with its pages, besides any the
    /// plugin sends. Unset: [`DEFAULT_PAGE_CSP`] (a sandbox: the page's
    /// script runs in an origin of its own, so it cannot call another
    /// plugin's pages or `/oauth/logout` with the visitor's cookies); `""`:
    /// none (for pages that need their own origin, such as the JS-SDK's).
    #[serde(default)]
    pub content_security_policy: Option<String>,
}

/// The policy a plugin page is sent with unless configured otherwise:
/// scripts, forms and popups work, but in an opaque origin.
pub const DEFAULT_PAGE_CSP: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// The login a plugin's pages require, weakest first (so `>=` compares).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum WebLogin {
    /// Anyone; a logged-in visitor is still named in the headers.
    #[default]
    None,
    /// `snsapi_base`: the visitor's openid, silently.
    Base,
    /// `snsapi_userinfo`: openid, nickname and avatar, with consent.
    Userinfo,
}

impl WebLogin {
    pub fn as_str(self) -> &'static str {
        match self {
            WebLogin::None => "none",
            WebLogin::Base => "base",
            WebLogin::Userinfo => "userinfo",
        }
    }
}

/// `[admin]`: the admin listener and how operators sign in. `Debug` never
/// prints the password, its hash or the API token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the console at all.
    pub enabled: bool,
    /// Its own listener, loopback by default: never the callback's.
    pub listen: SocketAddr,
    /// An argon2 PHC string (`wxhost admin hash-password`).
    pub password_hash: Option<String>,
    /// `WXHOST_ADMIN_PASSWORD` only (never read from a file).
    #[serde(skip)]
    pub password: Option<String>,
    /// `Authorization: Bearer` token for `/api/v1` scripts (`/metrics` needs
    /// none: it holds no content, user or secret).
    pub api_token: Option<String>,
    /// Show message content on the recent-pushes page.
    pub show_content: bool,
    /// How long a console session lasts.
    pub session_ttl_secs: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            password_hash: None,
            password: None,
            api_token: None,
            show_content: false,
            session_ttl_secs: 12 * 3600,
        }
    }
}

/// Shortest admin API token accepted: a bearer token is a password that
/// scripts keep, so it must not be guessable.
pub const MIN_API_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// This process's name in the deployment's activity (every push row,
    /// `GET /api/v1/instances`); unset: host name and listen port
    /// ([`Config::instance_id`]). Unique per process.
    #[serde(default)]
    pub instance: Option<String>,
    /// Path of the callback endpoint.
    pub path: String,
    pub body_limit_bytes: usize,
    /// Every push is answered within this many milliseconds.
    pub budget_ms: u64,
    /// Refuse unencrypted (plaintext-mode) pushes. Unset: refuse them
    /// whenever an EncodingAESKey is configured ([`Config::requires_encryption`]).
    #[serde(default)]
    pub require_encryption: Option<bool>,
    /// Pushes whose timestamp is further than this from now are replays.
    pub timestamp_window_secs: u64,
    /// How long a reply is kept to answer WeChat's retries.
    pub dedup_ttl_secs: u64,
    /// Deliver replies that miss the budget as customer-service messages.
    pub late_replies: bool,
    /// With late replies on, how long after a push its plugins may still
    /// run (each within its own time limit).
    pub late_reply_window_secs: u64,
    /// Leave a delivery unanswered when its budget runs out while the
    /// plugin still works, and answer WeChat's retry that is open when the
    /// reply is ready (`server::hold`; replies up to ~14 s).
    #[serde(default)]
    pub hold_for_retries: bool,
    /// Show "typing…" to a user whose message the plugins are still
    /// working on after this many milliseconds (`server::typing`); 0: never.
    #[serde(default)]
    pub typing_after_ms: u64,
    /// A request's headers must arrive within this, counted from the accept
    /// or, on a kept-alive connection, from the previous response (so it is
    /// also the keep-alive idle limit).
    pub header_read_timeout_ms: u64,
    /// A request's body must arrive whole within this of its headers.
    pub body_read_timeout_ms: u64,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Of `max_connections`, how many only the callback path may use (one
    /// request each, its head within 1 s): WeChat gets through a flood of
    /// page or health requests.
    pub reserved_connections: usize,
    /// Connections one client address (IPv6: its /64) may hold; 0: no cap
    /// (behind a reverse proxy, every connection is the proxy's).
    pub max_connections_per_client: usize,
    /// A response that cannot be written for this long (the client stopped
    /// reading) closes its connection.
    pub write_timeout_ms: u64,
    /// A connection is closed (after its request in flight) this long after
    /// it was accepted.
    pub max_connection_secs: u64,
    /// Keep connections open between requests.
    pub keep_alive: bool,
    /// On shutdown, how long to wait for plugin work still running (late
    /// replies) before abandoning it (and logging what was dropped).
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatConfig {
    pub app_id: String,
    #[serde(default)]
    pub app_secret: String,
    pub token: String,
    #[serde(default)]
    pub encoding_aes_key: String,
    /// The key before the last rotation, tried when the current one fails.
    #[serde(default)]
    pub previous_encoding_aes_key: Option<String>,
    pub api_base_url: String,
    /// `stable` (`/cgi-bin/stable_token`) or `classic` (`/cgi-bin/token`).
    pub token_endpoint: TokenEndpoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenEndpoint {
    Stable,
    Classic,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The SQLite database (SQLite backend) and the compiled-plugin cache
    /// (both backends).
    pub data_dir: PathBuf,
    /// Where everything wxhost keeps lives ([`StorageBackend`]).
    pub backend: StorageBackend,
    /// `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS):
    /// the Redis backend's server. May hold a password: never printed whole.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Prepended to every Redis key, so several deployments can share one
    /// Redis.
    pub key_prefix: String,
    /// Every Redis call gives up after this (it sits on the push path).
    pub redis_timeout_ms: u64,
}

/// `sqlite` (one file in the data dir, one instance) or `redis` (any number
/// of instances sharing one Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Sqlite,
    Redis,
}

impl StorageBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageBackend::Sqlite => "sqlite",
            StorageBackend::Redis => "redis",
        }
    }
}

impl std::str::FromStr for StorageBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(StorageBackend::Sqlite),
            "redis" => Ok(StorageBackend::Redis),
            _ => Err(format!("`{s}` is not sqlite or redis")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    pub dir: PathBuf,
    /// Default linear-memory limit per plugin instance.
    pub memory_mib: u64,
    /// Default CPU/wall time limit per call. A limit above the server budget
    /// lets a plugin finish late (its reply then goes out as a
    /// customer-service message).
    pub timeout_ms: u64,
    /// Watch the directory and hot-reload plugins.
    pub watch: bool,
    /// While watching, also rescan the directory this often (0: never); it
    /// catches lost events and a plugins dir swapped by symlink.
    pub rescan_secs: u64,
    /// Default kv quota per plugin: bytes of keys and values together.
    pub kv_max_bytes: u64,
    /// Default kv quota per plugin: number of keys.
    pub kv_max_keys: u64,
    /// Plugin instances at once (the instance pool); unset: what fits in
    /// half the available memory at the largest `memory_mib`, at most 128.
    #[serde(default)]
    pub max_instances: Option<u32>,
}

/// `Debug` shows the keys of `config` but not the values: they are where
/// plugins' secrets live.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    pub enabled: Option<bool>,
    /// Overrides the priority the plugin declares (higher runs first).
    pub priority: Option<i32>,
    pub memory_mib: Option<u64>,
    pub timeout_ms: Option<u64>,
    /// Overrides `server.hold_for_retries` for pushes this plugin is still
    /// working on at the budget.
    pub hold_for_retries: Option<bool>,
    /// Overrides `plugins.kv_max_bytes`.
    pub kv_max_bytes: Option<u64>,
    /// Overrides `plugins.kv_max_keys`.
    pub kv_max_keys: Option<u64>,
    /// Calls one instance may serve (opt-in reuse; unset or 1: a fresh
    /// instance per call). The plugin's globals then survive between
    /// messages.
    pub reuse_calls: Option<u32>,
    /// Host capabilities granted.
    #[serde(default)]
    pub capabilities: BTreeSet<Capability>,
    /// Values the plugin reads with `config-get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Values the plugin reads with `config-get` too, but kept out of the
    /// config: where each is (`env:VAR`, `file:/path`), read at load.
    #[serde(default)]
    pub secrets: BTreeMap<String, secrets::SecretSource>,
    /// Its web pages (`/app/<id>/…`), when it serves any.
    #[serde(default)]
    pub web: PluginWebSettings,
    /// With `http-outgoing` granted: the only hosts its requests may go to
    /// (`host`: on the default port; `host:port`; `"*"`: any host on the
    /// internet, not loopback/private/link-local addresses); empty: none.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Its schedules by name (`"<cron>"` or a table), for every account
    /// it serves (`config/schedules.rs`).
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleDecl>,
}

/// What a plugin may be granted beyond its own kv, config and logs. An
/// unknown name fails to parse, so a typo stops start-up instead of silently
/// granting nothing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `wechat.send-customer-message`.
    CustomerMessage,
    /// `wechat.get-user-info`.
    UserInfo,
    /// `wechat.create-qr-code`.
    Qrcode,
    /// Outgoing HTTP (`wasi:http/outgoing-handler`), to `http_hosts` only.
    HttpOutgoing,
    /// `outbound.enqueue` / `outbound.job-status` (WIT 1.1): messages
    /// through the host's queue.
    Outbound,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::CustomerMessage => "customer-message",
            Capability::UserInfo => "user-info",
            Capability::Qrcode => "qrcode",
            Capability::HttpOutgoing => "http-outgoing",
            Capability::Outbound => "outbound",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config key {key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl Config {
    /// Loads `path`, else `./wxhost.toml` if present, else the embedded
    /// default; then applies the environment and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let local = Path::new("wxhost.toml");
        let (name, text) = match path {
            Some(p) => (p.display().to_string(), read(p)?),
            None if local.exists() => (local.display().to_string(), read(local)?),
            None => ("<embedded default>".to_owned(), EMBEDDED_DEFAULT.to_owned()),
        };
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("WXHOST_"))
            .collect();
        Config::from_toml(&name, &text, &env)
    }

    /// Parses `text` over the embedded defaults (a file only needs the keys
    /// it changes), applies `env` overrides, and validates.
    pub fn from_toml(
        name: &str,
        text: &str,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let parse = |t: &str, n: &str| -> Result<toml::Table, ConfigError> {
            t.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
                path: n.to_owned(),
                message: e.to_string(),
            })
        };
        let mut table = parse(EMBEDDED_DEFAULT, "<embedded default>")?;
        merge(&mut table, parse(text, name)?);
        // The path of the failing value, so the message names the key
        // (`plugin.echo.capabilities[0]: unknown variant ...`).
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                let message = e.into_inner().message().to_owned();
                ConfigError::Parse {
                    path: name.to_owned(),
                    message: if key.is_empty() || key == "." {
                        message
                    } else {
                        format!("{key}: {message}")
                    },
                }
            })?;
        for (key, value) in env {
            if key.starts_with("WXHOST_COMPONENT_") {
                let Some(open) = config.open_platform.as_mut() else {
                    return Err(invalid(key, "is set but the config has no [open_platform]"));
                };
                if !open.apply_env(key, value) {
                    return Err(invalid(
                        key,
                        "unknown (WXHOST_COMPONENT_APP_SECRET or WXHOST_COMPONENT_ENCODING_AES_KEY)",
                    ));
                }
                continue;
            }
            if !config.apply_account_env(key, value)? {
                config.apply_env(key, value)?;
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let parse_u64 = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| invalid(key, format!("`{v}` is not a whole number")))
        };
        match key {
            "WXHOST_INSTANCE" => self.server.instance = Some(value.to_owned()),
            "WXHOST_LISTEN" => {
                self.server.listen = value.parse().map_err(|_| {
                    invalid(key, format!("`{value}` is not an address like 0.0.0.0:80"))
                })?
            }
            "WXHOST_PATH" => self.server.path = value.to_owned(),
            "WXHOST_BUDGET_MS" => self.server.budget_ms = parse_u64(value)?,
            "WXHOST_TYPING_AFTER_MS" => self.server.typing_after_ms = parse_u64(value)?,
            "WXHOST_HOLD_FOR_RETRIES" => {
                self.server.hold_for_retries = value
                    .parse()
                    .map_err(|_| invalid(key, format!("`{value}` is not true or false")))?
            }
            "WXHOST_TOKEN" => self.wechat.token = value.to_owned(),
            "WXHOST_APP_ID" => self.wechat.app_id = value.to_owned(),
            "WXHOST_APP_SECRET" => self.wechat.app_secret = value.to_owned(),
            "WXHOST_ENCODING_AES_KEY" => self.wechat.encoding_aes_key = value.to_owned(),
            "WXHOST_PREVIOUS_ENCODING_AES_KEY" => {
                self.wechat.previous_encoding_aes_key = Some(value.to_owned())
            }
            "WXHOST_API_BASE_URL" => self.wechat.api_base_url = value.to_owned(),
            "WXHOST_PLUGINS_DIR" => self.plugins.dir = PathBuf::from(value),
            "WXHOST_DATA_DIR" => self.storage.data_dir = PathBuf::from(value),
            "WXHOST_STORAGE_BACKEND" => {
                self.storage.backend = value.parse().map_err(|m: String| invalid(key, m))?
            }
            "WXHOST_REDIS_URL" => self.storage.redis_url = Some(value.to_owned()),
            "WXHOST_REDIS_KEY_PREFIX" => self.storage.key_prefix = value.to_owned(),
            "WXHOST_PUBLIC_URL" => self.web.public_url = value.to_owned(),
            "WXHOST_SESSION_SECRET" => self.web.session_secret = value.to_owned(),
            "WXHOST_OAUTH_AUTHORIZE_URL" => self.web.oauth_authorize_url = value.to_owned(),
            "WXHOST_MAX_CONNECTIONS_PER_CLIENT" => {
                self.server.max_connections_per_client = parse_u64(value)? as usize
            }
            "WXHOST_PAGE_REQUESTS_PER_CLIENT_PER_SEC" => {
                self.web.page_requests_per_client_per_sec = u32::try_from(parse_u64(value)?)
                    .map_err(|_| invalid(key, format!("`{value}` is too large")))?
            }
            "WXHOST_ADMIN_LISTEN" => {
                self.admin.listen = value.parse().map_err(|_| {
                    invalid(
                        key,
                        format!("`{value}` is not an address like 127.0.0.1:8081"),
                    )
                })?
            }
            "WXHOST_ADMIN_PASSWORD" => self.admin.password = Some(value.to_owned()),
            "WXHOST_ADMIN_PASSWORD_HASH" => self.admin.password_hash = Some(value.to_owned()),
            "WXHOST_ADMIN_API_TOKEN" => self.admin.api_token = Some(value.to_owned()),
            "WXHOST_SECRETS_KEY" if !value.is_empty() => {
                // Checked here, so a bad key stops start-up naming it.
                crate::account::SecretsKey::from_hex(value).map_err(|m| invalid(key, m))?;
                self.secrets_key = Some(EnvSecret(value.to_owned()));
            }
            "WXHOST_REQUIRE_ENCRYPTION" => {
                self.server.require_encryption = Some(match value {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(invalid(key, format!("`{value}` is not true or false"))),
                })
            }
            // Read elsewhere (e.g. WXHOST_LOG) or reserved: not an error.
            _ => {}
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let w = &self.wechat;
        if !self.server.path.starts_with('/') {
            return Err(invalid("server.path", "must start with /"));
        }
        if self.server.budget_ms == 0 || self.server.budget_ms >= 5000 {
            return Err(invalid(
                "server.budget_ms",
                "must be between 1 and 4999: WeChat gives up after 5 s",
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1024"));
        }
        // WeChat's retries span about 15 s; a shorter memory re-runs plugins.
        if self.server.dedup_ttl_secs < 20 {
            return Err(invalid(
                "server.dedup_ttl_secs",
                "must be at least 20: WeChat retries for about 15 s",
            ));
        }
        for (id, p) in &self.plugin {
            if let Some(name) = p.secrets.keys().find(|k| p.config.contains_key(*k)) {
                return Err(invalid(
                    &format!("plugin.{id}.secrets.{name}"),
                    "is also in the plugin's config: a name is config or a secret, not both",
                ));
            }
        }
        if self.hold_policy().any() && self.storage.backend == StorageBackend::Redis {
            // A retry reaching another instance answers `success` at its
            // own budget (`server::shared`), which would lose a held reply.
            return Err(invalid(
                "server.hold_for_retries",
                "needs storage.backend = \"sqlite\" (one instance) for now: with several instances a retry may reach one that does not hold",
            ));
        }
        if self.server.late_reply_window_secs == 0 {
            return Err(invalid("server.late_reply_window_secs", "must be positive"));
        }
        if self.server.timestamp_window_secs == 0 {
            return Err(invalid("server.timestamp_window_secs", "must be positive"));
        }
        for (key, value) in [
            (
                "server.header_read_timeout_ms",
                self.server.header_read_timeout_ms,
            ),
            (
                "server.body_read_timeout_ms",
                self.server.body_read_timeout_ms,
            ),
            ("server.max_connections", self.server.max_connections as u64),
            ("server.write_timeout_ms", self.server.write_timeout_ms),
            (
                "server.max_connection_secs",
                self.server.max_connection_secs,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        validate_token("wechat.token (WXHOST_TOKEN)", &w.token)?;
        if w.app_id.is_empty() {
            return Err(invalid("wechat.app_id (WXHOST_APP_ID)", "must be set"));
        }
        if self.server.require_encryption == Some(true) && w.encoding_aes_key.is_empty() {
            return Err(invalid(
                "server.require_encryption (WXHOST_REQUIRE_ENCRYPTION)",
                "needs wechat.encoding_aes_key (WXHOST_ENCODING_AES_KEY)",
            ));
        }
        validate_aes_key(
            "wechat.encoding_aes_key (WXHOST_ENCODING_AES_KEY)",
            &w.encoding_aes_key,
        )?;
        if let Some(previous) = &w.previous_encoding_aes_key {
            validate_aes_key("wechat.previous_encoding_aes_key", previous)?;
        }
        validate_http_url("wechat.api_base_url (WXHOST_API_BASE_URL)", &w.api_base_url)?;
        self.validate_accounts()?;
        if let Some(open) = &self.open_platform {
            if let Some((key, message)) = open.problem() {
                return Err(invalid(key, message));
            }
            validate_token("open_platform.token", &open.token)?;
            validate_aes_key(
                "open_platform.encoding_aes_key (WXHOST_COMPONENT_ENCODING_AES_KEY)",
                &open.encoding_aes_key,
            )?;
        }
        self.validate_storage()?;
        self.outbound.validate()?;
        self.schedules.validate()?;
        for (id, p) in &self.plugin {
            parse_schedules(&format!("plugin.{id}.schedules"), &p.schedules)?;
        }
        if self.plugins.memory_mib == 0 || self.plugins.timeout_ms == 0 {
            return Err(invalid(
                "plugins",
                "memory_mib and timeout_ms must be positive",
            ));
        }
        // The same bound as `plugin::MAX_INSTANCES`.
        if let Some(n) = self.plugins.max_instances
            && !(1..=1024).contains(&n)
        {
            return Err(invalid("plugins.max_instances", "must be 1 to 1024"));
        }
        self.validate_web()?;
        self.validate_instance()?;
        for (id, p) in &self.plugin {
            if p.memory_mib == Some(0) || p.timeout_ms == Some(0) {
                return Err(invalid(
                    &format!("plugin.{id}"),
                    "memory_mib and timeout_ms must be positive",
                ));
            }
            // The same bound as `plugin::MAX_REUSE_CALLS`.
            if let Some(n) = p.reuse_calls
                && !(1..=1_000_000).contains(&n)
            {
                return Err(invalid(
                    &format!("plugin.{id}.reuse_calls"),
                    "must be 1 (a fresh instance per call) to 1000000",
                ));
            }
        }
        self.validate_admin()
    }

    fn validate_admin(&self) -> Result<(), ConfigError> {
        let a = &self.admin;
        if a.enabled && a.listen == self.server.listen {
            return Err(invalid(
                "admin.listen (WXHOST_ADMIN_LISTEN)",
                "must differ from server.listen: the console never shares the public callback listener",
            ));
        }
        if let Some(h) = &a.password_hash
            && let Err(e) = argon2::PasswordHash::new(h)
        {
            return Err(invalid(
                "admin.password_hash (WXHOST_ADMIN_PASSWORD_HASH)",
                format!("not a PHC string ({e}); make one with `wxhost admin hash-password`"),
            ));
        }
        if a.password.as_deref() == Some("") {
            return Err(invalid("WXHOST_ADMIN_PASSWORD", "must not be empty"));
        }
        if let Some(t) = &a.api_token
            && t.chars().count() < MIN_API_TOKEN_CHARS
        {
            return Err(invalid(
                "admin.api_token (WXHOST_ADMIN_API_TOKEN)",
                format!("must be at least {MIN_API_TOKEN_CHARS} characters"),
            ));
        }
        if a.session_ttl_secs == 0 {
            return Err(invalid("admin.session_ttl_secs", "must be positive"));
        }
        Ok(())
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        let s = &self.storage;
        if s.redis_timeout_ms == 0 || s.redis_timeout_ms >= self.server.budget_ms {
            return Err(invalid(
                "storage.redis_timeout_ms",
                "must be positive and below server.budget_ms: it sits on the push path",
            ));
        }
        if s.key_prefix.len() > 64
            || s.key_prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "storage.key_prefix (WXHOST_REDIS_KEY_PREFIX)",
                "must be at most 64 characters, without spaces",
            ));
        }
        const URL_KEY: &str = "storage.redis_url (WXHOST_REDIS_URL)";
        match (&s.redis_url, s.backend) {
            (None, StorageBackend::Redis) => Err(invalid(
                URL_KEY,
                "must be set with storage.backend = \"redis\"",
            )),
            (None, StorageBackend::Sqlite) => Ok(()),
            (Some(u), _) => {
                // The parser's message never contains the URL (it may hold a password).
                let url = url::Url::parse(u).map_err(|e| invalid(URL_KEY, e.to_string()))?;
                if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none() {
                    return Err(invalid(
                        URL_KEY,
                        "must be a redis:// or rediss:// URL with a host",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Where the store is, for [`crate::store::Stores::open`]: the
    /// configured backend, or `backend` (`wxhost store migrate`).
    pub fn store_location(
        &self,
        backend: Option<StorageBackend>,
    ) -> Result<crate::store::StoreLocation, ConfigError> {
        let s = &self.storage;
        Ok(match backend.unwrap_or(s.backend) {
            StorageBackend::Sqlite => crate::store::StoreLocation::Sqlite {
                data_dir: s.data_dir.clone(),
            },
            StorageBackend::Redis => {
                let url = s.redis_url.clone().ok_or_else(|| {
                    invalid(
                        "storage.redis_url (WXHOST_REDIS_URL)",
                        "must be set to use Redis",
                    )
                })?;
                crate::store::StoreLocation::Redis(crate::store::RedisSettings {
                    url,
                    key_prefix: s.key_prefix.clone(),
                    timeout: Duration::from_millis(s.redis_timeout_ms),
                })
            }
        })
    }

    /// This process's name among the instances: `server.instance`, else
    /// `<host name>:<listen port>` (unique per process on one machine).
    pub fn instance_id(&self) -> String {
        match &self.server.instance {
            Some(name) => name.clone(),
            None => format!("{}:{}", host_name(), self.server.listen.port()),
        }
    }

    /// What serving needs beyond what every command needs (checked by
    /// `serve`, not by commands that never sign a cookie: `token status`,
    /// `qrcode create`, `plugin publish`, ... on Redis run without it).
    pub fn validate_for_serving(&self) -> Result<(), ConfigError> {
        if self.web.session_secret.is_empty() && self.storage.backend == StorageBackend::Redis {
            // A generated secret lives in one instance's data dir: the others
            // would refuse its cookies.
            return Err(invalid(
                "web.session_secret (WXHOST_SESSION_SECRET)",
                "must be set with storage.backend = \"redis\": every instance signs and checks the same session cookies",
            ));
        }
        Ok(())
    }

    fn validate_instance(&self) -> Result<(), ConfigError> {
        if let Some(name) = &self.server.instance
            && (name.is_empty()
                || name.len() > 128
                || name.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(invalid(
                "server.instance (WXHOST_INSTANCE)",
                "must be 1 to 128 characters without spaces or control characters",
            ));
        }
        Ok(())
    }

    fn validate_web(&self) -> Result<(), ConfigError> {
        let web = &self.web;
        if !web.public_url.is_empty() {
            validate_origin("web.public_url (WXHOST_PUBLIC_URL)", &web.public_url)?;
        }
        if !web.session_secret.is_empty() && web.session_secret.len() < 32 {
            return Err(invalid(
                "web.session_secret (WXHOST_SESSION_SECRET)",
                "must be at least 32 characters (or empty: generated)",
            ));
        }
        if web.session_ttl_secs == 0 {
            return Err(invalid("web.session_ttl_secs", "must be positive"));
        }
        if web.oauth_state_ttl_secs == 0 {
            return Err(invalid("web.oauth_state_ttl_secs", "must be positive"));
        }
        let key = "web.oauth_authorize_url (WXHOST_OAUTH_AUTHORIZE_URL)";
        let url =
            url::Url::parse(&web.oauth_authorize_url).map_err(|e| invalid(key, e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(invalid(key, "must be an http(s) URL without a query"));
        }
        if web.max_response_bytes < 1024 {
            return Err(invalid("web.max_response_bytes", "must be at least 1024"));
        }
        for (id, p) in &self.plugin {
            if let Some(csp) = &p.web.content_security_policy
                && axum::http::HeaderValue::from_str(csp).is_err()
            {
                return Err(invalid(
                    &format!("plugin.{id}.web.content_security_policy"),
                    "must be one line of visible ASCII",
                ));
            }
            validate_http_hosts(&format!("plugin.{id}.http_hosts"), &p.http_hosts)?;
        }
        Ok(())
    }

    /// The origin the web side is reached at: `web.public_url`, else
    /// `http://` + the listen address (a wildcard address as 127.0.0.1).
    pub fn public_origin(&self) -> String {
        if !self.web.public_url.is_empty() {
            return self.web.public_url.trim_end_matches('/').to_owned();
        }
        let mut addr = self.server.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    /// Which plugins hold pushes for WeChat's retries.
    pub fn hold_policy(&self) -> crate::server::hold::HoldPolicy {
        crate::server::hold::HoldPolicy {
            default: self.server.hold_for_retries,
            per_plugin: self
                .plugin
                .iter()
                .filter_map(|(id, p)| Some((id.clone(), p.hold_for_retries?)))
                .collect(),
        }
    }

    pub fn budget(&self) -> Duration {
        Duration::from_millis(self.server.budget_ms)
    }

    /// Whether plaintext pushes are refused: as configured, else whenever an
    /// EncodingAESKey is set. A plaintext push is authenticated only by
    /// `signature` over (Token, timestamp, nonce), which WeChat sends on every
    /// push, encrypted or not, so with plaintext accepted anyone who sees
    /// one query string can push any message.
    pub fn requires_encryption(&self) -> bool {
        self.server
            .require_encryption
            .unwrap_or(!self.wechat.encoding_aes_key.is_empty())
    }

    /// What the callback endpoint needs of the configuration.
    pub fn callback_settings(&self) -> crate::protocol::CallbackSettings {
        crate::protocol::CallbackSettings {
            token: self.wechat.token.clone(),
            app_id: self.wechat.app_id.clone(),
            // An empty key means "none": `Callback::new` says so.
            encoding_aes_key: Some(self.wechat.encoding_aes_key.clone()),
            previous_encoding_aes_key: self.wechat.previous_encoding_aes_key.clone(),
            require_encryption: self.requires_encryption(),
            timestamp_window_secs: self.server.timestamp_window_secs,
            max_body_bytes: self.server.body_limit_bytes,
        }
    }
}

/// A callback Token: 1 to 32 letters or digits (WeChat's rule).
fn validate_token(key: &str, token: &str) -> Result<(), ConfigError> {
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric()) || token.len() > 32 {
        return Err(invalid(key, "must be 1 to 32 letters or digits"));
    }
    Ok(())
}

/// An EncodingAESKey: empty (none) or 43 letters or digits.
fn validate_aes_key(key: &str, value: &str) -> Result<(), ConfigError> {
    if !value.is_empty() && (value.len() != 43 || !value.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(invalid(key, "must be 43 letters or digits"));
    }
    Ok(())
}

fn validate_http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(value).map_err(|e| invalid(key, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(key, "must be an http(s) URL"));
    }
    Ok(())
}

/// A web origin: `http(s)://host[:port]`, no path. Our routes are at the
/// root: a path would build a redirect_uri that does not reach
/// /oauth/callback.
/// Each entry of an `http_hosts` list is a host, `host:port` or `*`.
fn validate_http_hosts(key: &str, hosts: &[String]) -> Result<(), ConfigError> {
    match hosts
        .iter()
        .find(|h| h.is_empty() || h.contains(['/', '@', ' ']))
    {
        Some(h) => Err(invalid(key, format!("`{h}` is not a host or host:port"))),
        None => Ok(()),
    }
}

fn validate_origin(key: &str, value: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(value).map_err(|e| invalid(key, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(key, "must be an http(s) URL"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            key,
            "must be an origin only, like https://wx.example.com (no path)",
        ));
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Deep-merges `over` into `base` (tables merge, anything else replaces).
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl fmt::Debug for WechatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| {
            if s.is_empty() {
                "<unset>"
            } else {
                "<redacted>"
            }
        };
        f.debug_struct("WechatConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &redact(&self.app_secret))
            .field("token", &redact(&self.token))
            .field("encoding_aes_key", &redact(&self.encoding_aes_key))
            .field(
                "previous_encoding_aes_key",
                &redact(self.previous_encoding_aes_key.as_deref().unwrap_or("")),
            )
            .field("api_base_url", &self.api_base_url)
            .field("token_endpoint", &self.token_endpoint)
            .finish()
    }
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConfig")
            .field("data_dir", &self.data_dir)
            .field("backend", &self.backend)
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(crate::store::redacted_url),
            )
            .field("key_prefix", &self.key_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .finish()
    }
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let WebConfig {
            public_url,
            session_secret,
            session_ttl_secs,
            oauth_state_ttl_secs,
            oauth_authorize_url,
            max_response_bytes,
            page_requests_per_client_per_sec,
            oauth_callbacks_per_client_per_min,
        } = self;
        f.debug_struct("WebConfig")
            .field("public_url", public_url)
            .field(
                "session_secret",
                &if session_secret.is_empty() {
                    "<generated in the data dir>"
                } else {
                    "<redacted>"
                },
            )
            .field("session_ttl_secs", session_ttl_secs)
            .field("oauth_state_ttl_secs", oauth_state_ttl_secs)
            .field("oauth_authorize_url", oauth_authorize_url)
            .field("max_response_bytes", max_response_bytes)
            .field(
                "page_requests_per_client_per_sec",
                page_requests_per_client_per_sec,
            )
            .field(
                "oauth_callbacks_per_client_per_min",
                oauth_callbacks_per_client_per_min,
            )
            .finish()
    }
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so a new secret cannot slip past the redaction.
        let AdminConfig {
            enabled,
            listen,
            password_hash,
            password,
            api_token,
            show_content,
            session_ttl_secs,
        } = self;
        let set = |v: &Option<String>| if v.is_some() { "<redacted>" } else { "<unset>" };
        f.debug_struct("AdminConfig")
            .field("enabled", enabled)
            .field("listen", listen)
            .field("password_hash", &set(password_hash))
            .field("password", &set(password))
            .field("api_token", &set(api_token))
            .field("show_content", show_content)
            .field("session_ttl_secs", session_ttl_secs)
            .finish()
    }
}

impl fmt::Debug for PluginSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so a new field cannot be left out of (or slip past
        // the redaction of) `wxhost config` unnoticed.
        let PluginSettings {
            enabled,
            priority,
            memory_mib,
            timeout_ms,
            kv_max_bytes,
            kv_max_keys,
            reuse_calls,
            capabilities,
            config,
            secrets,
            web,
            http_hosts,
            hold_for_retries,
            schedules,
        } = self;
        let config: BTreeMap<&str, &str> =
            config.keys().map(|k| (k.as_str(), "<redacted>")).collect();
        f.debug_struct("PluginSettings")
            .field("enabled", enabled)
            .field("priority", priority)
            .field("memory_mib", memory_mib)
            .field("timeout_ms", timeout_ms)
            .field("kv_max_bytes", kv_max_bytes)
            .field("kv_max_keys", kv_max_keys)
            .field("reuse_calls", reuse_calls)
            .field("capabilities", capabilities)
            .field("config", &config)
            // Where each secret is, never its value (not read here).
            .field("secrets", secrets)
            .field("web", web)
            .field("http_hosts", http_hosts)
            .field("schedules", schedules)
            .field("hold_for_retries", hold_for_retries)
            .finish()
    }
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::from_toml("t", "", &[]).unwrap();
        assert_eq!(c.server.path, "/wechat");
        assert_eq!(c.server.budget_ms, 4500);
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        let c = Config::from_toml(
            "t",
            "[server]\npath = \"/wx\"\n[wechat]\ntoken = \"abc\"\n",
            &env(&[
                ("WXHOST_TOKEN", "fromenv"),
                ("WXHOST_LISTEN", "127.0.0.1:9"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.path, "/wx");
        assert_eq!(c.wechat.token, "fromenv");
        assert_eq!(c.server.listen.port(), 9);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Config::from_toml("t", "", &env(&[("WXHOST_LISTEN", "nope")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("WXHOST_LISTEN"), "{e}");
        let e = Config::from_toml("t", "", &env(&[("WXHOST_ENCODING_AES_KEY", "short")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("encoding_aes_key"), "{e}");
        let e = Config::from_toml("t", "[server]\nbudget_ms = 6000\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.budget_ms"), "{e}");
        let e = Config::from_toml("t", "[plugin.echo]\ncapabilities = [\"root\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("plugin.echo.capabilities"), "{e}");
        let e = Config::from_toml("t", "[server]\ndedup_ttl_secs = 5\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.dedup_ttl_secs"), "{e}");
        let e = Config::from_toml("t", "[server]\nbogus = 1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn reuse_calls_is_opt_in_and_bounded() {
        let c = Config::from_toml("t", "[plugin.echo]\nreuse_calls = 100\n", &[]).unwrap();
        assert_eq!(c.plugin["echo"].reuse_calls, Some(100));
        assert_eq!(
            Config::from_toml("t", "[plugin.echo]\n", &[])
                .unwrap()
                .plugin["echo"]
                .reuse_calls,
            None
        );
        for bad in ["0", "1000001"] {
            let e = Config::from_toml("t", &format!("[plugin.echo]\nreuse_calls = {bad}\n"), &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains("plugin.echo.reuse_calls"), "{e}");
        }
        let e = Config::from_toml("t", "[plugin.echo]\nreuse_calls = -1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("plugin.echo.reuse_calls"), "{e}");
    }

    #[test]
    fn connection_limits_must_be_positive() {
        let c = Config::from_toml("t", "", &[]).unwrap();
        assert!(c.server.header_read_timeout_ms > 0 && c.server.max_connections > 0);
        for key in [
            "header_read_timeout_ms",
            "body_read_timeout_ms",
            "max_connections",
        ] {
            let e = Config::from_toml("t", &format!("[server]\n{key} = 0\n"), &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("server.{key}")), "{e}");
        }
    }

    #[test]
    fn plaintext_is_refused_by_default_whenever_a_key_is_set() {
        // The embedded default has a key: a deployment that sets only the
        // secrets, through the environment, refuses plaintext pushes.
        let c = Config::from_toml("t", "", &env(&[("WXHOST_TOKEN", "mytoken")])).unwrap();
        assert_eq!(c.server.require_encryption, None);
        assert!(c.requires_encryption() && c.callback_settings().require_encryption);
        // Allowing plaintext is explicit.
        let c =
            Config::from_toml("t", "", &env(&[("WXHOST_REQUIRE_ENCRYPTION", "false")])).unwrap();
        assert!(!c.requires_encryption());
        let c = Config::from_toml("t", "[server]\nrequire_encryption = false\n", &[]).unwrap();
        assert!(!c.requires_encryption());
        // Without a key there is only plaintext.
        let no_key = env(&[("WXHOST_ENCODING_AES_KEY", "")]);
        assert!(
            !Config::from_toml("t", "", &no_key)
                .unwrap()
                .requires_encryption()
        );
        let e = Config::from_toml("t", "[server]\nrequire_encryption = true\n", &no_key)
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.require_encryption"), "{e}");
    }

    #[test]
    fn plugin_config_values_are_redacted_and_their_keys_shown() {
        let c = Config::from_toml(
            "t",
            "[plugin.bot]\npriority = 3\n[plugin.bot.config]\napi_key = \"sk-live-0123456789\"\n",
            &env(&[(
                "WXHOST_PREVIOUS_ENCODING_AES_KEY",
                "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
            )]),
        )
        .unwrap();
        let d = format!("{c:#?}");
        assert!(!d.contains("sk-live-0123456789"), "{d}");
        assert!(
            !d.contains("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"),
            "{d}"
        );
        assert!(d.contains("api_key") && d.contains("priority"), "{d}");
    }

    #[test]
    fn web_settings_are_checked_and_the_session_secret_never_printed() {
        let secret = "a-session-secret-of-at-least-32-characters";
        let c = Config::from_toml(
            "t",
            "[plugin.member.web]\nlogin = \"base\"\n",
            &env(&[
                ("WXHOST_PUBLIC_URL", "https://wx.example.com"),
                ("WXHOST_SESSION_SECRET", secret),
            ]),
        )
        .unwrap();
        assert_eq!(c.public_origin(), "https://wx.example.com");
        assert_eq!(c.plugin["member"].web.login, Some(WebLogin::Base));
        assert!(!format!("{c:?}").contains(secret));
        // Pages need an explicit login; a policy is one header line.
        let plain = Config::from_toml(
            "t",
            "[plugin.other]
priority = 1
",
            &[],
        )
        .unwrap();
        assert_eq!(plain.plugin["other"].web.login, None);
        assert_eq!(plain.plugin["other"].web.content_security_policy, None);
        assert_eq!(
            plain.plugin["member"]
                .web
                .content_security_policy
                .as_deref(),
            Some(""),
            "the JS-SDK demo keeps its origin"
        );
        let e = Config::from_toml(
            "t",
            "[plugin.x.web]\nlogin = \"none\"\ncontent_security_policy = \"sandbox\\nX-Evil: 1\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin.x.web.content_security_policy"), "{e}");
        for (env_key, value, named) in [
            ("WXHOST_PUBLIC_URL", "ftp://x", "web.public_url"),
            ("WXHOST_PUBLIC_URL", "https://x.cn/wx", "web.public_url"),
            ("WXHOST_SESSION_SECRET", "short", "web.session_secret"),
            (
                "WXHOST_OAUTH_AUTHORIZE_URL",
                "nope",
                "web.oauth_authorize_url",
            ),
        ] {
            let e = Config::from_toml("t", "", &env(&[(env_key, value)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(named), "{e}");
        }
        let e = Config::from_toml("t", "[plugin.x.web]\nlogin = \"admin\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("plugin.x.web.login"), "{e}");
        // Without public_url: the listen address, a wildcard as loopback.
        let c = Config::from_toml("t", "", &env(&[("WXHOST_LISTEN", "0.0.0.0:8080")])).unwrap();
        assert_eq!(c.public_origin(), "http://127.0.0.1:8080");
        assert!(WebLogin::Userinfo > WebLogin::Base && WebLogin::Base > WebLogin::None);
    }

    #[test]
    fn several_instances_on_redis_need_one_session_secret_to_serve_but_commands_do_not() {
        let redis = [
            ("WXHOST_STORAGE_BACKEND", "redis"),
            ("WXHOST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        ];
        // A command that signs no cookie (`token status`, `qrcode create`)
        // loads the config without it ...
        let c = Config::from_toml("t", "", &env(&redis)).unwrap();
        // ... `serve` refuses to start.
        let e = c.validate_for_serving().unwrap_err();
        assert!(e.to_string().contains("WXHOST_SESSION_SECRET"), "{e}");
        let mut with_secret = redis.to_vec();
        with_secret.push(("WXHOST_SESSION_SECRET", "0123456789abcdef0123456789abcdef"));
        let c = Config::from_toml("t", "", &env(&with_secret)).unwrap();
        c.validate_for_serving().unwrap();
        // A short one is refused whatever the command.
        with_secret.pop();
        with_secret.push(("WXHOST_SESSION_SECRET", "short"));
        assert!(Config::from_toml("t", "", &env(&with_secret)).is_err());
    }

    #[test]
    fn admin_secrets_are_redacted_and_bad_ones_name_the_key() {
        let c = Config::from_toml(
            "t",
            "",
            &env(&[
                ("WXHOST_ADMIN_PASSWORD", "hunter2-correct-horse"),
                ("WXHOST_ADMIN_API_TOKEN", "tok-0123456789abcdef-secret"),
            ]),
        )
        .unwrap();
        assert_eq!(c.admin.listen.to_string(), "127.0.0.1:8081");
        let d = format!("{c:#?}");
        assert!(
            !d.contains("hunter2-correct-horse") && !d.contains("tok-0123456789abcdef-secret"),
            "{d}"
        );
        assert!(d.contains("api_token"), "{d}");
        for (key, value, named) in [
            ("WXHOST_ADMIN_API_TOKEN", "short", "admin.api_token"),
            (
                "WXHOST_ADMIN_PASSWORD_HASH",
                "not-phc",
                "admin.password_hash",
            ),
            ("WXHOST_ADMIN_LISTEN", "0.0.0.0:80", "admin.listen"),
            ("WXHOST_ADMIN_LISTEN", "nope", "WXHOST_ADMIN_LISTEN"),
        ] {
            let e = Config::from_toml("t", "", &env(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(named), "{key}={value}: {e}");
        }
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = Config::from_toml("t", "", &env(&[("WXHOST_APP_SECRET", "s3cr3t-value")])).unwrap();
        let d = format!("{c:?}");
        assert!(
            !d.contains("s3cr3t-value") && !d.contains(&c.wechat.encoding_aes_key),
            "{d}"
        );
    }

    #[test]
    fn holding_is_refused_with_redis_and_per_plugin_overrides_the_default() {
        let c = Config::from_toml(
            "t",
            "[server]\nhold_for_retries = true\n[plugin.a]\nhold_for_retries = false\n",
            &[],
        )
        .unwrap();
        let p = c.hold_policy();
        assert!(p.holds(Some("b")) && !p.holds(Some("a")));
        assert!(!Config::from_toml("t", "", &[]).unwrap().hold_policy().any());
        let c = Config::from_toml("t", "", &env(&[("WXHOST_HOLD_FOR_RETRIES", "true")])).unwrap();
        assert!(c.server.hold_for_retries);
        let e = Config::from_toml(
            "t",
            "[storage]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1/\"\n[plugin.a]\nhold_for_retries = true\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("server.hold_for_retries"), "{e}");
    }

    #[test]
    fn a_secret_is_a_source_never_a_value_and_never_also_config() {
        let e = Config::from_toml(
            "t",
            "[plugin.bot.secrets]\napi_key = \"sk-pasted-by-mistake\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("env:VARIABLE") && !e.contains("sk-pasted"),
            "{e}"
        );
        let e = Config::from_toml(
            "t",
            "[plugin.bot.config]\napi_key = \"x\"\n[plugin.bot.secrets]\napi_key = \"env:K\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin.bot.secrets.api_key"), "{e}");
    }
}
