//! `wxhost serve`: the HTTP service WeChat pushes to.
//!
//! Owns start-up (store, API client, plugin runtime, listener), the router,
//! and graceful shutdown, which stops accepting, finishes in-flight pushes and
//! waits (bounded) for detached plugin work such as late replies.

pub mod callback;
pub mod dedup;
pub mod dispatch;
pub mod late;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tokio_util::task::TaskTracker;

use crate::api::PluginApi;
use crate::config::Config;
use crate::plugin::{HostServices, Runtime, RuntimeConfig};
use crate::protocol::{Callback, CallbackSettings};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
use dispatch::{Decision, Dispatcher};

/// Everything a request handler needs.
pub struct AppState {
    pub callback: Callback,
    pub dispatcher: Dispatcher,
    pub dedup: dedup::Dedup<Decision>,
    pub budget: Duration,
    /// Where late replies go; `None` when late replies are off or no API
    /// credentials are configured.
    pub late_replies: Option<Arc<dyn PluginApi>>,
    /// The longest any plugin may run when late replies are on.
    pub late_limit: Duration,
    pub tasks: TaskTracker,
    pub next_request_id: AtomicU64,
}

/// The running service's parts, for `serve` and for tests that embed it.
pub struct Service {
    pub state: Arc<AppState>,
    pub runtime: Arc<Runtime>,
    pub router: Router,
}

impl Service {
    pub async fn build(config: &Config) -> anyhow::Result<Service> {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&config.storage.data_dir).context("opening the store")?);
        let wechat: Option<Arc<dyn PluginApi>> = if config.wechat.app_secret.is_empty() {
            tracing::info!(
                "no AppSecret configured: WeChat API calls (late replies, plugin API calls) are off"
            );
            None
        } else {
            Some(Arc::new(
                crate::api::Wechat::new(config, store.clone())
                    .context("setting up the WeChat API client")?,
            ))
        };
        let runtime = Runtime::new(
            RuntimeConfig::from_config(config),
            HostServices {
                store: store.clone(),
                wechat: wechat.clone(),
            },
        )?;
        runtime.load_all().await?;
        if config.plugins.watch {
            runtime.watch()?;
        }
        let callback = Callback::new(CallbackSettings {
            token: config.wechat.token.clone(),
            app_id: config.wechat.app_id.clone(),
            // An empty key means "none": `Callback::new` says so.
            encoding_aes_key: Some(config.wechat.encoding_aes_key.clone()),
            previous_encoding_aes_key: config.wechat.previous_encoding_aes_key.clone(),
            require_encryption: config.server.require_encryption,
            timestamp_window_secs: config.server.timestamp_window_secs,
            max_body_bytes: config.server.body_limit_bytes,
        })
        .context("wechat.encoding_aes_key")?;
        let late_limit = config
            .plugin
            .values()
            .filter_map(|p| p.timeout_ms)
            .chain([config.plugins.timeout_ms])
            .max()
            .map(Duration::from_millis)
            .unwrap_or_default();
        let state = Arc::new(AppState {
            callback,
            dispatcher: Dispatcher::new(runtime.clone(), store),
            dedup: dedup::Dedup::new(Duration::from_secs(config.server.dedup_ttl_secs), 200_000),
            budget: config.budget(),
            late_replies: wechat.filter(|_| config.server.late_replies),
            late_limit,
            tasks: TaskTracker::new(),
            next_request_id: AtomicU64::new(1),
        });
        let router = Router::new()
            .route(
                &config.server.path,
                get(callback::verify).post(callback::push),
            )
            .route("/healthz", get(|| async { "ok" }))
            .layer(DefaultBodyLimit::max(config.server.body_limit_bytes))
            .with_state(state.clone());
        Ok(Service {
            state,
            runtime,
            router,
        })
    }
}

/// Runs the service until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let service = Service::build(&config).await?;
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
        "wxhost serving"
    );
    axum::serve(listener, service.router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let tasks = &service.state.tasks;
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = tasks.len(),
            "shutdown: gave up waiting for plugin work"
        );
    }
    tracing::info!("wxhost stopped");
    Ok(())
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
