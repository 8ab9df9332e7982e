//! A fake WeChat API server for tests: real HTTP on 127.0.0.1, an ephemeral
//! port, the endpoints wxhost calls, and fault injection.
//!
//! ```no_run
//! # async fn demo() {
//! use wxhost_tests::fake_wechat::{FakeWechat, paths};
//! let fake = FakeWechat::start().await;
//! let data = tempfile::tempdir().unwrap();
//! let config = fake.config(data.path()); // wxhost Config pointing at the fake
//! fake.fail_next(paths::CUSTOM_SEND, -1, 2); // the next 2 sends answer "busy"
//! // … run wxhost against `config` …
//! assert_eq!(fake.calls(paths::STABLE_TOKEN), 1);
//! let sent = fake.requests(paths::CUSTOM_SEND); // JSON bodies, in order
//! # }
//! ```
//!
//! Behaviour, close to WeChat's where tests care:
//! - `/cgi-bin/stable_token` (POST JSON) returns the same token until it is
//!   expired or `force_refresh` is true; `/cgi-bin/token` (GET) issues a new
//!   classic token each call, invalidating the previous classic one. Both
//!   check the AppID and AppSecret (40013 / 40125): [`APP_ID`]/[`APP_SECRET`]
//!   and any app added with [`FakeWechat::add_app`], each with tokens of its
//!   own; a call acts for the app whose token it carries
//!   ([`FakeWechat::apps_called`]).
//! - Every other endpoint checks `access_token`: missing → 41001, expired by
//!   [`FakeWechat::expire_tokens`] → 42001, unknown → 40001.
//! - POST bodies containing a `\u` escape are refused with 40033, as WeChat
//!   does for some endpoints.
//! - Menus (create/get/delete/addconditional/delconditional), QR codes,
//!   customer-service send and user info keep state in memory.
//! - `/cgi-bin/ticket/getticket?type=jsapi` (with an access_token) returns
//!   the same jsapi_ticket until [`FakeWechat::expire_tickets`].
//! - OAuth web login: `/connect/oauth2/authorize` stands in for WeChat's
//!   authorize page (point `WXHOST_OAUTH_AUTHORIZE_URL` at it): it issues a
//!   code for the current user ([`FakeWechat::set_oauth_user`], or an
//!   `openid` query parameter) and redirects to `redirect_uri` with `code`
//!   and `state` (without a code when [`FakeWechat::refuse_authorize`]).
//!   `/sns/oauth2/access_token` exchanges a code once, within 5 minutes
//!   (40029 unknown, 40163 used, 42003 expired or [`FakeWechat::expire_codes`]),
//!   and `/sns/userinfo` answers for `snsapi_userinfo` grants (48001
//!   otherwise; a snapshot user's fails).
//!
//! - Template, subscription and mass sends: `fake_outbound.rs`
//!   (`client_msg_id` honoured, deliveries and rates recorded, faults).
//!
//! Every request is counted and recorded per path (faulted ones too):
//! POST bodies as parsed JSON, GET queries as a JSON object.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use wxhost::api::client::RetryPolicy;
use wxhost::api::{ApiOptions, Wechat};
use wxhost::store::Stores;

/// [`ApiOptions`] for tests: busy retries 5 ms apart instead of 500 ms.
pub fn fast_options() -> ApiOptions {
    ApiOptions {
        retry: RetryPolicy {
            busy_attempts: 3,
            busy_base_delay: Duration::from_millis(5),
        },
        ..ApiOptions::default()
    }
}

/// The AppID the fake accepts: the sample AppID of wxhost's built-in
/// config, so a harness only has to set `WXHOST_APP_SECRET` and
/// `WXHOST_API_BASE_URL` (see [`FakeWechat::env`]).
pub const APP_ID: &str = "wxb11529c136998cb6";
/// The AppSecret the fake accepts.
pub const APP_SECRET: &str = "fake-app-secret-0123456789abcdef";

/// The paths the fake serves (also accepted without `/cgi-bin/` by every
/// method taking a path: `calls("token")`).
pub mod paths {
    pub const TOKEN: &str = "/cgi-bin/token";
    pub const STABLE_TOKEN: &str = "/cgi-bin/stable_token";
    pub const MENU_CREATE: &str = "/cgi-bin/menu/create";
    pub const MENU_GET: &str = "/cgi-bin/menu/get";
    pub const MENU_DELETE: &str = "/cgi-bin/menu/delete";
    pub const MENU_ADD_CONDITIONAL: &str = "/cgi-bin/menu/addconditional";
    pub const MENU_DEL_CONDITIONAL: &str = "/cgi-bin/menu/delconditional";
    pub const QRCODE_CREATE: &str = "/cgi-bin/qrcode/create";
    pub const CUSTOM_SEND: &str = "/cgi-bin/message/custom/send";
    pub const CUSTOM_TYPING: &str = "/cgi-bin/message/custom/typing";
    pub const USER_INFO: &str = "/cgi-bin/user/info";
    pub const GET_TICKET: &str = "/cgi-bin/ticket/getticket";
    pub const OAUTH_AUTHORIZE: &str = "/connect/oauth2/authorize";
    pub const SNS_ACCESS_TOKEN: &str = "/sns/oauth2/access_token";
    pub const SNS_USERINFO: &str = "/sns/userinfo";
}

/// The OpenID the authorize stand-in logs in by default.
pub const OAUTH_OPENID: &str = "o_web_user_0001";

/// Who the authorize stand-in says is logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthUser {
    pub openid: String,
    /// Given only to `snsapi_userinfo` grants.
    pub unionid: Option<String>,
    pub nickname: String,
    /// A snapshot-page virtual user (`is_snapshotuser` = 1).
    pub snapshot: bool,
}

impl OAuthUser {
    pub fn new(openid: &str) -> OAuthUser {
        OAuthUser {
            openid: openid.to_owned(),
            unionid: None,
            nickname: format!("nick-{openid}"),
            snapshot: false,
        }
    }
}

struct OAuthCode {
    /// The account the code was issued for: only it may exchange it.
    app_id: String,
    user: OAuthUser,
    scope: String,
    issued: std::time::Instant,
    used: bool,
    expired: bool,
}

fn norm(path: &str) -> String {
    if path.starts_with('/') || path.starts_with("sns/") || path.starts_with("connect/") {
        if !path.starts_with('/') {
            return format!("/{path}");
        }
        path.to_owned()
    } else {
        format!("/cgi-bin/{path}")
    }
}

#[derive(Default)]
pub(crate) struct State_ {
    expires_in: i64,
    pub(crate) seq: u64,
    /// The registered apps (AppID → AppSecret): [`APP_ID`] and those added
    /// with [`FakeWechat::add_app`].
    secrets: HashMap<String, String>,
    /// The live classic and stable token of each app, by AppID.
    pub(crate) classic: HashMap<String, String>,
    stable: HashMap<String, String>,
    /// Per path, the AppID whose token each accepted call carried (what
    /// account WeChat acted for).
    acted_for: HashMap<String, Vec<String>>,
    pub(crate) expired: HashSet<String>,
    calls: HashMap<String, usize>,
    requests: HashMap<String, Vec<Value>>,
    faults: HashMap<String, VecDeque<i64>>,
    latency: HashMap<String, Duration>,
    menu: Option<(String, Value)>,
    conditional: Vec<(String, Value, Value)>,
    users: HashMap<String, Value>,
    ticket: Option<String>,
    oauth_user: Option<OAuthUser>,
    oauth_users: HashMap<String, OAuthUser>,
    refuse_authorize: bool,
    codes: HashMap<String, OAuthCode>,
    web_tokens: HashMap<String, (OAuthUser, String)>,
    /// Template, subscription and mass sends (`fake_outbound.rs`).
    pub(crate) outbound: crate::fake_outbound::OutboundState,
    /// The Open Platform's component endpoints (`fake_open.rs`).
    pub(crate) open: crate::fake_open::OpenState,
}

pub(crate) struct Inner {
    state: Mutex<State_>,
    recorded: Notify,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State_> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake; stops when dropped.
pub struct FakeWechat {
    pub(crate) inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

fn err(code: i64, msg: &str) -> Value {
    json!({"errcode": code, "errmsg": msg})
}

fn ok() -> Value {
    err(0, "ok")
}

impl FakeWechat {
    /// Starts on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> FakeWechat {
        FakeWechat::start_on("127.0.0.1:0".parse().expect("literal address")).await
    }

    /// Starts on `addr` (the `fake-wechat` binary uses a fixed port).
    pub async fn start_on(addr: SocketAddr) -> FakeWechat {
        let inner = Arc::new(Inner {
            state: Mutex::new(State_ {
                expires_in: 7200,
                secrets: HashMap::from([(APP_ID.to_owned(), APP_SECRET.to_owned())]),
                ..Default::default()
            }),
            recorded: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the fake WeChat server");
        let addr = listener.local_addr().expect("local address");
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        FakeWechat {
            inner,
            addr,
            shutdown: Some(tx),
        }
    }

    /// `http://127.0.0.1:PORT`: give it to wxhost as `WXHOST_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The environment that points wxhost at this fake with its
    /// credentials, and its data dir at `data_dir`.
    pub fn env(&self, data_dir: &Path) -> Vec<(String, String)> {
        vec![
            ("WXHOST_API_BASE_URL".into(), self.base_url()),
            ("WXHOST_APP_ID".into(), APP_ID.into()),
            ("WXHOST_APP_SECRET".into(), APP_SECRET.into()),
            ("WXHOST_DATA_DIR".into(), data_dir.display().to_string()),
            (
                "WXHOST_OAUTH_AUTHORIZE_URL".into(),
                format!("{}{}", self.base_url(), paths::OAUTH_AUTHORIZE),
            ),
        ]
    }

    /// A wxhost config (built-in defaults + [`FakeWechat::env`]).
    pub fn config(&self, data_dir: &Path) -> wxhost::config::Config {
        self.config_with(data_dir, "")
    }

    /// Like [`FakeWechat::config`] with extra TOML on top of the defaults.
    pub fn config_with(&self, data_dir: &Path, toml: &str) -> wxhost::config::Config {
        wxhost::config::Config::from_toml("fake", toml, &self.env(data_dir))
            .expect("config for the fake WeChat server")
    }

    /// A [`Wechat`] facade on `stores` talking to this fake, with test-speed
    /// backoff ([`fast_options`]).
    pub fn wechat(&self, stores: Stores) -> Wechat {
        self.wechat_with(stores, fast_options(), "")
    }

    /// Like [`FakeWechat::wechat`] with explicit options and extra config TOML.
    pub fn wechat_with(&self, stores: Stores, options: ApiOptions, toml: &str) -> Wechat {
        Wechat::with_options(
            &self.config_with(Path::new("unused-data-dir"), toml).wechat,
            &stores,
            options,
        )
        .expect("Wechat facade for the fake")
    }

    /// Requests to `path` so far (faulted ones included).
    pub fn calls(&self, path: &str) -> usize {
        self.inner
            .lock()
            .calls
            .get(&norm(path))
            .copied()
            .unwrap_or(0)
    }

    /// Requests to any path so far.
    pub fn total_calls(&self) -> usize {
        self.inner.lock().calls.values().sum()
    }

    /// Token fetches (both endpoints).
    pub fn token_fetches(&self) -> usize {
        self.calls(paths::TOKEN) + self.calls(paths::STABLE_TOKEN)
    }

    /// What was sent to `path`, in order: POST bodies as JSON (a body that is
    /// not JSON as `{"_raw": text}`), GET queries as an object.
    pub fn requests(&self, path: &str) -> Vec<Value> {
        self.inner
            .lock()
            .requests
            .get(&norm(path))
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (without polling sleeps) until `path` has received more than
    /// `already` requests, and returns the next one; `None` on timeout.
    pub async fn wait_for_request(
        &self,
        path: &str,
        already: usize,
        timeout: Duration,
    ) -> Option<Value> {
        let path = norm(path);
        let wait = async {
            loop {
                let notified = self.inner.recorded.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(v) = self
                    .inner
                    .lock()
                    .requests
                    .get(&path)
                    .and_then(|r| r.get(already))
                {
                    return v.clone();
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// The next `times` requests to `path` answer `{"errcode": errcode}`
    /// (e.g. -1 busy, 40001 bad token, 45009 quota, 40164 IP whitelist).
    pub fn fail_next(&self, path: &str, errcode: i64, times: usize) {
        let mut st = self.inner.lock();
        st.faults
            .entry(norm(path))
            .or_default()
            .extend(std::iter::repeat_n(errcode, times));
    }

    /// Delays every answer on `path` (zero to stop).
    pub fn set_latency(&self, path: &str, delay: Duration) {
        self.inner.lock().latency.insert(norm(path), delay);
    }

    /// Every token issued so far stops working (42001 when used); the next
    /// token request issues a new one.
    pub fn expire_tokens(&self) {
        let mut st = self.inner.lock();
        let st = &mut *st;
        let old = st.classic.drain().chain(st.stable.drain()).map(|(_, t)| t);
        st.expired.extend(old);
    }

    /// Registers another Official Account: tokens are issued for it with
    /// `secret`, and calls with its tokens act for it.
    pub fn add_app(&self, app_id: &str, secret: &str) {
        self.inner
            .lock()
            .secrets
            .insert(app_id.to_owned(), secret.to_owned());
    }

    /// For each accepted call to `path`, in order, the AppID of the token it
    /// carried.
    pub fn apps_called(&self, path: &str) -> Vec<String> {
        self.inner
            .lock()
            .acted_for
            .get(&norm(path))
            .cloned()
            .unwrap_or_default()
    }

    /// `expires_in` of tokens issued from now on (default 7200).
    pub fn set_token_expires_in(&self, secs: i64) {
        self.inner.lock().expires_in = secs;
    }

    /// Tokens currently accepted.
    pub fn valid_tokens(&self) -> Vec<String> {
        let st = self.inner.lock();
        st.classic
            .values()
            .chain(st.stable.values())
            .cloned()
            .collect()
    }

    /// What `/cgi-bin/user/info` answers for `openid` (default: a subscribed
    /// user with the documented fields).
    pub fn set_user(&self, openid: &str, info: Value) {
        self.inner.lock().users.insert(openid.to_owned(), info);
    }

    /// The jsapi_ticket currently issued, if any.
    pub fn jsapi_ticket(&self) -> Option<String> {
        self.inner.lock().ticket.clone()
    }

    /// The next getticket issues a new jsapi_ticket.
    pub fn expire_tickets(&self) {
        self.inner.lock().ticket = None;
    }

    /// Who the authorize stand-in logs in from now on (default: a plain
    /// user [`OAUTH_OPENID`]); also known by its openid for `?openid=`.
    pub fn set_oauth_user(&self, user: OAuthUser) {
        let mut st = self.inner.lock();
        st.oauth_users.insert(user.openid.clone(), user.clone());
        st.oauth_user = Some(user);
    }

    /// The user refuses (or not) on the authorize page: WeChat then
    /// redirects with `state` only.
    pub fn refuse_authorize(&self, refuse: bool) {
        self.inner.lock().refuse_authorize = refuse;
    }

    /// Every code issued so far is past its 5 minutes (42003).
    pub fn expire_codes(&self) {
        for c in self.inner.lock().codes.values_mut() {
            c.expired = true;
        }
    }

    /// The default menu's buttons as last created, if any.
    pub fn menu(&self) -> Option<Value> {
        self.inner.lock().menu.as_ref().map(|(_, b)| b.clone())
    }

    /// The conditional menus: `{"button", "matchrule", "menuid"}` each.
    pub fn conditional_menus(&self) -> Vec<Value> {
        self.inner
            .lock()
            .conditional
            .iter()
            .map(|(id, b, r)| json!({"button": b, "matchrule": r, "menuid": id}))
            .collect()
    }

    /// Forgets call counts and recorded requests (state stays).
    pub fn reset_counts(&self) {
        let mut st = self.inner.lock();
        st.calls.clear();
        st.requests.clear();
    }
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let parsed: Value = if method == Method::POST {
        serde_json::from_str(&text).unwrap_or_else(|_| json!({"_raw": text}))
    } else {
        json!(query)
    };
    let delay = {
        let mut st = inner.lock();
        *st.calls.entry(path.clone()).or_default() += 1;
        st.requests
            .entry(path.clone())
            .or_default()
            .push(parsed.clone());
        st.latency.get(&path).copied()
    };
    inner.recorded.notify_waiters();
    if let Some(d) = delay.filter(|d| !d.is_zero()) {
        tokio::time::sleep(d).await;
    }
    let mut st = inner.lock();
    if let Some(code) = st.faults.get_mut(&path).and_then(VecDeque::pop_front) {
        let msg = match code {
            -1 => "system error",
            40001 => "invalid credential, access_token is invalid or not latest",
            42001 => "access_token expired",
            45009 => "reach max api daily quota limit",
            40164 => "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist",
            _ => "injected fault",
        };
        return axum::Json(err(code, msg)).into_response();
    }
    if method == Method::POST && text.contains("\\u") {
        return axum::Json(err(
            40033,
            "invalid charset. please check your request, if include \\uxxxx will create fail!",
        ))
        .into_response();
    }
    let answer = match path.as_str() {
        paths::OAUTH_AUTHORIZE => return authorize(&mut st, &query),
        paths::SNS_ACCESS_TOKEN => Some(sns_exchange(&mut st, &query)),
        paths::SNS_USERINFO => Some(sns_userinfo(&st, &query)),
        paths::TOKEN | paths::STABLE_TOKEN => issue_token(&mut st, &path, &query, &parsed),
        p if p.starts_with("/cgi-bin/component/") => {
            crate::fake_open::api(&mut st, p, &query, &parsed)
        }
        _ => match check_token(&st, &query) {
            Err(e) => e,
            Ok(app_id) => {
                st.acted_for
                    .entry(path.clone())
                    .or_default()
                    .push(app_id.clone());
                match crate::fake_outbound::api(&mut st.outbound, &app_id, &path, &query, &parsed) {
                    Some(answer) => Some(answer),
                    None => api(&mut st, &path, &query, parsed),
                }
            }
        },
    };
    match answer {
        Some(v) => axum::Json(v).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(err(404, "the fake WeChat server has no such API")),
        )
            .into_response(),
    }
}

fn issue_token(
    st: &mut State_,
    path: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> Option<Value> {
    let stable = path == paths::STABLE_TOKEN;
    let field = |k: &str| {
        if stable {
            body.get(k).and_then(Value::as_str).map(str::to_owned)
        } else {
            query.get(k).cloned()
        }
    };
    if field("grant_type").as_deref() != Some("client_credential") {
        return Some(err(40002, "invalid grant_type"));
    }
    let Some(app_id) = field("appid").filter(|a| st.secrets.contains_key(a)) else {
        return Some(err(40013, "invalid appid"));
    };
    if field("secret").as_ref() != st.secrets.get(&app_id) {
        return Some(err(40125, "invalid appsecret"));
    }
    st.seq += 1;
    let fresh = format!(
        "{}-token-{}-{}",
        if stable { "stable" } else { "classic" },
        st.seq,
        "x".repeat(32)
    );
    let token = if stable {
        let force = body
            .get("force_refresh")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if force && let Some(old) = st.stable.remove(&app_id) {
            st.expired.insert(old);
        }
        st.stable.entry(app_id).or_insert(fresh).clone()
    } else {
        // Each classic fetch invalidates the previous classic token.
        if let Some(old) = st.classic.insert(app_id, fresh.clone()) {
            st.expired.insert(old);
        }
        fresh
    };
    Some(json!({"access_token": token, "expires_in": st.expires_in}))
}

/// The AppID whose live token `query` carries.
fn check_token(st: &State_, query: &HashMap<String, String>) -> Result<String, Option<Value>> {
    let owner = |t: &String| {
        st.classic
            .iter()
            .chain(st.stable.iter())
            .find(|(_, live)| *live == t)
            .map(|(app, _)| app.clone())
    };
    match query.get("access_token") {
        None => Err(Some(err(41001, "access_token missing"))),
        Some(t) if owner(t).is_some() => Ok(owner(t).unwrap_or_default()),
        Some(t) if st.expired.contains(t) => Err(Some(err(42001, "access_token expired"))),
        Some(_) => Err(Some(err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        ))),
    }
}

fn api(st: &mut State_, path: &str, query: &HashMap<String, String>, body: Value) -> Option<Value> {
    Some(match path {
        paths::MENU_CREATE => match body.get("button").and_then(Value::as_array) {
            Some(b) if (1..=3).contains(&b.len()) => {
                st.seq += 1;
                st.menu = Some((st.seq.to_string(), json!(b)));
                ok()
            }
            _ => err(40016, "invalid button size"),
        },
        paths::MENU_GET => match &st.menu {
            None => err(46003, "menu no exist"),
            Some((id, b)) => json!({
                "menu": {"button": b, "menuid": id.parse::<u64>().unwrap_or(0)},
                "conditionalmenu": st.conditional.iter().map(|(id, b, r)| json!({"button": b, "matchrule": r, "menuid": id.parse::<u64>().unwrap_or(0)})).collect::<Vec<_>>(),
            }),
        },
        paths::MENU_DELETE => {
            st.menu = None;
            st.conditional.clear();
            ok()
        }
        paths::MENU_ADD_CONDITIONAL => {
            let rule = body.get("matchrule").cloned().unwrap_or(Value::Null);
            let has_rule = rule.as_object().is_some_and(|r| r.values().any(|v| v.as_str().is_some_and(|s| !s.is_empty())));
            if st.menu.is_none() {
                err(65303, "there is no selfmenu, please create selfmenu first")
            } else if !has_rule {
                err(65304, "match rule empty")
            } else {
                st.seq += 1;
                let id = st.seq.to_string();
                st.conditional.push((id.clone(), body.get("button").cloned().unwrap_or(Value::Null), rule));
                json!({"menuid": id})
            }
        }
        paths::MENU_DEL_CONDITIONAL => {
            let id = match body.get("menuid") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let before = st.conditional.len();
            st.conditional.retain(|(m, _, _)| *m != id);
            if st.conditional.len() == before { err(65301, "menuid not exist") } else { ok() }
        }
        paths::QRCODE_CREATE => {
            let action = body.get("action_name").and_then(Value::as_str).unwrap_or("");
            let scene = &body["action_info"]["scene"];
            let has_scene = scene.get("scene_id").and_then(Value::as_u64).is_some_and(|n| n > 0) || scene.get("scene_str").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
            if !matches!(action, "QR_SCENE" | "QR_STR_SCENE" | "QR_LIMIT_SCENE" | "QR_LIMIT_STR_SCENE") || !has_scene {
                err(40097, "invalid args")
            } else {
                st.seq += 1;
                // Real tickets contain + / = (they must be URL-encoded in showqrcode).
                let mut v = json!({"ticket": format!("gQH{:06}+fake/ticket==", st.seq), "url": format!("http://weixin.qq.com/q/fake{}", st.seq)});
                if !action.starts_with("QR_LIMIT") {
                    v["expire_seconds"] = json!(body.get("expire_seconds").and_then(Value::as_u64).unwrap_or(60));
                }
                v
            }
        }
        paths::CUSTOM_SEND => {
            let msgtype = body.get("msgtype").and_then(Value::as_str).unwrap_or("");
            if body.get("touser").and_then(Value::as_str).is_none_or(str::is_empty) {
                err(40003, "invalid openid")
            } else if !matches!(msgtype, "text" | "image" | "voice" | "video" | "music" | "news" | "mpnewsarticle" | "msgmenu" | "wxcard" | "miniprogrampage") || body.get(msgtype).is_none() {
                err(40008, "invalid message type")
            } else {
                ok()
            }
        }
        paths::CUSTOM_TYPING => {
            if body.get("touser").and_then(Value::as_str).is_none_or(str::is_empty) {
                err(40003, "invalid openid")
            } else if !matches!(body.get("command").and_then(Value::as_str), Some("Typing" | "CancelTyping")) {
                err(40097, "invalid args")
            } else {
                ok()
            }
        }
        paths::GET_TICKET => {
            if query.get("type").map(String::as_str) != Some("jsapi") {
                err(40097, "invalid args")
            } else {
                st.seq += 1;
                let fresh = format!("fake-jsapi-ticket-{}-{}", st.seq, "t".repeat(40));
                let ticket = st.ticket.get_or_insert(fresh).clone();
                json!({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": 7200})
            }
        }
        paths::USER_INFO => match query.get("openid").filter(|o| !o.is_empty()) {
            None => err(40003, "invalid openid"),
            Some(openid) => st.users.get(openid).cloned().unwrap_or_else(|| {
                json!({"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": 1382694957, "remark": "", "groupid": 0,
                       "tagid_list": [128, 2], "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 98765, "qr_scene_str": ""})
            }),
        },
        _ => return None,
    })
}

/// The authorize stand-in: a code for the current user, then the redirect
/// WeChat makes.
fn authorize(st: &mut State_, query: &HashMap<String, String>) -> Response {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_owned()).into_response();
    let Some(app_id) = query
        .get("appid")
        .filter(|a| st.secrets.contains_key(a.as_str()))
        .cloned()
    else {
        return bad("10003 appid / redirect_uri mismatch");
    };
    if query.get("response_type").map(String::as_str) != Some("code") {
        return bad("response_type must be code");
    }
    let scope = query.get("scope").cloned().unwrap_or_default();
    if !matches!(scope.as_str(), "snsapi_base" | "snsapi_userinfo") {
        return bad("10005 scope");
    }
    let Some(redirect) = query.get("redirect_uri") else {
        return bad("redirect_uri missing");
    };
    let state = query.get("state").cloned().unwrap_or_default();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let enc = |s: &str| -> String { url_encode(s) };
    if st.refuse_authorize {
        let to = format!("{redirect}{sep}state={}", enc(&state));
        return (StatusCode::FOUND, [("location", to)]).into_response();
    }
    let mut user = match query.get("openid") {
        Some(o) => st
            .oauth_users
            .get(o)
            .cloned()
            .unwrap_or_else(|| OAuthUser::new(o)),
        None => st
            .oauth_user
            .clone()
            .unwrap_or_else(|| OAuthUser::new(OAUTH_OPENID)),
    };
    // One person has a different openid with each account, as at WeChat;
    // the default account's is the configured one.
    if app_id != APP_ID {
        user.openid = format!("{}-{app_id}", user.openid);
    }
    st.seq += 1;
    let code = format!("fakecode{:08}{}", st.seq, rand::random::<u32>());
    st.codes.insert(
        code.clone(),
        OAuthCode {
            app_id,
            user,
            scope,
            issued: std::time::Instant::now(),
            used: false,
            expired: false,
        },
    );
    let to = format!("{redirect}{sep}code={}&state={}", enc(&code), enc(&state));
    (StatusCode::FOUND, [("location", to)]).into_response()
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sns_exchange(st: &mut State_, query: &HashMap<String, String>) -> Value {
    let app_id = query.get("appid").cloned().unwrap_or_default();
    let Some(secret) = st.secrets.get(&app_id) else {
        return err(40013, "invalid appid");
    };
    if query.get("secret") != Some(secret) {
        return err(40125, "invalid appsecret");
    }
    if query.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return err(40002, "invalid grant_type");
    }
    let code = query.get("code").cloned().unwrap_or_default();
    let Some(c) = st.codes.get_mut(&code) else {
        return err(40029, "invalid code");
    };
    if c.app_id != app_id {
        return err(40029, "invalid code");
    }
    if c.used {
        return err(40163, "code been used");
    }
    if c.expired || c.issued.elapsed() > Duration::from_secs(300) {
        return err(42003, "code expired");
    }
    c.used = true;
    let (user, scope) = (c.user.clone(), c.scope.clone());
    st.seq += 1;
    let token = format!("fake-web-token-{}", st.seq);
    st.web_tokens
        .insert(token.clone(), (user.clone(), scope.clone()));
    let mut v = json!({
        "access_token": token, "expires_in": 7200, "refresh_token": format!("fake-refresh-{}", st.seq),
        "openid": user.openid, "scope": scope,
    });
    if user.snapshot {
        v["is_snapshotuser"] = json!(1);
    }
    if scope == "snsapi_userinfo"
        && let Some(u) = &user.unionid
    {
        v["unionid"] = json!(u);
    }
    v
}

fn sns_userinfo(st: &State_, query: &HashMap<String, String>) -> Value {
    let Some((user, scope)) = query.get("access_token").and_then(|t| st.web_tokens.get(t)) else {
        return err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    };
    if query.get("openid") != Some(&user.openid) {
        return err(40003, "invalid openid");
    }
    if scope != "snsapi_userinfo" {
        return err(48001, "api unauthorized");
    }
    if user.snapshot {
        return err(48001, "api unauthorized (snapshot user)");
    }
    let mut v = json!({
        "openid": user.openid, "nickname": user.nickname, "sex": 0, "province": "", "city": "",
        "country": "", "headimgurl": format!("https://thirdwx.qlogo.cn/mmopen/fake-{}/132", user.openid),
        "privilege": [],
    });
    if let Some(u) = &user.unionid {
        v["unionid"] = json!(u);
    }
    v
}
