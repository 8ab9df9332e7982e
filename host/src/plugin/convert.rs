//! Conversions between the host model (`protocol::Message`, `protocol::Reply`,
//! `api::*`) and the WIT types, the handler dispatch, and reply validation.
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

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower};

use super::bindings::wechat::plugin::types as wit;
use super::kind::Kind;
use super::state::State;
use super::{PluginInfo, PluginOutcome};
use crate::api::QrCode;
use crate::protocol::{Article, Body, Event, Message, Reply, check_reply};

pub const MAX_TEXT_BYTES: usize = 2048;
pub const MAX_MEDIA_ID_BYTES: usize = 256;
pub const MAX_TITLE_BYTES: usize = 512;
pub const MAX_LONG_BYTES: usize = 2048;

pub(crate) fn context(msg: &Message) -> wit::Context {
    wit::Context {
        to_user: msg.to_user.clone(),
        from_user: msg.from_user.clone(),
        create_time: msg.create_time,
        msg_id: msg.msg_id,
        msg_type: msg.msg_type.clone(),
        event: msg.event_name().map(str::to_owned),
        fields: msg.fields.clone(),
        raw: msg.raw.clone(),
    }
}

pub(crate) fn qr_code(q: &QrCode) -> wit::QrCode {
    wit::QrCode {
        scene: q.scene.clone(),
        ticket: q.ticket.clone(),
        url: q.url.clone(),
        permanent: q.permanent,
        expires_at: q.expires_at,
        note: q.note.clone(),
        created_at: q.created_at,
    }
}

pub(crate) fn kind_from_wit(k: wit::Kind) -> Kind {
    match k {
        wit::Kind::Text => Kind::Text,
        wit::Kind::Image => Kind::Image,
        wit::Kind::Voice => Kind::Voice,
        wit::Kind::Video => Kind::Video,
        wit::Kind::Shortvideo => Kind::ShortVideo,
        wit::Kind::Location => Kind::Location,
        wit::Kind::Link => Kind::Link,
        wit::Kind::EventSubscribe => Kind::EventSubscribe,
        wit::Kind::EventUnsubscribe => Kind::EventUnsubscribe,
        wit::Kind::EventScan => Kind::EventScan,
        wit::Kind::EventLocation => Kind::EventLocation,
        wit::Kind::EventClick => Kind::EventClick,
        wit::Kind::EventView => Kind::EventView,
        wit::Kind::EventScancodePush => Kind::EventScancodePush,
        wit::Kind::EventScancodeWaitmsg => Kind::EventScancodeWaitmsg,
        wit::Kind::EventPicSysphoto => Kind::EventPicSysphoto,
        wit::Kind::EventPicPhotoOrAlbum => Kind::EventPicPhotoOrAlbum,
        wit::Kind::EventPicWeixin => Kind::EventPicWeixin,
        wit::Kind::EventLocationSelect => Kind::EventLocationSelect,
        wit::Kind::Event => Kind::Event,
        wit::Kind::Unsupported => Kind::Unsupported,
    }
}

/// Validates and converts what `describe` returned.
pub(crate) fn plugin_info(info: wit::PluginInfo) -> Result<PluginInfo, String> {
    if info.name.trim().is_empty() || info.name.len() > 64 {
        return Err(format!(
            "describe: name must be 1 to 64 bytes, got {:?}",
            info.name
        ));
    }
    if info.version.len() > 64 {
        return Err("describe: version longer than 64 bytes".to_owned());
    }
    let mut handles: Vec<Kind> = info.handles.into_iter().map(kind_from_wit).collect();
    handles.sort();
    handles.dedup();
    Ok(PluginInfo {
        name: info.name,
        version: info.version,
        priority: info.priority,
        handles,
    })
}

/// Export indices of one component's handler functions, resolved at load.
pub(crate) struct Exports {
    pub describe: ComponentExportIndex,
    /// Indexed by `Kind as usize`.
    pub handlers: Vec<ComponentExportIndex>,
}

impl Exports {
    /// `handler` is the component's actual `wechat:plugin/handler@…` export name.
    pub fn resolve(component: &wasmtime::component::Component, handler: &str) -> Option<Exports> {
        let iface = component.get_export_index(None, handler)?;
        let describe = component.get_export_index(Some(&iface), "describe")?;
        let handlers = Kind::ALL
            .iter()
            .map(|k| component.get_export_index(Some(&iface), k.export_name()))
            .collect::<Option<Vec<_>>>()?;
        Some(Exports { describe, handlers })
    }
}

/// Calls one export. Only this function's type is checked per call: the
/// bindgen-generated loader would type-check all 22 exports on every
/// instantiation, which dominated the per-message cost. (`PluginPre::new`
/// has checked them all once, at load.)
pub(crate) async fn call_export<P, R>(
    store: &mut Store<State>,
    instance: &Instance,
    index: &ComponentExportIndex,
    params: P,
) -> wasmtime::Result<R>
where
    P: ComponentNamedList + Lower + Send + Sync,
    R: ComponentNamedList + Lift + Send + Sync + 'static,
{
    let f = instance.get_typed_func::<P, R>(&mut *store, index)?;
    f.call_async(&mut *store, params).await
}

/// Calls the handler export for `msg`'s kind.
pub(crate) async fn dispatch(
    instance: &Instance,
    exports: &Exports,
    store: &mut Store<State>,
    msg: &Message,
    qr: Option<&QrCode>,
) -> wasmtime::Result<wit::Reply> {
    let idx = &exports.handlers[Kind::of(msg) as usize];
    let ctx = &context(msg);
    let qr = qr.map(qr_code);
    match &msg.body {
        Body::Text { content } => {
            call1(
                store,
                instance,
                idx,
                (
                    ctx,
                    &wit::TextMessage {
                        content: content.clone(),
                    },
                ),
            )
            .await
        }
        Body::Image { pic_url, media_id } => {
            let m = wit::ImageMessage {
                pic_url: pic_url.clone(),
                media_id: media_id.clone(),
            };
            call1(store, instance, idx, (ctx, &m)).await
        }
        Body::Voice {
            media_id,
            format,
            recognition,
        } => {
            let m = wit::VoiceMessage {
                media_id: media_id.clone(),
                format: format.clone(),
                recognition: recognition.clone(),
            };
            call1(store, instance, idx, (ctx, &m)).await
        }
        // Same record; the export (handle-video / handle-shortvideo) differs.
        Body::Video {
            media_id,
            thumb_media_id,
        }
        | Body::ShortVideo {
            media_id,
            thumb_media_id,
        } => {
            let m = wit::VideoMessage {
                media_id: media_id.clone(),
                thumb_media_id: thumb_media_id.clone(),
            };
            call1(store, instance, idx, (ctx, &m)).await
        }
        Body::Location {
            latitude,
            longitude,
            scale,
            label,
        } => {
            let m = wit::LocationMessage {
                latitude: *latitude,
                longitude: *longitude,
                scale: *scale,
                label: label.clone(),
            };
            call1(store, instance, idx, (ctx, &m)).await
        }
        Body::Link {
            title,
            description,
            url,
        } => {
            let m = wit::LinkMessage {
                title: title.clone(),
                description: description.clone(),
                url: url.clone(),
            };
            call1(store, instance, idx, (ctx, &m)).await
        }
        Body::MiniProgramPage { .. } | Body::Unknown => call1(store, instance, idx, (ctx,)).await,
        Body::Event(ev) => match ev {
            Event::Subscribe { scene, ticket } => {
                let e = wit::SubscribeEvent {
                    scene: scene.clone(),
                    ticket: ticket.clone(),
                    qr_code: qr,
                };
                call1(store, instance, idx, (ctx, &e)).await
            }
            Event::Unsubscribe => call1(store, instance, idx, (ctx,)).await,
            Event::Scan { scene, ticket } => {
                let e = wit::ScanEvent {
                    scene: scene.clone(),
                    ticket: ticket.clone(),
                    qr_code: qr,
                };
                call1(store, instance, idx, (ctx, &e)).await
            }
            Event::Location {
                latitude,
                longitude,
                precision,
            } => {
                let e = wit::LocationEvent {
                    latitude: *latitude,
                    longitude: *longitude,
                    precision: *precision,
                };
                call1(store, instance, idx, (ctx, e)).await
            }
            Event::Click { key } => {
                call1(
                    store,
                    instance,
                    idx,
                    (ctx, &wit::ClickEvent { key: key.clone() }),
                )
                .await
            }
            Event::View { url, menu_id } => {
                let e = wit::ViewEvent {
                    url: url.clone(),
                    menu_id: menu_id.clone(),
                };
                call1(store, instance, idx, (ctx, &e)).await
            }
            Event::ScancodePush(s) => call1(store, instance, idx, (ctx, &scancode(s))).await,
            Event::ScancodeWaitmsg(s) => call1(store, instance, idx, (ctx, &scancode(s))).await,
            Event::PicSysphoto(p) => call1(store, instance, idx, (ctx, &pics(p))).await,
            Event::PicPhotoOrAlbum(p) => call1(store, instance, idx, (ctx, &pics(p))).await,
            Event::PicWeixin(p) => call1(store, instance, idx, (ctx, &pics(p))).await,
            Event::LocationSelect {
                key,
                latitude,
                longitude,
                scale,
                label,
                poiname,
            } => {
                let e = wit::LocationSelectEvent {
                    key: key.clone(),
                    latitude: *latitude,
                    longitude: *longitude,
                    scale: *scale,
                    label: label.clone(),
                    poiname: poiname.clone(),
                };
                call1(store, instance, idx, (ctx, &e)).await
            }
            other => {
                let e = wit::EventMessage {
                    event: ctx.event.clone().unwrap_or_default(),
                    key: match other {
                        Event::Other { key, .. } => key.clone(),
                        _ => msg.field("EventKey").map(str::to_owned),
                    },
                };
                call1(store, instance, idx, (ctx, &e)).await
            }
        },
    }
}

async fn call1<P>(
    store: &mut Store<State>,
    instance: &Instance,
    idx: &ComponentExportIndex,
    params: P,
) -> wasmtime::Result<wit::Reply>
where
    P: ComponentNamedList + Lower + Send + Sync,
{
    call_export::<P, (wit::Reply,)>(store, instance, idx, params)
        .await
        .map(|r| r.0)
}

pub(crate) fn articles_from_wit(a: Vec<wit::Article>) -> Vec<Article> {
    a.into_iter()
        .map(|a| Article {
            title: a.title,
            description: a.description,
            pic_url: a.pic_url,
            url: a.url,
        })
        .collect()
}

fn scancode(s: &crate::protocol::ScanCode) -> wit::ScancodeEvent {
    wit::ScancodeEvent {
        key: s.key.clone(),
        scan_type: s.scan_type.clone(),
        scan_result: s.scan_result.clone(),
    }
}

fn pics(p: &crate::protocol::Pics) -> wit::PicEvent {
    wit::PicEvent {
        key: p.key.clone(),
        count: p.count,
        pic_md5_sums: p.pic_md5_sums.clone(),
    }
}

/// Validates a reply against the limits in the module docs.
pub(crate) fn outcome(reply: wit::Reply, msg: &Message) -> Result<PluginOutcome, String> {
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
            Reply::News(articles_from_wit(articles))
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
            outcome(wit::Reply::Text(String::new()), &text)
                .unwrap_err()
                .contains("empty")
        );
        assert!(outcome(wit::Reply::Text("a".repeat(MAX_TEXT_BYTES + 1)), &text).is_err());
        assert!(outcome(wit::Reply::Text("a\u{0}".into()), &text).is_err());
        assert_eq!(
            outcome(wit::Reply::Text("hi\n".into()), &text).unwrap(),
            PluginOutcome::Reply(Reply::Text("hi\n".into()))
        );
        let art = || wit::Article {
            title: "t".into(),
            description: String::new(),
            pic_url: String::new(),
            url: String::new(),
        };
        assert!(outcome(wit::Reply::News(vec![]), &click).is_err());
        assert!(outcome(wit::Reply::News(vec![art(), art()]), &text).is_err());
        assert!(outcome(wit::Reply::News(vec![art(); 8]), &click).is_ok());
        assert!(outcome(wit::Reply::News(vec![art(); 9]), &click).is_err());
        assert_eq!(
            outcome(wit::Reply::Pass, &text).unwrap(),
            PluginOutcome::Pass
        );
        assert_eq!(
            outcome(wit::Reply::NoReply, &text).unwrap(),
            PluginOutcome::NoReply
        );
    }

    #[test]
    fn context_names_typed_events() {
        let click = msg(Body::Event(Event::Click { key: "K".into() }));
        assert_eq!(context(&click).event.as_deref(), Some("CLICK"));
        assert_eq!(
            context(&msg(Body::Text {
                content: "x".into()
            }))
            .event,
            None
        );
    }
}
