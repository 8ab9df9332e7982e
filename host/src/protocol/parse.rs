//! Decrypted message XML → [`Message`]: the header, a typed [`Body`], every
//! element in `fields` and the raw XML.
//!
//! Rules (§5 of the reference): elements are found by name in any order;
//! `MsgType` and `Event` are matched case-insensitively but kept as sent;
//! `MsgID` (job-finish events) is not `MsgId`. Only the header is required. A
//! missing string element in a known type reads as empty; a number that is
//! missing or unparseable makes the body fall back to [`Body::Unknown`] /
//! [`Event::Other`] instead of inventing a value — so nothing WeChat sends is
//! ever an error once the header is there, and nothing is lost.

use super::ProtocolError;
use super::message::*;
use super::xml::{Element, Limits, parse_document};

/// Parses decrypted message XML (bounded: 1 MiB, depth 16, 4096 elements; no
/// DTD; only the five predefined entities and character references).
pub fn parse_message(xml: &str) -> Result<Message, ProtocolError> {
    parse_message_with_limits(xml, Limits::DEFAULT)
}

/// [`parse_message`] with explicit limits.
pub fn parse_message_with_limits(xml: &str, limits: Limits) -> Result<Message, ProtocolError> {
    let root = parse_document(xml, limits)?;
    message_from_element(&root, xml)
}

pub(crate) fn message_from_element(root: &Element, raw: &str) -> Result<Message, ProtocolError> {
    let to_user = root
        .child_text("ToUserName")
        .ok_or(ProtocolError::MissingField("ToUserName"))?;
    let from_user = root
        .child_text("FromUserName")
        .ok_or(ProtocolError::MissingField("FromUserName"))?;
    let create_time = root
        .child_text("CreateTime")
        .ok_or(ProtocolError::MissingField("CreateTime"))?;
    let create_time = create_time
        .trim()
        .parse::<u64>()
        .map_err(|_| ProtocolError::InvalidField("CreateTime"))?;
    let msg_type = root
        .child_text("MsgType")
        .ok_or(ProtocolError::MissingField("MsgType"))?;
    // Exact case: `MsgID` belongs to job-finish events and is a different id.
    let msg_id = root
        .child_text("MsgId")
        .and_then(|s| s.trim().parse::<u64>().ok());
    let body = body(root, msg_type.trim()).unwrap_or(Body::Unknown);
    let body = match body {
        Body::Unknown if msg_type.trim().eq_ignore_ascii_case("event") => {
            Body::Event(other_event(root))
        }
        b => b,
    };
    Ok(Message {
        to_user: to_user.to_owned(),
        from_user: from_user.to_owned(),
        create_time,
        msg_id,
        msg_type: msg_type.to_owned(),
        body,
        fields: root.leaf_fields(),
        raw: raw.to_owned(),
    })
}

/// Text of a child, empty when absent.
fn s(e: &Element, name: &str) -> String {
    e.child_text(name).unwrap_or_default().to_owned()
}

/// Text of a child, `None` when absent.
fn opt(e: &Element, name: &str) -> Option<String> {
    e.child_text(name).map(str::to_owned)
}

/// Text of a child, `None` when absent or empty.
fn non_empty(e: &Element, name: &str) -> Option<String> {
    e.child_text(name)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn num<T: std::str::FromStr>(e: Option<&Element>, name: &str) -> Option<T> {
    e?.child_text(name)?.trim().parse().ok()
}

/// A non-negative integer that WeChat may send as `15` or `15.0`.
fn uint(e: Option<&Element>, name: &str) -> Option<u32> {
    let t = e?.child_text(name)?.trim();
    t.parse::<u32>().ok().or_else(|| {
        let f = t.parse::<f64>().ok()?;
        (f.is_finite() && f >= 0.0 && f <= f64::from(u32::MAX)).then(|| f.round() as u32)
    })
}

/// `None` means "not this shape after all": the caller falls back to Unknown.
fn body(root: &Element, msg_type: &str) -> Option<Body> {
    let t = msg_type.to_ascii_lowercase();
    Some(match t.as_str() {
        "text" => Body::Text {
            content: s(root, "Content"),
        },
        "image" => Body::Image {
            pic_url: s(root, "PicUrl"),
            media_id: s(root, "MediaId"),
        },
        "voice" => Body::Voice {
            media_id: s(root, "MediaId"),
            format: s(root, "Format"),
            // The element still arrives but is empty when recognition is off.
            recognition: non_empty(root, "Recognition"),
        },
        "video" => Body::Video {
            media_id: s(root, "MediaId"),
            thumb_media_id: s(root, "ThumbMediaId"),
        },
        "shortvideo" => Body::ShortVideo {
            media_id: s(root, "MediaId"),
            thumb_media_id: s(root, "ThumbMediaId"),
        },
        "location" => Body::Location {
            latitude: num(Some(root), "Location_X")?,
            longitude: num(Some(root), "Location_Y")?,
            scale: uint(Some(root), "Scale")?,
            label: s(root, "Label"),
        },
        "link" => Body::Link {
            title: s(root, "Title"),
            description: s(root, "Description"),
            url: s(root, "Url"),
        },
        "miniprogrampage" => Body::MiniProgramPage {
            app_id: s(root, "AppId"),
            title: s(root, "Title"),
            page_path: s(root, "PagePath"),
            thumb_url: s(root, "ThumbUrl"),
            thumb_media_id: s(root, "ThumbMediaId"),
        },
        "event" => Body::Event(event(root)?),
        _ => return None,
    })
}

fn other_event(root: &Element) -> Event {
    Event::Other {
        name: s(root, "Event"),
        key: opt(root, "EventKey"),
    }
}

const QR_PREFIX: &str = "qrscene_";

fn event(root: &Element) -> Option<Event> {
    let name = root.child_text("Event")?.trim().to_ascii_lowercase();
    let key = || s(root, "EventKey");
    Some(match name.as_str() {
        "subscribe" => {
            let k = root.child_text("EventKey").unwrap_or_default();
            // A prefix, not a substring (wechatpy#430); other keys such as
            // `last_trade_no_…` are plain follows.
            match k.strip_prefix(QR_PREFIX) {
                Some(scene) => Event::Subscribe {
                    scene: Some(scene.to_owned()),
                    ticket: non_empty(root, "Ticket"),
                },
                None => Event::Subscribe {
                    scene: None,
                    ticket: non_empty(root, "Ticket"),
                },
            }
        }
        "unsubscribe" => Event::Unsubscribe,
        "scan" => Event::Scan {
            scene: key(),
            ticket: non_empty(root, "Ticket"),
        },
        "location" => Event::Location {
            latitude: num(Some(root), "Latitude")?,
            longitude: num(Some(root), "Longitude")?,
            precision: num(Some(root), "Precision")?,
        },
        "click" => Event::Click { key: key() },
        "view" => Event::View {
            url: key(),
            menu_id: non_empty(root, "MenuId"),
        },
        "scancode_push" => Event::ScancodePush(scan_code(root)),
        "scancode_waitmsg" => Event::ScancodeWaitmsg(scan_code(root)),
        "pic_sysphoto" => Event::PicSysphoto(pics(root)?),
        "pic_photo_or_album" => Event::PicPhotoOrAlbum(pics(root)?),
        "pic_weixin" => Event::PicWeixin(pics(root)?),
        "location_select" => {
            let info = root.child("SendLocationInfo");
            Event::LocationSelect {
                key: key(),
                latitude: num(info, "Location_X")?,
                longitude: num(info, "Location_Y")?,
                scale: uint(info, "Scale")?,
                label: info.map(|i| s(i, "Label")).unwrap_or_default(),
                poiname: info.and_then(|i| non_empty(i, "Poiname")),
            }
        }
        "view_miniprogram" => Event::ViewMiniprogram {
            page_path: key(),
            menu_id: non_empty(root, "MenuId"),
        },
        "templatesendjobfinish" => Event::TemplateSendJobFinish {
            msg_id: s(root, "MsgID"),
            status: s(root, "Status"),
        },
        "masssendjobfinish" => Event::MassSendJobFinish {
            msg_id: s(root, "MsgID"),
            status: s(root, "Status"),
            total_count: num(Some(root), "TotalCount")?,
            filter_count: num(Some(root), "FilterCount")?,
            sent_count: num(Some(root), "SentCount")?,
            error_count: num(Some(root), "ErrorCount")?,
        },
        "publishjobfinish" => {
            let info = root.child("PublishEventInfo")?;
            Event::PublishJobFinish {
                publish_id: s(info, "publish_id"),
                publish_status: num(Some(info), "publish_status")?,
                article_id: non_empty(info, "article_id"),
            }
        }
        "subscribe_msg_popup_event" => {
            Event::SubscribeMsgPopup(subscribe_items(root, "SubscribeMsgPopupEvent"))
        }
        // WeChat documents `SubscribeMsgChangeEvent`, but its own sample
        // wraps the list in `SubscribeMsgPopupEvent`: take either.
        "subscribe_msg_change_event" => Event::SubscribeMsgChange(
            [
                subscribe_items(root, "SubscribeMsgChangeEvent"),
                subscribe_items(root, "SubscribeMsgPopupEvent"),
            ]
            .concat(),
        ),
        "subscribe_msg_sent_event" => Event::SubscribeMsgSent(
            lists(root, "SubscribeMsgSentEvent")
                .map(|l| SubscribeMsgSentItem {
                    template_id: s(l, "TemplateId"),
                    msg_id: s(l, "MsgID"),
                    error_code: s(l, "ErrorCode"),
                    error_status: s(l, "ErrorStatus"),
                })
                .collect(),
        ),
        "kf_create_session" => Event::KfCreateSession {
            kf_account: s(root, "KfAccount"),
        },
        "kf_close_session" => Event::KfCloseSession {
            kf_account: s(root, "KfAccount"),
        },
        "kf_switch_session" => Event::KfSwitchSession {
            from_kf_account: s(root, "FromKfAccount"),
            to_kf_account: s(root, "ToKfAccount"),
        },
        _ => return None,
    })
}

fn scan_code(root: &Element) -> ScanCode {
    let info = root.child("ScanCodeInfo");
    ScanCode {
        key: s(root, "EventKey"),
        scan_type: info.map(|i| s(i, "ScanType")).unwrap_or_default(),
        scan_result: info.map(|i| s(i, "ScanResult")).unwrap_or_default(),
    }
}

fn pics(root: &Element) -> Option<Pics> {
    let info = root.child("SendPicsInfo");
    let pic_md5_sums: Vec<String> = info
        .and_then(|i| i.child("PicList"))
        .map(|l| {
            l.children_named("item")
                .filter_map(|it| opt(it, "PicMd5Sum"))
                .collect()
        })
        .unwrap_or_default();
    let count = match info.and_then(|i| i.child("Count")) {
        Some(_) => uint(info, "Count")?,
        // Absent count: the list is the truth.
        None => u32::try_from(pic_md5_sums.len()).ok()?,
    };
    Some(Pics {
        key: s(root, "EventKey"),
        count,
        pic_md5_sums,
    })
}

/// The `List` elements of a subscribe-message event (one per template; the
/// list may repeat).
fn lists<'a>(root: &'a Element, container: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    root.children_named(container)
        .flat_map(|c| c.children_named("List"))
}

fn subscribe_items(root: &Element, container: &str) -> Vec<SubscribeMsgItem> {
    lists(root, container)
        .map(|l| SubscribeMsgItem {
            template_id: s(l, "TemplateId"),
            status: s(l, "SubscribeStatusString"),
            popup_scene: opt(l, "PopupScene"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(inner: &str) -> Message {
        let xml = format!(
            "<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
             <CreateTime>1700000000</CreateTime>{inner}</xml>"
        );
        parse_message(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    fn ev(inner: &str) -> Event {
        match msg(&format!("<MsgType><![CDATA[event]]></MsgType>{inner}")).body {
            Body::Event(e) => e,
            b => panic!("not an event: {b:?}"),
        }
    }

    #[test]
    fn header_and_fields() {
        let m = msg(
            "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>6054768590064713728</MsgId>",
        );
        assert_eq!(m.to_user, "gh_abc");
        assert_eq!(m.from_user, "oUser");
        assert_eq!(m.create_time, 1_700_000_000);
        assert_eq!(m.msg_id, Some(6054768590064713728));
        assert_eq!(m.msg_type, "text");
        assert_eq!(
            m.body,
            Body::Text {
                content: "你好".into()
            }
        );
        assert_eq!(m.field("Content"), Some("你好"));
        assert_eq!(m.fields.len(), 6);
        assert!(m.is_user_message());
        assert!(m.raw.starts_with("<xml><ToUserName>"));
    }

    #[test]
    fn ordinary_messages() {
        assert_eq!(
            msg("<MsgType>image</MsgType><PicUrl>http://p</PicUrl><MediaId>m</MediaId>").body,
            Body::Image {
                pic_url: "http://p".into(),
                media_id: "m".into()
            }
        );
        assert_eq!(
            msg("<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition><![CDATA[腾讯]]></Recognition>").body,
            Body::Voice { media_id: "m".into(), format: "amr".into(), recognition: Some("腾讯".into()) }
        );
        assert_eq!(
            msg("<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition><![CDATA[]]></Recognition>").body,
            Body::Voice { media_id: "m".into(), format: "amr".into(), recognition: None }
        );
        assert_eq!(
            msg("<MsgType>video</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>").body,
            Body::Video {
                media_id: "m".into(),
                thumb_media_id: "t".into()
            }
        );
        assert_eq!(
            msg("<MsgType>shortvideo</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>")
                .body,
            Body::ShortVideo {
                media_id: "m".into(),
                thumb_media_id: "t".into()
            }
        );
        assert_eq!(
            msg("<MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label>").body,
            Body::Location { latitude: 23.134521, longitude: 113.358803, scale: 20, label: "位置信息".into() }
        );
        assert_eq!(
            msg("<MsgType>link</MsgType><Title>t</Title><Description>d</Description><Url>u</Url>")
                .body,
            Body::Link {
                title: "t".into(),
                description: "d".into(),
                url: "u".into()
            }
        );
        assert_eq!(
            msg("<MsgType>miniprogrampage</MsgType><AppId>wx1</AppId><Title>t</Title><PagePath>p</PagePath><ThumbUrl>tu</ThumbUrl><ThumbMediaId>tm</ThumbMediaId>").body,
            Body::MiniProgramPage {
                app_id: "wx1".into(),
                title: "t".into(),
                page_path: "p".into(),
                thumb_url: "tu".into(),
                thumb_media_id: "tm".into()
            }
        );
    }

    #[test]
    fn unknown_and_fallbacks_keep_everything() {
        let m = msg("<MsgType>hologram</MsgType><Beam><Power>9</Power></Beam>");
        assert_eq!(m.body, Body::Unknown);
        assert_eq!(m.field("Beam.Power"), Some("9"));
        // A known type with an unparseable number is Unknown, not an error.
        let m = msg(
            "<MsgType>location</MsgType><Location_X>north</Location_X><Location_Y>1</Location_Y><Scale>1</Scale>",
        );
        assert_eq!(m.body, Body::Unknown);
        assert_eq!(m.field("Location_X"), Some("north"));
        assert_eq!(
            ev("<Event>LOCATION</Event><Latitude>x</Latitude>"),
            Event::Other {
                name: "LOCATION".into(),
                key: None
            }
        );
        assert_eq!(
            ev("<Event>brand_new_event</Event><EventKey>k</EventKey>"),
            Event::Other {
                name: "brand_new_event".into(),
                key: Some("k".into())
            }
        );
        assert_eq!(
            ev(""),
            Event::Other {
                name: "".into(),
                key: None
            }
        );
        assert_eq!(
            ev("<Event>card_pass_check</Event><CardId>c</CardId>"),
            Event::Other {
                name: "card_pass_check".into(),
                key: None
            }
        );
    }

    #[test]
    fn header_errors() {
        let cases = [
            (
                "<xml><FromUserName>a</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
                ProtocolError::MissingField("ToUserName"),
            ),
            (
                "<xml><ToUserName>a</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
                ProtocolError::MissingField("FromUserName"),
            ),
            (
                "<xml><ToUserName>a</ToUserName><FromUserName>a</FromUserName><MsgType>text</MsgType></xml>",
                ProtocolError::MissingField("CreateTime"),
            ),
            (
                "<xml><ToUserName>a</ToUserName><FromUserName>a</FromUserName><CreateTime>1</CreateTime></xml>",
                ProtocolError::MissingField("MsgType"),
            ),
            (
                "<xml><ToUserName>a</ToUserName><FromUserName>a</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType></xml>",
                ProtocolError::InvalidField("CreateTime"),
            ),
        ];
        for (xml, err) in cases {
            assert_eq!(parse_message(xml), Err(err));
        }
    }

    #[test]
    fn subscribe_and_scan() {
        assert_eq!(
            ev("<Event>subscribe</Event>"),
            Event::Subscribe {
                scene: None,
                ticket: None
            }
        );
        assert_eq!(
            ev("<Event>subscribe</Event><EventKey></EventKey>"),
            Event::Subscribe {
                scene: None,
                ticket: None
            }
        );
        assert_eq!(
            ev(
                "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123qrscene_]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"
            ),
            Event::Subscribe {
                scene: Some("123qrscene_".into()),
                ticket: Some("TICKET".into())
            }
        );
        assert_eq!(
            ev("<Event>subscribe</Event><EventKey>last_trade_no_42</EventKey>"),
            Event::Subscribe {
                scene: None,
                ticket: None
            }
        );
        assert_eq!(ev("<Event>unsubscribe</Event>"), Event::Unsubscribe);
        assert_eq!(
            ev("<Event>SCAN</Event><EventKey>123</EventKey><Ticket>T</Ticket>"),
            Event::Scan {
                scene: "123".into(),
                ticket: Some("T".into())
            }
        );
        // Case-insensitive match, original kept.
        let m = msg("<MsgType>event</MsgType><Event>scan</Event><EventKey>s</EventKey>");
        assert_eq!(
            m.body,
            Body::Event(Event::Scan {
                scene: "s".into(),
                ticket: None
            })
        );
        assert_eq!(m.event_name(), Some("scan"));
        assert!(!m.is_user_message());
    }

    #[test]
    fn menu_and_location_events() {
        assert_eq!(
            ev(
                "<Event>LOCATION</Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>"
            ),
            Event::Location {
                latitude: 23.137466,
                longitude: 113.352425,
                precision: 119.385040
            }
        );
        assert_eq!(
            ev("<Event>CLICK</Event><EventKey>K1</EventKey>"),
            Event::Click { key: "K1".into() }
        );
        assert_eq!(
            ev("<Event>VIEW</Event><EventKey>https://x/</EventKey><MenuId>7</MenuId>"),
            Event::View {
                url: "https://x/".into(),
                menu_id: Some("7".into())
            }
        );
        let sc = "<EventKey>6</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo>";
        let expect = ScanCode {
            key: "6".into(),
            scan_type: "qrcode".into(),
            scan_result: "1".into(),
        };
        assert_eq!(
            ev(&format!("<Event>scancode_push</Event>{sc}")),
            Event::ScancodePush(expect.clone())
        );
        assert_eq!(
            ev(&format!("<Event>scancode_waitmsg</Event>{sc}")),
            Event::ScancodeWaitmsg(expect)
        );
        let pics = "<EventKey>6</EventKey><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo>";
        let p = Pics {
            key: "6".into(),
            count: 2,
            pic_md5_sums: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            ev(&format!("<Event>pic_sysphoto</Event>{pics}")),
            Event::PicSysphoto(p.clone())
        );
        assert_eq!(
            ev(&format!("<Event>pic_photo_or_album</Event>{pics}")),
            Event::PicPhotoOrAlbum(p.clone())
        );
        assert_eq!(
            ev(&format!("<Event>pic_weixin</Event>{pics}")),
            Event::PicWeixin(p)
        );
        let m = msg(&format!(
            "<MsgType>event</MsgType><Event>pic_weixin</Event>{pics}"
        ));
        assert_eq!(
            m.fields
                .iter()
                .filter(|(k, _)| k == "SendPicsInfo.PicList.item.PicMd5Sum")
                .count(),
            2
        );
        assert_eq!(
            ev(
                "<Event>location_select</Event><EventKey>6</EventKey><SendLocationInfo><Location_X>23</Location_X><Location_Y>113</Location_Y><Scale>15</Scale><Label> 广州 </Label><Poiname></Poiname></SendLocationInfo>"
            ),
            Event::LocationSelect {
                key: "6".into(),
                latitude: 23.0,
                longitude: 113.0,
                scale: 15,
                label: " 广州 ".into(),
                poiname: None
            }
        );
        assert_eq!(
            ev("<Event>view_miniprogram</Event><EventKey>pages/index</EventKey><MenuId>1</MenuId>"),
            Event::ViewMiniprogram {
                page_path: "pages/index".into(),
                menu_id: Some("1".into())
            }
        );
    }

    #[test]
    fn job_and_subscribe_msg_events() {
        let m = msg(
            "<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>failed:user block</Status>",
        );
        assert_eq!(m.msg_id, None, "MsgID is not MsgId");
        assert_eq!(
            m.body,
            Body::Event(Event::TemplateSendJobFinish {
                msg_id: "200163836".into(),
                status: "failed:user block".into()
            })
        );
        assert_eq!(
            ev(
                "<Event>MASSSENDJOBFINISH</Event><MsgID>1988</MsgID><Status>sendsuccess</Status><TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount><CopyrightCheckResult><Count>0</Count></CopyrightCheckResult>"
            ),
            Event::MassSendJobFinish {
                msg_id: "1988".into(),
                status: "sendsuccess".into(),
                total_count: 100,
                filter_count: 80,
                sent_count: 75,
                error_count: 5
            }
        );
        assert_eq!(
            ev(
                "<Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>2247503051</publish_id><publish_status>0</publish_status><article_id>b5O2</article_id><article_detail><count>1</count><item><idx>1</idx><article_url>u</article_url></item></article_detail></PublishEventInfo>"
            ),
            Event::PublishJobFinish {
                publish_id: "2247503051".into(),
                publish_status: 0,
                article_id: Some("b5O2".into())
            }
        );
        assert_eq!(
            ev(
                "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List><TemplateId>t1</TemplateId><SubscribeStatusString>accept</SubscribeStatusString><PopupScene>2</PopupScene></List><List><TemplateId>t2</TemplateId><SubscribeStatusString>reject</SubscribeStatusString><PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent>"
            ),
            Event::SubscribeMsgPopup(vec![
                SubscribeMsgItem {
                    template_id: "t1".into(),
                    status: "accept".into(),
                    popup_scene: Some("2".into())
                },
                SubscribeMsgItem {
                    template_id: "t2".into(),
                    status: "reject".into(),
                    popup_scene: Some("2".into())
                },
            ])
        );
        assert_eq!(
            ev(
                "<Event>subscribe_msg_change_event</Event><SubscribeMsgChangeEvent><List><TemplateId>t</TemplateId><SubscribeStatusString>reject</SubscribeStatusString></List></SubscribeMsgChangeEvent>"
            ),
            Event::SubscribeMsgChange(vec![SubscribeMsgItem {
                template_id: "t".into(),
                status: "reject".into(),
                popup_scene: None
            }])
        );
        // WeChat's own sample of the change event uses the popup wrapper.
        assert_eq!(
            ev(
                "<Event><![CDATA[subscribe_msg_change_event]]></Event><SubscribeMsgPopupEvent><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgPopupEvent>"
            ),
            Event::SubscribeMsgChange(vec![SubscribeMsgItem {
                template_id: "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc".into(),
                status: "reject".into(),
                popup_scene: None
            }])
        );
        assert_eq!(
            ev(
                "<Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>t</TemplateId><MsgID>1</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List></SubscribeMsgSentEvent>"
            ),
            Event::SubscribeMsgSent(vec![SubscribeMsgSentItem {
                template_id: "t".into(),
                msg_id: "1".into(),
                error_code: "0".into(),
                error_status: "success".into()
            }])
        );
        assert_eq!(
            ev("<Event>kf_create_session</Event><KfAccount>a@b</KfAccount>"),
            Event::KfCreateSession {
                kf_account: "a@b".into()
            }
        );
        assert_eq!(
            ev("<Event>kf_close_session</Event><KfAccount>a@b</KfAccount>"),
            Event::KfCloseSession {
                kf_account: "a@b".into()
            }
        );
        assert_eq!(
            ev(
                "<Event>kf_switch_session</Event><FromKfAccount>a</FromKfAccount><ToKfAccount>b</ToKfAccount>"
            ),
            Event::KfSwitchSession {
                from_kf_account: "a".into(),
                to_kf_account: "b".into()
            }
        );
    }

    #[test]
    fn element_order_and_controls() {
        let m = parse_message(
            "<xml><Content><![CDATA[a\u{1d}b]]></Content><MsgType>text</MsgType><CreateTime> 5 </CreateTime>\
             <FromUserName>f</FromUserName><ToUserName>t</ToUserName></xml>",
        )
        .unwrap();
        assert_eq!(
            m.body,
            Body::Text {
                content: "a\u{1d}b".into()
            }
        );
        assert_eq!(m.create_time, 5);
    }
}
