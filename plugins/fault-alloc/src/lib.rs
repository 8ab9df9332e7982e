//! Test-only: allocates (and touches) memory without bound on every text message.
use wxhost_sdk::prelude::*;

struct FaultAlloc;

impl Plugin for FaultAlloc {
    fn describe() -> PluginInfo {
        PluginInfo::new("fault-alloc", "0.0.0")
            .priority(100)
            .handles([Kind::Text])
    }

    fn handle_text(_ctx: &Context, _msg: TextMessage) -> Reply {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            core::hint::black_box(&hoard);
        }
    }
}

wxhost_sdk::export_plugin!(FaultAlloc);
