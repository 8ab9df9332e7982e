//! `wxhost token status | refresh`: the stored access_token's state (never
//! the token itself), or a fetch now.

use std::io::Write;

use clap::Subcommand;

use crate::config::{Config, TokenEndpoint};
use crate::store::format_utc;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show the stored access_token's state: fingerprint, expiry, fetches today (never the token).
    Status,
    /// Fetch a new access_token now.
    Refresh {
        /// stable_token force-refresh: invalidates the current token everywhere at once
        /// (for a leaked token; WeChat allows 20 a day, 30 s apart).
        #[arg(long)]
        force: bool,
    },
}

impl TokenCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let wechat = super::open_wechat(config)?;
        let status = match self {
            TokenCommand::Status => wechat.tokens().status().await?,
            TokenCommand::Refresh { force } => wechat.tokens().refresh(force).await?,
        };
        let endpoint = match config.wechat.token_endpoint {
            TokenEndpoint::Stable => "stable (/cgi-bin/stable_token)",
            TokenEndpoint::Classic => "classic (/cgi-bin/token)",
        };
        writeln!(out, "app_id:         {}", config.wechat.app_id)?;
        writeln!(out, "endpoint:       {endpoint}")?;
        match (
            &status.fingerprint,
            status.expires_at,
            status.fetched_at,
            status.seconds_left,
        ) {
            (Some(fp), Some(exp), Some(fetched), Some(left)) => {
                writeln!(
                    out,
                    "token:          stored, fingerprint {fp} (the token itself is never shown)"
                )?;
                let when = if left > 0 {
                    format!("in {left} s")
                } else {
                    format!("{} s ago", -left)
                };
                writeln!(out, "expires:        {} ({when})", format_utc(exp))?;
                writeln!(out, "fetched:        {}", format_utc(fetched))?;
            }
            _ => writeln!(out, "token:          none stored")?,
        }
        writeln!(
            out,
            "fetches today:  {} ({}, Beijing time)",
            status.fetches_today, status.day
        )?;
        writeln!(
            out,
            "next API call:  {}",
            if status.needs_refresh {
                "fetches a new token first"
            } else {
                "uses the stored token"
            }
        )?;
        Ok(())
    }
}
