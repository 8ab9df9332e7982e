//! The other side of the wire, for `wxhost simulate` and tests: play WeChat by
//! building signed pushes in any mode, and open the encrypted replies.

use super::ProtocolError;
use super::callback::{CallbackQuery, Mode};
use super::crypt::MsgCrypt;
use super::render::SUCCESS;
use super::signature::{signature, verify_signature};
use super::xml::{Limits, parse_document, push_cdata_element};

/// Builds the query and body WeChat would send for `message_xml` in `mode`,
/// signed with `token` at `timestamp`/`nonce`. Encrypted modes need `crypt`;
/// without one the push is built in plaintext mode. `openid` is taken from
/// the message's `FromUserName` when it parses.
pub fn build_push(
    token: &str,
    crypt: Option<&MsgCrypt>,
    mode: Mode,
    message_xml: &str,
    timestamp: u64,
    nonce: &str,
) -> (CallbackQuery, String) {
    let ts = timestamp.to_string();
    let root = parse_document(message_xml, Limits::DEFAULT).ok();
    let mut q = CallbackQuery {
        signature: Some(signature(&[token, &ts, nonce])),
        timestamp: Some(ts.clone()),
        nonce: Some(nonce.to_owned()),
        openid: root
            .as_ref()
            .and_then(|r| r.child_text("FromUserName"))
            .map(str::to_owned),
        ..CallbackQuery::default()
    };
    let crypt = match (mode, crypt) {
        (Mode::Plaintext, _) | (_, None) => return (q, message_xml.to_owned()),
        (_, Some(c)) => c,
    };
    let encrypt = crypt.encrypt(message_xml);
    q.encrypt_type = Some("aes".to_owned());
    q.msg_signature = Some(signature(&[token, &ts, nonce, &encrypt]));
    let mut enc_element = String::with_capacity(encrypt.len() + 32);
    push_cdata_element(&mut enc_element, "Encrypt", &encrypt);
    let body = match (mode, message_xml.rfind("</")) {
        // Compatible: the plaintext message with `<Encrypt>` added inside the root.
        (Mode::Compatible, Some(i)) => {
            format!("{}{enc_element}{}", &message_xml[..i], &message_xml[i..])
        }
        _ => {
            let mut b = String::from("<xml>");
            if let Some(to) = root.as_ref().and_then(|r| r.child_text("ToUserName")) {
                push_cdata_element(&mut b, "ToUserName", to);
            }
            b.push_str(&enc_element);
            b.push_str("</xml>");
            b
        }
    };
    (q, body)
}

/// Opens an encrypted reply envelope: verifies `MsgSignature` over (Token,
/// `TimeStamp`, `Nonce`, `Encrypt`) and decrypts. `success` and the empty
/// body are never encrypted and come back unchanged.
pub fn open_reply(token: &str, crypt: &MsgCrypt, body: &str) -> Result<String, ProtocolError> {
    let trimmed = body.trim();
    if trimmed.is_empty() || trimmed == SUCCESS {
        return Ok(body.to_owned());
    }
    let root = parse_document(body, Limits::DEFAULT)?;
    let encrypt = root
        .child_text("Encrypt")
        .ok_or(ProtocolError::MissingEncrypt)?;
    let sig = root
        .child_text("MsgSignature")
        .ok_or(ProtocolError::MissingField("MsgSignature"))?;
    let ts = root
        .child_text("TimeStamp")
        .ok_or(ProtocolError::MissingField("TimeStamp"))?;
    let nonce = root
        .child_text("Nonce")
        .ok_or(ProtocolError::MissingField("Nonce"))?;
    verify_signature(sig, &[token, ts, nonce, encrypt])?;
    crypt.decrypt(encrypt)
}
