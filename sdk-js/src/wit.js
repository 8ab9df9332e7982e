// The WIT interfaces the SDK imports, in the one place that names the package
// version (componentize-js only resolves fully versioned names).
export * as host from "wechat:plugin/host@1.1.0";
export * as api from "wechat:plugin/wechat@1.1.0";
export * as webApi from "wechat:plugin/web@1.1.0";
export * as chatApi from "wechat:plugin/chat@1.1.0";
export * as outboundApi from "wechat:plugin/outbound@1.1.0";
