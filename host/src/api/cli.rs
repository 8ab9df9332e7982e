//! The `wxhost token`, `wxhost menu` and `wxhost qrcode` subcommands. They
//! read the same config and environment as `serve` and share its store, so
//! they reuse the server's access_token instead of fetching their own.
//!
//! Output goes to the `out` writer (stdout in `main`, a buffer in tests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};

use super::Wechat;
use super::menu::Menu;
use super::qrcode::{
    DEFAULT_EXPIRE_SECONDS, QrCreate, QrKind, Scene, render_png, render_svg, showqrcode_url,
};
use crate::config::{Config, TokenEndpoint};
use crate::store::sqlite::SqliteStore;
use crate::store::{QrRecord, Store, format_utc, now_secs};

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

#[derive(Debug, Subcommand)]
pub enum QrcodeCommand {
    /// Create a parametric QR code and store it.
    Create(QrcodeCreateArgs),
    /// List stored QR codes, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a stored QR code by scene, or by id as `#ID`; optionally render it.
    Show {
        /// A scene (id or string), or `#ID` for a stored code's id.
        code: String,
        #[command(flatten)]
        render: RenderArgs,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").required(true).args(["temporary", "permanent"])))]
#[command(group(ArgGroup::new("scene").required(true).args(["scene_id", "scene_str"])))]
pub struct QrcodeCreateArgs {
    /// A code that expires (see --expire-seconds).
    #[arg(long)]
    pub temporary: bool,
    /// Lifetime of a temporary code, at most 2592000 (30 days). Default 604800 (7 days).
    #[arg(long, conflicts_with = "permanent")]
    pub expire_seconds: Option<u32>,
    /// A code that never expires (at most 100,000 per account; scene id 1..=100000).
    #[arg(long)]
    pub permanent: bool,
    #[arg(long)]
    pub scene_id: Option<u32>,
    /// 1 to 64 bytes.
    #[arg(long)]
    pub scene_str: Option<String>,
    /// Stored with the code (and handed to plugins with its events).
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write a PNG of the code to this file.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Write an SVG of the code to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// The API facade over the config's store, as the CLI uses it.
pub fn open(config: &Config) -> anyhow::Result<Wechat> {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&config.storage.data_dir).with_context(|| {
            format!("opening the store in {}", config.storage.data_dir.display())
        })?,
    );
    Ok(Wechat::new(config, store)?)
}

pub async fn run_token(
    config: &Config,
    command: TokenCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let wechat = open(config)?;
    let status = match command {
        TokenCommand::Status => wechat.tokens().status()?,
        TokenCommand::Refresh { force } => wechat.tokens().refresh(force).await?,
    };
    let endpoint = match status.endpoint {
        TokenEndpoint::Stable => "stable (/cgi-bin/stable_token)",
        TokenEndpoint::Classic => "classic (/cgi-bin/token)",
    };
    writeln!(out, "app_id:         {}", status.app_id)?;
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

fn load_menu(file: &Path) -> anyhow::Result<Menu> {
    let menu = Menu::load(file)?;
    menu.validate()?;
    Ok(menu)
}

pub async fn run_menu(
    config: &Config,
    command: MenuCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
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
    let wechat = open(config)?;
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
                    .store()
                    .menu_get(id)?
                    .with_context(|| format!("no menu version {id}"))?,
                None => match wechat.store().menu_current()? {
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
            let pretty = serde_json::from_str::<serde_json::Value>(&v.json)
                .and_then(|j| serde_json::to_string_pretty(&j))
                .unwrap_or(v.json);
            writeln!(out, "{pretty}")?;
        }
        MenuCommand::History => {
            let history = wechat.store().menu_history()?;
            if history.is_empty() {
                writeln!(out, "no menu versions yet")?;
            }
            for v in history {
                let published = v
                    .published_at
                    .map(format_utc)
                    .unwrap_or_else(|| "not published (push failed)".into());
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

pub async fn run_qrcode(
    config: &Config,
    command: QrcodeCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let wechat = open(config)?;
    match command {
        QrcodeCommand::Create(args) => {
            let scene = match (args.scene_id, args.scene_str) {
                (Some(id), _) => Scene::Id(id),
                (None, Some(s)) => Scene::Str(s),
                (None, None) => bail!("give --scene-id or --scene-str"),
            };
            let kind = if args.permanent {
                QrKind::Permanent
            } else {
                QrKind::Temporary {
                    expire_seconds: args.expire_seconds.unwrap_or(DEFAULT_EXPIRE_SECONDS),
                }
            };
            let record = wechat
                .create_qrcode(&QrCreate {
                    scene,
                    kind,
                    note: args.note,
                })
                .await?;
            print_qr(out, &record)?;
            render(out, &record, &args.render)?;
        }
        QrcodeCommand::List { limit } => {
            let list = wechat.store().qrcode_list(limit)?;
            if list.is_empty() {
                writeln!(out, "no QR codes stored")?;
            }
            let now = now_secs();
            for r in list {
                let c = &r.code;
                let kind = match c.expires_at {
                    None => "permanent".to_owned(),
                    Some(t) if (t as i64) <= now => "expired".to_owned(),
                    Some(t) => format!("until {}", format_utc(t as i64)),
                };
                writeln!(
                    out,
                    "#{:<5} scene {:<20} {:<28} {}",
                    r.id,
                    c.scene,
                    kind,
                    c.note.as_deref().unwrap_or("")
                )?;
            }
            writeln!(
                out,
                "permanent codes: {} of {}",
                wechat.store().qrcode_permanent_count()?,
                wechat.options().permanent_qr_limit
            )?;
        }
        QrcodeCommand::Show { code, render: how } => {
            let store = wechat.store();
            let by_id = |s: &str| {
                s.parse::<i64>()
                    .ok()
                    .map(|id| store.qrcode_by_id(id))
                    .transpose()
            };
            let found = match code.strip_prefix('#').or_else(|| code.strip_prefix("id:")) {
                Some(id) => by_id(id)?.flatten(),
                // A scene first (also expired codes), then an id.
                None => match store.qrcode_by_scene_at(&code, i64::MIN)? {
                    Some(r) => Some(r),
                    None => by_id(&code)?.flatten(),
                },
            };
            let record =
                found.with_context(|| format!("no stored QR code with scene or id `{code}`"))?;
            print_qr(out, &record)?;
            render(out, &record, &how)?;
        }
    }
    Ok(())
}

fn print_qr(out: &mut dyn Write, r: &QrRecord) -> anyhow::Result<()> {
    let c = &r.code;
    writeln!(out, "id:        {}", r.id)?;
    writeln!(out, "scene:     {}", c.scene)?;
    match c.expires_at {
        None => writeln!(out, "kind:      permanent")?,
        Some(t) => writeln!(
            out,
            "kind:      temporary, expires {}{}",
            format_utc(t as i64),
            if (t as i64) <= now_secs() {
                " (expired)"
            } else {
                ""
            }
        )?,
    }
    if let Some(note) = &c.note {
        writeln!(out, "note:      {note}")?;
    }
    writeln!(out, "created:   {}", format_utc(c.created_at as i64))?;
    writeln!(out, "ticket:    {}", c.ticket)?;
    writeln!(out, "content:   {}", c.url)?;
    writeln!(out, "image:     {}", showqrcode_url(&c.ticket))?;
    Ok(())
}

fn render(out: &mut dyn Write, r: &QrRecord, how: &RenderArgs) -> anyhow::Result<()> {
    if let Some(path) = &how.png {
        std::fs::write(path, render_png(&r.code.url, 8)?)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "wrote {}", path.display())?;
    }
    if let Some(path) = &how.svg {
        std::fs::write(path, render_svg(&r.code.url)?)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}
