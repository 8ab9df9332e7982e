//! `[open_platform]`: this deployment as a WeChat Open Platform third-party
//! platform (第三方平台). The component's AppSecret and EncodingAESKey are
//! secrets: they may come from `WXHOST_COMPONENT_APP_SECRET` and
//! `WXHOST_COMPONENT_ENCODING_AES_KEY` and `Debug` never prints them. The
//! platform's pushes are always encrypted (WeChat allows only safe mode for
//! third-party platforms), so the key is required.

use std::fmt;

use serde::Deserialize;

/// `[open_platform]` as written.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenPlatformConfig {
    /// The component (third-party platform) AppID, `wx…`.
    pub component_app_id: String,
    /// `WXHOST_COMPONENT_APP_SECRET`.
    #[serde(default)]
    pub component_app_secret: String,
    /// The message-check Token registered on the Open Platform.
    pub token: String,
    /// `WXHOST_COMPONENT_ENCODING_AES_KEY`: the message encryption key.
    #[serde(default)]
    pub encoding_aes_key: String,
    /// Plugins serving authorized accounts (ids); unset: all.
    #[serde(default)]
    pub plugins: Option<Vec<String>>,
}

impl OpenPlatformConfig {
    /// The environment variables it reads, applied over the file.
    pub(crate) fn apply_env(&mut self, key: &str, value: &str) -> bool {
        match key {
            "WXHOST_COMPONENT_APP_SECRET" => self.component_app_secret = value.to_owned(),
            "WXHOST_COMPONENT_ENCODING_AES_KEY" => self.encoding_aes_key = value.to_owned(),
            _ => return false,
        }
        true
    }

    /// What is wrong with it, naming the key.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let id = &self.component_app_id;
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Some((
                "open_platform.component_app_id",
                "must be the component AppID (letters and digits)".into(),
            ));
        }
        if self.component_app_secret.is_empty() {
            return Some((
                "open_platform.component_app_secret (WXHOST_COMPONENT_APP_SECRET)",
                "must be set".into(),
            ));
        }
        if self.encoding_aes_key.is_empty() {
            return Some((
                "open_platform.encoding_aes_key (WXHOST_COMPONENT_ENCODING_AES_KEY)",
                "must be set: a third-party platform's pushes are always encrypted".into(),
            ));
        }
        None
    }
}

impl fmt::Debug for OpenPlatformConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenPlatformConfig")
            .field("component_app_id", &self.component_app_id)
            .field("component_app_secret", &"<redacted>")
            .field("token", &"<redacted>")
            .field("encoding_aes_key", &"<redacted>")
            .field("plugins", &self.plugins)
            .finish()
    }
}
