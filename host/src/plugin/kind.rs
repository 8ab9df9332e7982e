//! [`Kind`]: which handler export a [`Message`] goes to, mirroring the WIT
//! `kind` enum that plugins list in `describe().handles`.
//!
//! Matching rules (see [`Kind::of`] and `LoadedPlugin::handles`):
//! - typed messages and the events with a specific handler map to their own kind;
//! - every other event (`Event::Other`, job-finish, kf-session, subscribe-msg,
//!   view-miniprogram, ...) is [`Kind::Event`] and goes to `handle-event`;
//! - `Body::Unknown` and mini-program cards are [`Kind::Unsupported`] and go
//!   to `handle-unsupported`.
//!
//! A plugin declaring `event` receives every event kind; one declaring
//! `unsupported` receives only [`Kind::Unsupported`] messages.

use crate::protocol::{Body, Event, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Text,
    Image,
    Voice,
    Video,
    ShortVideo,
    Location,
    Link,
    EventSubscribe,
    EventUnsubscribe,
    EventScan,
    EventLocation,
    EventClick,
    EventView,
    EventScancodePush,
    EventScancodeWaitmsg,
    EventPicSysphoto,
    EventPicPhotoOrAlbum,
    EventPicWeixin,
    EventLocationSelect,
    /// Any event; as a message kind, an event without a specific handler.
    Event,
    Unsupported,
}

impl Kind {
    pub const ALL: [Kind; 21] = [
        Kind::Text,
        Kind::Image,
        Kind::Voice,
        Kind::Video,
        Kind::ShortVideo,
        Kind::Location,
        Kind::Link,
        Kind::EventSubscribe,
        Kind::EventUnsubscribe,
        Kind::EventScan,
        Kind::EventLocation,
        Kind::EventClick,
        Kind::EventView,
        Kind::EventScancodePush,
        Kind::EventScancodeWaitmsg,
        Kind::EventPicSysphoto,
        Kind::EventPicPhotoOrAlbum,
        Kind::EventPicWeixin,
        Kind::EventLocationSelect,
        Kind::Event,
        Kind::Unsupported,
    ];

    /// The kind of a message, i.e. which handler export it is delivered to.
    pub fn of(msg: &Message) -> Kind {
        match &msg.body {
            Body::Text { .. } => Kind::Text,
            Body::Image { .. } => Kind::Image,
            Body::Voice { .. } => Kind::Voice,
            Body::Video { .. } => Kind::Video,
            Body::ShortVideo { .. } => Kind::ShortVideo,
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
                _ => Kind::Event,
            },
        }
    }

    pub fn is_event(self) -> bool {
        !matches!(
            self,
            Kind::Text
                | Kind::Image
                | Kind::Voice
                | Kind::Video
                | Kind::ShortVideo
                | Kind::Location
                | Kind::Link
                | Kind::Unsupported
        )
    }

    /// The WIT name (`event-subscribe`), as `describe` lists it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Image => "image",
            Kind::Voice => "voice",
            Kind::Video => "video",
            Kind::ShortVideo => "shortvideo",
            Kind::Location => "location",
            Kind::Link => "link",
            Kind::EventSubscribe => "event-subscribe",
            Kind::EventUnsubscribe => "event-unsubscribe",
            Kind::EventScan => "event-scan",
            Kind::EventLocation => "event-location",
            Kind::EventClick => "event-click",
            Kind::EventView => "event-view",
            Kind::EventScancodePush => "event-scancode-push",
            Kind::EventScancodeWaitmsg => "event-scancode-waitmsg",
            Kind::EventPicSysphoto => "event-pic-sysphoto",
            Kind::EventPicPhotoOrAlbum => "event-pic-photo-or-album",
            Kind::EventPicWeixin => "event-pic-weixin",
            Kind::EventLocationSelect => "event-location-select",
            Kind::Event => "event",
            Kind::Unsupported => "unsupported",
        }
    }

    /// Parses a WIT name (`event-click`; `_` accepted for `-`).
    pub fn parse(name: &str) -> Option<Kind> {
        let name = name.replace('_', "-");
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The handler export this kind is delivered to (`handle-event-click`).
    pub fn export_name(self) -> String {
        format!("handle-{}", self.name())
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
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.name()), Some(k));
        }
        assert_eq!(Kind::parse("event_click"), Some(Kind::EventClick));
        assert!(
            Kind::EventClick.is_event() && Kind::Event.is_event() && !Kind::Unsupported.is_event()
        );
    }
}
