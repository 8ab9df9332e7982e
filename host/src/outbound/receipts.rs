//! What pushes tell the queue, applied off the push path: a push offers
//! itself to a bounded channel (`try_send`, never waiting) and one task
//! writes the consequences:
//!
//! - `TEMPLATESENDJOBFINISH`, `MASSSENDJOBFINISH`, `subscribe_msg_sent_event`:
//!   the job with that `msgid` becomes `delivered`, or `failed` with
//!   `user_block` / `system_failed` / WeChat's status;
//! - a `reject` in `subscribe_msg_change_event` or `subscribe_msg_popup_event`:
//!   the user's opt-out of that template (an `accept` lifts it);
//! - any push the user made (a message, a click, a follow…): the start of
//!   their 48-hour customer-service window.
//!
//! Plugins receive all of these pushes as before: this only observes.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::job::{Channel, Status};
use super::queue::JobQueue;
use crate::protocol::{Body, Event, Message};

/// Pushes waiting to be applied.
const QUEUE: usize = 10_000;

/// One consequence of a push.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Receipt {
        channel: Channel,
        msgid: u64,
        status: Status,
        reason: Option<String>,
    },
    OptOut {
        openid: String,
        template_id: String,
    },
    OptIn {
        openid: String,
        template_id: String,
    },
    /// The user pushed at `at_ms`.
    Seen {
        openid: String,
        at_ms: i64,
    },
}

/// A template job's receipt status: `success`, `failed:user block`,
/// `failed: system failed` (sic, with the space), others as sent.
fn template_status(status: &str) -> (Status, Option<String>) {
    let s = status.trim();
    if s.eq_ignore_ascii_case("success") {
        return (Status::Delivered, None);
    }
    let detail = s.strip_prefix("failed:").unwrap_or(s).trim();
    let reason = match detail {
        "user block" => "user_block".to_owned(),
        "system failed" => "system_failed".to_owned(),
        other => other.replace(' ', "_"),
    };
    (Status::Failed, Some(reason))
}

/// What `message` means for delivery.
pub fn observations(message: &Message) -> Vec<Observation> {
    let openid = message.from_user.clone();
    let receipt = |channel, msg_id: &str, (status, reason)| {
        msg_id
            .trim()
            .parse::<u64>()
            .ok()
            .map(|msgid| Observation::Receipt {
                channel,
                msgid,
                status,
                reason,
            })
    };
    match &message.body {
        Body::Event(Event::TemplateSendJobFinish { msg_id, status }) => {
            receipt(Channel::Template, msg_id, template_status(status))
                .into_iter()
                .collect()
        }
        Body::Event(Event::MassSendJobFinish { msg_id, status, .. }) => {
            let outcome = if status.trim().eq_ignore_ascii_case("send success") {
                (Status::Delivered, None)
            } else {
                (Status::Failed, Some(status.trim().replace(' ', "_")))
            };
            receipt(Channel::Mass, msg_id, outcome)
                .into_iter()
                .collect()
        }
        Body::Event(Event::SubscribeMsgSent(items)) => items
            .iter()
            .filter_map(|i| {
                let outcome = if i.error_code.trim() == "0" {
                    (Status::Delivered, None)
                } else {
                    let why = if i.error_status.is_empty() {
                        format!("errcode_{}", i.error_code.trim())
                    } else {
                        i.error_status.trim().replace(' ', "_")
                    };
                    (Status::Failed, Some(why))
                };
                receipt(Channel::Subscribe, &i.msg_id, outcome)
            })
            .collect(),
        Body::Event(Event::SubscribeMsgPopup(items) | Event::SubscribeMsgChange(items)) => items
            .iter()
            .filter_map(|i| match i.status.trim() {
                "reject" => Some(Observation::OptOut {
                    openid: openid.clone(),
                    template_id: i.template_id.clone(),
                }),
                "accept" => Some(Observation::OptIn {
                    openid: openid.clone(),
                    template_id: i.template_id.clone(),
                }),
                _ => None,
            })
            .collect(),
        // Not the user's doing: no window opens.
        Body::Event(
            Event::Unsubscribe
            | Event::PublishJobFinish { .. }
            | Event::KfCreateSession { .. }
            | Event::KfCloseSession { .. }
            | Event::KfSwitchSession { .. },
        ) => Vec::new(),
        _ if openid.is_empty() => Vec::new(),
        _ => vec![Observation::Seen {
            openid,
            at_ms: (message.create_time as i64).saturating_mul(1000),
        }],
    }
}

/// The bounded channel from the push path to the writer task.
pub struct Observer {
    tx: mpsc::Sender<(String, Observation)>,
}

impl Observer {
    /// Starts the writer task (inside a tokio runtime).
    pub fn start(queue: Arc<dyn JobQueue>) -> Observer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(apply_all(queue, rx));
        Observer { tx }
    }

    pub fn offer(&self, account: &str, message: &Message) {
        for o in observations(message) {
            if self.tx.try_send((account.to_owned(), o)).is_err() {
                metrics::counter!("wxhost_outbound_observations_dropped_total").increment(1);
            }
        }
    }
}

/// A user's last push is written at most once per this (the window is
/// 48 hours: a minute's precision costs nothing, a write per push would).
const SEEN_EVERY_MS: i64 = 60_000;
/// Users whose last write is remembered; forgotten all at once beyond.
const SEEN_MEMORY: usize = 100_000;

async fn apply_all(queue: Arc<dyn JobQueue>, mut rx: mpsc::Receiver<(String, Observation)>) {
    let mut written: std::collections::HashMap<(String, String), i64> = Default::default();
    while let Some((account, o)) = rx.recv().await {
        if let Observation::Seen { openid, at_ms } = &o {
            let key = (account.clone(), openid.clone());
            if written
                .get(&key)
                .is_some_and(|last| at_ms - last < SEEN_EVERY_MS)
            {
                continue;
            }
            if written.len() >= SEEN_MEMORY {
                written.clear();
            }
            written.insert(key, *at_ms);
        }
        if let Err(e) = apply(&*queue, &account, &o).await {
            tracing::warn!(account, error = %e, observation = ?o, "outbound: a receipt or opt-out was not recorded");
        }
    }
}

/// Writes one observation.
pub async fn apply(
    queue: &dyn JobQueue,
    account: &str,
    o: &Observation,
) -> Result<(), crate::store::StoreError> {
    let now = crate::store::now_millis();
    match o {
        Observation::Receipt {
            channel,
            msgid,
            status,
            reason,
        } => {
            let id = queue
                .receipt(account, *channel, *msgid, *status, reason.as_deref(), now)
                .await?;
            let label = match id {
                Some(_) => status.as_str(),
                None => "unmatched",
            };
            metrics::counter!("wxhost_outbound_receipts_total", "channel" => channel.as_str(), "status" => label)
                .increment(1);
            Ok(())
        }
        Observation::OptOut {
            openid,
            template_id,
        } => queue.opt_out(account, openid, template_id, now).await,
        Observation::OptIn {
            openid,
            template_id,
        } => queue.opt_in(account, openid, template_id).await,
        Observation::Seen { openid, at_ms } => queue.saw_user(account, openid, *at_ms).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_message;

    fn msg(inner: &str) -> Message {
        parse_message(&format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1700000000</CreateTime><MsgType>event</MsgType>{inner}</xml>"
        ))
        .unwrap()
    }

    #[test]
    fn receipts_map_to_statuses() {
        let o = observations(&msg(
            "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>failed: system failed</Status>",
        ));
        assert_eq!(
            o,
            vec![Observation::Receipt {
                channel: Channel::Template,
                msgid: 200163836,
                status: Status::Failed,
                reason: Some("system_failed".into())
            }]
        );
        let o = observations(&msg(
            "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>18446744073709551615</MsgID><Status>success</Status>",
        ));
        assert!(
            matches!(
                &o[..],
                [Observation::Receipt {
                    msgid: u64::MAX,
                    status: Status::Delivered,
                    ..
                }]
            ),
            "{o:?}"
        );
        let o = observations(&msg(
            "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>5</MsgID><Status>failed:user block</Status>",
        ));
        assert!(
            matches!(&o[..], [Observation::Receipt { reason: Some(r), .. }] if r == "user_block")
        );
    }

    #[test]
    fn rejects_opt_out_in_both_event_shapes_and_receipts_open_no_window() {
        let o = observations(&msg(
            "<Event>subscribe_msg_change_event</Event><SubscribeMsgChangeEvent><List><TemplateId>T1</TemplateId><SubscribeStatusString>reject</SubscribeStatusString></List></SubscribeMsgChangeEvent>",
        ));
        assert_eq!(
            o,
            vec![Observation::OptOut {
                openid: "o1".into(),
                template_id: "T1".into()
            }]
        );
        let o = observations(&msg(
            "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>T2</TemplateId><SubscribeStatusString>accept</SubscribeStatusString><PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent>",
        ));
        assert!(matches!(&o[..], [Observation::OptIn { template_id, .. }] if template_id == "T2"));
        let o = observations(&msg("<Event>CLICK</Event><EventKey>k</EventKey>"));
        assert_eq!(
            o,
            vec![Observation::Seen {
                openid: "o1".into(),
                at_ms: 1_700_000_000_000
            }]
        );
    }
}
