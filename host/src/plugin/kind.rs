//! [`Kind`]: which case of the WIT `message` a [`Message`] is (and, for a
//! 0.2 plugin, which `handle-*` export it goes to). It *is* the newest WIT
//! `kind` enum that bindgen generates (plugins list it in
//! `describe().handles`); the table of all kinds and their names is generated
//! from the same WIT file by `build.rs`, so `wit/plugin.wit` is the one list.
//!
//! Matching rules (see [`Kind::of`] and `LoadedPlugin::handles`):
//! - typed messages and the events with a specific handler map to their own kind;
//! - every other event (`Event::Other`, publish-job-finish, kf-session, ...)
//!   is [`Kind::Event`], the `event` case of the WIT `message`;
//! - `Body::Unknown` and mini-program cards are [`Kind::Unsupported`], the
//!   `unsupported` case.
//!
//! A plugin declaring `event` receives every event kind; one declaring
//! `unsupported` receives only [`Kind::Unsupported`] messages.

use std::cmp::Ordering;

pub use super::bindings::v1::wechat::plugin::types::Kind;
use crate::protocol::{Body, Event, Message};

include!(concat!(env!("OUT_DIR"), "/kinds.rs"));

impl Kind {
    /// The kind of a message, i.e. which handler export it is delivered to.
    pub fn of(msg: &Message) -> Kind {
        match &msg.body {
            Body::Text { .. } => Kind::Text,
            Body::Image { .. } => Kind::Image,
            Body::Voice { .. } => Kind::Voice,
            Body::Video { .. } => Kind::Video,
            Body::ShortVideo { .. } => Kind::Shortvideo,
            Body::Location { .. } => Kind::Location,
            Body::Link { .. } => Kind::Link,
            Body::MiniProgramPage { .. } | Body::Unknown => Kind::Unsupported,
            Body::Event(ev) => match ev {
                Event::Subscribe { .. } => Kind::EventSubscribe,
                Event::Unsubscribe => Kind::EventUnsubscribe,
                Event::Scan { .. } => Kind::EventScan,
                Event::Location { .. } => Kind::EventLocation,
                Event::Click { .. } => Kind::EventClick,
                Event::View { .. } => Kind::EventView,
                Event::ScancodePush(_) => Kind::EventScancodePush,
                Event::ScancodeWaitmsg(_) => Kind::EventScancodeWaitmsg,
                Event::PicSysphoto(_) => Kind::EventPicSysphoto,
                Event::PicPhotoOrAlbum(_) => Kind::EventPicPhotoOrAlbum,
                Event::PicWeixin(_) => Kind::EventPicWeixin,
                Event::LocationSelect { .. } => Kind::EventLocationSelect,
                Event::SubscribeMsgPopup(_) => Kind::EventSubscribeMsgPopup,
                Event::SubscribeMsgChange(_) => Kind::EventSubscribeMsgChange,
                Event::SubscribeMsgSent(_) => Kind::EventSubscribeMsgSent,
                Event::TemplateSendJobFinish { .. } => Kind::EventTemplateSendJobFinish,
                Event::MassSendJobFinish { .. } => Kind::EventMassSendJobFinish,
                _ => Kind::Event,
            },
        }
    }

    pub fn is_event(self) -> bool {
        self.name().starts_with("event")
    }

    /// Parses a WIT name (`event-click`; `_` accepted for `-`).
    pub fn parse(name: &str) -> Option<Kind> {
        let name = name.replace('_', "-");
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind as a plugin built for WIT 0.2 knows it: kinds added since
    /// are events it receives as its generic `event`.
    pub fn in_v0_2(self) -> Kind {
        match self {
            Kind::EventSubscribeMsgChange
            | Kind::EventSubscribeMsgSent
            | Kind::EventTemplateSendJobFinish
            | Kind::EventMassSendJobFinish => Kind::Event,
            k => k,
        }
    }
}

// Kinds sort in WIT order (bindgen's `additional_derives` would add these to
// every generated record too, and some hold floats).
impl PartialOrd for Kind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Kind {
    fn cmp(&self, other: &Self) -> Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (*self as u8).hash(state);
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_wit_order() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "{k}");
            assert_eq!(Kind::parse(k.name()), Some(k));
        }
        assert_eq!(Kind::parse("event_click"), Some(Kind::EventClick));
        assert_eq!(Kind::Shortvideo.name(), "shortvideo");
        assert!(
            Kind::EventClick.is_event() && Kind::Event.is_event() && !Kind::Unsupported.is_event()
        );
        assert!(!Kind::Text.is_event());
    }
}
