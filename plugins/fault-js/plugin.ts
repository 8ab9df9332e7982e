// Test-only: the JavaScript plugin failure modes the host must contain, and
// the SDK's TypeScript path (this file is compiled by tsc before
// componentize-js). Text `throw` throws an Error, `loop` spins forever,
// `alloc` allocates (and touches) memory without bound; anything else is echoed.
import { definePlugin, Reply, type Context, type TextMessage } from "../../sdk-js/src/index.js";

let served = 0;

export const handler = definePlugin({
  describe: { name: "fault-js", version: "0.0.0", priority: 100, handles: ["text"] },

  text(_ctx: Context, msg: TextMessage) {
    const cmd = msg.content.trim();
    served += 1;
    if (cmd === "count") return Reply.text(String(served));
    if (cmd === "throw") throw new Error(`plugin bug: cannot handle ${JSON.stringify(cmd)}`);
    if (cmd === "reject") return Promise.reject(new RangeError("plugin bug: rejected"));
    if (cmd === "throw-value") throw "plugin bug: a bare string";
    if (cmd === "loop") {
      let n = cmd.length;
      for (;;) n = (Math.imul(n, 1103515245) + 12345) | 0;
    }
    if (cmd === "alloc") {
      const hoard: Uint8Array[] = [];
      for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
    }
    return Reply.text(msg.content);
  },
});
