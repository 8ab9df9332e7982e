//! Test-only, for `bench/soak.sh`: misbehaves on some messages and writes
//! to kv on others, so a soak run mixes faults and storage with normal
//! traffic. Text `panic …` panics, `spin …` loops until the time limit,
//! `bomb …` allocates until the memory limit, `count KEY` adds one to the
//! kv counter KEY and answers `count KEY N`; anything else passes to the
//! next plugin.
use wxhost_sdk::prelude::*;

struct Soak;

impl Plugin for Soak {
    fn describe() -> PluginInfo {
        PluginInfo::new("soak", env!("CARGO_PKG_VERSION"))
            .priority(50)
            .handles([Kind::Text])
    }

    fn handle_text(_ctx: &Context, msg: TextMessage) -> Reply {
        let (verb, rest) = msg.content.split_once(' ').unwrap_or((&msg.content, ""));
        match verb {
            "panic" => panic!("soak: asked to panic ({rest})"),
            "spin" => {
                let mut n = rest.len() as u64;
                loop {
                    n = core::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    core::hint::black_box(&hoard);
                }
            }
            "count" => match kv::incr(rest) {
                Ok(n) => Reply::text(format!("count {rest} {n}")),
                Err(e) => Reply::text(format!("count failed: {e}")),
            },
            _ => Reply::pass(),
        }
    }
}

wxhost_sdk::export_plugin!(Soak);
