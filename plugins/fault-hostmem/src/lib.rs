//! Test-only: asks the *host* to allocate on its behalf, far past what a
//! call may (the guest's own memory stays small):
//! - `random:<n>`: `wasi:random` `get-random-bytes(n)`;
//! - `fields:<count>:<len>`: one `log` call with `count` fields that all
//!   point at the same `len`-byte string (the guest holds `len` bytes, the
//!   host would copy `count * len`);
//! - `kv:<n>`: `kv-set` of an `n`-byte value;
//! - `reply:<n>`: a text reply of `n` bytes.
//!
//! Each answers with what it got back, so a refusal that returns (instead
//! of trapping) is visible to the test.
use wxhost_sdk::prelude::*;

mod wasi_random {
    wit_bindgen::generate!({
        inline: "
            package wasi:random@0.2.0;
            interface random {
                get-random-bytes: func(len: u64) -> list<u8>;
                get-random-u64: func() -> u64;
            }
            world imports { import random; }
        ",
    });
}

// The `log` import at the canonical ABI, to pass aliased strings (the SDK's
// binding takes owned strings, which would cost the guest `count * len`).
#[link(wasm_import_module = "wechat:plugin/host@1.0.0")]
unsafe extern "C" {
    #[link_name = "log"]
    fn raw_log(level: i32, msg: *const u8, msg_len: usize, fields: *const u32, fields_len: usize);
}

struct FaultHostmem;

impl Plugin for FaultHostmem {
    fn describe() -> PluginInfo {
        PluginInfo::new("fault-hostmem", "0.0.0")
            .priority(100)
            .handles([Kind::Text])
    }

    fn handle_text(_ctx: &Context, msg: TextMessage) -> Reply {
        let (cmd, arg) = msg.content.split_once(':').unwrap_or((&msg.content, ""));
        let n = |s: &str| s.parse::<usize>().unwrap_or(0);
        match cmd {
            "random" => {
                let bytes = wasi_random::wasi::random::random::get_random_bytes(n(arg) as u64);
                Reply::text(format!("random {}", bytes.len()))
            }
            "fields" => {
                let (count, len) = arg.split_once(':').unwrap_or(("0", "0"));
                let value = vec![b'x'; n(len)];
                let (ptr, len) = (value.as_ptr() as u32, value.len() as u32);
                // Each element is a (string, string) tuple: four u32s.
                let fields: Vec<[u32; 4]> = vec![[ptr, 1, ptr, len]; n(count)];
                // SAFETY: every pointer/length pair points into `value`,
                // which outlives the call; the layout is the canonical ABI's.
                unsafe {
                    raw_log(2, b"m".as_ptr(), 1, fields.as_ptr().cast(), fields.len());
                }
                Reply::text(format!("logged {} fields", fields.len()))
            }
            "kv" => match kv::set("big", &vec![7u8; n(arg)]) {
                Ok(()) => Reply::text("stored"),
                Err(e) => Reply::text(format!("refused: {e}")),
            },
            "reply" => Reply::text("x".repeat(n(arg))),
            _ => Reply::pass(),
        }
    }
}

wxhost_sdk::export_plugin!(FaultHostmem);
