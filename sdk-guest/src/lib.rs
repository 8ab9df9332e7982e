//! The Rust SDK for wxhost plugins: typed messages, reply builders, the
//! [`Plugin`] trait whose default methods implement the fallback chain, log /
//! kv / config helpers, and [`export_plugin!`] to export it all.
//!
//! ```ignore
//! use wxhost_sdk::prelude::*;
//!
//! struct Echo;
//! impl Plugin for Echo {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("echo", env!("CARGO_PKG_VERSION")).handles([Kind::Text])
//!     }
//!     fn handle_text(_ctx: &Context, msg: TextMessage) -> Reply {
//!         Reply::text(msg.content)
//!     }
//! }
//! wxhost_sdk::export_plugin!(Echo);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2` (crate-type `cdylib`); the
//! result is a component the host loads from its plugins directory.
//!
//! Every call runs in a fresh instance: globals do not survive between
//! messages. Keep state with [`kv`].

use std::marker::PhantomData;

/// The raw bindings generated from `wit/plugin.wit` (`wechat:plugin@0.1.0`).
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_world_plugin",
        default_bindings_module: "wxhost_sdk::bindings",
    });
}

mod helpers;
pub use helpers::{config, kv, log, wechat};

pub use bindings::wechat::plugin::types::{
    Article, ClickEvent, Context, EventMessage, ImageMessage, Kind, LinkMessage, LocationEvent,
    LocationMessage, LocationSelectEvent, MusicReply, PicEvent, PluginInfo, QrCode, Reply,
    ScanEvent, ScancodeEvent, SubscribeEvent, TextMessage, VideoMessage, VideoReply, ViewEvent,
    VoiceMessage,
};

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        Article, ClickEvent, Context, EventMessage, ImageMessage, Kind, LinkMessage, LocationEvent,
        LocationMessage, LocationSelectEvent, MusicReply, PicEvent, Plugin, PluginInfo, QrCode,
        Reply, ScanEvent, ScancodeEvent, SubscribeEvent, TextMessage, VideoMessage, VideoReply,
        ViewEvent, VoiceMessage, config, kv, log,
    };
}

/// A plugin. Implement [`Plugin::describe`] and the handlers for the kinds
/// you declare; every other handler falls back:
/// a specific event → [`Plugin::handle_event`] → [`Plugin::handle_unsupported`]
/// → [`Reply::Pass`]; a typed message → [`Plugin::handle_unsupported`] → pass.
///
/// The host only calls a handler for kinds listed in `describe().handles`
/// (`Kind::Event` covers every event, `Kind::Unsupported` covers messages
/// the host has no typed form for).
pub trait Plugin {
    /// Name, version, priority (higher runs first) and the kinds handled.
    fn describe() -> PluginInfo;

    fn handle_text(ctx: &Context, _msg: TextMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }
    fn handle_image(ctx: &Context, _msg: ImageMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }
    fn handle_voice(ctx: &Context, _msg: VoiceMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }
    fn handle_video(ctx: &Context, _msg: VideoMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }
    fn handle_shortvideo(ctx: &Context, _msg: VideoMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }
    fn handle_location(ctx: &Context, _msg: LocationMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }
    fn handle_link(ctx: &Context, _msg: LinkMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }

    fn handle_event_subscribe(ctx: &Context, _ev: SubscribeEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_unsubscribe(ctx: &Context) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_scan(ctx: &Context, _ev: ScanEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_location(ctx: &Context, _ev: LocationEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_click(ctx: &Context, _ev: ClickEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_view(ctx: &Context, _ev: ViewEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_scancode_push(ctx: &Context, _ev: ScancodeEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_scancode_waitmsg(ctx: &Context, _ev: ScancodeEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_pic_sysphoto(ctx: &Context, _ev: PicEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_pic_photo_or_album(ctx: &Context, _ev: PicEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_pic_weixin(ctx: &Context, _ev: PicEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }
    fn handle_event_location_select(ctx: &Context, _ev: LocationSelectEvent) -> Reply {
        Self::handle_event(ctx, ctx.event_message())
    }

    /// Any event (the generic form of every specific one above).
    fn handle_event(ctx: &Context, _ev: EventMessage) -> Reply {
        Self::handle_unsupported(ctx)
    }
    /// Anything else; `ctx.fields` and `ctx.raw` hold the whole message.
    fn handle_unsupported(_ctx: &Context) -> Reply {
        Reply::Pass
    }
}

impl Context {
    /// The first value of an XML element by exact name (`Content`, `EventKey`, ...).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This message as a generic event: `Event` and the raw `EventKey`.
    pub fn event_message(&self) -> EventMessage {
        EventMessage {
            event: self.event.clone().unwrap_or_default(),
            key: self.field("EventKey").map(ToString::to_string),
        }
    }
}

impl PluginInfo {
    /// Priority 0, handling nothing yet: add kinds with [`PluginInfo::handles`].
    pub fn new(name: &str, version: &str) -> PluginInfo {
        PluginInfo {
            name: name.to_string(),
            version: version.to_string(),
            priority: 0,
            handles: Vec::new(),
        }
    }
    /// Higher runs first (the host's config may override it).
    pub fn priority(mut self, priority: i32) -> PluginInfo {
        self.priority = priority;
        self
    }
    /// Adds kinds this plugin handles.
    pub fn handles(mut self, kinds: impl IntoIterator<Item = Kind>) -> PluginInfo {
        self.handles.extend(kinds);
        self
    }
}

impl Reply {
    /// A text reply (at most 2048 bytes, not empty).
    pub fn text(content: impl Into<String>) -> Reply {
        Reply::Text(content.into())
    }
    /// An image by media id.
    pub fn image(media_id: impl Into<String>) -> Reply {
        Reply::Image(media_id.into())
    }
    /// A voice message by media id.
    pub fn voice(media_id: impl Into<String>) -> Reply {
        Reply::Voice(media_id.into())
    }
    /// A video by media id.
    pub fn video(
        media_id: impl Into<String>,
        title: Option<String>,
        description: Option<String>,
    ) -> Reply {
        Reply::Video(VideoReply {
            media_id: media_id.into(),
            title,
            description,
        })
    }
    /// News: one article in reply to a user's message, up to eight to an event.
    pub fn news(articles: impl IntoIterator<Item = Article>) -> Reply {
        Reply::News(articles.into_iter().collect())
    }
    /// Hand the conversation to customer service.
    pub fn transfer_customer_service(kf_account: Option<String>) -> Reply {
        Reply::TransferCustomerService(kf_account)
    }
    /// Answer `success`: WeChat shows nothing and no later plugin runs.
    pub fn none() -> Reply {
        Reply::NoReply
    }
    /// Let the next plugin try.
    pub fn pass() -> Reply {
        Reply::Pass
    }
}

impl Article {
    pub fn new(
        title: impl Into<String>,
        description: impl Into<String>,
        pic_url: impl Into<String>,
        url: impl Into<String>,
    ) -> Article {
        Article {
            title: title.into(),
            description: description.into(),
            pic_url: pic_url.into(),
            url: url.into(),
        }
    }
}

/// Bridges a [`Plugin`] to the generated `Guest` trait; used by [`export_plugin!`].
#[doc(hidden)]
pub struct Export<P>(PhantomData<P>);

use bindings::exports::wechat::plugin::handler::Guest;

impl<P: Plugin> Guest for Export<P> {
    fn describe() -> PluginInfo {
        P::describe()
    }
    fn handle_text(ctx: Context, msg: TextMessage) -> Reply {
        P::handle_text(&ctx, msg)
    }
    fn handle_image(ctx: Context, msg: ImageMessage) -> Reply {
        P::handle_image(&ctx, msg)
    }
    fn handle_voice(ctx: Context, msg: VoiceMessage) -> Reply {
        P::handle_voice(&ctx, msg)
    }
    fn handle_video(ctx: Context, msg: VideoMessage) -> Reply {
        P::handle_video(&ctx, msg)
    }
    fn handle_shortvideo(ctx: Context, msg: VideoMessage) -> Reply {
        P::handle_shortvideo(&ctx, msg)
    }
    fn handle_location(ctx: Context, msg: LocationMessage) -> Reply {
        P::handle_location(&ctx, msg)
    }
    fn handle_link(ctx: Context, msg: LinkMessage) -> Reply {
        P::handle_link(&ctx, msg)
    }
    fn handle_event_subscribe(ctx: Context, ev: SubscribeEvent) -> Reply {
        P::handle_event_subscribe(&ctx, ev)
    }
    fn handle_event_unsubscribe(ctx: Context) -> Reply {
        P::handle_event_unsubscribe(&ctx)
    }
    fn handle_event_scan(ctx: Context, ev: ScanEvent) -> Reply {
        P::handle_event_scan(&ctx, ev)
    }
    fn handle_event_location(ctx: Context, ev: LocationEvent) -> Reply {
        P::handle_event_location(&ctx, ev)
    }
    fn handle_event_click(ctx: Context, ev: ClickEvent) -> Reply {
        P::handle_event_click(&ctx, ev)
    }
    fn handle_event_view(ctx: Context, ev: ViewEvent) -> Reply {
        P::handle_event_view(&ctx, ev)
    }
    fn handle_event_scancode_push(ctx: Context, ev: ScancodeEvent) -> Reply {
        P::handle_event_scancode_push(&ctx, ev)
    }
    fn handle_event_scancode_waitmsg(ctx: Context, ev: ScancodeEvent) -> Reply {
        P::handle_event_scancode_waitmsg(&ctx, ev)
    }
    fn handle_event_pic_sysphoto(ctx: Context, ev: PicEvent) -> Reply {
        P::handle_event_pic_sysphoto(&ctx, ev)
    }
    fn handle_event_pic_photo_or_album(ctx: Context, ev: PicEvent) -> Reply {
        P::handle_event_pic_photo_or_album(&ctx, ev)
    }
    fn handle_event_pic_weixin(ctx: Context, ev: PicEvent) -> Reply {
        P::handle_event_pic_weixin(&ctx, ev)
    }
    fn handle_event_location_select(ctx: Context, ev: LocationSelectEvent) -> Reply {
        P::handle_event_location_select(&ctx, ev)
    }
    fn handle_event(ctx: Context, ev: EventMessage) -> Reply {
        P::handle_event(&ctx, ev)
    }
    fn handle_unsupported(ctx: Context) -> Reply {
        P::handle_unsupported(&ctx)
    }
}

/// Exports a [`Plugin`] implementation as this component's
/// `wechat:plugin/handler@0.1.0`. Use once, at the crate root.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        type __WxhostSdkExport = $crate::Export<$plugin>;
        $crate::bindings::__export_world_plugin!(__WxhostSdkExport with_types_in $crate::bindings);
    };
}
