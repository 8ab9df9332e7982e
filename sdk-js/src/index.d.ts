// Types of the JavaScript SDK for TypeScript authors and editors (the SDK is
// plain JavaScript). WIT types come from ../types/wit (generated from wit/);
// the handler names are derived from the generated `handleX` exports, so a
// new WIT kind needs nothing here.
/// <reference path="../types/wit/plugin.d.ts" />
import type * as T from "wechat:plugin/types@0.1.0";
import type * as W from "wechat:plugin/wechat@0.1.0";
import type * as H from "wechat:plugin/host@0.1.0";

type HandlerExports = typeof import("wechat:plugin/handler@0.1.0");
type Tail<A extends unknown[]> = A extends [unknown, ...infer R] ? R : [];

export type Kind = T.Kind;
export type Reply = T.Reply;
export type {
  Article, ClickEvent, EventMessage, ImageMessage, LinkMessage, LocationEvent, LocationMessage,
  LocationSelectEvent, MusicReply, PicEvent, PluginInfo, QrCode, ScanEvent, ScancodeEvent,
  SubscribeEvent, TextMessage, VideoMessage, VideoReply, ViewEvent, VoiceMessage,
} from "wechat:plugin/types@0.1.0";
export type { UserInfo, QrCodeRequest, ApiError } from "wechat:plugin/wechat@0.1.0";

/** The push's context with the SDK's helpers. */
export type Context = T.Context & {
  /** The first value of an XML element by exact name (`Content`, `EventKey`, ...). */
  field(name: string): string | undefined;
  /** This message as a generic event: `Event` and the raw `EventKey`. */
  eventMessage(): T.EventMessage;
};

/** What a handler may return: a reply, nothing (= pass), or a promise of either. */
export type HandlerResult = Reply | undefined | Promise<Reply | undefined>;

/** Handlers by kind in camelCase: `text`, `eventSubscribe`, ..., `event`, `unsupported`. */
export type Handlers = {
  [K in keyof HandlerExports as K extends `handle${infer R}` ? Uncapitalize<R> : never]?: (
    this: PluginSpec,
    ctx: Context,
    ...payload: Tail<Parameters<HandlerExports[K]>>
  ) => HandlerResult;
};

export interface Describe {
  name: string;
  version?: string;
  /** Higher runs first (the host's config may override it). */
  priority?: number;
  /** Kinds handled; default: the kinds this plugin has handlers for. */
  handles?: Kind[];
}

export type PluginSpec = Handlers & { describe: Describe | (() => Describe) } & Record<string, unknown>;

/** The `handler` export: `export const handler = definePlugin({...})`. */
export function definePlugin(spec: PluginSpec): HandlerExports;

export const Reply: {
  text(content: string): Reply;
  image(mediaId: string): Reply;
  voice(mediaId: string): Reply;
  video(mediaId: string, opts?: { title?: string; description?: string }): Reply;
  music(music: T.MusicReply): Reply;
  news(articles: Iterable<T.Article>): Reply;
  transferCustomerService(kfAccount?: string): Reply;
  none(): Reply;
  pass(): Reply;
};
export function article(title: string, description: string, picUrl: string, url: string): T.Article;

type Fields = Record<string, unknown> | Array<[string, unknown]>;
type LogFn = (message: string, fields?: Fields) => void;
export const log: {
  trace: LogFn; debug: LogFn; info: LogFn; warn: LogFn; error: LogFn;
  log(level: H.Level, message: string, fields?: Fields): void;
};

export class KvError extends Error {}
export const kv: {
  get(key: string): Uint8Array | undefined;
  getString(key: string): string | undefined;
  set(key: string, value: Uint8Array | string): void;
  delete(key: string): void;
  incr(key: string, delta?: number): number;
};
export const config: {
  get(key: string): string | undefined;
  keys(): string[];
};

export class WechatError extends Error {
  /** -2: capability not granted; -3: transport failure; otherwise WeChat's errcode. */
  code: number;
  apiMessage: string;
  readonly notGranted: boolean;
}
export const wechat: {
  sendCustomerMessage(toUser: string, message: W.CustomerMessage): void;
  getUserInfo(openid: string): W.UserInfo;
  createQrCode(request: W.QrCodeRequest): T.QrCode;
  NOT_GRANTED: -2;
  TRANSPORT: -3;
};
export const CustomerMessage: {
  text(content: string): W.CustomerMessage;
  image(mediaId: string): W.CustomerMessage;
  voice(mediaId: string): W.CustomerMessage;
  video(video: W.CustomerVideo): W.CustomerMessage;
  music(music: W.CustomerMusic): W.CustomerMessage;
  news(articles: Iterable<T.Article>): W.CustomerMessage;
};

export const KINDS: ReadonlyArray<{
  kind: Kind;
  fallback: "event" | "unsupported" | null;
  payload: boolean;
  handler: string;
  export: string;
}>;
