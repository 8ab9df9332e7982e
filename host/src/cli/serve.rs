//! `wxhost serve`: the service on the configured listener, and the admin
//! console on its own (`admin.listen`), until SIGINT or SIGTERM stops both.
//! It refuses to listen beyond loopback with the embedded default's
//! sample credentials: they are published, so anyone could sign pushes.
//! With no admin password set, it logs a one-time login link for the
//! console at start.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::admin::{self, Admin};
use crate::config::{Config, EMBEDDED_DEFAULT};
use crate::http;
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
        let admin_listener = if config.admin.enabled {
            Some(
                tokio::net::TcpListener::bind(config.admin.listen)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot listen on {} (admin.listen / WXHOST_ADMIN_LISTEN)",
                            config.admin.listen
                        )
                    })?,
            )
        } else {
            None
        };
        tracing::info!(
            listen = %listener.local_addr()?,
            path = %config.server.path,
            plugins = service.runtime.plugins().len(),
            max_instances = service.runtime.max_instances(),
            storage = %config.store_location(None)?.describe(),
            "wxhost serving"
        );
        // One signal stops both listeners.
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move {
                shutdown_signal().await;
                stop.cancel();
            }
        });
        let console = match admin_listener {
            Some(l) => Some(start_console(config, &service, l, stop.clone()).await?),
            None => None,
        };
        server::run(service, listener, stop.clone().cancelled_owned()).await?;
        if let Some(c) = console {
            let _ = c.await;
        }
        tracing::info!("wxhost stopped");
        Ok(())
    }
}

/// Serves the admin console on `listener` until `stop`; logs where, and the
/// one-time login link when no password is set.
async fn start_console(
    config: &Config,
    service: &Service,
    listener: tokio::net::TcpListener,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let console = Arc::new(Admin::new(config, service));
    let addr = listener.local_addr()?;
    match console.auth.issue_link().await {
        // Logged once, as Jupyter does: single-use and expiring, so a log
        // line read later is worth nothing.
        Ok(Some(token)) => tracing::info!(
            "admin console: http://{addr}/login?token={token} (one-time login link, valid {} min; set WXHOST_ADMIN_PASSWORD for a password)",
            admin::auth::LINK_TTL.as_secs() / 60
        ),
        Ok(None) => tracing::info!("admin console: http://{addr}/"),
        // The link lives in the store: one that is down at start (Redis)
        // costs the link, not the service.
        Err(e) => tracing::warn!(
            error = %e,
            "admin console: http://{addr}/ has no one-time login link (the store did not answer): set WXHOST_ADMIN_PASSWORD, or restart once the store answers"
        ),
    }
    let limits = http::ConnLimits::from(&config.server);
    Ok(tokio::spawn(admin::serve(
        console,
        listener,
        limits,
        stop.cancelled_owned(),
    )))
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
