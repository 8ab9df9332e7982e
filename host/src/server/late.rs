//! Late replies: a reply that misses the passive-reply budget is delivered as
//! a customer-service message instead of being lost.

use crate::api::{CustomerMessage, PluginApi};
use crate::protocol::Reply;

/// The customer-service form of a passive reply, if it has one.
pub fn to_customer_message(reply: &Reply) -> Option<CustomerMessage> {
    Some(match reply.clone() {
        Reply::Text(text) => CustomerMessage::Text(text),
        Reply::Image { media_id } => CustomerMessage::Image { media_id },
        Reply::Voice { media_id } => CustomerMessage::Voice { media_id },
        Reply::Video {
            media_id,
            title,
            description,
        } => CustomerMessage::Video {
            media_id,
            thumb_media_id: None,
            title,
            description,
        },
        Reply::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id,
        } => CustomerMessage::Music {
            title,
            description,
            music_url: music_url.unwrap_or_default(),
            hq_music_url: hq_music_url.unwrap_or_default(),
            thumb_media_id,
        },
        // Customer-service news carries one article.
        Reply::News(mut articles) => {
            articles.truncate(1);
            CustomerMessage::News(articles)
        }
        Reply::TransferCustomerService { .. } | Reply::Success => return None,
    })
}

/// Sends `reply` to `openid` as a customer-service message; logs the result.
pub async fn deliver(api: &dyn PluginApi, openid: &str, reply: &Reply, plugin: Option<&str>) {
    let Some(message) = to_customer_message(reply) else {
        tracing::info!(plugin, "late reply has no customer-service form; dropped");
        return;
    };
    match api.send_customer_message(openid, message).await {
        Ok(()) => tracing::info!(plugin, "late reply delivered as a customer-service message"),
        Err(e) => tracing::warn!(plugin, error = %e, "late reply could not be delivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Article;

    #[test]
    fn replies_map_to_customer_messages() {
        assert_eq!(
            to_customer_message(&Reply::Text("hi".into())),
            Some(CustomerMessage::Text("hi".into()))
        );
        assert_eq!(to_customer_message(&Reply::Success), None);
        assert_eq!(
            to_customer_message(&Reply::TransferCustomerService { kf_account: None }),
            None
        );
        let a = Article {
            title: "t".into(),
            description: "d".into(),
            pic_url: "p".into(),
            url: "u".into(),
        };
        let Some(CustomerMessage::News(list)) =
            to_customer_message(&Reply::News(vec![a.clone(), a]))
        else {
            panic!()
        };
        assert_eq!(list.len(), 1);
    }
}
