// Thin wrappers over `wechat:plugin/host`: structured logs, the plugin's own
// key-value store and its configuration. Errors the WIT returns as
// `result<_, kv-error>` arrive from componentize-js as thrown values whose
// `payload` is the `kv-error` (`{ tag: "refused" | "unavailable", val }`);
// they are rethrown here as `KvError` with the host's message.
import { host, webApi } from "./wit.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Fields as `[["k", "v"], ...]` from an object or an array of pairs. */
function pairs(fields) {
  if (fields === undefined) return [];
  const list = Array.isArray(fields) ? fields : Object.entries(fields);
  return list.map(([k, v]) => [String(k), String(v)]);
}

function line(level) {
  return (message, fields) => host.log(level, String(message), pairs(fields));
}

/** Structured logs, attributed to the plugin by the host (which caps lines and bytes per call). */
export const log = {
  trace: line("trace"),
  debug: line("debug"),
  info: line("info"),
  warn: line("warn"),
  error: line("error"),
  /** `log.log("info", "message", { key: "value" })`. */
  log: (level, message, fields) => host.log(level, String(message), pairs(fields)),
};

/**
 * A kv call that failed: `reason` is `refused` (a limit, the quota, not a
 * counter: the same call fails again) or `unavailable` (the store failed;
 * for `get`, whether the key exists is not known).
 */
export class KvError extends Error {
  constructor(op, key, cause) {
    const p = cause?.payload;
    const detail = typeof p === "string" ? p : typeof p?.val === "string" ? p.val : String(cause?.message ?? cause);
    super(`kv ${op} ${JSON.stringify(key)}: ${detail}`);
    this.name = "KvError";
    this.reason = typeof p?.tag === "string" ? p.tag : "unavailable";
  }
}

function hostCall(op, key, f) {
  try {
    return f();
  } catch (e) {
    throw new KvError(op, key, e);
  }
}

/** The plugin's own persistent key-value store (values up to 64 KiB). */
export const kv = {
  /** The value's bytes, or `undefined` if absent. Throws `KvError` if the store failed. */
  get: (key) => hostCall("get", key, () => host.kvGet(key)),
  /** The value as UTF-8 text (`undefined` if absent or not UTF-8). Throws `KvError`. */
  getString(key) {
    const v = hostCall("get", key, () => host.kvGet(key));
    if (v === undefined) return undefined;
    try {
      return decoder.decode(v);
    } catch {
      return undefined;
    }
  },
  /** Stores bytes (a `Uint8Array`) or a string (as UTF-8). Throws `KvError`. */
  set: (key, value) =>
    hostCall("set", key, () => host.kvSet(key, typeof value === "string" ? encoder.encode(value) : value)),
  /** Throws `KvError`. */
  delete: (key) => hostCall("delete", key, () => host.kvDelete(key)),
  /**
   * Adds `delta` (default 1) to a decimal counter (absent = 0) and returns the
   * new value; atomic in the host, so concurrent messages never lose a count.
   * Throws `KvError`.
   */
  incr: (key, delta = 1) => hostCall("incr", key, () => Number(host.kvIncr(key, BigInt(delta)))),
};

/** The plugin's configuration values (`[plugin.<id>.config]` in the host's config). */
export const config = {
  get: (key) => host.configGet(key),
  keys: () => host.configKeys(),
};

/**
 * For plugins that serve pages: the `wx.config` values `{ appId, timestamp,
 * nonceStr, signature }` for the page at `url` (only pages on the server's
 * public origin are signed). Throws the host's message as an `Error`.
 */
export const web = {
  jssdkConfig(url) {
    try {
      return webApi.getJssdkConfig(String(url));
    } catch (e) {
      throw new Error(`jssdk-config: ${typeof e?.payload === "string" ? e.payload : String(e?.message ?? e)}`);
    }
  },
};
