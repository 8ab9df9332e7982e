//! WeChat OAuth2 web login (网页授权), ready-made:
//!
//! - `GET /oauth/login?next=PATH[&scope=base|userinfo]` answers 302 to
//!   WeChat's authorize page, with the parameters in the documented order
//!   (WeChat refuses others) and `#wechat_redirect`. It writes nothing to
//!   the store: the login in progress (`next`, scope, expiry) travels in a
//!   signed host cookie of its own, `wxhost_login_<state>` on `/oauth`
//!   (`host_cookies.rs`), so an anonymous flood of logins costs the store
//!   nothing.
//! - `GET /oauth/callback?code=…&state=…` reads that cookie (so only the
//!   browser that started the login can finish it), spends the state (a
//!   small marker in the store, until the state would have expired: a
//!   callback is finished once), exchanges the code, fetches the profile
//!   for `snsapi_userinfo`, records the web user, starts a session and
//!   redirects to `next`. Callbacks that reach WeChat are rate-limited per
//!   client (`web.oauth_callbacks_per_client_per_min`): a junk `code`
//!   costs an API call.
//! - `POST /oauth/logout` ends the session.
//!
//! CSRF: a callback without its login cookie (carried to another browser,
//! replayed after success), after `web.oauth_state_ttl_secs` (10 minutes)
//! or already spent is refused and starts no session. `next` is always a
//! relative path (`next.rs`). WeChat's refusals are pages a person
//! understands (`pages.rs`).

use std::sync::Arc;

use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::Web;
use super::next::safe_next;
use super::pages::Page;
use super::session::{Session, random_id};
use super::site::{CurrentSite, Site};
use crate::api::ApiError;
use crate::api::oauth::{CODE_EXPIRED, CODE_USED, INVALID_CODE};
use crate::config::WebLogin;
use crate::http::rate::ClientIp;
use crate::store::WebUserLogin;

/// The store realm of spent login states.
pub const STATE_REALM: &str = "oauth-state";
/// The login cookie's name, before its state.
pub const LOGIN_COOKIE_PREFIX: &str = "wxhost_login_";
/// Where the login cookie is sent.
const LOGIN_PATH: &str = "/oauth";

/// A login in progress, in its cookie.
#[derive(Debug, Serialize, Deserialize)]
struct LoginState {
    next: String,
    scope: WebLogin,
    /// Unix milliseconds: whole seconds would let a state expire up to a
    /// second early (a 1 s TTL issued at x.9 s was dead at x+1.0 s).
    expires_ms: i64,
}

fn login_cookie(state: &str) -> String {
    format!("{LOGIN_COOKIE_PREFIX}{state}")
}

/// A state as issued: 128 bits, lowercase hex.
fn valid_state(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
    CurrentSite(site): CurrentSite,
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
    if site.account.wechat.is_none() {
        return not_configured();
    }
    let state = random_id();
    let record = LoginState {
        next,
        scope,
        expires_ms: crate::store::now_millis()
            + i64::try_from(web.state_ttl.as_millis()).unwrap_or(i64::MAX / 2),
    };
    let json = serde_json::to_vec(&record).expect("a login state serializes");
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let cookie =
        site.sessions
            .cookies()
            .set(&login_cookie(&state), &value, LOGIN_PATH, web.state_ttl);
    let redirect_uri = format!("{}/oauth/callback", site.origin());
    let url = authorize_url(
        &web.authorize_url,
        &site.account.app_id,
        &redirect_uri,
        scope,
        &state,
    );
    found(&url, Some(cookie))
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
    CurrentSite(site): CurrentSite,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match finish(&web, &site, client, &headers, q).await {
        Ok(r) | Err(r) => r,
    }
}

/// The login `state` started in this browser, from its cookie: `None` if
/// the browser has none (or a forged one).
fn login_state(site: &Site, headers: &HeaderMap, state: &str) -> Option<LoginState> {
    let value = site
        .sessions
        .cookies()
        .get(headers, &login_cookie(state), LOGIN_PATH)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

async fn finish(
    web: &Web,
    site: &Site,
    client: std::net::IpAddr,
    headers: &HeaderMap,
    q: CallbackQuery,
) -> Result<Response, Response> {
    let expired = || {
        Page::new(
            StatusCode::BAD_REQUEST,
            "登录链接已失效 / This login link has expired",
            "It was used already, or is more than 10 minutes old. Please start again.",
        )
        .retry_login("/")
        .into_response()
    };
    let Some(wechat) = &site.account.wechat else {
        return Err(not_configured());
    };
    let state = q
        .state
        .as_deref()
        .filter(|s| valid_state(s))
        .ok_or_else(expired)?;
    let Some(record) = login_state(site, headers, state) else {
        tracing::info!("OAuth callback refused: no login cookie for its state in this browser");
        return Err(Page::new(
            StatusCode::FORBIDDEN,
            "请在同一浏览器中登录 / Please log in from the same browser",
            "This login was started in another browser, was already used, or its cookie was lost. Start again here.",
        )
        .retry_login("/")
        .into_response());
    };
    if record.expires_ms <= crate::store::now_millis() {
        return Err(expired());
    }
    // Past here a callback costs a store write and an API call.
    if let Some(Err(wait)) = web
        .callback_rate
        .as_ref()
        .map(|r| r.take(client, Instant::now()))
    {
        tracing::info!(client = %client, "OAuth callback refused: too many from this client");
        let mut res = Page::new(
            StatusCode::TOO_MANY_REQUESTS,
            "登录过于频繁 / Too many logins",
            "Please wait a moment and try again.",
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Err(res);
    }
    // Spent, whatever happens next.
    match site
        .account
        .stores
        .sessions
        .claim(STATE_REALM, state, web.state_ttl)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(expired()),
        Err(e) => {
            tracing::warn!(error = %e, "could not spend an OAuth state");
            return Err(Page::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "暂时无法登录 / Login is unavailable",
                "Please try again in a moment.",
            )
            .into_response());
        }
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
    if let Err(e) = site
        .account
        .stores
        .web_users
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
    let cookie = site.sessions.start(&session).await.map_err(|e| {
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
        site.sessions
            .cookies()
            .removal(&login_cookie(state), LOGIN_PATH),
    );
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct LogoutQuery {
    next: Option<String>,
}

/// `POST /oauth/logout[?next=PATH]`: 303 to `next` (default `/`).
pub async fn logout(
    CurrentSite(site): CurrentSite,
    headers: HeaderMap,
    Query(q): Query<LogoutQuery>,
) -> Response {
    let cleared = site.sessions.end(&headers).await;
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
