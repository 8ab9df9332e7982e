//! `wxhost serve`: the service on the configured listener until SIGINT or
//! SIGTERM.

use std::io::Write;

use anyhow::Context;

use crate::config::Config;
use crate::server::{self, Service};
use crate::store::Stores;

#[derive(Debug, clap::Args)]
pub struct ServeCommand {}

impl ServeCommand {
    pub async fn run(self, config: &Config, _out: &mut dyn Write) -> anyhow::Result<()> {
        let stores = Stores::open(&config.storage.data_dir).context("opening the store")?;
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
            "wxhost serving"
        );
        server::run(service, listener, shutdown_signal()).await?;
        tracing::info!("wxhost stopped");
        Ok(())
    }
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
