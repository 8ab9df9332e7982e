//! The plugins page: every plugin with its version, sha, generation,
//! priority, kinds, limits, capabilities, calls and failures by class and
//! its last error and its source (store or directory); enable/disable;
//! upload (published to the store); rollback of a published plugin.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Chrome, CsrfForm, Flash, NoticeQuery, Scoped, done, html, when};
use crate::admin::Admin;
use crate::admin::auth::Operator;
use crate::admin::error::AdminError;
use crate::admin::ops::PluginView;

struct Row {
    id: String,
    serving: bool,
    /// `store`, `directory`, or empty when not serving.
    source: &'static str,
    can_enable: bool,
    disabled_by: &'static str,
    name: String,
    version: String,
    sha256: String,
    sha_short: String,
    generation: u64,
    priority: String,
    kinds: Vec<&'static str>,
    limits: String,
    capabilities: Vec<&'static str>,
    calls: u64,
    failed: u64,
    failures: String,
    last_error: Option<String>,
    last_error_at: String,
}

impl From<PluginView> for Row {
    fn from(p: PluginView) -> Row {
        let sha = p.sha256.unwrap_or_default();
        Row {
            serving: p.state == "serving",
            source: p.source.unwrap_or(""),
            can_enable: matches!(p.disabled_by, Some("console" | "account")),
            disabled_by: p.disabled_by.unwrap_or(""),
            name: p.name.unwrap_or_default(),
            version: p.version.unwrap_or_default(),
            sha_short: sha.chars().take(12).collect(),
            sha256: sha,
            generation: p.generation,
            priority: p.priority.map(|v| v.to_string()).unwrap_or_default(),
            kinds: p.kinds,
            limits: match (p.memory_mib, p.timeout_ms) {
                (Some(m), Some(t)) => format!("{m} MiB, {t} ms"),
                _ => String::new(),
            },
            capabilities: p.capabilities,
            calls: p.calls,
            failed: p.failed,
            failures: p
                .failures
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            last_error: p.last_error,
            last_error_at: p.last_error_at.map(|t| when(t as i64)).unwrap_or_default(),
            id: p.id,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/plugins.html")]
struct PluginsPage {
    page: Chrome,
    plugins: Vec<Row>,
}

fn render(admin: &Admin, op: &Operator, status: StatusCode, flash: Flash) -> Response {
    let page = PluginsPage {
        page: Chrome::new("Plugins", "plugins", op, admin).with(flash),
        plugins: admin.plugin_views().into_iter().map(Row::from).collect(),
    };
    html(status, &page)
}

pub async fn page(Scoped(view): Scoped, op: Operator, Query(q): Query<NoticeQuery>) -> Response {
    render(&view, &op, StatusCode::OK, q.into())
}

fn refused(admin: &Admin, op: &Operator, e: AdminError) -> Response {
    render(admin, op, e.status, Flash::Error(e))
}

/// `POST /plugins/upload` (multipart: `csrf`, `id`, `file`).
pub async fn upload(
    State(admin): State<Arc<Admin>>,
    Scoped(view): Scoped,
    op: Operator,
    multipart: Multipart,
) -> Response {
    let (csrf, id, file) = match read_upload(multipart).await {
        Ok(parts) => parts,
        Err(e) => return refused(&view, &op, e),
    };
    if let Err(e) = op.check_csrf(&csrf) {
        return refused(&view, &op, e);
    }
    let Some((file_name, bytes)) = file else {
        return refused(&view, &op, AdminError::bad_request("choose a .wasm file"));
    };
    let id = match id.filter(|i| !i.trim().is_empty()) {
        Some(id) => id.trim().to_owned(),
        None => file_name
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".wasm")
            .to_owned(),
    };
    match admin.upload_plugin(&op.actor, &id, bytes).await {
        Ok(p) => done(
            &view,
            "/plugins",
            &format!(
                "Plugin {} {} {} published: serving here, and on every instance within seconds.{}",
                p.id,
                p.name.unwrap_or_default(),
                p.version.unwrap_or_default(),
                // Said at upload: a page plugin under a new id is private.
                p.pages
                    .map(|pages| format!(" Its pages: {pages}."))
                    .unwrap_or_default()
            ),
        ),
        Err(e) => {
            let e = AdminError {
                message: format!("Upload of {id}.wasm refused: {}", e.message),
                ..e
            };
            refused(&view, &op, e)
        }
    }
}

type Upload = (String, Option<String>, Option<(String, Vec<u8>)>);

async fn read_upload(mut multipart: Multipart) -> Result<Upload, AdminError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        AdminError::new(e.status(), format!("upload: {}", e.body_text()))
    };
    let (mut csrf, mut id, mut file) = (String::new(), None, None);
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(bad)?,
            Some("id") => id = Some(field.text().await.map_err(bad)?),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_owned();
                let bytes = field.bytes().await.map_err(bad)?;
                if !bytes.is_empty() {
                    file = Some((name, bytes.to_vec()));
                }
            }
            _ => {}
        }
    }
    Ok((csrf, id, file))
}

async fn switch(view: Arc<Admin>, op: Operator, id: String, csrf: String, on: bool) -> Response {
    if let Err(e) = op.check_csrf(&csrf) {
        return refused(&view, &op, e);
    }
    // The page's account: on another account's page, for it alone.
    match view.switch_plugin(&op.actor, &id, on).await {
        Ok(()) if on => done(&view, "/plugins", &format!("Plugin {id} enabled.")),
        Ok(()) => done(
            &view,
            "/plugins",
            &format!("Plugin {id} disabled: it no longer serves."),
        ),
        Err(e) => refused(&view, &op, e),
    }
}

/// `POST /plugins/<id>/rollback`: the version before the current one,
/// published again.
pub async fn rollback(
    State(admin): State<Arc<Admin>>,
    Scoped(view): Scoped,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = op.check_csrf(&f.csrf) {
        return refused(&view, &op, e);
    }
    match admin.rollback_plugin(&op.actor, &id, None).await {
        Ok(m) => done(
            &view,
            "/plugins",
            &format!(
                "Plugin {id} rolled back to {} (sha256 {}) on every instance.",
                m.version,
                &m.digest[..12]
            ),
        ),
        Err(e) => refused(&view, &op, e),
    }
}

pub async fn enable(
    Scoped(view): Scoped,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    switch(view, op, id, f.csrf, true).await.into_response()
}

pub async fn disable(
    Scoped(view): Scoped,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    switch(view, op, id, f.csrf, false).await
}
