//! The admin operations, one way each, shared by the pages and the API:
//! every change (menu publish/rollback/delete, QR code creation, plugin
//! upload/enable/disable, token refresh) is checked, carried out and
//! written to the audit log with who did it and how it ended — refusals
//! included.

use std::sync::Arc;

use serde::Serialize;

use super::Admin;
use super::error::AdminError;
use crate::api::Wechat;
use crate::api::credential::CredentialStatus;
use crate::api::menu::Menu;
use crate::api::qrcode::{QrCreate, QrKind, Scene};
use crate::plugin::LoadedPlugin;
use crate::store::{MenuVersion, QrRecord};

/// A plugin as the console and the API list it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginView {
    pub id: String,
    /// `serving` or `disabled`.
    pub state: &'static str,
    /// Where it is served from: `store` (published; wins) or `directory`
    /// (`None` when it is not serving).
    pub source: Option<&'static str>,
    /// Who switched it off: `config` or `console`.
    pub disabled_by: Option<&'static str>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub sha256: Option<String>,
    pub generation: u64,
    pub priority: Option<i32>,
    pub kinds: Vec<&'static str>,
    pub memory_mib: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub capabilities: Vec<&'static str>,
    pub calls: u64,
    pub failures: std::collections::BTreeMap<&'static str, u64>,
    pub failed: u64,
    pub last_error: Option<String>,
    /// Unix seconds.
    pub last_error_at: Option<u64>,
    /// Who its pages (`/app/<id>/`) are served to; `None`: it serves none.
    pub pages: Option<String>,
}

/// What a QR code form or API body asks for.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QrRequest {
    /// A positive integer is a `scene_id`, anything else a `scene_str`.
    pub scene: String,
    #[serde(default)]
    pub permanent: bool,
    /// Temporary codes only; default 7 days.
    #[serde(default)]
    pub expire_seconds: Option<u32>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A menu from the editor or the API: JSON if it starts with `{`, else TOML.
pub fn parse_menu(text: &str) -> Result<Menu, AdminError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AdminError::bad_request("the menu is empty"));
    }
    let menu = if text.starts_with('{') {
        Menu::from_json(text)?
    } else {
        Menu::from_toml(text)?
    };
    menu.validate()?;
    Ok(menu)
}

impl Admin {
    /// Writes one audit entry; a store failure is logged, never fatal to an
    /// operation that already happened.
    pub async fn audit(&self, actor: &str, action: &str, detail: &str) {
        if let Err(e) = self
            .stores
            .audit
            .append(crate::store::now_secs(), actor, action, detail)
            .await
        {
            tracing::warn!(error = %e, action, "audit entry not written");
        }
    }

    /// Audits `result` of `action` and hands it back.
    async fn audited<T>(
        &self,
        actor: &str,
        action: &str,
        what: &str,
        result: Result<T, AdminError>,
        done: impl FnOnce(&T) -> String,
    ) -> Result<T, AdminError> {
        let detail = match &result {
            Ok(v) => format!("{what}: {}", done(v)),
            Err(e) => format!("{what}: refused: {}", e.message),
        };
        self.audit(actor, action, &detail).await;
        result
    }

    fn api(&self) -> Result<&Arc<Wechat>, AdminError> {
        self.wechat.as_ref().ok_or_else(AdminError::no_api)
    }

    pub fn plugin_views(&self) -> Vec<PluginView> {
        let mut out: Vec<PluginView> = self
            .runtime
            .plugins()
            .iter()
            .map(|p| self.view_of(p))
            .collect();
        for (id, by_config) in self.runtime.disabled() {
            let c = self.runtime.stats().get(&id);
            out.push(PluginView {
                id,
                state: "disabled",
                source: None,
                disabled_by: Some(if by_config { "config" } else { "console" }),
                name: None,
                version: None,
                sha256: None,
                generation: c.generation,
                priority: None,
                kinds: Vec::new(),
                memory_mib: None,
                timeout_ms: None,
                capabilities: Vec::new(),
                calls: c.calls,
                failed: c.failed(),
                failures: c.failures,
                last_error_at: c.last_error.as_ref().map(|e| e.0),
                last_error: c.last_error.map(|e| e.1),
                pages: None,
            });
        }
        out
    }

    fn view_of(&self, p: &LoadedPlugin) -> PluginView {
        let c = self.runtime.stats().get(p.id());
        // Switched off for this account only: loaded, serving the others.
        let off_here = *self.account != *crate::store::DEFAULT_ACCOUNT
            && self
                .runtime
                .disabled_for(&self.account)
                .iter()
                .any(|id| id == p.id());
        PluginView {
            id: p.id().to_owned(),
            state: if off_here { "disabled" } else { "serving" },
            source: Some(crate::plugin::source_of(p)),
            disabled_by: off_here.then_some("account"),
            name: Some(p.info.name.clone()),
            version: Some(p.info.version.clone()),
            sha256: Some(p.sha256().to_owned()),
            generation: c.generation,
            priority: Some(p.priority),
            kinds: p.info.handles.iter().map(|k| k.name()).collect(),
            memory_mib: Some(p.memory_limit_bytes() >> 20),
            timeout_ms: Some(p.timeout().as_millis() as u64),
            capabilities: p.capabilities().iter().map(|c| c.as_str()).collect(),
            calls: c.calls,
            failed: c.failed(),
            failures: c.failures,
            last_error_at: c.last_error.as_ref().map(|e| e.0),
            last_error: c.last_error.map(|e| e.1),
            pages: p
                .serves_web()
                .then(|| match self.runtime.page_login(p.id()) {
                    Some(login) => format!("login: {}", login.as_str()),
                    None => format!(
                        "not served: set [plugin.{}.web] login (\"none\" for public pages)",
                        p.id()
                    ),
                }),
        }
    }

    /// Validates an uploaded `.wasm` as plugin `id` and publishes it to
    /// the store (every instance serves it).
    pub async fn upload_plugin(
        &self,
        actor: &str,
        id: &str,
        bytes: Vec<u8>,
    ) -> Result<PluginView, AdminError> {
        let what = format!("{id}.wasm ({} bytes)", bytes.len());
        let result = match self.runtime.publish_upload(id, bytes, actor).await {
            Ok((p, _)) => Ok(self.view_of(&p)),
            Err(e) => Err(AdminError::from(e)),
        };
        self.audited(actor, "plugin_upload", &what, result, |v| {
            format!(
                "{} {} sha256 {}",
                v.name.as_deref().unwrap_or("?"),
                v.version.as_deref().unwrap_or("?"),
                v.sha256
                    .as_deref()
                    .map(|s| &s[..12.min(s.len())])
                    .unwrap_or("?")
            )
        })
        .await
    }

    /// Publishes `digest` of plugin `id` again (default: the version before
    /// the current one); every instance follows.
    pub async fn rollback_plugin(
        &self,
        actor: &str,
        id: &str,
        digest: Option<&str>,
    ) -> Result<crate::store::PluginManifest, AdminError> {
        let what = match digest {
            Some(d) => format!("{id} to {}", &d[..12.min(d.len())]),
            None => format!("{id} to its previous version"),
        };
        let result = self
            .runtime
            .rollback(id, digest, actor)
            .await
            .map_err(AdminError::from);
        self.audited(actor, "plugin_rollback", &what, result, |m| {
            format!("{} sha256 {} is current", m.version, &m.digest[..12])
        })
        .await
    }

    /// Switches plugin `id` on or off (persisted).
    pub async fn switch_plugin(
        &self,
        actor: &str,
        id: &str,
        enabled: bool,
    ) -> Result<(), AdminError> {
        let action = if enabled {
            "plugin_enable"
        } else {
            "plugin_disable"
        };
        // The default account's console speaks for the deployment (as
        // before accounts); another account's switches it for itself only.
        let (result, what) = if *self.account == *crate::store::DEFAULT_ACCOUNT {
            (self.runtime.set_enabled(id, enabled).await, id.to_owned())
        } else {
            (
                self.runtime
                    .set_enabled_for(&self.account, id, enabled)
                    .await,
                format!("{id} for account {}", self.account),
            )
        };
        let result = result.map_err(AdminError::from);
        self.audited(actor, action, &what, result, |_| "done".into())
            .await
    }

    /// Validates `text` (JSON or TOML) and publishes it; a refused menu
    /// never reaches WeChat.
    pub async fn publish_menu(
        &self,
        actor: &str,
        text: &str,
        note: Option<&str>,
    ) -> Result<MenuVersion, AdminError> {
        let what = match note {
            Some(n) => format!("menu {n:?}"),
            None => "menu".to_owned(),
        };
        let result = async {
            let menu = parse_menu(text)?;
            Ok(self.api()?.publish_menu(&menu, note).await?)
        }
        .await;
        self.audited(actor, "menu_publish", &what, result, |v| {
            format!("published as version {}", v.id)
        })
        .await
    }

    pub async fn rollback_menu(&self, actor: &str, id: i64) -> Result<MenuVersion, AdminError> {
        let result = async { Ok(self.api()?.rollback_menu(id).await?) }.await;
        self.audited(
            actor,
            "menu_rollback",
            &format!("to version {id}"),
            result,
            |v| format!("version {} is current", v.id),
        )
        .await
    }

    pub async fn delete_menu(&self, actor: &str) -> Result<(), AdminError> {
        let result = async { Ok(self.api()?.delete_menu().await?) }.await;
        self.audited(actor, "menu_delete", "menu", result, |_| {
            "deleted on WeChat".into()
        })
        .await
    }

    pub async fn create_qr(&self, actor: &str, req: &QrRequest) -> Result<QrRecord, AdminError> {
        let kind = if req.permanent {
            "permanent"
        } else {
            "temporary"
        };
        let what = format!("{kind} code for scene {:?}", req.scene.trim());
        let result = async {
            let scene = req.scene.trim();
            if scene.is_empty() {
                return Err(AdminError::bad_request("the scene is empty"));
            }
            let create = QrCreate {
                scene: Scene::loose(scene),
                kind: if req.permanent {
                    QrKind::Permanent
                } else {
                    QrKind::Temporary {
                        expire_seconds: req
                            .expire_seconds
                            .unwrap_or(crate::api::qrcode::DEFAULT_EXPIRE_SECONDS),
                    }
                },
                note: req
                    .note
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            };
            create.validate()?;
            Ok(self.api()?.create_qrcode(&create).await?)
        }
        .await;
        self.audited(actor, "qrcode_create", &what, result, |r| {
            format!("code {} created", r.id)
        })
        .await
    }

    pub async fn refresh_token(
        &self,
        actor: &str,
        force: bool,
    ) -> Result<CredentialStatus, AdminError> {
        let what = if force { "forced refresh" } else { "refresh" };
        let result = async { Ok(self.api()?.tokens().refresh(force).await?) }.await;
        self.audited(actor, "token_refresh", what, result, |s| {
            format!("new token {}", s.fingerprint.as_deref().unwrap_or("(none)"))
        })
        .await
    }
}
