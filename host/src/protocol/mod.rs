//! WeChat's callback protocol, complete and exact, with no I/O: signatures,
//! WXBizMsgCrypt in all three modes, inbound messages and passive replies.

pub mod message;
pub mod reply;

pub use message::*;
pub use reply::*;
