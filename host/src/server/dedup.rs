//! Retry de-duplication: WeChat re-sends a push it got no timely answer to,
//! and each delivery must never run plugins twice.
//!
//! The first delivery of a key starts the work in a detached task and
//! publishes its outcome on a `watch` channel kept in a TTL cache. Every later
//! delivery of the same key (a retry, while the work runs or after it ended)
//! subscribes to the same channel, so it waits for, or replays, the same reply.
//! The work is detached so that WeChat dropping the first connection never
//! cancels it.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use tokio::sync::watch;

use crate::protocol::Message;

/// The shared, eventually-set result of one message's processing.
pub type Pending<T> = watch::Receiver<Option<Arc<T>>>;

pub struct Dedup<T: Send + Sync + 'static> {
    cache: Cache<String, Pending<T>>,
}

impl<T: Send + Sync + 'static> Dedup<T> {
    pub fn new(ttl: Duration, capacity: u64) -> Dedup<T> {
        Dedup {
            cache: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
        }
    }

    /// The pending result for `key`, calling `start` only if this is the
    /// first delivery. Returns whether this delivery is a retry.
    pub async fn join(
        &self,
        key: String,
        start: impl FnOnce() -> Pending<T>,
    ) -> (Pending<T>, bool) {
        let entry = self
            .cache
            .entry(key)
            .or_insert_with(async move { start() })
            .await;
        let retry = !entry.is_fresh();
        (entry.into_value(), retry)
    }
}

/// The identity of a push across WeChat's retries: `MsgId` (with the sender,
/// since MsgIds have collided across users) for messages; sender, time, event
/// and key for events, which have no MsgId.
pub fn key(msg: &Message) -> String {
    match msg.msg_id {
        Some(id) => format!(
            "{}|{}|m|{id}|{}",
            msg.to_user, msg.from_user, msg.create_time
        ),
        None => {
            let event = msg.event_name().unwrap_or(&msg.msg_type);
            let event_key = msg.field("EventKey").unwrap_or("");
            format!(
                "{}|{}|e|{}|{event}|{event_key}",
                msg.to_user, msg.from_user, msg.create_time
            )
        }
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
    use crate::protocol::Body;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn second_delivery_joins_the_first() {
        let dedup: Dedup<String> = Dedup::new(Duration::from_secs(60), 100);
        let started = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = watch::channel(None);
        let s = started.clone();
        let (first, retry1) = dedup
            .join("k".into(), move || {
                s.fetch_add(1, Ordering::SeqCst);
                rx
            })
            .await;
        let s = started.clone();
        let (second, retry2) = dedup
            .join("k".into(), move || {
                s.fetch_add(1, Ordering::SeqCst);
                watch::channel(None).1
            })
            .await;
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

    fn message(msg_id: Option<u64>, from: &str, event: Option<(&str, &str)>) -> Message {
        let mut fields = vec![("FromUserName".to_owned(), from.to_owned())];
        let body = match event {
            Some((name, key)) => {
                fields.push(("Event".to_owned(), name.to_owned()));
                fields.push(("EventKey".to_owned(), key.to_owned()));
                Body::Event(crate::protocol::Event::Other {
                    name: name.to_owned(),
                    key: Some(key.to_owned()),
                })
            }
            None => Body::Text {
                content: "x".into(),
            },
        };
        Message {
            to_user: "gh".into(),
            from_user: from.into(),
            create_time: 1700000000,
            msg_id,
            msg_type: "text".into(),
            body,
            fields,
            raw: String::new(),
        }
    }

    #[test]
    fn keys_tell_retries_from_distinct_pushes() {
        // Same MsgId from two users (MsgIds have collided across users).
        assert_ne!(
            key(&message(Some(1), "a", None)),
            key(&message(Some(1), "b", None))
        );
        assert_eq!(
            key(&message(Some(1), "a", None)),
            key(&message(Some(1), "a", None))
        );
        // Events in the same second differ by event and key.
        assert_ne!(
            key(&message(None, "a", Some(("CLICK", "K1")))),
            key(&message(None, "a", Some(("CLICK", "K2"))))
        );
        assert_ne!(
            key(&message(None, "a", Some(("CLICK", "K1")))),
            key(&message(None, "a", Some(("VIEW", "K1"))))
        );
        assert_eq!(
            key(&message(None, "a", Some(("SCAN", "7")))),
            key(&message(None, "a", Some(("SCAN", "7"))))
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
