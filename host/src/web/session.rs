//! Web sessions: a record in the [`SessionStore`] (realm `web-session`),
//! named by a random id that travels in a host cookie (`host_cookies.rs`:
//! signed for its purpose with a key from `web.session_secret`,
//! `__Host-` on https). The store keeps only the id's SHA-256, so a copy of
//! the store logs nobody in. A tampered, foreign (another key), planted
//! twice, expired or logged-out cookie is a logged-out visitor, and costs
//! no store lookup when its signature fails.
//!
//! The cookies are `HttpOnly` (no page script reads them), `SameSite=Lax`
//! (sent on the top-level GET that WeChat's OAuth redirect is, never on a
//! cross-site POST), `Path=/`, and `Secure` when the public origin is https.
//!
//! The key: `web.session_secret` when set, else a secret generated once and
//! kept in `<data_dir>/web-session.key` (0600, created without ever
//! replacing one another process wrote first), so restarts and several
//! processes sharing the data dir agree.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::{HeaderMap, HeaderValue};
use cookie::Key;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::host_cookies::HostCookies;

use crate::config::{Config, WebLogin};
use crate::store::{SessionStore, StoreError};

/// The session cookie.
pub const SESSION_COOKIE: &str = "wxhost_session";
/// The store realm of sessions.
pub const SESSION_REALM: &str = "web-session";
/// Where a generated secret is kept, in the data dir.
pub const SECRET_FILE: &str = "web-session.key";

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub openid: String,
    pub unionid: Option<String>,
    /// `Base` or `Userinfo`: what WeChat granted.
    pub scope: WebLogin,
    /// A snapshot-page virtual user: never bind an account to it.
    pub snapshot: bool,
    /// Unix seconds.
    pub created_at: u64,
}

/// Issues, reads and ends sessions.
pub struct Sessions {
    cookies: HostCookies,
    /// The same key, for the sessions of earlier releases (see
    /// [`Sessions::legacy_id`]).
    key: Key,
    store: Arc<dyn SessionStore>,
    ttl: Duration,
}

/// The name a session is stored under: its id's digest.
fn stored_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    pub fn new(key: Key, store: Arc<dyn SessionStore>, ttl: Duration, secure: bool) -> Sessions {
        Sessions {
            cookies: HostCookies::new(key.signing(), secure),
            key,
            store,
            ttl,
        }
    }

    /// The host's cookies, signed with the same key.
    pub fn cookies(&self) -> &HostCookies {
        &self.cookies
    }

    /// The visitor's session, if it has a valid one.
    pub async fn current(&self, headers: &HeaderMap) -> Option<Session> {
        let stored = match self.cookies.get(headers, SESSION_COOKIE, "/") {
            Some(id) => stored_id(&id),
            None => self.legacy_id(headers)?,
        };
        match self.store.get(SESSION_REALM, &stored).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "web session lookup failed; treating the visitor as logged out");
                None
            }
        }
    }

    /// A session an earlier release started: its cookie, `wxhost_session`
    /// signed by the `cookie` crate's jar (the same key), names a record
    /// stored under the bare id. Read until it expires, so an upgrade logs
    /// nobody out; new sessions are only ever of the current kind. A
    /// current cookie never verifies here (its MAC covers the purpose).
    fn legacy_id(&self, headers: &HeaderMap) -> Option<String> {
        let value = super::host_cookies::single(headers, SESSION_COOKIE)?;
        let mut jar = cookie::CookieJar::new();
        jar.add_original(cookie::Cookie::new(SESSION_COOKIE, value.to_owned()));
        let id = jar
            .signed(&self.key)
            .get(SESSION_COOKIE)?
            .value()
            .to_owned();
        // The ids that release issued: 128 random bits, hex.
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    }

    /// Stores `session` under a new id; the `Set-Cookie` for it.
    pub async fn start(&self, session: &Session) -> Result<HeaderValue, StoreError> {
        let id = random_id();
        let bytes = serde_json::to_vec(session).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.store
            .put(SESSION_REALM, &stored_id(&id), &bytes, self.ttl)
            .await?;
        Ok(self.cookies.set(SESSION_COOKIE, &id, "/", self.ttl))
    }

    /// Ends the visitor's session (if any); the `Set-Cookie` that clears it.
    pub async fn end(&self, headers: &HeaderMap) -> HeaderValue {
        let stored = match self.cookies.get(headers, SESSION_COOKIE, "/") {
            Some(id) => Some(stored_id(&id)),
            None => self.legacy_id(headers),
        };
        if let Some(stored) = stored
            && let Err(e) = self.store.delete(SESSION_REALM, &stored).await
        {
            tracing::warn!(error = %e, "could not delete a web session (it expires by itself)");
        }
        self.cookies.removal(SESSION_COOKIE, "/")
    }
}

/// 128 random bits, hex: session ids, OAuth states, browser ids.
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The signing key: from `web.session_secret`, else from the data dir's
/// secret file, created on first use.
pub fn load_key(config: &Config) -> anyhow::Result<Key> {
    if !config.web.session_secret.is_empty() {
        // At least 32 bytes (checked with the config); HKDF stretches it.
        return Ok(Key::derive_from(config.web.session_secret.as_bytes()));
    }
    let secret = generated_secret(&config.storage.data_dir)?;
    Ok(Key::derive_from(secret.as_bytes()))
}

fn generated_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(SECRET_FILE);
    crate::fsutil::create_private_dir(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    if !path.exists() {
        let fresh =
            hex::encode(rand::random::<[u8; 32]>()) + &hex::encode(rand::random::<[u8; 32]>());
        // Never replaces a file: of two processes starting together, the
        // first one's secret is the one both use.
        crate::fsutil::write_private_new(&path, fresh.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let secret =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let secret = secret.trim().to_owned();
    anyhow::ensure!(
        secret.len() >= 32,
        "{} holds fewer than 32 characters: delete it to generate a new one (every web login ends)",
        path.display()
    );
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn sessions(secret: &str) -> Sessions {
        let store = crate::store::Stores::in_memory().unwrap().sessions;
        Sessions::new(
            Key::derive_from(secret.as_bytes()),
            store,
            Duration::from_secs(60),
            true,
        )
    }

    fn cookie_header(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        h
    }

    #[tokio::test]
    async fn a_session_cookie_is_signed_and_a_tampered_or_foreign_one_is_logged_out() {
        let s = sessions("0123456789abcdef0123456789abcdef-one");
        let session = Session {
            openid: "o1".into(),
            unionid: None,
            scope: WebLogin::Base,
            snapshot: false,
            created_at: 1,
        };
        let set = s.start(&session).await.unwrap();
        let text = set.to_str().unwrap();
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(text.contains(attr), "{attr} in {text}");
        }
        let headers = cookie_header(&set);
        assert_eq!(s.current(&headers).await, Some(session.clone()));
        // Another key (another deployment, a forged cookie): logged out.
        let other = sessions("another-secret-of-thirty-two-characters!");
        assert_eq!(other.current(&headers).await, None);
        // One character changed in the value: logged out.
        let pair = headers[header::COOKIE].to_str().unwrap().to_owned();
        let mut bytes = pair.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'a' { b'b' } else { b'a' };
        let mut tampered = HeaderMap::new();
        tampered.insert(header::COOKIE, HeaderValue::from_bytes(&bytes).unwrap());
        assert_eq!(s.current(&tampered).await, None);
        // Logged out: the record is gone even if the cookie is replayed.
        let cleared = s.end(&headers).await;
        assert!(cleared.to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(s.current(&headers).await, None);
    }

    #[tokio::test]
    async fn the_store_keeps_only_the_session_ids_digest() {
        let store = crate::store::Stores::in_memory().unwrap().sessions;
        let s = Sessions::new(
            Key::derive_from(b"0123456789abcdef0123456789abcdef-one"),
            store.clone(),
            Duration::from_secs(60),
            false,
        );
        let session = Session {
            openid: "o1".into(),
            unionid: None,
            scope: WebLogin::Base,
            snapshot: false,
            created_at: 1,
        };
        let set = s.start(&session).await.unwrap();
        let signed = set.to_str().unwrap().split(';').next().unwrap();
        let id = signed.rsplit('.').next().unwrap();
        let records = store.export().await.unwrap();
        assert_eq!(records.len(), 1);
        assert_ne!(records[0].id, id);
        assert_eq!(records[0].id, stored_id(id));
        assert!(store.get(SESSION_REALM, id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_session_of_the_previous_release_still_reads_after_an_upgrade() {
        let key = Key::derive_from(b"0123456789abcdef0123456789abcdef-one");
        let store = crate::store::Stores::in_memory().unwrap().sessions;
        let s = Sessions::new(key.clone(), store.clone(), Duration::from_secs(60), false);
        let session = Session {
            openid: "o_old".into(),
            unionid: None,
            scope: WebLogin::Base,
            snapshot: false,
            created_at: 1,
        };
        // What the previous release wrote: the bare id in the store, the
        // cookie crate's signed value in the cookie.
        let id = random_id();
        let bytes = serde_json::to_vec(&session).unwrap();
        store
            .put(SESSION_REALM, &id, &bytes, Duration::from_secs(60))
            .await
            .unwrap();
        let mut jar = cookie::CookieJar::new();
        jar.signed_mut(&key)
            .add(cookie::Cookie::new(SESSION_COOKIE, id.clone()));
        let value = jar.get(SESSION_COOKIE).unwrap().value().to_owned();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={value}")).unwrap(),
        );
        assert_eq!(s.current(&h).await, Some(session));
        // Logging out ends it.
        s.end(&h).await;
        assert_eq!(s.current(&h).await, None);
        // A current signed value for another purpose is no session.
        let other = s.cookies().sign("wxhost_login_x", &id);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={other}")).unwrap(),
        );
        assert_eq!(s.current(&h).await, None);
    }

    #[test]
    fn a_generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = generated_secret(dir.path()).unwrap();
        let b = generated_secret(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
