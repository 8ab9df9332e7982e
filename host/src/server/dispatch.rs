//! Dispatch for the server: the runtime's priority loop ([`Runtime::dispatch`]:
//! only plugins declaring the kind, first answer that is not "pass" wins,
//! failures logged and skipped) plus what only the server knows — the stored
//! QR code of a scanned scene — turned into the [`Decision`] it answers with.

use std::sync::Arc;
use std::time::Instant;

use super::outcome::Outcome;
use crate::api::QrCode;
use crate::plugin::{AccountScope, PluginOutcome, Runtime};
use crate::protocol::{Body, Event, Message, Reply};
use crate::store::{QrStore, now_secs};

/// What dispatch decided for one message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub reply: Reply,
    /// The plugin whose answer won, if any.
    pub plugin: Option<String>,
    pub outcome: Outcome,
}

impl Decision {
    /// `success`, for an outcome that has no plugin answer.
    pub fn success(outcome: Outcome) -> Decision {
        Decision {
            reply: Reply::Success,
            plugin: None,
            outcome,
        }
    }
}

/// One account's dispatch: its plugins, acting for it, with its QR codes.
pub struct Dispatcher {
    runtime: Arc<Runtime>,
    account: Arc<AccountScope>,
    qrcodes: Arc<dyn QrStore>,
}

impl Dispatcher {
    pub fn new(
        runtime: Arc<Runtime>,
        account: Arc<AccountScope>,
        qrcodes: Arc<dyn QrStore>,
    ) -> Dispatcher {
        Dispatcher {
            runtime,
            account,
            qrcodes,
        }
    }

    /// Runs the plugins on `msg` (the runtime's priority loop) with the stored
    /// QR code of its scene; no plugin call runs past `deadline`. `calling`
    /// is told each plugin's id as its call starts.
    pub async fn dispatch(
        &self,
        msg: &Message,
        deadline: Instant,
        calling: impl FnMut(&str) + Send,
    ) -> Decision {
        let qr_code = self.stored_qr_code(msg).await;
        let d = self
            .runtime
            .dispatch_observed(&self.account, msg, qr_code.as_ref(), deadline, calling)
            .await;
        match d.answer {
            Some((id, PluginOutcome::Reply(reply))) => Decision {
                reply,
                plugin: Some(id),
                outcome: Outcome::Reply,
            },
            Some((id, _)) => Decision {
                reply: Reply::Success,
                plugin: Some(id),
                outcome: Outcome::NoReply,
            },
            None if d.out_of_time => Decision::success(Outcome::Deadline),
            None if d.called == 0 => Decision::success(Outcome::NoPlugin),
            None => Decision::success(Outcome::AllPassed),
        }
    }

    /// The QR code wxhost created for the scene of a subscribe/SCAN event.
    async fn stored_qr_code(&self, msg: &Message) -> Option<QrCode> {
        let scene = match &msg.body {
            Body::Event(Event::Subscribe {
                scene: Some(scene), ..
            })
            | Body::Event(Event::Scan { scene, .. }) => scene,
            _ => return None,
        };
        match self.qrcodes.by_scene_at(scene, now_secs()).await {
            Ok(found) => found.map(|r| r.code),
            Err(e) => {
                tracing::warn!(error = %e, "QR code lookup failed");
                None
            }
        }
    }
}
