//! Dispatch: one message through the loaded plugins, in priority order.
//!
//! Only plugins that declare the message's kind are called. The first answer
//! that is not "pass" wins; a plugin that fails (trap, timeout, invalid reply:
//! the runtime classifies and logs it) is skipped, so one broken plugin never silences the others.

use std::sync::Arc;
use std::time::Instant;

use crate::api::QrCode;
use crate::plugin::{Kind, PluginOutcome, Runtime};
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

impl Decision {
    fn success(outcome: &'static str) -> Decision {
        Decision {
            reply: Reply::Success,
            plugin: None,
            outcome,
        }
    }
}

pub struct Dispatcher {
    runtime: Arc<Runtime>,
    store: Arc<dyn Store>,
}

impl Dispatcher {
    pub fn new(runtime: Arc<Runtime>, store: Arc<dyn Store>) -> Dispatcher {
        Dispatcher { runtime, store }
    }

    /// Runs the plugins on `msg`; no plugin call runs past `deadline`.
    pub async fn dispatch(&self, msg: &Message, deadline: Instant) -> Decision {
        let kind = Kind::of(msg);
        let qr_code = self.stored_qr_code(msg);
        let plugins = self.runtime.plugins();
        let mut called = false;
        for plugin in plugins.iter().filter(|p| p.handles(kind)) {
            if Instant::now() >= deadline {
                return Decision::success("deadline");
            }
            called = true;
            match plugin.call(msg, qr_code.as_ref(), deadline).await {
                Ok(PluginOutcome::Pass) => continue,
                Ok(PluginOutcome::NoReply) => {
                    return Decision {
                        reply: Reply::Success,
                        plugin: Some(plugin.id.clone()),
                        outcome: "no_reply",
                    };
                }
                Ok(PluginOutcome::Reply(reply)) => {
                    return Decision {
                        reply,
                        plugin: Some(plugin.id.clone()),
                        outcome: "reply",
                    };
                }
                // Already logged, classified, by the runtime; the next plugin tries.
                Err(_) => continue,
            }
        }
        Decision::success(if called { "all_passed" } else { "no_plugin" })
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
