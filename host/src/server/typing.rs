//! Host-initiated "typing" (`server.typing_after_ms`): a push from a user
//! whose plugins are still working after that long shows "typing…" in the
//! user's chat (`/cgi-bin/message/custom/typing`), so a slow answer (a
//! language model's) does not look like silence. Off by default: it is a
//! customer-service API, shown only where the account may send such
//! messages, and it costs an API call per slow push.

use std::sync::Arc;
use std::time::Duration;

use crate::api::{PluginApi, TypingCommand};
use crate::protocol::Message;

/// When and through what the typing status is sent.
#[derive(Clone)]
pub struct TypingSettings {
    pub api: Arc<dyn PluginApi>,
    pub after: Duration,
}

/// Whether `msg` is something a user sent (not an event: a follow or a menu
/// click is not a conversation, and the user may not be reachable).
pub fn from_a_user(msg: &Message) -> bool {
    msg.event_name().is_none() && msg.msg_type != "event"
}

/// Runs `work`; if it is still running after `settings.after` and `msg` is
/// from a user, sends the typing status alongside it. The work never waits
/// for the API call (a send still pending when the work ends is dropped).
pub async fn alongside<F: Future>(
    work: F,
    settings: Option<TypingSettings>,
    msg: &Message,
) -> F::Output {
    tokio::pin!(work);
    let Some(settings) = settings.filter(|_| from_a_user(msg)) else {
        return work.await;
    };
    tokio::select! {
        out = &mut work => return out,
        _ = tokio::time::sleep(settings.after) => {}
    }
    let send = settings
        .api
        .send_typing(&msg.from_user, TypingCommand::Typing);
    tokio::pin!(send);
    let mut pending = true;
    loop {
        tokio::select! {
            out = &mut work => return out,
            result = &mut send, if pending => {
                pending = false;
                match result {
                    Ok(()) => metrics::counter!("wxhost_typing_total", "result" => "sent").increment(1),
                    Err(e) => {
                        metrics::counter!("wxhost_typing_total", "result" => "failed").increment(1);
                        tracing::info!(error = %e, "the typing status could not be sent");
                    }
                }
            }
        }
    }
}
