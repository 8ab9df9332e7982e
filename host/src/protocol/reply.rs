//! Passive replies: what we answer to a push, inside the same HTTP response.

/// A passive reply. `None` at the call site (or [`Reply::Success`]) means
/// "answer `success`": WeChat shows nothing and does not retry.
// Serializable: instances sharing a Redis pass decisions to each other
// (`server::shared`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    Text(String),
    Image {
        media_id: String,
    },
    Voice {
        media_id: String,
    },
    Video {
        media_id: String,
        title: Option<String>,
        description: Option<String>,
    },
    Music {
        title: Option<String>,
        description: Option<String>,
        music_url: Option<String>,
        hq_music_url: Option<String>,
        thumb_media_id: String,
    },
    News(Vec<Article>),
    TransferCustomerService {
        kf_account: Option<String>,
    },
    /// The literal body `success`, never encrypted.
    Success,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Article {
    pub title: String,
    pub description: String,
    pub pic_url: String,
    pub url: String,
}
