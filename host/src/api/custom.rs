//! Customer-service (客服) messages: `POST /cgi-bin/message/custom/send`.
//!
//! Used by plugins (capability `customer-message`) and for late replies: a
//! reply that misses the 5-second passive-reply budget goes out this way.
//! WeChat accepts these only within 48 h of the user's last interaction and
//! with a small per-interaction quota (errcodes 45015, 45047).

use serde_json::{Value, json};

use super::{ApiError, CustomerMessage, Wechat};
use crate::protocol::Reply;

/// The request body for `message` to `to_user`.
pub fn custom_message_json(to_user: &str, message: &CustomerMessage) -> Result<Value, ApiError> {
    if to_user.is_empty() {
        return Err(ApiError::Invalid(
            "customer-service message: empty recipient openid".into(),
        ));
    }
    let need = |field: &str, value: &str| {
        if value.is_empty() {
            Err(ApiError::Invalid(format!(
                "customer-service message: {field} is empty"
            )))
        } else {
            Ok(())
        }
    };
    let (msgtype, content) = match message {
        CustomerMessage::Text(text) => {
            need("text", text)?;
            ("text", json!({"content": text}))
        }
        CustomerMessage::Image { media_id } => {
            need("media_id", media_id)?;
            ("image", json!({"media_id": media_id}))
        }
        CustomerMessage::Voice { media_id } => {
            need("media_id", media_id)?;
            ("voice", json!({"media_id": media_id}))
        }
        CustomerMessage::Video {
            media_id,
            thumb_media_id,
            title,
            description,
        } => {
            need("media_id", media_id)?;
            let mut v = json!({"media_id": media_id});
            for (k, val) in [
                ("thumb_media_id", thumb_media_id),
                ("title", title),
                ("description", description),
            ] {
                if let Some(val) = val {
                    v[k] = json!(val);
                }
            }
            ("video", v)
        }
        CustomerMessage::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id,
        } => {
            need("thumb_media_id", thumb_media_id)?;
            let mut v = json!({"musicurl": music_url, "hqmusicurl": hq_music_url, "thumb_media_id": thumb_media_id});
            for (k, val) in [("title", title), ("description", description)] {
                if let Some(val) = val {
                    v[k] = json!(val);
                }
            }
            ("music", v)
        }
        CustomerMessage::News(articles) => {
            // WeChat takes exactly one article in a customer-service news message.
            let [a] = articles.as_slice() else {
                return Err(ApiError::Invalid(format!(
                    "customer-service news takes exactly 1 article, got {}",
                    articles.len()
                )));
            };
            (
                "news",
                json!({"articles": [{"title": a.title, "description": a.description, "url": a.url, "picurl": a.pic_url}]}),
            )
        }
    };
    Ok(json!({"touser": to_user, "msgtype": msgtype, msgtype: content}))
}

/// A passive reply that has no customer-service form (a transfer to
/// customer service, or `success`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoCustomerForm;

/// The customer-service form of a passive reply (how a late reply is sent).
impl TryFrom<&Reply> for CustomerMessage {
    type Error = NoCustomerForm;

    fn try_from(reply: &Reply) -> Result<Self, NoCustomerForm> {
        Ok(match reply.clone() {
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
            Reply::TransferCustomerService { .. } | Reply::Success => return Err(NoCustomerForm),
        })
    }
}

impl Wechat {
    /// Sends a customer-service message.
    pub async fn send_custom(
        &self,
        to_user: &str,
        message: &CustomerMessage,
    ) -> Result<(), ApiError> {
        let body = custom_message_json(to_user, message)?;
        self.post("/cgi-bin/message/custom/send", &body)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Article;

    #[test]
    fn bodies_match_wechats_format() {
        let t = custom_message_json("o1", &CustomerMessage::Text("你好 & bye".into())).unwrap();
        assert_eq!(
            t,
            json!({"touser": "o1", "msgtype": "text", "text": {"content": "你好 & bye"}})
        );
        let v = custom_message_json(
            "o1",
            &CustomerMessage::Video {
                media_id: "m".into(),
                thumb_media_id: None,
                title: Some("t".into()),
                description: None,
            },
        )
        .unwrap();
        assert_eq!(v["video"], json!({"media_id": "m", "title": "t"}));
        let a = Article {
            title: "t".into(),
            description: "d".into(),
            pic_url: "p".into(),
            url: "u".into(),
        };
        let n = custom_message_json("o1", &CustomerMessage::News(vec![a.clone()])).unwrap();
        assert_eq!(n["news"]["articles"][0]["picurl"], "p");
        assert!(custom_message_json("o1", &CustomerMessage::News(vec![a.clone(), a])).is_err());
        assert!(custom_message_json("", &CustomerMessage::Text("x".into())).is_err());
    }

    #[test]
    fn replies_map_to_customer_messages() {
        let cm = |r: &Reply| CustomerMessage::try_from(r);
        assert_eq!(
            cm(&Reply::Text("hi".into())),
            Ok(CustomerMessage::Text("hi".into()))
        );
        assert_eq!(cm(&Reply::Success), Err(NoCustomerForm));
        assert_eq!(
            cm(&Reply::TransferCustomerService { kf_account: None }),
            Err(NoCustomerForm)
        );
        let a = Article {
            title: "t".into(),
            description: "d".into(),
            pic_url: "p".into(),
            url: "u".into(),
        };
        let Ok(CustomerMessage::News(list)) = cm(&Reply::News(vec![a.clone(), a])) else {
            panic!()
        };
        assert_eq!(list.len(), 1);
    }
}
