//! `POST /open/notify`, the authorization-event URL (授权事件接收 URL): the
//! platform's notices, always encrypted with its Token, key and component
//! app id, carrying no `ToUserName`:
//! `component_verify_ticket` (every 10 minutes), `authorized`,
//! `updateauthorized` and `unauthorized`. Each authenticated notice is
//! answered `success` at once; the work it asks for (a code exchange) runs
//! after the answer, so WeChat's 5 s never depend on its API.

use crate::protocol::xml::{Limits, parse_document};
use crate::protocol::{CallbackQuery, MsgCrypt, ProtocolError, verify_signature};

/// One notice, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A new `component_verify_ticket`, pushed at `create_time`.
    Ticket { ticket: String, create_time: i64 },
    /// `authorized` (`update`: `updateauthorized`, new permission sets):
    /// `code` is to be exchanged.
    Authorized {
        app_id: String,
        code: String,
        update: bool,
    },
    /// `unauthorized`: the account withdrew.
    Unauthorized { app_id: String },
    /// Another `InfoType` (acknowledged, nothing done).
    Other(String),
}

/// The platform's notice in `xml` (decrypted), for `component_app_id`.
pub fn parse_notice(xml: &str, component_app_id: &str) -> Result<Notice, ProtocolError> {
    let root = parse_document(xml, Limits::DEFAULT)?;
    let text = |name: &'static str| {
        root.child_text(name)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ProtocolError::MissingField(name))
    };
    if text("AppId")? != component_app_id {
        return Err(ProtocolError::WrongAppId);
    }
    let create_time = text("CreateTime")?
        .parse::<i64>()
        .map_err(|_| ProtocolError::InvalidField("CreateTime"))?;
    Ok(match text("InfoType")? {
        "component_verify_ticket" => Notice::Ticket {
            ticket: text("ComponentVerifyTicket")?.to_owned(),
            create_time,
        },
        t @ ("authorized" | "updateauthorized") => Notice::Authorized {
            app_id: text("AuthorizerAppid")?.to_owned(),
            code: text("AuthorizationCode")?.to_owned(),
            update: t == "updateauthorized",
        },
        "unauthorized" => Notice::Unauthorized {
            app_id: text("AuthorizerAppid")?.to_owned(),
        },
        other => Notice::Other(other.to_owned()),
    })
}

/// Authenticates and decrypts a notice push: `msg_signature` over (Token,
/// timestamp, nonce, Encrypt), the timestamp within `window_secs` of `now`,
/// and the ciphertext's receiveId the component app id.
pub fn open_notice(
    token: &str,
    crypt: &MsgCrypt,
    q: &CallbackQuery,
    body: &[u8],
    now: u64,
    window_secs: u64,
) -> Result<String, ProtocolError> {
    let body = std::str::from_utf8(body)
        .map_err(|_| ProtocolError::MalformedXml("body is not UTF-8".into()))?;
    let outer = parse_document(body, Limits::DEFAULT)?;
    let encrypt = outer
        .child_text("Encrypt")
        .ok_or(ProtocolError::MissingEncrypt)?;
    let sig = q
        .msg_signature
        .as_deref()
        .ok_or(ProtocolError::MissingParameter("msg_signature"))?;
    let ts = q
        .timestamp
        .as_deref()
        .ok_or(ProtocolError::MissingParameter("timestamp"))?;
    let nonce = q
        .nonce
        .as_deref()
        .ok_or(ProtocolError::MissingParameter("nonce"))?;
    verify_signature(sig, &[token, ts, nonce, encrypt])?;
    let ts: u64 = ts.trim().parse().map_err(|_| ProtocolError::BadTimestamp)?;
    if ts.abs_diff(now) > window_secs {
        return Err(ProtocolError::StaleTimestamp {
            timestamp: ts,
            now,
            window_secs,
        });
    }
    crypt.decrypt(encrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AesKey, build_push};

    const COMPONENT: &str = "wxcomponent0000001";
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    #[test]
    fn the_four_notices_parse_and_another_platform_s_is_refused() {
        let ticket = format!(
            "<xml><AppId>{COMPONENT}</AppId><CreateTime>1413192605</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>ticket@@@abc</ComponentVerifyTicket></xml>"
        );
        assert_eq!(
            parse_notice(&ticket, COMPONENT).unwrap(),
            Notice::Ticket {
                ticket: "ticket@@@abc".into(),
                create_time: 1413192605
            }
        );
        let authorized = |t: &str| {
            format!(
                "<xml><AppId><![CDATA[{COMPONENT}]]></AppId><CreateTime>1413192760</CreateTime><InfoType><![CDATA[{t}]]></InfoType><AuthorizerAppid><![CDATA[wxauth01]]></AuthorizerAppid><AuthorizationCode><![CDATA[queryauthcode@@@x]]></AuthorizationCode><AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@y]]></PreAuthCode></xml>"
            )
        };
        assert_eq!(
            parse_notice(&authorized("authorized"), COMPONENT).unwrap(),
            Notice::Authorized {
                app_id: "wxauth01".into(),
                code: "queryauthcode@@@x".into(),
                update: false
            }
        );
        assert!(matches!(
            parse_notice(&authorized("updateauthorized"), COMPONENT).unwrap(),
            Notice::Authorized { update: true, .. }
        ));
        let gone = format!(
            "<xml><AppId>{COMPONENT}</AppId><CreateTime>1413192760</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>wxauth01</AuthorizerAppid></xml>"
        );
        assert_eq!(
            parse_notice(&gone, COMPONENT).unwrap(),
            Notice::Unauthorized {
                app_id: "wxauth01".into()
            }
        );
        assert_eq!(
            parse_notice(&ticket, "wxotherplatform").unwrap_err(),
            ProtocolError::WrongAppId
        );
        let no_code = authorized("authorized").replace(
            "<AuthorizationCode><![CDATA[queryauthcode@@@x]]></AuthorizationCode>",
            "",
        );
        assert_eq!(
            parse_notice(&no_code, COMPONENT).unwrap_err(),
            ProtocolError::MissingField("AuthorizationCode")
        );
        assert!(matches!(
            parse_notice("<xml><AppId>x", COMPONENT),
            Err(ProtocolError::MalformedXml(_))
        ));
    }

    #[test]
    fn a_notice_opens_only_with_the_platform_s_token_key_and_app_id() {
        let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(KEY).unwrap(), COMPONENT);
        let xml = format!(
            "<xml><AppId>{COMPONENT}</AppId><CreateTime>1</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>wxa</AuthorizerAppid></xml>"
        );
        let now = 1_700_000_000;
        let (q, body) = build_push(
            "comptoken",
            Some(&crypt),
            crate::protocol::Mode::Safe,
            &xml,
            now,
            "42",
        );
        assert_eq!(
            open_notice("comptoken", &crypt, &q, body.as_bytes(), now, 300).unwrap(),
            xml
        );
        assert_eq!(
            open_notice("othertoken", &crypt, &q, body.as_bytes(), now, 300).unwrap_err(),
            ProtocolError::BadSignature
        );
        assert!(matches!(
            open_notice("comptoken", &crypt, &q, body.as_bytes(), now + 301, 300),
            Err(ProtocolError::StaleTimestamp { .. })
        ));
        let other = MsgCrypt::new(
            AesKey::from_encoding_aes_key(KEY).unwrap(),
            "wxotherplatform",
        );
        assert_eq!(
            open_notice("comptoken", &other, &q, body.as_bytes(), now, 300).unwrap_err(),
            ProtocolError::WrongAppId
        );
    }
}
