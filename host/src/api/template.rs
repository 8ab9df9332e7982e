//! Template messages (`/cgi-bin/message/template/send`) and subscription
//! notifications (`/cgi-bin/message/subscribe/bizsend`): one call each,
//! made once (the outbound queue owns retries, see `crate::outbound`).
//!
//! The bodies are built by the job model (`crate::outbound::job`); these
//! wrappers send them and read WeChat's `msgid`, a 64-bit integer (read
//! with `as_u64`, never through a float).

use serde_json::Value;

use super::{ApiError, Wechat};

pub const TEMPLATE_SEND: &str = "/cgi-bin/message/template/send";
pub const SUBSCRIBE_SEND: &str = "/cgi-bin/message/subscribe/bizsend";

/// The `msgid` (or `msg_id`) of an answer, when WeChat gave one.
pub fn msgid_of(answer: &Value) -> Option<u64> {
    ["msgid", "msg_id"]
        .iter()
        .find_map(|k| match answer.get(*k) {
            Some(Value::Number(n)) => n.as_u64(),
            // Some endpoints answer ids as strings.
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        })
}

impl Wechat {
    /// Sends a template message; its `msgid`.
    pub async fn send_template(&self, body: &Value) -> Result<Option<u64>, ApiError> {
        let answer = self.post_once(TEMPLATE_SEND, body).await?;
        Ok(msgid_of(&answer))
    }

    /// Sends a subscription notification (`bizsend`); its `msgid` if the
    /// answer has one (the receipt push carries it either way).
    pub async fn send_subscribe(&self, body: &Value) -> Result<Option<u64>, ApiError> {
        let answer = self.post_once(SUBSCRIBE_SEND, body).await?;
        Ok(msgid_of(&answer))
    }

    /// `POST /cgi-bin/openapi/quota/get {cgi_path}`: `{daily_limit, used,
    /// remain}` of one API for this account.
    pub async fn api_quota(&self, cgi_path: &str) -> Result<Value, ApiError> {
        if !cgi_path.starts_with('/') {
            return Err(ApiError::Invalid(format!(
                "cgi_path `{cgi_path}` must start with / (e.g. /cgi-bin/message/template/send)"
            )));
        }
        let answer = self
            .post(
                "/cgi-bin/openapi/quota/get",
                &serde_json::json!({"cgi_path": cgi_path}),
            )
            .await?;
        Ok(answer.get("quota").cloned().unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn msgids_are_read_as_64_bit_integers() {
        assert_eq!(
            msgid_of(&json!({"errcode": 0, "msgid": 18446744073709551000u64})),
            Some(18446744073709551000)
        );
        assert_eq!(msgid_of(&json!({"msg_id": "1000000001"})), Some(1000000001));
        assert_eq!(msgid_of(&json!({"msgid": 1.5})), None);
        assert_eq!(msgid_of(&json!({"errcode": 0})), None);
    }
}
