//! Sealing the credentials of runtime accounts (AppSecret, Token,
//! EncodingAESKey) before they reach the store: ChaCha20-Poly1305 (ring's
//! AEAD) under a 32-byte key from `WXHOST_SECRETS_KEY` (64 hex characters),
//! a fresh random nonce per seal, and the account's name as associated
//! data, so a sealed blob copied onto another account's row does not open.
//! Without the key, runtime accounts are refused ([`SecretsKey::from_config`]
//! says why); nothing is ever stored in clear.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// The environment variable holding the key.
pub const ENV: &str = "WXHOST_SECRETS_KEY";

/// The key that seals runtime accounts' credentials. `Debug` never shows it.
pub struct SecretsKey(LessSafeKey);

impl SecretsKey {
    /// From 64 hex characters.
    pub fn from_hex(hex_key: &str) -> Result<SecretsKey, String> {
        let bytes = hex::decode(hex_key.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| format!("{ENV} must be 64 hex characters (32 bytes)"))?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| format!("{ENV}: not a ChaCha20-Poly1305 key"))?;
        Ok(SecretsKey(LessSafeKey::new(key)))
    }

    /// The configured key (`WXHOST_SECRETS_KEY`, read with the config);
    /// `Ok(None)` when it is not set.
    pub fn from_config(config: &crate::config::Config) -> Result<Option<SecretsKey>, String> {
        config
            .secrets_key
            .as_ref()
            .map(|k| SecretsKey::from_hex(&k.0))
            .transpose()
    }

    /// `plaintext` sealed for account `name`: nonce, then ciphertext and tag.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut out,
            )
            .expect("sealing a small buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend(out);
        sealed
    }

    /// What [`SecretsKey::seal`] sealed for `name`; `None` if it was sealed
    /// with another key or for another account, or changed since.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_secrets_open_only_for_their_account_and_key() {
        let key = SecretsKey::from_hex(KEY).unwrap();
        let sealed = key.seal("shop", b"app-secret");
        assert!(!sealed.windows(10).any(|w| w == b"app-secret"));
        assert_eq!(
            key.open("shop", &sealed).as_deref(),
            Some(&b"app-secret"[..])
        );
        assert_eq!(key.open("club", &sealed), None);
        let other = SecretsKey::from_hex(&KEY.replace("1f", "ff")).unwrap();
        assert_eq!(other.open("shop", &sealed), None);
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open("shop", &tampered), None);
        // Two seals of one value differ (fresh nonces).
        assert_ne!(key.seal("shop", b"x"), key.seal("shop", b"x"));
    }

    #[test]
    fn a_key_is_64_hex_characters() {
        assert!(SecretsKey::from_hex("abc").unwrap_err().contains("64 hex"));
        assert!(SecretsKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{:?}", SecretsKey::from_hex(KEY).unwrap()).contains("0001"));
    }
}
