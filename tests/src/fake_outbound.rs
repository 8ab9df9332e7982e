//! The fake WeChat's outbound endpoints: template messages, subscription
//! notifications and mass sends, behaving as WeChat does where delivery
//! tests care, with deliveries, per-second rates and injected faults
//! recorded for the tests to assert on.
//!
//! - `template/send` honours `client_msg_id` for 10 minutes: the same
//!   (app, user, id) again answers the first msgid and delivers nothing.
//!   Mass sends honour `clientmsgid` for 24 hours the same way.
//! - msgids start above 2^53, so a client reading them through a float
//!   gets them wrong.
//! - Faults ([`FakeWechat::inject`]): every n-th call to a path answers an
//!   errcode, either before delivering (WeChat refused) or after (the
//!   message went out but the answer says -1: a lost answer).
//!   [`FakeWechat::exhaust_quota`] answers 45009 to one app's calls of a
//!   path; [`FakeWechat::refuse_user`] answers 43101 for one user.
//! - Every call's arrival is timed, for [`FakeWechat::max_per_second`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_wechat::FakeWechat;

pub const TEMPLATE_SEND: &str = "/cgi-bin/message/template/send";
pub const SUBSCRIBE_SEND: &str = "/cgi-bin/message/subscribe/bizsend";
pub const MASS_SENDALL: &str = "/cgi-bin/message/mass/sendall";
pub const MASS_SEND: &str = "/cgi-bin/message/mass/send";
pub const QUOTA_GET: &str = "/cgi-bin/openapi/quota/get";
pub const MEDIA_UPLOAD: &str = "/cgi-bin/media/upload";
pub const MATERIAL_ADD: &str = "/cgi-bin/material/add_material";

/// An upload the fake took: its path, `type` and the part's file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub path: String,
    pub kind: String,
    pub file_name: String,
    pub media_id: String,
}

/// How long WeChat remembers a template's `client_msg_id`.
const TEMPLATE_DEDUP: Duration = Duration::from_secs(600);
/// How long WeChat remembers a mass send's `clientmsgid`.
const MASS_DEDUP: Duration = Duration::from_secs(24 * 3600);
/// The first msgid handed out: above 2^53.
const FIRST_MSGID: u64 = (1 << 53) + 1;

/// A fault: every `every`-th call to the path answers `errcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub errcode: i64,
    pub every: usize,
    /// Deliver first, then answer the error (WeChat sent it, the answer
    /// was lost).
    pub after_delivery: bool,
}

/// A message the fake delivered to a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub app_id: String,
    pub path: String,
    /// The OpenID (for a mass send, the tag or list as JSON).
    pub to: String,
    pub template_id: Option<String>,
    pub msgid: u64,
    pub body: Value,
}

#[derive(Default)]
pub(crate) struct OutboundState {
    next_msgid: u64,
    calls: HashMap<String, usize>,
    arrivals: HashMap<String, Vec<Instant>>,
    faults: HashMap<String, Vec<Fault>>,
    exhausted: HashSet<(String, String)>,
    refusing: HashSet<String>,
    /// (app, user, client id) → (msgid, when first seen).
    seen: HashMap<(String, String, String), (u64, Instant)>,
    deliveries: Vec<Delivery>,
    uploads: Vec<Upload>,
    /// Tag id → (name, tagged OpenIDs).
    tags: std::collections::BTreeMap<u64, (String, Vec<String>)>,
    /// Mass sends withdrawn (`mass/delete`), by msg_id.
    deleted: HashSet<u64>,
    /// Per app: `mass/speed` (0..=4; WeChat's default is 0).
    speed: HashMap<String, u64>,
}

/// `mass/preview`, `mass/get`, `mass/delete`, `mass/speed/get|set` as
/// WeChat answers them: a preview is a delivery to one follower; `get`
/// and `delete` know this app's mass sends only.
fn mass_admin(st: &mut OutboundState, app_id: &str, path: &str, body: &Value) -> Option<Value> {
    let err = |code: i64, msg: &str| json!({"errcode": code, "errmsg": msg});
    let sent = |st: &OutboundState, id: u64| {
        st.deliveries.iter().any(|d| {
            d.app_id == app_id && d.msgid == id && (d.path == MASS_SENDALL || d.path == MASS_SEND)
        })
    };
    Some(match path {
        "/cgi-bin/message/mass/preview" => {
            let to = ["touser", "towxname"]
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str))
                .unwrap_or("");
            if to.is_empty() {
                return Some(err(40003, "invalid openid"));
            }
            if st.next_msgid == 0 {
                st.next_msgid = FIRST_MSGID;
            }
            let msgid = st.next_msgid;
            st.next_msgid += 1;
            st.deliveries.push(Delivery {
                app_id: app_id.to_owned(),
                path: path.to_owned(),
                to: to.to_owned(),
                template_id: None,
                msgid,
                body: body.clone(),
            });
            json!({"errcode": 0, "errmsg": "preview success", "msg_id": msgid})
        }
        "/cgi-bin/message/mass/get" => {
            let id = body.get("msg_id").and_then(Value::as_u64).unwrap_or(0);
            if !sent(st, id) {
                return Some(err(40007, "invalid msg_id"));
            }
            let status = if st.deleted.contains(&id) {
                "DELETE"
            } else {
                "SEND_SUCCESS"
            };
            json!({"msg_id": id, "msg_status": status})
        }
        "/cgi-bin/message/mass/delete" => {
            let id = body.get("msg_id").and_then(Value::as_u64).unwrap_or(0);
            if !sent(st, id) {
                return Some(err(40007, "invalid msg_id"));
            }
            st.deleted.insert(id);
            err(0, "ok")
        }
        "/cgi-bin/message/mass/speed/get" => {
            let speed = st.speed.get(app_id).copied().unwrap_or(0);
            let per_min = [80, 60, 45, 30, 10][speed as usize];
            json!({"speed": speed, "realspeed": per_min})
        }
        "/cgi-bin/message/mass/speed/set" => match body.get("speed").and_then(Value::as_u64) {
            None => err(45084, "no speed"),
            Some(s) if s > 4 => err(45083, "speed out of range"),
            Some(s) => {
                st.speed.insert(app_id.to_owned(), s);
                err(0, "ok")
            }
        },
        _ => return None,
    })
}

/// User tags as WeChat keeps them: ids from 100 (0–2 are the system's),
/// names ≤ 30 bytes and unique (45157/45158), ≤ 50 OpenIDs per batch.
fn tags(st: &mut OutboundState, path: &str, body: &Value) -> Option<Value> {
    let err = |code: i64, msg: &str| json!({"errcode": code, "errmsg": msg});
    let tag_id = || body.get("tagid").and_then(Value::as_u64).unwrap_or(0);
    Some(match path {
        "/cgi-bin/tags/create" => {
            let name = body["tag"]["name"].as_str().unwrap_or("");
            if name.is_empty() || name.len() > 30 {
                err(45158, "tag name too long")
            } else if st.tags.values().any(|(n, _)| n == name) {
                err(45157, "invalid tag name")
            } else {
                let id = 100 + st.tags.len() as u64;
                st.tags.insert(id, (name.to_owned(), Vec::new()));
                json!({"tag": {"id": id, "name": name}})
            }
        }
        "/cgi-bin/tags/get" => json!({"tags": st.tags.iter()
            .map(|(id, (name, users))| json!({"id": id, "name": name, "count": users.len()}))
            .collect::<Vec<_>>()}),
        "/cgi-bin/tags/members/batchtagging" | "/cgi-bin/tags/members/batchuntagging" => {
            let list: Vec<String> = body["openid_list"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let Some((_, users)) = st.tags.get_mut(&tag_id()) else {
                return Some(err(45159, "invalid tag id"));
            };
            if list.is_empty() || list.len() > 50 {
                return Some(err(40032, "invalid openid list size"));
            }
            if path.ends_with("batchtagging") {
                for o in list {
                    if !users.contains(&o) {
                        users.push(o);
                    }
                }
            } else {
                users.retain(|u| !list.contains(u));
            }
            json!({"errcode": 0, "errmsg": "ok"})
        }
        "/cgi-bin/user/tag/get" => match st.tags.get(&tag_id()) {
            None => err(45159, "invalid tag id"),
            Some((_, users)) => {
                json!({"count": users.len(), "data": {"openid": users}, "next_openid": ""})
            }
        },
        _ => return None,
    })
}

/// A media upload as WeChat checks it: a multipart part named `media`
/// whose file name has an extension WeChat takes for the `type` (40005
/// "invalid file type" otherwise, 41005 without the part).
fn upload(
    st: &mut OutboundState,
    path: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> Value {
    let err = |code: i64, msg: &str| json!({"errcode": code, "errmsg": msg});
    let kind = query.get("type").cloned().unwrap_or_default();
    let raw = body.get("_raw").and_then(Value::as_str).unwrap_or("");
    let Some(at) = raw.find("name=\"media\"") else {
        return err(41005, "media data missing");
    };
    let header = &raw[at..raw[at..].find("\r\n\r\n").map_or(raw.len(), |e| at + e)];
    let file_name = header
        .split("filename=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_owned();
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let ok = match kind.as_str() {
        "image" => ["jpg", "jpeg", "png", "gif", "bmp"].contains(&ext.as_str()),
        "voice" => ["amr", "mp3"].contains(&ext.as_str()),
        "video" => ext == "mp4",
        "thumb" => ["jpg", "jpeg"].contains(&ext.as_str()),
        _ => return err(40004, "invalid media type"),
    };
    if !ok {
        return err(40005, "invalid file type");
    }
    if st.next_msgid == 0 {
        st.next_msgid = FIRST_MSGID;
    }
    st.next_msgid += 1;
    let media_id = format!("fake-media-{}", st.next_msgid);
    st.uploads.push(Upload {
        path: path.to_owned(),
        kind: kind.clone(),
        file_name,
        media_id: media_id.clone(),
    });
    if path == MATERIAL_ADD {
        json!({"media_id": media_id, "url": format!("http://mmbiz.qpic.cn/fake/{media_id}")})
    } else {
        json!({"type": kind, "media_id": media_id, "created_at": 1_700_000_000})
    }
}

/// Answers `path` for `app_id` if it is an outbound endpoint.
pub(crate) fn api(
    st: &mut OutboundState,
    app_id: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> Option<Value> {
    if path == MEDIA_UPLOAD || path == MATERIAL_ADD {
        return Some(upload(st, path, query, body));
    }
    if let Some(answer) = tags(st, path, body) {
        return Some(answer);
    }
    if let Some(answer) = mass_admin(st, app_id, path, body) {
        return Some(answer);
    }
    if path == QUOTA_GET {
        let cgi = body.get("cgi_path").and_then(Value::as_str).unwrap_or("");
        if !cgi.starts_with("/cgi-bin/") {
            return Some(json!({"errcode": 76021, "errmsg": "cgi_path not found"}));
        }
        let used = st.calls.get(cgi).copied().unwrap_or(0) as u64;
        return Some(json!({"errcode": 0, "errmsg": "ok",
            "quota": {"daily_limit": 100_000, "used": used, "remain": 100_000 - used}}));
    }
    if ![TEMPLATE_SEND, SUBSCRIBE_SEND, MASS_SENDALL, MASS_SEND].contains(&path) {
        return None;
    }
    let now = Instant::now();
    st.arrivals.entry(path.to_owned()).or_default().push(now);
    let n = {
        let c = st.calls.entry(path.to_owned()).or_default();
        *c += 1;
        *c
    };
    if st.next_msgid == 0 {
        st.next_msgid = FIRST_MSGID;
    }
    let err = |code: i64, msg: &str| json!({"errcode": code, "errmsg": msg});
    if st.exhausted.contains(&(app_id.to_owned(), path.to_owned())) {
        return Some(err(45009, "reach max api daily quota limit"));
    }
    let fault = st
        .faults
        .get(path)
        .and_then(|fs| fs.iter().find(|f| f.every > 0 && n % f.every == 0))
        .copied();
    if let Some(f) = fault.filter(|f| !f.after_delivery) {
        return Some(err(f.errcode, "injected fault"));
    }
    let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mass = path == MASS_SENDALL || path == MASS_SEND;
    let to = if mass {
        if path == MASS_SENDALL {
            body["filter"].to_string()
        } else {
            body["touser"].to_string()
        }
    } else {
        s("touser")
    };
    if !mass && to.is_empty() {
        return Some(err(40003, "invalid openid"));
    }
    if !mass && s("template_id").is_empty() {
        return Some(err(40037, "invalid template_id"));
    }
    if path == TEMPLATE_SEND && st.refusing.contains(&to) {
        return Some(err(43101, "user refuse to accept the msg"));
    }
    let client_id = match path {
        TEMPLATE_SEND => Some((s("client_msg_id"), TEMPLATE_DEDUP)),
        MASS_SENDALL | MASS_SEND => Some((s("clientmsgid"), MASS_DEDUP)),
        _ => None,
    }
    .filter(|(id, _)| !id.is_empty());
    if let Some((id, ttl)) = &client_id
        && let Some((msgid, at)) = st.seen.get(&(app_id.to_owned(), to.clone(), id.clone()))
        && now.duration_since(*at) < *ttl
    {
        // WeChat: the same id again is the same message, not a second one.
        let msgid = *msgid;
        return Some(if mass {
            json!({"errcode": 0, "errmsg": "send job submission success", "msg_id": msgid, "msg_data_id": msgid})
        } else {
            json!({"errcode": 0, "errmsg": "ok", "msgid": msgid})
        });
    }
    let msgid = st.next_msgid;
    st.next_msgid += 1;
    if let Some((id, _)) = client_id {
        st.seen
            .insert((app_id.to_owned(), to.clone(), id), (msgid, now));
    }
    st.deliveries.push(Delivery {
        app_id: app_id.to_owned(),
        path: path.to_owned(),
        to,
        template_id: body
            .get("template_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        msgid,
        body: body.clone(),
    });
    if let Some(f) = fault {
        return Some(err(f.errcode, "injected fault after delivery"));
    }
    Some(match path {
        TEMPLATE_SEND => json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}),
        // bizsend answers no msgid; its receipt push carries one.
        SUBSCRIBE_SEND => json!({"errcode": 0, "errmsg": "ok"}),
        _ => {
            json!({"errcode": 0, "errmsg": "send job submission success", "msg_id": msgid, "msg_data_id": msgid})
        }
    })
}

/// The most calls to arrive within any one second, from arrival times.
pub fn max_in_any_second(arrivals: &[Instant]) -> usize {
    let mut times = arrivals.to_vec();
    times.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

impl FakeWechat {
    fn outbound<T>(&self, f: impl FnOnce(&mut OutboundState) -> T) -> T {
        f(&mut self.inner.lock().outbound)
    }

    /// Adds a fault on `path` (one of this module's paths).
    pub fn inject(&self, path: &str, fault: Fault) {
        self.outbound(|st| st.faults.entry(path.to_owned()).or_default().push(fault));
    }

    /// `app_id`'s calls to `path` answer 45009 (daily quota) until
    /// [`FakeWechat::restore_quota`].
    pub fn exhaust_quota(&self, app_id: &str, path: &str) {
        self.outbound(|st| st.exhausted.insert((app_id.to_owned(), path.to_owned())));
    }

    pub fn restore_quota(&self, app_id: &str, path: &str) {
        self.outbound(|st| st.exhausted.remove(&(app_id.to_owned(), path.to_owned())));
    }

    /// Template messages to `openid` answer 43101 (the user refuses them).
    pub fn refuse_user(&self, openid: &str) {
        self.outbound(|st| st.refusing.insert(openid.to_owned()));
    }

    /// What reached users, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.outbound(|st| st.deliveries.clone())
    }

    /// Calls to outbound `path` (faulted ones included).
    pub fn outbound_calls(&self, path: &str) -> usize {
        self.outbound(|st| st.calls.get(path).copied().unwrap_or(0))
    }

    /// The media uploads the fake took, in order.
    pub fn uploads(&self) -> Vec<Upload> {
        self.outbound(|st| st.uploads.clone())
    }

    /// The most calls to `path` that arrived within any one second.
    pub fn max_per_second(&self, path: &str) -> usize {
        self.outbound(|st| max_in_any_second(st.arrivals.get(path).map_or(&[][..], Vec::as_slice)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_second_counts() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(max_in_any_second(&[]), 0);
        assert_eq!(max_in_any_second(&[at(0), at(999), at(1000), at(1500)]), 3);
        assert_eq!(max_in_any_second(&[at(0), at(1000), at(2000)]), 1);
    }

    #[test]
    fn client_msg_id_is_honoured_and_lost_answers_still_deliver() {
        let mut st = OutboundState::default();
        st.faults.insert(
            TEMPLATE_SEND.into(),
            vec![Fault {
                errcode: -1,
                every: 1,
                after_delivery: true,
            }],
        );
        let body = json!({"touser": "o1", "template_id": "T", "client_msg_id": "c1", "data": {}});
        let q = HashMap::new();
        let first = api(&mut st, "app", TEMPLATE_SEND, &q, &body).unwrap();
        assert_eq!(first["errcode"], -1);
        st.faults.clear();
        let again = api(&mut st, "app", TEMPLATE_SEND, &q, &body).unwrap();
        assert_eq!(again["errcode"], 0);
        assert_eq!(again["msgid"].as_u64(), Some(FIRST_MSGID));
        assert_eq!(st.deliveries.len(), 1);
        let other = json!({"touser": "o1", "template_id": "T", "client_msg_id": "c2", "data": {}});
        api(&mut st, "app", TEMPLATE_SEND, &q, &other).unwrap();
        assert_eq!(st.deliveries.len(), 2);
    }
}
