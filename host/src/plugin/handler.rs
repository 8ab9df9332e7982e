//! Calling a plugin's message handler: [`Exports`] resolves the exports of
//! the WIT version a component targets once, at load; [`HandlerInput`] is a
//! message as plugins receive it, converted once however many plugins it
//! is offered to; [`call_handler`] calls it — a 1.x component's one
//! `handle` export with the typed `message`, a 0.2 component's `handle-*`
//! export for the message's kind (as 0.2 knows it) with 0.2's record.

use std::sync::OnceLock;

use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower,
};

use super::account::AccountInfo;
use super::bindings::WitVersion;
use super::bindings::v0_2::wechat::plugin::types as old;
use super::bindings::v1::wechat::plugin::types as wit;
use super::convert::{self, v0_2::Down, v0_2::Up};
use super::kind::Kind;
use super::state::CallState;
use crate::api::QrCode;
use crate::protocol::Message;

/// Export indices of one component's message handler, resolved at load.
pub(crate) enum Exports {
    /// `wechat:plugin/handler@1.x`: `describe` and `handle`.
    V1 {
        describe: ComponentExportIndex,
        handle: ComponentExportIndex,
    },
    /// `wechat:plugin/handler@0.2.x`: `describe` and one export per 0.2 kind.
    V0_2 {
        describe: ComponentExportIndex,
        /// Indexed by `Kind as usize`; `None` for kinds 0.2 does not have.
        handlers: Vec<Option<ComponentExportIndex>>,
    },
}

impl Exports {
    /// `handler` is the component's actual `wechat:plugin/handler@…` export
    /// name, of `version`.
    pub fn resolve(component: &Component, handler: &str, version: WitVersion) -> Option<Exports> {
        let iface = component.get_export_index(None, handler)?;
        let describe = component.get_export_index(Some(&iface), "describe")?;
        match version {
            WitVersion::V1 => Some(Exports::V1 {
                describe,
                handle: component.get_export_index(Some(&iface), "handle")?,
            }),
            WitVersion::V0_2 => {
                let mut handlers = vec![None; Kind::ALL.len()];
                for k in Kind::ALL.into_iter().filter(|k| k.in_v0_2() == *k) {
                    let name = format!("handle-{}", k.name());
                    handlers[k as usize] = Some(component.get_export_index(Some(&iface), &name)?);
                }
                Some(Exports::V0_2 { describe, handlers })
            }
        }
    }
}

/// A message as every plugin receives it: its kind, the account it was
/// pushed to and the stored QR code of its scene. Built with
/// [`HandlerInput::new`] and the `with_*` setters, so a new input needs no
/// change where inputs are made; the WIT values of each version are built
/// on first use, once.
pub struct HandlerInput<'m> {
    pub msg: &'m Message,
    pub kind: Kind,
    qr_code: Option<QrCode>,
    account: AccountInfo,
    v1: OnceLock<(wit::Context, wit::Message)>,
    v0_2: OnceLock<old::Context>,
}

impl<'m> HandlerInput<'m> {
    /// `msg` for the default account, without a QR code.
    pub fn new(msg: &'m Message) -> HandlerInput<'m> {
        HandlerInput {
            msg,
            kind: Kind::of(msg),
            qr_code: None,
            account: AccountInfo::default(),
            v1: OnceLock::new(),
            v0_2: OnceLock::new(),
        }
    }

    /// The stored QR code of a subscribe or scan event's scene.
    pub fn with_qr_code(mut self, qr_code: Option<&QrCode>) -> HandlerInput<'m> {
        self.qr_code = qr_code.cloned();
        self.v1 = OnceLock::new();
        self
    }

    /// The account the message was pushed to.
    pub fn with_account(mut self, account: AccountInfo) -> HandlerInput<'m> {
        self.account = account;
        self.v1 = OnceLock::new();
        self
    }

    pub fn account(&self) -> &AccountInfo {
        &self.account
    }

    fn v1(&self) -> &(wit::Context, wit::Message) {
        self.v1.get_or_init(|| {
            let message = convert::message(self.msg, self.qr_code.as_ref());
            // The case a plugin gets is the kind it was offered by.
            debug_assert_eq!(message.kind(), self.kind);
            (convert::context(self.msg, &self.account), message)
        })
    }

    fn v0_2_context(&self) -> &old::Context {
        self.v0_2.get_or_init(|| (&self.v1().0).down())
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

/// Calls `describe`, in the component's version, as 1.0's record.
pub(crate) async fn call_describe(
    instance: &Instance,
    exports: &Exports,
    store: &mut Store<CallState>,
) -> wasmtime::Result<wit::PluginInfo> {
    match exports {
        Exports::V1 { describe, .. } => {
            call_export::<(), (wit::PluginInfo,)>(store, instance, describe, ())
                .await
                .map(|r| r.0)
        }
        Exports::V0_2 { describe, .. } => {
            call_export::<(), (old::PluginInfo,)>(store, instance, describe, ())
                .await
                .map(|r| r.0.up())
        }
    }
}

/// Calls the handler for `input`, returning 1.0's reply whatever the
/// component's version.
pub(crate) async fn call_handler(
    instance: &Instance,
    exports: &Exports,
    store: &mut Store<CallState>,
    input: &HandlerInput<'_>,
) -> wasmtime::Result<wit::Reply> {
    match exports {
        Exports::V1 { handle, .. } => {
            let (ctx, msg) = input.v1();
            call_export::<_, (wit::Reply,)>(store, instance, handle, (ctx, msg))
                .await
                .map(|r| r.0)
        }
        Exports::V0_2 { handlers, .. } => call_v0_2(instance, handlers, store, input).await,
    }
}

/// A 0.2 component: the `handle-<kind>` export with 0.2's record; kinds
/// added since 0.2 go to its `handle-event`.
async fn call_v0_2(
    instance: &Instance,
    handlers: &[Option<ComponentExportIndex>],
    store: &mut Store<CallState>,
    input: &HandlerInput<'_>,
) -> wasmtime::Result<wit::Reply> {
    use wit::Message as M;
    let kind = input.kind.in_v0_2();
    let idx = handlers[kind as usize]
        .as_ref()
        .ok_or_else(|| wasmtime::format_err!("no 0.2 export for kind {kind}"))?;
    let ctx = input.v0_2_context();
    let (s, i) = (store, instance);
    async fn call<P: ComponentNamedList + Lower + Send + Sync>(
        s: &mut Store<CallState>,
        i: &Instance,
        idx: &ComponentExportIndex,
        params: P,
    ) -> wasmtime::Result<wit::Reply> {
        call_export::<P, (old::Reply,)>(s, i, idx, params)
            .await
            .map(|r| r.0.up())
    }
    let msg = input.v1().1.clone();
    match msg {
        M::Text(m) => call(s, i, idx, (ctx, m.down())).await,
        M::Image(m) => call(s, i, idx, (ctx, m.down())).await,
        M::Voice(m) => call(s, i, idx, (ctx, m.down())).await,
        M::Video(m) | M::Shortvideo(m) => {
            call::<(_, old::VideoMessage)>(s, i, idx, (ctx, m.down())).await
        }
        M::Location(m) => call::<(_, old::LocationMessage)>(s, i, idx, (ctx, m.down())).await,
        M::Link(m) => call::<(_, old::LinkMessage)>(s, i, idx, (ctx, m.down())).await,
        M::EventSubscribe(e) => call::<(_, old::SubscribeEvent)>(s, i, idx, (ctx, e.down())).await,
        M::EventUnsubscribe | M::Unsupported => call(s, i, idx, (ctx,)).await,
        M::EventScan(e) => call::<(_, old::ScanEvent)>(s, i, idx, (ctx, e.down())).await,
        M::EventLocation(e) => call::<(_, old::LocationEvent)>(s, i, idx, (ctx, e.down())).await,
        M::EventClick(e) => call::<(_, old::ClickEvent)>(s, i, idx, (ctx, e.down())).await,
        M::EventView(e) => call::<(_, old::ViewEvent)>(s, i, idx, (ctx, e.down())).await,
        M::EventScancodePush(e) | M::EventScancodeWaitmsg(e) => {
            call::<(_, old::ScancodeEvent)>(s, i, idx, (ctx, e.down())).await
        }
        M::EventPicSysphoto(e) | M::EventPicPhotoOrAlbum(e) | M::EventPicWeixin(e) => {
            call::<(_, old::PicEvent)>(s, i, idx, (ctx, e.down())).await
        }
        M::EventLocationSelect(e) => {
            call::<(_, old::LocationSelectEvent)>(s, i, idx, (ctx, e.down())).await
        }
        M::EventSubscribeMsgPopup(e) => {
            call::<(_, old::SubscribeMsgPopupEvent)>(s, i, idx, (ctx, e.down())).await
        }
        M::Event(e) => call::<(_, old::EventMessage)>(s, i, idx, (ctx, e.down())).await,
        // 1.0's typed events, which 0.2 has as generic events.
        M::EventSubscribeMsgChange(_)
        | M::EventSubscribeMsgSent(_)
        | M::EventTemplateSendJobFinish(_)
        | M::EventMassSendJobFinish(_) => {
            let e: old::EventMessage = convert::event_message(input.msg).down();
            call(s, i, idx, (ctx, e)).await
        }
    }
}
