//! `wxhost qrcode create | list | show`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};

use crate::api::qrcode::{
    DEFAULT_EXPIRE_SECONDS, QrCreate, QrKind, Scene, render_png, render_svg, showqrcode_url,
};
use crate::config::Config;
use crate::store::{QrRecord, format_utc, now_secs};

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

impl QrcodeCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let wechat = super::open_wechat(config)?;
        match self {
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
                let list = wechat.qrcodes().list(limit).await?;
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
                    wechat.qrcodes().permanent_count().await?,
                    wechat.options().permanent_qr_limit
                )?;
            }
            QrcodeCommand::Show { code, render: how } => {
                let store = wechat.qrcodes();
                let by_id = async |s: &str| match s.parse::<i64>() {
                    Ok(id) => store.by_id(id).await,
                    Err(_) => Ok(None),
                };
                let found = match code.strip_prefix('#').or_else(|| code.strip_prefix("id:")) {
                    Some(id) => by_id(id).await?,
                    // A scene first (also expired codes), then an id.
                    None => match store.by_scene_at(&code, i64::MIN).await? {
                        Some(r) => Some(r),
                        None => by_id(&code).await?,
                    },
                };
                let record = found
                    .with_context(|| format!("no stored QR code with scene or id `{code}`"))?;
                print_qr(out, &record)?;
                render(out, &record, &how)?;
            }
        }
        Ok(())
    }
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
