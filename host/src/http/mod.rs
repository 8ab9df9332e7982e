//! Generic HTTP plumbing shared by the callback listener ([`crate::server`],
//! with the web side of [`crate::web`] on its router) and the admin console
//! ([`crate::admin`]): nothing here knows WeChat.
//!
//! - `conn.rs` ([`ConnLimits`]): the accept loop, the connection limit, the
//!   header and keep-alive timeouts, graceful shutdown.
//! - `body_deadline.rs` ([`BodyDeadline`]): the request body read deadline
//!   and size limit, as a router layer.
//! - `health.rs` ([`Readiness`]): `/healthz` and `/readyz`.
//! - `rate.rs` ([`rate::ClientRate`]): request rates per client address.

pub mod body_deadline;
pub mod conn;
pub mod health;
pub mod rate;

pub use body_deadline::BodyDeadline;
pub use conn::ConnLimits;
pub use health::Readiness;
