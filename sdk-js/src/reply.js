// Reply builders: the WIT `reply` variant as componentize-js represents it
// (`{ tag, val }`), with the same names as the Rust SDK's `Reply::*`.

export const Reply = {
  /** A text reply (at most 2048 bytes, not empty). */
  text: (content) => ({ tag: "text", val: String(content) }),
  /** An image by media id. */
  image: (mediaId) => ({ tag: "image", val: mediaId }),
  /** A voice message by media id. */
  voice: (mediaId) => ({ tag: "voice", val: mediaId }),
  /** A video by media id; `{ title, description }` optional. */
  video: (mediaId, { title, description } = {}) => ({ tag: "video", val: { mediaId, title, description } }),
  /** Music: `{ thumbMediaId, title?, description?, musicUrl?, hqMusicUrl? }`. */
  music: (music) => ({ tag: "music", val: music }),
  /** News: one article in reply to a user's message, up to eight to an event. */
  news: (articles) => ({ tag: "news", val: [...articles] }),
  /** Hand the conversation to customer service (optionally one agent). */
  transferCustomerService: (kfAccount) => ({ tag: "transfer-customer-service", val: kfAccount }),
  /** Answer `success`: WeChat shows nothing and no later plugin runs. */
  none: () => ({ tag: "no-reply" }),
  /** Let the next plugin try. */
  pass: () => ({ tag: "pass" }),
};

/** A news article. */
export function article(title, description, picUrl, url) {
  return { title, description, picUrl, url };
}
