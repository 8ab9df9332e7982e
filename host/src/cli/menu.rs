//! `wxhost menu publish | validate | show | history | rollback | delete`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::api::menu::Menu;
use crate::config::Config;
use crate::store::format_utc;

#[derive(Debug, Subcommand)]
pub enum MenuCommand {
    /// Validate FILE (WeChat's JSON format, or TOML if it ends in .toml), publish it, keep it as a new version.
    Publish {
        file: PathBuf,
        /// Why this version (shown in `menu history`).
        #[arg(long)]
        note: Option<String>,
    },
    /// Check FILE against WeChat's limits without publishing.
    Validate { file: PathBuf },
    /// Print the current version (or VERSION), or with --remote what WeChat has.
    Show {
        version: Option<i64>,
        /// Ask WeChat (menu/get) instead of the store.
        #[arg(long, conflicts_with = "version")]
        remote: bool,
    },
    /// List every version with its time, note and whether it is current.
    History,
    /// Publish stored VERSION again and make it current.
    Rollback { version: i64 },
    /// Delete the menu on WeChat (default and conditional menus); the history is kept.
    Delete,
}

fn load_menu(file: &Path) -> anyhow::Result<Menu> {
    let menu = Menu::load(file)?;
    menu.validate()?;
    Ok(menu)
}

impl MenuCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let command = self;
        if let MenuCommand::Validate { file } = &command {
            let menu = load_menu(file)?;
            writeln!(
                out,
                "{}: valid ({} buttons, {} conditional menus)",
                file.display(),
                menu.button.len(),
                menu.conditionalmenu.len()
            )?;
            return Ok(());
        }
        let wechat = super::open_wechat(config)?;
        match command {
            MenuCommand::Validate { .. } => {}
            MenuCommand::Publish { file, note } => {
                let menu = load_menu(&file)?;
                let v = wechat.publish_menu(&menu, note.as_deref()).await?;
                writeln!(
                    out,
                    "published menu version {} ({} conditional menus)",
                    v.id,
                    v.conditional_menu_ids.len()
                )?;
            }
            MenuCommand::Show { remote: true, .. } => match wechat.remote_menu().await? {
                Some(v) => writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?,
                None => writeln!(out, "WeChat has no menu for this account")?,
            },
            MenuCommand::Show {
                version,
                remote: false,
            } => {
                let v = match version {
                    Some(id) => wechat
                        .menus()
                        .get(id)
                        .await?
                        .with_context(|| format!("no menu version {id}"))?,
                    None => match wechat.menus().current().await? {
                        Some(v) => v,
                        None => {
                            writeln!(out, "no current menu version (see `wxhost menu history`)")?;
                            return Ok(());
                        }
                    },
                };
                writeln!(
                    out,
                    "version {}{}{}",
                    v.id,
                    if v.current { " (current)" } else { "" },
                    v.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                )?;
                if let Some(partial) = &v.partial {
                    writeln!(
                        out,
                        "partly live (the last push stopped halfway): {partial}"
                    )?;
                }
                let pretty = serde_json::from_str::<serde_json::Value>(&v.json)
                    .and_then(|j| serde_json::to_string_pretty(&j))
                    .unwrap_or(v.json);
                writeln!(out, "{pretty}")?;
            }
            MenuCommand::History => {
                let history = wechat.menus().history().await?;
                if history.is_empty() {
                    writeln!(out, "no menu versions yet")?;
                }
                for v in history {
                    let published = match (&v.partial, v.published_at) {
                        (Some(partial), _) => format!("PARTLY ({partial})"),
                        (None, Some(at)) => format_utc(at),
                        (None, None) => "not published (push failed)".into(),
                    };
                    writeln!(
                        out,
                        "{} {:>4}  created {}  published {}{}",
                        if v.current { "*" } else { " " },
                        v.id,
                        format_utc(v.created_at),
                        published,
                        v.note.map(|n| format!("  — {n}")).unwrap_or_default()
                    )?;
                }
            }
            MenuCommand::Rollback { version } => {
                let v = wechat.rollback_menu(version).await?;
                writeln!(out, "menu version {} is published and current", v.id)?;
            }
            MenuCommand::Delete => {
                wechat.delete_menu().await?;
                writeln!(
                    out,
                    "menu deleted on WeChat (history kept; `wxhost menu rollback VERSION` restores one)"
                )?;
            }
        }
        Ok(())
    }
}
