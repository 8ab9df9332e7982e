//! `wxhost plugin run FILE.wasm`: runs one plugin on one message, without a
//! server, and prints its reply, logs, captured output and timings — the
//! plugin author's inner loop.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::push_args::PushArgs;
use crate::config::Config;
use crate::plugin::{HandlerInput, HostServices, PluginOutcome, Runtime, RuntimeConfig};
use crate::protocol::{Body, Message, Reply, parse_message};

#[derive(Debug, Clone, clap::Args)]
pub struct PluginRunCommand {
    /// The plugin component (`.wasm`); its file stem is the plugin id whose
    /// `[plugin.<id>]` settings apply.
    pub file: PathBuf,
    #[command(flatten)]
    pub push: PushArgs,
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
    /// Let one instance serve this many calls (`plugin.<id>.reuse_calls`),
    /// e.g. with `--repeat` to see what reuse saves.
    #[arg(long)]
    pub reuse_calls: Option<u32>,
    /// Run the plugin's schedule NAME once (its `handle-schedule`, a tick
    /// due now) instead of a message; the outbound jobs it queues are
    /// printed, not sent.
    #[arg(long, value_name = "NAME", conflicts_with = "repeat")]
    pub schedule: Option<String>,
}

/// The message described by `args`, written as WeChat would push it and
/// parsed by the same parser the server uses (fields and raw XML included).
pub fn message(args: &PushArgs) -> anyhow::Result<Message> {
    let xml = args.require()?.to_xml(
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

/// The runtime settings for trying `file` on its own (its directory as the
/// plugins dir, no watching), and its plugin id. Shared with `plugin check`,
/// so both load a file exactly as `serve` would.
pub(crate) fn runtime_config(
    config: &Config,
    file: &std::path::Path,
) -> anyhow::Result<(RuntimeConfig, String)> {
    let id = crate::plugin::plugin_id(file)?;
    let mut cfg = RuntimeConfig::from_config(config);
    cfg.dir = file.parent().map(PathBuf::from).unwrap_or_default();
    cfg.watch = false;
    Ok((cfg, id))
}

/// A runtime on the kv store `kv`, without WeChat API access.
pub(crate) fn runtime(
    cfg: RuntimeConfig,
    kv: std::sync::Arc<dyn crate::store::KvStore>,
) -> anyhow::Result<std::sync::Arc<Runtime>> {
    Runtime::new(
        cfg,
        HostServices {
            kv,
            wechat: None,
            jssdk: None,
            outbound: Default::default(),
        },
    )
}

/// A call's log lines, then what it printed, as `plugin run` shows them.
pub(crate) fn print_output(
    out: &mut dyn Write,
    logs: &[crate::plugin::LogLine],
    stdout: &str,
    stderr: &str,
) -> std::io::Result<()> {
    for l in logs {
        let fields: Vec<String> = l.fields.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        writeln!(
            out,
            "log      {:<5} {} {}",
            format!("{:?}", l.level).to_uppercase(),
            l.message,
            fields.join(" ")
        )?;
    }
    for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
        for line in text.lines() {
            writeln!(out, "{name}   {line}")?;
        }
    }
    Ok(())
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

impl PluginRunCommand {
    /// Runs the command; returns an error (non-zero exit) if the plugin fails.
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let args = self;
        let (mut cfg, id) = runtime_config(config, &args.file)?;
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
        if args.reuse_calls.is_some() {
            settings.reuse_calls = args.reuse_calls;
        }
        // The configured store, as `serve` uses it: the plugin sees (and
        // changes) the kv entries the server's plugins have.
        let stores = super::open_stores(config)?;
        if let Some(name) = &args.schedule {
            return super::schedule_run::run(config, cfg, stores.kv, &args.file, name, out).await;
        }
        let msg = message(&args.push)?;
        let rt = runtime(cfg, stores.kv)?;

        let t = Instant::now();
        let plugin = rt
            .load_file(&args.file)
            .await
            .with_context(|| format!("cannot load {}", args.file.display()))?;
        let load = t.elapsed();
        let handles: Vec<&str> = plugin.info.handles.iter().map(|k| k.name()).collect();
        writeln!(
            out,
            "plugin   {} {} (id {}, priority {}, handles [{}])",
            plugin.info.name,
            plugin.info.version,
            plugin.id(),
            plugin.priority,
            handles.join(", ")
        )?;
        writeln!(
            out,
            "load     {} ({}; sha256 {})",
            ms(load),
            if plugin.from_cache() {
                "compiled artifact from cache"
            } else {
                "compiled"
            },
            &plugin.sha256()[..16]
        )?;
        let input = HandlerInput::new(&msg).with_account(rt.config().account.clone());
        let kind = input.kind;
        writeln!(
            out,
            "message  {kind} from {}{}",
            msg.from_user,
            match &msg.body {
                Body::Text { content } => format!(": {content:?}"),
                _ => msg
                    .field("EventKey")
                    .map(|k| format!(", key {k:?}"))
                    .unwrap_or_default(),
            }
        )?;
        if !plugin.handles(kind) {
            writeln!(
                out,
                "note     the plugin does not declare `{kind}`; the server would not call it (calling anyway)"
            )?;
        }

        let mut times = Vec::new();
        let mut report = None;
        for _ in 0..args.repeat.max(1) {
            let deadline = Instant::now() + plugin.timeout() + Duration::from_secs(1);
            let r = plugin.call_traced(&input, deadline).await;
            times.push((r.instantiate, r.elapsed));
            report = Some(r);
        }
        let r = report.expect("at least one call");
        print_output(out, &r.logs, &r.stdout, &r.stderr)?;
        let (inst, total) = times[times.len() - 1];
        writeln!(
            out,
            "time     {} total ({} instantiate, {} call{}); memory peak {} KiB",
            ms(total),
            ms(inst),
            ms(total.saturating_sub(inst)),
            if r.reused {
                ", on a reused instance"
            } else {
                ""
            },
            r.memory_peak_bytes / 1024
        )?;
        if times.len() > 1 {
            let mut totals: Vec<Duration> = times.iter().map(|t| t.1).collect();
            totals.sort();
            let pct = |p: f64| totals[((totals.len() - 1) as f64 * p) as usize];
            writeln!(
                out,
                "repeat   {} calls: median {}, p99 {}, min {}",
                totals.len(),
                ms(pct(0.5)),
                ms(pct(0.99)),
                ms(totals[0])
            )?;
        }
        match r.result {
            Ok(PluginOutcome::Reply(reply)) => {
                writeln!(out, "reply    {}", describe_reply(&reply))?
            }
            Ok(PluginOutcome::NoReply) => {
                writeln!(out, "reply    (no reply: the server answers `success`)")?
            }
            Ok(PluginOutcome::Pass) => {
                writeln!(out, "reply    (pass: the next plugin would be tried)")?
            }
            Err(e) => {
                writeln!(out, "error    {}: {e}", e.kind())?;
                bail!("plugin {} failed ({})", plugin.id(), e.kind());
            }
        }
        Ok(())
    }
}
