//! End-to-end test support for wxhost.
//!
//! - [`fake_wechat`]: a fake WeChat API server (real HTTP on 127.0.0.1) with
//!   fault injection, for tests of the API client, late replies, and anything
//!   else that calls WeChat.
//! - [`fake_outbound`]: its template, subscription and mass endpoints
//!   (deliveries, per-second rates, faults).
//! - [`fake_open`]: its Open Platform component endpoints (tickets, the
//!   platform token, authorization codes, rotating authorizer tokens, the
//!   authorizer list) and WeChat's side of the platform's pushes.
//! - [`fake_model`]: a fake OpenAI-compatible model server (delays,
//!   failures, recorded calls), for the assistant plugin.
//! - [`retrying`]: WeChat's delivery of a push: unanswered in 5 s, it is
//!   delivered again, three deliveries in all.
//! - [`service`]: the real `wxhost` binary as a fixture, played against as WeChat.
//! - [`redis_server`]: a real `redis-server` on a free loopback port, for
//!   the Redis backend (killable and restartable, for fault tests).
//! - [`browser`]: a visitor of the web side, with its own cookie jar.
//! - [`console`]: the service and its admin console in-process, on two
//!   loopback listeners, against the fake WeChat.
//! - [`webdriver`]: Chromium through ChromeDriver, for tests in a real
//!   browser.

pub mod browser;
pub mod console;
pub mod fake_model;
pub mod fake_open;
pub mod fake_outbound;
pub mod fake_wechat;
pub mod redis_server;
pub mod retrying;
pub mod service;
pub mod webdriver;

pub use fake_wechat::FakeWechat;
