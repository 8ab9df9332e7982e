//! Test-only: panics on every text message.
use wxhost_sdk::prelude::*;

struct FaultPanic;

impl Plugin for FaultPanic {
    fn describe() -> PluginInfo {
        PluginInfo::new("fault-panic", "0.0.0")
            .priority(100)
            .handles([Kind::Text])
    }

    fn handle_text(_ctx: &Context, msg: TextMessage) -> Reply {
        panic!("plugin bug: cannot handle {:?}", msg.content)
    }
}

wxhost_sdk::export_plugin!(FaultPanic);
