//! `wxhost serve`: the service on the configured listener until SIGINT or
//! SIGTERM. It refuses to listen beyond loopback with the embedded default's
//! sample credentials: they are published, so anyone could sign pushes.

use std::io::Write;

use anyhow::{Context, bail};

use crate::config::{Config, EMBEDDED_DEFAULT};
use crate::server::{self, Service};

#[derive(Debug, clap::Args)]
pub struct ServeCommand {}

impl ServeCommand {
    pub async fn run(self, config: &Config, _out: &mut dyn Write) -> anyhow::Result<()> {
        refuse_sample_credentials(config)?;
        let stores = super::open_stores(config)?;
        let service = Service::build(config, stores).await?;
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (server.listen / WXHOST_LISTEN)",
                    config.server.listen
                )
            })?;
        tracing::info!(
            listen = %listener.local_addr()?,
            path = %config.server.path,
            plugins = service.runtime.plugins().len(),
            max_instances = service.runtime.max_instances(),
            storage = %config.store_location(None)?.describe(),
            "wxhost serving"
        );
        server::run(service, listener, shutdown_signal()).await?;
        tracing::info!("wxhost stopped");
        Ok(())
    }
}

/// Fails when a secret is still WeChat's published sample value and the
/// listener is reachable from other hosts, naming what to set.
fn refuse_sample_credentials(config: &Config) -> anyhow::Result<()> {
    if config.server.listen.ip().is_loopback() {
        return Ok(());
    }
    let sample = Config::from_toml("<embedded default>", EMBEDDED_DEFAULT, &[])?;
    let (w, s) = (&config.wechat, &sample.wechat);
    let secrets = [
        ("WXHOST_TOKEN", w.token == s.token),
        (
            "WXHOST_ENCODING_AES_KEY",
            w.encoding_aes_key == s.encoding_aes_key,
        ),
        (
            "WXHOST_PREVIOUS_ENCODING_AES_KEY",
            w.previous_encoding_aes_key.as_deref() == Some(s.encoding_aes_key.as_str()),
        ),
    ];
    let mut to_set: Vec<&str> = secrets
        .iter()
        .filter(|(_, is_sample)| *is_sample)
        .map(|(env, _)| *env)
        .collect();
    if to_set.is_empty() {
        return Ok(());
    }
    // Not a secret, but a real account has its own.
    if w.app_id == s.app_id {
        to_set.push("WXHOST_APP_ID");
    }
    bail!(
        "refusing to serve on {} with WeChat's published sample credentials: set {} \
         (or wechat.* in the config file), or listen on a loopback address",
        config.server.listen,
        to_set.join(", ")
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight pushes");
}
