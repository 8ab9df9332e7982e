//! Every mapping between the host's model (`protocol`, `api`, `store`) and
//! the WIT types, as `From`/`TryFrom` impls in one place.

use super::PluginInfo;
use super::bindings::wechat::plugin::types as wit;
use super::bindings::wechat::plugin::wechat;
use super::kind::Kind;
use crate::api::{CustomerMessage, QrCode, QrCodeRequest, UserInfo};
use crate::protocol::{Article, Message, Pics, ScanCode, SubscribeMsgItem};

impl From<&Message> for wit::Context {
    fn from(msg: &Message) -> Self {
        wit::Context {
            to_user: msg.to_user.clone(),
            from_user: msg.from_user.clone(),
            create_time: msg.create_time,
            msg_id: msg.msg_id,
            msg_type: msg.msg_type.clone(),
            event: msg.event_name().map(str::to_owned),
            fields: msg.fields.clone(),
            raw: msg.raw.clone(),
        }
    }
}

impl From<&QrCode> for wit::QrCode {
    fn from(q: &QrCode) -> Self {
        wit::QrCode {
            scene: q.scene.clone(),
            ticket: q.ticket.clone(),
            url: q.url.clone(),
            permanent: q.permanent,
            expires_at: q.expires_at,
            note: q.note.clone(),
            created_at: q.created_at,
        }
    }
}

impl From<&ScanCode> for wit::ScancodeEvent {
    fn from(s: &ScanCode) -> Self {
        wit::ScancodeEvent {
            key: s.key.clone(),
            scan_type: s.scan_type.clone(),
            scan_result: s.scan_result.clone(),
        }
    }
}

impl From<&Pics> for wit::PicEvent {
    fn from(p: &Pics) -> Self {
        wit::PicEvent {
            key: p.key.clone(),
            count: p.count,
            pic_md5_sums: p.pic_md5_sums.clone(),
        }
    }
}

impl From<&[SubscribeMsgItem]> for wit::SubscribeMsgPopupEvent {
    fn from(items: &[SubscribeMsgItem]) -> Self {
        wit::SubscribeMsgPopupEvent {
            items: items
                .iter()
                .map(|i| wit::SubscribeMsgPopupItem {
                    template_id: i.template_id.clone(),
                    status: i.status.clone(),
                    popup_scene: i.popup_scene.clone(),
                })
                .collect(),
        }
    }
}

impl From<wit::Article> for Article {
    fn from(a: wit::Article) -> Self {
        Article {
            title: a.title,
            description: a.description,
            pic_url: a.pic_url,
            url: a.url,
        }
    }
}

impl From<wechat::CustomerMessage> for CustomerMessage {
    fn from(m: wechat::CustomerMessage) -> Self {
        match m {
            wechat::CustomerMessage::Text(t) => CustomerMessage::Text(t),
            wechat::CustomerMessage::Image(m) => CustomerMessage::Image { media_id: m },
            wechat::CustomerMessage::Voice(m) => CustomerMessage::Voice { media_id: m },
            wechat::CustomerMessage::Video(v) => CustomerMessage::Video {
                media_id: v.media_id,
                thumb_media_id: v.thumb_media_id,
                title: v.title,
                description: v.description,
            },
            wechat::CustomerMessage::Music(m) => CustomerMessage::Music {
                title: m.title,
                description: m.description,
                music_url: m.music_url,
                hq_music_url: m.hq_music_url,
                thumb_media_id: m.thumb_media_id,
            },
            wechat::CustomerMessage::News(a) => {
                CustomerMessage::News(a.into_iter().map(Article::from).collect())
            }
        }
    }
}

impl From<UserInfo> for wechat::UserInfo {
    fn from(u: UserInfo) -> Self {
        wechat::UserInfo {
            subscribed: u.subscribed,
            openid: u.openid,
            unionid: u.unionid,
            language: u.language,
            subscribe_time: u.subscribe_time,
            subscribe_scene: u.subscribe_scene,
            remark: u.remark,
            tag_ids: u.tag_ids,
            qr_scene: u.qr_scene,
            qr_scene_str: u.qr_scene_str,
        }
    }
}

impl From<wechat::QrCodeRequest> for QrCodeRequest {
    fn from(r: wechat::QrCodeRequest) -> Self {
        QrCodeRequest {
            scene: r.scene,
            expire_seconds: r.expire_seconds,
            note: r.note,
        }
    }
}

/// What `describe` returned, validated.
impl TryFrom<wit::PluginInfo> for PluginInfo {
    type Error = String;

    fn try_from(info: wit::PluginInfo) -> Result<Self, String> {
        if info.name.trim().is_empty() || info.name.len() > 64 {
            return Err(format!(
                "describe: name must be 1 to 64 bytes, got {:?}",
                info.name
            ));
        }
        if info.version.len() > 64 {
            return Err("describe: version longer than 64 bytes".to_owned());
        }
        let mut handles: Vec<Kind> = info.handles;
        handles.sort();
        handles.dedup();
        Ok(PluginInfo {
            name: info.name,
            version: info.version,
            priority: info.priority,
            handles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Body, Event};

    fn msg(body: Body) -> Message {
        Message {
            to_user: "gh_1".into(),
            from_user: "u".into(),
            create_time: 1,
            msg_id: None,
            msg_type: "text".into(),
            body,
            fields: vec![],
            raw: String::new(),
        }
    }

    #[test]
    fn context_names_typed_events() {
        let click = msg(Body::Event(Event::Click { key: "K".into() }));
        assert_eq!(wit::Context::from(&click).event.as_deref(), Some("CLICK"));
        assert_eq!(
            wit::Context::from(&msg(Body::Text {
                content: "x".into()
            }))
            .event,
            None
        );
    }
}
