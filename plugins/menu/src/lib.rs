//! `menu`: answers custom-menu clicks by key; the answer for key `K` is config
//! value `click.K`, else a built-in one; unknown keys pass.
use wxhost_sdk::prelude::*;

struct Menu;

impl Plugin for Menu {
    fn describe() -> PluginInfo {
        PluginInfo::new("menu", env!("CARGO_PKG_VERSION")).handles([Kind::EventClick])
    }

    fn handle_event_click(_ctx: &Context, ev: ClickEvent) -> Reply {
        if let Some(answer) = config::get(&format!("click.{}", ev.key)) {
            return Reply::text(answer);
        }
        match ev.key.as_str() {
            "HELP" => Reply::text("Send any text and we will answer."),
            "NEWS" => Reply::news([Article::new(
                "Today",
                "What's new",
                "",
                "https://example.com/news",
            )]),
            _ => Reply::pass(),
        }
    }
}

wxhost_sdk::export_plugin!(Menu);
