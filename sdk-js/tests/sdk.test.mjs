// Unit tests of the JavaScript SDK's dispatch and wrappers under plain Node
// (tests/hooks.mjs fakes the WIT imports); run by scripts/build-guest-plugins.sh.
import { test } from "node:test";
import assert from "node:assert/strict";

const store = new Map();
globalThis.wxhostFake = {
  web: {
    getJssdkConfig: (url) => {
      if (!url.startsWith("https://wx.example.com/")) throw { payload: "only pages on https://wx.example.com are signed" };
      return { appId: "wx1", timestamp: 1n, nonceStr: "n", signature: "s" };
    },
  },
  host: {
    log: () => {},
    kvGet: (k) => store.get(k),
    kvSet: (k, v) => {
      if (v.length > 4) throw { payload: "value too large" };
      store.set(k, v);
    },
    kvDelete: (k) => store.delete(k),
    kvIncr: (k, d) => {
      const n = BigInt(new TextDecoder().decode(store.get(k) ?? new Uint8Array())) + d;
      store.set(k, new TextEncoder().encode(String(n)));
      return n;
    },
    configGet: () => undefined,
    configKeys: () => [],
  },
  wechat: {
    getUserInfo: () => {
      throw { payload: { code: -2, message: "capability user-info not granted" } };
    },
  },
};
const { definePlugin, Reply, KINDS, kv, KvError, wechat, WechatError } = await import("../src/index.js");

const ctx = () => ({ event: "CLICK", fields: [["EventKey", "K1"]], msgType: "event" });
const call = (h, k) => (k.payload ? h[k.export](ctx(), k.kind === "event" ? { event: "E", key: "k" } : {}) : h[k.export](ctx()));

test("every kind has an export; nothing defined passes", () => {
  const h = definePlugin({ describe: { name: "p" } });
  for (const k of KINDS) assert.deepEqual(call(h, k), Reply.pass(), k.kind);
  assert.deepEqual(h.describe(), { name: "p", version: "0.0.0", priority: 0, handles: [] });
});

test("specific events fall back to event with ctx.eventMessage(), typed messages to unsupported", () => {
  const h = definePlugin({
    describe: { name: "p" },
    event: (c, ev) => Reply.text(`${ev.event}/${ev.key}`),
    unsupported: () => Reply.text("u"),
  });
  for (const k of KINDS) {
    const want = k.fallback === "event" ? "CLICK/K1" : k.kind === "event" ? "E/k" : "u";
    assert.deepEqual(call(h, k), Reply.text(want), k.kind);
  }
  assert.deepEqual(h.describe().handles, ["event", "unsupported"]);
});

test("undefined passes, promises settle, other values are a TypeError", async () => {
  const h = definePlugin({
    describe: { name: "p", handles: ["text"] },
    text: (c, m) => (m.content === "a" ? Promise.resolve(Reply.none()) : m.content === "b" ? 42 : undefined),
  });
  assert.deepEqual(h.handleText(ctx(), { content: "x" }), Reply.pass());
  assert.deepEqual(await h.handleText(ctx(), { content: "a" }), Reply.none());
  assert.throws(() => h.handleText(ctx(), { content: "b" }), TypeError);
});

test("an error escaping a handler carries its name in the message (all stderr shows)", async () => {
  const h = definePlugin({
    describe: { name: "p" },
    text: () => null.x,
    image: async () => {
      throw new RangeError("r");
    },
  });
  assert.throws(() => h.handleText(ctx(), {}), (e) => e instanceof TypeError && e.message.startsWith("TypeError: "));
  await assert.rejects(h.handleImage(ctx(), {}), (e) => e.message === "RangeError: r");
});

test("unknown kinds fail at definePlugin (build time)", () => {
  assert.throws(() => definePlugin({ describe: { name: "p", handles: ["txt"] } }), /unknown kind "txt"/);
});

test("kv and wechat wrappers", () => {
  assert.equal(kv.incr("n"), 1);
  assert.equal(kv.incr("n", 2), 3);
  assert.equal(kv.getString("n"), "3");
  assert.throws(() => kv.set("big", "12345"), (e) => e instanceof KvError && /value too large/.test(e.message));
  assert.throws(() => wechat.getUserInfo("o"), (e) => e instanceof WechatError && e.code === -2 && e.notGranted);
});

test("web.jssdkConfig returns the host's config and rethrows its refusal", async () => {
  const { web } = await import("../src/index.js");
  assert.equal(web.jssdkConfig("https://wx.example.com/app/x/").signature, "s");
  assert.throws(() => web.jssdkConfig("https://evil.example/"), /jssdk-config: only pages/);
});
