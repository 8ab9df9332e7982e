//! `{{name}}`: a wxhost plugin. It answers a text with the same text.
use wxhost_sdk::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn describe() -> PluginInfo {
        PluginInfo::new("{{name}}", env!("CARGO_PKG_VERSION")).handles([Kind::Text])
    }

    fn handle_text(_ctx: &Context, msg: TextMessage) -> Reply {
        Reply::text(msg.content)
    }
}

wxhost_sdk::export_plugin!(Echo);
