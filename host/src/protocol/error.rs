//! The one error type of the protocol core.
//!
//! Every variant names exactly what was wrong so the server can pick a status
//! and a metric label ([`ProtocolError::kind`]) without ever echoing request
//! content or key material back to the caller.

use thiserror::Error;

/// Everything that can go wrong between an HTTP request and a typed message,
/// or between a [`crate::protocol::Reply`] and the HTTP body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// `signature` / `msg_signature` does not match (WXBizMsgCrypt −40001).
    #[error("signature mismatch")]
    BadSignature,
    /// A required query parameter is absent.
    #[error("missing query parameter `{0}`")]
    MissingParameter(&'static str),
    /// `timestamp` is not a decimal number of seconds.
    #[error("timestamp is not a number of seconds")]
    BadTimestamp,
    /// `timestamp` is outside the accepted window: a replay or a badly skewed clock.
    #[error("timestamp {timestamp} is outside the window around {now} (±{window_secs} s)")]
    StaleTimestamp {
        timestamp: u64,
        now: u64,
        window_secs: u64,
    },
    /// A plaintext push under a `(timestamp, nonce)` that already
    /// authenticated a different request: its `signature` was lifted from a
    /// seen query (they reach proxy and CDN logs) and put over another body.
    #[error("timestamp and nonce already authenticated a different request (forged push)")]
    NonceReused,
    /// `Encrypt` is not valid base64 (−40010).
    #[error("ciphertext is not valid base64")]
    BadBase64,
    /// The decoded ciphertext is empty or not a multiple of 32 bytes.
    #[error("ciphertext length is not a positive multiple of 32 bytes")]
    BadCiphertextLength,
    /// The PKCS#7 (32-byte block) padding is not 1..=32 identical bytes;
    /// usually a wrong EncodingAESKey.
    #[error("bad padding after decryption (wrong EncodingAESKey?)")]
    BadPadding,
    /// The 4-byte length field points outside the decrypted buffer (−40008).
    #[error("bad message length field after decryption")]
    BadLength,
    /// The trailing receive id is not our AppID (−40005).
    #[error("decrypted message is for another AppID")]
    WrongAppId,
    /// The decrypted message is not UTF-8.
    #[error("decrypted message is not UTF-8")]
    InvalidUtf8,
    /// The configured EncodingAESKey is unusable (−40004); the reason never
    /// contains the key.
    #[error("invalid EncodingAESKey: {0}")]
    InvalidAesKey(&'static str),
    /// A plaintext push arrived but the settings require encryption.
    #[error("unencrypted push refused (encryption is required)")]
    EncryptionRequired,
    /// An encrypted push arrived but no EncodingAESKey is configured.
    #[error("encrypted push but no EncodingAESKey is configured")]
    EncryptionNotConfigured,
    /// An encrypted push (or reply envelope) has no `<Encrypt>` element.
    #[error("encrypted body has no <Encrypt> element")]
    MissingEncrypt,
    /// The XML is not well-formed (−40002). The detail is for logs only.
    #[error("malformed XML: {0}")]
    MalformedXml(String),
    /// The body exceeds the size limit, or has too many elements.
    #[error("body too large")]
    TooLarge,
    /// Elements nest deeper than the limit.
    #[error("XML nested too deeply")]
    TooDeep,
    /// An element name is longer than the limit.
    #[error("XML element name too long")]
    NameTooLong,
    /// The message's fields (every leaf's path and text) would exceed the
    /// limit: nesting built to amplify the body.
    #[error("XML expands to too many field bytes")]
    FieldsTooLarge,
    /// A `<!DOCTYPE` (and hence any entity declaration) was refused.
    #[error("DTD / entity declarations are refused")]
    Doctype,
    /// A required element is missing from a message or reply.
    #[error("missing element `{0}`")]
    MissingField(&'static str),
    /// An element has a value of the wrong shape (e.g. a non-numeric `CreateTime`).
    #[error("invalid value in element `{0}`")]
    InvalidField(&'static str),
    /// A news reply with more articles than WeChat allows here
    /// (1 for a user message, 8 for an event).
    #[error("news reply has {got} articles; at most {max} allowed here")]
    TooManyArticles { max: usize, got: usize },
    /// A news reply with no article.
    #[error("news reply has no article")]
    NoArticles,
    /// A text reply with empty content: WeChat shows the user an error.
    #[error("text reply is empty")]
    EmptyText,
}

impl ProtocolError {
    /// A short, stable snake_case label for logs and metrics (no secrets, no
    /// request content).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::MissingParameter(_) => "missing_parameter",
            Self::BadTimestamp => "bad_timestamp",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::NonceReused => "nonce_reused",
            Self::BadBase64 => "bad_base64",
            Self::BadCiphertextLength => "bad_ciphertext_length",
            Self::BadPadding => "bad_padding",
            Self::BadLength => "bad_length",
            Self::WrongAppId => "wrong_app_id",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidAesKey(_) => "invalid_aes_key",
            Self::EncryptionRequired => "encryption_required",
            Self::EncryptionNotConfigured => "encryption_not_configured",
            Self::MissingEncrypt => "missing_encrypt",
            Self::MalformedXml(_) => "malformed_xml",
            Self::TooLarge => "too_large",
            Self::TooDeep => "too_deep",
            Self::NameTooLong => "name_too_long",
            Self::FieldsTooLarge => "fields_too_large",
            Self::Doctype => "doctype",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
            Self::TooManyArticles { .. } => "too_many_articles",
            Self::NoArticles => "no_articles",
            Self::EmptyText => "empty_text",
        }
    }

    /// The HTTP status the callback endpoint answers with: 403 for
    /// authentication failures (signature, replay, forgery, undecryptable), 413 for
    /// oversize bodies, 400 for other malformed requests, 500 for errors that
    /// are ours (configuration, an invalid reply from a plugin).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadSignature
            | Self::StaleTimestamp { .. }
            | Self::NonceReused
            | Self::BadPadding
            | Self::BadLength
            | Self::WrongAppId
            | Self::EncryptionRequired => 403,
            Self::TooLarge | Self::FieldsTooLarge => 413,
            Self::MissingParameter(_)
            | Self::BadTimestamp
            | Self::BadBase64
            | Self::BadCiphertextLength
            | Self::InvalidUtf8
            | Self::MissingEncrypt
            | Self::MalformedXml(_)
            | Self::TooDeep
            | Self::NameTooLong
            | Self::Doctype
            | Self::MissingField(_)
            | Self::InvalidField(_) => 400,
            Self::InvalidAesKey(_)
            | Self::EncryptionNotConfigured
            | Self::TooManyArticles { .. }
            | Self::NoArticles
            | Self::EmptyText => 500,
        }
    }
}
