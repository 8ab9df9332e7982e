//! The media cache: the same bytes uploaded once per account. An upload is
//! keyed by the SHA-256 of its bytes (and its type and kind); a temporary
//! `media_id` (WeChat keeps those 3 days) is reused for 2.5 days, then the
//! bytes are uploaded again, so a job never carries an id that expires
//! before it is sent.
//!
//! Entries live in the account's key-value store under the namespace
//! [`NAMESPACE`], which no plugin can have (plugin ids are
//! `[A-Za-z0-9_-]`): SQLite or Redis, per account, like the rest of the
//! account's data.

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::api::media::{MediaKind, Uploaded};
use crate::api::{ApiError, Wechat};
use crate::store::{KvQuota, KvStore, now_millis};

/// The kv namespace of the cache.
pub const NAMESPACE: &str = "@outbound-media";
/// How long a temporary media_id is reused: half a day short of WeChat's 3.
pub const TEMPORARY_REUSE_MS: i64 = 60 * 3_600_000;
/// Entries are small; the cache may hold many.
const QUOTA: KvQuota = KvQuota {
    max_bytes: 64 << 20,
    max_keys: 200_000,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    media_id: String,
    url: Option<String>,
    uploaded_ms: i64,
}

/// An upload's result: the media and whether it came from the cache.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Media {
    pub media_id: String,
    pub url: Option<String>,
    pub kind: MediaKind,
    pub permanent: bool,
    /// The bytes were uploaded before: no call was made.
    pub cached: bool,
    /// The content's SHA-256 (hex).
    pub sha256: String,
}

/// Whether a cached upload made at `uploaded_ms` may be reused at `now_ms`.
pub fn reusable(uploaded_ms: i64, now_ms: i64, permanent: bool) -> bool {
    permanent || now_ms - uploaded_ms < TEMPORARY_REUSE_MS
}

/// Uploads `bytes` for the account of `wechat` and `kv`, unless the same
/// bytes were uploaded (and are still usable).
pub async fn upload(
    wechat: &Wechat,
    kv: &dyn KvStore,
    kind: MediaKind,
    bytes: &[u8],
    permanent: bool,
) -> Result<Media, ApiError> {
    let sha256 = hex::encode(sha2::Sha256::digest(bytes));
    let key = format!(
        "{}:{}:{sha256}",
        if permanent { "material" } else { "temporary" },
        kind.as_str()
    );
    let now = now_millis();
    if let Some(raw) = kv.get(NAMESPACE, &key).await?
        && let Ok(e) = serde_json::from_slice::<Entry>(&raw)
        && reusable(e.uploaded_ms, now, permanent)
    {
        metrics::counter!("wxhost_outbound_media_total", "cached" => "true").increment(1);
        return Ok(Media {
            media_id: e.media_id,
            url: e.url,
            kind,
            permanent,
            cached: true,
            sha256,
        });
    }
    let Uploaded { media_id, url } = wechat.upload_media(kind, bytes, permanent).await?;
    metrics::counter!("wxhost_outbound_media_total", "cached" => "false").increment(1);
    let entry = Entry {
        media_id: media_id.clone(),
        url: url.clone(),
        uploaded_ms: now,
    };
    let value = serde_json::to_vec(&entry).map_err(|e| ApiError::Invalid(e.to_string()))?;
    if let Err(e) = kv.set(NAMESPACE, &key, &value, QUOTA).await {
        // Uploaded all the same: the next upload of these bytes calls again.
        tracing::warn!(error = %e, "media cache: entry not stored");
    }
    Ok(Media {
        media_id,
        url,
        kind,
        permanent,
        cached: false,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_ids_are_reused_for_two_and_a_half_days_permanent_ones_always() {
        let day = 86_400_000;
        assert!(reusable(0, 2 * day, false));
        assert!(reusable(0, 2 * day + day / 2 - 1, false));
        assert!(!reusable(0, 2 * day + day / 2, false));
        assert!(!reusable(0, 3 * day, false));
        assert!(reusable(0, 400 * day, true));
    }
}
