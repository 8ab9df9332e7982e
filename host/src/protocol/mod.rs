//! WeChat's callback protocol, complete and exact, with no I/O: signatures,
//! WXBizMsgCrypt in all three modes, inbound messages and passive replies.
//!
//! - [`signature`](signature()) / [`verify_signature`]: the SHA-1 request and message signatures.
//! - [`AesKey`], [`MsgCrypt`]: the EncodingAESKey and WXBizMsgCrypt.
//! - [`Callback`]: one request end to end — verify, decrypt, parse ([`Callback::open`]),
//!   and answer ([`Callback::seal`]), encrypting exactly when the request was.
//! - [`parse_message`] → [`Message`]; [`render_reply`] / [`parse_reply`] for [`Reply`].
//! - [`Push`], [`build_push`] / [`open_reply`]: the WeChat side, for the simulator, `plugin run` and tests.
//! - [`ProtocolError`]: every failure, with a stable [`ProtocolError::kind`] label.

mod callback;
mod client;
mod crypt;
mod error;
pub mod message;
mod parse;
mod render;
pub mod reply;
mod signature;
pub mod xml;

#[cfg(test)]
mod tests;

pub use callback::{Callback, CallbackQuery, CallbackSettings, Inbound, KeySlot, Mode};
pub use client::{Push, build_push, open_reply, signed_request};
pub use crypt::{AesKey, MsgCrypt};
pub use error::ProtocolError;
pub use message::*;
pub use parse::{parse_message, parse_message_with_limits};
pub use render::{
    MAX_ARTICLES_EVENT, MAX_ARTICLES_USER, ParsedReply, SUCCESS, check_reply, parse_reply,
    render_reply,
};
pub use reply::*;
pub use signature::{signature, verify_signature};
