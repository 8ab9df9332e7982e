//! WIT 1.0 ↔ 0.2: every type a 0.2 component exchanges with the host, as
//! [`Down`] (1.0 → 0.2: what the host passes in) and [`Up`] (0.2 → 1.0:
//! what the plugin returns or passes to a host function). The records are
//! the same shape in both versions, so one macro line maps each; what 0.2
//! lacks (the context's account, the 1.0-only event kinds) is dropped here
//! and nowhere else.

use crate::plugin::bindings::v0_2::wechat::plugin as old;
use crate::plugin::bindings::v1::wechat::plugin as new;
use crate::plugin::kind::Kind;

/// A 1.0 value as 0.2 has it.
pub(crate) trait Down<T> {
    fn down(self) -> T;
}

/// A 0.2 value as 1.0 has it.
pub(crate) trait Up<T> {
    fn up(self) -> T;
}

/// Values that are the same type in both versions.
macro_rules! same {
    ($($t:ty),*) => {$(
        impl Down<$t> for $t { fn down(self) -> $t { self } }
        impl Up<$t> for $t { fn up(self) -> $t { self } }
    )*};
}
same!(String, bool, u32, u64, i32, f64, (String, String));

impl<A: Down<B>, B> Down<Option<B>> for Option<A> {
    fn down(self) -> Option<B> {
        self.map(Down::down)
    }
}
impl<A: Down<B>, B> Down<Vec<B>> for Vec<A> {
    fn down(self) -> Vec<B> {
        self.into_iter().map(Down::down).collect()
    }
}
impl<A: Up<B>, B> Up<Option<B>> for Option<A> {
    fn up(self) -> Option<B> {
        self.map(Up::up)
    }
}
impl<A: Up<B>, B> Up<Vec<B>> for Vec<A> {
    fn up(self) -> Vec<B> {
        self.into_iter().map(Up::up).collect()
    }
}

/// `records!(Trait method: from => to { fields })`: a record mapped field by field.
macro_rules! records {
    ($tr:ident $m:ident: $($from:ty => $to:path { $($f:ident),* $(,)? })*) => {$(
        impl $tr<$to> for $from {
            fn $m(self) -> $to {
                $to { $($f: self.$f.$m()),* }
            }
        }
    )*};
}

records! { Down down:
    new::types::TextMessage => old::types::TextMessage { content }
    new::types::ImageMessage => old::types::ImageMessage { pic_url, media_id }
    new::types::VoiceMessage => old::types::VoiceMessage { media_id, format, recognition }
    new::types::VideoMessage => old::types::VideoMessage { media_id, thumb_media_id }
    new::types::LocationMessage => old::types::LocationMessage { latitude, longitude, scale, label }
    new::types::LinkMessage => old::types::LinkMessage { title, description, url }
    new::types::QrCode => old::types::QrCode {
        scene, ticket, url, permanent, expires_at, note, created_at
    }
    new::types::SubscribeEvent => old::types::SubscribeEvent { scene, ticket, qr_code }
    new::types::ScanEvent => old::types::ScanEvent { scene, ticket, qr_code }
    new::types::LocationEvent => old::types::LocationEvent { latitude, longitude, precision }
    new::types::ClickEvent => old::types::ClickEvent { key }
    new::types::ViewEvent => old::types::ViewEvent { url, menu_id }
    new::types::ScancodeEvent => old::types::ScancodeEvent { key, scan_type, scan_result }
    new::types::PicEvent => old::types::PicEvent { key, count, pic_md5_sums }
    new::types::LocationSelectEvent => old::types::LocationSelectEvent {
        key, latitude, longitude, scale, label, poiname
    }
    new::types::SubscribeMsgPopupItem => old::types::SubscribeMsgPopupItem {
        template_id, status, popup_scene
    }
    new::types::SubscribeMsgPopupEvent => old::types::SubscribeMsgPopupEvent { items }
    new::types::EventMessage => old::types::EventMessage { event, key }
    new::types::Article => old::types::Article { title, description, pic_url, url }
    new::wechat::UserInfo => old::wechat::UserInfo {
        subscribed, openid, unionid, language, subscribe_time, subscribe_scene, remark,
        tag_ids, qr_scene, qr_scene_str
    }
    new::wechat::ApiError => old::wechat::ApiError { code, message }
    new::web::JssdkConfig => old::web::JssdkConfig { app_id, timestamp, nonce_str, signature }
}

records! { Up up:
    old::types::Article => new::types::Article { title, description, pic_url, url }
    old::types::VideoReply => new::types::VideoReply { media_id, title, description }
    old::types::MusicReply => new::types::MusicReply {
        title, description, music_url, hq_music_url, thumb_media_id
    }
    old::wechat::CustomerVideo => new::wechat::CustomerVideo {
        media_id, thumb_media_id, title, description
    }
    old::wechat::CustomerMusic => new::wechat::CustomerMusic {
        title, description, music_url, hq_music_url, thumb_media_id
    }
    old::wechat::QrCodeRequest => new::wechat::QrCodeRequest { scene, expire_seconds, note }
}

/// The 0.2 context: 1.0's without the account (0.2 plugins read the
/// account's `gh_` id from `to-user`, as before).
impl Down<old::types::Context> for &new::types::Context {
    fn down(self) -> old::types::Context {
        old::types::Context {
            to_user: self.to_user.clone(),
            from_user: self.from_user.clone(),
            create_time: self.create_time,
            msg_id: self.msg_id,
            msg_type: self.msg_type.clone(),
            event: self.event.clone(),
            fields: self.fields.clone(),
            raw: self.raw.clone(),
        }
    }
}

impl Up<new::types::Reply> for old::types::Reply {
    fn up(self) -> new::types::Reply {
        use new::types::Reply as N;
        use old::types::Reply as O;
        match self {
            O::Text(t) => N::Text(t),
            O::Image(m) => N::Image(m),
            O::Voice(m) => N::Voice(m),
            O::Video(v) => N::Video(v.up()),
            O::Music(m) => N::Music(m.up()),
            O::News(a) => N::News(a.up()),
            O::TransferCustomerService(k) => N::TransferCustomerService(k),
            O::NoReply => N::NoReply,
            O::Pass => N::Pass,
        }
    }
}

impl Up<new::wechat::CustomerMessage> for old::wechat::CustomerMessage {
    fn up(self) -> new::wechat::CustomerMessage {
        use new::wechat::CustomerMessage as N;
        use old::wechat::CustomerMessage as O;
        match self {
            O::Text(t) => N::Text(t),
            O::Image(m) => N::Image(m),
            O::Voice(m) => N::Voice(m),
            O::Video(v) => N::Video(v.up()),
            O::Music(m) => N::Music(m.up()),
            O::News(a) => N::News(a.up()),
        }
    }
}

impl Up<new::host::Level> for old::host::Level {
    fn up(self) -> new::host::Level {
        use new::host::Level as N;
        use old::host::Level as O;
        match self {
            O::Trace => N::Trace,
            O::Debug => N::Debug,
            O::Info => N::Info,
            O::Warn => N::Warn,
            O::Error => N::Error,
        }
    }
}

impl Up<Kind> for old::types::Kind {
    fn up(self) -> Kind {
        use old::types::Kind as O;
        match self {
            O::Text => Kind::Text,
            O::Image => Kind::Image,
            O::Voice => Kind::Voice,
            O::Video => Kind::Video,
            O::Shortvideo => Kind::Shortvideo,
            O::Location => Kind::Location,
            O::Link => Kind::Link,
            O::EventSubscribe => Kind::EventSubscribe,
            O::EventUnsubscribe => Kind::EventUnsubscribe,
            O::EventScan => Kind::EventScan,
            O::EventLocation => Kind::EventLocation,
            O::EventClick => Kind::EventClick,
            O::EventView => Kind::EventView,
            O::EventScancodePush => Kind::EventScancodePush,
            O::EventScancodeWaitmsg => Kind::EventScancodeWaitmsg,
            O::EventPicSysphoto => Kind::EventPicSysphoto,
            O::EventPicPhotoOrAlbum => Kind::EventPicPhotoOrAlbum,
            O::EventPicWeixin => Kind::EventPicWeixin,
            O::EventLocationSelect => Kind::EventLocationSelect,
            O::EventSubscribeMsgPopup => Kind::EventSubscribeMsgPopup,
            O::Event => Kind::Event,
            O::Unsupported => Kind::Unsupported,
        }
    }
}

impl Up<new::types::PluginInfo> for old::types::PluginInfo {
    fn up(self) -> new::types::PluginInfo {
        new::types::PluginInfo {
            name: self.name,
            version: self.version,
            priority: self.priority,
            handles: self.handles.into_iter().map(Up::up).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_0_2_kind_is_a_1_0_kind_of_the_same_name() {
        let old_kinds = [
            (old::types::Kind::Text, "text"),
            (old::types::Kind::Shortvideo, "shortvideo"),
            (
                old::types::Kind::EventPicPhotoOrAlbum,
                "event-pic-photo-or-album",
            ),
            (
                old::types::Kind::EventSubscribeMsgPopup,
                "event-subscribe-msg-popup",
            ),
            (old::types::Kind::Event, "event"),
            (old::types::Kind::Unsupported, "unsupported"),
        ];
        for (k, name) in old_kinds {
            assert_eq!(Up::<Kind>::up(k).name(), name);
        }
        // Kinds added in 1.0 reach a 0.2 plugin as its generic event.
        assert_eq!(Kind::EventTemplateSendJobFinish.in_v0_2(), Kind::Event);
        assert_eq!(Kind::EventClick.in_v0_2(), Kind::EventClick);
    }

    #[test]
    fn a_0_2_reply_keeps_its_articles() {
        let reply = old::types::Reply::News(vec![old::types::Article {
            title: "t".into(),
            description: "d".into(),
            pic_url: "p".into(),
            url: "u".into(),
        }]);
        match reply.up() {
            new::types::Reply::News(a) => {
                assert_eq!((a[0].title.as_str(), a[0].url.as_str()), ("t", "u"))
            }
            r => panic!("{r:?}"),
        }
    }
}
