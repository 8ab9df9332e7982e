//! `/app/<plugin-id>/…`: pages served by plugins that export
//! `wasi:http/incoming-handler`. The plugin sees the full path, and an
//! absolute URI on the public origin (so it can sign its own page URL).
//!
//! Login: a plugin's `[plugin.<id>.web] login` ("none", "base",
//! "userinfo"); without one its pages are not served (404). A visitor
//! without a session, or with a weaker scope, is sent through
//! `/oauth/login` and back to the page (GET and HEAD; other methods get
//! 401).
//!
//! Isolation: every page goes out with the plugin's
//! `Content-Security-Policy` (a `sandbox` by default, see
//! [`crate::config::DEFAULT_PAGE_CSP`]), so one plugin's script runs in an
//! opaque origin and cannot drive another plugin's pages, or
//! `/oauth/logout`, with the visitor's cookies. Operators who relax it and
//! need full isolation serve each plugin on its own origin (host name).
//!
//! Identity: the host alone sets `x-wxhost-openid`, `x-wxhost-unionid`,
//! `x-wxhost-scope` and `x-wxhost-snapshot` (`1` for a snapshot-page
//! virtual user). Every `x-wxhost-*` header a client sent is removed first,
//! and so are wxhost's own cookies, however spelt (a session id is a
//! secret): a plugin believes only the host. A plugin cannot set wxhost's
//! cookies either (`host_cookies.rs`).
//!
//! Failures are pages: a trap 500, a timeout 504, no free instance 503;
//! the host, and every other page and push, go on.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::Web;
use super::host_cookies::{foreign_cookies, plugin_may_set};
use super::pages::Page;
use super::session::Session;
use crate::config::WebLogin;
use crate::plugin::PluginError;

/// Headers only the host sets.
pub const IDENTITY_PREFIX: &str = "x-wxhost-";
pub const OPENID: &str = "x-wxhost-openid";
pub const UNIONID: &str = "x-wxhost-unionid";
pub const SCOPE: &str = "x-wxhost-scope";
pub const SNAPSHOT: &str = "x-wxhost-snapshot";

/// `GET /app/<id>`: the app lives at `/app/<id>/`.
pub async fn slash(uri: Uri) -> Redirect {
    let mut to = format!("{}/", uri.path());
    if let Some(q) = uri.query() {
        to.push('?');
        to.push_str(q);
    }
    Redirect::permanent(&to)
}

fn not_found() -> Response {
    Page::new(
        StatusCode::NOT_FOUND,
        "页面不存在 / Page not found",
        "There is no such page on this server.",
    )
    .into_response()
}

/// `ANY /app/<id>/…`.
pub async fn serve(State(web): State<Arc<Web>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let Some(id) = path
        .strip_prefix("/app/")
        .and_then(|rest| rest.split('/').next())
    else {
        return not_found();
    };
    if let Some(rate) = &web.page_rate {
        let client = crate::http::rate::client_ip(&parts);
        if let Err(wait) = rate.take(client, std::time::Instant::now()) {
            let mut res = Page::new(
                StatusCode::TOO_MANY_REQUESTS,
                "请求过于频繁 / Too many requests",
                "Please wait a moment and try again.",
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    }
    let Some(plugin) = web.runtime.get(id).filter(|p| p.serves_web()) else {
        return not_found();
    };
    // Private unless configured: said at load (and upload) too.
    let Some(settings) = web.pages_of(id) else {
        tracing::debug!(plugin = %id, "page refused: no [plugin.{id}.web] login configured");
        return not_found();
    };
    let site = web.sites.for_request(&parts);
    // An account whose `plugins = [...]` leaves the plugin out has no such page.
    if !site.account.plugins.serves(id) {
        return not_found();
    }
    let session = site.sessions.current(&parts.headers).await;
    let required = settings.login;
    let has = session.as_ref().map_or(WebLogin::None, |s| s.scope);
    if has < required {
        let here = parts.uri.path_and_query().map_or(path, |pq| pq.as_str());
        if parts.method == Method::GET || parts.method == Method::HEAD {
            let login = format!(
                "/oauth/login?next={}&scope={}",
                url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>(),
                required.as_str()
            );
            return (
                StatusCode::FOUND,
                [
                    (header::LOCATION, login),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
            )
                .into_response();
        }
        return Page::new(
            StatusCode::UNAUTHORIZED,
            "请先登录 / Please log in",
            "This page needs you to be logged in with WeChat.",
        )
        .retry_login(&format!("/app/{id}/"))
        .into_response();
    }
    // The server read the body whole (within its limits) before routing.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            return Page::new(
                StatusCode::BAD_REQUEST,
                "请求不完整 / Incomplete request",
                "The request body did not arrive whole.",
            )
            .into_response();
        }
    };
    let request = match plugin_request(
        site.origin(),
        parts.method,
        &parts.uri,
        &parts.headers,
        session.as_ref(),
        body,
    ) {
        Some(r) => r,
        None => {
            return Page::new(
                StatusCode::BAD_REQUEST,
                "无效的请求 / Invalid request",
                "The address of this request is not valid.",
            )
            .into_response();
        }
    };
    let (result, _report) = plugin
        .serve_web(&site.account.plugins, request, web.max_response_bytes)
        .await;
    match result {
        Ok(response) => plugin_response(response, id, settings.csp.as_ref()),
        Err(e) => error_page(&e),
    }
}

/// The request as the plugin gets it: an absolute URI on the public
/// origin, the client's headers less `x-wxhost-*` and wxhost's cookies,
/// plus the identity headers.
fn plugin_request(
    origin: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    session: Option<&Session>,
    body: Bytes,
) -> Option<http::Request<Bytes>> {
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let absolute: Uri = format!("{origin}{pq}").parse().ok()?;
    let mut builder = http::Request::builder().method(method).uri(absolute);
    let out = builder.headers_mut()?;
    for (name, value) in headers {
        if name.as_str().starts_with(IDENTITY_PREFIX) || name == header::COOKIE {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(cookies) = foreign_cookies(headers) {
        out.insert(header::COOKIE, cookies);
    }
    if let Some(s) = session {
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                out.insert(HeaderName::from_static(name), v);
            }
        };
        set(OPENID, &s.openid);
        if let Some(u) = &s.unionid {
            set(UNIONID, u);
        }
        set(SCOPE, s.scope.as_str());
        set(SNAPSHOT, if s.snapshot { "1" } else { "0" });
    }
    builder.body(body).ok()
}

/// The plugin's response, less any `Set-Cookie` that could be taken for
/// one of the host's (see `host_cookies.rs`), with the page's
/// `Content-Security-Policy` (`csp`) added to any the plugin sent: the
/// browser enforces every policy, so a plugin can only tighten it.
fn plugin_response(
    response: http::Response<Bytes>,
    id: &str,
    csp: Option<&HeaderValue>,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let cookies: Vec<HeaderValue> = parts
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if !cookies.is_empty() {
        parts.headers.remove(header::SET_COOKIE);
        for c in cookies {
            if plugin_may_set(&c) {
                parts.headers.append(header::SET_COOKIE, c);
            } else {
                tracing::warn!(plugin = %id, "dropped a Set-Cookie from a plugin page: no name, not visible ASCII, or a name of the host's");
            }
        }
    }
    if let Some(csp) = csp {
        parts
            .headers
            .append(header::CONTENT_SECURITY_POLICY, csp.clone());
    }
    Response::from_parts(parts, Body::from(body))
}

fn error_page(e: &PluginError) -> Response {
    match e {
        PluginError::Timeout { .. } => Page::new(
            StatusCode::GATEWAY_TIMEOUT,
            "页面响应超时 / The page took too long",
            "Please try again in a moment.",
        ),
        PluginError::Shed { .. } => Page::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "服务繁忙 / The server is busy",
            "Please try again in a moment.",
        ),
        _ => Page::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "页面出错了 / This page failed",
            "Something went wrong on our side. Please try again later.",
        ),
    }
    .into_response()
}
