//! [`SharedMemory`]: the [`PushMemory`] of instances sharing a Redis (a
//! [`PushLedger`]), so that a retry or replay of WeChat's reaching any
//! instance is known there:
//!
//! - One round trip on the way in ([`PushLedger::begin`]): the replay guard
//!   (forged, repeat) and the claim of the message, atomically. The first
//!   instance to see a message claims it and runs the plugins; when the
//!   decision is made it is published (reply, plugin, outcome) for
//!   `dedup_ttl_secs`, off the response path and batched with the other
//!   decisions of the moment (one pipeline per round trip).
//! - A delivery finding the message claimed elsewhere waits for that
//!   decision, polling (10 ms, doubling to 100 ms) within its own budget,
//!   and answers with the same reply content; at its budget it answers
//!   `success`, as the claimant does. A claim is a short lease its live
//!   claimant renews until its decision; a dead claimant's lease runs out
//!   within [`CLAIM_LEASE`] and the delivery waiting on it (or the next)
//!   claims and processes the message.
//! - A retry reaching the claimant itself joins the run in process.
//! - With Redis unreachable (the store says so once), pushes are admitted
//!   by this process's memory alone ([`LocalMemory`]), which is kept in step
//!   with every push, so the fallback knows what this instance saw. A
//!   decision made there is published too, once Redis is back: a retry
//!   reaching another instance then answers with it instead of running the
//!   plugins a second time.
//! - Decisions are published in batches; a batch Redis does not take is
//!   retried (backing off, while its decisions would still be kept) before
//!   it is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::task::TaskTracker;

use super::Decision;
use super::dedup::{self, Pending, wait};
use super::memory::{Admitted, Arrival, LocalMemory, PushMemory, Start};
use super::outcome::Outcome;
use super::seen;
use crate::store::{PushKeys, PushLedger, PushState};

/// How long a claim lives unless its claimant renews it: a live claimant
/// renews it every [`RENEW_EVERY`] until its decision is made, so a dead
/// claimant's message is claimed by a delivery waiting on it (WeChat
/// retries at once when the connection drops) within about this, well
/// inside that delivery's budget.
const CLAIM_LEASE: Duration = Duration::from_millis(1500);
const RENEW_EVERY: Duration = Duration::from_millis(500);
const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(100);

pub struct SharedMemory {
    ledger: Arc<dyn PushLedger>,
    local: LocalMemory,
    /// This process, as a claimant.
    claimant: String,
    claim_ttl: Duration,
    /// How long decisions are kept (`dedup_ttl_secs`).
    kept: Duration,
    publisher: Publisher,
    tasks: TaskTracker,
}

impl SharedMemory {
    pub fn new(
        ledger: Arc<dyn PushLedger>,
        local: LocalMemory,
        kept: Duration,
        tasks: TaskTracker,
    ) -> SharedMemory {
        SharedMemory {
            publisher: publisher(ledger.clone(), kept),
            ledger,
            local,
            claimant: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            claim_ttl: CLAIM_LEASE,
            kept,
            tasks,
        }
    }

    fn keys(&self, push: &Arrival<'_>) -> PushKeys<'_> {
        let inbound = push.inbound;
        PushKeys {
            pair: seen::pair(inbound.timestamp, &inbound.nonce),
            fingerprint: seen::fingerprint(inbound, push.body),
            body_signed: inbound.body_signature.is_some(),
            pair_expires_at: self.local.seen.expires_at(inbound.timestamp),
            message: dedup::identity(&inbound.message),
            claimant: &self.claimant,
            claim_ttl: self.claim_ttl,
            remembered: self.kept,
            now_ms: crate::store::now_millis() as u64,
        }
    }

    /// Publishes `decision` for the other instances, through the
    /// [`Publisher`].
    fn publish(&self, message: [u8; 16], decision: &Decision) {
        match serde_json::to_vec(decision) {
            Ok(bytes) => drop(self.publisher.send((message, bytes))),
            Err(e) => tracing::warn!(error = %e, "decision not serializable"),
        }
    }

    /// Admits `push` by this process's memory alone (Redis unreachable). A
    /// run started here publishes its decision like a claimant's: the
    /// publisher retries until Redis takes it, so WeChat's retry at
    /// another instance after Redis is back finds it.
    async fn fallback(&self, push: &Arrival<'_>, message: [u8; 16], start: Start<'_>) -> Admitted {
        let admitted = self.local.admit_here(push, start).await;
        if let Admitted::Answer {
            decision: Some(d),
            retry: false,
        } = &admitted
        {
            self.publish(message, d);
        }
        admitted
    }

    /// Awaits `run` (the decision of a message this instance claimed),
    /// renewing the claim's lease meanwhile.
    async fn holding<T>(&self, message: [u8; 16], run: impl Future<Output = T>) -> T {
        hold(&*self.ledger, &self.claimant, message, run).await
    }

    async fn settle(
        &self,
        mut state: PushState,
        keys: &PushKeys<'_>,
        push: &Arrival<'_>,
        start: Start<'_>,
    ) -> Admitted {
        let local_key = self.local.dedup.key(&push.inbound.message);
        let mut poll = FIRST_POLL;
        let mut retry = false;
        loop {
            match state {
                PushState::Forged => return Admitted::Forged,
                PushState::Forgotten => return answer(Decision::success(Outcome::Replay), true),
                PushState::Decided(bytes) => {
                    return match serde_json::from_slice::<Decision>(&bytes) {
                        Ok(d) => answer(d, true),
                        Err(e) => {
                            tracing::warn!(error = %e, "a stored decision does not parse");
                            Admitted::Answer {
                                decision: None,
                                retry: true,
                            }
                        }
                    };
                }
                PushState::Claimed { repeat } => {
                    // Joins a run this process already has (one it made
                    // while Redis was unreachable), else starts it.
                    let (pending, joined) = self.local.dedup.join(local_key, push.arrived, start);
                    // The claimant publishes what it answers. Should this
                    // request be dropped first (the client went away), the
                    // guard still publishes it when it is made.
                    let mut guard = Unpublished {
                        memory: self,
                        message: keys.message,
                        pending: Some(pending.clone()),
                    };
                    let decision = self.holding(keys.message, wait(pending)).await;
                    guard.pending = None;
                    if let Some(d) = &decision {
                        self.publish(keys.message, d);
                    }
                    return Admitted::Answer {
                        decision,
                        retry: retry || repeat || joined,
                    };
                }
                PushState::Running { .. } => {
                    retry = true;
                    // This instance's own run: join it in process.
                    if let Some(pending) = self.local.dedup.replay(local_key, push.arrived) {
                        return Admitted::Answer {
                            decision: wait(pending).await,
                            retry,
                        };
                    }
                    // Another instance's: wait for its decision within this
                    // delivery's budget; at the budget, `success`, as the
                    // claimant answers then too.
                    let left = push
                        .deadlines
                        .reply
                        .saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return answer(Decision::success(Outcome::Late), retry);
                    }
                    tokio::time::sleep(poll.min(left)).await;
                    poll = (poll * 2).min(MAX_POLL);
                    state = match self.ledger.recheck(keys).await {
                        Ok(s) => s,
                        // Redis went away meanwhile: the claimant still
                        // answers its own delivery; this one must not run
                        // the plugins a second time.
                        Err(_) => return answer(Decision::success(Outcome::Late), retry),
                    };
                }
            }
        }
    }
}

/// A claimed message whose decision is not published yet: if the request
/// waiting for it is dropped, a task publishes it when it is made (no
/// decision at all, e.g. a panicked worker: the claim expires and the next
/// delivery processes the message).
struct Unpublished<'a> {
    memory: &'a SharedMemory,
    message: [u8; 16],
    pending: Option<Pending<Decision>>,
}

impl Drop for Unpublished<'_> {
    fn drop(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let (publisher, message) = (self.memory.publisher.clone(), self.message);
        let (ledger, claimant) = (self.memory.ledger.clone(), self.memory.claimant.clone());
        self.memory.tasks.spawn(async move {
            if let Some(d) = hold(&*ledger, &claimant, message, wait(pending)).await
                && let Ok(bytes) = serde_json::to_vec(&*d)
            {
                let _ = publisher.send((message, bytes));
            }
        });
    }
}

/// Awaits `run` while renewing `claimant`'s claim of `message` every
/// [`RENEW_EVERY`]. A renewal that fails (Redis away) is tried again next
/// time; one that finds the claim gone ends the renewals (its lease ran out
/// meanwhile: another delivery may hold it now).
async fn hold<T>(
    ledger: &dyn PushLedger,
    claimant: &str,
    message: [u8; 16],
    run: impl Future<Output = T>,
) -> T {
    // Concurrent with the run, so a renewal in flight never delays the
    // answer.
    let renewals = async {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Ok(false) = ledger.renew(&message, claimant, CLAIM_LEASE).await {
                tracing::debug!("a claim's lease ran out before its decision");
                return;
            }
        }
    };
    tokio::pin!(run);
    tokio::select! {
        out = &mut run => return out,
        () = renewals => {}
    }
    run.await
}

/// Decisions on their way to the ledger: one task sends whatever has
/// queued up as one pipeline, so under load many decisions share a round
/// trip (they are read only by retries, which come later).
type Publisher = tokio::sync::mpsc::UnboundedSender<([u8; 16], Vec<u8>)>;

/// Most decisions sent in one round trip.
const PUBLISH_BATCH: usize = 256;
/// The first pause before a batch Redis did not take is sent again; it
/// doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// Most decisions a batch gathers while Redis does not take it (more wait
/// in the queue for the next batch).
const HELD_MAX: usize = 64 * PUBLISH_BATCH;

fn publisher(ledger: Arc<dyn PushLedger>, kept: Duration) -> Publisher {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<([u8; 16], Vec<u8>)>();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
            publish_batch(&*ledger, &mut rx, &mut batch, kept).await;
            batch.clear();
        }
    });
    tx
}

/// Sends `batch`, retrying while Redis does not take it, for as long as its
/// decisions would be kept (a decision older than that is of no use to a
/// retry). Decisions queued meanwhile join the batch, up to [`HELD_MAX`].
async fn publish_batch(
    ledger: &dyn PushLedger,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<([u8; 16], Vec<u8>)>,
    batch: &mut Vec<([u8; 16], Vec<u8>)>,
    kept: Duration,
) {
    let give_up = Instant::now() + kept;
    let mut pause = RETRY_FIRST;
    loop {
        // A failure is the store's to log (once, while Redis is down).
        let Err(e) = ledger.decide(batch, kept).await else {
            return;
        };
        if Instant::now() + pause >= give_up {
            tracing::warn!(
                decisions = batch.len(),
                error = %e,
                "push decisions not published (Redis did not take them while they were kept): their retries at other instances run the plugins again"
            );
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
        while batch.len() < HELD_MAX {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
    }
}

fn answer(decision: Decision, retry: bool) -> Admitted {
    Admitted::Answer {
        decision: Some(Arc::new(decision)),
        retry,
    }
}

#[async_trait]
impl PushMemory for SharedMemory {
    async fn admit(&self, push: &Arrival<'_>, start: Start<'_>) -> Admitted {
        let keys = self.keys(push);
        let state = match self.ledger.begin(&keys).await {
            Ok(state) => state,
            // Redis unreachable: this process's memory alone.
            Err(_) => return self.fallback(push, keys.message, start).await,
        };
        if state != PushState::Forged {
            // Kept in step: while Redis is unreachable later, this process
            // still knows what it saw.
            self.local.seen.push(push.inbound, push.body, push.now);
        }
        self.settle(state, &keys, push, start).await
    }

    async fn verification(&self, timestamp: u64, nonce: &str, echostr: &str, now: u64) {
        self.local.seen.verification(timestamp, nonce, echostr, now);
        // Best effort: a failure is the store's to log.
        let _ = self
            .ledger
            .record(
                &seen::pair(timestamp, nonce),
                &seen::verification_fingerprint(echostr),
                self.local.seen.expires_at(timestamp),
            )
            .await;
    }
}
