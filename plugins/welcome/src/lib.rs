//! `welcome`: greets new followers and QR scans, naming the QR scene (and the
//! note stored with the code when wxhost created it); counts visits per scene in kv.
use wxhost_sdk::prelude::*;

struct Welcome;

fn greet(scene: Option<&str>, qr: Option<QrCode>) -> Reply {
    let Some(scene) = scene else {
        return Reply::text("Welcome!");
    };
    let visits = kv::incr(&format!("scene:{scene}")).unwrap_or(0);
    let note = qr
        .and_then(|q| q.note)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    log::with_fields(
        log::Level::Info,
        "welcome",
        &[("scene", scene), ("visits", &visits.to_string())],
    );
    Reply::text(format!("Welcome! You came from scene {scene}{note}."))
}

impl Plugin for Welcome {
    fn describe() -> PluginInfo {
        PluginInfo::new("welcome", env!("CARGO_PKG_VERSION"))
            .handles([Kind::EventSubscribe, Kind::EventScan])
    }

    fn handle_event_subscribe(_ctx: &Context, ev: SubscribeEvent) -> Reply {
        greet(ev.scene.as_deref(), ev.qr_code)
    }

    fn handle_event_scan(_ctx: &Context, ev: ScanEvent) -> Reply {
        greet(Some(&ev.scene), ev.qr_code)
    }
}

wxhost_sdk::export_plugin!(Welcome);
