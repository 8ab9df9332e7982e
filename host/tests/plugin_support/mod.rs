//! Shared helpers for the plugin integration tests: locating the built
//! components, building runtimes on temp dirs, and making messages.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wxhost::config::PluginSettings;
use wxhost::plugin::{AccountInfo, HostServices, ReloadEvent, Runtime, RuntimeConfig};
use wxhost::protocol::{Body, Event, Message};
use wxhost::store::{KvQuota, KvStore, Stores};

/// `build/wasm/<name>.wasm`, built by `scripts/build-plugins.sh`.
pub fn wasm(name: &str) -> PathBuf {
    // Read at run time: cargo sets it for tests and benches, and a build
    // shared between checkouts may have baked in another checkout's path.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let p = Path::new(&manifest_dir)
        .join("../build/wasm")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-plugins.sh first",
        p.display()
    );
    p
}

pub struct Env {
    pub rt: Arc<Runtime>,
    pub kv: Arc<dyn KvStore>,
    pub dir: tempfile::TempDir,
    pub cache: PathBuf,
}

pub fn settings(pairs: &[(&str, PluginSettings)]) -> BTreeMap<String, PluginSettings> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A runtime over a fresh temp plugins dir with its own cache dir.
pub fn env(settings: BTreeMap<String, PluginSettings>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join(".cache");
    env_with(dir, cache, settings)
}

pub fn env_with(
    dir: tempfile::TempDir,
    cache: PathBuf,
    settings: BTreeMap<String, PluginSettings>,
) -> Env {
    env_sized(dir, cache, settings, 32)
}

/// [`env_with`], with room for `max_instances` instances at once.
pub fn env_sized(
    dir: tempfile::TempDir,
    cache: PathBuf,
    settings: BTreeMap<String, PluginSettings>,
    max_instances: u32,
) -> Env {
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let kv = Stores::in_memory().unwrap().kv;
    let cfg = RuntimeConfig {
        dir: plugins,
        cache_dir: cache.clone(),
        default_memory_mib: 64,
        default_timeout: Duration::from_secs(1),
        kv_quota: KvQuota::DEFAULT,
        settings,
        watch: true,
        rescan_interval: None,
        max_instances,
        account: AccountInfo::new("default", "wx_test_app"),
    };
    let services = HostServices {
        kv: kv.clone(),
        wechat: None,
        jssdk: None,
        outbound: Default::default(),
    };
    Env {
        rt: Runtime::new(cfg, services).unwrap(),
        kv,
        dir,
        cache,
    }
}

impl Env {
    pub fn plugins_dir(&self) -> PathBuf {
        self.rt.config().dir.clone()
    }
    /// Copies `build/wasm/<name>.wasm` into the plugins dir as `<as_id>.wasm`.
    pub fn install(&self, name: &str, as_id: &str) -> PathBuf {
        let to = self.plugins_dir().join(format!("{as_id}.wasm"));
        std::fs::copy(wasm(name), &to).unwrap();
        to
    }
}

pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

pub fn message(msg_type: &str, body: Body, fields: &[(&str, &str)]) -> Message {
    let mut f: Vec<(String, String)> = vec![
        ("ToUserName".into(), "gh_test".into()),
        ("FromUserName".into(), "o_user".into()),
        ("CreateTime".into(), "1700000000".into()),
        ("MsgType".into(), msg_type.into()),
    ];
    f.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Message {
        to_user: "gh_test".into(),
        from_user: "o_user".into(),
        create_time: 1_700_000_000,
        msg_id: (msg_type != "event").then_some(42),
        msg_type: msg_type.into(),
        body,
        fields: f,
        raw: "<xml/>".into(),
    }
}

pub fn text(s: &str) -> Message {
    message("text", Body::Text { content: s.into() }, &[("Content", s)])
}

pub fn event(name: &str, ev: Event, key: Option<&str>) -> Message {
    let mut fields = vec![("Event", name)];
    if let Some(k) = key {
        fields.push(("EventKey", k));
    }
    message("event", Body::Event(ev), &fields)
}

/// Waits (up to 20 s) for an event matching `pred`; returns every event seen.
pub async fn wait_for(
    rx: &mut tokio::sync::broadcast::Receiver<ReloadEvent>,
    pred: impl Fn(&ReloadEvent) -> bool,
) -> Vec<ReloadEvent> {
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(ev)) => {
                let hit = pred(&ev);
                seen.push(ev);
                if hit {
                    return seen;
                }
            }
            Ok(Err(e)) => panic!("event channel: {e}; seen {seen:?}"),
            Err(_) => panic!("timed out waiting; seen {seen:?}"),
        }
    }
}
