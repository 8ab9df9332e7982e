//! Mass messages (群发): send by tag (`mass/sendall`) or to an OpenID list
//! (`mass/send`), preview, status, delete, and the send speed.
//!
//! Sends carry `clientmsgid`: WeChat refuses a repeat within 24 h and
//! answers with the first send's `msg_id`, so a retry after a lost answer
//! is not a second mass message (`wechat-outbound-and-open-platform.md`
//! §B.3). Sends go through the outbound queue; these are the calls.

use serde_json::{Value, json};

use super::template::msgid_of;
use super::{ApiError, Wechat};

/// errcode of "clientmsgid exist" (a repeat within 24 h): the first
/// send's id is in the answer, so it counts as sent.
pub const CLIENTMSGID_EXISTS: i64 = 45065;

impl Wechat {
    /// Sends a mass message body (built by the job model) to `path`
    /// (`mass/sendall` or `mass/send`); its `msg_id`.
    pub async fn send_mass(&self, path: &str, body: &Value) -> Result<Option<u64>, ApiError> {
        if !matches!(
            path,
            "/cgi-bin/message/mass/sendall" | "/cgi-bin/message/mass/send"
        ) {
            return Err(ApiError::Invalid(format!("not a mass send path: {path}")));
        }
        match self.post_once(path, body).await {
            Ok(answer) => Ok(msgid_of(&answer)),
            Err(ApiError::Wechat { code, message }) if code == CLIENTMSGID_EXISTS => {
                // WeChat names the first send's id in errmsg-only answers;
                // without one the job is still sent (once), id unknown.
                Ok(message
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|s| s.len() >= 6)
                    .find_map(|s| s.parse().ok()))
            }
            Err(e) => Err(e),
        }
    }

    /// `mass/preview`: the message to one follower (`towxname` or `touser`).
    pub async fn preview_mass(&self, body: &Value) -> Result<(), ApiError> {
        self.post("/cgi-bin/message/mass/preview", body)
            .await
            .map(|_| ())
    }

    /// `mass/get`: a mass send's status (`msg_status`).
    pub async fn mass_status(&self, msg_id: u64) -> Result<Value, ApiError> {
        self.post("/cgi-bin/message/mass/get", &json!({"msg_id": msg_id}))
            .await
    }

    /// `mass/delete`: withdraws a sent mass message (all its articles, or
    /// article `article_idx`, 1-based).
    pub async fn delete_mass(&self, msg_id: u64, article_idx: Option<u32>) -> Result<(), ApiError> {
        let mut body = json!({"msg_id": msg_id});
        if let Some(i) = article_idx {
            body["article_idx"] = json!(i);
        }
        self.post("/cgi-bin/message/mass/delete", &body)
            .await
            .map(|_| ())
    }

    /// `mass/speed/get`: `(speed 0..=4, realspeed in 10k/min)`.
    pub async fn mass_speed(&self) -> Result<(u64, u64), ApiError> {
        let v = self
            .post("/cgi-bin/message/mass/speed/get", &json!({}))
            .await?;
        Ok((
            v.get("speed").and_then(Value::as_u64).unwrap_or(0),
            v.get("realspeed").and_then(Value::as_u64).unwrap_or(0),
        ))
    }

    /// `mass/speed/set`: 0 (fastest, 80万/min) to 4 (10万/min).
    pub async fn set_mass_speed(&self, speed: u8) -> Result<(), ApiError> {
        if speed > 4 {
            return Err(ApiError::Invalid(format!(
                "mass speed {speed}: 0 (fastest) to 4"
            )));
        }
        self.post("/cgi-bin/message/mass/speed/set", &json!({"speed": speed}))
            .await
            .map(|_| ())
    }
}
