//! Test-only: `describe` traps (panics), so the host must refuse to load it.
use wxhost_sdk::prelude::*;

struct FaultDescribe;

impl Plugin for FaultDescribe {
    fn describe() -> PluginInfo {
        panic!("describe fails on purpose")
    }

    fn handle_text(_ctx: &Context, _msg: TextMessage) -> Reply {
        Reply::text("never called")
    }
}

wxhost_sdk::export_plugin!(FaultDescribe);
