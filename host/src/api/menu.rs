//! Custom menus: WeChat's JSON button format (default and conditional
//! menus), TOML as an alternative input, validation against WeChat's limits
//! before any call, and versioned publishing: every publish is kept in the
//! store with its time and note, one version is current, and any version can
//! be rolled back to.
//!
//! Validation errors name the button, e.g.
//! `button[1].sub_button[2] "Contact": view needs a url`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::{ApiError, Wechat};
use crate::store::MenuVersion;

/// Top-level buttons: 1..=3. Sub-buttons per button: 1..=5.
pub const MAX_BUTTONS: usize = 3;
pub const MAX_SUB_BUTTONS: usize = 5;
/// Name lengths in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 16;
pub const MAX_SUB_NAME_BYTES: usize = 60;
pub const MAX_KEY_BYTES: usize = 128;
pub const MAX_URL_BYTES: usize = 1024;
/// All conditional menus together may link to at most this many domains.
pub const MAX_CONDITIONAL_DOMAINS: usize = 3;

/// Button types and the field each requires.
const KEY_TYPES: &[&str] = &[
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
];
const TYPES: &[&str] = &[
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "view_limited",
    "article_id",
    "article_view_limited",
    "miniprogram",
];

/// A full menu definition: the default menu and any conditional menus.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Menu {
    #[serde(default)]
    pub button: Vec<Button>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditionalmenu: Vec<ConditionalMenu>,
    /// Anything else in the file: reported by [`Menu::validate`].
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, Value>,
}

/// A conditional (个性化) menu: shown to users matching `matchrule`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConditionalMenu {
    #[serde(default)]
    pub button: Vec<Button>,
    #[serde(default)]
    pub matchrule: MatchRule,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, Value>,
}

/// One button, in WeChat's field names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Button {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// Mini program AppID (lowercase `appid` in WeChat's JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagepath: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_button: Vec<Button>,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, Value>,
}

/// Who sees a conditional menu. WeChat's JSON uses strings; TOML files may
/// write numbers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MatchRule {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub tag_id: Option<String>,
    /// 1 iOS, 2 Android, 3 others.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub client_platform_type: Option<String>,
    // Restricted since 2021 (creating with them fails with 65320); parsed
    // only to be refused by name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub sex: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub country: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub province: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub city: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub language: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, Value>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrNum {
        S(String),
        I(i64),
    }
    Ok(Option::<StrOrNum>::deserialize(d)?.map(|v| match v {
        StrOrNum::S(s) => s,
        StrOrNum::I(n) => n.to_string(),
    }))
}

/// Everything wrong with a menu, one problem per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuErrors(pub Vec<String>);

impl fmt::Display for MenuErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid menu ({} problem{}):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MenuErrors {}

impl From<MenuErrors> for ApiError {
    fn from(e: MenuErrors) -> Self {
        ApiError::Invalid(e.to_string())
    }
}

impl Menu {
    /// Parses WeChat's JSON: `{"button":[…],"conditionalmenu":[…]}`, or the
    /// shape `menu/get` answers (`{"menu":{"button":…},…}`, `menuid`s
    /// ignored) so a fetched menu can be published back.
    pub fn from_json(text: &str) -> Result<Menu, ApiError> {
        let mut v: Value =
            serde_json::from_str(text).map_err(|e| ApiError::Invalid(format!("menu JSON: {e}")))?;
        if let Some(obj) = v.as_object_mut()
            && let Some(Value::Object(mut inner)) = obj.remove("menu")
        {
            inner.remove("menuid");
            obj.extend(inner);
        }
        if let Some(list) = v.get_mut("conditionalmenu").and_then(Value::as_array_mut) {
            for c in list.iter_mut().filter_map(Value::as_object_mut) {
                c.remove("menuid");
            }
        }
        serde_json::from_value(v).map_err(|e| ApiError::Invalid(format!("menu JSON: {e}")))
    }

    /// Parses the TOML form: `[[button]]` tables with the same field names,
    /// `[[button.sub_button]]`, `[[conditionalmenu]]` with a `matchrule`.
    pub fn from_toml(text: &str) -> Result<Menu, ApiError> {
        toml::from_str(text).map_err(|e| ApiError::Invalid(format!("menu TOML: {e}")))
    }

    /// Reads a `.toml` file as TOML, anything else as JSON.
    pub fn load(path: &Path) -> Result<Menu, ApiError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ApiError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        let toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let parsed = if toml {
            Menu::from_toml(&text)
        } else {
            Menu::from_json(&text)
        };
        parsed.map_err(|e| match e {
            ApiError::Invalid(m) => ApiError::Invalid(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Compact JSON in WeChat's format (what is stored and published).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks WeChat's limits; every problem is reported, each naming its
    /// button.
    pub fn validate(&self) -> Result<(), MenuErrors> {
        let mut errors = Vec::new();
        for k in self.unknown.keys() {
            errors.push(format!(
                "unknown top-level field `{k}` (expected `button`, `conditionalmenu`)"
            ));
        }
        validate_buttons("", &self.button, &mut errors);
        let mut domains = BTreeSet::new();
        for (i, c) in self.conditionalmenu.iter().enumerate() {
            let prefix = format!("conditionalmenu[{i}].");
            for k in c.unknown.keys() {
                errors.push(format!("conditionalmenu[{i}]: unknown field `{k}`"));
            }
            validate_buttons(&prefix, &c.button, &mut errors);
            validate_matchrule(
                &format!("conditionalmenu[{i}].matchrule"),
                &c.matchrule,
                &mut errors,
            );
            for b in c
                .button
                .iter()
                .flat_map(|b| std::iter::once(b).chain(&b.sub_button))
            {
                if let Some(host) = b
                    .url
                    .as_deref()
                    .and_then(|u| url::Url::parse(u).ok())
                    .and_then(|u| u.host_str().map(str::to_owned))
                {
                    domains.insert(host);
                }
            }
        }
        if domains.len() > MAX_CONDITIONAL_DOMAINS {
            errors.push(format!(
                "conditional menus link to {} domains ({}); WeChat allows at most {MAX_CONDITIONAL_DOMAINS}",
                domains.len(),
                domains.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(MenuErrors(errors))
        }
    }
}

fn validate_buttons(prefix: &str, buttons: &[Button], errors: &mut Vec<String>) {
    if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
        errors.push(format!(
            "{prefix}button: 1 to {MAX_BUTTONS} top-level buttons allowed, got {}",
            buttons.len()
        ));
    }
    for (i, b) in buttons.iter().enumerate() {
        let label = format!("{prefix}button[{i}] {:?}", b.name);
        check_common(&label, b, MAX_NAME_BYTES, errors);
        if b.sub_button.is_empty() {
            check_leaf(&label, b, errors);
            continue;
        }
        if let Some(kind) = &b.kind {
            errors.push(format!(
                "{label}: has sub-buttons, so it must not have a type (got `{kind}`)"
            ));
        }
        if b.sub_button.len() > MAX_SUB_BUTTONS {
            errors.push(format!(
                "{label}: at most {MAX_SUB_BUTTONS} sub-buttons allowed, got {}",
                b.sub_button.len()
            ));
        }
        for (j, s) in b.sub_button.iter().enumerate() {
            let label = format!("{prefix}button[{i}].sub_button[{j}] {:?}", s.name);
            check_common(&label, s, MAX_SUB_NAME_BYTES, errors);
            if !s.sub_button.is_empty() {
                errors.push(format!("{label}: sub-buttons cannot have sub-buttons"));
            }
            check_leaf(&label, s, errors);
        }
    }
}

fn check_common(label: &str, b: &Button, max_name: usize, errors: &mut Vec<String>) {
    if b.name.trim().is_empty() {
        errors.push(format!("{label}: name is empty"));
    } else if b.name.len() > max_name {
        errors.push(format!("{label}: name is {} bytes, at most {max_name} allowed (UTF-8: a Chinese character takes 3)", b.name.len()));
    }
    for k in b.unknown.keys() {
        errors.push(format!("{label}: unknown field `{k}`"));
    }
    if let Some(key) = &b.key
        && key.len() > MAX_KEY_BYTES
    {
        errors.push(format!(
            "{label}: key is {} bytes, at most {MAX_KEY_BYTES} allowed",
            key.len()
        ));
    }
    if let Some(url) = &b.url {
        if url.len() > MAX_URL_BYTES {
            errors.push(format!(
                "{label}: url is {} bytes, at most {MAX_URL_BYTES} allowed",
                url.len()
            ));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            errors.push(format!("{label}: url must start with http:// or https://"));
        }
    }
}

fn check_leaf(label: &str, b: &Button, errors: &mut Vec<String>) {
    let Some(kind) = b.kind.as_deref() else {
        errors.push(format!(
            "{label}: needs a type (click, view, …) or sub-buttons"
        ));
        return;
    };
    let mut need = |field: &str, value: &Option<String>| {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            errors.push(format!("{label}: type {kind} needs `{field}`"));
        }
    };
    match kind {
        k if KEY_TYPES.contains(&k) => need("key", &b.key),
        "view" => need("url", &b.url),
        "media_id" | "view_limited" => need("media_id", &b.media_id),
        "article_id" | "article_view_limited" => need("article_id", &b.article_id),
        "miniprogram" => {
            need("appid", &b.appid);
            need("pagepath", &b.pagepath);
            need("url", &b.url);
        }
        other => errors.push(format!(
            "{label}: unknown type `{other}` (known: {})",
            TYPES.join(", ")
        )),
    }
}

fn validate_matchrule(label: &str, r: &MatchRule, errors: &mut Vec<String>) {
    for k in r.unknown.keys() {
        errors.push(format!("{label}: unknown field `{k}`"));
    }
    let restricted: Vec<&str> = [
        ("sex", &r.sex),
        ("country", &r.country),
        ("province", &r.province),
        ("city", &r.city),
        ("language", &r.language),
    ]
    .into_iter()
    .filter(|(_, v)| v.as_deref().is_some_and(|v| !v.is_empty()))
    .map(|(k, _)| k)
    .collect();
    if !restricted.is_empty() {
        errors.push(format!("{label}: {} no longer usable (WeChat refuses them with 65320 since 2021); use tag_id or client_platform_type", restricted.join(", ")));
    }
    let tag = r.tag_id.as_deref().filter(|v| !v.is_empty());
    let platform = r.client_platform_type.as_deref().filter(|v| !v.is_empty());
    if tag.is_none() && platform.is_none() && restricted.is_empty() {
        errors.push(format!("{label}: needs tag_id or client_platform_type"));
    }
    if let Some(t) = tag
        && t.parse::<u64>().is_err()
    {
        errors.push(format!("{label}: tag_id must be a number, got `{t}`"));
    }
    if let Some(p) = platform
        && !matches!(p, "1" | "2" | "3")
    {
        errors.push(format!(
            "{label}: client_platform_type must be 1 (iOS), 2 (Android) or 3 (others), got `{p}`"
        ));
    }
}

impl Wechat {
    /// Validates `menu` (no call if invalid), saves it as a new version,
    /// pushes it to WeChat and makes it current. If the push fails before
    /// WeChat changed anything the version stays in the history, marked
    /// unpublished; if it fails halfway, the version is recorded as current
    /// and partly live (see [`Wechat::push_and_record`]).
    pub async fn publish_menu(
        &self,
        menu: &Menu,
        note: Option<&str>,
    ) -> Result<MenuVersion, ApiError> {
        menu.validate()?;
        let id = self.menus.insert(&menu.to_json(), note).await?;
        self.push_and_record(id, menu).await?;
        self.menu_version(id).await
    }

    /// Re-publishes stored version `id` and makes it current.
    pub async fn rollback_menu(&self, id: i64) -> Result<MenuVersion, ApiError> {
        let version = self.menu_version(id).await?;
        let menu = Menu::from_json(&version.json)?;
        menu.validate()?;
        self.push_and_record(id, &menu).await?;
        self.menu_version(id).await
    }

    /// Pushes version `id` and records in the store what WeChat then has.
    /// A push is several calls; one failing after WeChat took the default
    /// menu leaves a mix on WeChat, so the version becomes current with a
    /// note of what is live (shown by `wxhost menu history` and `show`),
    /// and the error says the same.
    async fn push_and_record(&self, id: i64, menu: &Menu) -> Result<(), ApiError> {
        // What the store knew to be live before, for a push that fails
        // before learning better.
        let before = self.menus.current().await?;
        let stopped = match self.push_menu(menu).await {
            Ok(ids) => return Ok(self.menus.mark_published(id, &ids).await?),
            Err(stopped) => stopped,
        };
        let Some(live) = stopped.live_summary(menu.conditionalmenu.len()) else {
            return Err(stopped.error);
        };
        let step = stopped.step();
        tracing::warn!(version = id, step, %live, "menu push stopped halfway");
        let record = match self
            .menus
            .mark_partial(id, &stopped.live_conditional(before), &live)
            .await
        {
            Ok(()) => format!(
                "version {id} is recorded as current and partly live (`wxhost menu history`); publish again or roll back"
            ),
            Err(e) => format!("recording that in the store failed too: {e}"),
        };
        Err(annotate(
            stopped.error,
            &format!("pushing menu version {id} stopped at {step}: {live}; {record}"),
        ))
    }

    /// Deletes the menu on WeChat (default and all conditional menus); no
    /// version is current afterwards. The history is kept.
    pub async fn delete_menu(&self) -> Result<(), ApiError> {
        self.get("/cgi-bin/menu/delete", &[]).await?;
        self.menus.clear_current().await?;
        Ok(())
    }

    /// The menu as WeChat has it (`menu/get`), `None` when there is none.
    pub async fn remote_menu(&self) -> Result<Option<Value>, ApiError> {
        match self.get("/cgi-bin/menu/get", &[]).await {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::Wechat { code: 46003, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn menu_version(&self, id: i64) -> Result<MenuVersion, ApiError> {
        self.menus.get(id).await?.ok_or_else(|| {
            ApiError::Invalid(format!("no menu version {id} (see `wxhost menu history`)"))
        })
    }

    /// Sets the default menu, then replaces every conditional menu (WeChat
    /// has no edit API). Returns the new conditional menus' ids, or where it
    /// stopped.
    async fn push_menu(&self, menu: &Menu) -> Result<Vec<String>, PushStopped> {
        let stopped = |at, error| PushStopped { at, error };
        if let Err(e) = self
            .post("/cgi-bin/menu/create", &json!({"button": menu.button}))
            .await
        {
            return Err(stopped(Step::Create, e));
        }
        let existing: Vec<String> = match self.remote_menu().await {
            Ok(Some(v)) => v
                .get("conditionalmenu")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| menu_id(c.get("menuid")))
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(stopped(Step::List, e)),
        };
        for (i, id) in existing.iter().enumerate() {
            match self
                .post("/cgi-bin/menu/delconditional", &json!({"menuid": id}))
                .await
            {
                Ok(_) | Err(ApiError::Wechat { code: 65301, .. }) => {}
                Err(e) => return Err(stopped(Step::DeleteOld(existing[i..].to_vec()), e)),
            }
        }
        let mut ids = Vec::new();
        for c in &menu.conditionalmenu {
            let answer = self
                .post(
                    "/cgi-bin/menu/addconditional",
                    &json!({"button": c.button, "matchrule": c.matchrule}),
                )
                .await;
            match answer {
                Ok(answer) => ids.extend(menu_id(answer.get("menuid"))),
                Err(e) => return Err(stopped(Step::Add(ids), e)),
            }
        }
        Ok(ids)
    }
}

/// A menu push that failed at step `at`.
struct PushStopped {
    at: Step,
    error: ApiError,
}

/// The steps of a menu push, each with what is live on WeChat when it
/// fails.
enum Step {
    /// `menu/create`: nothing changed (WeChat takes a default menu whole).
    Create,
    /// `menu/get`: the new default menu is live, the older conditional menus
    /// too.
    List,
    /// `menu/delconditional`: the new default menu and these older
    /// conditional menus are live.
    DeleteOld(Vec<String>),
    /// `menu/addconditional`: the new default menu and the new conditional
    /// menus added so far are live.
    Add(Vec<String>),
}

impl PushStopped {
    fn step(&self) -> &'static str {
        match self.at {
            Step::Create => "menu/create",
            Step::List => "menu/get",
            Step::DeleteOld(_) => "menu/delconditional",
            Step::Add(_) => "menu/addconditional",
        }
    }

    /// The conditional menus live on WeChat, as far as known: when listing
    /// them failed, those of the version current `before`.
    fn live_conditional(&self, before: Option<MenuVersion>) -> Vec<String> {
        match &self.at {
            Step::DeleteOld(ids) | Step::Add(ids) => ids.clone(),
            Step::Create | Step::List => before.map(|v| v.conditional_menu_ids).unwrap_or_default(),
        }
    }

    /// What is live on WeChat, or `None` when the push changed nothing.
    fn live_summary(&self, wanted: usize) -> Option<String> {
        Some(match &self.at {
            Step::Create => return None,
            Step::List => "the new default menu is live; the older conditional menus were not replaced (listing them failed)".to_owned(),
            Step::DeleteOld(old) => format!(
                "the new default menu is live with {} older conditional menu(s) still in place and none of the {wanted} new one(s)",
                old.len()
            ),
            Step::Add(added) => format!(
                "the new default menu is live with {} of {wanted} new conditional menu(s)",
                added.len()
            ),
        })
    }
}

/// `e` with `note` added to its message (same variant, same errcode).
fn annotate(e: ApiError, note: &str) -> ApiError {
    match e {
        ApiError::Wechat { code, message } => ApiError::Wechat {
            code,
            message: format!("{message}; {note}"),
        },
        ApiError::QuotaExceeded(m) => ApiError::QuotaExceeded(format!("{m}; {note}")),
        ApiError::Transport(m) => ApiError::Transport(format!("{m}; {note}")),
        ApiError::Invalid(m) => ApiError::Invalid(format!("{m}; {note}")),
        ApiError::Storage(m) => ApiError::Storage(format!("{m}; {note}")),
    }
}

/// WeChat returns `menuid` as a string or a number depending on the call.
fn menu_id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(json: &str) -> Vec<String> {
        Menu::from_json(json)
            .unwrap()
            .validate()
            .err()
            .map(|e| e.0)
            .unwrap_or_default()
    }

    #[test]
    fn a_valid_menu_round_trips() {
        let src = r#"{"button":[{"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"},{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"http://www.soso.com/?a=1&b=2"},{"type":"miniprogram","name":"wxa","url":"http://mp.weixin.qq.com","appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index"}]}]}"#;
        let m = Menu::from_json(src).unwrap();
        m.validate().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&m.to_json()).unwrap(),
            serde_json::from_str::<Value>(src).unwrap()
        );
        assert!(m.to_json().contains("a=1&b=2") && m.to_json().contains("今日歌曲"));
    }

    #[test]
    fn problems_name_the_button() {
        let e = errors(
            r#"{"button":[{"type":"click","name":"A","key":"k"},{"name":"B","sub_button":[{"type":"view","name":"x","url":"http://a"},{"type":"view","name":"Contact"}]}]}"#,
        );
        assert_eq!(
            e,
            vec![r#"button[1].sub_button[1] "Contact": type view needs `url`"#.to_owned()]
        );
        let e = errors(r#"{"button":[{"type":"click","name":"一二三四五六","key":"k"}]}"#);
        assert!(
            e[0].starts_with(r#"button[0] "一二三四五六": name is 18 bytes"#),
            "{e:?}"
        );
        let e = errors(
            r#"{"button":[{"type":"tap","name":"A"},{"name":"B","type":"click","sub_button":[{"type":"click","name":"s","key":"k","sub_buttons":[]}]}]}"#,
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].contains("unknown type `tap`")
                && e[1].contains("must not have a type")
                && e[2].contains("unknown field `sub_buttons`"),
            "{e:?}"
        );
        let e = errors(
            r#"{"button":[{"type":"click","name":"1","key":"k"},{"type":"click","name":"2","key":"k"},{"type":"click","name":"3","key":"k"},{"type":"click","name":"4","key":"k"}]}"#,
        );
        assert!(e[0].contains("1 to 3 top-level buttons"), "{e:?}");
        let six = (0..6)
            .map(|i| format!(r#"{{"type":"click","name":"s{i}","key":"k"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let e = errors(&format!(
            r#"{{"button":[{{"name":"B","sub_button":[{six}]}}]}}"#
        ));
        assert!(
            e[0].contains(r#"button[0] "B": at most 5 sub-buttons"#),
            "{e:?}"
        );
        let e = errors(&format!(
            r#"{{"button":[{{"type":"click","name":"k","key":"{}"}}]}}"#,
            "k".repeat(129)
        ));
        assert!(e[0].contains("key is 129 bytes"), "{e:?}");
    }

    #[test]
    fn conditional_menus_and_toml() {
        let toml = r#"
[[button]]
type = "click"
name = "Hi"
key = "HI"

[[conditionalmenu]]
matchrule = { tag_id = 2, client_platform_type = "1" }
[[conditionalmenu.button]]
name = "VIP"
[[conditionalmenu.button.sub_button]]
type = "view"
name = "Lounge"
url = "https://example.com/vip?a=1&b=2"
"#;
        let m = Menu::from_toml(toml).unwrap();
        m.validate().unwrap();
        assert_eq!(m.conditionalmenu[0].matchrule.tag_id.as_deref(), Some("2"));
        let e = errors(
            r#"{"button":[{"type":"click","name":"A","key":"k"}],"conditionalmenu":[{"button":[{"type":"click","name":"A","key":"k"}],"matchrule":{"sex":"1"}}]}"#,
        );
        assert!(
            e[0].contains("conditionalmenu[0].matchrule: sex no longer usable"),
            "{e:?}"
        );
        let e = errors(
            r#"{"button":[{"type":"click","name":"A","key":"k"}],"conditionalmenu":[{"button":[{"type":"click","name":"A","key":"k"}],"matchrule":{}}]}"#,
        );
        assert!(
            e[0].contains("needs tag_id or client_platform_type"),
            "{e:?}"
        );
        // menu/get's answer publishes back.
        let got = r#"{"menu":{"button":[{"type":"click","name":"A","key":"k","sub_button":[]}],"menuid":1},"conditionalmenu":[{"button":[{"type":"click","name":"A","key":"k"}],"matchrule":{"tag_id":"2"},"menuid":9}]}"#;
        Menu::from_json(got).unwrap().validate().unwrap();
    }
}
