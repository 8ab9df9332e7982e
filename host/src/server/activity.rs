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
//!
//! Instances sharing a store ([`ActivityLog`], Redis) also report what they
//! served once a second ([`Activity::report`], off every push's path): the
//! pushes since the last report to a capped shared stream, the counters of
//! the current and previous minute, and that the instance is alive. The
//! operator's views then read the whole deployment
//! ([`Activity::recent_everywhere`], [`Activity::overview_everywhere`],
//! [`Activity::instances`]), each row naming its instance
//! (`server.instance`); this instance's pushes not reported yet are merged
//! in from memory, and a store that does not answer falls back to them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::outcome::Outcome;
use crate::protocol::{Body, Message};
use crate::store::{ActivityLog, StoreError};

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

/// One push as the recent-pushes page shows it (and as instances pass it
/// on through the shared stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRecord {
    /// Unix seconds.
    pub at: u64,
    /// The account it was pushed to (absent in rows from instances of the
    /// release before accounts were shown).
    #[serde(default)]
    pub account: String,
    /// The instance that served it (`server.instance`).
    pub instance: String,
    /// The plugin kind (`text`, `event-click`, …).
    pub kind: String,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "MinuteWire", into = "MinuteWire")]
pub struct MinuteStats {
    /// Unix minute (seconds / 60).
    pub minute: u64,
    pub pushes: u64,
    pub by_class: [u64; 5],
    latency: [u32; LATENCY_BUCKETS],
}

/// [`MinuteStats`] as instances pass it on (serde takes no 64-element
/// array).
#[derive(Serialize, Deserialize)]
struct MinuteWire {
    minute: u64,
    pushes: u64,
    by_class: [u64; 5],
    latency: Vec<u32>,
}

impl From<MinuteWire> for MinuteStats {
    fn from(w: MinuteWire) -> MinuteStats {
        let mut latency = [0u32; LATENCY_BUCKETS];
        for (t, n) in latency.iter_mut().zip(w.latency) {
            *t = n;
        }
        MinuteStats {
            minute: w.minute,
            pushes: w.pushes,
            by_class: w.by_class,
            latency,
        }
    }
}

impl From<MinuteStats> for MinuteWire {
    fn from(m: MinuteStats) -> MinuteWire {
        MinuteWire {
            minute: m.minute,
            pushes: m.pushes,
            by_class: m.by_class,
            latency: m.latency.to_vec(),
        }
    }
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

    /// Adds `other`'s counts (another instance's same minute).
    fn add(&mut self, other: &MinuteStats) {
        self.pushes += other.pushes;
        for (t, n) in self.by_class.iter_mut().zip(other.by_class) {
            *t += n;
        }
        for (t, n) in self.latency.iter_mut().zip(other.latency) {
            *t = t.saturating_add(n);
        }
    }
}

/// An instance as the operator's views list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceSeen {
    pub instance: String,
    /// When it last reported (unix ms).
    pub last_report_ms: u64,
    /// It reported within the last minute.
    pub live: bool,
    /// It is the instance answering.
    pub this: bool,
}

/// How recently an instance must have reported to count as live.
pub const LIVE_WITHIN_MS: u64 = 60_000;

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
    /// Pushes not yet reported to the shared log (newest last, bounded).
    unreported: VecDeque<PushRecord>,
}

pub struct Activity {
    state: Mutex<State>,
    show_content: bool,
    /// This instance (`server.instance`).
    instance: String,
    /// The deployment's shared log (Redis), if instances share a store.
    log: Option<Arc<dyn ActivityLog>>,
}

impl Activity {
    /// `show_content`: keep message content in the recent pushes;
    /// `instance`: this process's name on every row; `log`: the shared log
    /// to report to and read the deployment from (`None`: this instance
    /// alone).
    pub fn new(
        show_content: bool,
        instance: String,
        log: Option<Arc<dyn ActivityLog>>,
    ) -> Activity {
        Activity {
            state: Mutex::new(State {
                minutes: VecDeque::with_capacity(WINDOW_MINUTES + 1),
                recent: VecDeque::with_capacity(RECENT_CAPACITY),
                unreported: VecDeque::new(),
            }),
            show_content,
            instance,
            log,
        }
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
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
            account: account.to_string(),
            instance: self.instance.clone(),
            kind: crate::plugin::Kind::of(msg).name().to_owned(),
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
        if self.log.is_some() {
            if s.unreported.len() == RECENT_CAPACITY {
                s.unreported.pop_front();
            }
            s.unreported.push_back(record.clone());
        }
        if s.recent.len() == RECENT_CAPACITY {
            s.recent.pop_front();
        }
        s.recent.push_back(record);
    }

    /// Reports to the shared log (see the module docs): the pushes since
    /// the last report and the last two minutes' counters, and that this
    /// instance is alive. Pushes a failed report could not deliver are
    /// offered again next time (within the bound).
    pub async fn report(&self, now_ms: u64) -> Result<(), StoreError> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        let (rows, minutes) = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let rows: Vec<PushRecord> = s.unreported.drain(..).collect();
            let minute = now_ms / 60_000;
            let minutes: Vec<MinuteStats> = s
                .minutes
                .iter()
                .rev()
                .take_while(|m| m.minute + 1 >= minute)
                .cloned()
                .collect();
            (rows, minutes)
        };
        // Plain data: serializing cannot fail.
        let row_json: Vec<String> = rows
            .iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .collect();
        let minute_json: Vec<(u64, String)> = minutes
            .iter()
            .filter_map(|m| Some((m.minute, serde_json::to_string(m).ok()?)))
            .collect();
        let result = log
            .report(&self.instance, now_ms, &row_json, &minute_json)
            .await;
        if result.is_err() {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            for r in rows.into_iter().rev() {
                if s.unreported.len() == RECENT_CAPACITY {
                    break;
                }
                s.unreported.push_front(r);
            }
        }
        result
    }

    /// The recent pushes of every instance, newest first (this instance's
    /// alone without a shared log, or when it does not answer).
    pub async fn recent_everywhere(&self, limit: usize) -> Vec<PushRecord> {
        let Some(log) = &self.log else {
            return self.recent(limit);
        };
        match log.recent(limit).await {
            Ok(rows) => {
                let mut out: Vec<PushRecord> = {
                    let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    s.unreported.iter().rev().take(limit).cloned().collect()
                };
                out.extend(rows.iter().filter_map(|r| serde_json::from_str(r).ok()));
                out.truncate(limit);
                out
            }
            Err(e) => {
                tracing::debug!(error = %e, "shared activity not read: showing this instance's");
                self.recent(limit)
            }
        }
    }

    /// The last hour up to `now` (unix seconds) over every instance (this
    /// instance's alone without a shared log, or when it does not answer).
    pub async fn overview_everywhere(&self, now: u64) -> Overview {
        let Some(log) = &self.log else {
            return self.overview(now);
        };
        let (first, last) = window(now);
        let shared = match log.minutes(first, last).await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "shared activity not read: showing this instance's");
                return self.overview(now);
            }
        };
        let mut minutes = self.minutes_in(first, last);
        for (minute, by_instance) in shared {
            let Some(slot) = minute
                .checked_sub(first)
                .and_then(|i| minutes.get_mut(i as usize))
            else {
                continue;
            };
            // This instance's own counters come from memory (fresher).
            for (_, json) in by_instance.iter().filter(|(i, _)| *i != self.instance) {
                if let Ok(m) = serde_json::from_str::<MinuteStats>(json) {
                    slot.add(&m);
                }
            }
        }
        summarize(minutes)
    }

    /// The instances that reported to the shared log (this one alone
    /// without it), with whether each did in the last minute.
    pub async fn instances(&self, now_ms: u64) -> Result<Vec<InstanceSeen>, StoreError> {
        let mut seen = match &self.log {
            Some(log) => log.instances().await?,
            None => Vec::new(),
        };
        match seen.iter_mut().find(|(i, _)| *i == self.instance) {
            Some((_, at)) => *at = now_ms,
            None => seen.push((self.instance.clone(), now_ms)),
        }
        seen.sort();
        Ok(seen
            .into_iter()
            .map(|(instance, at)| InstanceSeen {
                live: now_ms.saturating_sub(at) <= LIVE_WITHIN_MS,
                this: instance == self.instance,
                instance,
                last_report_ms: at,
            })
            .collect())
    }

    /// The recent pushes, newest first.
    pub fn recent(&self, limit: usize) -> Vec<PushRecord> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.recent.iter().rev().take(limit).cloned().collect()
    }

    /// The last hour up to `now` (unix seconds), this instance's.
    pub fn overview(&self, now: u64) -> Overview {
        let (first, last) = window(now);
        summarize(self.minutes_in(first, last))
    }

    /// This instance's minutes `first..=last`, every one present.
    fn minutes_in(&self, first: u64, last: u64) -> Vec<MinuteStats> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut minutes: Vec<MinuteStats> = (first..=last).map(MinuteStats::new).collect();
        for m in s
            .minutes
            .iter()
            .filter(|m| m.minute >= first && m.minute <= last)
        {
            minutes[(m.minute - first) as usize] = m.clone();
        }
        minutes
    }
}

/// The overview's minutes up to `now` (unix seconds): first and last.
fn window(now: u64) -> (u64, u64) {
    let last = now / 60;
    ((last + 1).saturating_sub(WINDOW_MINUTES as u64), last)
}

fn summarize(minutes: Vec<MinuteStats>) -> Overview {
    let mut total = MinuteStats::new(0);
    for m in &minutes {
        total.add(m);
    }
    Overview {
        minutes,
        by_class: total.by_class,
        p50: total.quantile(0.5),
        p99: total.quantile(0.99),
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
        let hidden = Activity::new(false, "a".into(), None);
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
        assert_eq!(r.account, "shop");
        assert_eq!((r.kind.as_str(), r.content.as_deref()), ("text", None));
        assert_eq!(r.instance, "a");
        let shown = Activity::new(true, "a".into(), None);
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
        let a = Activity::new(false, "a".into(), None);
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
        let a = Activity::new(false, "a".into(), None);
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

    #[test]
    fn minutes_and_rows_pass_between_instances_unchanged() {
        let a = Activity::new(false, "a".into(), None);
        let msg = text("oUser1234567890xyz", "x");
        for ms in [1, 5, 40, 900] {
            a.record(
                120,
                Answered {
                    account: &acct(),
                    msg: &msg,
                    plugin: Some("echo"),
                    outcome: Outcome::Reply,
                    retry: false,
                    latency: Duration::from_millis(ms),
                },
            );
        }
        let o = a.overview(120);
        let m = o.minutes.last().unwrap().clone();
        let json = serde_json::to_string(&m).unwrap();
        let back: MinuteStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.quantile(0.99), m.quantile(0.99));
        // Another instance's same minute adds up.
        let mut sum = m.clone();
        sum.add(&back);
        assert_eq!(sum.pushes, 8);
        assert_eq!(sum.quantile(0.5), m.quantile(0.5));
        let row = &a.recent(1)[0];
        let back: PushRecord = serde_json::from_str(&serde_json::to_string(row).unwrap()).unwrap();
        assert_eq!(&back, row);
    }
}
