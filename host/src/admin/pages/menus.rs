//! The menus page: the current menu drawn as a phone shows it, an editor
//! (JSON or TOML) whose refusals name the button, publish with a note,
//! history with diffs between versions (`similar`), rollback, delete, and
//! the conditional menus.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Chrome, CsrfForm, Flash, NoticeQuery, Scoped, done, html, when};
use crate::admin::Admin;
use crate::admin::auth::Operator;
use crate::admin::error::AdminError;
use crate::api::menu::{Button, Menu};
use crate::store::MenuVersion;

/// Shown in an empty editor.
const EXAMPLE: &str = r#"{
  "button": [
    {"type": "click", "name": "Today", "key": "TODAY"},
    {"name": "More", "sub_button": [
      {"type": "view", "name": "Website", "url": "https://example.com/"},
      {"type": "click", "name": "Help", "key": "HELP"}
    ]}
  ]
}"#;

struct PhoneButton {
    name: String,
    subs: Vec<(String, String)>,
}

struct VersionRow {
    id: i64,
    created: String,
    published: String,
    note: String,
    current: bool,
    partial: Option<String>,
    previous: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/menus.html")]
struct MenusPage {
    page: Chrome,
    account: String,
    current_id: Option<i64>,
    current_label: String,
    phone: Vec<PhoneButton>,
    editor: String,
    note: String,
    conditional: Vec<(String, String, String)>,
    history: Vec<VersionRow>,
}

/// What a button does, short: `click HELP`, `view example.com`.
fn action(b: &Button) -> String {
    let kind = b.kind.as_deref().unwrap_or("");
    let target = b
        .key
        .as_deref()
        .or(b.url.as_deref().map(|u| {
            u.trim_start_matches("https://")
                .trim_start_matches("http://")
        }))
        .or(b.media_id.as_deref())
        .or(b.article_id.as_deref())
        .or(b.pagepath.as_deref())
        .unwrap_or("");
    let target: String = target.chars().take(24).collect();
    format!("{kind} {target}").trim().to_owned()
}

fn phone_of(buttons: &[Button]) -> Vec<PhoneButton> {
    buttons
        .iter()
        .map(|b| PhoneButton {
            name: b.name.clone(),
            subs: b
                .sub_button
                .iter()
                .map(|s| (s.name.clone(), action(s)))
                .collect(),
        })
        .collect()
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| json.to_owned())
}

async fn render(
    admin: &Admin,
    op: &Operator,
    status: StatusCode,
    flash: Flash,
    submitted: Option<(String, String)>,
) -> Response {
    let history = admin.stores.menus.history().await;
    let history = match history {
        Ok(h) => h,
        Err(e) => {
            return super::html(
                StatusCode::SERVICE_UNAVAILABLE,
                &error_page(admin, op, e.into()),
            );
        }
    };
    let current: Option<&MenuVersion> = history.iter().find(|v| v.current);
    let menu = current.and_then(|v| Menu::from_json(&v.json).ok());
    let conditional = match (&menu, current) {
        (Some(m), Some(v)) => m
            .conditionalmenu
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let r = &c.matchrule;
                let who = [
                    r.tag_id.as_ref().map(|t| format!("tag {t}")),
                    r.client_platform_type.as_ref().map(|p| {
                        match p.as_str() {
                            "1" => "iOS",
                            "2" => "Android",
                            _ => "other platforms",
                        }
                        .to_owned()
                    }),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
                let names = c
                    .button
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" · ");
                let id = v.conditional_menu_ids.get(i).cloned().unwrap_or_default();
                (who, names, id)
            })
            .collect(),
        _ => Vec::new(),
    };
    let (editor, note) = submitted.unwrap_or_else(|| {
        (
            current.map_or_else(|| EXAMPLE.to_owned(), |v| pretty(&v.json)),
            String::new(),
        )
    });
    let rows = history
        .iter()
        .enumerate()
        .map(|(i, v)| VersionRow {
            id: v.id,
            created: when(v.created_at),
            published: v
                .published_at
                .map(when)
                .unwrap_or_else(|| "not published".into()),
            note: v.note.clone().unwrap_or_default(),
            current: v.current,
            partial: v.partial.clone(),
            previous: history.get(i + 1).map(|p| p.id),
        })
        .collect();
    let page = MenusPage {
        page: Chrome::new("Menus", "menus", op, admin).with(flash),
        account: admin.app_id.clone(),
        current_id: current.map(|v| v.id),
        current_label: current
            .map(|v| match &v.note {
                Some(n) => format!("{} “{n}”", v.id),
                None => v.id.to_string(),
            })
            .unwrap_or_default(),
        phone: menu
            .as_ref()
            .map(|m| phone_of(&m.button))
            .unwrap_or_default(),
        editor,
        note,
        conditional,
        history: rows,
    };
    html(status, &page)
}

fn error_page(admin: &Admin, op: &Operator, e: AdminError) -> DiffPage {
    DiffPage {
        page: Chrome::new("Menus", "menus", op, admin).with(Flash::Error(e)),
        from: 0,
        to: 0,
        lines: Vec::new(),
    }
}

pub async fn page(Scoped(admin): Scoped, op: Operator, Query(q): Query<NoticeQuery>) -> Response {
    render(&admin, &op, StatusCode::OK, q.into(), None).await
}

#[derive(Debug, Deserialize)]
pub struct PublishForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    menu: String,
    #[serde(default)]
    note: String,
}

pub async fn publish(Scoped(admin): Scoped, op: Operator, Form(f): Form<PublishForm>) -> Response {
    let submitted = Some((f.menu.clone(), f.note.clone()));
    if let Err(e) = op.check_csrf(&f.csrf) {
        return render(&admin, &op, e.status, Flash::Error(e), submitted).await;
    }
    let note = Some(f.note.trim()).filter(|n| !n.is_empty());
    match admin.publish_menu(&op.actor, &f.menu, note).await {
        Ok(v) => done(&admin, "/menus", &format!("Published as version {}.", v.id)),
        Err(e) => render(&admin, &op, e.status, Flash::Error(e), submitted).await,
    }
}

pub async fn rollback(
    Scoped(admin): Scoped,
    op: Operator,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = op.check_csrf(&f.csrf) {
        return render(&admin, &op, e.status, Flash::Error(e), None).await;
    }
    match admin.rollback_menu(&op.actor, id).await {
        Ok(v) => done(
            &admin,
            "/menus",
            &format!("Rolled back: version {} is current.", v.id),
        ),
        Err(e) => render(&admin, &op, e.status, Flash::Error(e), None).await,
    }
}

pub async fn delete(Scoped(admin): Scoped, op: Operator, Form(f): Form<CsrfForm>) -> Response {
    if let Err(e) = op.check_csrf(&f.csrf) {
        return render(&admin, &op, e.status, Flash::Error(e), None).await;
    }
    match admin.delete_menu(&op.actor).await {
        Ok(()) => done(&admin, "/menus", "The menu was deleted on WeChat."),
        Err(e) => render(&admin, &op, e.status, Flash::Error(e), None).await,
    }
}

#[derive(Template)]
#[template(path = "admin/diff.html")]
struct DiffPage {
    page: Chrome,
    from: i64,
    to: i64,
    /// (class, text) per line: `ins`, `del`, `hunk` or empty.
    lines: Vec<(&'static str, String)>,
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: i64,
    to: i64,
}

/// A unified diff of two versions' pretty-printed JSON.
pub fn diff_lines(old: &str, new: &str) -> Vec<(&'static str, String)> {
    use similar::{ChangeTag, TextDiff};
    let (old, new) = (pretty(old), pretty(new));
    let diff = TextDiff::from_lines(&old, &new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(3) {
        if let (Some(first), Some(last)) = (group.first(), group.last()) {
            let (o, n) = (first.old_range().start, first.new_range().start);
            let (oe, ne) = (last.old_range().end, last.new_range().end);
            out.push((
                "hunk",
                format!("@@ -{},{} +{},{} @@", o + 1, oe - o, n + 1, ne - n),
            ));
        }
        for op in group {
            for change in diff.iter_changes(&op) {
                let (class, sign) = match change.tag() {
                    ChangeTag::Delete => ("del", '-'),
                    ChangeTag::Insert => ("ins", '+'),
                    ChangeTag::Equal => ("", ' '),
                };
                out.push((
                    class,
                    format!("{sign} {}", change.value().trim_end_matches('\n')),
                ));
            }
        }
    }
    out
}

pub async fn diff(Scoped(admin): Scoped, op: Operator, Query(q): Query<DiffQuery>) -> Response {
    let get = |id| {
        let admin = admin.clone();
        async move {
            admin
                .stores
                .menus
                .get(id)
                .await
                .map_err(AdminError::from)?
                .ok_or_else(|| AdminError::not_found(format!("no menu version {id}")))
        }
    };
    let (a, b) = match (get(q.from).await, get(q.to).await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return html(e.status, &error_page(&admin, &op, e)),
    };
    let page = DiffPage {
        page: Chrome::new("Menu diff", "menus", &op, &admin),
        from: a.id,
        to: b.id,
        lines: diff_lines(&a.json, &b.json),
    };
    html(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_diff_marks_what_changed_between_versions() {
        let a = r#"{"button":[{"type":"click","name":"Old","key":"A"}]}"#;
        let b = r#"{"button":[{"type":"click","name":"New","key":"A"}]}"#;
        let lines = super::diff_lines(a, b);
        assert!(
            lines.iter().any(|(c, l)| *c == "del" && l.contains("Old")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(c, l)| *c == "ins" && l.contains("New")),
            "{lines:?}"
        );
        assert!(super::diff_lines(a, a).is_empty());
    }
}
