// echo-js: answers a text with the same text — the JavaScript twin of
// plugins/echo. Also answers `whoami` with the sender's WeChat profile via
// `wechat.getUserInfo` (capability `user-info`), and degrades to the bare
// OpenID when the operator has not granted it (code -2) or the API fails.
import { definePlugin, Reply, log, wechat, WechatError } from "../../sdk-js/src/index.js";

export const handler = definePlugin({
  describe: { name: "echo-js", version: "0.1.0", handles: ["text"] },

  text(ctx, msg) {
    if (msg.content.trim().toLowerCase() === "whoami") return whoami(ctx.fromUser);
    return Reply.text(msg.content);
  },
});

function whoami(openid) {
  try {
    const u = wechat.getUserInfo(openid);
    const since = u.subscribeTime === undefined ? "" : `, following since ${new Date(Number(u.subscribeTime) * 1000).toISOString().slice(0, 10)}`;
    return Reply.text(`You are ${u.openid}${u.language ? ` (${u.language})` : ""}${since}.`);
  } catch (e) {
    if (!(e instanceof WechatError)) throw e;
    log.info("user info unavailable", { code: e.code, reason: e.apiMessage ?? "" });
    return Reply.text(`You are ${openid}.`);
  }
}
