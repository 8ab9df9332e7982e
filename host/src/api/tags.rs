//! User tags (`/cgi-bin/tags/*`): what mass sends by tag and conditional
//! menus select on. Limits checked here before the call: ≤ 30 bytes per
//! name, ≤ 50 OpenIDs per (un)tagging call, system tags 0–2 immutable
//! (`wechat-outbound-and-open-platform.md` §B.5).

use serde_json::{Value, json};

use super::{ApiError, Wechat};

/// Longest tag name WeChat takes, in bytes (45158 beyond).
pub const MAX_TAG_NAME_BYTES: usize = 30;
/// OpenIDs per batch (un)tagging call.
pub const MAX_BATCH: usize = 50;

/// A tag as `tags/get` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tag {
    pub id: u64,
    pub name: String,
    pub count: u64,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > MAX_TAG_NAME_BYTES {
        return Err(ApiError::Invalid(format!(
            "tag name: 1 to {MAX_TAG_NAME_BYTES} bytes (UTF-8), got {}",
            name.len()
        )));
    }
    Ok(())
}

fn check_batch(openids: &[String]) -> Result<(), ApiError> {
    if openids.is_empty() || openids.len() > MAX_BATCH || openids.iter().any(String::is_empty) {
        return Err(ApiError::Invalid(format!(
            "openid_list: 1 to {MAX_BATCH} non-empty OpenIDs, got {}",
            openids.len()
        )));
    }
    Ok(())
}

impl Wechat {
    /// `tags/create`: the new tag's id.
    pub async fn create_tag(&self, name: &str) -> Result<u64, ApiError> {
        check_name(name)?;
        let v = self
            .post("/cgi-bin/tags/create", &json!({"tag": {"name": name}}))
            .await?;
        v["tag"]["id"]
            .as_u64()
            .ok_or_else(|| ApiError::Transport("tags/create: no tag id in the answer".into()))
    }

    /// `tags/get`: every tag of the account.
    pub async fn list_tags(&self) -> Result<Vec<Tag>, ApiError> {
        let v = self.get("/cgi-bin/tags/get", &[]).await?;
        Ok(v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| Tag {
                        id: t["id"].as_u64().unwrap_or(0),
                        name: t["name"].as_str().unwrap_or("").to_owned(),
                        count: t["count"].as_u64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `tags/members/batchtagging` (or `batchuntagging` when `tag` is false).
    pub async fn tag_users(
        &self,
        tag_id: u64,
        openids: &[String],
        tag: bool,
    ) -> Result<(), ApiError> {
        check_batch(openids)?;
        let path = if tag {
            "/cgi-bin/tags/members/batchtagging"
        } else {
            "/cgi-bin/tags/members/batchuntagging"
        };
        self.post(path, &json!({"openid_list": openids, "tagid": tag_id}))
            .await
            .map(|_| ())
    }

    /// `user/tag/get`: up to 10,000 OpenIDs of a tag from `next_openid`;
    /// `(openids, next_openid)`.
    pub async fn tag_users_list(
        &self,
        tag_id: u64,
        next_openid: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        let v = self
            .post(
                "/cgi-bin/user/tag/get",
                &json!({"tagid": tag_id, "next_openid": next_openid.unwrap_or("")}),
            )
            .await?;
        let ids = v["data"]["openid"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let next = v["next_openid"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok((ids, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_before_the_call() {
        assert!(check_name("广东").is_ok());
        assert!(check_name(&"标".repeat(11)).is_err()); // 33 bytes
        assert!(check_name(" ").is_err());
        assert!(check_batch(&["o".into()]).is_ok());
        assert!(check_batch(&[]).is_err());
        assert!(check_batch(&vec!["o".to_owned(); 51]).is_err());
    }
}
