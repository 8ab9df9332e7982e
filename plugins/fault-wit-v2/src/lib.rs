//! Test-only: a plugin built against `wechat:plugin@2.0.0` (see `wit/`), a
//! major this host (0.2.x and 1.x) must refuse at load, naming both.
wit_bindgen::generate!({ world: "plugin", path: "wit" });

use exports::wechat::plugin::handler::Guest;
use wechat::plugin::types::*;

struct V2;

impl Guest for V2 {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "fault-wit-v2".into(),
            version: "2.0.0".into(),
            priority: 0,
            handles: vec![Kind::Text],
        }
    }
    fn handle_text(_: Context, m: TextMessage) -> Reply {
        Reply::Text(m.content)
    }
    fn handle_image(_: Context, _: ImageMessage) -> Reply {
        Reply::Pass
    }
    fn handle_voice(_: Context, _: VoiceMessage) -> Reply {
        Reply::Pass
    }
    fn handle_video(_: Context, _: VideoMessage) -> Reply {
        Reply::Pass
    }
    fn handle_shortvideo(_: Context, _: VideoMessage) -> Reply {
        Reply::Pass
    }
    fn handle_location(_: Context, _: LocationMessage) -> Reply {
        Reply::Pass
    }
    fn handle_link(_: Context, _: LinkMessage) -> Reply {
        Reply::Pass
    }
    fn handle_event_subscribe(_: Context, _: SubscribeEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_unsubscribe(_: Context) -> Reply {
        Reply::Pass
    }
    fn handle_event_scan(_: Context, _: ScanEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_location(_: Context, _: LocationEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_click(_: Context, _: ClickEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_view(_: Context, _: ViewEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_scancode_push(_: Context, _: ScancodeEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_scancode_waitmsg(_: Context, _: ScancodeEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_pic_sysphoto(_: Context, _: PicEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_pic_photo_or_album(_: Context, _: PicEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_pic_weixin(_: Context, _: PicEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event_location_select(_: Context, _: LocationSelectEvent) -> Reply {
        Reply::Pass
    }
    fn handle_event(_: Context, _: EventMessage) -> Reply {
        Reply::Pass
    }
    fn handle_unsupported(_: Context) -> Reply {
        Reply::Pass
    }
}

export!(V2);
