//! One behaviour suite over [`Stores`], run on both backends: SQLite (in
//! memory) and Redis (a real `redis-server` per test, on a free loopback
//! port). Whatever a store trait promises, both keep. Then what only the
//! Redis backend has: the push ledger shared by instances.

use std::sync::Arc;
use std::time::Duration;

use wxhost::store::{
    KvQuota, PushKeys, PushState, QrCode, RESERVATION_TTL_SECS, Reservation, SceneCounts,
    StoreError, StoredToken, Stores, WebUserLogin,
};
use wxhost_tests::redis_server::RedisServer;

const Q: KvQuota = KvQuota::DEFAULT;

/// `mod <behaviour> { on_sqlite, on_redis }` for each behaviour below.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                super::$name(wxhost::store::Stores::in_memory().unwrap()).await;
            }
            #[tokio::test]
            async fn on_redis() {
                let redis = super::RedisServer::start().await;
                super::$name(redis.stores("suite:")).await;
            }
        }
    )*};
}

on_both_backends!(
    kv_quota_counts_keys_and_bytes_and_refuses_without_writing,
    concurrent_increments_all_count,
    kv_is_namespaced,
    token_is_compare_and_swap_and_counted,
    a_fetch_lock_has_one_holder_until_released_or_expired,
    session_records_expire_and_are_taken_once,
    menu_versions_have_one_current,
    qrcode_scene_lookup_and_quota,
    permanent_reservations_take_quota_slots_until_completed_or_released,
    parallel_creators_never_take_more_permanent_slots_than_the_quota,
    a_web_user_keeps_its_first_login_and_fields_a_later_base_login_lacks,
    audit_entries_come_back_newest_first,
    scene_counters_add_up_and_unknown_scenes_are_left_out,
    a_plugin_switched_off_stays_off_until_switched_on,
    published_plugins_keep_a_history_and_their_blobs_by_digest,
    everything_exported_imports_into_an_empty_store_as_it_was,
    schedule_ticks_only_move_forward_and_runs_are_kept_newest_first,
);

async fn kv_quota_counts_keys_and_bytes_and_refuses_without_writing(stores: Stores) {
    let s = &*stores.kv;
    let q = KvQuota {
        max_bytes: 20,
        max_keys: 2,
    };
    s.set("p", "a", b"12345", q).await.unwrap(); // 6 bytes
    s.set("p", "b", b"12345", q).await.unwrap(); // 12 bytes, 2 keys
    let e = s.set("p", "c", b"1", q).await.unwrap_err();
    assert!(matches!(e, StoreError::KvQuota(_)), "{e}");
    assert_eq!(s.get("p", "c").await.unwrap(), None);
    // Overwriting counts the difference, not a new key.
    s.set("p", "a", b"1234567890123", q).await.unwrap(); // 14 + 6 = 20
    assert!(s.set("p", "a", b"12345678901234", q).await.is_err());
    // An increment past the quota writes nothing either.
    assert!(matches!(
        s.incr("p", "n", 1, q).await,
        Err(StoreError::KvQuota(_))
    ));
    assert_eq!(s.get("p", "n").await.unwrap(), None);
    // Another namespace has its own quota; deleting frees room.
    s.set("other", "c", b"1", q).await.unwrap();
    s.delete("p", "b").await.unwrap();
    s.set("p", "c", b"1", q).await.unwrap();
    s.delete("p", "missing").await.unwrap();
}

async fn concurrent_increments_all_count(stores: Stores) {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let s = stores.kv.clone();
            tokio::spawn(async move { s.incr("p", "n", 1, Q).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=50).collect::<Vec<_>>());
    let s = &*stores.kv;
    assert_eq!(s.get("p", "n").await.unwrap().as_deref(), Some(&b"50"[..]));
    assert_eq!(s.incr("p", "n", -60, Q).await.unwrap(), -10);
    assert_eq!(s.incr("p", "big", i64::MAX, Q).await.unwrap(), i64::MAX);
    assert!(matches!(
        s.incr("p", "big", 1, Q).await,
        Err(StoreError::Invalid(_))
    ));
    s.set("p", "text", b"abc", Q).await.unwrap();
    assert!(matches!(
        s.incr("p", "text", 1, Q).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn kv_is_namespaced(stores: Stores) {
    let s = &*stores.kv;
    s.set("a", "k", b"1", Q).await.unwrap();
    s.set("b", "k", b"2", Q).await.unwrap();
    s.set("a", "k", b"3", Q).await.unwrap();
    s.set("a:k", "", b"x", Q).await.unwrap();
    assert_eq!(s.get("a", "k").await.unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(s.get("b", "k").await.unwrap().as_deref(), Some(&b"2"[..]));
    s.delete("a", "k").await.unwrap();
    assert_eq!(s.get("a", "k").await.unwrap(), None);
    // Values are bytes, not text.
    s.set("b", "bin", &[0, 255, 10], Q).await.unwrap();
    assert_eq!(s.get("b", "bin").await.unwrap(), Some(vec![0, 255, 10]));
}

fn token(t: &str, expires_at: i64) -> StoredToken {
    StoredToken {
        token: t.into(),
        expires_at,
        fetched_at: 1,
    }
}

async fn token_is_compare_and_swap_and_counted(stores: Stores) {
    let s = &*stores.tokens;
    let (t1, t2) = (token("one", 100), token("two", 200));
    assert_eq!(s.get("app").await.unwrap(), None);
    s.put("app", &t1, "2024-01-01").await.unwrap();
    s.put("app", &t2, "2024-01-01").await.unwrap();
    assert_eq!(s.get("app").await.unwrap(), Some(t2.clone()));
    // A caller that failed with the old token must not drop the new one.
    assert!(!s.invalidate("app", "one").await.unwrap());
    assert_eq!(s.get("app").await.unwrap(), Some(t2));
    assert!(s.invalidate("app", "two").await.unwrap());
    assert_eq!(s.get("app").await.unwrap(), None);
    assert_eq!(s.fetches("app", "2024-01-01").await.unwrap(), 2);
    assert_eq!(s.fetches("app", "2024-01-02").await.unwrap(), 0);
    assert!(!format!("{t1:?}").contains("one"));
}

async fn a_fetch_lock_has_one_holder_until_released_or_expired(stores: Stores) {
    let s = &*stores.tokens;
    let long = Duration::from_secs(30);
    assert!(s.try_lock("fetch:app", "a", long).await.unwrap());
    assert!(!s.try_lock("fetch:app", "b", long).await.unwrap());
    assert!(s.try_lock("fetch:other", "b", long).await.unwrap());
    // Not b's to release.
    s.unlock("fetch:app", "b").await.unwrap();
    assert!(!s.try_lock("fetch:app", "b", long).await.unwrap());
    s.unlock("fetch:app", "a").await.unwrap();
    assert!(
        s.try_lock("fetch:app", "b", Duration::from_millis(30))
            .await
            .unwrap()
    );
    // A holder that died: its lock expires.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(s.try_lock("fetch:app", "c", long).await.unwrap());
}

async fn session_records_expire_and_are_taken_once(stores: Stores) {
    let s = &*stores.sessions;
    let long = Duration::from_secs(60);
    s.put("web", "a", b"alice", long).await.unwrap();
    s.put("admin", "a", b"root", long).await.unwrap();
    assert_eq!(
        s.get("web", "a").await.unwrap().as_deref(),
        Some(&b"alice"[..])
    );
    assert_eq!(
        s.get("admin", "a").await.unwrap().as_deref(),
        Some(&b"root"[..])
    );
    s.put("web", "short", b"x", Duration::from_millis(20))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert_eq!(s.get("web", "short").await.unwrap(), None);
    assert_eq!(s.take("web", "short").await.unwrap(), None);
    // Of concurrent takes exactly one gets the record.
    s.put("state", "s1", b"next", long).await.unwrap();
    let takes: Vec<_> = (0..8)
        .map(|_| {
            let st = stores.sessions.clone();
            tokio::spawn(async move { st.take("state", "s1").await.unwrap() })
        })
        .collect();
    let mut got = 0;
    for t in takes {
        got += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(got, 1);
    s.delete("web", "a").await.unwrap();
    assert_eq!(s.get("web", "a").await.unwrap(), None);
}

async fn menu_versions_have_one_current(stores: Stores) {
    let s = &*stores.menus;
    let a = s.insert("{\"button\":[]}", Some("first")).await.unwrap();
    let b = s.insert("{}", None).await.unwrap();
    assert!(b > a);
    assert_eq!(s.current().await.unwrap(), None);
    s.mark_published(a, &[]).await.unwrap();
    s.mark_published(b, &["1".into(), "2".into()])
        .await
        .unwrap();
    let cur = s.current().await.unwrap().unwrap();
    assert_eq!(
        (cur.id, cur.conditional_menu_ids.clone()),
        (b, vec!["1".to_owned(), "2".to_owned()])
    );
    let h = s.history().await.unwrap();
    assert_eq!(
        h.iter().map(|v| (v.id, v.current)).collect::<Vec<_>>(),
        vec![(b, true), (a, false)]
    );
    assert_eq!(h[1].note.as_deref(), Some("first"));
    assert_eq!(h[0].note, None);
    assert!(h[1].published_at.is_some());
    assert_eq!(s.get(a).await.unwrap().unwrap().json, "{\"button\":[]}");
    // A push that stopped halfway is current, with what is live.
    s.mark_partial(a, &["7".into()], "default menu live")
        .await
        .unwrap();
    let cur = s.current().await.unwrap().unwrap();
    assert_eq!(
        (cur.id, cur.conditional_menu_ids, cur.partial.as_deref()),
        (a, vec!["7".to_owned()], Some("default menu live"))
    );
    assert!(!s.get(b).await.unwrap().unwrap().current);
    s.mark_published(a, &[]).await.unwrap();
    assert_eq!(s.current().await.unwrap().unwrap().partial, None);
    s.clear_current().await.unwrap();
    assert_eq!(s.current().await.unwrap(), None);
    assert!(s.mark_published(999, &[]).await.is_err());
    assert!(s.mark_partial(999, &[], "x").await.is_err());
    assert_eq!(s.get(999).await.unwrap(), None);
}

fn qr(scene: &str, permanent: bool, expires_at: Option<u64>) -> QrCode {
    QrCode {
        scene: scene.into(),
        ticket: format!("t-{scene}+/="),
        url: "u".into(),
        permanent,
        expires_at,
        note: None,
        created_at: 1,
    }
}

async fn qrcode_scene_lookup_and_quota(stores: Stores) {
    let s = &*stores.qrcodes;
    s.insert(&qr("a", false, Some(50)), None).await.unwrap();
    let newer = s.insert(&qr("a", false, Some(200)), None).await.unwrap();
    s.insert(&qr("a", false, Some(60)), None).await.unwrap();
    assert_eq!(
        s.by_scene_at("a", 100).await.unwrap().map(|r| r.id),
        Some(newer)
    );
    assert_eq!(s.by_scene_at("a", 300).await.unwrap(), None);
    s.insert(&qr("p1", true, None), Some(2)).await.unwrap();
    let noted = QrCode {
        note: Some("poster".into()),
        ..qr("p2", true, None)
    };
    let p2 = s.insert(&noted, Some(2)).await.unwrap();
    let e = s.insert(&qr("p3", true, None), Some(2)).await.unwrap_err();
    assert!(
        matches!(e, StoreError::QuotaReached { count: 2, limit: 2 }),
        "{e}"
    );
    assert_eq!(s.permanent_count().await.unwrap(), 2);
    assert!(s.by_scene_at("p1", i64::MAX).await.unwrap().is_some());
    let found = s.permanent_by_scene("p2").await.unwrap().unwrap();
    assert_eq!((found.id, &found.code), (p2, &noted));
    assert_eq!(s.by_id(p2).await.unwrap().unwrap().code, noted);
    assert_eq!(
        s.by_ticket("t-p1+/=").await.unwrap().unwrap().code.scene,
        "p1"
    );
    assert_eq!(s.by_ticket("t-none").await.unwrap(), None);
    assert_eq!(s.list(2).await.unwrap().len(), 2);
    assert_eq!(s.list(2).await.unwrap()[0].id, p2, "newest first");
    assert_eq!(s.list(100).await.unwrap().len(), 5);
}

async fn permanent_reservations_take_quota_slots_until_completed_or_released(stores: Stores) {
    let s = &*stores.qrcodes;
    let now = 1_000_000;
    s.insert(&qr("p1", true, None), Some(3)).await.unwrap();
    let Reservation::Reserved(a) = s.reserve_permanent("a", 3, now).await.unwrap() else {
        panic!("a slot is free")
    };
    // One creator per scene at a time; a created scene is returned.
    assert_eq!(
        s.reserve_permanent("a", 3, now).await.unwrap(),
        Reservation::Busy
    );
    assert!(matches!(
        s.reserve_permanent("p1", 3, now).await.unwrap(),
        Reservation::Exists(r) if r.code.scene == "p1"
    ));
    let Reservation::Reserved(b) = s.reserve_permanent("b", 3, now).await.unwrap() else {
        panic!("the last slot is free")
    };
    assert_eq!(s.reservations().await.unwrap().len(), 2);
    // Created codes and reservations fill the quota together.
    assert_eq!(
        s.reserve_permanent("c", 3, now).await.unwrap_err(),
        StoreError::QuotaReached { count: 3, limit: 3 }
    );
    // A released slot is free again; a completed one is a code.
    s.release_permanent(b).await.unwrap();
    let id = s.complete_permanent(a, &qr("a", true, None)).await.unwrap();
    assert_eq!(s.by_id(id).await.unwrap().unwrap().code.scene, "a");
    assert_eq!(s.permanent_count().await.unwrap(), 2);
    assert!(s.reservations().await.unwrap().is_empty());
    let Reservation::Reserved(_) = s.reserve_permanent("c", 3, now).await.unwrap() else {
        panic!("the released slot is free")
    };
    assert!(s.reserve_permanent("d", 3, now).await.is_err());
    // A reservation whose creator died expires.
    let later = now + RESERVATION_TTL_SECS;
    assert!(matches!(
        s.reserve_permanent("d", 3, later).await.unwrap(),
        Reservation::Reserved(_)
    ));
}

async fn parallel_creators_never_take_more_permanent_slots_than_the_quota(stores: Stores) {
    let limit = 5;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let q = stores.qrcodes.clone();
            tokio::spawn(async move { q.reserve_permanent(&format!("s{i}"), limit, 1).await })
        })
        .collect();
    let mut reserved = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Reservation::Reserved(_)) => reserved += 1,
            Err(StoreError::QuotaReached { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(reserved, limit);
}

async fn a_web_user_keeps_its_first_login_and_fields_a_later_base_login_lacks(stores: Stores) {
    let s = &*stores.web_users;
    let full = WebUserLogin {
        openid: "o1".into(),
        unionid: Some("u1".into()),
        nickname: Some("小明".into()),
        avatar_url: Some("http://img/0".into()),
        scope: "snsapi_userinfo".into(),
        snapshot: false,
    };
    let first = s.record_login(&full, 100).await.unwrap();
    assert_eq!((first.first_seen, first.last_seen), (100, 100));
    let base = WebUserLogin {
        openid: "o1".into(),
        scope: "snsapi_base".into(),
        ..Default::default()
    };
    let later = s.record_login(&base, 200).await.unwrap();
    assert_eq!((later.first_seen, later.last_seen), (100, 200));
    assert_eq!(later.nickname.as_deref(), Some("小明"));
    assert_eq!(later.unionid.as_deref(), Some("u1"));
    assert_eq!(later.scope, "snsapi_base");
    assert_eq!(s.get("o1").await.unwrap(), Some(later));
    assert_eq!(s.get("o2").await.unwrap(), None);
    // Two instances recording one user at once keep one first login.
    let logins: Vec<_> = (0..20)
        .map(|i| {
            let s = stores.web_users.clone();
            let login = WebUserLogin {
                openid: "o3".into(),
                scope: "snsapi_base".into(),
                ..Default::default()
            };
            tokio::spawn(async move { s.record_login(&login, 1000 + i).await.unwrap() })
        })
        .collect();
    let mut firsts = Vec::new();
    for t in logins {
        firsts.push(t.await.unwrap().first_seen);
    }
    let stored = s.get("o3").await.unwrap().unwrap();
    assert!(firsts.iter().all(|f| *f == stored.first_seen), "{firsts:?}");
}

async fn audit_entries_come_back_newest_first(stores: Stores) {
    let s = &*stores.audit;
    s.append(10, "admin@127.0.0.1", "menu_publish", "version 1 \"春\"")
        .await
        .unwrap();
    s.append(11, "api@127.0.0.1", "plugin_disable", "echo")
        .await
        .unwrap();
    let got = s.recent(10).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].action.as_str(), got[0].actor.as_str(), got[0].at),
        ("plugin_disable", "api@127.0.0.1", 11)
    );
    assert_eq!(got[1].detail, "version 1 \"春\"");
    assert!(got[0].id > got[1].id);
    assert_eq!(s.recent(1).await.unwrap().len(), 1);
    assert!(s.recent(0).await.unwrap().is_empty());
}

async fn scene_counters_add_up_and_unknown_scenes_are_left_out(stores: Stores) {
    let s = &*stores.scene_stats;
    let one = |scans, follows| SceneCounts { scans, follows };
    s.add("promo", one(1, 0)).await.unwrap();
    s.add("promo", one(2, 1)).await.unwrap();
    s.add("only-follows", one(0, 4)).await.unwrap();
    let got = s
        .counts(&[
            "promo".to_owned(),
            "never".to_owned(),
            "only-follows".to_owned(),
        ])
        .await
        .unwrap();
    assert_eq!(got.get("promo"), Some(&one(3, 1)));
    assert_eq!(got.get("only-follows"), Some(&one(0, 4)));
    assert!(!got.contains_key("never"));
    assert!(s.counts(&[]).await.unwrap().is_empty());
}

async fn a_plugin_switched_off_stays_off_until_switched_on(stores: Stores) {
    let s = &*stores.plugin_switches;
    s.set_enabled("echo", false).await.unwrap();
    s.set_enabled("keyword", true).await.unwrap();
    assert_eq!(s.disabled().await.unwrap(), vec!["echo".to_owned()]);
    s.set_enabled("echo", true).await.unwrap();
    assert!(s.disabled().await.unwrap().is_empty());
}

async fn schedule_ticks_only_move_forward_and_runs_are_kept_newest_first(stores: Stores) {
    use wxhost::store::ScheduleRun;
    use wxhost::store::schedules::RUNS_KEPT;
    let s = &*stores.schedules;
    assert_eq!(s.last_tick("p/a").await.unwrap(), None);
    s.mark_tick("p/a", 2_000).await.unwrap();
    // An older tick (a late run finishing after a newer one) never lowers it.
    s.mark_tick("p/a", 1_000).await.unwrap();
    s.mark_tick("p/b", 5).await.unwrap();
    assert_eq!(s.last_tick("p/a").await.unwrap(), Some(2_000));
    assert_eq!(
        s.ticks().await.unwrap(),
        vec![("p/a".to_owned(), 2_000), ("p/b".to_owned(), 5)]
    );
    let run = |tick_ms: u64| ScheduleRun {
        plugin: "p".into(),
        schedule: "a".into(),
        tick_ms,
        started_ms: tick_ms + 3,
        instance: "i1".into(),
        outcome: "ok".into(),
        duration_ms: 1,
        catch_up: false,
        error: None,
        logs: vec!["info: hello".into()],
    };
    for t in 0..(RUNS_KEPT as u64 + 5) {
        s.record_run(&run(t)).await.unwrap();
    }
    let runs = s.runs(RUNS_KEPT + 100).await.unwrap();
    assert_eq!(runs.len(), RUNS_KEPT, "trimmed to the newest");
    assert_eq!(runs[0], run(RUNS_KEPT as u64 + 4));
    assert_eq!(runs.last().unwrap().tick_ms, 5);
    assert_eq!(s.runs(2).await.unwrap().len(), 2);
}

async fn published_plugins_keep_a_history_and_their_blobs_by_digest(stores: Stores) {
    use wxhost::store::PluginManifest;
    use wxhost::store::published::{HISTORY_KEPT, digest};
    let s = &*stores.published;
    assert_eq!(s.generation().await.unwrap(), 0);
    assert!(s.current().await.unwrap().is_empty());
    let manifest = |id: &str, blob: &[u8], n: u64| PluginManifest {
        id: id.into(),
        version: format!("1.0.{n}"),
        digest: digest(blob),
        who: "api@test".into(),
        when_ms: n,
    };
    let (v1, v2) = (b"version one".to_vec(), b"version two".to_vec());
    s.publish(&manifest("bot", &v1, 1), &v1).await.unwrap();
    let g1 = s.generation().await.unwrap();
    s.publish(&manifest("bot", &v2, 2), &v2).await.unwrap();
    s.publish(&manifest("other", &v1, 3), &v1).await.unwrap();
    assert!(
        s.generation().await.unwrap() > g1,
        "every publication moves it"
    );
    let current = s.current().await.unwrap();
    assert_eq!(
        current
            .iter()
            .map(|m| (m.id.as_str(), m.version.as_str()))
            .collect::<Vec<_>>(),
        [("bot", "1.0.2"), ("other", "1.0.3")]
    );
    let history = s.history("bot").await.unwrap();
    assert_eq!(
        history.iter().map(|m| m.when_ms).collect::<Vec<_>>(),
        [2, 1],
        "newest first"
    );
    assert_eq!(s.blob(&digest(&v2)).await.unwrap(), Some(v2.clone()));
    assert_eq!(s.blob(&digest(b"never")).await.unwrap(), None);
    // The history is capped; a blob no kept manifest names goes, one that
    // another id (or a kept manifest) names stays.
    for n in 0..HISTORY_KEPT as u64 {
        let blob = format!("filler {n}").into_bytes();
        s.publish(&manifest("bot", &blob, 10 + n), &blob)
            .await
            .unwrap();
    }
    assert_eq!(s.history("bot").await.unwrap().len(), HISTORY_KEPT);
    assert_eq!(s.blob(&digest(&v2)).await.unwrap(), None, "trimmed away");
    assert_eq!(
        s.blob(&digest(&v1)).await.unwrap(),
        Some(v1),
        "`other` names it"
    );
}

async fn everything_exported_imports_into_an_empty_store_as_it_was(stores: Stores) {
    // Fill `stores`, copy it into a fresh SQLite store and back into a
    // fresh store of the same kind: every record survives both ways.
    fill(&stores).await;
    let sqlite = Stores::in_memory().unwrap();
    copy(&stores, &sqlite).await;
    assert_same(&stores, &sqlite).await;
    // Later inserts continue after the imported ids.
    let next = sqlite.menus.insert("{}", None).await.unwrap();
    let max = stores.menus.history().await.unwrap()[0].id;
    assert!(next > max);
    let next = sqlite
        .qrcodes
        .insert(&qr("new", false, Some(10)), None)
        .await
        .unwrap();
    assert!(next > stores.qrcodes.list(1).await.unwrap()[0].id);
    let next = sqlite.audit.append(400, "a", "b", "c").await.unwrap();
    assert!(next > stores.audit.recent(1).await.unwrap()[0].id);
}

async fn fill(s: &Stores) {
    s.kv.set("echo", "k", b"v", Q).await.unwrap();
    s.kv.set("welcome", "k", &[0, 1, 2], Q).await.unwrap();
    s.kv.incr("welcome", "n", 7, Q).await.unwrap();
    s.tokens
        .put("wxapp", &token("tok", 9_999_999_999), "2024-01-01")
        .await
        .unwrap();
    s.tokens
        .put("wxapp", &token("tok", 9_999_999_999), "2024-01-02")
        .await
        .unwrap();
    let a = s.menus.insert("{\"a\":1}", Some("one")).await.unwrap();
    let b = s.menus.insert("{\"b\":2}", None).await.unwrap();
    s.menus.mark_published(a, &[]).await.unwrap();
    s.menus
        .mark_partial(b, &["9".into()], "half live")
        .await
        .unwrap();
    s.qrcodes
        .insert(&qr("t", false, Some(99)), None)
        .await
        .unwrap();
    s.qrcodes
        .insert(&qr("p", true, None), Some(10))
        .await
        .unwrap();
    s.qrcodes
        .reserve_permanent("r", 10, wxhost::store::now_secs())
        .await
        .unwrap();
    s.sessions
        .put("web-session", "abc", b"alice", Duration::from_secs(600))
        .await
        .unwrap();
    let login = WebUserLogin {
        openid: "o-web".into(),
        nickname: Some("小红".into()),
        scope: "snsapi_userinfo".into(),
        ..Default::default()
    };
    s.web_users.record_login(&login, 100).await.unwrap();
    let login = WebUserLogin {
        openid: "o-snap".into(),
        scope: "snsapi_base".into(),
        snapshot: true,
        ..Default::default()
    };
    s.web_users.record_login(&login, 200).await.unwrap();
    s.audit
        .append(300, "admin@127.0.0.1", "menu_publish", "version 1")
        .await
        .unwrap();
    s.audit
        .append(301, "api@127.0.0.1", "plugin_disable", "echo")
        .await
        .unwrap();
    let counts = SceneCounts {
        scans: 5,
        follows: 2,
    };
    s.scene_stats.add("promo", counts).await.unwrap();
    s.plugin_switches.set_enabled("echo", false).await.unwrap();
}

async fn copy(from: &Stores, to: &Stores) {
    to.kv
        .import(&from.kv.export().await.unwrap())
        .await
        .unwrap();
    to.tokens
        .import(&from.tokens.export().await.unwrap())
        .await
        .unwrap();
    let mut menus = from.menus.history().await.unwrap();
    menus.reverse();
    to.menus.import(&menus).await.unwrap();
    let codes = from.qrcodes.list(usize::MAX).await.unwrap();
    let reservations = from.qrcodes.reservations().await.unwrap();
    to.qrcodes.import(&codes, &reservations).await.unwrap();
    to.sessions
        .import(&from.sessions.export().await.unwrap())
        .await
        .unwrap();
    to.web_users
        .import(&from.web_users.export().await.unwrap())
        .await
        .unwrap();
    to.audit
        .import(&from.audit.export().await.unwrap())
        .await
        .unwrap();
    to.scene_stats
        .import(&from.scene_stats.export().await.unwrap())
        .await
        .unwrap();
    for id in from.plugin_switches.disabled().await.unwrap() {
        to.plugin_switches.set_enabled(&id, false).await.unwrap();
    }
}

async fn assert_same(a: &Stores, b: &Stores) {
    assert_eq!(a.kv.export().await.unwrap(), b.kv.export().await.unwrap());
    assert_eq!(b.kv.export().await.unwrap().len(), 3);
    assert_eq!(
        a.tokens.export().await.unwrap(),
        b.tokens.export().await.unwrap()
    );
    assert_eq!(b.tokens.fetches("wxapp", "2024-01-02").await.unwrap(), 1);
    assert_eq!(
        a.menus.history().await.unwrap(),
        b.menus.history().await.unwrap()
    );
    assert_eq!(
        b.menus.current().await.unwrap().unwrap().partial.as_deref(),
        Some("half live")
    );
    assert_eq!(
        a.qrcodes.list(100).await.unwrap(),
        b.qrcodes.list(100).await.unwrap()
    );
    assert_eq!(b.qrcodes.permanent_count().await.unwrap(), 1);
    assert_eq!(
        a.qrcodes.reservations().await.unwrap(),
        b.qrcodes.reservations().await.unwrap()
    );
    // The quota still counts the imported code and reservation.
    assert_eq!(
        b.qrcodes.reserve_permanent("x", 2, 1).await.unwrap_err(),
        StoreError::QuotaReached { count: 2, limit: 2 }
    );
    let (sa, sb) = (
        a.sessions.export().await.unwrap(),
        b.sessions.export().await.unwrap(),
    );
    assert_eq!(sb.len(), 1);
    assert_eq!(
        (&sb[0].realm, &sb[0].id, &sb[0].value),
        (&sa[0].realm, &sa[0].id, &sa[0].value)
    );
    assert!((sb[0].expires_ms - sa[0].expires_ms).abs() < 2000);
    let users = b.web_users.export().await.unwrap();
    assert_eq!(a.web_users.export().await.unwrap(), users);
    assert_eq!(users.len(), 2);
    assert!(users.iter().any(|u| u.snapshot && u.first_seen == 200));
    let audit = b.audit.export().await.unwrap();
    assert_eq!(a.audit.export().await.unwrap(), audit);
    assert_eq!(audit.len(), 2);
    assert_eq!(
        a.scene_stats.export().await.unwrap(),
        b.scene_stats.export().await.unwrap()
    );
    assert_eq!(b.scene_stats.export().await.unwrap().len(), 1);
    assert_eq!(
        b.plugin_switches.disabled().await.unwrap(),
        vec!["echo".to_owned()]
    );
}

// What only a store several instances share has: the push ledger.

fn push_keys(claimant: &str, fingerprint: u8, body_signed: bool) -> PushKeys<'_> {
    PushKeys {
        pair: [1; 16],
        fingerprint: [fingerprint; 8],
        body_signed,
        pair_expires_at: wxhost::unix_now() + 300,
        message: [2; 16],
        claimant,
        claim_ttl: Duration::from_millis(300),
        remembered: Duration::from_secs(60),
        now_ms: wxhost::unix_now() * 1000,
    }
}

#[tokio::test]
async fn the_first_instance_claims_a_push_and_the_others_see_it_running_then_decided() {
    let redis = RedisServer::start().await;
    let (a, b) = (redis.stores("p:"), redis.stores("p:"));
    let (a, b) = (a.pushes.unwrap(), b.pushes.unwrap());
    let ka = push_keys("a", 7, true);
    assert_eq!(
        a.begin(&ka).await.unwrap(),
        PushState::Claimed { repeat: false }
    );
    // The same request on another instance: a repeat, still running.
    let kb = push_keys("b", 7, true);
    assert_eq!(
        b.begin(&kb).await.unwrap(),
        PushState::Running { repeat: true }
    );
    // WeChat's own second encrypted push under the pair: new, same message.
    assert_eq!(
        b.begin(&push_keys("b", 8, true)).await.unwrap(),
        PushState::Running { repeat: false }
    );
    // A plaintext request under a pair that authenticated one: forged.
    assert_eq!(
        b.begin(&push_keys("b", 9, false)).await.unwrap(),
        PushState::Forged
    );
    a.decide(
        &[(ka.message, b"the decision".to_vec())],
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(
        b.recheck(&kb).await.unwrap(),
        PushState::Decided(b"the decision".to_vec())
    );
    assert_eq!(
        b.begin(&kb).await.unwrap(),
        PushState::Decided(b"the decision".to_vec())
    );
}

#[tokio::test]
async fn a_claim_whose_instance_died_expires_and_the_next_delivery_claims_it() {
    let redis = RedisServer::start().await;
    let stores = redis.stores("p:");
    let ledger = stores.pushes.unwrap();
    let k = push_keys("dead", 7, true);
    assert_eq!(
        ledger.begin(&k).await.unwrap(),
        PushState::Claimed { repeat: false }
    );
    let waiter = push_keys("alive", 7, true);
    assert_eq!(
        ledger.recheck(&waiter).await.unwrap(),
        PushState::Running { repeat: true }
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The same request again, soon after: its first claimant died.
    assert_eq!(
        ledger.begin(&waiter).await.unwrap(),
        PushState::Claimed { repeat: true }
    );
}

#[tokio::test]
async fn a_claim_renewed_by_its_live_claimant_outlives_its_lease_and_only_its_claimant_renews_it() {
    let redis = RedisServer::start().await;
    let ledger = redis.stores("p:").pushes.unwrap();
    let mut k = push_keys("live", 7, true);
    k.claim_ttl = Duration::from_millis(300);
    assert_eq!(
        ledger.begin(&k).await.unwrap(),
        PushState::Claimed { repeat: false }
    );
    let waiter = push_keys("other", 7, true);
    // Renewed past its first lease: still running for everyone else.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            ledger
                .renew(&k.message, "live", Duration::from_millis(300))
                .await
                .unwrap()
        );
    }
    assert_eq!(
        ledger.recheck(&waiter).await.unwrap(),
        PushState::Running { repeat: true }
    );
    // Someone else's renewal neither holds nor extends it.
    assert!(
        !ledger
            .renew(&k.message, "other", Duration::from_secs(60))
            .await
            .unwrap()
    );
    // Its claimant stops renewing (dies): the next recheck claims it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        ledger.recheck(&waiter).await.unwrap(),
        PushState::Claimed { repeat: true }
    );
    assert!(
        !ledger
            .renew(&k.message, "live", Duration::from_millis(300))
            .await
            .unwrap(),
        "a claimant whose lease ran out learns it"
    );
}

#[tokio::test]
async fn an_exact_repeat_after_its_decision_is_forgotten_runs_nothing() {
    let redis = RedisServer::start().await;
    let ledger = redis.stores("p:").pushes.unwrap();
    let mut k = push_keys("a", 7, true);
    k.remembered = Duration::from_millis(200);
    assert!(matches!(
        ledger.begin(&k).await.unwrap(),
        PushState::Claimed { .. }
    ));
    ledger
        .decide(&[(k.message, b"d".to_vec())], Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    k.now_ms += 300;
    assert_eq!(ledger.begin(&k).await.unwrap(), PushState::Forgotten);
}

#[tokio::test]
async fn deployments_with_different_key_prefixes_share_nothing() {
    let redis = RedisServer::start().await;
    let (a, b) = (redis.stores("one:"), redis.stores("two:"));
    a.kv.set("p", "k", b"1", Q).await.unwrap();
    assert_eq!(b.kv.get("p", "k").await.unwrap(), None);
    let (la, lb) = (a.pushes.unwrap(), b.pushes.unwrap());
    assert!(matches!(
        la.begin(&push_keys("a", 1, true)).await.unwrap(),
        PushState::Claimed { .. }
    ));
    assert!(matches!(
        lb.begin(&push_keys("b", 1, true)).await.unwrap(),
        PushState::Claimed { repeat: false }
    ));
    assert!(b.kv.export().await.unwrap().is_empty());
}

#[tokio::test]
async fn with_redis_down_calls_fail_fast_as_unavailable_and_recover_when_it_returns() {
    let mut redis = RedisServer::start().await;
    let stores = redis.stores("p:");
    stores.kv.set("p", "k", b"1", Q).await.unwrap();
    redis.kill();
    let e = stores.kv.get("p", "k").await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    // While down, calls do not wait for the timeout each.
    let t = std::time::Instant::now();
    for _ in 0..20 {
        assert!(stores.kv.get("p", "k").await.is_err());
    }
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    redis.restart().await;
    // Back without a restart of the client (the data is gone: no persistence).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match stores.kv.set("p", "k", b"2", Q).await {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("not back: {e}"),
        }
    }
    assert_eq!(
        stores.kv.get("p", "k").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
}

#[tokio::test]
async fn a_store_on_an_address_where_no_redis_listens_opens_and_reports_unavailable() {
    let port = wxhost_tests::service::free_port();
    let stores = Stores::open(&wxhost::store::StoreLocation::Redis(
        wxhost::store::RedisSettings {
            url: format!("redis://:s3cret@127.0.0.1:{port}/0"),
            key_prefix: "x:".into(),
            timeout: Duration::from_millis(200),
        },
    ))
    .unwrap();
    let e = stores.menus.history().await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
    let _ = Arc::clone(&stores.kv);
}
