//! Plugins published to the store: what every instance sharing the store
//! serves, whatever its own plugins directory holds.
//!
//! A published version is a content-addressed blob (the component's bytes
//! under their SHA-256, stored once however often it is published) and a
//! [`PluginManifest`] saying who published which digest of which plugin id
//! when. Each id has a history, newest first; its newest manifest is the
//! version to serve. A rollback publishes an older digest again (a new
//! manifest, so the history records it too). Instances poll
//! [`PublishedPluginStore::generation`], one cheap read, and read the
//! current manifests only when it moved (`plugin/published.rs`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// One publication of a plugin id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginManifest {
    pub id: String,
    /// The version the component declares in `describe()`.
    pub version: String,
    /// The SHA-256 of the component's bytes, lowercase hex: its blob's name.
    pub digest: String,
    /// Who published it (`admin@…`, `api@…`, `cli@host`).
    pub who: String,
    /// Unix milliseconds.
    pub when_ms: u64,
}

/// How many manifests each id's history keeps (older blobs that no kept
/// manifest names are dropped with them).
pub const HISTORY_KEPT: usize = 20;

/// Published plugins. Each call is one atomic step.
#[async_trait]
pub trait PublishedPluginStore: Send + Sync + 'static {
    /// Stores `blob` under `manifest.digest` (the caller computed it from
    /// `blob`) and makes `manifest` its id's current version.
    async fn publish(&self, manifest: &PluginManifest, blob: &[u8]) -> Result<(), StoreError>;
    /// The current manifest of every published id, by id.
    async fn current(&self) -> Result<Vec<PluginManifest>, StoreError>;
    /// `id`'s manifests, newest (current) first.
    async fn history(&self, id: &str) -> Result<Vec<PluginManifest>, StoreError>;
    /// The component stored under `digest`.
    async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// A number that changes with every publication (and rollback).
    async fn generation(&self) -> Result<u64, StoreError>;
}

/// The digest of a component: its SHA-256, lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Whether `digest` names a blob: 64 lowercase hex digits.
pub fn valid_digest(digest: &str) -> bool {
    digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
