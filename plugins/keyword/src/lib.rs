//! `keyword`: auto-reply driven by config. `rules = "hello=Hi there!;price=See our menu"`:
//! a text equal to a keyword (trimmed, case-insensitive) gets its answer; others pass.
use wxhost_sdk::prelude::*;

struct Keyword;

impl Plugin for Keyword {
    fn describe() -> PluginInfo {
        PluginInfo::new("keyword", env!("CARGO_PKG_VERSION"))
            .priority(10)
            .handles([Kind::Text])
    }

    fn handle_text(_ctx: &Context, msg: TextMessage) -> Reply {
        let rules = config::get("rules").unwrap_or_default();
        let text = msg.content.trim();
        let hit = rules
            .split(';')
            .filter_map(|r| r.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(text));
        match hit {
            Some((k, answer)) => {
                log::with_fields(
                    log::Level::Info,
                    "keyword matched",
                    &[("keyword", k.trim())],
                );
                Reply::text(answer.trim())
            }
            None => Reply::pass(),
        }
    }
}

wxhost_sdk::export_plugin!(Keyword);
