//! The full-network release (全网发布) responder: before a platform is
//! released, WeChat's test accounts push to it and check the answers. Only
//! those accounts get these answers; everyone else's pushes go to plugins.
//!
//! - text `TESTCOMPONENT_MSG_TYPE_TEXT` → `TESTCOMPONENT_MSG_TYPE_TEXT_callback`;
//! - text `QUERY_AUTH_CODE:<code>` → an empty answer at once, then the code
//!   exchanged (or the authorization the `authorized` push already made
//!   used) and a customer-service text `<code>_from_api` to the sender with
//!   that account's token;
//! - an event → `<Event>from_callback`.

use crate::protocol::{Body, Message};

/// WeChat's release-test Official Accounts (app ids; zh release page).
pub const TEST_ACCOUNTS: [&str; 5] = [
    "wx570bc396a51b8ff8",
    "wx9252c5e0bb1836fc",
    "wx8e1097c5bc82cde9",
    "wx14550af28c71a144",
    "wxa35b9c23cfe664eb",
];

pub fn is_test_account(app_id: &str) -> bool {
    TEST_ACCOUNTS.contains(&app_id)
}

/// What the test expects for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestAnswer {
    /// A passive text reply.
    Text(String),
    /// An empty answer now; then `<code>_from_api` by customer service.
    QueryAuthCode(String),
    /// Not one of the test's messages: the account's plugins answer.
    NotATest,
}

/// The answer the release test expects to `m`.
pub fn answer(m: &Message) -> TestAnswer {
    match &m.body {
        Body::Text { content } if content == "TESTCOMPONENT_MSG_TYPE_TEXT" => {
            TestAnswer::Text(format!("{content}_callback"))
        }
        Body::Text { content } => match content.strip_prefix("QUERY_AUTH_CODE:") {
            Some(code) if !code.trim().is_empty() => {
                TestAnswer::QueryAuthCode(code.trim().to_owned())
            }
            _ => TestAnswer::NotATest,
        },
        Body::Event(_) => match m.event_name() {
            Some(e) => TestAnswer::Text(format!("{e}from_callback")),
            None => TestAnswer::NotATest,
        },
        _ => TestAnswer::NotATest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_message;

    fn msg(inner: &str) -> Message {
        parse_message(&format!(
            "<xml><ToUserName>gh_3c884a361561</ToUserName><FromUserName>ozy4qt5QUADNXORxCVipKMV9dss0</FromUserName><CreateTime>1</CreateTime>{inner}</xml>"
        ))
        .unwrap()
    }

    #[test]
    fn the_release_test_s_three_cases_and_anything_else() {
        assert_eq!(
            answer(&msg(
                "<MsgType>text</MsgType><Content>TESTCOMPONENT_MSG_TYPE_TEXT</Content><MsgId>1</MsgId>"
            )),
            TestAnswer::Text("TESTCOMPONENT_MSG_TYPE_TEXT_callback".into())
        );
        assert_eq!(
            answer(&msg(
                "<MsgType>text</MsgType><Content>QUERY_AUTH_CODE:queryauthcode@@@abc</Content><MsgId>2</MsgId>"
            )),
            TestAnswer::QueryAuthCode("queryauthcode@@@abc".into())
        );
        assert_eq!(
            answer(&msg(
                "<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>1</Latitude><Longitude>2</Longitude><Precision>3</Precision>"
            )),
            TestAnswer::Text("LOCATIONfrom_callback".into())
        );
        assert_eq!(
            answer(&msg(
                "<MsgType>text</MsgType><Content>hello</Content><MsgId>3</MsgId>"
            )),
            TestAnswer::NotATest
        );
        assert_eq!(
            answer(&msg(
                "<MsgType>text</MsgType><Content>QUERY_AUTH_CODE:</Content><MsgId>4</MsgId>"
            )),
            TestAnswer::NotATest
        );
        assert!(is_test_account("wx570bc396a51b8ff8") && !is_test_account("wxb11529c136998cb6"));
    }
}
