//! Who may use the console and the API, and how they prove it.
//!
//! - The password: `WXHOST_ADMIN_PASSWORD` (compared as SHA-256 digests in
//!   constant time, so neither its content nor its length leaks through
//!   timing) or `admin.password_hash`, an argon2 PHC string (verified on
//!   the blocking pool; argon2's own comparison is constant time).
//! - With neither, a one-time login link ([`Auth::issue_link`]): its token
//!   is single-use (taken from the store atomically) and expires after
//!   [`LINK_TTL`]; `serve` logs it once at start. Only the last one issued
//!   works, and none once a password is set.
//! - Sessions: 256 random bits in an `HttpOnly`, `SameSite=Strict` cookie;
//!   the store keeps only the token's SHA-256 (realm `admin-session`), so a
//!   copy of the database logs nobody in. Each session has its own CSRF
//!   token, which every form POST must carry ([`Operator::check_csrf`]);
//!   the login form has a pre-session one (a cookie and a field that must
//!   match). No signed cookie: the value is a random key looked up in the
//!   store, so a signature would add nothing.
//! - The API: `Authorization: Bearer <admin.api_token>`, compared as
//!   digests in constant time ([`ApiCaller`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Admin;
use super::error::AdminError;
use super::login_limit::LoginLimit;
use crate::config::AdminConfig;
pub use crate::http::rate::{ClientIp, client_ip};
use crate::store::{SessionStore, StoreError};

pub const SESSION_COOKIE: &str = "wxhost_admin";
/// The login form's pre-session CSRF token.
pub const LOGIN_COOKIE: &str = "wxhost_admin_login";
const SESSION_REALM: &str = "admin-session";
const LINK_REALM: &str = "admin-login-link";
/// The one pending link, stored under a fixed id (its value: the token's
/// digest) so that issuing a new one, or setting a password, ends it.
/// (Links of earlier releases, stored under their digest, are never read.)
const LINK_ID: &str = "pending";
/// How long the one-time login link works.
pub const LINK_TTL: Duration = Duration::from_secs(3600);

enum Password {
    /// SHA-256 of `WXHOST_ADMIN_PASSWORD`.
    Plain([u8; 32]),
    /// An argon2 PHC string.
    Hash(String),
    /// Only the one-time link logs in.
    None,
}

/// What the store keeps per session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub csrf: String,
    /// `password` or `link`.
    pub how: String,
    /// Unix seconds.
    pub since: u64,
}

pub struct Auth {
    password: Password,
    api_token: Option<[u8; 32]>,
    sessions: Arc<dyn SessionStore>,
    ttl: Duration,
    pub limit: LoginLimit,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The name a session or link is stored under: its token's digest.
fn stored_id(token: &str) -> String {
    hex::encode(digest(token))
}

/// Constant-time equality of two tokens (their digests: no length leak).
pub fn tokens_match(expected: &str, given: &str) -> bool {
    digest(expected).ct_eq(&digest(given)).into()
}

impl Auth {
    pub fn new(config: &AdminConfig, sessions: Arc<dyn SessionStore>) -> Auth {
        // The hash wins when both are set: it is the deliberate, durable one.
        let password = match (&config.password_hash, &config.password) {
            (Some(h), _) => Password::Hash(h.clone()),
            (None, Some(p)) => Password::Plain(digest(p)),
            (None, None) => Password::None,
        };
        Auth {
            password,
            api_token: config.api_token.as_deref().map(digest),
            sessions,
            ttl: Duration::from_secs(config.session_ttl_secs),
            limit: LoginLimit::default(),
        }
    }

    /// Whether a password (or its hash) is configured.
    pub fn has_password(&self) -> bool {
        !matches!(self.password, Password::None)
    }

    /// Whether the API is usable (a token is configured).
    pub fn has_api_token(&self) -> bool {
        self.api_token.is_some()
    }

    /// Whether `given` is the password; `turn` (a
    /// [`LoginLimit`](super::login_limit::LoginLimit) check turn) is held
    /// until the verification ends, even if the caller stops waiting.
    pub async fn check_password(
        &self,
        given: &str,
        turn: tokio::sync::OwnedSemaphorePermit,
    ) -> bool {
        match &self.password {
            Password::Plain(expected) => digest(given).ct_eq(expected).into(),
            Password::Hash(phc) => {
                let (phc, given) = (phc.clone(), given.to_owned());
                tokio::task::spawn_blocking(move || {
                    let _turn = turn;
                    use argon2::PasswordVerifier as _;
                    argon2::PasswordHash::new(&phc).is_ok_and(|h| {
                        argon2::Argon2::default()
                            .verify_password(given.as_bytes(), &h)
                            .is_ok()
                    })
                })
                .await
                .unwrap_or(false)
            }
            Password::None => false,
        }
    }

    /// `Authorization: Bearer <token>` matching `admin.api_token`.
    pub fn check_bearer(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.api_token else {
            return false;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        !given.is_empty() && bool::from(digest(given.trim()).ct_eq(expected))
    }

    /// A new session; returns its cookie token.
    pub async fn open_session(&self, how: &str) -> Result<String, StoreError> {
        let token = random_token();
        let session = Session {
            csrf: random_token(),
            how: how.to_owned(),
            since: crate::unix_now(),
        };
        let value = serde_json::to_vec(&session).unwrap_or_default();
        self.sessions
            .put(SESSION_REALM, &stored_id(&token), &value, self.ttl)
            .await?;
        Ok(token)
    }

    pub async fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let value = self.sessions.get(SESSION_REALM, &stored_id(token)).await?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    pub async fn close_session(&self, token: &str) -> Result<(), StoreError> {
        self.sessions.delete(SESSION_REALM, &stored_id(token)).await
    }

    /// A one-time login token, when no password is configured. The one
    /// pending link is replaced (or, with a password, deleted): a link
    /// logged by an earlier start dies with this one.
    pub async fn issue_link(&self) -> Result<Option<String>, StoreError> {
        if self.has_password() {
            self.sessions.delete(LINK_REALM, LINK_ID).await?;
            return Ok(None);
        }
        let token = random_token();
        self.sessions
            .put(LINK_REALM, LINK_ID, stored_id(&token).as_bytes(), LINK_TTL)
            .await?;
        Ok(Some(token))
    }

    /// Uses up a login link's token; true if it was valid. Never with a
    /// password set: a link logged before the password was is dead.
    pub async fn redeem_link(&self, token: &str) -> Result<bool, StoreError> {
        if self.has_password() {
            return Ok(false);
        }
        let given = stored_id(token);
        let matches = |v: &[u8]| bool::from(v.ct_eq(given.as_bytes()));
        // Read first, so a wrong token does not use up the right one.
        match self.sessions.get(LINK_REALM, LINK_ID).await? {
            Some(v) if matches(&v) => {}
            _ => return Ok(false),
        }
        // Taken atomically: of two uses of the link, one wins; a link
        // issued in between (another instance started) is put back.
        match self.sessions.take(LINK_REALM, LINK_ID).await? {
            Some(v) if matches(&v) => Ok(true),
            Some(v) => {
                self.sessions.put(LINK_REALM, LINK_ID, &v, LINK_TTL).await?;
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// The `Set-Cookie` value of a new session.
    pub fn session_cookie(&self, token: &str) -> String {
        Cookie::build((SESSION_COOKIE, token.to_owned()))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(cookie::time::Duration::seconds(self.ttl.as_secs() as i64))
            .build()
            .to_string()
    }
}

/// A `Set-Cookie` value that removes `name`.
pub fn expired_cookie(name: &'static str) -> String {
    Cookie::build((name, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The pre-session CSRF cookie of the login form.
pub fn login_cookie(token: &str) -> String {
    Cookie::build((LOGIN_COOKIE, token.to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/login")
        .max_age(cookie::time::Duration::hours(1))
        .build()
        .to_string()
}

/// The value of cookie `name` in the request: exactly one copy, however
/// spelt (see [`crate::web::host_cookies::single`]).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    crate::web::host_cookies::single(headers, name).map(str::to_owned)
}

/// A signed-in console user. Pages take it; without a session they
/// redirect to the login page.
pub struct Operator {
    /// For the audit log: `admin@<address>`.
    pub actor: String,
    pub csrf: String,
    /// The session's cookie token.
    pub token: String,
}

impl Operator {
    /// Every form POST carries the session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), AdminError> {
        if tokens_match(&self.csrf, given) {
            Ok(())
        } else {
            Err(AdminError::new(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or wrong: reload the page and try again",
            ))
        }
    }
}

impl FromRequestParts<Arc<Admin>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, admin: &Arc<Admin>) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        match admin.auth.session(&token).await {
            Ok(Some(s)) => Ok(Operator {
                actor: format!("admin@{}", client_ip(parts)),
                csrf: s.csrf,
                token,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(AdminError::from(e).into_response()),
        }
    }
}

/// A script calling the API with the bearer token; anything else gets 401.
pub struct ApiCaller {
    /// For the audit log: `api@<address>`.
    pub actor: String,
}

impl FromRequestParts<Arc<Admin>> for ApiCaller {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, admin: &Arc<Admin>) -> Result<Self, AdminError> {
        if admin.auth.check_bearer(&parts.headers) {
            return Ok(ApiCaller {
                actor: format!("api@{}", client_ip(parts)),
            });
        }
        let why = if admin.auth.has_api_token() {
            "missing or wrong bearer token (Authorization: Bearer <admin.api_token>)"
        } else {
            "the API is off: set admin.api_token (WXHOST_ADMIN_API_TOKEN)"
        };
        Err(AdminError::new(StatusCode::UNAUTHORIZED, why))
    }
}
