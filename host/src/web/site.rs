//! The site a web request is for: the account whose own
//! `[account.<name>.web] public_url` is on the host the request names, else
//! the default account (on `web.public_url`). OAuth logins, sessions, web
//! users, JS-SDK signatures and plugin pages all act for that account: its
//! AppID and ticket, its store scope, its plugin set. A session started on
//! one account's host is stored in that account's scope, so it logs nobody
//! in on another's.
//!
//! The host is the request's `Host` header (HTTP/1.1) or its URI authority
//! (HTTP/2). A reverse proxy in front of wxhost must pass the original
//! `Host` on (nginx: `proxy_set_header Host $host;`); `X-Forwarded-Host` is
//! not trusted, as anyone can send it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use cookie::Key;

use super::Web;
use super::session::Sessions;
use crate::account::{Account, Accounts};

/// One account's web side.
pub struct Site {
    pub account: Arc<Account>,
    pub sessions: Sessions,
}

impl Site {
    /// Its public origin, no trailing slash.
    pub fn origin(&self) -> &str {
        &self.account.web_origin
    }
}

/// The sites, built on first use per account and rebuilt when the account
/// changes (a new `Account` value replaces the old one at runtime).
pub struct Sites {
    accounts: Arc<Accounts>,
    key: Key,
    session_ttl: Duration,
    built: Mutex<HashMap<Arc<str>, Arc<Site>>>,
}

impl Sites {
    pub fn new(accounts: Arc<Accounts>, key: Key, session_ttl: Duration) -> Sites {
        Sites {
            accounts,
            key,
            session_ttl,
            built: Mutex::default(),
        }
    }

    /// The site of a request whose host is `host`.
    pub fn for_host(&self, host: Option<&str>) -> Arc<Site> {
        let account = host
            .and_then(|h| self.accounts.by_web_host(h))
            .unwrap_or_else(|| self.accounts.default_account());
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(site) = built.get(&account.name)
            && Arc::ptr_eq(&site.account, &account)
        {
            return site.clone();
        }
        let site = Arc::new(Site {
            sessions: Sessions::new(
                self.key.clone(),
                account.stores.sessions.clone(),
                self.session_ttl,
                account.web_origin.starts_with("https://"),
            ),
            account,
        });
        // Rare (first request per account, or after a change): drop the
        // sites of accounts that are gone.
        built.retain(|name, _| self.accounts.by_name(name).is_some());
        built.insert(site.account.name.clone(), site.clone());
        site
    }

    /// The site of a request.
    pub fn for_request(&self, parts: &Parts) -> Arc<Site> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        self.for_host(host)
    }
}

/// Extracts the [`Site`] a request is for.
pub struct CurrentSite(pub Arc<Site>);

impl FromRequestParts<Arc<Web>> for CurrentSite {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        web: &Arc<Web>,
    ) -> Result<Self, Self::Rejection> {
        Ok(CurrentSite(web.sites.for_request(parts)))
    }
}
