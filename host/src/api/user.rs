//! User info: `GET /cgi-bin/user/info`. Since the 2021 privacy changes WeChat
//! no longer returns nickname, avatar, sex or location; [`UserInfo`] holds
//! what is left.

use serde_json::Value;

use super::{ApiError, UserInfo, Wechat};

/// [`UserInfo`] from WeChat's answer (absent fields stay empty).
pub fn parse_user_info(v: &Value) -> UserInfo {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    UserInfo {
        subscribed: v.get("subscribe").and_then(Value::as_i64) == Some(1),
        openid: s("openid").unwrap_or_default(),
        unionid: s("unionid"),
        language: s("language"),
        subscribe_time: v.get("subscribe_time").and_then(Value::as_u64),
        subscribe_scene: s("subscribe_scene"),
        remark: s("remark"),
        tag_ids: v
            .get("tagid_list")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_u64().and_then(|t| u32::try_from(t).ok()))
                    .collect()
            })
            .unwrap_or_default(),
        qr_scene: v
            .get("qr_scene")
            .and_then(Value::as_u64)
            .filter(|&n| n != 0),
        qr_scene_str: s("qr_scene_str"),
    }
}

impl Wechat {
    /// What WeChat tells about the follower `openid`.
    pub async fn user_info(&self, openid: &str) -> Result<UserInfo, ApiError> {
        if openid.is_empty() {
            return Err(ApiError::Invalid("user info: empty openid".into()));
        }
        let answer = self
            .get(
                "/cgi-bin/user/info",
                &[("openid", openid), ("lang", "zh_CN")],
            )
            .await?;
        let mut info = parse_user_info(&answer);
        if info.openid.is_empty() {
            info.openid = openid.to_owned();
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_answer() {
        let v = json!({"subscribe":1,"openid":"o","language":"zh_CN","subscribe_time":1382694957,"unionid":"u","remark":"","groupid":0,"tagid_list":[128,2],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":98765,"qr_scene_str":""});
        let u = parse_user_info(&v);
        assert!(u.subscribed);
        assert_eq!(
            (u.tag_ids, u.qr_scene, u.qr_scene_str, u.remark),
            (vec![128, 2], Some(98765), None, None)
        );
        assert!(!parse_user_info(&json!({"subscribe":0,"openid":"o"})).subscribed);
    }
}
