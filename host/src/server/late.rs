//! Late replies: a reply that misses the passive-reply budget is delivered as
//! a customer-service message instead of being lost.

use crate::api::{CustomerMessage, PluginApi};
use crate::protocol::Reply;

/// Sends `reply` to `openid` as a customer-service message; logs the result.
pub async fn deliver(api: &dyn PluginApi, openid: &str, reply: &Reply, plugin: Option<&str>) {
    let Ok(message) = CustomerMessage::try_from(reply) else {
        metrics::counter!("wxhost_late_replies_total", "result" => "no_form").increment(1);
        tracing::info!(plugin, "late reply has no customer-service form; dropped");
        return;
    };
    match api.send_customer_message(openid, message).await {
        Ok(()) => {
            metrics::counter!("wxhost_late_replies_total", "result" => "sent").increment(1);
            tracing::info!(plugin, "late reply delivered as a customer-service message")
        }
        Err(e) => {
            metrics::counter!("wxhost_late_replies_total", "result" => "failed").increment(1);
            tracing::warn!(plugin, error = %e, "late reply could not be delivered")
        }
    }
}
