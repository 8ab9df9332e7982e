//! Scheduled plugin runs: three instances on one Redis run each tick of a
//! schedule once between them; a restart with `catch_up = "once"` runs one
//! catch-up for the ticks it missed (and none with `skip`); a spinning run
//! is stopped at its limit, the ticks it overlaps are recorded as skipped,
//! and pushes keep being answered meanwhile; a failing run is recorded with
//! its error and log lines, listed by `GET /api/v1/schedules`; `reminder`
//! sends its template to its list through the outbound queue and the fake
//! WeChat; schedules on a plugin that cannot run them refuse it at load.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use wxhost::protocol::{Mode, Push, Reply};
use wxhost::store::{ScheduleRun, Stores};
use wxhost_tests::fake_wechat::FakeWechat;
use wxhost_tests::redis_server::RedisServer;
use wxhost_tests::service::{Wxhost, free_port};

const PLUGIN: &str = "fault_schedule";
const API_TOKEN: &str = "schedules-test-api-token-0123456789";

fn now_ms() -> u64 {
    wxhost::store::now_millis() as u64
}

/// Waits until wall-clock time `ms` (the ticks are wall-clock times).
async fn until_ms(ms: u64) {
    let now = now_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(ms - now)).await;
    }
}

/// Polls the store's runs until `check` holds or `within` passes.
async fn runs_until(
    stores: &Stores,
    within: Duration,
    check: impl Fn(&[ScheduleRun]) -> bool,
) -> Vec<ScheduleRun> {
    let deadline = Instant::now() + within;
    loop {
        let runs = stores.schedules.runs(500).await.expect("runs");
        if check(&runs) || Instant::now() >= deadline {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sqlite(host: &Wxhost) -> Stores {
    Stores::sqlite(&host.dir.path().join("data")).expect("the host's store")
}

fn of<'a>(runs: &'a [ScheduleRun], schedule: &str) -> Vec<&'a ScheduleRun> {
    runs.iter().filter(|r| r.schedule == schedule).collect()
}

#[tokio::test]
async fn three_instances_on_redis_run_each_tick_once_between_them() {
    let redis = RedisServer::start().await;
    let prefix = "sched3:";
    let config = format!("[plugin.{PLUGIN}.schedules]\nevery2 = \"*/2 * * * * *\"\n");
    let mut hosts = Vec::new();
    for i in 0..3 {
        let mut env = redis.env(prefix);
        env.push(("WXHOST_INSTANCE".into(), format!("sched-{i}")));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        hosts.push(Wxhost::start(&[PLUGIN], &config, &env).await);
    }
    // A window of 30 s that starts once all three run: 15 ticks.
    let start = (now_ms() / 2000 + 2) * 2000;
    let end = start + 30_000;
    until_ms(end + 1500).await;
    let stores = redis.stores(prefix);
    let runs = runs_until(&stores, Duration::from_secs(5), |runs| {
        runs.iter().any(|r| r.tick_ms >= end)
    })
    .await;
    let window: Vec<&ScheduleRun> = runs
        .iter()
        .filter(|r| (start..end).contains(&r.tick_ms))
        .collect();
    let ticks: BTreeSet<u64> = window.iter().map(|r| r.tick_ms).collect();
    let logs: String = hosts.iter().map(|h| h.log()).collect();
    assert!(
        (14..=16).contains(&window.len()),
        "{} runs in 30 s of a 2 s schedule, not 15: {window:?}\n{logs}",
        window.len()
    );
    assert_eq!(ticks.len(), window.len(), "a tick ran twice: {window:?}");
    assert!(window.iter().all(|r| r.outcome == "ok"), "{window:?}");
    let instances: BTreeSet<&str> = window.iter().map(|r| r.instance.as_str()).collect();
    assert!(
        instances.iter().all(|i| i.starts_with("sched-")),
        "{instances:?}"
    );
}

#[tokio::test]
async fn a_restart_runs_one_catch_up_for_missed_ticks_and_none_when_skipped() {
    let config = format!(
        "[plugin.{PLUGIN}.schedules]\n\
         once = {{ cron = \"*/2 * * * * *\", catch_up = \"once\" }}\n\
         skip = \"*/2 * * * * *\"\n"
    );
    let mut host = Wxhost::start(&[PLUGIN], &config, &[]).await;
    let stores = sqlite(&host);
    runs_until(&stores, Duration::from_secs(10), |runs| {
        of(runs, "once").len() >= 2 && !of(runs, "skip").is_empty()
    })
    .await;
    host.kill();
    let stopped = now_ms();
    // Three ticks of each schedule pass while nothing runs.
    until_ms(stopped + 6_500).await;
    host.restart().await;
    let restarted = now_ms();
    let runs = runs_until(&stores, Duration::from_secs(10), |runs| {
        runs.iter().any(|r| r.catch_up)
            && runs.iter().filter(|r| r.started_ms > restarted).count() >= 4
    })
    .await;
    let catch_ups: Vec<&ScheduleRun> = runs.iter().filter(|r| r.catch_up).collect();
    assert_eq!(catch_ups.len(), 1, "{runs:?}\n{}", host.log());
    let c = catch_ups[0];
    assert_eq!(c.schedule, "once");
    // It stands for the newest tick missed while stopped.
    assert!(
        c.tick_ms > stopped && c.tick_ms <= restarted,
        "{c:?} (stopped {stopped}, restarted {restarted})"
    );
    assert_eq!(c.outcome, "ok", "{c:?}");
    // The ticks missed in between are not run one by one.
    let missed = runs
        .iter()
        .filter(|r| r.tick_ms > stopped && r.tick_ms <= restarted)
        .count();
    assert_eq!(missed, 1, "{runs:?}");
}

#[tokio::test]
async fn a_spinning_run_is_stopped_at_its_limit_overlaps_are_skipped_and_pushes_keep_answering() {
    let admin_port = free_port();
    let admin = format!("127.0.0.1:{admin_port}");
    let config = format!(
        "[plugin.{PLUGIN}]\ntimeout_ms = 2500\n\
         [plugin.{PLUGIN}.schedules]\n\
         spin = \"* * * * * *\"\n\
         fail = {{ cron = \"*/3 * * * * *\", timeout_ms = 1000 }}\n"
    );
    let env = [
        ("WXHOST_ADMIN_API_TOKEN", API_TOKEN),
        ("WXHOST_ADMIN_LISTEN", admin.as_str()),
    ];
    let host = Wxhost::start(&["echo", PLUGIN], &config, &env).await;
    let stores = sqlite(&host);

    // Pushes while the run spins: every one answered by echo.
    let mut answered = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let text = format!("still here {answered}");
        let xml = host
            .push(&Push::Text(text.clone()), Mode::Safe, rand::random())
            .await;
        match wxhost::protocol::parse_reply(&xml).map(|r| r.reply) {
            Ok(Reply::Text(t)) => assert_eq!(t, text),
            other => panic!("a push was not answered by echo: {other:?}\n{}", host.log()),
        }
        answered += 1;
    }
    assert!(answered > 5, "{answered}");

    let runs = runs_until(&stores, Duration::from_secs(10), |runs| {
        let spin = of(runs, "spin");
        spin.iter().any(|r| r.outcome == "timeout")
            && spin.iter().any(|r| r.outcome == "skipped")
            && !of(runs, "fail").is_empty()
    })
    .await;
    let spin = of(&runs, "spin");
    let stopped = spin
        .iter()
        .find(|r| r.outcome == "timeout")
        .unwrap_or_else(|| panic!("{runs:?}\n{}", host.log()));
    assert!(
        (2500..6000).contains(&stopped.duration_ms),
        "stopped at its 2.5 s limit: {stopped:?}"
    );
    assert!(
        stopped.error.as_deref().unwrap_or("").contains("timed out"),
        "{stopped:?}"
    );
    let skipped = spin.iter().find(|r| r.outcome == "skipped");
    assert!(
        skipped.is_some(),
        "an overlapping tick is skipped: {spin:?}"
    );
    // Never two spins at once: a run's tick is not inside another's.
    let failed = of(&runs, "fail")[0];
    assert_eq!(failed.outcome, "failed", "{failed:?}");
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("asked to fail"),
        "{failed:?}"
    );

    // The API lists both schedules and the runs.
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{admin}/api/v1/schedules"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["timezone"], "Asia/Shanghai");
    let names: BTreeSet<&str> = body["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["schedule"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["fail", "spin"]), "{body}");
    let spin_view = body["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["schedule"] == "spin")
        .unwrap();
    assert_eq!(spin_view["limit_ms"], 2500, "{spin_view}");
    assert!(spin_view["next_ms"].as_u64().unwrap() > 0, "{spin_view}");
    assert!(
        body["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["outcome"] == "skipped"),
        "{body}"
    );
    // Without the token: refused.
    let status = reqwest::get(format!("http://{admin}/api/v1/schedules"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn reminder_sends_its_template_to_its_list_through_the_queue() {
    let fake = FakeWechat::start().await;
    let config = "[plugin.reminder]\ncapabilities = [\"outbound\"]\n\
                  [plugin.reminder.config]\n\
                  to = \"o_remind_a, o_remind_b\"\n\
                  template_id = \"TPL_REMIND\"\n\
                  [plugin.reminder.schedules]\n\
                  soon = \"*/2 * * * * *\"\n";
    let host = Wxhost::start_against(&fake, &["reminder"], config, &[]).await;
    let stores = sqlite(&host);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let to: BTreeSet<String> = fake.deliveries().into_iter().map(|d| d.to).collect();
        if to.contains("o_remind_a") && to.contains("o_remind_b") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{:?}\n{}",
            fake.deliveries(),
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = stores.schedules.runs(500).await.unwrap();
    let ok: Vec<&ScheduleRun> = runs.iter().filter(|r| r.outcome == "ok").collect();
    assert!(!ok.is_empty(), "{runs:?}");
    assert!(
        ok[0].logs.iter().any(|l| l.contains("2 of 2 queued")),
        "{:?}",
        ok[0].logs
    );
    // Each openid gets one message per run, never more: jobs carry the
    // tick in their key.
    let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
    for d in fake.deliveries() {
        assert_eq!(d.template_id.as_deref(), Some("TPL_REMIND"), "{d:?}");
        *per_user.entry(d.to).or_default() += 1;
    }
    let runs_now = stores.schedules.runs(500).await.unwrap();
    let ok_now = runs_now.iter().filter(|r| r.outcome == "ok").count();
    for (user, n) in &per_user {
        assert!(*n <= ok_now, "{user} got {n} messages from {ok_now} runs");
    }
    // The run is recorded in its kv.
    let last = stores
        .kv
        .get("reminder", "last")
        .await
        .unwrap()
        .map(|e| String::from_utf8(e).unwrap())
        .unwrap_or_default();
    assert!(last.starts_with("soon "), "{last:?}");
}

#[tokio::test]
async fn schedules_for_a_plugin_without_the_export_refuse_it_at_load() {
    let config = "[plugin.echo.schedules]\ndaily = \"0 30 8 * * *\"\n";
    let host = Wxhost::start(&["echo", "welcome"], config, &[]).await;
    let log = host.log();
    assert!(
        log.contains("does not export wechat:plugin/schedule"),
        "{log}"
    );
    // A bad expression is a config error naming the key.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wxhost.toml"),
        "[plugin.echo.schedules]\ndaily = \"30 8 * * *\"\n",
    )
    .unwrap();
    let out = wxhost_tests::service::cli(dir.path())
        .args(["config"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("plugin.echo.schedules.daily") && err.contains("six"),
        "{err}"
    );
}

#[tokio::test]
async fn an_account_s_own_schedules_replace_the_plugin_s_for_it_and_run_in_its_scope() {
    let config = format!(
        "[account.shop]\napp_id = \"wxshop0000000001\"\n\
         token = \"shoptoken\"\n\
         encoding_aes_key = \"bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"\n\
         [account.shop.plugin.{PLUGIN}.schedules]\n\
         shop = \"* * * * * *\"\n\
         [account.club]\napp_id = \"wxclub0000000001\"\n\
         token = \"clubtoken\"\n\
         encoding_aes_key = \"cbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"\n\
         plugins = [\"echo\"]\n\
         [plugin.{PLUGIN}.schedules]\n\
         every = \"* * * * * *\"\n"
    );
    let host = Wxhost::start(&["echo", PLUGIN], &config, &[]).await;
    let default = sqlite(&host);
    let shop = Stores::sqlite(&host.dir.path().join("data/accounts/shop")).expect("shop's store");
    let shop_runs = runs_until(&shop, Duration::from_secs(10), |r| r.len() >= 2).await;
    let default_runs = runs_until(&default, Duration::from_secs(10), |r| r.len() >= 2).await;
    // shop runs its own schedule, not the plugin's; the default runs the
    // plugin's; club is not served by the plugin at all.
    assert!(
        shop_runs.len() >= 2 && shop_runs.iter().all(|r| r.schedule == "shop"),
        "{shop_runs:?}\n{}",
        host.log()
    );
    assert!(
        default_runs.iter().all(|r| r.schedule == "every"),
        "{default_runs:?}"
    );
    // The run acted for its account: its kv is the account's.
    let counted = shop.kv.get(PLUGIN, "runs:shop").await.unwrap();
    assert!(counted.is_some(), "shop's kv holds shop's runs");
    assert!(default.kv.get(PLUGIN, "runs:shop").await.unwrap().is_none());
    assert!(
        !host
            .dir
            .path()
            .join("data/accounts/club/wxhost.db")
            .exists()
            || Stores::sqlite(&host.dir.path().join("data/accounts/club"))
                .unwrap()
                .schedules
                .runs(10)
                .await
                .unwrap()
                .is_empty()
    );
}
