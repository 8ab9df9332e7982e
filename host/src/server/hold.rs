//! Holding a push for WeChat's retries (`server.hold_for_retries`, or
//! `[plugin.<id>] hold_for_retries`): replies up to ~14 s without
//! customer-service messages.
//!
//! WeChat waits 5 s for an answer, then drops the connection and delivers
//! the same push again (same MsgId and CreateTime), three deliveries in all,
//! about 5 s apart; if the third gets no answer either, the user sees "this
//! account cannot provide service". Normally the worker of a push answers
//! every delivery `success` at the first one's budget and sends a slower
//! reply later as a customer-service message. When the plugin still working
//! at the budget holds for retries, the worker publishes nothing then: the
//! deliveries keep waiting (WeChat closes the first two itself at its 5 s
//! and hyper then drops their requests, no response written), and the
//! reply, once ready, answers whichever delivery is open. Only the last
//! delivery is never left: at its budget the worker publishes `success` and
//! the late path takes over, as without holding.
//!
//! [`Deliveries`] records when each delivery of a message arrived (every
//! delivery registers before it is admitted, so the worker started by the
//! first sees all that follow on this instance); [`Deliveries::last_budget`]
//! is the instant the worker must answer by. The last delivery is the third
//! to arrive, or, should one never reach this host, whatever is open at the
//! first one's arrival plus two WeChat waits plus the budget. WeChat's wait
//! is taken as the budget plus 0.5 s (5 s with the default 4.5 s budget), so
//! a test that shortens the budget shortens the whole schedule honestly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::dedup::identity;
use super::expiring::{Entry, ExpiringMap, KeyHasher};
use crate::protocol::Message;

/// Deliveries WeChat makes of one push.
pub const DELIVERIES: usize = 3;
/// How much longer than the budget WeChat waits for a delivery's answer.
const WECHAT_WAIT_MARGIN: Duration = Duration::from_millis(500);
/// How long arrivals are remembered (well past the last delivery).
const KEPT: Duration = Duration::from_secs(60);

/// Which plugins hold: the server's default and the per-plugin overrides.
#[derive(Debug, Clone, Default)]
pub struct HoldPolicy {
    pub default: bool,
    pub per_plugin: HashMap<String, bool>,
}

impl HoldPolicy {
    /// Whether a push whose budget ran out while `plugin` was running is
    /// held (`None`: no plugin had started; the server's default).
    pub fn holds(&self, plugin: Option<&str>) -> bool {
        plugin
            .and_then(|p| self.per_plugin.get(p).copied())
            .unwrap_or(self.default)
    }

    /// Whether any push may be held (else nothing is recorded).
    pub fn any(&self) -> bool {
        self.default || self.per_plugin.values().any(|&h| h)
    }
}

/// The arrivals of one message's deliveries on this instance.
pub struct Deliveries {
    arrivals: watch::Sender<Vec<Instant>>,
}

impl Deliveries {
    fn new() -> Deliveries {
        Deliveries {
            arrivals: watch::Sender::new(Vec::new()),
        }
    }

    fn arrive(&self, at: Instant) {
        self.arrivals.send_modify(|a| {
            if a.len() < DELIVERIES {
                a.push(at)
            }
        });
    }

    /// Waits until the instant the last delivery must be answered by: the
    /// third delivery's arrival plus `budget`, or at the latest the first's
    /// arrival plus two WeChat waits plus `budget`.
    pub async fn last_budget(&self, budget: Duration) {
        let mut rx = self.arrivals.subscribe();
        loop {
            let by = answer_by(&rx.borrow_and_update(), budget);
            let Some(by) = by else {
                // Nothing arrived (cannot happen: the first delivery
                // registers before it starts the worker); answer now.
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(by.into()) => return,
                changed = rx.changed() => if changed.is_err() {
                    tokio::time::sleep_until(by.into()).await;
                    return;
                },
            }
        }
    }
}

/// When the last delivery must be answered, given the arrivals so far.
fn answer_by(arrivals: &[Instant], budget: Duration) -> Option<Instant> {
    let first = *arrivals.first()?;
    let wechat_wait = budget + WECHAT_WAIT_MARGIN;
    let latest = first + wechat_wait * (DELIVERIES as u32 - 1) + budget;
    Some(match arrivals.get(DELIVERIES - 1) {
        Some(&last) => (last + budget).min(latest),
        None => latest,
    })
}

/// How long after the first delivery plugins may need to run for a held
/// push: until the last delivery's budget.
pub fn horizon(budget: Duration) -> Duration {
    (budget + WECHAT_WAIT_MARGIN) * (DELIVERIES as u32 - 1) + budget
}

/// Every message's deliveries on this instance, kept for a minute.
pub struct Holds {
    pub policy: HoldPolicy,
    entries: ExpiringMap<Arc<Deliveries>>,
    keys: KeyHasher,
    epoch: Instant,
}

impl Holds {
    pub fn new(policy: HoldPolicy, capacity: usize) -> Holds {
        Holds {
            policy,
            entries: ExpiringMap::new(capacity),
            keys: KeyHasher::new(),
            epoch: Instant::now(),
        }
    }

    fn clock(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch)
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// Records a delivery of `msg` arriving at `at` (before it is admitted);
    /// returns its message's deliveries. Nothing is recorded while no plugin
    /// holds.
    pub fn arrive(&self, msg: &Message, at: Instant) -> Option<Arc<Deliveries>> {
        if !self.policy.any() {
            return None;
        }
        let key = self.keys.key(identity(msg));
        let now = self.clock(at);
        let expires = now.saturating_add(KEPT.as_millis() as u64);
        let deliveries = self.entries.entry(key, now, |e| match e {
            Entry::Occupied(d) => d.clone(),
            Entry::Vacant(slot) => {
                let d = Arc::new(Deliveries::new());
                slot.insert(d.clone(), expires);
                d
            }
        });
        deliveries.arrive(at);
        Some(deliveries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_message;

    fn msg(id: u64) -> Message {
        parse_message(&format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType>text</MsgType>\
             <Content>x</Content><MsgId>{id}</MsgId></xml>"
        ))
        .unwrap()
    }

    #[test]
    fn the_last_delivery_is_the_third_or_the_one_open_at_the_end_of_the_schedule() {
        let t = Instant::now();
        let b = Duration::from_millis(4500);
        let s = Duration::from_secs;
        // First alone: answered at 5 + 5 + 4.5 s.
        assert_eq!(answer_by(&[t], b), Some(t + Duration::from_millis(14500)));
        assert_eq!(horizon(b), Duration::from_millis(14500));
        // The third came early: its own budget.
        assert_eq!(
            answer_by(&[t, t + s(4), t + s(8)], b),
            Some(t + Duration::from_millis(12500))
        );
        // ... but never later than the schedule's end.
        assert_eq!(
            answer_by(&[t, t + s(6), t + s(11)], b),
            Some(t + Duration::from_millis(14500))
        );
        assert_eq!(answer_by(&[], b), None);
    }

    #[test]
    fn policy_per_plugin_overrides_the_default() {
        let mut p = HoldPolicy::default();
        assert!(!p.any() && !p.holds(Some("a")) && !p.holds(None));
        p.per_plugin.insert("a".into(), true);
        assert!(p.any() && p.holds(Some("a")) && !p.holds(Some("b")) && !p.holds(None));
        p.default = true;
        p.per_plugin.insert("b".into(), false);
        assert!(p.holds(Some("c")) && !p.holds(Some("b")) && p.holds(None));
    }

    #[tokio::test]
    async fn the_worker_wakes_for_the_third_delivery() {
        let holds = Holds::new(
            HoldPolicy {
                default: true,
                ..HoldPolicy::default()
            },
            100,
        );
        // Instants in the past stand for the schedule, so nothing here
        // depends on how fast the machine is: with two deliveries the end of
        // the schedule is still ahead; the third's budget is already past.
        let b = Duration::from_secs(60);
        let now = Instant::now();
        let first = now - Duration::from_secs(100);
        let d = holds.arrive(&msg(1), first).unwrap();
        let other = holds.arrive(&msg(2), first).unwrap();
        assert!(!Arc::ptr_eq(&d, &other));
        holds.arrive(&msg(1), now - Duration::from_secs(90));
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.last_budget(b).await }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "two deliveries: the third is awaited"
        );
        holds.arrive(&msg(1), now - Duration::from_secs(61));
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the third delivery's budget has passed: answered at once")
            .unwrap();
        assert_eq!(d.arrivals.borrow().len(), 3);
        // A fourth is not counted.
        holds.arrive(&msg(1), now);
        assert_eq!(d.arrivals.borrow().len(), 3);
    }

    #[test]
    fn nothing_is_recorded_while_no_plugin_holds() {
        let holds = Holds::new(HoldPolicy::default(), 100);
        assert!(holds.arrive(&msg(1), Instant::now()).is_none());
    }
}
