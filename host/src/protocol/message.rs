//! Inbound messages: every push WeChat sends, typed, with nothing lost.
//!
//! A [`Message`] always keeps every XML element (`fields`) and the raw XML, so a
//! message type or event WeChat adds tomorrow reaches plugins intact as
//! [`Body::Unknown`] or [`Event::Other`] rather than failing to parse.

/// One decrypted push.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The Official Account's original ID (`gh_...`).
    pub to_user: String,
    /// The sender's OpenID.
    pub from_user: String,
    /// Unix seconds.
    pub create_time: u64,
    /// `MsgId` of ordinary messages (events have none; `MsgID` of job-finish
    /// events is *not* this).
    pub msg_id: Option<u64>,
    /// `MsgType` exactly as sent.
    pub msg_type: String,
    pub body: Body,
    /// Every element in document order; nested elements as `Parent.Child`
    /// (repeated ones appear once per occurrence). Only leaf elements carry a
    /// value: a container such as `ScanCodeInfo` appears through its children
    /// (`ScanCodeInfo.ScanType`, ...). CDATA sections and text are concatenated
    /// exactly as sent (no trimming).
    pub fields: Vec<(String, String)>,
    /// The XML exactly as received (after decryption).
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text {
        content: String,
    },
    Image {
        pic_url: String,
        media_id: String,
    },
    Voice {
        media_id: String,
        format: String,
        recognition: Option<String>,
    },
    Video {
        media_id: String,
        thumb_media_id: String,
    },
    ShortVideo {
        media_id: String,
        thumb_media_id: String,
    },
    Location {
        latitude: f64,
        longitude: f64,
        scale: u32,
        label: String,
    },
    Link {
        title: String,
        description: String,
        url: String,
    },
    MiniProgramPage {
        app_id: String,
        title: String,
        page_path: String,
        thumb_url: String,
        thumb_media_id: String,
    },
    Event(Event),
    /// A `MsgType` this version does not know; see `Message::fields`.
    Unknown,
}

/// `MsgType=event`, discriminated by `Event` (matched case-insensitively).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A follow; `scene`/`ticket` are set when it came from a parametric QR code
    /// (`EventKey` = `qrscene_` + scene, prefix stripped as a prefix only).
    Subscribe {
        scene: Option<String>,
        ticket: Option<String>,
    },
    Unsubscribe,
    /// An existing follower scanned a parametric QR code.
    Scan {
        scene: String,
        ticket: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        precision: f64,
    },
    Click {
        key: String,
    },
    View {
        url: String,
        menu_id: Option<String>,
    },
    ScancodePush(ScanCode),
    ScancodeWaitmsg(ScanCode),
    PicSysphoto(Pics),
    PicPhotoOrAlbum(Pics),
    PicWeixin(Pics),
    LocationSelect {
        key: String,
        latitude: f64,
        longitude: f64,
        scale: u32,
        label: String,
        poiname: Option<String>,
    },
    ViewMiniprogram {
        page_path: String,
        menu_id: Option<String>,
    },
    TemplateSendJobFinish {
        msg_id: String,
        status: String,
    },
    MassSendJobFinish {
        msg_id: String,
        status: String,
        total_count: u64,
        filter_count: u64,
        sent_count: u64,
        error_count: u64,
    },
    PublishJobFinish {
        publish_id: String,
        publish_status: i64,
        article_id: Option<String>,
    },
    SubscribeMsgPopup(Vec<SubscribeMsgItem>),
    SubscribeMsgChange(Vec<SubscribeMsgItem>),
    SubscribeMsgSent(Vec<SubscribeMsgSentItem>),
    KfCreateSession {
        kf_account: String,
    },
    KfCloseSession {
        kf_account: String,
    },
    KfSwitchSession {
        from_kf_account: String,
        to_kf_account: String,
    },
    /// Any other event (card, verification, new ones): `name` as sent, its
    /// `EventKey` if any; everything else is in `Message::fields`.
    Other {
        name: String,
        key: Option<String>,
    },
}

impl Event {
    /// The `Event` value WeChat sends for this event (its documented case).
    pub fn wire_name(&self) -> &str {
        match self {
            Event::Subscribe { .. } => "subscribe",
            Event::Unsubscribe => "unsubscribe",
            Event::Scan { .. } => "SCAN",
            Event::Location { .. } => "LOCATION",
            Event::Click { .. } => "CLICK",
            Event::View { .. } => "VIEW",
            Event::ScancodePush(_) => "scancode_push",
            Event::ScancodeWaitmsg(_) => "scancode_waitmsg",
            Event::PicSysphoto(_) => "pic_sysphoto",
            Event::PicPhotoOrAlbum(_) => "pic_photo_or_album",
            Event::PicWeixin(_) => "pic_weixin",
            Event::LocationSelect { .. } => "location_select",
            Event::ViewMiniprogram { .. } => "view_miniprogram",
            Event::TemplateSendJobFinish { .. } => "TEMPLATESENDJOBFINISH",
            Event::MassSendJobFinish { .. } => "MASSSENDJOBFINISH",
            Event::PublishJobFinish { .. } => "PUBLISHJOBFINISH",
            Event::SubscribeMsgPopup(_) => "subscribe_msg_popup_event",
            Event::SubscribeMsgChange(_) => "subscribe_msg_change_event",
            Event::SubscribeMsgSent(_) => "subscribe_msg_sent_event",
            Event::KfCreateSession { .. } => "kf_create_session",
            Event::KfCloseSession { .. } => "kf_close_session",
            Event::KfSwitchSession { .. } => "kf_switch_session",
            Event::Other { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanCode {
    pub key: String,
    pub scan_type: String,
    pub scan_result: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pics {
    pub key: String,
    pub count: u32,
    pub pic_md5_sums: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeMsgItem {
    pub template_id: String,
    pub status: String,
    pub popup_scene: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeMsgSentItem {
    pub template_id: String,
    pub msg_id: String,
    pub error_code: String,
    pub error_status: String,
}

impl Message {
    /// The first value of a field by its exact (case-sensitive) name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Event` as sent, for events (for a message built in code without its
    /// fields, the event's name on the wire).
    pub fn event_name(&self) -> Option<&str> {
        match &self.body {
            Body::Event(e) => Some(self.field("Event").unwrap_or_else(|| e.wire_name())),
            _ => None,
        }
    }

    /// `true` for messages a user typed or sent (not events): replies to these
    /// may carry at most one news article.
    pub fn is_user_message(&self) -> bool {
        !matches!(self.body, Body::Event(_))
    }
}
