//! [`InFlight`]: the detached work of every push being processed — which
//! message, which plugin is running, whether the passive reply already went
//! out (a late reply) — so that a shutdown whose grace period ends can say
//! exactly what it abandons instead of dropping it silently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::protocol::Message;

/// Where one push's work is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Plugins running within the reply budget.
    Dispatching,
    /// The budget passed with no delivery answered: held for WeChat's
    /// retries (`server::hold`).
    Held,
    /// The budget passed (WeChat got `success`); plugins still running for
    /// a late reply.
    LateReply,
    /// Sending the late reply as a customer-service message.
    Delivering,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dispatching => "dispatching",
            Phase::Held => "held",
            Phase::LateReply => "late_reply",
            Phase::Delivering => "delivering",
        }
    }
}

/// One push's work as shutdown reports it.
#[derive(Debug, Clone)]
pub struct Work {
    pub msg_id: Option<u64>,
    /// `text`, `event:CLICK`, …
    pub kind: String,
    pub create_time: u64,
    pub phase: Phase,
    /// The plugin being called (or last called).
    pub plugin: Option<Arc<str>>,
    pub running: Duration,
}

#[derive(Default)]
pub struct InFlight {
    next: AtomicU64,
    work: Arc<Mutex<HashMap<u64, (Instant, Work)>>>,
}

impl InFlight {
    /// Registers the work of `msg`; it is unregistered when the returned
    /// record is dropped (the work finished, or was abandoned with it).
    pub fn begin(&self, msg: &Message) -> WorkRecord {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let kind = match msg.event_name() {
            Some(event) => format!("event:{event}"),
            None => msg.msg_type.clone(),
        };
        let work = Work {
            msg_id: msg.msg_id,
            kind,
            create_time: msg.create_time,
            phase: Phase::Dispatching,
            plugin: None,
            running: Duration::ZERO,
        };
        self.work.lock().unwrap().insert(id, (Instant::now(), work));
        WorkRecord {
            id,
            work: self.work.clone(),
        }
    }

    /// The work still registered, oldest first.
    pub fn snapshot(&self) -> Vec<Work> {
        let mut list: Vec<(Instant, Work)> = self.work.lock().unwrap().values().cloned().collect();
        list.sort_by_key(|(at, _)| *at);
        list.into_iter()
            .map(|(at, mut w)| {
                w.running = at.elapsed();
                w
            })
            .collect()
    }
}

/// One push's entry in [`InFlight`], updated as its work moves on.
pub struct WorkRecord {
    id: u64,
    work: Arc<Mutex<HashMap<u64, (Instant, Work)>>>,
}

impl WorkRecord {
    fn update(&self, f: impl FnOnce(&mut Work)) {
        if let Some((_, w)) = self.work.lock().unwrap().get_mut(&self.id) {
            f(w);
        }
    }

    pub fn phase(&self, phase: Phase) {
        self.update(|w| w.phase = phase);
    }

    /// The plugin being called (or last called).
    pub fn plugin(&self) -> Option<Arc<str>> {
        let work = self.work.lock().unwrap();
        work.get(&self.id).and_then(|(_, w)| w.plugin.clone())
    }

    /// A plugin call starts.
    pub fn calling(&self, plugin: &str) {
        self.update(|w| w.plugin = Some(Arc::from(plugin)));
    }
}

impl Drop for WorkRecord {
    fn drop(&mut self) {
        self.work.lock().unwrap().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Body;

    #[test]
    fn work_is_listed_until_its_record_is_dropped() {
        let inflight = InFlight::default();
        let msg = Message {
            to_user: "gh".into(),
            from_user: "o".into(),
            create_time: 1,
            msg_id: Some(7),
            msg_type: "text".into(),
            body: Body::Text {
                content: "x".into(),
            },
            fields: vec![],
            raw: String::new(),
        };
        let record = inflight.begin(&msg);
        record.calling("echo");
        record.phase(Phase::LateReply);
        let list = inflight.snapshot();
        assert_eq!(list.len(), 1);
        let w = &list[0];
        assert_eq!(
            (w.msg_id, w.kind.as_str(), w.plugin.as_deref(), w.phase),
            (Some(7), "text", Some("echo"), Phase::LateReply)
        );
        drop(record);
        assert!(inflight.snapshot().is_empty());
    }
}
