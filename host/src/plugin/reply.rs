//! Validating what a plugin answered: every WIT reply is checked before it
//! becomes a [`Reply`] the server may seal.
//!
//! Reply limits (anything outside is [`PluginError::InvalidReply`]):
//! - text: 1..=[`MAX_TEXT_BYTES`] bytes;
//! - media ids (image, voice, video, music thumb): 1..=[`MAX_MEDIA_ID_BYTES`] bytes;
//! - titles 0..=[`MAX_TITLE_BYTES`], descriptions and URLs 0..=[`MAX_LONG_BYTES`];
//! - WeChat's own rules ([`check_reply`]): e.g. news with 1..=8 articles in
//!   reply to an event, exactly 1 to a user's message; each title non-empty;
//! - customer-service account: 1..=[`MAX_TITLE_BYTES`] bytes when given;
//! - no control characters other than tab, CR and LF anywhere (they cannot be
//!   written in the reply XML).
//!
//! [`PluginError::InvalidReply`]: super::PluginError::InvalidReply

use super::PluginOutcome;
use super::bindings::v1::wechat::plugin::types as wit;
use crate::protocol::{Article, Message, Reply, check_reply};

pub const MAX_TEXT_BYTES: usize = 2048;
pub const MAX_MEDIA_ID_BYTES: usize = 256;
pub const MAX_TITLE_BYTES: usize = 512;
pub const MAX_LONG_BYTES: usize = 2048;

/// Validates a reply against the limits in the module docs.
pub(crate) fn validate(reply: wit::Reply, msg: &Message) -> Result<PluginOutcome, String> {
    let reply = match reply {
        wit::Reply::Pass => return Ok(PluginOutcome::Pass),
        wit::Reply::NoReply => return Ok(PluginOutcome::NoReply),
        wit::Reply::Text(t) => {
            check("text", &t, 1, MAX_TEXT_BYTES)?;
            Reply::Text(t)
        }
        wit::Reply::Image(m) => {
            check("image media id", &m, 1, MAX_MEDIA_ID_BYTES)?;
            Reply::Image { media_id: m }
        }
        wit::Reply::Voice(m) => {
            check("voice media id", &m, 1, MAX_MEDIA_ID_BYTES)?;
            Reply::Voice { media_id: m }
        }
        wit::Reply::Video(v) => {
            check("video media id", &v.media_id, 1, MAX_MEDIA_ID_BYTES)?;
            check_opt("video title", &v.title, MAX_TITLE_BYTES)?;
            check_opt("video description", &v.description, MAX_LONG_BYTES)?;
            Reply::Video {
                media_id: v.media_id,
                title: v.title,
                description: v.description,
            }
        }
        wit::Reply::Music(m) => {
            check(
                "music thumb media id",
                &m.thumb_media_id,
                1,
                MAX_MEDIA_ID_BYTES,
            )?;
            check_opt("music title", &m.title, MAX_TITLE_BYTES)?;
            check_opt("music description", &m.description, MAX_LONG_BYTES)?;
            check_opt("music url", &m.music_url, MAX_LONG_BYTES)?;
            check_opt("music hq url", &m.hq_music_url, MAX_LONG_BYTES)?;
            Reply::Music {
                title: m.title,
                description: m.description,
                music_url: m.music_url,
                hq_music_url: m.hq_music_url,
                thumb_media_id: m.thumb_media_id,
            }
        }
        wit::Reply::News(articles) => {
            for (i, a) in articles.iter().enumerate() {
                check(&format!("article {i} title"), &a.title, 1, MAX_TITLE_BYTES)?;
                check(
                    &format!("article {i} description"),
                    &a.description,
                    0,
                    MAX_LONG_BYTES,
                )?;
                check(
                    &format!("article {i} pic url"),
                    &a.pic_url,
                    0,
                    MAX_LONG_BYTES,
                )?;
                check(&format!("article {i} url"), &a.url, 0, MAX_LONG_BYTES)?;
            }
            Reply::News(articles.into_iter().map(Article::from).collect())
        }
        wit::Reply::TransferCustomerService(kf) => {
            if let Some(k) = &kf {
                check("customer-service account", k, 1, MAX_TITLE_BYTES)?;
            }
            Reply::TransferCustomerService { kf_account: kf }
        }
    };
    check_reply(&reply, msg).map_err(|e| e.to_string())?;
    Ok(PluginOutcome::Reply(reply))
}

fn check(what: &str, s: &str, min: usize, max: usize) -> Result<(), String> {
    if s.len() < min {
        return Err(format!("{what} is empty"));
    }
    if s.len() > max {
        return Err(format!("{what} is {} bytes (limit {max})", s.len()));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(format!(
            "{what} contains control character U+{:04X}",
            c as u32
        ));
    }
    Ok(())
}

fn check_opt(what: &str, s: &Option<String>, max: usize) -> Result<(), String> {
    s.as_deref().map_or(Ok(()), |s| check(what, s, 0, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Body, Event};

    fn msg(body: Body) -> Message {
        Message {
            to_user: "gh_1".into(),
            from_user: "u".into(),
            create_time: 1,
            msg_id: None,
            msg_type: "text".into(),
            body,
            fields: vec![],
            raw: String::new(),
        }
    }

    #[test]
    fn validates_replies() {
        let text = msg(Body::Text {
            content: "x".into(),
        });
        let click = msg(Body::Event(Event::Click { key: "K".into() }));
        assert!(
            validate(wit::Reply::Text(String::new()), &text)
                .unwrap_err()
                .contains("empty")
        );
        assert!(validate(wit::Reply::Text("a".repeat(MAX_TEXT_BYTES + 1)), &text).is_err());
        assert!(validate(wit::Reply::Text("a\u{0}".into()), &text).is_err());
        assert_eq!(
            validate(wit::Reply::Text("hi\n".into()), &text).unwrap(),
            PluginOutcome::Reply(Reply::Text("hi\n".into()))
        );
        let art = || wit::Article {
            title: "t".into(),
            description: String::new(),
            pic_url: String::new(),
            url: String::new(),
        };
        assert!(validate(wit::Reply::News(vec![]), &click).is_err());
        assert!(validate(wit::Reply::News(vec![art(), art()]), &text).is_err());
        assert!(validate(wit::Reply::News(vec![art(); 8]), &click).is_ok());
        assert!(validate(wit::Reply::News(vec![art(); 9]), &click).is_err());
        assert_eq!(
            validate(wit::Reply::Pass, &text).unwrap(),
            PluginOutcome::Pass
        );
        assert_eq!(
            validate(wit::Reply::NoReply, &text).unwrap(),
            PluginOutcome::NoReply
        );
    }
}
