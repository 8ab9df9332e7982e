"""Unit tests of the Python SDK's dispatch, run natively by
scripts/build-guest-plugins.sh against the bindings componentize-py generates
for wit/ (their host imports are stubs, replaced here where a test needs one)."""
import unittest

from wit_world.imports import host, types

import wxhost_sdk
from wxhost_sdk import KINDS, Kind, Plugin, Reply, kv

CTX = types.Context(types.Account("default", "wx1", "gh_x"), "gh_x", "o_user", 1, None, "event",
                    "CLICK", [("EventKey", "K1")], "<xml/>")
PAYLOAD = object()  # handlers that fall back ignore their payload


def call(plugin, kind):
    """Through the WIT export, as the host calls it."""
    k = wxhost_sdk.kinds.BY_NAME[kind]
    payload = CTX.event_message() if kind == "event" else PAYLOAD
    return plugin.handle(CTX, k.case(payload) if k.payload else k.case())


class Fallbacks(unittest.TestCase):
    def test_nothing_overridden_passes(self):
        class P(Plugin):
            name = "p"
        for k in KINDS:
            self.assertIsInstance(call(P(), k.name), types.Reply_Pass, k.name)
        self.assertEqual(P().describe().handles, [])

    def test_specific_event_falls_back_to_event_then_unsupported(self):
        class P(Plugin):
            def handle_event(self, ctx, ev):
                return Reply.text(f"{ev.event}/{ev.key}")
        for k in KINDS:
            want = "CLICK/K1" if k.fallback == "event" or k.name == "event" else None
            r = call(P(), k.name)
            if want:
                self.assertEqual(r, types.Reply_Text(want), k.name)
            else:
                self.assertIsInstance(r, types.Reply_Pass, k.name)

    def test_typed_message_and_event_fall_back_to_unsupported(self):
        class P(Plugin):
            def handle_unsupported(self, ctx):
                return Reply.text("u")
        for k in KINDS:
            self.assertEqual(call(P(), k.name), types.Reply_Text("u"), k.name)

    def test_handles_inferred_in_wit_order_or_declared(self):
        class P(Plugin):
            def handle_event(self, ctx, ev): ...
            def handle_text(self, ctx, msg): ...
        self.assertEqual(P().describe().handles, [Kind.TEXT, Kind.EVENT])

        class Q(P):
            handles = ["event-scan", "text"]
        self.assertEqual(Q().describe().handles, [Kind.TEXT, Kind.EVENT_SCAN])

        class Bad(Plugin):
            handles = ["txt"]
        with self.assertRaises(ValueError):
            Bad().describe()

    def test_none_passes_and_non_reply_is_a_type_error(self):
        class P(Plugin):
            def handle_text(self, ctx, msg):
                return msg
        self.assertIsInstance(P().handle_text(CTX, None), types.Reply_Pass)
        with self.assertRaises(TypeError):
            P().handle_text(CTX, 42)

    def test_every_wit_handler_exists(self):
        # The generated Handler protocol lists every export the world needs.
        from wit_world.exports import Handler
        wanted = {n for n in vars(Handler) if n.startswith("handle") or n == "describe"}
        self.assertEqual(wanted - set(dir(Plugin)), set())
        self.assertIn("handle", wanted)

    def test_every_message_case_has_a_kind(self):
        cases = {c for n, c in vars(types).items() if n.startswith("Message_")}
        self.assertEqual(cases, set(wxhost_sdk.kinds.BY_CASE))


class Helpers(unittest.TestCase):
    def test_context_helpers(self):
        self.assertEqual(CTX.field("EventKey"), "K1")
        self.assertIsNone(CTX.field("Nope"))
        self.assertEqual(CTX.event_message(), types.EventMessage("CLICK", "K1"))

    def test_kv_incr(self):
        store = {}

        def kv_incr(key, delta):
            store[key] = store.get(key, 0) + delta
            return store[key]

        host.kv_incr = kv_incr
        self.assertEqual(kv.incr("n"), 1)
        self.assertEqual(kv.incr("n", 5), 6)
        self.assertEqual(store["n"], 6)

    def test_kv_get_failure_is_an_error_not_absence(self):
        from componentize_py_types import Err

        def kv_get(key):
            if key == "down":
                raise Err(host.KvError_Unavailable("storage unavailable: down"))
            return None

        host.kv_get = kv_get
        self.assertIsNone(kv.get("absent"))
        with self.assertRaises(wxhost_sdk.KvError) as e:
            kv.get("down")
        self.assertEqual(e.exception.reason, "unavailable")


    def test_web_jssdk_config_raises_the_hosts_refusal(self):
        from componentize_py_types import Err
        from wit_world.imports import web as web_imports

        def get_jssdk_config(url):
            if not url.startswith("https://wx.example.com/"):
                raise Err("only pages on https://wx.example.com are signed")
            return web_imports.JssdkConfig("wx1", 1, "n", "s")

        web_imports.get_jssdk_config = get_jssdk_config
        self.assertEqual(wxhost_sdk.web.jssdk_config("https://wx.example.com/a").signature, "s")
        with self.assertRaisesRegex(ValueError, "only pages"):
            wxhost_sdk.web.jssdk_config("https://evil.example/")


if __name__ == "__main__":
    unittest.main()
