//! Passive replies: [`Reply`] → plaintext reply XML (§6.1), and back
//! ([`parse_reply`], for tests and the `simulate` client that plays WeChat).

use super::ProtocolError;
use super::message::Message;
use super::reply::{Article, Reply};
use super::xml::{Element, Limits, parse_document, push_cdata_element, push_number_element};

/// Most articles in a news reply to an event (menu click, subscribe, scan).
pub const MAX_ARTICLES_EVENT: usize = 8;
/// Most articles in a news reply to a message a user sent (since 2018-10-12).
pub const MAX_ARTICLES_USER: usize = 1;

/// The literal body that means "no reply".
pub const SUCCESS: &str = "success";

/// Renders the plaintext reply XML for `reply` answering `to`: To/From are
/// swapped from the request, `CreateTime` is `now` (seconds).
/// [`Reply::Success`] renders as the literal `success`.
///
/// Errors: an empty text, an empty required media id, no article, more than
/// [`MAX_ARTICLES_USER`] articles to a user message or more than
/// [`MAX_ARTICLES_EVENT`] to an event. Characters XML cannot carry are dropped.
pub fn render_reply(reply: &Reply, to: &Message, now: u64) -> Result<String, ProtocolError> {
    check_reply(reply, to)?;
    let mut out = String::with_capacity(256);
    let msg_type = match reply {
        Reply::Success => return Ok(SUCCESS.to_owned()),
        Reply::Text(_) => "text",
        Reply::Image { .. } => "image",
        Reply::Voice { .. } => "voice",
        Reply::Video { .. } => "video",
        Reply::Music { .. } => "music",
        Reply::News(_) => "news",
        Reply::TransferCustomerService { .. } => "transfer_customer_service",
    };
    out.push_str("<xml>");
    push_cdata_element(&mut out, "ToUserName", &to.from_user);
    push_cdata_element(&mut out, "FromUserName", &to.to_user);
    push_number_element(&mut out, "CreateTime", now);
    push_cdata_element(&mut out, "MsgType", msg_type);
    match reply {
        Reply::Success => {}
        Reply::Text(content) => push_cdata_element(&mut out, "Content", content),
        Reply::Image { media_id } => media(&mut out, "Image", media_id),
        Reply::Voice { media_id } => media(&mut out, "Voice", media_id),
        Reply::Video {
            media_id,
            title,
            description,
        } => {
            out.push_str("<Video>");
            push_cdata_element(&mut out, "MediaId", media_id);
            push_opt(&mut out, "Title", title);
            push_opt(&mut out, "Description", description);
            out.push_str("</Video>");
        }
        Reply::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id,
        } => {
            out.push_str("<Music>");
            push_opt(&mut out, "Title", title);
            push_opt(&mut out, "Description", description);
            push_opt(&mut out, "MusicUrl", music_url);
            push_opt(&mut out, "HQMusicUrl", hq_music_url);
            push_cdata_element(&mut out, "ThumbMediaId", thumb_media_id);
            out.push_str("</Music>");
        }
        Reply::News(articles) => {
            push_number_element(&mut out, "ArticleCount", articles.len() as u64);
            out.push_str("<Articles>");
            for a in articles {
                out.push_str("<item>");
                push_cdata_element(&mut out, "Title", &a.title);
                push_cdata_element(&mut out, "Description", &a.description);
                push_cdata_element(&mut out, "PicUrl", &a.pic_url);
                push_cdata_element(&mut out, "Url", &a.url);
                out.push_str("</item>");
            }
            out.push_str("</Articles>");
        }
        Reply::TransferCustomerService { kf_account } => {
            if let Some(kf) = kf_account {
                out.push_str("<TransInfo>");
                push_cdata_element(&mut out, "KfAccount", kf);
                out.push_str("</TransInfo>");
            }
        }
    }
    out.push_str("</xml>");
    Ok(out)
}

fn media(out: &mut String, wrapper: &str, media_id: &str) {
    out.push('<');
    out.push_str(wrapper);
    out.push('>');
    push_cdata_element(out, "MediaId", media_id);
    out.push_str("</");
    out.push_str(wrapper);
    out.push('>');
}

fn push_opt(out: &mut String, name: &str, v: &Option<String>) {
    if let Some(v) = v {
        push_cdata_element(out, name, v);
    }
}

/// WeChat's rules for a passive reply to `to` (broken ones make WeChat show
/// the user "该公众号暂时无法提供服务"): non-empty text and media ids, 1 article
/// to a user's message and up to 8 to an event. [`render_reply`] applies them;
/// the plugin runtime checks plugin replies with them too.
pub fn check_reply(reply: &Reply, to: &Message) -> Result<(), ProtocolError> {
    let has_content = |s: &str| s.chars().any(super::xml::is_xml_char);
    match reply {
        Reply::Text(t) if !has_content(t) => Err(ProtocolError::EmptyText),
        Reply::Image { media_id } | Reply::Voice { media_id } | Reply::Video { media_id, .. }
            if media_id.is_empty() =>
        {
            Err(ProtocolError::MissingField("MediaId"))
        }
        Reply::Music { thumb_media_id, .. } if thumb_media_id.is_empty() => {
            Err(ProtocolError::MissingField("ThumbMediaId"))
        }
        Reply::News(a) if a.is_empty() => Err(ProtocolError::NoArticles),
        Reply::News(a) => {
            let max = if to.is_user_message() {
                MAX_ARTICLES_USER
            } else {
                MAX_ARTICLES_EVENT
            };
            if a.len() > max {
                Err(ProtocolError::TooManyArticles { max, got: a.len() })
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// A reply read back from XML.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedReply {
    pub reply: Reply,
    /// `ToUserName` (the user's OpenID); empty for `success`.
    pub to_user: String,
    /// `FromUserName` (the account's `gh_…`); empty for `success`.
    pub from_user: String,
    /// `CreateTime`; 0 for `success`.
    pub create_time: u64,
}

/// Parses a plaintext reply (or the `success` / empty body) back into a
/// [`Reply`]. Bounded like [`super::parse_message`].
pub fn parse_reply(xml: &str) -> Result<ParsedReply, ProtocolError> {
    let trimmed = xml.trim();
    if trimmed.is_empty() || trimmed == SUCCESS {
        return Ok(ParsedReply {
            reply: Reply::Success,
            to_user: String::new(),
            from_user: String::new(),
            create_time: 0,
        });
    }
    let root = parse_document(xml, Limits::DEFAULT)?;
    let req = |name: &'static str| {
        root.child_text(name)
            .ok_or(ProtocolError::MissingField(name))
    };
    let to_user = req("ToUserName")?.to_owned();
    let from_user = req("FromUserName")?.to_owned();
    let create_time = req("CreateTime")?
        .trim()
        .parse()
        .map_err(|_| ProtocolError::InvalidField("CreateTime"))?;
    let msg_type = req("MsgType")?;
    let reply = match msg_type.trim() {
        "text" => Reply::Text(req("Content")?.to_owned()),
        "image" => Reply::Image {
            media_id: media_id(&root, "Image")?,
        },
        "voice" => Reply::Voice {
            media_id: media_id(&root, "Voice")?,
        },
        "video" => {
            let v = root
                .child("Video")
                .ok_or(ProtocolError::MissingField("Video"))?;
            Reply::Video {
                media_id: media_id(&root, "Video")?,
                title: opt(v, "Title"),
                description: opt(v, "Description"),
            }
        }
        "music" => {
            let m = root
                .child("Music")
                .ok_or(ProtocolError::MissingField("Music"))?;
            Reply::Music {
                title: opt(m, "Title"),
                description: opt(m, "Description"),
                music_url: opt(m, "MusicUrl"),
                hq_music_url: opt(m, "HQMusicUrl"),
                thumb_media_id: m
                    .child_text("ThumbMediaId")
                    .ok_or(ProtocolError::MissingField("ThumbMediaId"))?
                    .to_owned(),
            }
        }
        "news" => {
            let items = root
                .child("Articles")
                .ok_or(ProtocolError::MissingField("Articles"))?;
            let articles: Vec<Article> = items
                .children_named("item")
                .map(|i| Article {
                    title: text(i, "Title"),
                    description: text(i, "Description"),
                    pic_url: text(i, "PicUrl"),
                    url: text(i, "Url"),
                })
                .collect();
            let count = root
                .child_text("ArticleCount")
                .ok_or(ProtocolError::MissingField("ArticleCount"))?;
            if count.trim().parse::<usize>().ok() != Some(articles.len()) {
                return Err(ProtocolError::InvalidField("ArticleCount"));
            }
            Reply::News(articles)
        }
        "transfer_customer_service" => Reply::TransferCustomerService {
            kf_account: root
                .path_text(&["TransInfo", "KfAccount"])
                .map(str::to_owned),
        },
        _ => return Err(ProtocolError::InvalidField("MsgType")),
    };
    Ok(ParsedReply {
        reply,
        to_user,
        from_user,
        create_time,
    })
}

fn media_id(root: &Element, wrapper: &'static str) -> Result<String, ProtocolError> {
    let w = root
        .child(wrapper)
        .ok_or(ProtocolError::MissingField(wrapper))?;
    Ok(w.child_text("MediaId")
        .ok_or(ProtocolError::MissingField("MediaId"))?
        .to_owned())
}

fn opt(e: &Element, name: &str) -> Option<String> {
    e.child_text(name).map(str::to_owned)
}

fn text(e: &Element, name: &str) -> String {
    e.child_text(name).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_message;

    fn user_msg() -> Message {
        parse_message(
            "<xml><ToUserName><![CDATA[gh_acc]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName>\
             <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>hi</Content><MsgId>1</MsgId></xml>",
        )
        .unwrap()
    }

    fn event_msg() -> Message {
        parse_message(
            "<xml><ToUserName>gh_acc</ToUserName><FromUserName>oUSER</FromUserName><CreateTime>1</CreateTime>\
             <MsgType>event</MsgType><Event>CLICK</Event><EventKey>k</EventKey></xml>",
        )
        .unwrap()
    }

    fn article(n: usize) -> Article {
        Article {
            title: format!("t{n}"),
            description: "d".into(),
            pic_url: "p".into(),
            url: "u".into(),
        }
    }

    #[test]
    fn text_reply_exact() {
        let xml = render_reply(&Reply::Text("hi".into()), &user_msg(), 1_700_000_000).unwrap();
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[oUSER]]></ToUserName><FromUserName><![CDATA[gh_acc]]></FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
        );
        let p = parse_reply(&xml).unwrap();
        assert_eq!(
            (p.to_user.as_str(), p.from_user.as_str(), p.create_time),
            ("oUSER", "gh_acc", 1_700_000_000)
        );
        assert_eq!(p.reply, Reply::Text("hi".into()));
    }

    #[test]
    fn cdata_terminator_in_text() {
        let t = "a]]>b<![CDATA[c]]>\n]]]>";
        let xml = render_reply(&Reply::Text(t.into()), &user_msg(), 1).unwrap();
        assert_eq!(parse_reply(&xml).unwrap().reply, Reply::Text(t.into()));
        assert_eq!(
            parse_message(&xml.replace("<MsgType>", "<X>1</X><MsgType>"))
                .unwrap()
                .field("Content"),
            Some(t)
        );
    }

    #[test]
    fn all_shapes_round_trip() {
        let replies = [
            Reply::Image {
                media_id: "m".into(),
            },
            Reply::Voice {
                media_id: "m".into(),
            },
            Reply::Video {
                media_id: "m".into(),
                title: Some("t".into()),
                description: None,
            },
            Reply::Music {
                title: Some("t".into()),
                description: Some("".into()),
                music_url: Some("u".into()),
                hq_music_url: None,
                thumb_media_id: "th".into(),
            },
            Reply::News(vec![article(1)]),
            Reply::TransferCustomerService { kf_account: None },
            Reply::TransferCustomerService {
                kf_account: Some("test1@test".into()),
            },
            Reply::Success,
        ];
        for r in replies {
            let xml = render_reply(&r, &user_msg(), 9).unwrap();
            assert_eq!(parse_reply(&xml).unwrap().reply, r, "{xml}");
        }
        assert_eq!(
            render_reply(&Reply::Success, &user_msg(), 9).unwrap(),
            "success"
        );
        assert_eq!(parse_reply("").unwrap().reply, Reply::Success);
    }

    #[test]
    fn news_limits() {
        let five: Vec<Article> = (0..5).map(article).collect();
        assert_eq!(
            render_reply(&Reply::News(five.clone()), &user_msg(), 1),
            Err(ProtocolError::TooManyArticles { max: 1, got: 5 })
        );
        let xml = render_reply(&Reply::News(five.clone()), &event_msg(), 1).unwrap();
        assert!(xml.contains("<ArticleCount>5</ArticleCount>"));
        assert_eq!(parse_reply(&xml).unwrap().reply, Reply::News(five));
        let nine: Vec<Article> = (0..9).map(article).collect();
        assert_eq!(
            render_reply(&Reply::News(nine), &event_msg(), 1),
            Err(ProtocolError::TooManyArticles { max: 8, got: 9 })
        );
        assert_eq!(
            render_reply(&Reply::News(vec![]), &event_msg(), 1),
            Err(ProtocolError::NoArticles)
        );
    }

    #[test]
    fn invalid_replies() {
        assert_eq!(
            render_reply(&Reply::Text(String::new()), &user_msg(), 1),
            Err(ProtocolError::EmptyText)
        );
        assert_eq!(
            render_reply(&Reply::Text("\u{1}".into()), &user_msg(), 1),
            Err(ProtocolError::EmptyText)
        );
        assert_eq!(
            render_reply(
                &Reply::Image {
                    media_id: String::new()
                },
                &user_msg(),
                1
            ),
            Err(ProtocolError::MissingField("MediaId"))
        );
        let music = Reply::Music {
            title: None,
            description: None,
            music_url: None,
            hq_music_url: None,
            thumb_media_id: String::new(),
        };
        assert_eq!(
            render_reply(&music, &user_msg(), 1),
            Err(ProtocolError::MissingField("ThumbMediaId"))
        );
        assert_eq!(
            parse_reply("<xml><ToUserName>a</ToUserName></xml>"),
            Err(ProtocolError::MissingField("FromUserName"))
        );
        assert_eq!(
            parse_reply(
                "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>fax</MsgType></xml>"
            ),
            Err(ProtocolError::InvalidField("MsgType"))
        );
    }
}
