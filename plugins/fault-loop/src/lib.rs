//! Test-only: loops forever on every text message.
use wxhost_sdk::prelude::*;

struct FaultLoop;

impl Plugin for FaultLoop {
    fn describe() -> PluginInfo {
        PluginInfo::new("fault-loop", "0.0.0")
            .priority(100)
            .handles([Kind::Text])
    }

    fn handle_text(_ctx: &Context, msg: TextMessage) -> Reply {
        let mut n = msg.content.len() as u64;
        loop {
            n = core::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

wxhost_sdk::export_plugin!(FaultLoop);
