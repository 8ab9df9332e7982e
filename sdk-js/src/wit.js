// The WIT interfaces the SDK imports, in the one place that names the package
// version (componentize-js only resolves fully versioned names).
export * as host from "wechat:plugin/host@0.2.0";
export * as api from "wechat:plugin/wechat@0.2.0";
export * as webApi from "wechat:plugin/web@0.2.0";
