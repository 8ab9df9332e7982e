//! The "typing" status (正在输入): `POST /cgi-bin/message/custom/typing`
//! with `{"touser": OPENID, "command": "Typing" | "CancelTyping"}`.
//!
//! A customer-service API: WeChat shows it only where the account may send
//! customer-service messages to the user (within 48 h of their message).
//! Sent by the host for a push whose plugins are still working after
//! `server.typing_after_ms` (`server::typing`), and by plugins (the WIT
//! function is added with the outbound interface).

use serde_json::{Value, json};

use super::{ApiError, Wechat};

/// Typing, or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypingCommand {
    Typing,
    CancelTyping,
}

impl TypingCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            TypingCommand::Typing => "Typing",
            TypingCommand::CancelTyping => "CancelTyping",
        }
    }
}

/// The request body.
pub fn typing_json(to_user: &str, command: TypingCommand) -> Result<Value, ApiError> {
    if to_user.is_empty() {
        return Err(ApiError::Invalid("typing: empty recipient openid".into()));
    }
    Ok(json!({"touser": to_user, "command": command.as_str()}))
}

impl Wechat {
    /// Shows (or ends) the typing status in `to_user`'s chat.
    pub async fn send_typing(&self, to_user: &str, command: TypingCommand) -> Result<(), ApiError> {
        let body = typing_json(to_user, command)?;
        self.post("/cgi-bin/message/custom/typing", &body)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_wechats_format() {
        assert_eq!(
            typing_json("o1", TypingCommand::Typing).unwrap(),
            json!({"touser": "o1", "command": "Typing"})
        );
        assert_eq!(
            typing_json("o1", TypingCommand::CancelTyping).unwrap()["command"],
            "CancelTyping"
        );
        assert!(typing_json("", TypingCommand::Typing).is_err());
    }
}
