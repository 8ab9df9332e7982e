//! `wxhost open list | recover`: the accounts that authorized this
//! deployment's Open Platform component, and their refresh tokens re-seeded
//! from `api_get_authorizer_list` after a lost store (running instances
//! serve the recovered accounts within a second or two).

use std::io::Write;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;
use crate::open::Platform;
use crate::store::format_utc;

#[derive(Debug, Subcommand)]
pub enum OpenCommand {
    /// List the authorized accounts: app id, gh_ id, name, permission sets, state.
    List,
    /// Re-seed every authorizer's refresh token from api_get_authorizer_list (after a lost store).
    Recover,
}

impl OpenCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let location = config.store_location(None)?;
        let stores = crate::store::Stores::open(&location)
            .with_context(|| format!("opening the store ({})", location.describe()))?;
        let platform = Platform::from_config(config, &stores)?
            .context("the configuration has no [open_platform]")?;
        match self {
            OpenCommand::List => {
                let list = platform.authorizers().await?;
                if list.is_empty() {
                    writeln!(out, "no authorized accounts")?;
                }
                for (app_id, info) in list {
                    let sets: Vec<String> = info.func_info.iter().map(u32::to_string).collect();
                    writeln!(
                        out,
                        "{app_id}  {}  {}  {}  sets [{}]  since {}",
                        if info.user_name.is_empty() {
                            "-"
                        } else {
                            &info.user_name
                        },
                        if info.nick_name.is_empty() {
                            "-"
                        } else {
                            &info.nick_name
                        },
                        info.state.as_str(),
                        sets.join(","),
                        format_utc(info.authorized_at)
                    )?;
                }
            }
            OpenCommand::Recover => {
                let r = platform.recover().await?;
                for a in &r.restored {
                    writeln!(out, "restored {a}")?;
                }
                for a in &r.without_token {
                    writeln!(
                        out,
                        "{a}: listed without a refresh token: its owner must authorize again"
                    )?;
                }
                writeln!(
                    out,
                    "{} restored, {} without a refresh token",
                    r.restored.len(),
                    r.without_token.len()
                )?;
            }
        }
        Ok(())
    }
}
