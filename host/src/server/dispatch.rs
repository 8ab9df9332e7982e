//! Dispatch for the server: the runtime's priority loop ([`Runtime::dispatch`]:
//! only plugins declaring the kind, first answer that is not "pass" wins,
//! failures logged and skipped) plus what only the server knows — the stored
//! QR code of a scanned scene — turned into the [`Decision`] it answers with.

use std::sync::Arc;
use std::time::Instant;

use crate::api::QrCode;
use crate::plugin::{PluginOutcome, Runtime};
use crate::protocol::{Body, Event, Message, Reply};
use crate::store::Store;

/// What dispatch decided for one message.
#[derive(Debug, Clone)]
pub struct Decision {
    pub reply: Reply,
    /// The plugin whose answer won, if any.
    pub plugin: Option<String>,
    /// How the decision was reached: `reply`, `no_reply`, `no_plugin`, ...
    pub outcome: &'static str,
}

pub struct Dispatcher {
    runtime: Arc<Runtime>,
    store: Arc<dyn Store>,
}

impl Dispatcher {
    pub fn new(runtime: Arc<Runtime>, store: Arc<dyn Store>) -> Dispatcher {
        Dispatcher { runtime, store }
    }

    /// Runs the plugins on `msg` (the runtime's priority loop) with the stored
    /// QR code of its scene; no plugin call runs past `deadline`.
    pub async fn dispatch(&self, msg: &Message, deadline: Instant) -> Decision {
        let qr_code = self.stored_qr_code(msg);
        let d = self.runtime.dispatch(msg, qr_code.as_ref(), deadline).await;
        let (reply, plugin, outcome) = match d.answer {
            Some((id, PluginOutcome::Reply(reply))) => (reply, Some(id), "reply"),
            Some((id, _)) => (Reply::Success, Some(id), "no_reply"),
            None if d.out_of_time => (Reply::Success, None, "deadline"),
            None if d.called == 0 => (Reply::Success, None, "no_plugin"),
            None => (Reply::Success, None, "all_passed"),
        };
        Decision {
            reply,
            plugin,
            outcome,
        }
    }

    /// The QR code wxhost created for the scene of a subscribe/SCAN event.
    fn stored_qr_code(&self, msg: &Message) -> Option<QrCode> {
        let scene = match &msg.body {
            Body::Event(Event::Subscribe {
                scene: Some(scene), ..
            })
            | Body::Event(Event::Scan { scene, .. }) => scene,
            _ => return None,
        };
        match self.store.qrcode_by_scene(scene) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "QR code lookup failed");
                None
            }
        }
    }
}
