// The generated WIT declarations (../types/wit) under version-free names, so
// index.d.ts does not repeat the package version (keep in step with wit.js).
/// <reference path="../types/wit/plugin.d.ts" />
export type * as T from "wechat:plugin/types@1.1.0";
export type * as W from "wechat:plugin/wechat@1.1.0";
export type * as H from "wechat:plugin/host@1.1.0";
export type HandlerExports = typeof import("wechat:plugin/handler@1.1.0");
export declare const host: typeof import("wechat:plugin/host@1.1.0");
export declare const api: typeof import("wechat:plugin/wechat@1.1.0");
export declare const webApi: typeof import("wechat:plugin/web@1.1.0");
export declare const chatApi: typeof import("wechat:plugin/chat@1.1.0");
export declare const outboundApi: typeof import("wechat:plugin/outbound@1.1.0");
