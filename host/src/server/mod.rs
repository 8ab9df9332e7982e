//! The HTTP service WeChat pushes to, as a library: [`Service::build`]
//! assembles it from a config and its stores, [`router`] is its axum
//! `Router`, and [`run`] serves it on a listener until a shutdown future
//! resolves — so `wxhost serve` and in-process tests run the same thing.
//!
//! - `callback.rs`: GET verification and POST pushes, for the default
//!   account at `server.path` and for every account at
//!   `<server.path>/<app_id>`; `refused.rs`: protocol refusals as responses.
//! - `endpoint.rs` ([`Endpoint`]): one account with what the server keeps
//!   per account (push memory, dispatcher, late replies, scene counter).
//! - The listener's connection limits, body deadline and health checks are
//!   the generic HTTP plumbing of [`crate::http`], shared with the console.
//! - `memory.rs` ([`PushMemory`]): the replay guard and de-duplication
//!   behind one trait; `LocalMemory` in process, `shared.rs`
//!   (`SharedMemory`) across instances on a shared store (Redis).
//! - `dedup.rs`: WeChat's retries join or replay the first delivery.
//! - `seen.rs`: the replay guard — every authenticated (timestamp, nonce)
//!   for the whole timestamp window: forged reuse refused, repeats known.
//! - `expiring.rs`: the bounded, expiring map under both.
//! - `deadlines.rs` ([`Deadlines`]): the reply and work deadlines of a push.
//! - `dispatch.rs`: plugins + stored QR code → a [`Decision`] with its
//!   [`Outcome`] (`outcome.rs`).
//! - `late.rs`: replies that miss the budget, as customer-service messages.
//! - `typing.rs`: the typing status for pushes still being worked on.
//! - `hold.rs`: pushes held for WeChat's retries (replies up to ~14 s
//!   without customer-service messages).
//! - `activity.rs` ([`Activity`]): the last hour per minute and the recent
//!   pushes, in memory, for the admin console's overview;
//!   `scene_counter.rs` ([`SceneCounter`]): scans and follows per QR scene,
//!   written to the store off the reply's path.
//! - `inflight.rs`: what detached work is running, for shutdown to report.

pub mod activity;
pub mod callback;
pub mod deadlines;
pub mod dedup;
pub mod dispatch;
pub mod endpoint;
pub mod expiring;
pub mod hold;
pub mod inflight;
pub mod late;
pub mod memory;
pub mod outcome;
pub mod refused;
pub mod scene_counter;
pub mod seen;
pub mod shared;
pub mod typing;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

pub use activity::Activity;
pub use deadlines::Deadlines;
pub use dispatch::{Decision, Dispatcher};
pub use endpoint::{Endpoint, Endpoints};
pub use memory::PushMemory;
pub use outcome::Outcome;
pub use scene_counter::SceneCounter;

use crate::account::Accounts;
use crate::api::Wechat;
use crate::config::Config;
use crate::http::{BodyDeadline, ConnLimits, Readiness, body_deadline, conn, health};
use crate::plugin::{Runtime, RuntimeConfig};
use crate::store::Stores;
use crate::web::Web;

/// Authenticated requests the replay guard remembers: enough for 3,000
/// pushes a second sustained over a 300 s window, 100–200 bytes each (a
/// quiet account's guard holds a few thousand).
const SEEN_CAPACITY: usize = 1 << 20;

/// Everything a request handler needs.
pub struct AppState {
    /// Every account served, each with its callback state.
    pub endpoints: Endpoints,
    pub budget: Duration,
    /// How long after a push its plugins may run when late replies are on.
    pub late_reply_window: Duration,
    pub tasks: TaskTracker,
    /// The detached work of each push (what `tasks` runs), for shutdown.
    pub inflight: inflight::InFlight,
    /// How long shutdown waits for detached plugin work (late replies).
    pub shutdown_grace: Duration,
    pub next_request_id: AtomicU64,
    /// Which plugins hold a push for WeChat's retries, and the deliveries
    /// of each message while they may.
    pub holds: hold::Holds,
    /// What the admin console's overview and recent pushes show.
    pub activity: Activity,
    /// Whether the store answers and the plugins are loaded (`/readyz`).
    pub readiness: Arc<Readiness>,
    /// The outbound message queue: pushes feed it receipts and the users'
    /// last pushes; [`run`] drains it.
    pub outbound: Arc<crate::outbound::Outbound>,
    /// Scheduled plugin runs; [`run`] starts them (`[schedules] enabled`).
    pub schedules: Arc<crate::schedule::Scheduler>,
    pub schedules_enabled: bool,
}

impl AppState {
    /// The late-reply window, when late replies can be delivered for
    /// `endpoint`'s account.
    pub fn late_window(&self, endpoint: &Endpoint) -> Option<Duration> {
        endpoint
            .late_replies
            .as_ref()
            .map(|_| self.late_reply_window)
    }
}

/// How often an instance reports its activity to the shared log.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Reports `state`'s activity every [`REPORT_EVERY`] until it is dropped
/// (`activity.rs`); a store that does not answer is tried again next time.
fn report_activity(state: std::sync::Weak<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else { return };
            let now_ms = crate::store::now_millis().max(0) as u64;
            if let Err(e) = state.activity.report(now_ms).await {
                tracing::debug!(error = %e, "activity not reported");
            }
        }
    });
}

/// The running service's parts.
pub struct Service {
    pub state: Arc<AppState>,
    pub runtime: Arc<Runtime>,
    /// The default account's WeChat API client, when it has an AppSecret.
    pub wechat: Option<Arc<Wechat>>,
    /// Every account served.
    pub accounts: Arc<Accounts>,
    /// The store the service was built on.
    pub stores: Stores,
    pub router: Router,
    /// The limits [`run`] serves connections within.
    pub limits: ConnLimits,
}

impl Service {
    /// The API client (when an AppSecret is set), the plugin runtime with
    /// every plugin of the directory loaded (and watched, if configured), and
    /// the router.
    pub async fn build(config: &Config, stores: Stores) -> anyhow::Result<Service> {
        config.validate_for_serving().map_err(anyhow::Error::msg)?;
        let key = crate::account::SecretsKey::from_config(config).map_err(anyhow::Error::msg)?;
        let accounts = Arc::new(Accounts::from_config(config, &stores, key)?);
        if let Err(e) = accounts.sync().await {
            // As for the plugin switches: a store down at start must not keep
            // the config's accounts from being served.
            tracing::warn!(error = %e, "the accounts added at runtime could not be read yet");
        }
        accounts.watch();
        let default = accounts.default_account();
        for a in accounts.all().iter().filter(|a| a.wechat.is_none()) {
            tracing::info!(
                account = %a.name,
                "no AppSecret configured: WeChat API calls (late replies, plugin API calls, web login, JS-SDK) are off for this account"
            );
        }
        let api = default.wechat.clone();
        // The runtime's own services are the default account's: what a call
        // acts for when its caller names no account (`plugin run`).
        let runtime = Runtime::new(
            RuntimeConfig::from_config(config),
            default.plugins.services.clone(),
        )?;
        runtime.use_account_switches(accounts.switches().clone());
        if let Err(e) = runtime.use_switches(stores.plugin_switches.clone()).await {
            // A store that is down at start (Redis) must not keep the
            // service from answering pushes.
            tracing::warn!(
                error = %e,
                "the plugins switched off in the admin console could not be read: every plugin in the directory is loaded"
            );
        }
        if let Err(e) = runtime.use_published(stores.published.clone()).await {
            tracing::warn!(
                error = %e,
                "the plugins published to the store could not be read yet: they load once it answers"
            );
        }
        let readiness = Arc::new(Readiness::new(stores.sessions.clone()));
        runtime.load_all().await?;
        runtime.load_published().await;
        // Publications and switches made through any instance reach this one.
        runtime.follow_store();
        readiness.plugins_loaded();
        if config.plugins.watch {
            runtime.watch()?;
        }
        let tasks = TaskTracker::new();
        let endpoints = Endpoints::new(
            accounts.clone(),
            endpoint::EndpointSettings {
                runtime: runtime.clone(),
                budget: config.budget(),
                dedup_ttl: Duration::from_secs(config.server.dedup_ttl_secs),
                timestamp_window_secs: config.server.timestamp_window_secs,
                late_replies: config.server.late_replies,
                typing_after: (config.server.typing_after_ms > 0)
                    .then(|| Duration::from_millis(config.server.typing_after_ms)),
                tasks: tasks.clone(),
            },
        );
        let state = Arc::new(AppState {
            endpoints,
            budget: config.budget(),
            late_reply_window: Duration::from_secs(config.server.late_reply_window_secs),
            tasks,
            inflight: inflight::InFlight::default(),
            shutdown_grace: Duration::from_secs(config.server.shutdown_grace_secs),
            next_request_id: AtomicU64::new(1),
            holds: hold::Holds::new(config.hold_policy(), SEEN_CAPACITY),
            activity: Activity::new(
                config.admin.show_content,
                config.instance_id(),
                stores.activity.clone(),
            ),
            readiness,
            outbound: crate::outbound::Outbound::open(config, accounts.clone())
                .context("opening the outbound queue (outbound.db in the data dir)")?,
            schedules: crate::schedule::Scheduler::new(config, runtime.clone(), accounts.clone())?,
            schedules_enabled: config.schedules.enabled,
        });
        // Plugins of every account queue through it (WIT 1.1 `outbound`).
        let _ = accounts
            .outbound_slot()
            .set(state.outbound.clone() as Arc<dyn crate::plugin::PluginOutbound>);
        if stores.activity.is_some() {
            report_activity(Arc::downgrade(&state));
        }
        let web = Arc::new(
            Web::new(config, accounts.clone(), runtime.clone())
                .context("setting up the web side (web.session_secret)")?,
        );
        // `/open/*` when this deployment is an Open Platform component.
        let open = match accounts.open_platform() {
            Some(platform) => {
                let p = platform.clone();
                tokio::spawn(async move { p.ensure_ticket().await });
                let open = crate::open::routes::Open::new(
                    platform.clone(),
                    accounts.clone(),
                    state.clone(),
                    config,
                )?;
                Some(crate::open::routes::routes(Arc::new(open)))
            }
            None => None,
        };
        let router = router(state.clone(), config, web, open);
        Ok(Service {
            state,
            runtime,
            wechat: api,
            accounts,
            stores,
            router,
            limits: ConnLimits::from(&config.server),
        })
    }
}

/// The routes: the default account's callback at `server.path`, every
/// account's at `<server.path>/<app_id>`, `/healthz`, and the
/// web side ([`crate::web::routes`]: OAuth, JS-SDK, plugin pages); every
/// request body read whole within the body deadline.
pub fn router(
    state: Arc<AppState>,
    config: &Config,
    web: Arc<Web>,
    open: Option<Router>,
) -> Router {
    let deadline = BodyDeadline {
        timeout: Duration::from_millis(config.server.body_read_timeout_ms),
        max_bytes: config.server.body_limit_bytes,
    };
    let per_account = format!("{}/{{app_id}}", config.server.path.trim_end_matches('/'));
    Router::new()
        .route(
            &config.server.path,
            get(callback::verify_default).post(callback::push_default),
        )
        .route(
            &per_account,
            get(callback::verify_account).post(callback::push_account),
        )
        .merge(health::routes(
            state.readiness.clone(),
            health::Detail::Code,
        ))
        .with_state(state)
        .merge(crate::web::routes(web))
        .merge(open.unwrap_or_default())
        .layer(DefaultBodyLimit::max(config.server.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            deadline,
            body_deadline::read_within,
        ))
}

/// Serves `service` on `listener` within its [`ConnLimits`] until
/// `shutdown` resolves; then stops accepting, finishes in-flight pushes and
/// waits up to `server.shutdown_grace_secs` for detached plugin work such as
/// late replies. Work still running then is abandoned, and logged: how many
/// pieces, and each one's message, phase and plugin.
pub async fn run(
    service: Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let outbound_stop = tokio_util::sync::CancellationToken::new();
    let outbound = service
        .state
        .outbound
        .settings
        .enabled
        .then(|| service.state.outbound.start(outbound_stop.clone()));
    let schedules = service
        .state
        .schedules_enabled
        .then(|| service.state.schedules.start(outbound_stop.clone()));
    conn::serve(service.router, listener, service.limits, shutdown).await;
    outbound_stop.cancel();
    if let Some(s) = schedules {
        let _ = s.await;
    }
    if let Some(worker) = outbound {
        let _ = worker.await;
    }
    let state = &service.state;
    let tasks = &state.tasks;
    tasks.close();
    let grace = state.shutdown_grace;
    if !tasks.is_empty() {
        tracing::info!(
            pieces = tasks.len(),
            grace_secs = grace.as_secs(),
            "shutdown: waiting for plugin work"
        );
    }
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        report_abandoned(state);
    }
    for e in service.state.endpoints.built() {
        e.scenes.shutdown(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// Logs the work a shutdown abandons: one summary line, and one line per
/// piece (a late reply names its plugin and message: the user will not get
/// that reply).
fn report_abandoned(state: &AppState) {
    let work = state.inflight.snapshot();
    let late = work
        .iter()
        .filter(|w| w.phase != inflight::Phase::Dispatching)
        .count();
    tracing::warn!(
        pieces = state.tasks.len(),
        late_replies = late,
        grace_secs = state.shutdown_grace.as_secs(),
        "shutdown: grace period over, abandoning plugin work"
    );
    for w in work {
        tracing::warn!(
            msg_id = w.msg_id,
            kind = %w.kind,
            create_time = w.create_time,
            plugin = w.plugin.as_deref(),
            phase = w.phase.as_str(),
            running_ms = w.running.as_millis() as u64,
            "shutdown: dropped {}",
            match w.phase {
                inflight::Phase::Dispatching => "plugin work",
                _ => "late reply",
            }
        );
    }
}
