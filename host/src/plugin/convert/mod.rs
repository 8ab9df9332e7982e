//! Every mapping between the host's model (`protocol`, `api`, `store`) and
//! the WIT types, in one place: here the newest version's (`v1`), built
//! from the host's types; in `v0_2.rs` each 1.0 type mapped down to 0.2's,
//! for the plugins built against it. A later 1.x adds its module the same
//! way: the host's model converts to the newest WIT, and each older version
//! converts from the one after it.

pub(crate) mod v0_2;

use super::PluginInfo;
use super::account::AccountInfo;
use super::bindings::v1::wechat::plugin::types as wit;
use super::bindings::v1::wechat::plugin::wechat;
use super::kind::Kind;
use crate::api::{CustomerMessage, QrCode, QrCodeRequest, UserInfo};
use crate::protocol::{
    Article, Body, Event, Message, Pics, ScanCode, SubscribeMsgItem, SubscribeMsgSentItem,
};

/// The WIT context of `msg`, pushed to `account`.
pub(crate) fn context(msg: &Message, account: &AccountInfo) -> wit::Context {
    wit::Context {
        account: wit::Account {
            name: account.name.to_string(),
            app_id: account.app_id.to_string(),
            original_id: msg.to_user.clone(),
        },
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

/// The typed WIT message of `msg`; `qr` is the stored QR code of a
/// subscribe or scan event's scene. Its case is always [`Kind::of`]`(msg)`.
pub(crate) fn message(msg: &Message, qr: Option<&QrCode>) -> wit::Message {
    use wit::Message as M;
    let qr_code = || qr.map(wit::QrCode::from);
    match &msg.body {
        Body::Text { content } => M::Text(wit::TextMessage {
            content: content.clone(),
        }),
        Body::Image { pic_url, media_id } => M::Image(wit::ImageMessage {
            pic_url: pic_url.clone(),
            media_id: media_id.clone(),
        }),
        Body::Voice {
            media_id,
            format,
            recognition,
        } => M::Voice(wit::VoiceMessage {
            media_id: media_id.clone(),
            format: format.clone(),
            recognition: recognition.clone(),
        }),
        Body::Video {
            media_id,
            thumb_media_id,
        } => M::Video(wit::VideoMessage {
            media_id: media_id.clone(),
            thumb_media_id: thumb_media_id.clone(),
        }),
        Body::ShortVideo {
            media_id,
            thumb_media_id,
        } => M::Shortvideo(wit::VideoMessage {
            media_id: media_id.clone(),
            thumb_media_id: thumb_media_id.clone(),
        }),
        Body::Location {
            latitude,
            longitude,
            scale,
            label,
        } => M::Location(wit::LocationMessage {
            latitude: *latitude,
            longitude: *longitude,
            scale: *scale,
            label: label.clone(),
        }),
        Body::Link {
            title,
            description,
            url,
        } => M::Link(wit::LinkMessage {
            title: title.clone(),
            description: description.clone(),
            url: url.clone(),
        }),
        Body::MiniProgramPage { .. } | Body::Unknown => M::Unsupported,
        Body::Event(ev) => match ev {
            Event::Subscribe { scene, ticket } => M::EventSubscribe(wit::SubscribeEvent {
                scene: scene.clone(),
                ticket: ticket.clone(),
                qr_code: qr_code(),
            }),
            Event::Unsubscribe => M::EventUnsubscribe,
            Event::Scan { scene, ticket } => M::EventScan(wit::ScanEvent {
                scene: scene.clone(),
                ticket: ticket.clone(),
                qr_code: qr_code(),
            }),
            Event::Location {
                latitude,
                longitude,
                precision,
            } => M::EventLocation(wit::LocationEvent {
                latitude: *latitude,
                longitude: *longitude,
                precision: *precision,
            }),
            Event::Click { key } => M::EventClick(wit::ClickEvent { key: key.clone() }),
            Event::View { url, menu_id } => M::EventView(wit::ViewEvent {
                url: url.clone(),
                menu_id: menu_id.clone(),
            }),
            Event::ScancodePush(c) => M::EventScancodePush(c.into()),
            Event::ScancodeWaitmsg(c) => M::EventScancodeWaitmsg(c.into()),
            Event::PicSysphoto(p) => M::EventPicSysphoto(p.into()),
            Event::PicPhotoOrAlbum(p) => M::EventPicPhotoOrAlbum(p.into()),
            Event::PicWeixin(p) => M::EventPicWeixin(p.into()),
            Event::LocationSelect {
                key,
                latitude,
                longitude,
                scale,
                label,
                poiname,
            } => M::EventLocationSelect(wit::LocationSelectEvent {
                key: key.clone(),
                latitude: *latitude,
                longitude: *longitude,
                scale: *scale,
                label: label.clone(),
                poiname: poiname.clone(),
            }),
            Event::SubscribeMsgPopup(items) => {
                M::EventSubscribeMsgPopup(wit::SubscribeMsgPopupEvent {
                    items: popup_items(items),
                })
            }
            Event::SubscribeMsgChange(items) => {
                M::EventSubscribeMsgChange(wit::SubscribeMsgChangeEvent {
                    items: popup_items(items),
                })
            }
            Event::SubscribeMsgSent(items) => {
                M::EventSubscribeMsgSent(wit::SubscribeMsgSentEvent {
                    items: items.iter().map(wit::SubscribeMsgSentItem::from).collect(),
                })
            }
            Event::TemplateSendJobFinish { msg_id, status } => {
                M::EventTemplateSendJobFinish(wit::TemplateSendJobFinishEvent {
                    msg_id: msg_id.clone(),
                    status: status.clone(),
                })
            }
            Event::MassSendJobFinish {
                msg_id,
                status,
                total_count,
                filter_count,
                sent_count,
                error_count,
            } => M::EventMassSendJobFinish(wit::MassSendJobFinishEvent {
                msg_id: msg_id.clone(),
                status: status.clone(),
                total_count: *total_count,
                filter_count: *filter_count,
                sent_count: *sent_count,
                error_count: *error_count,
            }),
            Event::ViewMiniprogram { .. }
            | Event::PublishJobFinish { .. }
            | Event::KfCreateSession { .. }
            | Event::KfCloseSession { .. }
            | Event::KfSwitchSession { .. }
            | Event::Other { .. } => M::Event(event_message(msg)),
        },
    }
}

/// Any event in its generic form: its name and raw `EventKey`.
pub(crate) fn event_message(msg: &Message) -> wit::EventMessage {
    wit::EventMessage {
        event: msg.event_name().unwrap_or_default().to_owned(),
        key: match &msg.body {
            Body::Event(Event::Other { key, .. }) => key.clone(),
            _ => msg.field("EventKey").map(str::to_owned),
        },
    }
}

impl wit::Message {
    /// The kind of this case (`event` and `unsupported` for the generic ones).
    pub(crate) fn kind(&self) -> Kind {
        use wit::Message as M;
        match self {
            M::Text(_) => Kind::Text,
            M::Image(_) => Kind::Image,
            M::Voice(_) => Kind::Voice,
            M::Video(_) => Kind::Video,
            M::Shortvideo(_) => Kind::Shortvideo,
            M::Location(_) => Kind::Location,
            M::Link(_) => Kind::Link,
            M::EventSubscribe(_) => Kind::EventSubscribe,
            M::EventUnsubscribe => Kind::EventUnsubscribe,
            M::EventScan(_) => Kind::EventScan,
            M::EventLocation(_) => Kind::EventLocation,
            M::EventClick(_) => Kind::EventClick,
            M::EventView(_) => Kind::EventView,
            M::EventScancodePush(_) => Kind::EventScancodePush,
            M::EventScancodeWaitmsg(_) => Kind::EventScancodeWaitmsg,
            M::EventPicSysphoto(_) => Kind::EventPicSysphoto,
            M::EventPicPhotoOrAlbum(_) => Kind::EventPicPhotoOrAlbum,
            M::EventPicWeixin(_) => Kind::EventPicWeixin,
            M::EventLocationSelect(_) => Kind::EventLocationSelect,
            M::EventSubscribeMsgPopup(_) => Kind::EventSubscribeMsgPopup,
            M::EventSubscribeMsgChange(_) => Kind::EventSubscribeMsgChange,
            M::EventSubscribeMsgSent(_) => Kind::EventSubscribeMsgSent,
            M::EventTemplateSendJobFinish(_) => Kind::EventTemplateSendJobFinish,
            M::EventMassSendJobFinish(_) => Kind::EventMassSendJobFinish,
            M::Event(_) => Kind::Event,
            M::Unsupported => Kind::Unsupported,
        }
    }
}

fn popup_items(items: &[SubscribeMsgItem]) -> Vec<wit::SubscribeMsgPopupItem> {
    items
        .iter()
        .map(|i| wit::SubscribeMsgPopupItem {
            template_id: i.template_id.clone(),
            status: i.status.clone(),
            popup_scene: i.popup_scene.clone(),
        })
        .collect()
}

impl From<&SubscribeMsgSentItem> for wit::SubscribeMsgSentItem {
    fn from(i: &SubscribeMsgSentItem) -> Self {
        wit::SubscribeMsgSentItem {
            template_id: i.template_id.clone(),
            msg_id: i.msg_id.clone(),
            error_code: i.error_code.clone(),
            error_status: i.error_status.clone(),
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

    fn msg(body: Body) -> Message {
        Message {
            to_user: "gh_1".into(),
            from_user: "u".into(),
            create_time: 1,
            msg_id: None,
            msg_type: "event".into(),
            body,
            fields: vec![],
            raw: String::new(),
        }
    }

    #[test]
    fn context_names_typed_events_and_carries_the_account() {
        let account = AccountInfo::new("shop", "wx1");
        let click = msg(Body::Event(Event::Click { key: "K".into() }));
        let ctx = context(&click, &account);
        assert_eq!(ctx.event.as_deref(), Some("CLICK"));
        assert_eq!(
            (
                ctx.account.name.as_str(),
                ctx.account.app_id.as_str(),
                ctx.account.original_id.as_str()
            ),
            ("shop", "wx1", "gh_1")
        );
        let text = msg(Body::Text {
            content: "x".into(),
        });
        assert_eq!(context(&text, &account).event, None);
    }

    /// Every message's case is the kind the dispatcher matched it by.
    #[test]
    fn the_case_of_every_message_is_its_kind() {
        let items = vec![SubscribeMsgItem {
            template_id: "t".into(),
            status: "reject".into(),
            popup_scene: None,
        }];
        let bodies = [
            Body::Text {
                content: "x".into(),
            },
            Body::Unknown,
            Body::Event(Event::Unsubscribe),
            Body::Event(Event::SubscribeMsgChange(items)),
            Body::Event(Event::SubscribeMsgSent(vec![])),
            Body::Event(Event::TemplateSendJobFinish {
                msg_id: "1".into(),
                status: "success".into(),
            }),
            Body::Event(Event::MassSendJobFinish {
                msg_id: "1".into(),
                status: "send success".into(),
                total_count: 3,
                filter_count: 2,
                sent_count: 2,
                error_count: 0,
            }),
            Body::Event(Event::KfCloseSession {
                kf_account: "a".into(),
            }),
            Body::Event(Event::Other {
                name: "new_event".into(),
                key: Some("k".into()),
            }),
        ];
        for body in bodies {
            let m = msg(body);
            assert_eq!(message(&m, None).kind(), Kind::of(&m), "{:?}", m.body);
        }
        let other = msg(Body::Event(Event::Other {
            name: "new_event".into(),
            key: Some("k".into()),
        }));
        match message(&other, None) {
            wit::Message::Event(e) => {
                assert_eq!(
                    (e.event.as_str(), e.key.as_deref()),
                    ("new_event", Some("k"))
                )
            }
            m => panic!("{m:?}"),
        }
    }
}
