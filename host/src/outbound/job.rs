//! The job model: what a caller asks to send ([`JobSpec`], the JSON of
//! `POST /api/v1/messages`, of `wxhost send --file` lines and of the
//! plugins' host function) and what the queue knows of it ([`JobRecord`]).
//!
//! The spec keeps WeChat's own field shapes inside (`data`, `miniprogram`,
//! `message`), so a caller who knows WeChat's API knows the job; the host
//! adds only what belongs to delivery (`account`, `key`, `fallback`,
//! `deadline_secs`). WeChat's `msgid` is a 64-bit integer end to end: parsed
//! with `as_u64`, stored as an integer, written as an integer, never a float.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::rules;

/// How a job reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// 模板消息, `/cgi-bin/message/template/send`.
    Template,
    /// 订阅通知, `/cgi-bin/message/subscribe/bizsend`.
    Subscribe,
    /// 客服消息, `/cgi-bin/message/custom/send` (48 h after the user's last push).
    Customer,
    /// 群发, `/cgi-bin/message/mass/sendall` (by tag) or `mass/send` (openids).
    Mass,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Template => "template",
            Channel::Subscribe => "subscribe",
            Channel::Customer => "customer",
            Channel::Mass => "mass",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Some(match s {
            "template" => Channel::Template,
            "subscribe" => Channel::Subscribe,
            "customer" => Channel::Customer,
            "mass" => Channel::Mass,
            _ => return None,
        })
    }

    /// The API the channel's sends are rate-limited and paused under (all
    /// mass endpoints share WeChat's one mass quota).
    pub fn api(self) -> &'static str {
        match self {
            Channel::Template => "/cgi-bin/message/template/send",
            Channel::Subscribe => "/cgi-bin/message/subscribe/bizsend",
            Channel::Customer => "/cgi-bin/message/custom/send",
            Channel::Mass => "/cgi-bin/message/mass/send",
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for its turn, its retry time or the end of a pause.
    Queued,
    /// WeChat accepted it.
    Sent,
    /// A receipt push said the user got it.
    Delivered,
    /// Given up, with a `reason`.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "queued" => Status::Queued,
            "sent" => Status::Sent,
            "delivered" => Status::Delivered,
            "failed" => Status::Failed,
            _ => return None,
        })
    }
}

/// The recipient: one OpenID, or a list (mass send to OpenIDs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum To {
    One(String),
    Many(Vec<String>),
}

/// A job as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The account it is sent for; `None`: the caller's (`?account=`, or
    /// the plugin's message's account), else `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<To>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// WeChat's `data`: `{"field": {"value": "…"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// WeChat's `miniprogram`: `{"appid", "pagepath"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<Value>,
    /// Subscription notification's `page`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Customer-service and mass messages: WeChat's own body without the
    /// recipient, e.g. `{"msgtype": "text", "text": {"content": "…"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// Mass send to a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<u64>,
    /// Idempotency key: a second job with the same key (same account)
    /// returns the first job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What to send instead when the customer-service window is closed
    /// (a template or subscription job; `to` and `account` default to the
    /// job's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Box<JobSpec>>,
    /// Give up retrying this long after the job was queued (default
    /// `[outbound] deadline_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_secs: Option<u64>,
}

/// Longest idempotency key (it is stored and compared, never sent).
pub const MAX_KEY_BYTES: usize = 128;
/// Longest serialized job: the admin API's 1 MiB body holds hundreds.
pub const MAX_JOB_BYTES: usize = 64 * 1024;

impl JobSpec {
    /// Parses one job from JSON, naming the field that is wrong.
    pub fn from_json(value: Value) -> Result<JobSpec, String> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            match path.as_str() {
                "." | "" => e.inner().to_string(),
                _ => format!("{path}: {}", e.inner()),
            }
        })
    }

    /// The single recipient, for the channels that have one.
    pub fn openid(&self) -> Option<&str> {
        match &self.to {
            Some(To::One(o)) => Some(o),
            _ => None,
        }
    }

    /// Checks what WeChat would refuse, before it is queued: required
    /// fields per channel, the template data rules, the fallback's shape.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(k) = &self.key
            && (k.is_empty() || k.len() > MAX_KEY_BYTES)
        {
            return Err(format!("key: 1 to {MAX_KEY_BYTES} bytes"));
        }
        let one_recipient = || match &self.to {
            Some(To::One(o)) if !o.is_empty() && o.len() <= 64 => Ok(()),
            _ => Err("to: one OpenID (a non-empty string) is required".to_owned()),
        };
        let template_id = || match &self.template_id {
            Some(t) if !t.is_empty() && t.len() <= 128 => Ok(()),
            _ => Err("template_id: required".to_owned()),
        };
        match self.channel {
            Channel::Template => {
                one_recipient()?;
                template_id()?;
                rules::check_template_data(self.data.as_ref())?;
            }
            Channel::Subscribe => {
                one_recipient()?;
                template_id()?;
                rules::check_subscribe_data(self.data.as_ref())?;
            }
            Channel::Customer => {
                one_recipient()?;
                message_type(self.message.as_ref())?;
            }
            Channel::Mass => {
                message_type(self.message.as_ref())?;
                match (&self.to, self.tag_id) {
                    (None, Some(_)) => {}
                    (Some(To::Many(list)), None)
                        if list.len() >= 2 && list.iter().all(|o| !o.is_empty()) =>
                    {
                        if list.len() > 10_000 {
                            return Err("to: at most 10,000 OpenIDs per mass send".into());
                        }
                    }
                    (Some(_), None) => {
                        return Err(
                            "to: a mass send takes a list of at least 2 OpenIDs (or tag_id)".into(),
                        );
                    }
                    (Some(_), Some(_)) => return Err("give either to or tag_id, not both".into()),
                    (None, None) => return Err("tag_id or to (a list of OpenIDs): required".into()),
                }
            }
        }
        if let Some(f) = &self.fallback {
            if self.channel != Channel::Customer {
                return Err("fallback: only a customer-service job has a fallback".into());
            }
            if !matches!(f.channel, Channel::Template | Channel::Subscribe) {
                return Err("fallback.channel: template or subscribe".into());
            }
            if f.fallback.is_some() || f.key.is_some() {
                return Err("fallback: takes no fallback or key of its own".into());
            }
            self.fallback_spec()
                .expect("checked above")
                .validate()
                .map_err(|e| format!("fallback.{e}"))?;
        }
        Ok(())
    }

    /// The fallback with the job's recipient and account filled in.
    pub fn fallback_spec(&self) -> Option<JobSpec> {
        let mut f = (**self.fallback.as_ref()?).clone();
        if f.to.is_none() {
            f.to = self.to.clone();
        }
        if f.account.is_none() {
            f.account = self.account.clone();
        }
        Some(f)
    }

    /// The request body WeChat takes for this job. `dedup_id` becomes
    /// `client_msg_id` (template) or `clientmsgid` (mass): the same on every
    /// retry of the job, so WeChat sends it once.
    pub fn request_body(&self, dedup_id: &str) -> Value {
        let mut body = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(k.to_owned(), v);
            }
        };
        match self.channel {
            Channel::Template => {
                put("touser", self.openid().map(|o| json!(o)));
                put("template_id", self.template_id.as_ref().map(|t| json!(t)));
                put("url", self.url.as_ref().map(|u| json!(u)));
                put("miniprogram", self.miniprogram.clone());
                put("client_msg_id", Some(json!(dedup_id)));
                put("data", self.data.clone());
            }
            Channel::Subscribe => {
                put("touser", self.openid().map(|o| json!(o)));
                put("template_id", self.template_id.as_ref().map(|t| json!(t)));
                put("page", self.page.as_ref().map(|p| json!(p)));
                put("miniprogram", self.miniprogram.clone());
                put("data", self.data.clone());
            }
            Channel::Customer | Channel::Mass => {
                if let Some(Value::Object(m)) = &self.message {
                    for (k, v) in m {
                        body.insert(k.clone(), v.clone());
                    }
                }
                match (&self.to, self.tag_id) {
                    (_, Some(tag)) => {
                        body.insert("filter".into(), json!({"is_to_all": false, "tag_id": tag}));
                    }
                    (Some(To::One(o)), None) => {
                        body.insert("touser".into(), json!(o));
                    }
                    (Some(To::Many(list)), None) => {
                        body.insert("touser".into(), json!(list));
                    }
                    (None, None) => {}
                }
                if self.channel == Channel::Mass {
                    body.insert("clientmsgid".into(), json!(dedup_id));
                }
            }
        }
        Value::Object(body)
    }

    /// The mass endpoint this job goes to.
    pub fn mass_path(&self) -> &'static str {
        if self.tag_id.is_some() {
            "/cgi-bin/message/mass/sendall"
        } else {
            "/cgi-bin/message/mass/send"
        }
    }
}

/// A customer-service or mass `message` must name its `msgtype` and carry
/// the object of that name, as WeChat's body does.
fn message_type(message: Option<&Value>) -> Result<(), String> {
    let Some(Value::Object(m)) = message else {
        return Err(
            "message: an object such as {\"msgtype\": \"text\", \"text\": {\"content\": \"…\"}}"
                .into(),
        );
    };
    let Some(t) = m.get("msgtype").and_then(Value::as_str) else {
        return Err("message.msgtype: required".into());
    };
    if !m.get(t).is_some_and(Value::is_object) {
        return Err(format!("message.{t}: the {t} object is required"));
    }
    if m.contains_key("touser") || m.contains_key("filter") {
        return Err("message: the recipient goes in to / tag_id, not in message".into());
    }
    Ok(())
}

/// One step of a job's history (the console's job page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// Unix milliseconds.
    pub at: i64,
    pub status: Status,
    pub note: String,
}

/// A job as the queue keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: i64,
    pub account: String,
    pub spec: JobSpec,
    pub status: Status,
    pub reason: Option<String>,
    /// Calls made to WeChat for it.
    pub attempts: u32,
    pub msgid: Option<u64>,
    /// The channel its sends use now: its own, or its fallback's.
    pub via: Channel,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub next_attempt_ms: i64,
    pub deadline_ms: i64,
    pub history: Vec<HistoryEntry>,
}

impl JobRecord {
    /// The spec that is sent: the job's own, or its fallback once switched.
    pub fn effective_spec(&self) -> JobSpec {
        if self.via != self.spec.channel {
            return self
                .spec
                .fallback_spec()
                .unwrap_or_else(|| self.spec.clone());
        }
        self.spec.clone()
    }

    /// The id WeChat de-duplicates retries by (`client_msg_id` /
    /// `clientmsgid`, ≤ 64 bytes): fixed for the job's life.
    pub fn dedup_id(&self) -> String {
        format!("wxhost-{}-{}", self.account, self.id)
    }

    /// The JSON the admin API answers with.
    pub fn to_json(&self, with_history: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "account": self.account,
            "channel": self.spec.channel,
            "via": self.via,
            "status": self.status,
            "reason": self.reason,
            "attempts": self.attempts,
            "msgid": self.msgid,
            "created_at_ms": self.created_ms,
            "updated_at_ms": self.updated_ms,
            "next_attempt_at_ms": (self.status == Status::Queued).then_some(self.next_attempt_ms),
            "deadline_at_ms": self.deadline_ms,
            "job": self.spec,
        });
        if with_history {
            v["history"] = json!(self.history);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        json!({"account": "shop", "channel": "template", "to": "o1", "template_id": "T1",
               "data": {"thing1": {"value": "包裹已发出"}}, "url": "https://e.example/o/1", "key": "order-1"})
    }

    #[test]
    fn template_job_round_trips_and_builds_wechats_body() {
        let job = JobSpec::from_json(template()).unwrap();
        job.validate().unwrap();
        assert_eq!(job.channel, Channel::Template);
        assert_eq!(serde_json::to_value(&job).unwrap(), template());
        let body = job.request_body("wxhost-shop-7");
        assert_eq!(
            body,
            json!({"touser": "o1", "template_id": "T1", "url": "https://e.example/o/1",
                   "client_msg_id": "wxhost-shop-7", "data": {"thing1": {"value": "包裹已发出"}}})
        );
    }

    #[test]
    fn unknown_fields_and_bad_channels_name_the_field() {
        let mut v = template();
        v["colour"] = json!("red");
        assert!(JobSpec::from_json(v).unwrap_err().contains("colour"));
        let e = JobSpec::from_json(json!({"channel": "fax", "to": "o"})).unwrap_err();
        assert!(e.contains("channel"), "{e}");
        let e = JobSpec::from_json(json!({"channel": "template", "to": 5})).unwrap_err();
        assert!(e.contains("to"), "{e}");
    }

    #[test]
    fn validation_per_channel() {
        let job = |v: Value| JobSpec::from_json(v).unwrap().validate();
        assert!(
            job(json!({"channel": "template", "template_id": "T", "data": {}}))
                .unwrap_err()
                .starts_with("to")
        );
        assert!(
            job(json!({"channel": "customer", "to": "o", "message": {"msgtype": "text"}}))
                .unwrap_err()
                .contains("message.text")
        );
        job(json!({"channel": "customer", "to": "o", "message": {"msgtype": "text", "text": {"content": "hi"}}}))
            .unwrap();
        assert!(
            job(json!({"channel": "mass", "to": ["o1"], "message": {"msgtype": "text", "text": {"content": "x"}}}))
                .unwrap_err()
                .contains("at least 2")
        );
        job(json!({"channel": "mass", "tag_id": 100, "message": {"msgtype": "text", "text": {"content": "x"}}}))
            .unwrap();
        let e = job(json!({"channel": "customer", "to": "o", "message": {"msgtype": "text", "text": {"content": "x"}},
                           "fallback": {"channel": "template", "template_id": "T", "data": {"first": {"value": "x"}}}}))
        .unwrap_err();
        assert!(e.starts_with("fallback.data.first"), "{e}");
    }

    #[test]
    fn fallback_inherits_recipient_and_mass_bodies_carry_clientmsgid() {
        let job = JobSpec::from_json(json!({"channel": "customer", "to": "o9",
            "message": {"msgtype": "text", "text": {"content": "hi"}},
            "fallback": {"channel": "template", "template_id": "T", "data": {"thing1": {"value": "x"}}}}))
        .unwrap();
        job.validate().unwrap();
        assert_eq!(job.fallback_spec().unwrap().openid(), Some("o9"));
        let mass = JobSpec::from_json(json!({"channel": "mass", "tag_id": 2,
            "message": {"msgtype": "text", "text": {"content": "x"}}}))
        .unwrap();
        let body = mass.request_body("wxhost-default-3");
        assert_eq!(body["filter"], json!({"is_to_all": false, "tag_id": 2}));
        assert_eq!(body["clientmsgid"], "wxhost-default-3");
        assert_eq!(mass.mass_path(), "/cgi-bin/message/mass/sendall");
    }

    #[test]
    fn msgid_is_an_integer_in_json_even_beyond_2_pow_53() {
        let job = JobSpec::from_json(template()).unwrap();
        let record = JobRecord {
            id: 1,
            account: "shop".into(),
            via: job.channel,
            spec: job,
            status: Status::Sent,
            reason: None,
            attempts: 1,
            msgid: Some(9_007_199_254_740_993),
            created_ms: 0,
            updated_ms: 0,
            next_attempt_ms: 0,
            deadline_ms: 0,
            history: vec![],
        };
        let text = serde_json::to_string(&record.to_json(false)).unwrap();
        assert!(text.contains(r#""msgid":9007199254740993"#), "{text}");
    }
}
