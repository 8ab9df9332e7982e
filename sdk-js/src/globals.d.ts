// The few engine globals (StarlingMonkey) plugins commonly use, for the type
// check: console output goes to the guest's stderr, which the host captures.
// (fetch is not available: components are built with -d http fetch-event.)
declare var console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
