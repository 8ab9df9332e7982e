//! Calling a plugin's handler exports: [`Exports`] resolves each export's
//! index once at load, [`HandlerInput`] is a message converted once for every
//! plugin it is offered to, and [`call_handler`] calls the export for its
//! kind with that kind's typed record.

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower};

use super::bindings::wechat::plugin::types as wit;
use super::kind::Kind;
use super::state::CallState;
use crate::api::QrCode;
use crate::protocol::{Body, Event, Message};

/// Export indices of one component's handler functions, resolved at load.
pub(crate) struct Exports {
    pub describe: ComponentExportIndex,
    /// Indexed by `Kind as usize`.
    handlers: Vec<ComponentExportIndex>,
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

/// A message as every plugin receives it: its kind, its WIT context and the
/// stored QR code of its scene, computed once however many plugins are tried.
pub struct HandlerInput<'m> {
    pub msg: &'m Message,
    pub kind: Kind,
    ctx: wit::Context,
    qr: Option<wit::QrCode>,
}

impl<'m> HandlerInput<'m> {
    pub fn new(msg: &'m Message, qr_code: Option<&QrCode>) -> HandlerInput<'m> {
        HandlerInput {
            msg,
            kind: Kind::of(msg),
            ctx: msg.into(),
            qr: qr_code.map(wit::QrCode::from),
        }
    }
}

/// Calls one export. Only this function's type is checked per call: the
/// bindgen-generated loader would type-check all exports on every
/// instantiation, which dominated the per-message cost. (`PluginPre::new`
/// has checked them all once, at load.)
pub(crate) async fn call_export<P, R>(
    store: &mut Store<CallState>,
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

async fn call1<P>(
    store: &mut Store<CallState>,
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

/// Calls the handler export for `input`'s kind.
pub(crate) async fn call_handler(
    instance: &Instance,
    exports: &Exports,
    store: &mut Store<CallState>,
    input: &HandlerInput<'_>,
) -> wasmtime::Result<wit::Reply> {
    let idx = &exports.handlers[input.kind as usize];
    let (ctx, qr) = (&input.ctx, input.qr.clone());
    let (s, i) = (store, instance);
    match &input.msg.body {
        Body::Text { content } => {
            let m = wit::TextMessage {
                content: content.clone(),
            };
            call1(s, i, idx, (ctx, &m)).await
        }
        Body::Image { pic_url, media_id } => {
            let m = wit::ImageMessage {
                pic_url: pic_url.clone(),
                media_id: media_id.clone(),
            };
            call1(s, i, idx, (ctx, &m)).await
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
            call1(s, i, idx, (ctx, &m)).await
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
            call1(s, i, idx, (ctx, &m)).await
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
            call1(s, i, idx, (ctx, &m)).await
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
            call1(s, i, idx, (ctx, &m)).await
        }
        Body::MiniProgramPage { .. } | Body::Unknown => call1(s, i, idx, (ctx,)).await,
        Body::Event(ev) => match ev {
            Event::Subscribe { scene, ticket } => {
                let e = wit::SubscribeEvent {
                    scene: scene.clone(),
                    ticket: ticket.clone(),
                    qr_code: qr,
                };
                call1(s, i, idx, (ctx, &e)).await
            }
            Event::Unsubscribe => call1(s, i, idx, (ctx,)).await,
            Event::Scan { scene, ticket } => {
                let e = wit::ScanEvent {
                    scene: scene.clone(),
                    ticket: ticket.clone(),
                    qr_code: qr,
                };
                call1(s, i, idx, (ctx, &e)).await
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
                call1(s, i, idx, (ctx, e)).await
            }
            Event::Click { key } => {
                call1(s, i, idx, (ctx, &wit::ClickEvent { key: key.clone() })).await
            }
            Event::View { url, menu_id } => {
                let e = wit::ViewEvent {
                    url: url.clone(),
                    menu_id: menu_id.clone(),
                };
                call1(s, i, idx, (ctx, &e)).await
            }
            Event::ScancodePush(c) | Event::ScancodeWaitmsg(c) => {
                call1(s, i, idx, (ctx, &wit::ScancodeEvent::from(c))).await
            }
            Event::PicSysphoto(p) | Event::PicPhotoOrAlbum(p) | Event::PicWeixin(p) => {
                call1(s, i, idx, (ctx, &wit::PicEvent::from(p))).await
            }
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
                call1(s, i, idx, (ctx, &e)).await
            }
            Event::SubscribeMsgPopup(items) => {
                let e = wit::SubscribeMsgPopupEvent::from(items.as_slice());
                call1(s, i, idx, (ctx, &e)).await
            }
            other => {
                let e = wit::EventMessage {
                    event: ctx.event.clone().unwrap_or_default(),
                    key: match other {
                        Event::Other { key, .. } => key.clone(),
                        _ => input.msg.field("EventKey").map(str::to_owned),
                    },
                };
                call1(s, i, idx, (ctx, &e)).await
            }
        },
    }
}
