// Types of the JavaScript SDK for TypeScript authors and editors (the SDK is
// plain JavaScript). WIT types come from ../types/wit (generated from wit/),
// through wit.d.ts; the handler names are derived from the cases of the
// generated `Message` variant, so a new WIT kind needs nothing here.
import type { T, W, H, HandlerExports } from "./wit.js";
/** `event-subscribe` → `eventSubscribe`. */
type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;

export type Kind = T.Kind;
export type Reply = T.Reply;
export type Article = T.Article;
export type ClickEvent = T.ClickEvent;
export type EventMessage = T.EventMessage;
export type ImageMessage = T.ImageMessage;
export type LinkMessage = T.LinkMessage;
export type LocationEvent = T.LocationEvent;
export type LocationMessage = T.LocationMessage;
export type LocationSelectEvent = T.LocationSelectEvent;
export type MusicReply = T.MusicReply;
export type PicEvent = T.PicEvent;
export type PluginInfo = T.PluginInfo;
export type QrCode = T.QrCode;
export type ScanEvent = T.ScanEvent;
export type ScancodeEvent = T.ScancodeEvent;
export type SubscribeEvent = T.SubscribeEvent;
export type SubscribeMsgPopupEvent = T.SubscribeMsgPopupEvent;
export type SubscribeMsgChangeEvent = T.SubscribeMsgChangeEvent;
export type SubscribeMsgSentEvent = T.SubscribeMsgSentEvent;
export type TemplateSendJobFinishEvent = T.TemplateSendJobFinishEvent;
export type MassSendJobFinishEvent = T.MassSendJobFinishEvent;
export type Message = T.Message;
export type Account = T.Account;
export type TextMessage = T.TextMessage;
export type VideoMessage = T.VideoMessage;
export type VideoReply = T.VideoReply;
export type ViewEvent = T.ViewEvent;
export type VoiceMessage = T.VoiceMessage;
export type UserInfo = W.UserInfo;
export type QrCodeRequest = W.QrCodeRequest;
export type ApiError = W.ApiError;

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
  [M in T.Message as Camel<M["tag"]>]?: (
    this: PluginSpec,
    ctx: Context,
    ...payload: M extends { val: infer V } ? [V] : []
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
/** For plugins that serve pages. */
export const web: {
  /** `wx.config` values for the page at `url` (pages on the public origin only); throws the host's refusal. */
  jssdkConfig(url: string): { appId: string; timestamp: bigint; nonceStr: string; signature: string };
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
  /** WIT 1.1, capability `customer-message`. */
  setTyping(toUser: string, on: boolean): void;
  NOT_GRANTED: -2;
  TRANSPORT: -3;
};
/** WIT 1.1, capability `outbound`: the host's durable message queue. */
export const outbound: {
  /** The admin API's job object (or its JSON); the job's id. Throws the host's refusal. */
  enqueue(job: object | string): bigint;
  status(id: bigint | number):
    | { id: bigint; status: string; reason?: string; attempts: number; msgid?: bigint }
    | undefined;
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

/** The most bytes (UTF-8) of one text reply or customer-service text. */
export const MAX_TEXT_BYTES: number;
/** Customer-service messages WeChat allows per user message (45047 past it). */
export const CUSTOMER_MESSAGES_PER_USER_MESSAGE: number;
/** Splits `text` into parts of at most `maxBytes` (default 2,048) bytes on sentence ends, then spaces, then characters; joined, they are `text`. */
export function splitText(text: string, maxBytes?: number): string[];
