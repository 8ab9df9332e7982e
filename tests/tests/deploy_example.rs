//! The deployment files in `deploy/` are the ones `docs/deploy.md` tells
//! operators to install: the example config must load with real secrets in
//! the environment (and fail, naming the key, with the placeholders left in),
//! and the systemd unit must start `serve` with that config and env file.

use std::path::PathBuf;

use wxhost::config::{Config, StorageBackend};

fn deploy(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `KEY=value` lines of an env file.
fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn filled_in() -> Vec<(String, String)> {
    let values = [
        ("WXHOST_APP_ID", "wx1234567890abcdef"),
        ("WXHOST_APP_SECRET", "0123456789abcdef0123456789abcdef"),
        ("WXHOST_TOKEN", "aRealTokenOfOurs2026"),
        (
            "WXHOST_ENCODING_AES_KEY",
            "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ",
        ),
        ("WXHOST_REDIS_URL", "redis://:pw@10.0.0.5:6379/0"),
        (
            "WXHOST_SESSION_SECRET",
            "a-session-secret-shared-by-every-instance",
        ),
    ];
    // Exactly the variables the example env file names, filled in.
    let names: Vec<String> = env_file(&deploy("wxhost.env.example"))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for (k, _) in values {
        assert!(names.iter().any(|n| n == k), "the env example names {k}");
    }
    values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_example_config_loads_for_redis_behind_a_load_balancer() {
    let c = Config::from_toml("deploy/wxhost.toml", &deploy("wxhost.toml"), &filled_in())
        .expect("deploy/wxhost.toml with the env filled in");
    assert_eq!(c.storage.backend, StorageBackend::Redis);
    assert_eq!(c.server.listen.port(), 80);
    assert!(c.admin.listen.ip().is_loopback());
    assert_eq!(c.public_origin(), "https://wx.example.com");
}

#[test]
fn the_example_env_file_left_as_is_is_refused_naming_a_key() {
    let e = Config::from_toml(
        "deploy/wxhost.toml",
        &deploy("wxhost.toml"),
        &env_file(&deploy("wxhost.env.example")),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("WXHOST_") || e.contains("wechat."), "{e}");
}

#[test]
fn the_unit_serves_with_the_config_and_the_env_file() {
    let unit = deploy("wxhost.service");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/wxhost --config /etc/wxhost/wxhost.toml serve")
    );
    assert!(unit.contains("EnvironmentFile=/etc/wxhost/wxhost.env"));
    assert!(unit.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"));
    assert!(unit.contains("Restart=on-failure"));
}
