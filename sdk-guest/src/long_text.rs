//! Long answers: WeChat takes at most 2,048 bytes (UTF-8) of text in one
//! reply or customer-service message, and at most five customer-service
//! messages per message the user sent (within 48 h; error 45047 past it).
//!
//! [`split`] cuts a text into parts of at most a given size on sentence
//! boundaries (`。！？.!?` and line ends), else on spaces, else on a
//! character boundary; the parts put together are the text. [`reply_long`]
//! answers with a long text: where the plugin may send customer-service
//! messages, the first parts go out as such and the reply is the part after
//! them (so the user reads them in order); what is left, or everything
//! after the first part where sending is not allowed, is kept in kv for the
//! user's "more" ([`take_more`]).

use crate::bindings::wechat::plugin::types::Reply;
use crate::bindings::wechat::plugin::wechat::CustomerMessage;
use crate::{kv, wechat};

/// The most bytes of one text reply or customer-service text.
pub const MAX_TEXT_BYTES: usize = 2048;
/// Customer-service messages WeChat allows per user message (45047 past it).
pub const CUSTOMER_MESSAGES_PER_USER_MESSAGE: usize = 5;

/// Where a sentence ends (the cut goes after it).
const SENTENCE_ENDS: [char; 7] = ['。', '！', '？', '.', '!', '?', '\n'];

/// Splits `text` into non-empty parts of at most `max_bytes` bytes each
/// (`max_bytes` is raised to 4, the longest character), preferring to cut
/// after a sentence end, then after a space, then anywhere between
/// characters. Concatenated, the parts are `text`.
pub fn split(text: &str, max_bytes: usize) -> Vec<String> {
    let max = max_bytes.max(4);
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut window = max;
        while !rest.is_char_boundary(window) {
            window -= 1;
        }
        let head = &rest[..window];
        let cut = last_cut_after(head, |c| SENTENCE_ENDS.contains(&c))
            .or_else(|| last_cut_after(head, char::is_whitespace))
            .unwrap_or(window);
        parts.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

/// The byte offset just after the last character of `head` matching `is`,
/// if that leaves something before it.
fn last_cut_after(head: &str, is: impl Fn(char) -> bool) -> Option<usize> {
    head.char_indices()
        .rev()
        .find(|&(_, c)| is(c))
        .map(|(i, c)| i + c.len_utf8())
}

/// What to do with a long text: send these, reply with that, keep the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Sent as customer-service messages, in order, before the reply.
    pub send: Vec<String>,
    /// The reply (with `more_hint` appended when something is kept).
    pub reply: String,
    /// Kept for "more", in order.
    pub kept: Vec<String>,
}

/// Plans the delivery of `text`. `can_send`: customer-service messages are
/// allowed; at most four are sent, so one of the user's five is left for
/// the reply itself should it go out late. `more_hint` is appended to the
/// reply when parts are kept (and each part leaves room for it).
pub fn plan(text: &str, can_send: bool, more_hint: &str) -> Plan {
    if text.len() <= MAX_TEXT_BYTES {
        return Plan {
            send: Vec::new(),
            reply: text.to_owned(),
            kept: Vec::new(),
        };
    }
    let mut parts = split(text, MAX_TEXT_BYTES - more_hint.len());
    let sent = match can_send {
        true => (parts.len() - 1).min(CUSTOMER_MESSAGES_PER_USER_MESSAGE - 1),
        false => 0,
    };
    let send: Vec<String> = parts.drain(..sent).collect();
    let reply = parts.remove(0);
    finish(send, reply, parts, more_hint)
}

fn finish(send: Vec<String>, mut reply: String, kept: Vec<String>, more_hint: &str) -> Plan {
    if !kept.is_empty() {
        reply.push_str(more_hint);
    }
    Plan { send, reply, kept }
}

fn more_key(user: &str) -> String {
    format!("long-text:more:{user}")
}

/// Answers `user` with `text` however long: see [`plan`]. A send that fails
/// (no capability, 45047, …) stops the sending; its part becomes the reply
/// and the rest is kept, so nothing is lost.
pub fn reply_long(user: &str, text: &str, can_send: bool, more_hint: &str) -> Reply {
    let plan = plan(text, can_send, more_hint);
    let reply = match plan.kept.is_empty() {
        true => plan.reply.clone(),
        false => plan.reply[..plan.reply.len() - more_hint.len()].to_owned(),
    };
    // Every part in order: those to send, the reply, those kept.
    let sent = plan.send.len();
    let mut parts = plan.send;
    parts.push(reply);
    parts.extend(plan.kept);
    for (i, part) in parts[..sent].iter().enumerate() {
        if let Err(e) = wechat::send_customer_message(user, &CustomerMessage::Text(part.clone())) {
            crate::log::warn(&format!(
                "long text: sending part {} failed ({}: {}); the rest is kept for \"more\"",
                i + 1,
                e.code,
                e.message
            ));
            return reply_and_keep(user, parts.split_off(i), more_hint);
        }
    }
    reply_and_keep(user, parts.split_off(sent), more_hint)
}

/// Replies with the first of `parts` and keeps the others for "more".
fn reply_and_keep(user: &str, mut parts: Vec<String>, more_hint: &str) -> Reply {
    let first = parts.remove(0);
    keep(user, &parts);
    Reply::text(finish(Vec::new(), first, parts, more_hint).reply)
}

/// Stores what is left for `user`'s "more" (or clears it).
fn keep(user: &str, parts: &[String]) {
    let key = more_key(user);
    let result = match parts.is_empty() {
        true => kv::delete(&key),
        // Parts are separated by NUL, which no WeChat text contains.
        false => kv::set_string(&key, &parts.join("\0")),
    };
    if let Err(e) = result {
        crate::log::warn(&format!("long text: keeping the rest failed: {e}"));
    }
}

/// Keeps all of `text` for `user`'s "more" (an answer ready after WeChat
/// stopped waiting, where it cannot be sent).
pub fn keep_for_more(user: &str, text: &str, more_hint: &str) {
    keep(user, &split(text, MAX_TEXT_BYTES - more_hint.len()));
}

/// Forgets what is kept for `user`'s "more" (a new conversation).
pub fn forget(user: &str) {
    keep(user, &[]);
}

/// The next kept part of a long answer for `user`, as a reply (with
/// `more_hint` while more is left); `None` when nothing is kept.
pub fn take_more(user: &str, more_hint: &str) -> Option<Reply> {
    let stored = kv::get_string(&more_key(user))?;
    let parts: Vec<String> = stored.split('\0').map(str::to_owned).collect();
    Some(reply_and_keep(user, parts, more_hint))
}
#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// Texts mixing scripts, sentence ends, spaces and 4-byte characters.
    fn text() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "你好",
            "。",
            "！",
            "？",
            ".",
            "!",
            "?",
            "\n",
            " ",
            "word",
            "😀",
            "é",
            "长长长长",
            "x",
        ]);
        prop::collection::vec(piece, 0..1500).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn parts_fit_cover_the_text_and_are_never_empty(text in text(), max in 1usize..3000) {
            let parts = split(&text, max);
            prop_assert_eq!(parts.concat(), text);
            for p in &parts {
                prop_assert!(!p.is_empty() && p.len() <= max.max(4));
            }
        }

        #[test]
        fn a_plan_loses_nothing_and_stays_within_the_limits(text in text(), can_send in any::<bool>()) {
            let hint = " [more]";
            let p = plan(&text, can_send, hint);
            prop_assert!(p.send.len() < CUSTOMER_MESSAGES_PER_USER_MESSAGE);
            prop_assert!(p.reply.len() <= MAX_TEXT_BYTES);
            prop_assert!(p.send.iter().chain(&p.kept).all(|s| s.len() <= MAX_TEXT_BYTES));
            let reply = match p.kept.is_empty() {
                true => p.reply.as_str(),
                false => p.reply.strip_suffix(hint).unwrap(),
            };
            let whole: String = p.send.iter().map(String::as_str).chain([reply]).chain(p.kept.iter().map(String::as_str)).collect();
            prop_assert_eq!(whole, text);
        }
    }

    #[test]
    fn cuts_prefer_sentence_ends_then_spaces() {
        assert_eq!(split("一二三。四五六七", 12), vec!["一二三。", "四五六七"]);
        assert_eq!(
            split("Hello there. General Kenobi", 20),
            vec!["Hello there.", " General Kenobi"]
        );
        assert_eq!(split("aaaa bbbb cccc", 11), vec!["aaaa bbbb ", "cccc"]);
        // No boundary: between characters, never inside one.
        assert_eq!(split("长长长长", 7), vec!["长长", "长长"]);
    }

    #[test]
    fn a_short_text_is_the_reply_alone() {
        let p = plan("hi", true, " [more]");
        assert_eq!((p.send.len(), p.reply.as_str(), p.kept.len()), (0, "hi", 0));
    }

    #[test]
    fn five_thousand_bytes_are_sent_in_order_within_the_limits() {
        let text = "这是一句话。".repeat(5000 / 18 + 1);
        assert!(text.len() >= 5000);
        let hint = "（回复“更多”看余下的）";
        let p = plan(&text, true, hint);
        assert!(p.kept.is_empty());
        assert!(p.send.len() < CUSTOMER_MESSAGES_PER_USER_MESSAGE);
        let mut all = p.send.clone();
        all.push(p.reply.clone());
        assert_eq!(all.concat(), text);
        assert!(
            all.iter()
                .all(|s| s.len() <= MAX_TEXT_BYTES && s.ends_with('。'))
        );

        let p = plan(&text, false, hint);
        assert!(p.send.is_empty() && !p.kept.is_empty());
        assert!(p.reply.len() <= MAX_TEXT_BYTES && p.reply.ends_with(hint));
        let first = p.reply.strip_suffix(hint).unwrap();
        assert_eq!(
            [first.to_owned()]
                .iter()
                .chain(&p.kept)
                .cloned()
                .collect::<String>(),
            text
        );
    }

    #[test]
    fn past_the_customer_message_count_the_rest_is_kept() {
        let text = "a".repeat(MAX_TEXT_BYTES * 8);
        let p = plan(&text, true, "+");
        assert_eq!(p.send.len(), CUSTOMER_MESSAGES_PER_USER_MESSAGE - 1);
        assert!(!p.kept.is_empty() && p.reply.ends_with('+'));
        assert!(p.reply.len() <= MAX_TEXT_BYTES);
    }
}
