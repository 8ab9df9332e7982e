//! `/open/*` on the callback listener: `POST /open/notify` (the
//! authorization-event URL), `GET /open/authorized` (where an owner lands
//! after authorizing) and `POST /open/<appid>/callback` (the message URL
//! registered as `/open/$APPID$/callback`): a push to an authorized account
//! goes through the same callback handler as any account's, with the
//! platform's keys; WeChat's release-test accounts get the release
//! responder's answers first.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Platform;
use super::authorize::Exchange;
use super::notify::{Notice, open_notice, parse_notice};
use super::release_test::{self, TestAnswer};
use crate::account::Accounts;
use crate::api::{ApiError, CustomerMessage};
use crate::http::rate::{ClientIp, ClientRate};
use crate::protocol::{Callback, CallbackQuery, CallbackSettings, MsgCrypt, Reply};
use crate::server::AppState;
use crate::server::refused::Refused;

/// How long a request waits for an account another delivery is
/// authorizing (or another instance just wrote) to be served here.
const ACCOUNT_WAIT: Duration = Duration::from_secs(5);

/// What the `/open/*` handlers share.
pub struct Open {
    pub platform: Arc<Platform>,
    pub accounts: Arc<Accounts>,
    /// The callback service: authorized accounts' pushes go through it.
    pub app: Arc<AppState>,
    /// Opens notices and the release test's pushes: the platform's Token,
    /// key and component app id.
    callback: Callback,
    crypt: MsgCrypt,
    window_secs: u64,
    /// `/open/authorized` per client: each junk code costs an API call
    /// (`web.oauth_callbacks_per_client_per_min`, as the web login's).
    redirect_rate: Option<ClientRate>,
}

impl Open {
    pub fn new(
        platform: Arc<Platform>,
        accounts: Arc<Accounts>,
        app: Arc<AppState>,
        config: &crate::config::Config,
    ) -> anyhow::Result<Open> {
        let c = &platform.config;
        let callback = Callback::new(CallbackSettings {
            token: c.token.clone(),
            app_id: c.component_app_id.clone(),
            encoding_aes_key: Some(c.encoding_aes_key.clone()),
            previous_encoding_aes_key: None,
            require_encryption: true,
            timestamp_window_secs: config.server.timestamp_window_secs,
            max_body_bytes: config.server.body_limit_bytes,
        })
        .map_err(|e| anyhow::anyhow!("open_platform.encoding_aes_key: {e}"))?;
        let crypt = callback
            .crypt(crate::protocol::KeySlot::Current)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("open_platform.encoding_aes_key is not set"))?;
        Ok(Open {
            platform,
            accounts,
            app,
            callback,
            crypt,
            window_secs: config.server.timestamp_window_secs,
            redirect_rate: match config.web.oauth_callbacks_per_client_per_min {
                0 => None,
                n => Some(ClientRate::new(n, Duration::from_secs(60) / n)),
            },
        })
    }

    /// Waits until `app_id` is served here (reading the store), at most
    /// [`ACCOUNT_WAIT`].
    async fn served(&self, app_id: &str) -> bool {
        let until = tokio::time::Instant::now() + ACCOUNT_WAIT;
        loop {
            if self.accounts.by_app_id(app_id).is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            let _ = self.accounts.sync().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn routes(open: Arc<Open>) -> Router {
    Router::new()
        .route("/open/notify", post(notify))
        .route("/open/authorized", get(authorized))
        .route("/open/{app_id}/callback", post(push))
        .with_state(open)
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `POST /open/notify`.
async fn notify(
    State(open): State<Arc<Open>>,
    Query(q): Query<CallbackQuery>,
    body: Bytes,
) -> Response {
    let now = crate::unix_now();
    let platform = &open.platform;
    let notice = open_notice(
        &platform.config.token,
        &open.crypt,
        &q,
        &body,
        now,
        open.window_secs,
    )
    .and_then(|xml| parse_notice(&xml, platform.component_app_id()));
    let notice = match notice {
        Ok(n) => n,
        Err(e) => {
            tracing::info!(error = e.kind(), "platform notice refused");
            return Refused(e).into_response();
        }
    };
    match notice {
        Notice::Ticket {
            ticket,
            create_time,
        } => {
            let store = &*platform.stores.tokens;
            if let Err(e) =
                super::ticket::save(store, platform.component_app_id(), &ticket, create_time).await
            {
                // Not `success`: WeChat pushes it again.
                tracing::warn!(error = %e, "the component_verify_ticket could not be stored");
                return text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable".into());
            }
            tracing::debug!("component_verify_ticket stored");
            // Fetches that failed for want of a ticket may be tried again.
            platform.component_token().clear_backoff();
        }
        Notice::Authorized {
            app_id,
            code,
            update,
        } => {
            let o = open.clone();
            open.app.tasks.spawn(async move {
                match o.platform.exchange_once(&code).await {
                    Ok(Exchange::Done(_)) => {
                        let _ = o.accounts.sync().await;
                    }
                    Ok(Exchange::Claimed) => {}
                    Err(e) => {
                        tracing::warn!(%app_id, update, error = %e, "authorization code not exchanged")
                    }
                }
            });
        }
        Notice::Unauthorized { app_id } => {
            // A notice is signed but carries no secret, so one captured
            // could be posted again within the timestamp window to take an
            // account that has authorized again offline. The first delivery
            // of each (timestamp, nonce) claims it; a repeat is answered
            // and does nothing. (Tickets and authorization codes are
            // harmless to repeat: a code is single use.)
            let seen = format!(
                "{}:{}",
                q.timestamp.as_deref().unwrap_or(""),
                q.nonce.as_deref().unwrap_or("")
            );
            let window = std::time::Duration::from_secs(2 * open.window_secs + 60);
            match platform
                .stores
                .sessions
                .claim("open-notice", &seen, window)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(%app_id, "a repeated unauthorized notice ignored");
                    return text(StatusCode::OK, crate::protocol::SUCCESS.to_owned());
                }
                // Without the store the unauthorization cannot be recorded
                // either: WeChat will push it again.
                Err(e) => {
                    tracing::warn!(%app_id, error = %e, "unauthorized notice not taken: store unavailable");
                    return text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable".into());
                }
            }
            let o = open.clone();
            open.app.tasks.spawn(async move {
                match o.platform.unauthorize(&app_id).await {
                    Ok(()) => {
                        let _ = o.accounts.sync().await;
                    }
                    Err(e) => tracing::warn!(%app_id, error = %e, "unauthorization not recorded"),
                }
            });
        }
        Notice::Other(info_type) => tracing::info!(%info_type, "platform notice ignored"),
    }
    text(StatusCode::OK, crate::protocol::SUCCESS.to_owned())
}

#[derive(Debug, Deserialize)]
struct AuthorizedQuery {
    auth_code: Option<String>,
}

/// `GET /open/authorized?auth_code=…&expires_in=…`: the owner's browser
/// after authorizing.
async fn authorized(
    State(open): State<Arc<Open>>,
    ClientIp(client): ClientIp,
    Query(q): Query<AuthorizedQuery>,
) -> Response {
    let Some(code) = q.auth_code.filter(|c| !c.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "auth_code is missing".into());
    };
    if let Some(Err(wait)) = open
        .redirect_rate
        .as_ref()
        .map(|r| r.take(client, std::time::Instant::now()))
    {
        tracing::info!(client = %client, "authorization redirect refused: too many from this client");
        let mut res = text(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests: wait a moment.".into(),
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    match open.platform.exchange_once(&code).await {
        Ok(Exchange::Done(app_id)) => {
            let _ = open.accounts.sync().await;
            let name = match open.platform.authorizer(&app_id).await {
                Ok(Some((_, a))) => a.authorizer.map(|i| i.nick_name).unwrap_or_default(),
                _ => String::new(),
            };
            text(
                StatusCode::OK,
                format!("Authorized: {name} ({app_id}) is now served by this platform."),
            )
        }
        Ok(Exchange::Claimed) => text(
            StatusCode::OK,
            "Authorized: this authorization was received and is being completed.".into(),
        ),
        Err(ApiError::Invalid(m)) => text(StatusCode::BAD_REQUEST, m),
        Err(e) => {
            tracing::warn!(error = %e, "authorization code not exchanged");
            text(
                StatusCode::BAD_GATEWAY,
                format!("The authorization could not be completed: {e}"),
            )
        }
    }
}

/// `POST /open/<appid>/callback`.
async fn push(
    State(open): State<Arc<Open>>,
    Path(app_id): Path<String>,
    Query(q): Query<CallbackQuery>,
    body: Bytes,
) -> Response {
    if release_test::is_test_account(&app_id)
        && let Some(answered) = release_answer(&open, &app_id, &q, &body).await
    {
        return answered;
    }
    // Only accounts that authorized the platform are served here.
    let authorized = open
        .accounts
        .by_app_id(&app_id)
        .is_some_and(|a| a.settings.authorized.is_some());
    if !authorized {
        return crate::server::callback::UnknownAccount.into_response();
    }
    crate::server::callback::push_account(State(open.app.clone()), Path(app_id), Query(q), body)
        .await
        .unwrap_or_else(|r| r)
}

/// The release responder's answer, or `None` for a push it leaves to
/// the account's plugins.
async fn release_answer(
    open: &Arc<Open>,
    app_id: &str,
    q: &CallbackQuery,
    body: &[u8],
) -> Option<Response> {
    let now = crate::unix_now();
    let inbound = match open.callback.open(q, body, now) {
        Ok(i) => i,
        Err(e) => return Some(Refused(e).into_response()),
    };
    let reply = match release_test::answer(&inbound.message) {
        TestAnswer::NotATest => return None,
        TestAnswer::Text(t) => Reply::Text(t),
        TestAnswer::QueryAuthCode(code) => {
            let (o, app_id) = (open.clone(), app_id.to_owned());
            let to_user = inbound.message.from_user.clone();
            open.app.tasks.spawn(async move {
                if let Err(e) = send_from_api(&o, &app_id, &code, &to_user).await {
                    tracing::warn!(%app_id, error = %e, "release test: the _from_api message was not sent");
                }
            });
            // An empty answer, not `success`, as the test asks.
            return Some(text(StatusCode::OK, String::new()));
        }
    };
    Some(match open.callback.seal(&inbound, &reply, now) {
        Ok(sealed) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml")],
            sealed,
        )
            .into_response(),
        Err(e) => Refused(e).into_response(),
    })
}

/// `QUERY_AUTH_CODE:<code>`: the code exchanged (unless the `authorized`
/// push already did), then `<code>_from_api` sent with the account's token.
async fn send_from_api(
    open: &Open,
    app_id: &str,
    code: &str,
    to_user: &str,
) -> Result<(), ApiError> {
    if let Exchange::Done(_) = open.platform.exchange_once(code).await? {
        let _ = open.accounts.sync().await;
    }
    if !open.served(app_id).await {
        return Err(ApiError::Invalid(format!("account {app_id} is not served")));
    }
    let account = open
        .accounts
        .by_app_id(app_id)
        .ok_or_else(|| ApiError::Invalid(format!("account {app_id} is not served")))?;
    let wechat = account
        .wechat
        .as_ref()
        .ok_or_else(|| ApiError::Invalid(format!("account {app_id} has no API client")))?;
    wechat
        .send_custom(to_user, &CustomerMessage::Text(format!("{code}_from_api")))
        .await
}
