//! WIT 1.x grows without rebuilding plugins (docs/wit-versioning.md),
//! proven with a pretend next minor, `host/tests/wit-next/plugin.wit`
//! (`wechat:plugin@1.2.0`: today's 1.1 plus one more kind and `message`
//! case and one more host interface). A host built for it links its host
//! functions, and a component built for 1.0 (the `fixture` plugin as
//! released, `tests/fixtures/wit-1.0/fixture.wasm`) links against them
//! unchanged — wasmtime resolves its `@1.0.0` imports to the
//! semver-compatible `@1.2.0` definitions, the interfaces 1.1 and 1.2 added
//! and all — while the host calls its exports with 1.0's types, converting
//! the new kind to 1.0's generic `event`, as `host/src/plugin/convert/`
//! does for 0.2.

mod plugin_support;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The host as a later 1.2 release would be built: its imports.
mod next {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "tests/wit-next",
        imports: { default: trappable },
    });
}

/// The 1.0 exports a 1.0 component is called through (the host keeps
/// every released minor's bindings whose types it changed).
mod v1_0 {
    wasmtime::component::bindgen!({ world: "plugin", path: "../wit/1.0" });
}

use next::wechat::plugin as n;
use v1_0::wechat::plugin::types as old;

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    kv: std::collections::HashMap<String, Vec<u8>>,
    marked: Vec<String>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl n::host::Host for State {
    fn log(
        &mut self,
        _: n::host::Level,
        _: String,
        _: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        Ok(())
    }
    fn kv_get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, n::host::KvError>> {
        Ok(Ok(self.kv.get(&key).cloned()))
    }
    fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), n::host::KvError>> {
        self.kv.insert(key, value);
        Ok(Ok(()))
    }
    fn kv_delete(&mut self, key: String) -> wasmtime::Result<Result<(), n::host::KvError>> {
        self.kv.remove(&key);
        Ok(Ok(()))
    }
    fn kv_incr(&mut self, _: String, _: i64) -> wasmtime::Result<Result<i64, n::host::KvError>> {
        Ok(Err(n::host::KvError::Refused("not in this test".into())))
    }
    fn config_get(&mut self, _: String) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
    fn config_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(vec![])
    }
}

fn not_granted<T>() -> wasmtime::Result<Result<T, n::wechat::ApiError>> {
    Ok(Err(n::wechat::ApiError {
        code: -2,
        message: "not in this test".into(),
    }))
}

impl n::wechat::Host for State {
    fn send_customer_message(
        &mut self,
        _: String,
        _: n::wechat::CustomerMessage,
    ) -> wasmtime::Result<Result<(), n::wechat::ApiError>> {
        not_granted()
    }
    fn get_user_info(
        &mut self,
        _: String,
    ) -> wasmtime::Result<Result<n::wechat::UserInfo, n::wechat::ApiError>> {
        not_granted()
    }
    fn create_qr_code(
        &mut self,
        _: n::wechat::QrCodeRequest,
    ) -> wasmtime::Result<Result<n::types::QrCode, n::wechat::ApiError>> {
        not_granted()
    }
}

impl n::web::Host for State {
    fn get_jssdk_config(
        &mut self,
        _: String,
    ) -> wasmtime::Result<Result<n::web::JssdkConfig, String>> {
        Ok(Err("not in this test".into()))
    }
}

impl n::types::Host for State {}

impl n::chat::Host for State {
    fn set_typing(
        &mut self,
        _: String,
        _: bool,
    ) -> wasmtime::Result<Result<(), n::wechat::ApiError>> {
        not_granted()
    }
}

impl n::outbound::Host for State {
    fn enqueue(&mut self, _: String) -> wasmtime::Result<Result<i64, String>> {
        Ok(Err("not in this test".into()))
    }
    fn job_status(
        &mut self,
        _: i64,
    ) -> wasmtime::Result<Result<Option<n::outbound::JobState>, String>> {
        Ok(Ok(None))
    }
}

impl n::presence::Host for State {
    fn mark_read(&mut self, to_user: String) -> wasmtime::Result<Result<(), String>> {
        self.marked.push(to_user);
        Ok(Ok(()))
    }
}

/// What the 1.1 host does for a 1.0 component: 1.1's message in 1.0's
/// types, the new kind as 1.0's generic event. (Only the cases this test
/// sends; the real conversions are in `host/src/plugin/convert/`.)
fn down(msg: n::types::Message) -> old::Message {
    match msg {
        n::types::Message::Text(t) => old::Message::Text(old::TextMessage { content: t.content }),
        n::types::Message::EventUserInfoModified(_) => old::Message::Event(old::EventMessage {
            event: "user_info_modified".into(),
            key: None,
        }),
        other => panic!("not sent in this test: {other:?}"),
    }
}

fn context() -> old::Context {
    old::Context {
        account: old::Account {
            name: "default".into(),
            app_id: "wx1".into(),
            original_id: "gh_test".into(),
        },
        to_user: "gh_test".into(),
        from_user: "o_user".into(),
        create_time: 1,
        msg_id: None,
        msg_type: "event".into(),
        event: Some("user_info_modified".into()),
        fields: vec![],
        raw: "<xml/>".into(),
    }
}

#[test]
fn a_1_0_component_runs_on_a_host_built_for_a_later_1_x() {
    let engine = Engine::new(&Config::new()).unwrap();
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    next::Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).unwrap();

    let released = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/wit-1.0/fixture.wasm"
    );
    let component = Component::from_file(&engine, released).unwrap();
    let imports: Vec<String> = component
        .component_type()
        .imports(&engine)
        .map(|(n, _)| n.to_owned())
        .filter(|n| n.starts_with("wechat:"))
        .collect();
    assert!(
        imports.iter().all(|i| i.ends_with("@1.0.0")),
        "built for 1.0: {imports:?}"
    );
    // Links: every `@1.0.0` import resolves to the 1.2 host's definitions.
    let pre = linker.instantiate_pre(&component).unwrap();
    let pre = v1_0::PluginPre::new(pre).expect("1.0 exports type-check");

    let mut store = Store::new(
        &engine,
        State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            kv: Default::default(),
            marked: vec![],
        },
    );
    let plugin = pre.instantiate(&mut store).unwrap();
    let handler = plugin.wechat_plugin_handler();
    let info = handler.call_describe(&mut store).unwrap();
    assert_eq!(info.name, "fixture");

    // A kind 1.0 has: its typed case, calling back into the 1.2 host's kv.
    let set = n::types::Message::Text(n::types::TextMessage {
        content: "kv:set:k=v".into(),
    });
    let reply = handler
        .call_handle(&mut store, &context(), &down(set))
        .unwrap();
    assert!(
        matches!(&reply, old::Reply::Text(t) if t == "set k"),
        "{reply:?}"
    );
    assert_eq!(store.data().kv.get("k").map(Vec::as_slice), Some(&b"v"[..]));

    // The kind 1.2 added: 1.0's generic event, which the SDK hands to the
    // plugin's `handle_event`.
    let new_kind = n::types::Message::EventUserInfoModified(n::types::UserInfoModifiedEvent {
        openid: "o_user".into(),
        app_id: "wx1".into(),
    });
    let reply = handler
        .call_handle(&mut store, &context(), &down(new_kind))
        .unwrap();
    assert!(
        matches!(&reply, old::Reply::Text(t) if t == "event user_info_modified key -"),
        "{reply:?}"
    );
}
