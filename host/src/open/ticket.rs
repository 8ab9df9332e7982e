//! The `component_verify_ticket`: WeChat pushes one to `/open/notify` every
//! 10 minutes, there is no API to pull one, and each stays valid 12 hours.
//! It is kept in the deployment's [`TokenStore`] (durable on both backends,
//! shared by every instance), so a restart, another instance or a CLI
//! command (`wxhost open recover`) has it at once — the tickets anchors
//! keep in memory vanish on restart (WxJava#2967/#2968). A push never
//! replaces a newer ticket with an older one (pushes can arrive out of
//! order across instances).

use crate::store::{StoreError, StoredToken, TokenStore, now_secs, quota_day};

/// How long a ticket is good for after WeChat pushed it.
pub const TICKET_VALID_SECS: i64 = 12 * 3600;

/// The store key of `component_app_id`'s ticket.
fn key(component_app_id: &str) -> String {
    format!("open:ticket:{component_app_id}")
}

/// Keeps `ticket`, pushed at `create_time` (unix seconds, WeChat's clock),
/// unless the stored one was pushed later.
pub async fn save(
    store: &dyn TokenStore,
    component_app_id: &str,
    ticket: &str,
    create_time: i64,
) -> Result<(), StoreError> {
    let key = key(component_app_id);
    // A push from the future is taken as pushed now.
    let pushed = create_time.min(now_secs());
    if let Some(old) = store.get(&key).await?
        && old.fetched_at > pushed
    {
        return Ok(());
    }
    let stored = StoredToken {
        token: ticket.to_owned(),
        expires_at: pushed + TICKET_VALID_SECS,
        fetched_at: pushed,
    };
    store.put(&key, &stored, &quota_day(now_secs())).await
}

/// The last ticket pushed, while it is valid.
pub async fn current(
    store: &dyn TokenStore,
    component_app_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(&key(component_app_id))
        .await?
        .filter(|t| t.expires_at > now_secs())
        .map(|t| t.token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Stores;

    #[tokio::test]
    async fn a_ticket_is_kept_durably_for_12_hours_and_never_replaced_by_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_secs();
        {
            let stores = Stores::sqlite(dir.path()).unwrap();
            save(&*stores.tokens, "wxcomp", "ticket@1", now - 60)
                .await
                .unwrap();
            // An older push arriving late does not replace it.
            save(&*stores.tokens, "wxcomp", "ticket@0", now - 600)
                .await
                .unwrap();
        }
        // Another process (a restart) on the same data dir.
        let stores = Stores::sqlite(dir.path()).unwrap();
        let t = &*stores.tokens;
        assert_eq!(
            current(t, "wxcomp").await.unwrap().as_deref(),
            Some("ticket@1")
        );
        assert_eq!(current(t, "wxother").await.unwrap(), None);
        save(t, "wxcomp", "ticket@2", now).await.unwrap();
        assert_eq!(
            current(t, "wxcomp").await.unwrap().as_deref(),
            Some("ticket@2")
        );
        // One pushed more than 12 h ago is no longer offered.
        save(t, "wxold", "stale", now - TICKET_VALID_SECS - 1)
            .await
            .unwrap();
        assert_eq!(current(t, "wxold").await.unwrap(), None);
        save(t, "wxold", "fresh", now - TICKET_VALID_SECS + 60)
            .await
            .unwrap();
        assert_eq!(current(t, "wxold").await.unwrap().as_deref(), Some("fresh"));
    }
}
