// {{name}}: a wxhost plugin. It answers a text with the same text.
import { definePlugin, Reply } from "./wxhost-sdk/src/index.js";

export const handler = definePlugin({
  describe: { name: "{{name}}", version: "0.1.0", handles: ["text"] },

  text(ctx, msg) {
    return Reply.text(msg.content);
  },
});
