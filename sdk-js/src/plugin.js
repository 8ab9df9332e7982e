// definePlugin: turns an author's plugin object into the `handler` export
// componentize-js expects (`describe` + `handle(ctx, message)`, WIT 1.0),
// calling the author's handler for the message's case with the same
// fallback chain as the Rust SDK: a specific event → `event` →
// `unsupported` → pass; a typed message → `unsupported` → pass.
import { BY_KIND, KINDS } from "./kinds.js";
import { Reply } from "./reply.js";

/** Helpers on every `ctx`, non-enumerable so the record stays as received. */
const contextHelpers = {
  /** The first value of an XML element by exact name (`Content`, `EventKey`, ...). */
  field: {
    value(name) {
      const hit = this.fields.find(([k]) => k === name);
      return hit === undefined ? undefined : hit[1];
    },
  },
  /** This message as a generic event: `Event` and the raw `EventKey`. */
  eventMessage: {
    value() {
      return { event: this.event ?? "", key: this.field("EventKey") };
    },
  },
};

const REPLY_TAGS = new Set([
  "text", "image", "voice", "video", "music", "news",
  "transfer-customer-service", "no-reply", "pass",
]);

function show(v) {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v); // BigInt fields, cycles
  }
}

function checkReply(reply, handler) {
  // Forgetting `return` is the common JS slip: treat it as "pass", like a
  // handler that is not there, rather than trapping in the bindings.
  if (reply === undefined) return Reply.pass();
  if (reply === null || typeof reply !== "object" || !REPLY_TAGS.has(reply.tag)) {
    throw named(new TypeError(
      `handler ${handler} returned ${show(reply)}; return a Reply (Reply.text(..), Reply.pass(), ...)`,
    ));
  }
  return reply;
}

// The engine prints only an uncaught error's message and stack on stderr;
// put the error's name in front so "RangeError: ..." is what the host sees,
// as it sees "ValueError: ..." from a Python plugin. (Errors the engine
// raises itself, such as a TypeError for `null.x`, print the message they
// were created with; rethrowing a new error instead would lose their stack.)
function named(e) {
  if (e instanceof Error && e.name && !e.message.startsWith(`${e.name}: `)) {
    try {
      e.message = `${e.name}: ${e.message}`;
    } catch {
      // A frozen error keeps its message.
    }
  }
  return e;
}

function plugInfo(spec) {
  const raw = typeof spec.describe === "function" ? spec.describe() : spec.describe;
  if (raw === null || typeof raw !== "object") {
    throw new TypeError("definePlugin: `describe` must be { name, version, priority?, handles? } or a function returning it");
  }
  // Without `handles`, the plugin handles exactly the kinds it has handlers for.
  const handles = raw.handles ?? KINDS.filter((k) => typeof spec[k.handler] === "function").map((k) => k.kind);
  for (const kind of handles) {
    if (!BY_KIND.has(kind)) {
      throw new TypeError(`definePlugin: unknown kind ${JSON.stringify(kind)} in handles (known: ${[...BY_KIND.keys()].join(", ")})`);
    }
  }
  return { name: raw.name, version: raw.version ?? "0.0.0", priority: raw.priority ?? 0, handles: [...handles] };
}

/**
 * Builds the `handler` export from a plugin object:
 *
 *   export const handler = definePlugin({
 *     describe: { name: "echo-js", version: "0.1.0" },
 *     text(ctx, msg) { return Reply.text(msg.content); },
 *   });
 *
 * Handler names are the WIT kinds in camelCase (`text`, `eventSubscribe`,
 * `eventScan`, ..., `event`, `unsupported`); `this` is the plugin object.
 * Runs at build time too (componentize-js pre-initializes the module), so a
 * bad `describe` fails the build.
 */
export function definePlugin(spec) {
  const info = typeof spec.describe === "function" ? null : plugInfo(spec);
  const EVENT = BY_KIND.get("event");
  const UNSUPPORTED = BY_KIND.get("unsupported");

  function run(k, ctx, payload) {
    const h = spec[k.handler];
    if (typeof h === "function") {
      let r;
      try {
        r = k.payload ? h.call(spec, ctx, payload) : h.call(spec, ctx);
      } catch (e) {
        throw named(e);
      }
      // componentize-js settles a returned promise before answering the host.
      return typeof r?.then === "function"
        ? r.then((v) => checkReply(v, k.handler), (e) => Promise.reject(named(e)))
        : checkReply(r, k.handler);
    }
    if (k.fallback === "event") return run(EVENT, ctx, ctx.eventMessage());
    if (k.fallback === "unsupported") return run(UNSUPPORTED, ctx);
    return Reply.pass();
  }

  return {
    describe: () => info ?? plugInfo(spec),
    // `msg` is the WIT `message` variant, `{ tag, val }`. A case this SDK
    // does not know (a newer WIT's, which a 1.0 component never receives)
    // would go where unknown things go.
    handle(ctx, msg) {
      const k = BY_KIND.get(msg.tag) ?? UNSUPPORTED;
      return run(k, Object.defineProperties(ctx, contextHelpers), msg.val);
    },
  };
}
