//! `wxhost plugin run FILE.wasm`: runs one plugin on one message, without a
//! server, and prints its reply, logs, captured output and timings — the
//! plugin author's inner loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::{HostServices, PluginOutcome, Runtime, RuntimeConfig};
use crate::config::Config;
use crate::protocol::{Body, Message, Push, Reply, parse_message};
use crate::store::sqlite::SqliteStore;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The plugin component (`.wasm`); its file stem is the plugin id whose
    /// `[plugin.<id>]` settings apply.
    pub file: PathBuf,
    /// Send a text message.
    #[arg(long, conflicts_with = "event")]
    pub text: Option<String>,
    /// Send an event: subscribe, unsubscribe, scan, click, view, location,
    /// scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album,
    /// pic_weixin, location_select, or any other name (a generic event).
    #[arg(long)]
    pub event: Option<String>,
    /// The event key: QR scene for subscribe/scan, menu key for click and
    /// menu events, URL for view.
    #[arg(long)]
    pub key: Option<String>,
    /// Sender OpenID.
    #[arg(long, default_value = "o_test_user")]
    pub from: String,
    /// The account's original id.
    #[arg(long, default_value = "gh_test")]
    pub to: String,
    /// Plugin config values (`config-get`), over those in the config file.
    #[arg(long = "config-value", value_name = "KEY=VALUE")]
    pub config_values: Vec<String>,
    /// Override the time limit.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Override the memory limit.
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Call this many times and print timing statistics.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
}

/// The message described by `args`, written as WeChat would push it and
/// parsed by the same parser the server uses (fields and raw XML included).
pub fn message(args: &RunArgs) -> anyhow::Result<Message> {
    let key = args.key.clone();
    let push = match (&args.text, &args.event) {
        (Some(text), _) => Push::Text(text.clone()),
        (None, Some(event)) => match event.to_ascii_lowercase().as_str() {
            "subscribe" => Push::Subscribe { scene: key },
            "unsubscribe" => Push::Unsubscribe,
            "scan" => Push::Scan {
                scene: key.unwrap_or_default(),
            },
            "click" => Push::Click {
                key: key.unwrap_or_default(),
            },
            "view" => Push::View {
                url: key.unwrap_or_default(),
            },
            "location" => Push::Location {
                latitude: 23.137466,
                longitude: 113.352425,
            },
            _ => Push::Event {
                name: event.clone(),
                key,
            },
        },
        (None, None) => bail!("give a message: --text \"hi\" or --event KIND [--key KEY]"),
    };
    let xml = push.to_xml(
        &args.to,
        &args.from,
        crate::unix_now(),
        1_000_000_000_000_000_001,
    );
    parse_message(&xml).context("the simulated message does not parse")
}

/// A readable one-line form of a reply.
pub fn describe_reply(reply: &Reply) -> String {
    match reply {
        Reply::Text(t) => format!("text {t:?}"),
        Reply::Image { media_id } => format!("image media_id={media_id}"),
        Reply::Voice { media_id } => format!("voice media_id={media_id}"),
        Reply::Video {
            media_id, title, ..
        } => format!("video media_id={media_id} title={title:?}"),
        Reply::Music {
            title, music_url, ..
        } => format!("music title={title:?} url={music_url:?}"),
        Reply::News(a) => {
            let titles: Vec<String> = a
                .iter()
                .map(|a| format!("{:?} <{}>", a.title, a.url))
                .collect();
            format!("news [{}]", titles.join(", "))
        }
        Reply::TransferCustomerService { kf_account } => {
            format!("transfer to customer service {kf_account:?}")
        }
        Reply::Success => "success".into(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Runs the command; returns an error (non-zero exit) if the plugin fails.
pub async fn run(args: RunArgs, config: &Config) -> anyhow::Result<()> {
    let msg = message(&args)?;
    let id = super::plugin_id(&args.file)?;
    let mut cfg = RuntimeConfig::from_config(config);
    cfg.dir = args.file.parent().map(PathBuf::from).unwrap_or_default();
    cfg.watch = false;
    let settings = cfg.settings.entry(id.clone()).or_default();
    for kv in &args.config_values {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--config-value {kv:?}: expected KEY=VALUE"))?;
        settings.config.insert(k.to_owned(), v.to_owned());
    }
    if args.timeout_ms.is_some() {
        settings.timeout_ms = args.timeout_ms;
    }
    if args.memory_mib.is_some() {
        settings.memory_mib = args.memory_mib;
    }
    let store = Arc::new(SqliteStore::open_in_memory()?);
    let rt = Runtime::new(
        cfg,
        HostServices {
            store,
            wechat: None,
        },
    )?;

    let t = Instant::now();
    let plugin = rt
        .load_file(&args.file)
        .await
        .with_context(|| format!("cannot load {}", args.file.display()))?;
    let load = t.elapsed();
    let handles: Vec<&str> = plugin.info.handles.iter().map(|k| k.name()).collect();
    println!(
        "plugin   {} {} (id {}, priority {}, handles [{}])",
        plugin.info.name,
        plugin.info.version,
        plugin.id,
        plugin.priority,
        handles.join(", ")
    );
    println!(
        "load     {} ({}; sha256 {})",
        ms(load),
        if plugin.from_cache {
            "compiled artifact from cache"
        } else {
            "compiled"
        },
        &plugin.sha256[..16]
    );
    let kind = super::Kind::of(&msg);
    println!(
        "message  {kind} from {}{}",
        msg.from_user,
        match &msg.body {
            Body::Text { content } => format!(": {content:?}"),
            _ => msg
                .field("EventKey")
                .map(|k| format!(", key {k:?}"))
                .unwrap_or_default(),
        }
    );
    if !plugin.handles(kind) {
        println!(
            "note     the plugin does not declare `{kind}`; the server would not call it (calling anyway)"
        );
    }

    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..args.repeat.max(1) {
        let deadline = Instant::now() + plugin.timeout + Duration::from_secs(1);
        let r = plugin.call_traced(&msg, None, deadline).await;
        times.push((r.instantiate, r.elapsed));
        report = Some(r);
    }
    let r = report.expect("at least one call");
    for l in &r.logs {
        let fields: Vec<String> = l.fields.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        println!(
            "log      {:<5} {} {}",
            format!("{:?}", l.level).to_uppercase(),
            l.message,
            fields.join(" ")
        );
    }
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for line in text.lines() {
            println!("{name}   {line}");
        }
    }
    let (inst, total) = times[times.len() - 1];
    println!(
        "time     {} total ({} instantiate, {} call); memory peak {} KiB",
        ms(total),
        ms(inst),
        ms(total.saturating_sub(inst)),
        r.memory_peak_bytes / 1024
    );
    if times.len() > 1 {
        let mut totals: Vec<Duration> = times.iter().map(|t| t.1).collect();
        totals.sort();
        let pct = |p: f64| totals[((totals.len() - 1) as f64 * p) as usize];
        println!(
            "repeat   {} calls: median {}, p99 {}, min {}",
            totals.len(),
            ms(pct(0.5)),
            ms(pct(0.99)),
            ms(totals[0])
        );
    }
    match r.result {
        Ok(PluginOutcome::Reply(reply)) => println!("reply    {}", describe_reply(&reply)),
        Ok(PluginOutcome::NoReply) => println!("reply    (no reply: the server answers `success`)"),
        Ok(PluginOutcome::Pass) => println!("reply    (pass: the next plugin would be tried)"),
        Err(e) => {
            println!("error    {}: {e}", e.kind());
            bail!("plugin {} failed ({})", plugin.id, e.kind());
        }
    }
    Ok(())
}
