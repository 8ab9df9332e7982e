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
//! The bindings are for `wechat:plugin@1.0.0`: the component exports one
//! `handle` function and this SDK calls the [`Plugin`] method for the
//! message's kind. A plugin built with it keeps loading on every later 1.x
//! host (docs/wit-versioning.md); kinds added after 1.0 reach its
//! [`Plugin::handle_event`] or [`Plugin::handle_unsupported`].
//!
//! Every call runs in a fresh instance: globals do not survive between
//! messages. Keep state with [`kv`].
//!
//! Long answers: [`long_text`] splits a text into WeChat-sized parts and
//! sends or keeps what does not fit in one reply.
//!
//! Web pages: [`web`] (a request/response pair, a small router,
//! [`export_web!`]) exports `wasi:http/incoming-handler`, mounted by the
//! host at `/app/<plugin-id>/` and sharing the plugin's kv.

use std::marker::PhantomData;

/// The raw bindings generated from `wit/plugin.wit` (`wechat:plugin@1.1.0`).
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_world_plugin",
        default_bindings_module: "wxhost_sdk::bindings",
    });
}

/// The bindings of the `schedule-export` world (the `schedule` export
/// alone), which [`export_scheduled_plugin!`] adds to [`bindings`]'
/// `plugin` world; its types are those of [`bindings`], so a plugin has one
/// set.
#[doc(hidden)]
pub mod scheduled_bindings {
    wit_bindgen::generate!({
        world: "schedule-export",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_world_schedule_export",
        default_bindings_module: "wxhost_sdk::scheduled_bindings",
        with: {
            "wechat:plugin/types@1.1.0": crate::bindings::wechat::plugin::types,
        },
    });
}

/// One tick of a schedule ([`Scheduled::handle_schedule`]): its name in the
/// config, when it was due (Unix ms) and the account it runs for.
pub use scheduled_bindings::exports::wechat::plugin::schedule::Tick;

mod helpers;
/// Why a kv call failed ([`kv::try_get`]).
pub use bindings::wechat::plugin::host::KvError;
pub use helpers::{config, kv, log, outbound, wechat};

pub mod long_text;
pub mod web;
/// The WASI bindings `export_web!` uses.
#[doc(hidden)]
pub use wasip2 as __wasip2;

/// Every message, event and reply type of the WIT `types` interface.
pub use bindings::wechat::plugin::types::*;

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::bindings::wechat::plugin::types::*;
    pub use crate::{Plugin, Scheduled, Tick, config, kv, log, outbound};
}

/// The one list of typed handlers, each with its `message` case:
/// `message` ones fall back to [`Plugin::handle_unsupported`], `event` ones
/// to [`Plugin::handle_event`]. Adding a kind to the WIT adds one line here;
/// the [`Plugin`] defaults and the dispatch of `handle` both come from it.
macro_rules! with_handlers {
    ($then:ident) => {
        $then! {
            message handle_text(TextMessage) = Text;
            message handle_image(ImageMessage) = Image;
            message handle_voice(VoiceMessage) = Voice;
            message handle_video(VideoMessage) = Video;
            message handle_shortvideo(VideoMessage) = Shortvideo;
            message handle_location(LocationMessage) = Location;
            message handle_link(LinkMessage) = Link;
            event handle_event_subscribe(SubscribeEvent) = EventSubscribe;
            event handle_event_unsubscribe() = EventUnsubscribe;
            event handle_event_scan(ScanEvent) = EventScan;
            event handle_event_location(LocationEvent) = EventLocation;
            event handle_event_click(ClickEvent) = EventClick;
            event handle_event_view(ViewEvent) = EventView;
            event handle_event_scancode_push(ScancodeEvent) = EventScancodePush;
            event handle_event_scancode_waitmsg(ScancodeEvent) = EventScancodeWaitmsg;
            event handle_event_pic_sysphoto(PicEvent) = EventPicSysphoto;
            event handle_event_pic_photo_or_album(PicEvent) = EventPicPhotoOrAlbum;
            event handle_event_pic_weixin(PicEvent) = EventPicWeixin;
            event handle_event_location_select(LocationSelectEvent) = EventLocationSelect;
            event handle_event_subscribe_msg_popup(SubscribeMsgPopupEvent) = EventSubscribeMsgPopup;
            event handle_event_subscribe_msg_change(SubscribeMsgChangeEvent) = EventSubscribeMsgChange;
            event handle_event_subscribe_msg_sent(SubscribeMsgSentEvent) = EventSubscribeMsgSent;
            event handle_event_template_send_job_finish(TemplateSendJobFinishEvent) = EventTemplateSendJobFinish;
            event handle_event_mass_send_job_finish(MassSendJobFinishEvent) = EventMassSendJobFinish;
        }
    };
}

/// One case of `handle`'s dispatch: returns the handler's reply if `msg` is
/// that case (a statement, as macros cannot expand to match arms).
macro_rules! dispatch_case {
    ($p:ident, $ctx:ident, $msg:ident, $case:ident, $name:ident, $ty:ty) => {
        if let Message::$case(payload) = $msg {
            return $p::$name(&$ctx, payload);
        }
    };
    ($p:ident, $ctx:ident, $msg:ident, $case:ident, $name:ident) => {
        if let Message::$case = $msg {
            return $p::$name(&$ctx);
        }
    };
}

/// Where an unimplemented handler goes.
macro_rules! fallback {
    (message, $ctx:ident) => {
        Self::handle_unsupported($ctx)
    };
    (event, $ctx:ident) => {
        Self::handle_event($ctx, $ctx.event_message())
    };
}

macro_rules! plugin_trait {
    ($($cat:ident $name:ident($($ty:ty)?) = $case:ident;)*) => {
        /// A plugin. Implement [`Plugin::describe`] and the handlers for the
        /// kinds you declare; every other handler falls back:
        /// a specific event → [`Plugin::handle_event`] →
        /// [`Plugin::handle_unsupported`] → [`Reply::Pass`]; a typed message →
        /// [`Plugin::handle_unsupported`] → pass.
        ///
        /// The host only calls a handler for kinds listed in
        /// `describe().handles` (`Kind::Event` covers every event,
        /// `Kind::Unsupported` covers messages the host has no typed form for).
        pub trait Plugin {
            /// Name, version, priority (higher runs first) and the kinds handled.
            fn describe() -> PluginInfo;
            $(
                #[allow(unused_variables)]
                fn $name(ctx: &Context $(, payload: $ty)?) -> Reply {
                    fallback!($cat, ctx)
                }
            )*
            /// Any event (the generic form of every specific one above).
            fn handle_event(ctx: &Context, _ev: EventMessage) -> Reply {
                Self::handle_unsupported(ctx)
            }
            /// Anything else; `ctx.fields` and `ctx.raw` hold the whole message.
            fn handle_unsupported(_ctx: &Context) -> Reply {
                Reply::Pass
            }
        }

        impl<P: Plugin> Guest for Export<P> {
            fn describe() -> PluginInfo {
                P::describe()
            }
            fn handle(ctx: Context, msg: Message) -> Reply {
                $( dispatch_case!(P, ctx, msg, $case, $name $(, $ty)?); )*
                match msg {
                    Message::Event(ev) => P::handle_event(&ctx, ev),
                    _ => P::handle_unsupported(&ctx),
                }
            }
        }
    };
}

with_handlers!(plugin_trait);

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

/// A plugin that also runs on schedules (`[plugin.<id>.schedules]` in the
/// host's config: `daily = "0 30 8 * * *"`). Export it with
/// [`export_scheduled_plugin!`]. A run has the plugin's kv, config, API
/// calls and outbound queue, for the tick's account; it is not a reply to
/// anyone, so it sends with [`outbound`].
pub trait Scheduled: Plugin {
    /// One tick of schedule `tick.name`. Runs once per tick across all the
    /// host's instances; an `Err` is recorded as the run's failure (shown
    /// in the console with the run's log lines).
    fn handle_schedule(tick: Tick) -> Result<(), String>;
}

impl<P: Scheduled> scheduled_bindings::exports::wechat::plugin::schedule::Guest for Export<P> {
    fn handle_schedule(tick: Tick) -> Result<(), String> {
        P::handle_schedule(tick)
    }
}

/// Exports a [`Scheduled`] plugin: its message handler and its schedule
/// handler. Use instead of [`export_plugin!`], once, at the crate root.
#[macro_export]
macro_rules! export_scheduled_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        type __WxhostSdkExport = $crate::Export<$plugin>;
        $crate::bindings::__export_world_plugin!(__WxhostSdkExport with_types_in $crate::bindings);
        $crate::scheduled_bindings::__export_world_schedule_export!(__WxhostSdkExport with_types_in $crate::scheduled_bindings);
    };
}

/// Exports a [`Plugin`] implementation as this component's
/// `wechat:plugin/handler@1.0.0`. Use once, at the crate root.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        type __WxhostSdkExport = $crate::Export<$plugin>;
        $crate::bindings::__export_world_plugin!(__WxhostSdkExport with_types_in $crate::bindings);
    };
}
