//! [`PushMemory`]: what the server remembers of pushes — the replay guard
//! ([`SeenRequests`]) and retry de-duplication ([`Dedup`]) — behind one
//! small trait, so one instance keeps it in process ([`LocalMemory`], here)
//! and instances sharing a Redis keep it there ([`super::shared`]).
//!
//! [`PushMemory::admit`] takes an opened push and answers with what to
//! reply: the decision of the first delivery of its message (waiting for it
//! if it is still being made, starting it if this is the first delivery), or
//! that the push is a forgery under a leaked query.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::Decision;
use super::deadlines::Deadlines;
use super::dedup::{Dedup, Pending, wait};
use super::outcome::Outcome;
use super::seen::{SeenRequests, Verdict};
use crate::protocol::Inbound;

/// An opened push as the memory sees it.
pub struct Arrival<'a> {
    pub inbound: &'a Inbound,
    /// The request body as received (a plaintext push's fingerprint).
    pub body: &'a [u8],
    pub arrived: Instant,
    /// Unix seconds at arrival.
    pub now: u64,
    pub deadlines: Deadlines,
}

/// What to answer a push with.
pub enum Admitted {
    /// A different plaintext request under a pair that already
    /// authenticated one: refused.
    Forged,
    /// The decision of the message's first delivery (`None`: its worker
    /// ended without one), and whether this delivery is a retry or repeat.
    Answer {
        decision: Option<Arc<Decision>>,
        retry: bool,
    },
}

/// Starts the message's processing in a detached task; where its decision
/// will appear. Called at most once per admitted push, and only by the
/// memory that decided this delivery is the message's first.
pub type Start<'a> = &'a (dyn Fn() -> Pending<Decision> + Send + Sync);

#[async_trait]
pub trait PushMemory: Send + Sync + 'static {
    async fn admit(&self, push: &Arrival<'_>, start: Start<'_>) -> Admitted;
    /// Records a verified GET (URL verification): its pair must not then
    /// authenticate a plaintext push.
    async fn verification(&self, timestamp: u64, nonce: &str, echostr: &str, now: u64);
}

/// The memory of one process: the replay guard and the dedup map.
pub struct LocalMemory {
    pub seen: SeenRequests,
    pub dedup: Dedup<Decision>,
}

impl LocalMemory {
    /// The answer to `push` from this process's memory alone.
    pub async fn admit_here(&self, push: &Arrival<'_>, start: Start<'_>) -> Admitted {
        let verdict = self.seen.push(push.inbound, push.body, push.now);
        let key = self.dedup.key(&push.inbound.message);
        let (decision, retry) = match verdict {
            Verdict::Forged => return Admitted::Forged,
            Verdict::New => {
                let (pending, retry) = self.dedup.join(key, push.arrived, start);
                (wait(pending).await, retry)
            }
            // Never started again: its reply if still kept, else `success`.
            Verdict::Repeat => match self.dedup.replay(key, push.arrived) {
                Some(pending) => (wait(pending).await, true),
                None => (Some(Arc::new(Decision::success(Outcome::Replay))), true),
            },
        };
        Admitted::Answer { decision, retry }
    }
}

#[async_trait]
impl PushMemory for LocalMemory {
    async fn admit(&self, push: &Arrival<'_>, start: Start<'_>) -> Admitted {
        self.admit_here(push, start).await
    }

    async fn verification(&self, timestamp: u64, nonce: &str, echostr: &str, now: u64) {
        self.seen.verification(timestamp, nonce, echostr, now);
    }
}
