//! `wxhost store migrate --from sqlite --to redis` (or the reverse): copies
//! everything stored — plugin kv, credentials with their fetch counts, menu
//! versions with history and the current (or partly live) one, QR codes
//! and live permanent-code reservations, live sessions, web users, the admin audit log,
//! QR scene counters and plugins switched off — from one backend
//! of the configuration to the other, ids kept, then reads the destination
//! back and checks it holds the same. It does so for every account's store
//! scope — the configuration's accounts and those added at runtime, whose
//! records (credentials still sealed) are copied too. Only into an empty store: merging two
//! stores' ids is not a migration. Fetch locks and push bookkeeping are
//! short-lived and not copied. Stop `serve` first, so nothing changes
//! under the copy.

use std::io::Write;

use anyhow::{Context as _, bail, ensure};

use crate::config::{Config, StorageBackend};
use crate::store::{
    AuditEntry, KvEntry, MenuVersion, QrRecord, QrReservation, SceneCounts, SessionRecord, Stores,
    TokenRecord, WebUser,
};

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Copy everything stored from one backend to the other (the destination must be empty).
    Migrate(MigrateCommand),
}

#[derive(Debug, clap::Args)]
pub struct MigrateCommand {
    /// The backend to copy from: sqlite (storage.data_dir) or redis (storage.redis_url).
    #[arg(long)]
    pub from: StorageBackend,
    /// The backend to copy to.
    #[arg(long)]
    pub to: StorageBackend,
}

impl StoreCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        match self {
            StoreCommand::Migrate(m) => m.run(config, out).await,
        }
    }
}

/// Everything a store holds, as its traits enumerate it.
#[derive(Debug, PartialEq)]
struct Snapshot {
    kv: Vec<KvEntry>,
    tokens: Vec<TokenRecord>,
    /// Oldest first (the order they are written in).
    menus: Vec<MenuVersion>,
    qrcodes: Vec<QrRecord>,
    reservations: Vec<QrReservation>,
    sessions: Vec<SessionRecord>,
    web_users: Vec<WebUser>,
    /// Oldest first.
    audit: Vec<AuditEntry>,
    scene_stats: Vec<(String, SceneCounts)>,
    plugins_off: Vec<String>,
    /// Every published plugin version with its blob, each id's oldest
    /// first (the order they are published in again).
    published: Vec<(crate::store::PluginManifest, Vec<u8>)>,
    /// Each schedule's last tick handled (catch-up needs it).
    schedule_ticks: Vec<(String, u64)>,
    /// Recent scheduled runs, oldest first.
    schedule_runs: Vec<crate::store::ScheduleRun>,
}

impl Snapshot {
    async fn of(s: &Stores) -> anyhow::Result<Snapshot> {
        let mut menus = s.menus.history().await?;
        menus.reverse();
        let mut qrcodes = s.qrcodes.list(usize::MAX).await?;
        qrcodes.reverse();
        Ok(Snapshot {
            kv: s.kv.export().await?,
            tokens: s.tokens.export().await?,
            menus,
            qrcodes,
            reservations: s.qrcodes.reservations().await?,
            sessions: s.sessions.export().await?,
            web_users: s.web_users.export().await?,
            audit: s.audit.export().await?,
            scene_stats: s.scene_stats.export().await?,
            plugins_off: s.plugin_switches.disabled().await?,
            published: published(s).await?,
            schedule_ticks: s.schedules.ticks().await?,
            schedule_runs: {
                let mut runs = s.schedules.runs(crate::store::schedules::RUNS_KEPT).await?;
                runs.reverse();
                runs
            },
        })
    }

    fn counts(&self) -> [(&'static str, usize); 13] {
        [
            ("kv entries", self.kv.len()),
            ("credentials", self.tokens.len()),
            ("menu versions", self.menus.len()),
            ("QR codes", self.qrcodes.len()),
            ("QR reservations", self.reservations.len()),
            ("sessions", self.sessions.len()),
            ("web users", self.web_users.len()),
            ("audit entries", self.audit.len()),
            ("QR scene stats", self.scene_stats.len()),
            ("plugins off", self.plugins_off.len()),
            ("plugin versions", self.published.len()),
            ("schedule ticks", self.schedule_ticks.len()),
            ("scheduled runs", self.schedule_runs.len()),
        ]
    }

    async fn write_to(&self, s: &Stores) -> anyhow::Result<()> {
        s.kv.import(&self.kv).await.context("writing kv entries")?;
        s.tokens
            .import(&self.tokens)
            .await
            .context("writing credentials")?;
        s.menus
            .import(&self.menus)
            .await
            .context("writing menu versions")?;
        s.qrcodes
            .import(&self.qrcodes, &self.reservations)
            .await
            .context("writing QR codes")?;
        s.sessions
            .import(&self.sessions)
            .await
            .context("writing sessions")?;
        s.web_users
            .import(&self.web_users)
            .await
            .context("writing web users")?;
        s.audit
            .import(&self.audit)
            .await
            .context("writing the audit log")?;
        s.scene_stats
            .import(&self.scene_stats)
            .await
            .context("writing QR scene stats")?;
        for id in &self.plugins_off {
            s.plugin_switches
                .set_enabled(id, false)
                .await
                .context("writing plugin switches")?;
        }
        for (manifest, blob) in &self.published {
            s.published
                .publish(manifest, blob)
                .await
                .context("writing published plugins")?;
        }
        for (key, tick) in &self.schedule_ticks {
            s.schedules
                .mark_tick(key, *tick)
                .await
                .context("writing schedule ticks")?;
        }
        for run in &self.schedule_runs {
            s.schedules
                .record_run(run)
                .await
                .context("writing scheduled runs")?;
        }
        Ok(())
    }
}

/// Every published version of every plugin id, each id's oldest first.
async fn published(s: &Stores) -> anyhow::Result<Vec<(crate::store::PluginManifest, Vec<u8>)>> {
    let mut out = Vec::new();
    for current in s.published.current().await? {
        let mut history = s.published.history(&current.id).await?;
        history.reverse();
        for m in history {
            let blob =
                s.published.blob(&m.digest).await?.with_context(|| {
                    format!("plugin {} {}: its blob is missing", m.id, m.digest)
                })?;
            out.push((m, blob));
        }
    }
    Ok(out)
}

impl MigrateCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        ensure!(
            self.from != self.to,
            "--from and --to are both {}",
            self.from.as_str()
        );
        let (from, to) = (
            config.store_location(Some(self.from))?,
            config.store_location(Some(self.to))?,
        );
        let source = Stores::open(&from).with_context(|| format!("opening {}", from.describe()))?;
        let dest = Stores::open(&to).with_context(|| format!("opening {}", to.describe()))?;
        // Every account's scope: the configuration's and those added at
        // runtime (their records live in the default scope of the source).
        let runtime = source
            .accounts
            .list()
            .await
            .with_context(|| format!("reading the runtime accounts of {}", from.describe()))?;
        let mut names: Vec<String> = config.accounts().into_iter().map(|a| a.name).collect();
        names.extend(runtime.iter().map(|a| a.name.clone()));
        names.sort();
        names.dedup();
        let scoped = |s: &Stores, name: &str| {
            s.for_account(name)
                .with_context(|| format!("opening account {name}'s store scope"))
        };
        let mut pairs = Vec::new();
        for name in &names {
            pairs.push((name.as_str(), scoped(&source, name)?, scoped(&dest, name)?));
        }
        let held_there = dest.accounts.list().await?.len();
        let mut held = Vec::new();
        for (name, _, d) in &pairs {
            let there = Snapshot::of(d)
                .await
                .with_context(|| format!("reading {} (account {name})", to.describe()))?;
            held.extend(
                there
                    .counts()
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(what, n)| format!("{n} {what} of account {name}")),
            );
        }
        if held_there > 0 {
            held.push(format!("{held_there} runtime accounts"));
        }
        if !held.is_empty() {
            bail!(
                "{} already holds data ({}): migrate only into an empty store",
                to.describe(),
                held.join(", ")
            );
        }
        writeln!(out, "from {}", from.describe())?;
        writeln!(out, "to   {}", to.describe())?;
        // Their credentials stay sealed as they are: the same
        // WXHOST_SECRETS_KEY opens them on the other backend.
        for a in &runtime {
            dest.accounts
                .put(a)
                .await
                .with_context(|| format!("writing runtime account {}", a.name))?;
        }

        ensure!(
            dest.accounts.list().await? == runtime,
            "the destination does not read back the runtime accounts: it is incomplete, do not use it"
        );
        writeln!(out, "runtime accounts {} copied", runtime.len())?;
        for (name, s, d) in &pairs {
            if pairs.len() > 1 {
                writeln!(out, "account {name}:")?;
            }
            copy_scope(s, d, out)
                .await
                .with_context(|| format!("account {name}"))?;
        }
        writeln!(
            out,
            "verified: the destination holds everything the source does"
        )?;
        Ok(())
    }
}

/// Copies one account's scope and reads it back.
async fn copy_scope(source: &Stores, dest: &Stores, out: &mut dyn Write) -> anyhow::Result<()> {
    let snapshot = Snapshot::of(source).await.context("reading the source")?;
    snapshot.write_to(dest).await?;
    let copied = Snapshot::of(dest)
        .await
        .context("reading back the destination")?;
    for ((what, n), (_, m)) in snapshot.counts().iter().zip(copied.counts()) {
        writeln!(out, "{what:<16} {n} copied, {m} in the destination")?;
    }
    // Sessions' expiries are recomputed from what is left of them, so
    // they are compared without it. Sessions and reservations come in
    // each backend's own order (SQLite by realm and id, Redis by key,
    // whose realm is length-prefixed): compared as sets keyed by
    // identity.
    let without_expiry = |s: &Snapshot| {
        s.sessions
            .iter()
            .map(|r| ((r.realm.clone(), r.id.clone()), r.value.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let reservations = |s: &Snapshot| {
        s.reservations
            .iter()
            .map(|r| (r.id, (r.scene.clone(), r.created_at)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let same = snapshot.counts() == copied.counts()
        && snapshot.kv == copied.kv
        && snapshot.tokens == copied.tokens
        && snapshot.menus == copied.menus
        && snapshot.qrcodes == copied.qrcodes
        && reservations(&snapshot) == reservations(&copied)
        && snapshot.web_users == copied.web_users
        && snapshot.audit == copied.audit
        && snapshot.scene_stats == copied.scene_stats
        && snapshot.plugins_off == copied.plugins_off
        && snapshot.published == copied.published
        && without_expiry(&snapshot) == without_expiry(&copied);
    ensure!(
        same,
        "the destination does not read back what was copied: it is incomplete, do not use it"
    );
    Ok(())
}
