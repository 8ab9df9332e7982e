// Test-only module hooks (node --import): resolve the WIT imports
// (`wechat:plugin/<interface>@<version>`) to in-memory fakes, so the SDK runs
// under plain Node. The fakes call `globalThis.wxhostFake[<interface>][<fn>]`.
import { register } from "node:module";

const source = (iface) => `
  const f = (name) => (...args) => globalThis.wxhostFake["${iface}"][name](...args);
  ${{
    host: ["log", "kvGet", "kvSet", "kvDelete", "kvIncr", "configGet", "configKeys"],
    wechat: ["sendCustomerMessage", "getUserInfo", "createQrCode"],
    web: ["getJssdkConfig"],
  }[iface]
    .map((n) => `export const ${n} = f("${n}");`)
    .join("\n")}`;

const hooks = `
  const sources = ${JSON.stringify({ host: source("host"), wechat: source("wechat"), web: source("web") })};
  export async function resolve(specifier, context, next) {
    const m = /^wechat:plugin\\/([a-z-]+)@/.exec(specifier);
    if (m) return { url: "data:text/javascript," + encodeURIComponent(sources[m[1]]), shortCircuit: true };
    return next(specifier, context);
  }`;
register("data:text/javascript," + encodeURIComponent(hooks));
