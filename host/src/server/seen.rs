//! [`SeenRequests`]: the replay guard. Every authenticated request's
//! `(timestamp, nonce)` is remembered for as long as its timestamp is
//! accepted, with a fingerprint of what it carried.
//!
//! Two holes close with it:
//!
//! - **Forgery under a leaked query.** A plaintext push is authenticated by
//!   `signature` over (Token, timestamp, nonce) only, and WeChat sends that
//!   signature on every push, encrypted or not (and on the GET verification);
//!   query strings end up in proxy and CDN logs. So a pair that has
//!   authenticated one request refuses any other plaintext request under it
//!   ([`Verdict::Forged`]). An encrypted push is different: its
//!   `msg_signature` covers the ciphertext, so a second encrypted push with
//!   the same pair and another body is WeChat's own (its random nonces do
//!   collide within one second at volume) and is let through.
//! - **Replays after the reply is forgotten.** Replies are kept only for
//!   WeChat's retries (`server.dedup_ttl_secs`), but a captured push stays
//!   acceptable for the whole timestamp window. The guard remembers the much
//!   smaller fingerprint for that whole window, so an identical request is
//!   always known as a repeat ([`Verdict::Repeat`]) and never runs plugins
//!   again.
//!
//! Only authenticated requests are recorded, so its size follows WeChat's
//! traffic, not an attacker's; it is bounded besides (oldest first).

use super::dedup::StableHash;
use super::expiring::{Entry, ExpiringMap, KeyHasher};
use crate::protocol::Inbound;

/// What one authenticated request is, as far as the guard can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first request under this pair (or another encrypted push that
    /// WeChat signed with the same pair).
    New,
    /// A request identical to one seen under this pair: a retry or a replay.
    Repeat,
    /// A different plaintext request under a pair that already
    /// authenticated one: somebody reused a leaked query.
    Forged,
}

/// The fingerprints seen under one pair: almost always one (kept small,
/// there is one of these per push in the window).
struct Seen {
    first: u64,
    more: Box<[u64]>,
}

impl Seen {
    fn contains(&self, fingerprint: u64) -> bool {
        self.first == fingerprint || self.more.contains(&fingerprint)
    }
}

pub struct SeenRequests {
    entries: ExpiringMap<Seen>,
    keys: KeyHasher,
    window_secs: u64,
}

impl SeenRequests {
    /// Pairs are remembered while their timestamp is within `window_secs`
    /// of now (the protocol's window: after that the timestamp check refuses
    /// them first); at most `capacity` of them.
    pub fn new(window_secs: u64, capacity: usize) -> SeenRequests {
        SeenRequests {
            entries: ExpiringMap::new(capacity),
            keys: KeyHasher::new(),
            window_secs,
        }
    }

    /// Records an opened push (at unix time `now`) and says what it is (its
    /// [`fingerprint`] under its [`pair`]).
    pub fn push(&self, inbound: &Inbound, body: &[u8], now: u64) -> Verdict {
        self.check(
            inbound.timestamp,
            &inbound.nonce,
            u64::from_be_bytes(fingerprint(inbound, body)),
            inbound.body_signature.is_some(),
            now,
        )
    }

    /// Records a verified GET (URL verification): its pair must not then
    /// authenticate a plaintext push.
    pub fn verification(&self, timestamp: u64, nonce: &str, echostr: &str, now: u64) {
        let fingerprint = u64::from_be_bytes(verification_fingerprint(echostr));
        self.check(timestamp, nonce, fingerprint, false, now);
    }

    /// Until when (unix seconds) a pair of `timestamp` is remembered: it is
    /// accepted while now <= timestamp + window (see
    /// `Callback::check_timestamp`).
    pub fn expires_at(&self, timestamp: u64) -> u64 {
        timestamp.saturating_add(self.window_secs).saturating_add(1)
    }

    fn check(
        &self,
        timestamp: u64,
        nonce: &str,
        fingerprint: u64,
        body_signed: bool,
        now: u64,
    ) -> Verdict {
        let pair = self.keys.key(pair(timestamp, nonce));
        self.entries.entry(pair, now, |e| match e {
            Entry::Vacant(slot) => {
                let expires_at = self.expires_at(timestamp);
                slot.insert(
                    Seen {
                        first: fingerprint,
                        more: Box::default(),
                    },
                    expires_at,
                );
                Verdict::New
            }
            Entry::Occupied(seen) if seen.contains(fingerprint) => Verdict::Repeat,
            Entry::Occupied(seen) if body_signed => {
                let mut more = std::mem::take(&mut seen.more).into_vec();
                more.push(fingerprint);
                seen.more = more.into_boxed_slice();
                Verdict::New
            }
            Entry::Occupied(_) => Verdict::Forged,
        })
    }
}

/// The stable name of a `(timestamp, nonce)` pair (the same on every
/// instance, see [`StableHash`]).
pub fn pair(timestamp: u64, nonce: &str) -> [u8; 16] {
    StableHash::new()
        .part("pair")
        .part(timestamp.to_be_bytes())
        .part(nonce)
        .finish()
}

/// What an opened push carried: its verified `msg_signature` if encrypted
/// (what its authentication covers: the outer XML around `<Encrypt>` is
/// ignored anyway), else its whole body.
pub fn fingerprint(inbound: &Inbound, body: &[u8]) -> [u8; 8] {
    let mut h = StableHash::new();
    match &inbound.body_signature {
        Some(sig) => h.part("msg_signature").part(sig),
        None => h.part("plaintext").part(body),
    };
    h.finish()
}

/// What a verified GET carried.
pub fn verification_fingerprint(echostr: &str) -> [u8; 8] {
    StableHash::new()
        .part("verification")
        .part(echostr)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Body, Message};

    const WINDOW: u64 = 300;
    const T: u64 = 1_700_000_000;

    fn inbound(nonce: &str, signature: Option<u8>) -> Inbound {
        Inbound {
            nonce: nonce.into(),
            timestamp: T,
            body_signature: signature.map(|b| [b; 20]),
            ..Inbound::plaintext(Message {
                to_user: "gh".into(),
                from_user: "o".into(),
                create_time: T,
                msg_id: Some(1),
                msg_type: "text".into(),
                body: Body::Text {
                    content: "x".into(),
                },
                fields: Vec::new(),
                raw: String::new(),
            })
        }
    }

    #[test]
    fn a_leaked_pair_authenticates_no_other_plaintext_push() {
        let seen = SeenRequests::new(WINDOW, 1000);
        // The real push was encrypted; its query leaked.
        assert_eq!(
            seen.push(&inbound("n1", Some(1)), b"<safe/>", T),
            Verdict::New
        );
        for body in [&b"<forged/>"[..], b"<safe/>", b""] {
            assert_eq!(
                seen.push(&inbound("n1", None), body, T + 10),
                Verdict::Forged
            );
        }
        // A plaintext push, then another body under its pair.
        assert_eq!(seen.push(&inbound("n2", None), b"<a/>", T), Verdict::New);
        assert_eq!(
            seen.push(&inbound("n2", None), b"<a/>", T + 1),
            Verdict::Repeat
        );
        assert_eq!(
            seen.push(&inbound("n2", None), b"<b/>", T + 1),
            Verdict::Forged
        );
        assert_eq!(
            seen.push(&inbound("n2", None), b"<a/> ", T + 1),
            Verdict::Forged
        );
        // A verification GET's pair, too.
        seen.verification(T, "n3", "echo", T);
        assert_eq!(seen.push(&inbound("n3", None), b"<a/>", T), Verdict::Forged);
    }

    #[test]
    fn an_identical_request_is_a_repeat_for_the_whole_window() {
        let seen = SeenRequests::new(WINDOW, 1000);
        assert_eq!(seen.push(&inbound("n", Some(7)), b"<x/>", T), Verdict::New);
        for later in [1, 61, 299, 300] {
            assert_eq!(
                seen.push(&inbound("n", Some(7)), b"<x/>", T + later),
                Verdict::Repeat,
                "{later} s later"
            );
        }
        // The outer XML of an encrypted push is not what names it.
        assert_eq!(
            seen.push(&inbound("n", Some(7)), b"<x> </x>", T + 5),
            Verdict::Repeat
        );
        // Past the window the timestamp check refuses it first; the pair is
        // forgotten.
        assert_eq!(
            seen.push(&inbound("n", Some(7)), b"<x/>", T + 301),
            Verdict::New
        );
    }

    #[test]
    fn encrypted_pushes_wechat_signed_with_the_same_pair_are_both_new() {
        let seen = SeenRequests::new(WINDOW, 1000);
        assert_eq!(seen.push(&inbound("n", Some(1)), b"", T), Verdict::New);
        assert_eq!(seen.push(&inbound("n", Some(2)), b"", T), Verdict::New);
        assert_eq!(
            seen.push(&inbound("n", Some(2)), b"", T + 100),
            Verdict::Repeat
        );
        assert_eq!(
            seen.push(&inbound("n", Some(1)), b"", T + 100),
            Verdict::Repeat
        );
        assert_eq!(seen.push(&inbound("n", None), b"", T), Verdict::Forged);
    }

    #[test]
    fn pairs_differ_by_timestamp_and_nonce() {
        let seen = SeenRequests::new(WINDOW, 1000);
        assert_eq!(seen.push(&inbound("12", None), b"a", T), Verdict::New);
        assert_eq!(seen.push(&inbound("1", None), b"b", T), Verdict::New);
        let later = Inbound {
            timestamp: T + 1,
            ..inbound("12", None)
        };
        assert_eq!(seen.push(&later, b"c", T), Verdict::New);
    }
}
