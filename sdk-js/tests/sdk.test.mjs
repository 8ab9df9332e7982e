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
    kvGet: (k) => {
      if (k === "down") throw { payload: { tag: "unavailable", val: "storage unavailable: down" } };
      return store.get(k);
    },
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
const call = (h, k) =>
  h.handle(ctx(), k.payload ? { tag: k.kind, val: k.kind === "event" ? { event: "E", key: "k" } : {} } : { tag: k.kind });
const text = (content) => ({ tag: "text", val: { content } });

test("every kind reaches handle; nothing defined passes", () => {
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
  assert.deepEqual(h.handle(ctx(), text("x")), Reply.pass());
  assert.deepEqual(await h.handle(ctx(), text("a")), Reply.none());
  assert.throws(() => h.handle(ctx(), text("b")), TypeError);
});

test("an error escaping a handler carries its name in the message (all stderr shows)", async () => {
  const h = definePlugin({
    describe: { name: "p" },
    text: () => null.x,
    image: async () => {
      throw new RangeError("r");
    },
  });
  assert.throws(() => h.handle(ctx(), { tag: "text", val: {} }), (e) => e instanceof TypeError && e.message.startsWith("TypeError: "));
  await assert.rejects(h.handle(ctx(), { tag: "image", val: {} }), (e) => e.message === "RangeError: r");
});

test("unknown kinds fail at definePlugin (build time)", () => {
  assert.throws(() => definePlugin({ describe: { name: "p", handles: ["txt"] } }), /unknown kind "txt"/);
});

test("kv and wechat wrappers", () => {
  assert.equal(kv.incr("n"), 1);
  assert.equal(kv.incr("n", 2), 3);
  assert.equal(kv.getString("n"), "3");
  assert.throws(() => kv.set("big", "12345"), (e) => e instanceof KvError && /value too large/.test(e.message));
  // A store failure on get is an error, not absence.
  assert.equal(kv.get("absent"), undefined);
  assert.throws(() => kv.get("down"), (e) => e instanceof KvError && e.reason === "unavailable" && /down/.test(e.message));
  assert.throws(() => wechat.getUserInfo("o"), (e) => e instanceof WechatError && e.code === -2 && e.notGranted);
});

test("web.jssdkConfig returns the host's config and rethrows its refusal", async () => {
  const { web } = await import("../src/index.js");
  assert.equal(web.jssdkConfig("https://wx.example.com/app/x/").signature, "s");
  assert.throws(() => web.jssdkConfig("https://evil.example/"), /jssdk-config: only pages/);
});
