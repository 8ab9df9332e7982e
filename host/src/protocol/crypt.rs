//! WXBizMsgCrypt: the EncodingAESKey, AES-256-CBC with 32-byte PKCS#7
//! padding, the `random ‖ length ‖ message ‖ AppID` layout, and the
//! encrypted reply envelope (§4 of the protocol reference).

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::ProtocolError;
use super::xml::push_cdata;

type Encryptor = cbc::Encryptor<Aes256>;
type Decryptor = cbc::Decryptor<Aes256>;

/// WeChat pads to 32 bytes (the key size), not to the 16-byte AES block:
/// pad values 17..=32 are real and must be accepted.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;

/// The EncodingAESKey's 43 base64 characters encode 258 bits; the last 2 are
/// "excess" and non-zero for most real keys, which a strict decoder refuses.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The 32-byte AES key decoded from an EncodingAESKey. Its `Debug` never
/// shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(..)")
    }
}

impl AesKey {
    /// Decodes the 43-character EncodingAESKey from the MP console
    /// (`base64(key + "=")`, trailing bits tolerated).
    pub fn from_encoding_aes_key(s: &str) -> Result<AesKey, ProtocolError> {
        if s.len() != 43 {
            return Err(ProtocolError::InvalidAesKey(
                "must be exactly 43 characters",
            ));
        }
        let bytes = KEY_ENGINE
            .decode(s)
            .map_err(|_| ProtocolError::InvalidAesKey("not base64 (letters and digits)"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ProtocolError::InvalidAesKey("does not decode to 32 bytes"))?;
        Ok(AesKey(key))
    }

    /// The raw key bytes (tests, debugging). The IV is the first 16.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// Encrypts and decrypts message bodies for one AppID (the "receive id").
#[derive(Debug, Clone)]
pub struct MsgCrypt {
    key: AesKey,
    app_id: String,
}

impl MsgCrypt {
    pub fn new(key: AesKey, app_id: &str) -> MsgCrypt {
        MsgCrypt {
            key,
            app_id: app_id.to_owned(),
        }
    }

    /// Encrypts `msg` with 16 fresh random bytes; returns the base64 `Encrypt`.
    pub fn encrypt(&self, msg: &str) -> String {
        self.encrypt_with_random(msg, rand::random::<[u8; 16]>())
    }

    /// Encrypts with the given random prefix (deterministic; for tests and
    /// official vectors).
    pub fn encrypt_with_random(&self, msg: &str, random: [u8; 16]) -> String {
        let full_len = RANDOM_LEN + 4 + msg.len() + self.app_id.len();
        // Always 1..=32 bytes of padding: a full block when already aligned.
        let pad = PAD_BLOCK - full_len % PAD_BLOCK;
        let mut buf = Vec::with_capacity(full_len + pad);
        buf.extend_from_slice(&random);
        // A message over 4 GiB cannot come out of a reply renderer; saturate
        // rather than wrap so such input could never decrypt "successfully".
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(self.app_id.as_bytes());
        buf.resize(full_len + pad, pad as u8);
        let iv = self.key.iv();
        let ct = Encryptor::new(self.key.as_bytes().into(), (&iv).into())
            .encrypt_padded_vec_mut::<NoPadding>(&buf);
        STANDARD.encode(ct)
    }

    /// Decrypts a base64 `Encrypt` value, checking the padding (1..=32
    /// identical bytes), the length field and the AppID.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, ProtocolError> {
        let mut buf = STANDARD
            .decode(encrypt_b64.trim_ascii())
            .map_err(|_| ProtocolError::BadBase64)?;
        if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
            return Err(ProtocolError::BadCiphertextLength);
        }
        let iv = self.key.iv();
        let plain = Decryptor::new(self.key.as_bytes().into(), (&iv).into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| ProtocolError::BadCiphertextLength)?;
        let pad = usize::from(*plain.last().ok_or(ProtocolError::BadCiphertextLength)?);
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(ProtocolError::BadPadding);
        }
        let (content, padding) = plain.split_at(plain.len() - pad);
        if padding.iter().any(|&b| usize::from(b) != pad) {
            return Err(ProtocolError::BadPadding);
        }
        let rest = content.get(RANDOM_LEN..).ok_or(ProtocolError::BadLength)?;
        let (len_bytes, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(ProtocolError::BadLength)?;
        let msg_len = usize::try_from(u32::from_be_bytes(*len_bytes))
            .map_err(|_| ProtocolError::BadLength)?;
        if msg_len > rest.len() {
            return Err(ProtocolError::BadLength);
        }
        let (msg, app_id) = rest.split_at(msg_len);
        if app_id != self.app_id.as_bytes() {
            return Err(ProtocolError::WrongAppId);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| ProtocolError::InvalidUtf8)
    }
}

/// The encrypted reply envelope of §4.6, byte-for-byte the official template.
pub(crate) fn envelope(encrypt: &str, msg_signature: &str, timestamp: u64, nonce: &str) -> String {
    let mut out = String::with_capacity(encrypt.len() + nonce.len() + 160);
    out.push_str("<xml>\n<Encrypt>");
    push_cdata(&mut out, encrypt);
    out.push_str("</Encrypt>\n<MsgSignature>");
    push_cdata(&mut out, msg_signature);
    out.push_str("</MsgSignature>\n<TimeStamp>");
    out.push_str(&timestamp.to_string());
    out.push_str("</TimeStamp>\n<Nonce>");
    push_cdata(&mut out, nonce);
    out.push_str("</Nonce>\n</xml>");
    out
}

/// A fresh nonce in WeChat's style (a random decimal number).
pub(crate) fn fresh_nonce() -> String {
    rand::random_range(100_000_000u32..4_000_000_000).to_string()
}
