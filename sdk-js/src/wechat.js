// WeChat server APIs through the host, each behind a capability the operator
// grants (`customer-message`, `user-info`, `qrcode`). A refused or failed call
// throws `WechatError` with the host's `code` (-2 not granted, -3 transport,
// else WeChat's errcode), so plugins can degrade instead of failing.
import { api, chatApi, outboundApi } from "./wit.js";

export class WechatError extends Error {
  constructor(call, cause) {
    const e = cause?.payload ?? {};
    super(`${call}: ${e.message ?? cause?.message ?? String(cause)} (code ${e.code})`);
    this.name = "WechatError";
    /** -2: capability not granted; -3: transport failure; otherwise WeChat's errcode. */
    this.code = e.code;
    this.apiMessage = e.message;
  }
  get notGranted() {
    return this.code === NOT_GRANTED;
  }
}

export const NOT_GRANTED = -2;
export const TRANSPORT = -3;

function call(name, f) {
  try {
    return f();
  } catch (e) {
    throw new WechatError(name, e);
  }
}

export const wechat = {
  /** Capability `customer-message`. `message` is a customer-message variant: use `CustomerMessage.text(..)`. */
  sendCustomerMessage: (toUser, message) =>
    call("send-customer-message", () => api.sendCustomerMessage(toUser, message)),
  /** Capability `user-info`. */
  getUserInfo: (openid) => call("get-user-info", () => api.getUserInfo(openid)),
  /** Capability `qrcode`. `{ scene, expireSeconds?, note? }`. */
  createQrCode: (request) => call("create-qr-code", () => api.createQrCode(request)),
  /** WIT 1.1, capability `customer-message`: the "typing" status in `toUser`'s chat. */
  setTyping: (toUser, on) => call("set-typing", () => chatApi.setTyping(toUser, on)),
  NOT_GRANTED,
  TRANSPORT,
};

/** Builders for the `customer-message` variant. */
export const CustomerMessage = {
  text: (content) => ({ tag: "text", val: String(content) }),
  image: (mediaId) => ({ tag: "image", val: mediaId }),
  voice: (mediaId) => ({ tag: "voice", val: mediaId }),
  video: (video) => ({ tag: "video", val: video }),
  music: (music) => ({ tag: "music", val: music }),
  news: (articles) => ({ tag: "news", val: [...articles] }),
};

/**
 * WIT 1.1, capability `outbound`: messages through the host's durable queue,
 * for the account of the message being handled. `enqueue(job)` takes the
 * admin API's job object (or its JSON) and returns the job's id; `status(id)`
 * its state (`{ id, status, reason, attempts, msgid }`) or undefined. A
 * refusal throws an Error naming what is wrong.
 */
export const outbound = {
  enqueue: (job) => outboundApi.enqueue(typeof job === "string" ? job : JSON.stringify(job)),
  status: (id) => outboundApi.jobStatus(BigInt(id)),
};
