//! WeChat OAuth2 web login (网页授权), ready-made:
//!
//! - `GET /oauth/login?next=PATH[&scope=base|userinfo]` stores a login
//!   state and answers 302 to WeChat's authorize page, with the parameters
//!   in the documented order (WeChat refuses others) and `#wechat_redirect`.
//! - `GET /oauth/callback?code=…&state=…` takes the state (single use, 10
//!   minutes), checks it was started by this browser, exchanges the code,
//!   fetches the profile for `snsapi_userinfo`, records the web user, starts
//!   a session and redirects to `next`.
//! - `POST /oauth/logout` ends the session.
//!
//! CSRF: each state is bound to the browser that started the login, by a
//! signed cookie of its own (`wxhost_browser`), compared in constant time;
//! a callback replayed, carried to another browser, or after
//! `web.oauth_state_ttl_secs` (10 minutes) is
//! refused and starts no session. `next` is always a relative path
//! (`next.rs`). WeChat's refusals are pages a person understands (`pages.rs`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::Web;
use super::next::safe_next;
use super::pages::Page;
use super::session::{BROWSER_COOKIE, Session, random_id};
use crate::api::ApiError;
use crate::api::oauth::{CODE_EXPIRED, CODE_USED, INVALID_CODE};
use crate::config::WebLogin;
use crate::store::WebUserLogin;

/// The store realm of login states.
pub const STATE_REALM: &str = "oauth-state";

/// A login in progress.
#[derive(Debug, Serialize, Deserialize)]
struct LoginState {
    /// The `wxhost_browser` value of the browser that started it.
    browser: String,
    next: String,
    scope: WebLogin,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    scope: Option<String>,
}

fn wechat_scope(scope: WebLogin) -> &'static str {
    match scope {
        WebLogin::Userinfo => "snsapi_userinfo",
        _ => "snsapi_base",
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The authorize URL, parameters in exactly WeChat's order.
pub fn authorize_url(
    authorize: &str,
    app_id: &str,
    redirect_uri: &str,
    scope: WebLogin,
    state: &str,
) -> String {
    format!(
        "{authorize}?appid={}&redirect_uri={}&response_type=code&scope={}&state={state}#wechat_redirect",
        encode(app_id),
        encode(redirect_uri),
        wechat_scope(scope),
    )
}

fn found(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut res = (
        StatusCode::FOUND,
        [
            (header::LOCATION, location.to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response();
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// `GET /oauth/login`.
pub async fn login(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    let scope = match q.scope.as_deref() {
        None | Some("") | Some("base") | Some("snsapi_base") => WebLogin::Base,
        Some("userinfo") | Some("snsapi_userinfo") => WebLogin::Userinfo,
        Some(_) => {
            return Page::new(
                StatusCode::BAD_REQUEST,
                "无效的登录请求 / Invalid login request",
                "scope must be base or userinfo.",
            )
            .into_response();
        }
    };
    if web.wechat.is_none() {
        return not_configured();
    }
    // One browser id per browser: two logins in two tabs both stay valid.
    let (browser, cookie) = match web.sessions.signed_value(&headers, BROWSER_COOKIE) {
        Some(b) if b.len() == 32 => (b, None),
        _ => {
            let b = random_id();
            let c = web
                .sessions
                .signed_cookie(BROWSER_COOKIE, b.clone(), "/oauth", web.state_ttl);
            (b, Some(c))
        }
    };
    let state = random_id();
    let record = LoginState {
        browser,
        next,
        scope,
    };
    let bytes = serde_json::to_vec(&record).expect("a login state serializes");
    if let Err(e) = web
        .store
        .put(STATE_REALM, &state, &bytes, web.state_ttl)
        .await
    {
        tracing::warn!(error = %e, "could not store an OAuth state");
        return Page::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "暂时无法登录 / Login is unavailable",
            "Please try again in a moment.",
        )
        .into_response();
    }
    let redirect_uri = format!("{}/oauth/callback", web.origin);
    let url = authorize_url(
        &web.authorize_url,
        &web.app_id,
        &redirect_uri,
        scope,
        &state,
    );
    found(&url, cookie)
}

fn not_configured() -> Response {
    Page::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "暂未开放登录 / Login is not available",
        "This server has no WeChat API credentials (wechat.app_secret), so it cannot log you in.",
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

/// `GET /oauth/callback`.
pub async fn callback(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match finish(&web, &headers, q).await {
        Ok(r) | Err(r) => r,
    }
}

async fn finish(web: &Web, headers: &HeaderMap, q: CallbackQuery) -> Result<Response, Response> {
    let expired = || {
        Page::new(
            StatusCode::BAD_REQUEST,
            "登录链接已失效 / This login link has expired",
            "It was used already, or is more than 10 minutes old. Please start again.",
        )
        .retry_login("/")
        .into_response()
    };
    let Some(wechat) = &web.wechat else {
        return Err(not_configured());
    };
    let state = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(expired)?;
    // Taken, not read: whatever happens next, this state is spent.
    let record = match web.store.take(STATE_REALM, state).await {
        Ok(Some(bytes)) => serde_json::from_slice::<LoginState>(&bytes).map_err(|_| expired())?,
        Ok(None) => return Err(expired()),
        Err(e) => {
            tracing::warn!(error = %e, "could not read an OAuth state");
            return Err(Page::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "暂时无法登录 / Login is unavailable",
                "Please try again in a moment.",
            )
            .into_response());
        }
    };
    let browser = web
        .sessions
        .signed_value(headers, BROWSER_COOKIE)
        .unwrap_or_default();
    if !bool::from(browser.as_bytes().ct_eq(record.browser.as_bytes())) {
        tracing::info!("OAuth callback refused: its state was started in another browser");
        return Err(Page::new(
            StatusCode::FORBIDDEN,
            "请在同一浏览器中登录 / Please log in from the same browser",
            "This login was started in another browser (or its cookie was lost). Start again here.",
        )
        .retry_login(&record.next)
        .into_response());
    }
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 512)
    else {
        // WeChat sends the user back without a code when they refuse.
        return Err(Page::new(
            StatusCode::FORBIDDEN,
            "未授权 / Not authorised",
            "You did not allow the login. The page needs it to know who you are.",
        )
        .retry_login(&record.next)
        .into_response());
    };
    let grant = wechat.oauth_exchange(code).await.map_err(|e| {
        let (status, title, message) = match &e {
            ApiError::Wechat {
                code: INVALID_CODE, ..
            } => (
                StatusCode::BAD_REQUEST,
                "登录失败 / Login failed",
                "WeChat did not recognise this login (invalid code, 40029). Please start again.",
            ),
            ApiError::Wechat {
                code: CODE_USED, ..
            } => (
                StatusCode::BAD_REQUEST,
                "登录链接已使用 / This login was already used",
                "Each WeChat login can be used once (40163). Please start again.",
            ),
            ApiError::Wechat {
                code: CODE_EXPIRED, ..
            } => (
                StatusCode::BAD_REQUEST,
                "登录已过期 / This login has expired",
                "WeChat logins must be completed within 5 minutes (42003). Please start again.",
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "微信暂时无法登录 / WeChat could not log you in",
                "WeChat did not complete the login. Please try again in a moment.",
            ),
        };
        tracing::info!(error = %e, "OAuth code exchange failed");
        Page::new(status, title, message)
            .retry_login(&record.next)
            .into_response()
    })?;
    let scope = match grant.scope.as_str() {
        "snsapi_userinfo" => WebLogin::Userinfo,
        _ => WebLogin::Base,
    };
    let mut login = WebUserLogin {
        openid: grant.openid.clone(),
        unionid: grant.unionid.clone(),
        nickname: None,
        avatar_url: None,
        scope: grant.scope.clone(),
        snapshot: grant.snapshot,
    };
    // A snapshot user's userinfo call fails (its openid is virtual).
    if scope == WebLogin::Userinfo && !grant.snapshot {
        match wechat.sns_userinfo(&grant).await {
            Ok(info) => {
                login.nickname = info.nickname;
                login.avatar_url = info.avatar_url;
                login.unionid = info.unionid.or(login.unionid);
            }
            Err(e) => {
                tracing::warn!(error = %e, "sns/userinfo failed; logging in without the profile")
            }
        }
    }
    if let Err(e) = web
        .users
        .record_login(&login, crate::store::now_secs())
        .await
    {
        tracing::warn!(error = %e, "could not record the web user");
    }
    let session = Session {
        openid: login.openid,
        unionid: login.unionid,
        scope,
        snapshot: grant.snapshot,
        created_at: crate::unix_now(),
    };
    let cookie = web.sessions.start(&session).await.map_err(|e| {
        tracing::warn!(error = %e, "could not store a web session");
        Page::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "暂时无法登录 / Login is unavailable",
            "Please try again in a moment.",
        )
        .into_response()
    })?;
    tracing::info!(
        scope = scope.as_str(),
        snapshot = session.snapshot,
        "web login"
    );
    let mut res = found(&record.next, Some(cookie));
    res.headers_mut().append(
        header::SET_COOKIE,
        web.sessions.removal(BROWSER_COOKIE, "/oauth"),
    );
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct LogoutQuery {
    next: Option<String>,
}

/// `POST /oauth/logout[?next=PATH]`: 303 to `next` (default `/`).
pub async fn logout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<LogoutQuery>,
) -> Response {
    let cleared = web.sessions.end(&headers).await;
    let next = safe_next(q.next.as_deref());
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    res.headers_mut().append(header::SET_COOKIE, cleared);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_has_wechats_parameter_order_and_an_encoded_redirect() {
        let url = authorize_url(
            "https://open.weixin.qq.com/connect/oauth2/authorize",
            "wx123",
            "https://wx.example.com/oauth/callback",
            WebLogin::Userinfo,
            "abc123",
        );
        assert_eq!(
            url,
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx123&redirect_uri=https%3A%2F%2Fwx.example.com%2Foauth%2Fcallback&response_type=code&scope=snsapi_userinfo&state=abc123#wechat_redirect"
        );
    }
}
