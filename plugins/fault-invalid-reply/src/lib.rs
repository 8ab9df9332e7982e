//! Test-only: returns replies the host must refuse (empty text, too many articles).
use wxhost_sdk::prelude::*;

struct FaultInvalidReply;

impl Plugin for FaultInvalidReply {
    fn describe() -> PluginInfo {
        PluginInfo::new("fault-invalid-reply", "0.0.0")
            .priority(100)
            .handles([Kind::Text, Kind::EventClick])
    }

    fn handle_text(_ctx: &Context, _msg: TextMessage) -> Reply {
        Reply::text("")
    }

    fn handle_event_click(_ctx: &Context, _ev: ClickEvent) -> Reply {
        Reply::news((0..9).map(|i| Article::new(format!("a{i}"), "", "", "https://example.com")))
    }
}

wxhost_sdk::export_plugin!(FaultInvalidReply);
