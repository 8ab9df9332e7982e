//! `wxhost send template|subscribe|customer|mass …` and `wxhost send --file
//! jobs.jsonl`: queue outbound jobs in the deployment's outbound queue
//! (`outbound.db` in the data dir), where the running server's worker
//! picks them up. Every job is checked exactly as the admin API checks it;
//! a file is queued whole or not at all, an error naming its line.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::config::Config;
use crate::outbound::job::JobSpec;
use crate::outbound::{Outbound, SubmitError};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SendCommand {
    #[command(subcommand)]
    kind: Option<SendKind>,
    /// Queue every job of a JSON Lines file (one job object per line, the
    /// admin API's job JSON).
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum SendKind {
    /// A template message (模板消息).
    Template {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        template_id: String,
        /// WeChat's `data`: `{"thing1": {"value": "…"}}`.
        #[arg(long)]
        data: String,
        #[arg(long)]
        url: Option<String>,
        /// WeChat's `miniprogram`: `{"appid": …, "pagepath": …}`.
        #[arg(long)]
        miniprogram: Option<String>,
    },
    /// A subscription notification (订阅通知, `bizsend`).
    Subscribe {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        template_id: String,
        #[arg(long)]
        data: String,
        #[arg(long)]
        page: Option<String>,
    },
    /// A customer-service message (客服消息; 48 h after the user's last push).
    Customer {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        message: MessageArgs,
        /// A template or subscription job sent instead when the window is
        /// closed: `{"channel": "template", "template_id": …, "data": …}`.
        #[arg(long)]
        fallback: Option<String>,
    },
    /// A mass message (群发) to a tag or a list of OpenIDs.
    Mass {
        /// Comma-separated OpenIDs (at least 2).
        #[arg(long, conflicts_with = "tag_id")]
        to: Option<String>,
        #[arg(long)]
        tag_id: Option<u64>,
        #[command(flatten)]
        message: MessageArgs,
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// The recipient's OpenID.
    #[arg(long)]
    to: String,
    /// Idempotency key: a second job with it returns the first.
    #[arg(long)]
    key: Option<String>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct MessageArgs {
    /// A text message.
    #[arg(long)]
    text: Option<String>,
    /// WeChat's message body without the recipient:
    /// `{"msgtype": "image", "image": {"media_id": …}}`.
    #[arg(long)]
    message: Option<String>,
}

fn parse_json(flag: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("--{flag} is not JSON"))
}

impl MessageArgs {
    fn value(&self) -> anyhow::Result<Value> {
        match (&self.text, &self.message) {
            (Some(t), _) => Ok(json!({"msgtype": "text", "text": {"content": t}})),
            (None, Some(m)) => parse_json("message", m),
            (None, None) => bail!("give --text or --message"),
        }
    }
}

impl SendKind {
    fn job(&self) -> anyhow::Result<Value> {
        let opt = |v: &Option<String>| v.as_ref().map(|s| json!(s));
        Ok(match self {
            SendKind::Template {
                common,
                template_id,
                data,
                url,
                miniprogram,
            } => json!({"channel": "template", "to": common.to, "template_id": template_id,
                        "data": parse_json("data", data)?, "url": opt(url),
                        "miniprogram": miniprogram.as_deref().map(|m| parse_json("miniprogram", m)).transpose()?,
                        "key": opt(&common.key)}),
            SendKind::Subscribe {
                common,
                template_id,
                data,
                page,
            } => json!({"channel": "subscribe", "to": common.to, "template_id": template_id,
                        "data": parse_json("data", data)?, "page": opt(page), "key": opt(&common.key)}),
            SendKind::Customer {
                common,
                message,
                fallback,
            } => json!({"channel": "customer", "to": common.to, "message": message.value()?,
                        "fallback": fallback.as_deref().map(|f| parse_json("fallback", f)).transpose()?,
                        "key": opt(&common.key)}),
            SendKind::Mass {
                to,
                tag_id,
                message,
                key,
            } => json!({"channel": "mass",
                        "to": to.as_deref().map(|t| t.split(',').map(str::trim).collect::<Vec<_>>()),
                        "tag_id": tag_id, "message": message.value()?, "key": opt(key)}),
        })
    }
}

/// Drops the `null`s of optional flags not given.
fn without_nulls(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}

/// The deployment's outbound queue with its accounts (to check the
/// accounts jobs name, as the server does).
pub(crate) async fn open_outbound(config: &Config) -> anyhow::Result<Arc<Outbound>> {
    let location = config.store_location(None)?;
    let stores = crate::store::Stores::open(&location)
        .with_context(|| format!("opening the store ({})", location.describe()))?;
    let key = crate::account::SecretsKey::from_config(config).map_err(anyhow::Error::msg)?;
    let accounts = Arc::new(crate::account::Accounts::from_config(config, &stores, key)?);
    if let Err(e) = accounts.sync().await {
        tracing::warn!(error = %e, "the accounts added at runtime could not be read");
    }
    Outbound::open(config, accounts).context("opening the outbound queue")
}

impl SendCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let (specs, lines) = match (&self.kind, &self.file) {
            (Some(kind), None) => {
                let spec =
                    JobSpec::from_json(without_nulls(kind.job()?)).map_err(anyhow::Error::msg)?;
                (vec![spec], vec![0])
            }
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let mut specs = Vec::new();
                let mut lines = Vec::new();
                for (n, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v: Value = serde_json::from_str(line)
                        .with_context(|| format!("{} line {}: not JSON", file.display(), n + 1))?;
                    specs.push(
                        JobSpec::from_json(v).map_err(|e| {
                            anyhow::anyhow!("{} line {}: {e}", file.display(), n + 1)
                        })?,
                    );
                    lines.push(n + 1);
                }
                if specs.is_empty() {
                    bail!("{}: no jobs", file.display());
                }
                (specs, lines)
            }
            _ => bail!("give a channel (template, subscribe, customer, mass) or --file jobs.jsonl"),
        };
        let outbound = open_outbound(config).await?;
        let queued = match outbound.submit(config.acting_account(), specs).await {
            Ok(q) => q,
            Err(SubmitError::Invalid { index, message }) if self.file.is_some() => {
                bail!("line {}: {message} (nothing was queued)", lines[index])
            }
            Err(e) => return Err(e.into()),
        };
        for q in &queued {
            if q.duplicate {
                writeln!(out, "job {} (already queued with this key)", q.id)?;
            } else {
                writeln!(out, "queued job {}", q.id)?;
            }
        }
        if !config.outbound.enabled {
            writeln!(
                out,
                "note: [outbound] enabled = false: no server drains the queue"
            )?;
        }
        Ok(())
    }
}
