//! Logging in and out: the password form (with its pre-session CSRF
//! token and the per-client limit on failures), the one-time link
//! (`/login?token=`), and logout.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, CsrfForm, html};
use crate::admin::Admin;
use crate::admin::auth::{
    ClientIp, LOGIN_COOKIE, Operator, SESSION_COOKIE, cookie, expired_cookie, login_cookie,
    random_token, tokens_match,
};
use crate::admin::error::AdminError;

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    page: Chrome,
    has_password: bool,
    login_csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

fn login_page(admin: &Admin, status: StatusCode, error: Option<String>) -> Response {
    let login_csrf = random_token();
    let page = LoginPage {
        page: Chrome {
            title: "Log in",
            nav: "",
            signed_in: false,
            csrf: String::new(),
            notice: None,
            error,
            problems: Vec::new(),
            account: String::new(),
            accounts: Vec::new(),
            q: String::new(),
            amp: String::new(),
        },
        has_password: admin.auth.has_password(),
        login_csrf: login_csrf.clone(),
    };
    let mut res = html(status, &page);
    if let Ok(v) = login_cookie(&login_csrf).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Signed in: a new session cookie, on to the overview.
async fn signed_in(admin: &Admin, how: &str) -> Response {
    match admin.auth.open_session(how).await {
        Ok(token) => {
            let mut res = Redirect::to("/").into_response();
            for c in [
                admin.auth.session_cookie(&token),
                expired_cookie(LOGIN_COOKIE),
            ] {
                if let Ok(v) = c.parse() {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Err(e) => AdminError::from(e).into_response(),
    }
}

/// `GET /login`, or `GET /login?token=` with the one-time link.
pub async fn page(
    State(admin): State<Arc<Admin>>,
    ClientIp(ip): ClientIp,
    Query(q): Query<LinkQuery>,
) -> Response {
    let Some(token) = q.token else {
        return login_page(&admin, StatusCode::OK, None);
    };
    let attempt = match admin.auth.limit.attempt(ip, Instant::now()) {
        Ok(a) => a,
        Err(wait) => return too_many(&admin, wait),
    };
    match admin.auth.redeem_link(&token).await {
        Ok(true) => {
            attempt.succeeded();
            admin
                .audit(&format!("admin@{ip}"), "login", "one-time link")
                .await;
            signed_in(&admin, "link").await
        }
        Ok(false) => {
            attempt.failed();
            login_page(
                &admin,
                StatusCode::UNAUTHORIZED,
                Some("This login link was already used or has expired: restart wxhost serve for a new one, or set a password.".into()),
            )
        }
        Err(e) => {
            // The store's failure, not the client's: no charge.
            attempt.succeeded();
            AdminError::from(e).into_response()
        }
    }
}

fn too_many(admin: &Admin, wait: std::time::Duration) -> Response {
    let mut res = login_page(
        admin,
        StatusCode::TOO_MANY_REQUESTS,
        Some(format!(
            "Too many failed logins from your address: try again in {} s.",
            wait.as_secs().max(1)
        )),
    );
    if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`.
pub async fn submit(
    State(admin): State<Arc<Admin>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !tokens_match(&expected, &form.csrf) {
        return login_page(
            &admin,
            StatusCode::FORBIDDEN,
            Some("The login form expired (CSRF check): try again.".into()),
        );
    }
    // Charged before the password is looked at (see `login_limit.rs`).
    let attempt = match admin.auth.limit.attempt(ip, Instant::now()) {
        Ok(a) => a,
        Err(wait) => return too_many(&admin, wait),
    };
    let turn = attempt.check_turn().await;
    let correct = admin.auth.check_password(&form.password, turn).await;
    if correct {
        attempt.succeeded();
        admin
            .audit(&format!("admin@{ip}"), "login", "password")
            .await;
        return signed_in(&admin, "password").await;
    }
    attempt.failed();
    tracing::info!(client = %ip, "admin login refused: wrong password");
    login_page(
        &admin,
        StatusCode::UNAUTHORIZED,
        Some("Wrong password.".into()),
    )
}

/// `POST /logout`.
pub async fn logout(
    State(admin): State<Arc<Admin>>,
    op: Operator,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = op.check_csrf(&form.csrf) {
        return (e.status, e.message).into_response();
    }
    if let Err(e) = admin.auth.close_session(&op.token).await {
        return AdminError::from(e).into_response();
    }
    admin.audit(&op.actor, "logout", "session ended").await;
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = expired_cookie(SESSION_COOKIE).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
