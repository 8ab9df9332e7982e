//! The SHA-1 signatures WeChat puts on callbacks: `signature` over
//! (Token, timestamp, nonce) and `msg_signature` over the same plus `Encrypt`.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::ProtocolError;

/// Sorts `parts` as strings (byte order, never numerically), concatenates them
/// with no separator and returns the lowercase hex SHA-1 (40 characters).
pub fn signature(parts: &[&str]) -> String {
    hex::encode(signature_bytes(parts))
}

fn signature_bytes(parts: &[&str]) -> [u8; 20] {
    // At most 4 parts in practice: sort references on the stack-ish small Vec
    // and hash incrementally instead of building the concatenation.
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut h = Sha1::new();
    for p in sorted {
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// Checks `given` (hex, either case) against [`signature`]`(parts)` in
/// constant time.
pub fn verify_signature(given: &str, parts: &[&str]) -> Result<(), ProtocolError> {
    verified_signature(given, parts).map(|_| ())
}

/// [`verify_signature`], returning the signature it verified.
pub(crate) fn verified_signature(given: &str, parts: &[&str]) -> Result<[u8; 20], ProtocolError> {
    let given = given.trim();
    let mut given_bytes = [0u8; 20];
    // Decoding fails on wrong length / non-hex: that is a mismatch, not a
    // different error, so callers learn nothing more than "bad signature".
    if hex::decode_to_slice(given, &mut given_bytes).is_err() {
        return Err(ProtocolError::BadSignature);
    }
    let expected = signature_bytes(parts);
    if bool::from(expected.ct_eq(&given_bytes)) {
        Ok(expected)
    } else {
        Err(ProtocolError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_f_plaintext_signatures() {
        assert_eq!(
            signature(&["AAAAA", "1714036504", "1514711492"]),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            signature(&["AAAAA", "1714037059", "486452656"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        verify_signature(
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
            &["AAAAA", "1714036504", "1514711492"],
        )
        .unwrap();
        // Upper-case hex is the same signature.
        verify_signature(
            "F464B24FC39322E44B38AA78F5EDD27BD1441696",
            &["1514711492", "AAAAA", "1714036504"],
        )
        .unwrap();
    }

    #[test]
    fn vector_e_request_signatures() {
        assert_eq!(
            signature(&["AAAAA", "1715943329", "1590219412"]),
            "cc0c594499c1634947d5b502f158ee518947db27"
        );
    }

    #[test]
    fn sorts_as_strings_not_numbers() {
        // "10" < "9" as strings.
        let a = signature(&["9", "10"]);
        let mut h = Sha1::new();
        h.update(b"109");
        assert_eq!(a, hex::encode(h.finalize()));
    }

    #[test]
    fn bad_signatures() {
        let parts = ["AAAAA", "1714036504", "1514711492"];
        for given in [
            "f464b24fc39322e44b38aa78f5edd27bd1441697",
            "f464b24fc39322e44b38aa78f5edd27bd144169",
            "",
            "zz64b24fc39322e44b38aa78f5edd27bd1441696",
            "f464b24fc39322e44b38aa78f5edd27bd1441696ff",
        ] {
            assert_eq!(
                verify_signature(given, &parts),
                Err(ProtocolError::BadSignature),
                "{given}"
            );
        }
    }
}
