//! [`SceneCounter`]: scans and follows per QR scene, counted from the SCAN
//! and subscribe events the server receives, without touching the reply's
//! path: a push only offers its scene to a bounded channel (`try_send`,
//! never waiting), and one task adds the hits up and writes them to the
//! [`SceneStatsStore`] once per [`FLUSH_EVERY`], one row per scene. A full
//! channel (a flood of scans faster than the store takes them) drops hits
//! and counts them in `wxhost_scene_hits_dropped_total`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::{Body, Event, Message};
use crate::store::{SceneCounts, SceneStatsStore};

/// How often the counted hits are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Hits waiting to be counted.
const QUEUE: usize = 10_000;

enum Hit {
    Scan(String),
    Follow(String),
}

pub struct SceneCounter {
    tx: mpsc::Sender<Hit>,
    stop: CancellationToken,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl SceneCounter {
    /// Starts the writer task (inside a tokio runtime).
    pub fn start(store: Arc<dyn SceneStatsStore>) -> SceneCounter {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stop = CancellationToken::new();
        let worker = tokio::spawn(run(store, rx, stop.clone()));
        SceneCounter {
            tx,
            stop,
            worker: Mutex::new(Some(worker)),
        }
    }

    /// Counts `msg` if it is a SCAN, or a subscribe that came with a scene.
    pub fn offer(&self, msg: &Message) {
        let hit = match &msg.body {
            Body::Event(Event::Scan { scene, .. }) => Hit::Scan(scene.clone()),
            Body::Event(Event::Subscribe {
                scene: Some(scene), ..
            }) => Hit::Follow(scene.clone()),
            _ => return,
        };
        if self.tx.try_send(hit).is_err() {
            metrics::counter!("wxhost_scene_hits_dropped_total").increment(1);
        }
    }

    /// Writes what is counted and stops the task (bounded by `grace`).
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = worker {
            let _ = tokio::time::timeout(grace, w).await;
        }
    }
}

async fn run(
    store: Arc<dyn SceneStatsStore>,
    mut rx: mpsc::Receiver<Hit>,
    stop: CancellationToken,
) {
    let mut pending: HashMap<String, SceneCounts> = HashMap::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Between ticks hits only add up: a burst of scans of one poster
        // is one row update.
        tokio::select! {
            hit = rx.recv() => match hit {
                Some(hit) => add(&mut pending, hit),
                None => break,
            },
            _ = tick.tick() => flush(store.as_ref(), &mut pending).await,
            () = stop.cancelled() => break,
        }
    }
    while let Ok(hit) = rx.try_recv() {
        add(&mut pending, hit);
    }
    flush(store.as_ref(), &mut pending).await;
}

fn add(pending: &mut HashMap<String, SceneCounts>, hit: Hit) {
    let (scene, scan) = match hit {
        Hit::Scan(s) => (s, true),
        Hit::Follow(s) => (s, false),
    };
    let c = pending.entry(scene).or_default();
    if scan {
        c.scans += 1;
    } else {
        c.follows += 1;
    }
}

async fn flush(store: &dyn SceneStatsStore, pending: &mut HashMap<String, SceneCounts>) {
    for (scene, counts) in pending.drain() {
        if let Err(e) = store.add(&scene, counts).await {
            tracing::warn!(error = %e, scene, "QR scene counters not written");
        }
    }
}
