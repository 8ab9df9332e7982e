// The one list of message kinds (WIT `kind` and the cases of `message`, in
// WIT order) and where each falls back when the plugin has no handler for
// it. Everything else in the SDK — the dispatch of the `handle` export, the
// handler names authors use, the checks in `describe` — is derived from this
// list, so a new WIT kind is one line here.
//
// [wit kind, fallback, payload]
//   fallback: "event" (a specific event → the generic `event` handler) or
//             "unsupported" (a typed message → `unsupported`); `event` itself
//             falls back to `unsupported`, and `unsupported` to pass.
//   payload:  false when the `message` case carries nothing (the handler
//             takes only `ctx`).
export const KINDS = [
  ["text", "unsupported"],
  ["image", "unsupported"],
  ["voice", "unsupported"],
  ["video", "unsupported"],
  ["shortvideo", "unsupported"],
  ["location", "unsupported"],
  ["link", "unsupported"],
  ["event-subscribe", "event"],
  ["event-unsubscribe", "event", false],
  ["event-scan", "event"],
  ["event-location", "event"],
  ["event-click", "event"],
  ["event-view", "event"],
  ["event-scancode-push", "event"],
  ["event-scancode-waitmsg", "event"],
  ["event-pic-sysphoto", "event"],
  ["event-pic-photo-or-album", "event"],
  ["event-pic-weixin", "event"],
  ["event-location-select", "event"],
  ["event-subscribe-msg-popup", "event"],
  ["event-subscribe-msg-change", "event"],
  ["event-subscribe-msg-sent", "event"],
  ["event-template-send-job-finish", "event"],
  ["event-mass-send-job-finish", "event"],
  ["event", "unsupported"],
  ["unsupported", null, false],
].map(([kind, fallback, payload = true]) => ({
  kind,
  fallback,
  payload,
  /** The author's handler name: `event-subscribe` → `eventSubscribe`. */
  handler: kind.replace(/-([a-z])/g, (_, c) => c.toUpperCase()),
}));

/** Kind records by WIT name. */
export const BY_KIND = new Map(KINDS.map((k) => [k.kind, k]));
