//! Retry de-duplication: WeChat re-sends a push it got no timely answer to,
//! and each delivery must never run plugins twice.
//!
//! The first delivery of a key starts the work in a detached task and
//! publishes its outcome on a `watch` channel kept for the TTL in an
//! [`ExpiringMap`] (bounded; a new push is always remembered). Every later
//! delivery of the same key (a retry, while the work runs or after it ended)
//! subscribes to the same channel, so it waits for, or replays, the same reply.
//! The work is detached so that WeChat dropping the first connection never
//! cancels it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::Digest;
use tokio::sync::watch;

use super::expiring::{Entry, ExpiringMap, Key, KeyHasher};
use crate::protocol::Message;

/// The shared, eventually-set result of one message's processing.
pub type Pending<T> = watch::Receiver<Option<Arc<T>>>;

pub struct Dedup<T: Send + Sync + 'static> {
    entries: ExpiringMap<Pending<T>>,
    keys: KeyHasher,
    ttl_ms: u64,
    /// The map's clock: milliseconds since this instant.
    epoch: Instant,
}

impl<T: Send + Sync + 'static> Dedup<T> {
    /// Remembers each message for `ttl` after its first delivery, at most
    /// `capacity` of them (the oldest are forgotten first; a new one is
    /// always remembered).
    pub fn new(ttl: Duration, capacity: usize) -> Dedup<T> {
        Dedup {
            entries: ExpiringMap::new(capacity),
            keys: KeyHasher::new(),
            ttl_ms: ttl.as_millis().try_into().unwrap_or(u64::MAX),
            epoch: Instant::now(),
        }
    }

    fn clock(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch)
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// The pending result for `key`, calling `start` only if this is the
    /// first delivery (at `arrived`). Returns whether this delivery is a retry.
    pub fn join(
        &self,
        key: Key,
        arrived: Instant,
        start: impl FnOnce() -> Pending<T>,
    ) -> (Pending<T>, bool) {
        let now = self.clock(arrived);
        self.entries.entry(key, now, |e| match e {
            Entry::Occupied(pending) => (pending.clone(), true),
            Entry::Vacant(slot) => {
                let pending = start();
                slot.insert(pending.clone(), now.saturating_add(self.ttl_ms));
                (pending, false)
            }
        })
    }

    /// The pending result for `key` if it is still remembered; never starts
    /// anything (for a request known to be a repeat).
    pub fn replay(&self, key: Key, arrived: Instant) -> Option<Pending<T>> {
        self.entries.get(key, self.clock(arrived))
    }

    /// The in-process key of `msg`: its [`identity`] under this process's
    /// random hash keys (the map's buckets are its low bits: nobody outside
    /// can aim messages at one bucket).
    pub fn key(&self, msg: &Message) -> Key {
        self.keys.key(identity(msg))
    }
}

/// The identity of a push across WeChat's retries, the same on every
/// instance (a SHA-256 of what names it, truncated: `server::shared` keeps
/// it in Redis). Messages: `MsgId` with the sender and time (MsgIds have
/// collided across users). Events have no MsgId, and what tells two of them
/// apart depends on the event: `EventKey` for menus and QR codes, `MsgID`
/// for job-finish events, `UserCardCode` for card events, the template list
/// for subscribe messages, `ScanCodeInfo` / `SendPicsInfo` for menu scans and
/// photos, and whatever events WeChat adds next. So an event is named by
/// every field it carries: a retry repeats them all, and two events that
/// differ in any field are two events. The fields are taken in sorted order,
/// so a retry serialised differently is still the same event.
pub fn identity(msg: &Message) -> [u8; 16] {
    let mut h = StableHash::new();
    h.part(&msg.to_user).part(&msg.from_user);
    h.part(msg.create_time.to_be_bytes());
    match msg.msg_id {
        Some(id) => {
            h.part("m").part(id.to_be_bytes());
        }
        None => {
            h.part("e").part(msg.event_name().unwrap_or(&msg.msg_type));
            let mut fields: Vec<&(String, String)> = msg.fields.iter().collect();
            fields.sort_unstable();
            for (name, value) in fields {
                h.part(name).part(value);
            }
        }
    }
    h.finish()
}

/// SHA-256 over length-prefixed parts: a stable name for a tuple of byte
/// strings (no two tuples share an encoding), the same in every process
/// and version, as keys shared between instances must be.
pub struct StableHash(sha2::Sha256);

impl StableHash {
    pub fn new() -> StableHash {
        StableHash(sha2::Sha256::new())
    }

    pub fn part(&mut self, bytes: impl AsRef<[u8]>) -> &mut StableHash {
        let bytes = bytes.as_ref();
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    /// The first `N` bytes of the digest.
    pub fn finish<const N: usize>(&mut self) -> [u8; N] {
        let digest = std::mem::take(&mut self.0).finalize();
        let mut out = [0; N];
        out.copy_from_slice(&digest[..N]);
        out
    }
}

impl Default for StableHash {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits until `pending` has a value. No timer: the worker publishes by the
/// budget (see `callback::start`); `None` means it ended without publishing.
pub async fn wait<T: Send + Sync + 'static>(mut pending: Pending<T>) -> Option<Arc<T>> {
    match pending.wait_for(|v| v.is_some()).await {
        Ok(v) => v.clone(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_message;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(started: &Arc<AtomicUsize>) -> impl FnOnce() -> Pending<String> + use<> {
        let started = started.clone();
        move || {
            started.fetch_add(1, Ordering::SeqCst);
            watch::channel(None).1
        }
    }

    #[tokio::test]
    async fn second_delivery_joins_the_first() {
        let dedup: Dedup<String> = Dedup::new(Duration::from_secs(60), 100);
        let started = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = watch::channel(None);
        let now = Instant::now();
        let s = started.clone();
        let (first, retry1) = dedup.join(1, now, move || {
            s.fetch_add(1, Ordering::SeqCst);
            rx
        });
        let (second, retry2) = dedup.join(1, now, counting(&started));
        assert!(!retry1 && retry2);
        assert_eq!(started.load(Ordering::SeqCst), 1);
        let waiter = tokio::spawn(wait(second));
        tx.send(Some(Arc::new("reply".to_owned()))).unwrap();
        assert_eq!(
            waiter.await.unwrap().as_deref().map(String::as_str),
            Some("reply")
        );
        assert_eq!(
            wait(first).await.as_deref().map(String::as_str),
            Some("reply")
        );
    }

    #[test]
    fn a_delivery_after_the_ttl_starts_again_and_replay_never_starts() {
        let dedup: Dedup<String> = Dedup::new(Duration::from_secs(60), 100);
        let started = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        assert!(!dedup.join(1, t, counting(&started)).1);
        assert!(dedup.replay(1, t + Duration::from_secs(59)).is_some());
        assert!(dedup.replay(1, t + Duration::from_secs(61)).is_none());
        assert!(dedup.replay(2, t).is_none());
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert!(
            !dedup
                .join(1, t + Duration::from_secs(61), counting(&started))
                .1
        );
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn when_full_a_new_push_is_remembered_and_the_oldest_forgotten() {
        let dedup: Dedup<String> = Dedup::new(Duration::from_secs(60), 8);
        let started = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        for k in 0..8 {
            dedup.join(k, t, counting(&started));
        }
        // Retries make the old keys look popular.
        for _ in 0..10 {
            for k in 0..8 {
                assert!(dedup.join(k, t, counting(&started)).1);
            }
        }
        for k in 8..40 {
            assert!(!dedup.join(k, t, counting(&started)).1);
            assert!(dedup.join(k, t, counting(&started)).1, "{k} remembered");
            assert!(dedup.replay(k - 8, t).is_none(), "{} forgotten", k - 8);
        }
        assert_eq!(started.load(Ordering::SeqCst), 40);
    }

    fn msg(xml_fields: &str, msg_id: Option<u64>, from: &str) -> Message {
        let id = msg_id
            .map(|i| format!("<MsgId>{i}</MsgId>"))
            .unwrap_or_default();
        let kind = if msg_id.is_some() { "text" } else { "event" };
        parse_message(&format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>{from}</FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType>{kind}</MsgType>{xml_fields}{id}</xml>"
        ))
        .unwrap()
    }

    fn event(fields: &str) -> Message {
        msg(fields, None, "a")
    }

    #[test]
    fn keys_tell_retries_from_distinct_pushes() {
        let d: Dedup<String> = Dedup::new(Duration::from_secs(60), 100);
        let text = "<Content>x</Content>";
        // Same MsgId from two users (MsgIds have collided across users).
        assert_ne!(
            d.key(&msg(text, Some(1), "a")),
            d.key(&msg(text, Some(1), "b"))
        );
        assert_eq!(
            d.key(&msg(text, Some(1), "a")),
            d.key(&msg(text, Some(1), "a"))
        );
        // Events in the same second differ by event and key.
        let click = |k: &str| event(&format!("<Event>CLICK</Event><EventKey>{k}</EventKey>"));
        assert_ne!(d.key(&click("K1")), d.key(&click("K2")));
        assert_ne!(
            d.key(&click("K1")),
            d.key(&event("<Event>VIEW</Event><EventKey>K1</EventKey>"))
        );
        assert_eq!(d.key(&click("K1")), d.key(&click("K1")));
        // The same event with its fields in another order is the same event.
        assert_eq!(
            d.key(&event(
                "<Event>SCAN</Event><EventKey>7</EventKey><Ticket>t</Ticket>"
            )),
            d.key(&event(
                "<Ticket>t</Ticket><EventKey>7</EventKey><Event>SCAN</Event>"
            ))
        );
    }

    #[test]
    fn events_without_an_event_key_are_told_apart_by_what_they_carry() {
        let d: Dedup<String> = Dedup::new(Duration::from_secs(60), 100);
        let pairs = [
            // Two template messages to one user finishing in the same second.
            (
                "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>100</MsgID><Status>success</Status>",
                "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>101</MsgID><Status>success</Status>",
            ),
            (
                "<Event>MASSSENDJOBFINISH</Event><MsgID>1</MsgID><Status>send success</Status><TotalCount>1</TotalCount>",
                "<Event>MASSSENDJOBFINISH</Event><MsgID>2</MsgID><Status>send success</Status><TotalCount>1</TotalCount>",
            ),
            // Two cards of one kind claimed at once.
            (
                "<Event>user_get_card</Event><CardId>c</CardId><UserCardCode>111</UserCardCode>",
                "<Event>user_get_card</Event><CardId>c</CardId><UserCardCode>222</UserCardCode>",
            ),
            // Subscribe-message popups for different templates.
            (
                "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>T1</TemplateId><SubscribeStatusString>accept</SubscribeStatusString></List></SubscribeMsgPopupEvent>",
                "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>T2</TemplateId><SubscribeStatusString>accept</SubscribeStatusString></List></SubscribeMsgPopupEvent>",
            ),
            (
                "<Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>T</TemplateId><MsgID>1</MsgID><ErrorCode>0</ErrorCode></List></SubscribeMsgSentEvent>",
                "<Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>T</TemplateId><MsgID>2</MsgID><ErrorCode>0</ErrorCode></List></SubscribeMsgSentEvent>",
            ),
            // The same scan button, two different codes.
            (
                "<Event>scancode_push</Event><EventKey>S</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>a</ScanResult></ScanCodeInfo>",
                "<Event>scancode_push</Event><EventKey>S</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>b</ScanResult></ScanCodeInfo>",
            ),
            (
                "<Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>1</publish_id><publish_status>0</publish_status></PublishEventInfo>",
                "<Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>2</publish_id><publish_status>0</publish_status></PublishEventInfo>",
            ),
            (
                "<Event>kf_switch_session</Event><FromKfAccount>a@k</FromKfAccount><ToKfAccount>b@k</ToKfAccount>",
                "<Event>kf_switch_session</Event><FromKfAccount>a@k</FromKfAccount><ToKfAccount>c@k</ToKfAccount>",
            ),
        ];
        for (a, b) in pairs {
            assert_ne!(d.key(&event(a)), d.key(&event(b)), "{a}");
            assert_eq!(d.key(&event(a)), d.key(&event(a)), "a retry of {a}");
        }
    }

    #[test]
    fn identities_are_stable_across_processes() {
        // The same in every process (unlike the in-process keys): instances
        // sharing a Redis must name a push alike. A change here is a
        // protocol change between versions of wxhost.
        let m = msg("<Content>x</Content>", Some(1), "a");
        assert_eq!(hex::encode(identity(&m)), hex::encode(identity(&m.clone())));
        assert_ne!(
            identity(&m),
            identity(&msg("<Content>x</Content>", Some(2), "a"))
        );
        assert_ne!(
            Dedup::<String>::new(Duration::from_secs(60), 10).key(&m),
            Dedup::<String>::new(Duration::from_secs(60), 10).key(&m),
            "in-process keys are keyed per process"
        );
        let mut a = StableHash::new();
        let mut b = StableHash::new();
        assert_ne!(
            a.part("ab").part("c").finish::<16>(),
            b.part("a").part("bc").finish::<16>()
        );
    }

    #[tokio::test]
    async fn a_worker_that_ends_without_publishing_releases_its_waiters() {
        let (tx, rx) = watch::channel::<Option<Arc<String>>>(None);
        let waiter = tokio::spawn(wait(rx));
        drop(tx);
        assert!(waiter.await.unwrap().is_none());
    }
}
