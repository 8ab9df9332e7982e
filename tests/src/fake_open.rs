//! The fake WeChat's Open Platform (第三方平台) side: the component
//! endpoints a third-party platform calls, served by [`FakeWechat`] under
//! `/cgi-bin/component/`, behaving like WeChat's where wxhost depends on it:
//!
//! - tickets are issued by [`FakeWechat::open_issue_ticket`] (the test
//!   pushes them to `/open/notify`, as WeChat does every 10 minutes); the
//!   current and the previous one are accepted by `api_component_token`
//!   (61006 otherwise, 61005 after [`FakeWechat::open_expire_tickets`]);
//! - `api_component_token` checks the component's app id and secret and
//!   issues a new token each call (the previous one then answers 42001);
//!   every other component endpoint checks `component_access_token`
//!   (41001 missing, 42001 replaced, 40001 unknown);
//! - an owner's scan is [`FakeWechat::open_authorize`]: a single-use code
//!   (`api_query_auth` answers 61010 for a used or unknown code) giving
//!   an access token and a refresh token;
//! - `api_authorizer_token` rotates: each call issues a new access token
//!   and a new refresh token, and only the latest refresh token works
//!   (61023 otherwise, and after [`FakeWechat::open_unauthorize`]);
//! - `api_get_authorizer_info`, `api_get_authorizer_list` (offset/count),
//!   `api_create_preauthcode`, `api_start_push_ticket`.
//!
//! An authorizer's access token is accepted by every other fake endpoint
//! as that account's (the customer-service send of the release test).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};
use wxhost::protocol::{self, AesKey, Mode, MsgCrypt, signed_request};

use crate::fake_wechat::{FakeWechat, State_};

/// The component (third-party platform) the fake knows.
pub const COMPONENT_APP_ID: &str = "wxcomponent0000001";
pub const COMPONENT_SECRET: &str = "component-secret-0123456789abcdef";
/// Its message-check Token and EncodingAESKey (registered on the platform).
pub const COMPONENT_TOKEN: &str = "componenttoken";
pub const COMPONENT_AES_KEY: &str = "cOmPonentKey0123456789abcdefghijklmnopqrstu";

pub mod paths {
    pub const START_PUSH_TICKET: &str = "/cgi-bin/component/api_start_push_ticket";
    pub const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
    pub const PRE_AUTH_CODE: &str = "/cgi-bin/component/api_create_preauthcode";
    pub const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
    pub const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
    pub const AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";
    pub const AUTHORIZER_LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
}

struct Authorizer {
    user_name: String,
    nick_name: String,
    func_info: Vec<u32>,
    /// The live refresh token; `None` until its first code is exchanged
    /// and after it withdrew.
    refresh: Option<String>,
    auth_time: i64,
}

struct Code {
    app_id: String,
    used: bool,
}

#[derive(Default)]
pub(crate) struct OpenState {
    /// The current ticket and the one before.
    tickets: Vec<String>,
    tickets_expired: bool,
    component_token: Option<String>,
    old_component_tokens: HashSet<String>,
    authorizers: BTreeMap<String, Authorizer>,
    codes: HashMap<String, Code>,
}

fn err(code: i64, msg: &str) -> Value {
    json!({"errcode": code, "errmsg": msg})
}

fn s<'a>(body: &'a Value, k: &str) -> &'a str {
    body.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Answers a `/cgi-bin/component/…` call.
pub(crate) fn api(
    st: &mut State_,
    path: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> Option<Value> {
    st.seq += 1;
    let seq = st.seq;
    if s(body, "component_appid") != COMPONENT_APP_ID {
        return Some(err(61011, "invalid component"));
    }
    match path {
        paths::START_PUSH_TICKET => {
            return Some(if s(body, "component_secret") != COMPONENT_SECRET {
                err(40125, "invalid appsecret")
            } else {
                err(0, "ok")
            });
        }
        paths::COMPONENT_TOKEN => {
            let o = &mut st.open;
            if s(body, "component_appsecret") != COMPONENT_SECRET {
                return Some(err(40125, "invalid appsecret"));
            }
            let ticket = s(body, "component_verify_ticket");
            if !o.tickets.iter().any(|t| t == ticket) {
                return Some(err(61006, "component ticket is invalid"));
            }
            if o.tickets_expired {
                return Some(err(61005, "component ticket is expired"));
            }
            let token = format!("component-token-{seq}-{}", "c".repeat(24));
            if let Some(old) = o.component_token.replace(token.clone()) {
                o.old_component_tokens.insert(old);
            }
            return Some(json!({"component_access_token": token, "expires_in": 7200}));
        }
        _ => {}
    }
    let o = &mut st.open;
    match query.get("component_access_token") {
        None => return Some(err(41001, "access_token missing")),
        Some(t) if o.component_token.as_ref() == Some(t) => {}
        Some(t) if o.old_component_tokens.contains(t) => {
            return Some(err(42001, "access_token expired"));
        }
        Some(_) => return Some(err(40001, "invalid credential, access_token is invalid")),
    }
    let func = |ids: &[u32]| -> Value {
        json!(
            ids.iter()
                .map(|id| json!({"funcscope_category": {"id": id}}))
                .collect::<Vec<_>>()
        )
    };
    Some(match path {
        paths::PRE_AUTH_CODE => {
            json!({"pre_auth_code": format!("preauthcode@@@{seq}"), "expires_in": 600})
        }
        paths::QUERY_AUTH => {
            let code = s(body, "authorization_code");
            let Some(c) = o.codes.get_mut(code).filter(|c| !c.used) else {
                return Some(err(61010, "authorization_code is expired or used"));
            };
            c.used = true;
            let app_id = c.app_id.clone();
            let refresh = format!("refreshtoken@@@{app_id}-{seq}");
            let access = format!("authorizer-token-{app_id}-{seq}-{}", "a".repeat(16));
            let a = o.authorizers.get_mut(&app_id)?;
            a.refresh = Some(refresh.clone());
            a.auth_time = wxhost::unix_now() as i64;
            let info = json!({"authorization_info": {
                "authorizer_appid": app_id,
                "authorizer_access_token": access,
                "expires_in": 7200,
                "authorizer_refresh_token": refresh,
                "func_info": func(&a.func_info),
            }});
            if let Some(old) = st.classic.insert(app_id, access) {
                st.expired.insert(old);
            }
            info
        }
        paths::AUTHORIZER_TOKEN => {
            let app_id = s(body, "authorizer_appid").to_owned();
            let given = s(body, "authorizer_refresh_token");
            let Some(a) = o
                .authorizers
                .get_mut(&app_id)
                .filter(|a| a.refresh.as_deref() == Some(given))
            else {
                return Some(err(61023, "refresh_token is invalid"));
            };
            let refresh = format!("refreshtoken@@@{app_id}-{seq}");
            a.refresh = Some(refresh.clone());
            let access = format!("authorizer-token-{app_id}-{seq}-{}", "a".repeat(16));
            if let Some(old) = st.classic.insert(app_id, access.clone()) {
                st.expired.insert(old);
            }
            json!({"authorizer_access_token": access, "expires_in": 7200, "authorizer_refresh_token": refresh})
        }
        paths::AUTHORIZER_INFO => {
            let Some(a) = o.authorizers.get(s(body, "authorizer_appid")) else {
                return Some(err(61003, "component is not authorized by this account"));
            };
            json!({
                "authorizer_info": {"nick_name": a.nick_name, "user_name": a.user_name, "service_type_info": {"id": 2}},
                "authorization_info": {"authorizer_appid": s(body, "authorizer_appid"), "func_info": func(&a.func_info)},
            })
        }
        paths::AUTHORIZER_LIST => {
            let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
            let count = body.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
            if count == 0 || count > 500 {
                return Some(err(40097, "invalid args"));
            }
            let listed: Vec<(&String, &Authorizer)> = o
                .authorizers
                .iter()
                .filter(|(_, a)| a.auth_time > 0 && a.refresh.is_some())
                .collect();
            let page: Vec<Value> = listed
                .iter()
                .skip(offset)
                .take(count)
                .map(|(id, a)| json!({"authorizer_appid": id, "refresh_token": a.refresh, "auth_time": a.auth_time}))
                .collect();
            json!({"total_count": listed.len(), "list": page})
        }
        _ => return None,
    })
}

impl FakeWechat {
    /// A new `component_verify_ticket`, as WeChat pushes every 10 minutes
    /// (push it to wxhost's `/open/notify` with [`OpenWechat::ticket`]).
    pub fn open_issue_ticket(&self) -> String {
        let mut st = self.inner.lock();
        st.seq += 1;
        let t = format!("ticket@@@{}-{}", st.seq, "t".repeat(20));
        let o = &mut st.open;
        o.tickets.push(t.clone());
        if o.tickets.len() > 2 {
            o.tickets.remove(0);
        }
        o.tickets_expired = false;
        t
    }

    /// Every ticket issued so far expires (61005).
    pub fn open_expire_tickets(&self) {
        self.inner.lock().open.tickets_expired = true;
    }

    /// The component token WeChat considers live.
    pub fn open_component_token(&self) -> Option<String> {
        self.inner.lock().open.component_token.clone()
    }

    /// An Official Account that may authorize the platform.
    pub fn open_add_account(
        &self,
        app_id: &str,
        user_name: &str,
        nick_name: &str,
        func_info: &[u32],
    ) {
        self.inner.lock().open.authorizers.insert(
            app_id.to_owned(),
            Authorizer {
                user_name: user_name.to_owned(),
                nick_name: nick_name.to_owned(),
                func_info: func_info.to_vec(),
                refresh: None,
                auth_time: 0,
            },
        );
    }

    /// The owner of `app_id` scans the authorization page: a single-use
    /// authorization code, as the redirect and the `authorized` push carry.
    pub fn open_authorize(&self, app_id: &str) -> String {
        let mut st = self.inner.lock();
        st.seq += 1;
        let code = format!("queryauthcode@@@{}-{app_id}", st.seq);
        st.open.codes.insert(
            code.clone(),
            Code {
                app_id: app_id.to_owned(),
                used: false,
            },
        );
        code
    }

    /// The owner of `app_id` withdraws: its tokens stop working.
    pub fn open_unauthorize(&self, app_id: &str) {
        let mut st = self.inner.lock();
        if let Some(a) = st.open.authorizers.get_mut(app_id) {
            a.refresh = None;
        }
        if let Some(old) = st.classic.remove(app_id) {
            st.expired.insert(old);
        }
    }

    /// The refresh token WeChat considers live for `app_id`.
    pub fn open_refresh_token(&self, app_id: &str) -> Option<String> {
        self.inner
            .lock()
            .open
            .authorizers
            .get(app_id)
            .and_then(|a| a.refresh.clone())
    }

    /// `api_authorizer_token` calls made for `app_id`.
    pub fn open_authorizer_token_fetches(&self, app_id: &str) -> usize {
        self.requests(paths::AUTHORIZER_TOKEN)
            .iter()
            .filter(|b| b["authorizer_appid"] == app_id)
            .count()
    }

    /// `api_query_auth` calls made with `code`.
    pub fn open_query_auth_calls(&self, code: &str) -> usize {
        self.requests(paths::QUERY_AUTH)
            .iter()
            .filter(|b| b["authorization_code"] == code)
            .count()
    }
}

/// WeChat's side of the platform: what it signs and encrypts pushes with
/// (the component's Token and key, the component app id as receiveId).
pub struct OpenWechat {
    crypt: MsgCrypt,
    http: reqwest::Client,
}

impl Default for OpenWechat {
    fn default() -> Self {
        OpenWechat::new()
    }
}

impl OpenWechat {
    pub fn new() -> OpenWechat {
        OpenWechat {
            crypt: MsgCrypt::new(
                AesKey::from_encoding_aes_key(COMPONENT_AES_KEY).expect("key"),
                COMPONENT_APP_ID,
            ),
            http: reqwest::Client::new(),
        }
    }

    /// Posts `xml` to `url` as WeChat does (safe mode); status and raw body.
    pub async fn post(&self, url: &str, xml: &str) -> (u16, String) {
        let now = wxhost::unix_now();
        let (url, body) = signed_request(
            url,
            COMPONENT_TOKEN,
            Some(&self.crypt),
            Mode::Safe,
            xml,
            now,
        );
        let r = self.http.post(url).body(body).send().await.expect("POST");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// The plaintext of a reply sealed with the platform's keys.
    pub fn open(&self, body: &str) -> String {
        protocol::open_reply(COMPONENT_TOKEN, &self.crypt, body)
            .unwrap_or_else(|e| panic!("reply not sealed with the platform's key: {e:?}: {body}"))
    }

    /// The ticket notice.
    pub fn ticket(ticket: &str) -> String {
        format!(
            "<xml><AppId><![CDATA[{COMPONENT_APP_ID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>",
            wxhost::unix_now()
        )
    }

    /// The `authorized` notice for `app_id` with `code`.
    pub fn authorized(app_id: &str, code: &str) -> String {
        let now = wxhost::unix_now();
        format!(
            "<xml><AppId><![CDATA[{COMPONENT_APP_ID}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[authorized]]></InfoType><AuthorizerAppid><![CDATA[{app_id}]]></AuthorizerAppid><AuthorizationCode><![CDATA[{code}]]></AuthorizationCode><AuthorizationCodeExpiredTime>{}</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@x]]></PreAuthCode></xml>",
            now + 600
        )
    }

    /// The `unauthorized` notice for `app_id`.
    pub fn unauthorized(app_id: &str) -> String {
        format!(
            "<xml><AppId><![CDATA[{COMPONENT_APP_ID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{app_id}]]></AuthorizerAppid></xml>",
            wxhost::unix_now()
        )
    }
}
