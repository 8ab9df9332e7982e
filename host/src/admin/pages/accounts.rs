//! `/accounts`: every account served (the configuration file's and the
//! runtime ones), a form that adds a runtime account, and a button that
//! removes one — the same operations as `/api/v1/accounts`, audited the
//! same way. Credentials go in through the form and never come back out:
//! the page shows only whether each is set.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Chrome, CsrfForm, Flash, NoticeQuery, Scoped, done, html};
use crate::account::AccountView;
use crate::admin::Admin;
use crate::admin::auth::Operator;
use crate::config::AccountConfig;

#[derive(Template)]
#[template(path = "admin/accounts.html")]
struct AccountsPage {
    page: Chrome,
    accounts: Vec<AccountView>,
    /// Whether `WXHOST_SECRETS_KEY` is set (runtime accounts possible).
    can_add: bool,
}

async fn render(admin: &Admin, op: &Operator, status: StatusCode, flash: Flash) -> Response {
    let (accounts, flash) = match admin.accounts.views().await {
        Ok(v) => (v, flash),
        Err(e) => (Vec::new(), Flash::Error(e.into())),
    };
    let page = AccountsPage {
        page: Chrome::new("Accounts", "accounts", op, admin).with(flash),
        accounts,
        can_add: admin.accounts.accepts_runtime_accounts(),
    };
    html(status, &page)
}

pub async fn page(Scoped(view): Scoped, op: Operator, Query(q): Query<NoticeQuery>) -> Response {
    render(&view, &op, StatusCode::OK, q.into()).await
}

/// The add form.
#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    name: String,
    app_id: String,
    token: String,
    #[serde(default)]
    encoding_aes_key: String,
    #[serde(default)]
    app_secret: String,
    /// Plugin ids, comma-separated; empty: all.
    #[serde(default)]
    plugins: String,
}

pub async fn add(
    State(admin): State<Arc<Admin>>,
    Scoped(view): Scoped,
    op: Operator,
    Form(f): Form<AddForm>,
) -> Response {
    if let Err(e) = op.check_csrf(&f.csrf) {
        return render(&view, &op, e.status, Flash::Error(e)).await;
    }
    let plugins: Vec<String> = f
        .plugins
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let account = AccountConfig {
        app_id: f.app_id.trim().to_owned(),
        token: f.token.trim().to_owned(),
        encoding_aes_key: f.encoding_aes_key.trim().to_owned(),
        app_secret: f.app_secret.trim().to_owned(),
        plugins: (!plugins.is_empty()).then_some(plugins),
        ..AccountConfig::default()
    };
    let name = f.name.trim().to_owned();
    match admin.put_account(&op.actor, &name, account, false).await {
        Ok(()) => done(
            &view,
            "/accounts",
            &format!("Account {name} added: it serves now."),
        ),
        Err(e) => render(&view, &op, e.status, Flash::Error(e)).await,
    }
}

pub async fn remove(
    State(admin): State<Arc<Admin>>,
    Scoped(view): Scoped,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = op.check_csrf(&f.csrf) {
        return render(&view, &op, e.status, Flash::Error(e)).await;
    }
    match admin.remove_account(&op.actor, &name).await {
        Ok(()) => done(&view, "/accounts", &format!("Account {name} removed.")),
        Err(e) => render(&view, &op, e.status, Flash::Error(e)).await,
    }
}
