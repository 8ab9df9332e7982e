//! [`Activity`]: what the operator's overview shows of the pushes served,
//! kept in memory and bounded whatever the traffic:
//!
//! - one bucket per minute for the last hour ([`WINDOW_MINUTES`]): pushes,
//!   outcomes by [`OutcomeClass`], and a log-scale latency histogram from
//!   which p50/p99 are read (within a bucket's width, ~19 %);
//! - the last [`RECENT_CAPACITY`] pushes: kind, the user's openid masked,
//!   plugin, outcome, latency, and the message content only when
//!   `admin.show_content` is on.
//!
//! Fed once per push from `callback.rs`, beside the metrics; the cost is one
//! uncontended lock and a few small copies.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::outcome::Outcome;
use crate::protocol::{Body, Message};

/// Minutes of history in the overview.
pub const WINDOW_MINUTES: usize = 60;
/// Recent pushes kept.
pub const RECENT_CAPACITY: usize = 200;
/// Characters of content kept per push (with `show_content`).
const CONTENT_CHARS: usize = 200;
/// Latency histogram: bucket `i` holds latencies below `BASE_US * GROWTH^i`.
const LATENCY_BUCKETS: usize = 64;
const BASE_US: f64 = 50.0;
const GROWTH: f64 = 1.19;

/// The overview's grouping of [`Outcome`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeClass {
    /// A plugin's passive reply.
    Reply,
    /// `success` by choice: no-reply, no plugin, all passed.
    NoReply,
    /// A retry or replay of a push already handled (plugins not run again).
    Replayed,
    /// The budget cut it short (late or out of time).
    BudgetCut,
    /// Sealing failed or the worker was lost.
    Failure,
}

impl OutcomeClass {
    pub const ALL: [OutcomeClass; 5] = [
        OutcomeClass::Reply,
        OutcomeClass::NoReply,
        OutcomeClass::Replayed,
        OutcomeClass::BudgetCut,
        OutcomeClass::Failure,
    ];

    pub fn of(outcome: Outcome, retry: bool) -> OutcomeClass {
        match outcome {
            _ if retry => OutcomeClass::Replayed,
            Outcome::Replay => OutcomeClass::Replayed,
            Outcome::Reply => OutcomeClass::Reply,
            Outcome::NoReply | Outcome::NoPlugin | Outcome::AllPassed => OutcomeClass::NoReply,
            Outcome::Late | Outcome::Deadline => OutcomeClass::BudgetCut,
            Outcome::SealFailed | Outcome::Lost => OutcomeClass::Failure,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Reply => "reply",
            OutcomeClass::NoReply => "no_reply",
            OutcomeClass::Replayed => "replayed",
            OutcomeClass::BudgetCut => "budget_cut",
            OutcomeClass::Failure => "failure",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One push as the recent-pushes page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRecord {
    /// Unix seconds.
    pub at: u64,
    /// The account it was pushed to.
    pub account: Arc<str>,
    /// The plugin kind (`text`, `event-click`, …).
    pub kind: &'static str,
    /// The sender's openid, masked (`oAbC…yz`).
    pub user: String,
    pub plugin: Option<String>,
    pub outcome: Outcome,
    pub retry: bool,
    pub latency: Duration,
    /// The text (or event key) only with `admin.show_content`.
    pub content: Option<String>,
}

/// One answered push, as the endpoint saw it.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    pub account: &'a Arc<str>,
    pub msg: &'a Message,
    pub plugin: Option<&'a str>,
    pub outcome: Outcome,
    pub retry: bool,
    pub latency: Duration,
}

/// One minute of the overview.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteStats {
    /// Unix minute (seconds / 60).
    pub minute: u64,
    pub pushes: u64,
    pub by_class: [u64; 5],
    latency: [u32; LATENCY_BUCKETS],
}

impl MinuteStats {
    fn new(minute: u64) -> MinuteStats {
        MinuteStats {
            minute,
            pushes: 0,
            by_class: [0; 5],
            latency: [0; LATENCY_BUCKETS],
        }
    }

    /// The latency below which `q` (0..1) of this minute's pushes fell, or
    /// `None` without pushes.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        quantile(&self.latency, q)
    }
}

fn bucket_of(latency: Duration) -> usize {
    let us = latency.as_micros() as f64;
    if us < BASE_US {
        return 0;
    }
    (((us / BASE_US).ln() / GROWTH.ln()).floor() as usize + 1).min(LATENCY_BUCKETS - 1)
}

/// The upper bound of bucket `i`.
fn bucket_limit(i: usize) -> Duration {
    Duration::from_micros((BASE_US * GROWTH.powi(i as i32)) as u64)
}

fn quantile(hist: &[u32; LATENCY_BUCKETS], q: f64) -> Option<Duration> {
    let total: u64 = hist.iter().map(|&n| u64::from(n)).sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (i, &n) in hist.iter().enumerate() {
        seen += u64::from(n);
        if seen >= rank {
            return Some(bucket_limit(i));
        }
    }
    Some(bucket_limit(LATENCY_BUCKETS - 1))
}

/// The last hour as the overview draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// One entry per minute, oldest first, ending with the current minute;
    /// minutes without pushes are present with zeros.
    pub minutes: Vec<MinuteStats>,
    /// Pushes in the window by [`OutcomeClass`] (indexed as `ALL`).
    pub by_class: [u64; 5],
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
}

struct State {
    minutes: VecDeque<MinuteStats>,
    recent: VecDeque<PushRecord>,
}

pub struct Activity {
    state: Mutex<State>,
    show_content: bool,
}

impl Activity {
    /// `show_content`: keep message content in the recent pushes.
    pub fn new(show_content: bool) -> Activity {
        Activity {
            state: Mutex::new(State {
                minutes: VecDeque::with_capacity(WINDOW_MINUTES + 1),
                recent: VecDeque::with_capacity(RECENT_CAPACITY),
            }),
            show_content,
        }
    }

    pub fn shows_content(&self) -> bool {
        self.show_content
    }

    /// Counts one answered push at `now` (unix seconds).
    pub fn record(&self, now: u64, push: Answered<'_>) {
        let Answered {
            account,
            msg,
            plugin,
            outcome,
            retry,
            latency,
        } = push;
        let record = PushRecord {
            at: now,
            account: account.clone(),
            kind: crate::plugin::Kind::of(msg).name(),
            user: mask_openid(&msg.from_user),
            plugin: plugin.map(str::to_owned),
            outcome,
            retry,
            latency,
            content: self.show_content.then(|| content_of(msg)).flatten(),
        };
        let class = OutcomeClass::of(outcome, retry);
        let minute = now / 60;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.minutes.back().is_none_or(|m| m.minute < minute) {
            s.minutes.push_back(MinuteStats::new(minute));
            while s.minutes.len() > WINDOW_MINUTES {
                s.minutes.pop_front();
            }
        }
        // A clock step backwards lands in the newest bucket.
        if let Some(m) = s.minutes.back_mut() {
            m.pushes += 1;
            m.by_class[class.index()] += 1;
            m.latency[bucket_of(latency)] += 1;
        }
        if s.recent.len() == RECENT_CAPACITY {
            s.recent.pop_front();
        }
        s.recent.push_back(record);
    }

    /// The recent pushes, newest first.
    pub fn recent(&self, limit: usize) -> Vec<PushRecord> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.recent.iter().rev().take(limit).cloned().collect()
    }

    /// The last hour up to `now` (unix seconds).
    pub fn overview(&self, now: u64) -> Overview {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let last = now / 60;
        let first = last + 1 - WINDOW_MINUTES as u64;
        let mut minutes: Vec<MinuteStats> = (first..=last).map(MinuteStats::new).collect();
        let mut by_class = [0u64; 5];
        let mut hist = [0u32; LATENCY_BUCKETS];
        for m in s
            .minutes
            .iter()
            .filter(|m| m.minute >= first && m.minute <= last)
        {
            minutes[(m.minute - first) as usize] = m.clone();
            for (t, n) in by_class.iter_mut().zip(m.by_class) {
                *t += n;
            }
            for (t, n) in hist.iter_mut().zip(m.latency) {
                *t = t.saturating_add(n);
            }
        }
        Overview {
            minutes,
            by_class,
            p50: quantile(&hist, 0.5),
            p99: quantile(&hist, 0.99),
        }
    }
}

/// `oAbC…yz`: enough to tell users apart on one page, not to address one.
pub fn mask_openid(openid: &str) -> String {
    let chars: Vec<char> = openid.chars().collect();
    if chars.len() <= 6 {
        return "…".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

fn content_of(msg: &Message) -> Option<String> {
    let text = match &msg.body {
        Body::Text { content } => content.as_str(),
        Body::Link { url, .. } => url.as_str(),
        Body::Event(_) => msg.field("EventKey")?,
        _ => return None,
    };
    Some(text.chars().take(CONTENT_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct() -> Arc<str> {
        Arc::from("shop")
    }

    fn text(from: &str, content: &str) -> Message {
        crate::protocol::parse_message(&format!(
            "<xml><ToUserName>gh_1</ToUserName><FromUserName>{from}</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>{content}</Content><MsgId>7</MsgId></xml>"
        ))
        .unwrap()
    }

    #[test]
    fn openids_are_masked_and_content_kept_only_when_asked() {
        let msg = text("oUser1234567890xyz", "my secret order");
        let hidden = Activity::new(false);
        hidden.record(
            60,
            Answered {
                account: &acct(),
                msg: &msg,
                plugin: Some("echo"),
                outcome: Outcome::Reply,
                retry: false,
                latency: Duration::from_millis(2),
            },
        );
        let r = &hidden.recent(10)[0];
        assert_eq!(r.user, "oUse…yz");
        assert_eq!(&*r.account, "shop");
        assert_eq!((r.kind, r.content.as_deref()), ("text", None));
        let shown = Activity::new(true);
        shown.record(
            60,
            Answered {
                account: &acct(),
                msg: &msg,
                plugin: None,
                outcome: Outcome::NoPlugin,
                retry: false,
                latency: Duration::ZERO,
            },
        );
        assert_eq!(
            shown.recent(10)[0].content.as_deref(),
            Some("my secret order")
        );
    }

    #[test]
    fn the_overview_counts_per_minute_and_forgets_after_an_hour() {
        let a = Activity::new(false);
        let msg = text("oUser1234567890xyz", "x");
        let t0 = 1_000_020u64; // minute 16667
        for i in 0..99 {
            a.record(
                t0,
                Answered {
                    account: &acct(),
                    msg: &msg,
                    plugin: None,
                    outcome: Outcome::Reply,
                    retry: false,
                    latency: Duration::from_millis(1 + i % 2),
                },
            );
        }
        a.record(
            t0 + 60,
            Answered {
                account: &acct(),
                msg: &msg,
                plugin: None,
                outcome: Outcome::Late,
                retry: false,
                latency: Duration::from_millis(4500),
            },
        );
        a.record(
            t0 + 60,
            Answered {
                account: &acct(),
                msg: &msg,
                plugin: None,
                outcome: Outcome::Reply,
                retry: true,
                latency: Duration::from_millis(1),
            },
        );
        let o = a.overview(t0 + 60);
        assert_eq!(o.minutes.len(), WINDOW_MINUTES);
        assert_eq!(o.minutes[WINDOW_MINUTES - 2].pushes, 99);
        assert_eq!(o.minutes[WINDOW_MINUTES - 1].pushes, 2);
        assert_eq!(o.by_class, [99, 0, 1, 1, 0]);
        let p50 = o.p50.unwrap();
        assert!(
            p50 >= Duration::from_millis(1) && p50 < Duration::from_millis(3),
            "{p50:?}"
        );
        assert!(o.p99.unwrap() >= Duration::from_millis(2), "{:?}", o.p99);
        // An hour later the window is empty.
        let later = a.overview(t0 + 3700);
        assert!(later.minutes.iter().all(|m| m.pushes == 0));
        assert_eq!(later.p50, None);
    }

    #[test]
    fn recent_pushes_are_bounded_newest_first() {
        let a = Activity::new(false);
        let msg = text("oUser1234567890xyz", "x");
        for i in 0..(RECENT_CAPACITY as u64 + 10) {
            a.record(
                i,
                Answered {
                    account: &acct(),
                    msg: &msg,
                    plugin: None,
                    outcome: Outcome::Reply,
                    retry: false,
                    latency: Duration::ZERO,
                },
            );
        }
        let r = a.recent(usize::MAX);
        assert_eq!(r.len(), RECENT_CAPACITY);
        assert_eq!(r[0].at, RECENT_CAPACITY as u64 + 9);
    }

    #[test]
    fn latency_buckets_bound_their_samples() {
        for us in [0u64, 49, 50, 51, 1000, 4_500_000, 60_000_000] {
            let d = Duration::from_micros(us);
            let b = bucket_of(d);
            assert!(
                b == LATENCY_BUCKETS - 1 || d < bucket_limit(b),
                "{us} -> {b}"
            );
        }
    }
}
