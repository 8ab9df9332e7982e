// The JavaScript SDK for wxhost plugins (componentize-js). A plugin module
// exports `handler = definePlugin({...})`; see sdk-js/README.md.
export { definePlugin } from "./plugin.js";
export { Reply, article } from "./reply.js";
export { log, kv, config, web, KvError } from "./host.js";
export { wechat, WechatError, CustomerMessage, outbound } from "./wechat.js";
export { KINDS } from "./kinds.js";
export { splitText, MAX_TEXT_BYTES, CUSTOMER_MESSAGES_PER_USER_MESSAGE } from "./long_text.js";
