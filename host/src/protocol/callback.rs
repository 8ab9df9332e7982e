//! The server side of one callback request: URL verification (GET), opening a
//! push in whichever mode it arrived (POST), and sealing the reply so it is
//! encrypted exactly when the request was.

use std::sync::Arc;

use serde::Deserialize;

use super::ProtocolError;
use super::crypt::{AesKey, MsgCrypt, envelope, fresh_nonce};
use super::message::Message;
use super::parse::message_from_element;
use super::render::{SUCCESS, render_reply};
use super::reply::Reply;
use super::signature::{signature, verified_signature, verify_signature};
use super::xml::{Limits, parse_document};

/// The query string of a callback request (all parameters optional at this
/// level; each operation says which it needs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CallbackQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
    pub openid: Option<String>,
}

impl CallbackQuery {
    /// URL-encoded `k=v&…` of the present parameters, in WeChat's order.
    pub fn to_query_string(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("signature", &self.signature),
            ("timestamp", &self.timestamp),
            ("nonce", &self.nonce),
            ("echostr", &self.echostr),
            ("openid", &self.openid),
            ("encrypt_type", &self.encrypt_type),
            ("msg_signature", &self.msg_signature),
        ] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }

    /// `true` when `encrypt_type=aes` (case-insensitive): compatible or safe mode.
    pub fn is_encrypted(&self) -> bool {
        self.encrypt_type
            .as_deref()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("aes"))
    }
}

/// How a push arrived (decided per request, never from configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 明文模式: plain XML, `signature` only.
    Plaintext,
    /// 兼容模式: plaintext fields plus `<Encrypt>`; authenticated by `msg_signature`.
    Compatible,
    /// 安全模式: only `<ToUserName>` + `<Encrypt>`.
    Safe,
}

impl Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Plaintext => "plaintext",
            Mode::Compatible => "compatible",
            Mode::Safe => "safe",
        }
    }

    /// Whether the request — and therefore the reply — is encrypted.
    pub fn is_encrypted(&self) -> bool {
        !matches!(self, Mode::Plaintext)
    }
}

/// Which EncodingAESKey opened a push (the reply must use the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    Current,
    /// The key before the last rotation (§4.7).
    Previous,
}

/// What [`Callback`] needs to know. `encoding_aes_key: None` (or empty)
/// accepts plaintext pushes only. `Debug` redacts the token and keys.
#[derive(Clone)]
pub struct CallbackSettings {
    pub token: String,
    pub app_id: String,
    pub encoding_aes_key: Option<String>,
    pub previous_encoding_aes_key: Option<String>,
    /// Refuse plaintext-mode pushes.
    pub require_encryption: bool,
    /// Accepted distance between `timestamp` and now, either way.
    pub timestamp_window_secs: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for CallbackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |o: &Option<String>| {
            if o.as_deref().is_some_and(|k| !k.is_empty()) {
                "<set>"
            } else {
                "<none>"
            }
        };
        f.debug_struct("CallbackSettings")
            .field("token", &"<redacted>")
            .field("app_id", &self.app_id)
            .field("encoding_aes_key", &set(&self.encoding_aes_key))
            .field(
                "previous_encoding_aes_key",
                &set(&self.previous_encoding_aes_key),
            )
            .field("require_encryption", &self.require_encryption)
            .field("timestamp_window_secs", &self.timestamp_window_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl CallbackSettings {
    /// Default window: ±5 minutes.
    pub const DEFAULT_TIMESTAMP_WINDOW_SECS: u64 = 300;
    /// Default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

    /// Settings with the defaults (no key, encryption not required, ±5 min, 1 MiB).
    pub fn new(token: impl Into<String>, app_id: impl Into<String>) -> CallbackSettings {
        CallbackSettings {
            token: token.into(),
            app_id: app_id.into(),
            encoding_aes_key: None,
            previous_encoding_aes_key: None,
            require_encryption: false,
            timestamp_window_secs: Self::DEFAULT_TIMESTAMP_WINDOW_SECS,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// An opened push. The message is shared (`Arc`) because the server hands it
/// to detached plugin work while it keeps the rest to seal the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub message: Arc<Message>,
    pub mode: Mode,
    /// The key that decrypted it; `None` for plaintext.
    pub key: Option<KeySlot>,
    /// The request's `nonce`, echoed in an encrypted reply as documented.
    pub nonce: String,
    /// The request's `timestamp` (unix seconds), within the window.
    pub timestamp: u64,
    /// The verified `msg_signature` of an encrypted push. It covers the
    /// ciphertext, so it names this push's content. `None` in plaintext
    /// mode, whose `signature` covers only (Token, timestamp, nonce): anyone
    /// who saw one request's query can put another body under it.
    pub body_signature: Option<[u8; 20]>,
}

impl Inbound {
    /// A plaintext push (for callers that build messages themselves, e.g. tests).
    pub fn plaintext(message: Message) -> Inbound {
        Inbound {
            message: Arc::new(message),
            mode: Mode::Plaintext,
            key: None,
            nonce: String::new(),
            timestamp: 0,
            body_signature: None,
        }
    }
}

/// Verifies, decrypts, parses and seals callbacks for one Official Account.
#[derive(Debug, Clone)]
pub struct Callback {
    settings: CallbackSettings,
    current: Option<MsgCrypt>,
    previous: Option<MsgCrypt>,
}

fn key_from(s: &Option<String>, app_id: &str) -> Result<Option<MsgCrypt>, ProtocolError> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(k) => Ok(Some(MsgCrypt::new(
            AesKey::from_encoding_aes_key(k)?,
            app_id,
        ))),
    }
}

impl Callback {
    /// Validates the key(s). A previous key without a current one is refused,
    /// as is `require_encryption` without a key.
    pub fn new(settings: CallbackSettings) -> Result<Callback, ProtocolError> {
        let current = key_from(&settings.encoding_aes_key, &settings.app_id)?;
        let previous = key_from(&settings.previous_encoding_aes_key, &settings.app_id)?;
        if current.is_none() && previous.is_some() {
            return Err(ProtocolError::InvalidAesKey(
                "a previous key is set without a current one",
            ));
        }
        if current.is_none() && settings.require_encryption {
            return Err(ProtocolError::EncryptionNotConfigured);
        }
        Ok(Callback {
            settings,
            current,
            previous,
        })
    }

    /// The crypt for a key slot, if configured.
    pub fn crypt(&self, slot: KeySlot) -> Option<&MsgCrypt> {
        match slot {
            KeySlot::Current => self.current.as_ref(),
            KeySlot::Previous => self.previous.as_ref(),
        }
    }

    /// GET verification: checks `signature` over (Token, timestamp, nonce) and
    /// the timestamp window; returns `echostr` to echo verbatim. (An OA's
    /// echostr is plaintext in every mode.)
    pub fn verify_url(&self, q: &CallbackQuery, now: u64) -> Result<String, ProtocolError> {
        let echostr = required(&q.echostr, "echostr")?;
        let (timestamp, _nonce) = self.check_request_signature(q)?;
        self.check_timestamp(timestamp, now)?;
        Ok(echostr.to_owned())
    }

    fn check_request_signature<'q>(
        &self,
        q: &'q CallbackQuery,
    ) -> Result<(&'q str, &'q str), ProtocolError> {
        let sig = required(&q.signature, "signature")?;
        let timestamp = required(&q.timestamp, "timestamp")?;
        let nonce = required(&q.nonce, "nonce")?;
        verify_signature(sig, &[&self.settings.token, timestamp, nonce])?;
        Ok((timestamp, nonce))
    }

    /// Checked only after the signature, so an unauthenticated caller cannot
    /// probe our clock.
    fn check_timestamp(&self, timestamp: &str, now: u64) -> Result<u64, ProtocolError> {
        let ts: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| ProtocolError::BadTimestamp)?;
        let window_secs = self.settings.timestamp_window_secs;
        if ts.abs_diff(now) > window_secs {
            return Err(ProtocolError::StaleTimestamp {
                timestamp: ts,
                now,
                window_secs,
            });
        }
        Ok(ts)
    }

    /// POST: detects the mode (`encrypt_type=aes` → encrypted; compatible when
    /// the outer body also carries the plaintext `MsgType`, else safe), checks
    /// `msg_signature` (encrypted) or `signature` (plaintext), the timestamp
    /// window and the size limit, refuses plaintext when encryption is
    /// required, decrypts (current key, then previous) and parses.
    pub fn open(&self, q: &CallbackQuery, body: &[u8], now: u64) -> Result<Inbound, ProtocolError> {
        let limits = Limits::with_max_bytes(self.settings.max_body_bytes);
        if body.len() > limits.max_bytes {
            return Err(ProtocolError::TooLarge);
        }
        let body = std::str::from_utf8(body)
            .map_err(|_| ProtocolError::MalformedXml("body is not UTF-8".into()))?;
        if !q.is_encrypted() {
            let (timestamp, nonce) = self.check_request_signature(q)?;
            let timestamp = self.check_timestamp(timestamp, now)?;
            // Like a missing key below, only an authenticated push learns
            // that plaintext is refused.
            if self.settings.require_encryption {
                return Err(ProtocolError::EncryptionRequired);
            }
            let root = parse_document(body, limits)?;
            let message = message_from_element(&root, body)?;
            return Ok(Inbound {
                message: Arc::new(message),
                mode: Mode::Plaintext,
                key: None,
                nonce: nonce.to_owned(),
                timestamp,
                body_signature: None,
            });
        }

        let msg_sig = required(&q.msg_signature, "msg_signature")?;
        let timestamp = required(&q.timestamp, "timestamp")?;
        let nonce = required(&q.nonce, "nonce")?;
        let outer = parse_document(body, limits)?;
        let encrypt = outer
            .child_text("Encrypt")
            .ok_or(ProtocolError::MissingEncrypt)?;
        // `msg_signature` covers the body; `signature` does not, so it is not
        // required here (the official doc: "不要使用signature验证").
        let body_signature =
            verified_signature(msg_sig, &[&self.settings.token, timestamp, nonce, encrypt])?;
        let timestamp = self.check_timestamp(timestamp, now)?;
        // Only an authenticated push learns that we have no key.
        let current = self
            .current
            .as_ref()
            .ok_or(ProtocolError::EncryptionNotConfigured)?;
        let mode = if outer.child("MsgType").is_some() || outer.child("FromUserName").is_some() {
            Mode::Compatible
        } else {
            Mode::Safe
        };
        let (plain, slot) = match current.decrypt(encrypt) {
            Ok(p) => (p, KeySlot::Current),
            // Only errors a different key could explain fall back (§4.7).
            Err(
                e @ (ProtocolError::BadPadding
                | ProtocolError::BadLength
                | ProtocolError::WrongAppId
                | ProtocolError::InvalidUtf8),
            ) => match self.previous.as_ref().map(|p| p.decrypt(encrypt)) {
                Some(Ok(p)) => (p, KeySlot::Previous),
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let inner = parse_document(&plain, limits)?;
        let message = message_from_element(&inner, &plain)?;
        Ok(Inbound {
            message: Arc::new(message),
            mode,
            key: Some(slot),
            nonce: nonce.to_owned(),
            timestamp,
            body_signature: Some(body_signature),
        })
    }

    /// The HTTP body answering `inbound`: `success` for [`Reply::Success`]
    /// (never encrypted); otherwise the reply XML (To/From swapped,
    /// `CreateTime` = now), wrapped in the encrypted envelope — `TimeStamp` =
    /// now, `Nonce` = the request's nonce, `MsgSignature` — exactly when the
    /// request was encrypted, with the key that opened it.
    pub fn seal(
        &self,
        inbound: &Inbound,
        reply: &Reply,
        now: u64,
    ) -> Result<String, ProtocolError> {
        if matches!(reply, Reply::Success) {
            return Ok(SUCCESS.to_owned());
        }
        let xml = render_reply(reply, &inbound.message, now)?;
        if !inbound.mode.is_encrypted() {
            return Ok(xml);
        }
        let crypt = self
            .crypt(inbound.key.unwrap_or(KeySlot::Current))
            .ok_or(ProtocolError::EncryptionNotConfigured)?;
        let nonce = if inbound.nonce.is_empty() {
            fresh_nonce()
        } else {
            inbound.nonce.clone()
        };
        Ok(seal_xml(&self.settings.token, crypt, &xml, now, &nonce))
    }
}

/// Encrypts `xml` and wraps it in the signed §4.6 envelope.
pub(crate) fn seal_xml(
    token: &str,
    crypt: &MsgCrypt,
    xml: &str,
    timestamp: u64,
    nonce: &str,
) -> String {
    let encrypt = crypt.encrypt(xml);
    let ts = timestamp.to_string();
    let sig = signature(&[token, &ts, nonce, &encrypt]);
    envelope(&encrypt, &sig, timestamp, nonce)
}

/// A query parameter the request cannot do without.
fn required<'q>(value: &'q Option<String>, name: &'static str) -> Result<&'q str, ProtocolError> {
    value
        .as_deref()
        .ok_or(ProtocolError::MissingParameter(name))
}
