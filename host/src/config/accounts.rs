//! The accounts of the configuration: `[wechat]` is the account named
//! `default`; each `[account.<name>]` table is another, with the same keys
//! plus `plugins = [...]` (which plugins serve it; absent = all),
//! `[account.<name>.plugin.<id>]` overrides on top of `[plugin.<id>]` and
//! `[account.<name>.web] public_url`. Keys that are not credentials default
//! to `[wechat]`'s; the credentials may come from the environment,
//! `WXHOST_ACCOUNT_<NAME>_APP_SECRET`, `…_TOKEN`, `…_ENCODING_AES_KEY`
//! (the name upper-cased, `-` as `_`). [`Config::accounts`] resolves them
//! into [`AccountSettings`], one per account, default first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use super::{Capability, Config, ConfigError, TokenEndpoint, WechatConfig, invalid};
use crate::store::{DEFAULT_ACCOUNT, valid_account_name};

/// `[account.<name>]` as written. `Debug` never prints a credential.
#[derive(Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub app_secret: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub encoding_aes_key: String,
    #[serde(default)]
    pub previous_encoding_aes_key: Option<String>,
    /// Unset: refuse plaintext pushes whenever an EncodingAESKey is set.
    #[serde(default)]
    pub require_encryption: Option<bool>,
    /// Unset: `wechat.api_base_url`.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Unset: `wechat.token_endpoint`.
    #[serde(default)]
    pub token_endpoint: Option<TokenEndpoint>,
    /// The plugins that serve this account (ids); unset: all.
    #[serde(default)]
    pub plugins: Option<Vec<String>>,
    /// Per plugin id, on top of `[plugin.<id>]`.
    #[serde(default)]
    pub plugin: BTreeMap<String, AccountPluginSettings>,
    #[serde(default)]
    pub web: AccountWebConfig,
    /// Runtime accounts only: switched off by an operator (not served).
    #[serde(default)]
    pub disabled: bool,
    /// Set on an account that authorized this deployment's Open Platform
    /// component (`crate::open`); never in the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<crate::open::AuthorizerInfo>,
}

/// `[account.<name>.web]`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountWebConfig {
    /// The origin this account's pages are reached at (its own host name).
    #[serde(default)]
    pub public_url: String,
}

/// `[account.<name>.plugin.<id>]`: what differs for this account.
/// `Debug` shows the keys of `config`, not the values.
#[derive(Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPluginSettings {
    /// Replaces the plugin's priority for this account.
    pub priority: Option<i32>,
    /// Replaces the capabilities granted (so an account may grant fewer).
    pub capabilities: Option<BTreeSet<Capability>>,
    /// Merged over `[plugin.<id>.config]`, key by key.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Merged over `[plugin.<id>.secrets]`, name by name: where each of
    /// this account's secrets is. Config-file accounts only (an account
    /// added through the admin API must not read the host's environment).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, super::secrets::SecretSource>,
    /// Replaces `[plugin.<id>] http_hosts` for this account.
    pub http_hosts: Option<Vec<String>>,
    /// Replace the plugin's kv quota in this account's scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_max_keys: Option<u64>,
    /// Replaces `[plugin.<id>.schedules]` for this account (an empty
    /// table: none for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedules: Option<BTreeMap<String, super::ScheduleDecl>>,
}

/// One account, resolved: its credentials and endpoints complete.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub name: String,
    pub wechat: WechatConfig,
    /// Plaintext pushes refused.
    pub require_encryption: bool,
    /// `plugins = [...]`; `None`: every plugin.
    pub plugins: Option<BTreeSet<String>>,
    pub plugin: BTreeMap<String, AccountPluginSettings>,
    /// This account's web origin, when it has its own.
    pub public_url: Option<String>,
    /// Set for an account authorized to the Open Platform component: its
    /// pushes use the platform's crypto, its tokens the platform's grant.
    pub authorized: Option<crate::open::AuthorizedBy>,
}

/// `WXHOST_ACCOUNT_<NAME>_` for account `name`.
pub fn env_prefix(name: &str) -> String {
    format!(
        "WXHOST_ACCOUNT_{}_",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

impl Config {
    /// Applies `WXHOST_ACCOUNT_<NAME>_<KEY>`; `Ok(false)` if `key` is not one.
    pub(super) fn apply_account_env(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<bool, ConfigError> {
        if !key.starts_with("WXHOST_ACCOUNT_") {
            return Ok(false);
        }
        for (name, account) in &mut self.account {
            let Some(field) = key.strip_prefix(&env_prefix(name)) else {
                continue;
            };
            match field {
                "APP_SECRET" => account.app_secret = value.to_owned(),
                "TOKEN" => account.token = value.to_owned(),
                "ENCODING_AES_KEY" => account.encoding_aes_key = value.to_owned(),
                _ => continue,
            }
            return Ok(true);
        }
        Err(invalid(
            key,
            "names no configured [account.<name>] and key (APP_SECRET, TOKEN or ENCODING_AES_KEY)",
        ))
    }

    /// Every account, `default` (`[wechat]`) first, then by name. The
    /// configuration was validated, so this cannot fail for a loaded one.
    pub fn accounts(&self) -> Vec<AccountSettings> {
        let mut out = vec![AccountSettings {
            name: DEFAULT_ACCOUNT.to_owned(),
            wechat: self.wechat.clone(),
            require_encryption: self.requires_encryption(),
            plugins: None,
            plugin: BTreeMap::new(),
            public_url: None,
            authorized: None,
        }];
        out.extend(
            self.account
                .iter()
                .map(|(name, a)| self.resolve_account(name, a)),
        );
        out
    }

    /// This configuration as seen by a command acting for account `name`
    /// (`wxhost --account NAME …`): `[wechat]` is that account's, the
    /// callback path its own (`<server.path>/<app_id>`), and the store its
    /// scope ([`Config::acting_account`]). `default` is the configuration as
    /// it is.
    pub fn acting_as(&self, name: &str) -> Result<Config, ConfigError> {
        if name == DEFAULT_ACCOUNT {
            return Ok(self.clone());
        }
        let a = self.account.get(name).ok_or_else(|| {
            let known: Vec<&str> = std::iter::once(DEFAULT_ACCOUNT)
                .chain(self.account.keys().map(String::as_str))
                .collect();
            invalid(
                "--account",
                format!(
                    "no account {name} in the configuration (accounts: {})",
                    known.join(", ")
                ),
            )
        })?;
        let s = self.resolve_account(name, a);
        let mut c = self.clone();
        c.server.path = format!(
            "{}/{}",
            self.server.path.trim_end_matches('/'),
            s.wechat.app_id
        );
        c.server.require_encryption = Some(s.require_encryption);
        if let Some(url) = s.public_url {
            c.web.public_url = url;
        }
        c.wechat = s.wechat;
        c.acting_account = Some(name.to_owned());
        Ok(c)
    }

    /// The account a command acts for (`--account`); `None`: `default`.
    pub fn acting_account(&self) -> &str {
        self.acting_account.as_deref().unwrap_or(DEFAULT_ACCOUNT)
    }

    /// `a` with `[wechat]`'s endpoints where it sets none.
    pub fn resolve_account(&self, name: &str, a: &AccountConfig) -> AccountSettings {
        AccountSettings {
            name: name.to_owned(),
            wechat: WechatConfig {
                app_id: a.app_id.clone(),
                app_secret: a.app_secret.clone(),
                token: a.token.clone(),
                encoding_aes_key: a.encoding_aes_key.clone(),
                previous_encoding_aes_key: a.previous_encoding_aes_key.clone(),
                api_base_url: a
                    .api_base_url
                    .clone()
                    .unwrap_or_else(|| self.wechat.api_base_url.clone()),
                token_endpoint: a.token_endpoint.unwrap_or(self.wechat.token_endpoint),
            },
            require_encryption: a
                .require_encryption
                .unwrap_or(!a.encoding_aes_key.is_empty()),
            plugins: a.plugins.as_ref().map(|p| p.iter().cloned().collect()),
            plugin: a.plugin.clone(),
            public_url: Some(a.web.public_url.trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty()),
            authorized: None,
        }
    }

    /// Every `[account.<name>]`; no two accounts with one AppID or one web
    /// host name.
    pub(super) fn validate_accounts(&self) -> Result<(), ConfigError> {
        let mut app_ids = BTreeMap::from([(self.wechat.app_id.as_str(), DEFAULT_ACCOUNT)]);
        let mut hosts = BTreeMap::new();
        if let Some(h) = web_host(&self.web.public_url) {
            hosts.insert(h, DEFAULT_ACCOUNT);
        }
        for (name, a) in &self.account {
            if a.authorizer.is_some() {
                return Err(invalid(
                    &format!("account.{name}.authorizer"),
                    "is set by the Open Platform authorization, not in the configuration file",
                ));
            }
            validate_account(self, name, a)?;
            if let Some(other) = app_ids.insert(&a.app_id, name) {
                return Err(invalid(
                    &format!("account.{name}.app_id"),
                    format!("`{}` is already account {other}'s AppID", a.app_id),
                ));
            }
            if let Some(h) = web_host(&a.web.public_url)
                && let Some(other) = hosts.insert(h.clone(), name)
            {
                return Err(invalid(
                    &format!("account.{name}.web.public_url"),
                    format!("host {h} is already account {other}'s web address"),
                ));
            }
        }
        Ok(())
    }
}

/// The host name (and port, when not the scheme's default) a web
/// `public_url` is reached at, lower-cased: what a browser sends as `Host`
/// and what picks the account a page request acts for. `None` for an empty
/// or unparsable URL.
pub fn web_host(public_url: &str) -> Option<String> {
    let url = url::Url::parse(public_url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// One account's keys, each error naming `account.<name>.<key>` (and the
/// environment variable of a credential).
pub fn validate_account(config: &Config, name: &str, a: &AccountConfig) -> Result<(), ConfigError> {
    let key = |k: &str| format!("account.{name}.{k}");
    let env = |k: &str| {
        format!(
            "account.{name}.{k} ({}{})",
            env_prefix(name),
            k.to_ascii_uppercase()
        )
    };
    if name == DEFAULT_ACCOUNT {
        return Err(invalid(
            &format!("account.{name}"),
            "`default` is the [wechat] account: configure it there",
        ));
    }
    if !valid_account_name(name) {
        return Err(invalid(
            &format!("account.{name}"),
            "an account name is 1 to 32 of a-z, 0-9, - and _",
        ));
    }
    for (id, p) in &a.plugin {
        if let Some(schedules) = &p.schedules {
            super::parse_schedules(&key(&format!("plugin.{id}.schedules")), schedules)?;
        }
    }
    let s = config.resolve_account(name, a);
    let w = &s.wechat;
    if w.app_id.is_empty()
        || w.app_id.len() > 64
        || !w
            .app_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(invalid(
            &key("app_id"),
            "must be set, letters, digits and _",
        ));
    }
    super::validate_token(&env("token"), &w.token)?;
    super::validate_aes_key(&env("encoding_aes_key"), &w.encoding_aes_key)?;
    if let Some(previous) = &w.previous_encoding_aes_key {
        super::validate_aes_key(&key("previous_encoding_aes_key"), previous)?;
    }
    if a.require_encryption == Some(true) && w.encoding_aes_key.is_empty() {
        return Err(invalid(
            &key("require_encryption"),
            format!("needs {}", env("encoding_aes_key")),
        ));
    }
    super::validate_http_url(&key("api_base_url"), &w.api_base_url)?;
    if !a.web.public_url.is_empty() {
        super::validate_origin(&key("web.public_url"), &a.web.public_url)?;
    }
    if let Some(plugins) = &a.plugins
        && let Some(bad) = plugins
            .iter()
            .find(|p| p.is_empty() || p.contains(['/', '.']))
    {
        return Err(invalid(
            &key("plugins"),
            format!("`{bad}` is not a plugin id (a .wasm file's stem)"),
        ));
    }
    for (id, p) in &a.plugin {
        if let Some(hosts) = &p.http_hosts {
            super::validate_http_hosts(&key(&format!("plugin.{id}.http_hosts")), hosts)?;
        }
    }
    Ok(())
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so a new credential cannot slip past the redaction.
        let AccountConfig {
            app_id,
            app_secret,
            token,
            encoding_aes_key,
            previous_encoding_aes_key,
            require_encryption,
            api_base_url,
            token_endpoint,
            plugins,
            plugin,
            web,
            disabled,
            authorizer,
        } = self;
        let redact = |s: &str| {
            if s.is_empty() {
                "<unset>"
            } else {
                "<redacted>"
            }
        };
        f.debug_struct("AccountConfig")
            .field("app_id", app_id)
            .field("app_secret", &redact(app_secret))
            .field("token", &redact(token))
            .field("encoding_aes_key", &redact(encoding_aes_key))
            .field(
                "previous_encoding_aes_key",
                &redact(previous_encoding_aes_key.as_deref().unwrap_or("")),
            )
            .field("require_encryption", require_encryption)
            .field("api_base_url", api_base_url)
            .field("token_endpoint", token_endpoint)
            .field("plugins", plugins)
            .field("plugin", plugin)
            .field("web", web)
            .field("disabled", disabled)
            .field("authorizer", authorizer)
            .finish()
    }
}

impl fmt::Debug for AccountPluginSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let AccountPluginSettings {
            priority,
            capabilities,
            config,
            secrets,
            http_hosts,
            kv_max_bytes,
            kv_max_keys,
            schedules,
        } = self;
        let config: BTreeMap<&str, &str> =
            config.keys().map(|k| (k.as_str(), "<redacted>")).collect();
        f.debug_struct("AccountPluginSettings")
            .field("priority", priority)
            .field("capabilities", capabilities)
            .field("config", &config)
            .field("secrets", secrets)
            .field("http_hosts", http_hosts)
            .field("kv_max_bytes", kv_max_bytes)
            .field("kv_max_keys", kv_max_keys)
            .field("schedules", schedules)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B: &str = "bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_toml("test.toml", toml, &env)
    }

    #[test]
    fn wechat_is_the_default_account_and_account_tables_add_others() {
        let c = load(
            r#"
            [account.shop]
            app_id = "wxshop"
            token = "shoptoken"
            plugins = ["echo"]
            [account.shop.plugin.echo]
            priority = 7
            [account.shop-2]
            app_id = "wxshop2"
            api_base_url = "http://127.0.0.1:9/"
            "#,
            &[
                ("WXHOST_ACCOUNT_SHOP_2_TOKEN", "tok2"),
                ("WXHOST_ACCOUNT_SHOP_2_ENCODING_AES_KEY", KEY_B),
                ("WXHOST_ACCOUNT_SHOP_APP_SECRET", "s3cret"),
            ],
        )
        .unwrap();
        let accounts = c.accounts();
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["default", "shop", "shop-2"]);
        assert_eq!(accounts[0].wechat.app_id, c.wechat.app_id);
        let shop = &accounts[1];
        assert_eq!(shop.wechat.app_secret, "s3cret");
        // Not a credential: `[wechat]`'s.
        assert_eq!(shop.wechat.api_base_url, c.wechat.api_base_url);
        assert!(!shop.require_encryption);
        assert_eq!(shop.plugins, Some(BTreeSet::from(["echo".to_owned()])));
        assert_eq!(shop.plugin["echo"].priority, Some(7));
        let two = &accounts[2];
        assert_eq!(two.wechat.token, "tok2");
        assert!(two.require_encryption);
        assert_eq!(two.wechat.api_base_url, "http://127.0.0.1:9/");
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret") && !debug.contains("tok2") && !debug.contains(KEY_B));
    }

    #[test]
    fn a_command_acting_for_an_account_sees_its_credentials_and_path() {
        let c = load(
            "[account.shop]\napp_id = \"wxshop\"\ntoken = \"shoptoken\"\n",
            &[],
        )
        .unwrap();
        let shop = c.acting_as("shop").unwrap();
        assert_eq!(shop.wechat.app_id, "wxshop");
        assert_eq!(shop.wechat.token, "shoptoken");
        assert_eq!(shop.server.path, "/wechat/wxshop");
        assert_eq!(shop.acting_account(), "shop");
        assert_eq!(c.acting_as("default").unwrap().acting_account(), "default");
        let e = c.acting_as("nope").unwrap_err().to_string();
        assert!(
            e.contains("no account nope") && e.contains("default, shop"),
            "{e}"
        );
    }

    #[test]
    fn account_errors_name_the_account_and_key() {
        let err = |toml: &str, env: &[(&str, &str)]| load(toml, env).unwrap_err().to_string();
        let e = err("[account.b]\napp_id = \"wxb\"\n", &[]);
        assert!(
            e.contains("account.b.token (WXHOST_ACCOUNT_B_TOKEN)"),
            "{e}"
        );
        let e = err(
            "[account.b]\napp_id = \"wxb11529c136998cb6\"\ntoken = \"t\"\n",
            &[],
        );
        assert!(
            e.contains("account.b.app_id") && e.contains("account default"),
            "{e}"
        );
        let e = err(
            "[account.b]\napp_id = \"wxb\"\ntoken = \"t\"\n[account.c]\napp_id = \"wxb\"\ntoken = \"t\"\n",
            &[],
        );
        assert!(
            e.contains("account.c.app_id") && e.contains("account b"),
            "{e}"
        );
        let e = err(
            "[account.b]\napp_id = \"wxb\"\ntoken = \"t\"\nencoding_aes_key = \"short\"\n",
            &[],
        );
        assert!(e.contains("account.b.encoding_aes_key"), "{e}");
        let e = err("[account.Bad]\napp_id = \"wxb\"\ntoken = \"t\"\n", &[]);
        assert!(e.contains("account.Bad"), "{e}");
        let e = err("[account.default]\napp_id = \"wxb\"\ntoken = \"t\"\n", &[]);
        assert!(e.contains("[wechat]"), "{e}");
        let e = err(
            "[account.b]\napp_id = \"wxb\"\ntoken = \"t\"\nsecret = 1\n",
            &[],
        );
        assert!(e.contains("account.b"), "{e}");
        let e = err("", &[("WXHOST_ACCOUNT_NOPE_TOKEN", "x")]);
        assert!(e.contains("WXHOST_ACCOUNT_NOPE_TOKEN"), "{e}");
        let e = err(
            "[account.b]\napp_id = \"wxb\"\ntoken = \"t\"\n[account.b.plugin.echo]\nhttp_hosts = [\"a/b\"]\n",
            &[],
        );
        assert!(e.contains("account.b.plugin.echo.http_hosts"), "{e}");
        // One host name, one account (the case and a default port do not
        // make another).
        let e = err(
            "[web]\npublic_url = \"https://wx.example.com\"\n\
             [account.b]\napp_id = \"wxb\"\ntoken = \"t\"\n\
             [account.b.web]\npublic_url = \"https://WX.example.com:443\"\n",
            &[],
        );
        assert!(
            e.contains("account.b.web.public_url") && e.contains("account default"),
            "{e}"
        );
    }

    #[test]
    fn a_web_host_is_what_a_browser_sends_as_host() {
        assert_eq!(
            web_host("https://Wx.Example.com").as_deref(),
            Some("wx.example.com")
        );
        assert_eq!(
            web_host("https://wx.example.com:443").as_deref(),
            Some("wx.example.com")
        );
        assert_eq!(
            web_host("http://club.test:8443").as_deref(),
            Some("club.test:8443")
        );
        assert_eq!(web_host(""), None);
    }
}
