//! The other side of the wire, for `wxhost simulate`, `wxhost plugin run` and
//! tests: play WeChat by writing a user action as push XML ([`Push`]),
//! building signed pushes in any mode, and opening the encrypted replies.

use super::ProtocolError;
use super::callback::{CallbackQuery, Mode};
use super::crypt::MsgCrypt;
use super::render::SUCCESS;
use super::signature::{signature, verify_signature};
use super::xml::{Limits, parse_document, push_cdata_element, push_number_element};

/// One user action, as WeChat would push it.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    Text(String),
    /// A follow; with a scene, as if by scanning a parametric QR code.
    Subscribe {
        scene: Option<String>,
    },
    Unsubscribe,
    Scan {
        scene: String,
    },
    Click {
        key: String,
    },
    View {
        url: String,
    },
    Location {
        latitude: f64,
        longitude: f64,
    },
    /// Any other event by its `Event` name, with its `EventKey`. The menu
    /// events that carry a payload (`scancode_*`, `pic_*`, `location_select`)
    /// get a sample one.
    Event {
        name: String,
        key: Option<String>,
    },
}

impl Push {
    /// The event named `name` (case-insensitive; `subscribe`, `scan`,
    /// `click`, ... or any other `Event` value) with its key: the QR scene
    /// for subscribe/scan, the menu key for click and menu events, the URL
    /// for view.
    pub fn event(name: &str, key: Option<String>) -> Push {
        match name.to_ascii_lowercase().as_str() {
            "subscribe" => Push::Subscribe { scene: key },
            "unsubscribe" => Push::Unsubscribe,
            "scan" => Push::Scan {
                scene: key.unwrap_or_default(),
            },
            "click" => Push::Click {
                key: key.unwrap_or_default(),
            },
            "view" => Push::View {
                url: key.unwrap_or_default(),
            },
            "location" => Push::Location {
                latitude: 23.137466,
                longitude: 113.352425,
            },
            _ => Push::Event {
                name: name.to_owned(),
                key,
            },
        }
    }

    /// The push's XML as WeChat sends it. `msg_id` is used for ordinary
    /// messages (events have none).
    pub fn to_xml(&self, to_user: &str, from_user: &str, create_time: u64, msg_id: u64) -> String {
        let mut x = String::with_capacity(256);
        x.push_str("<xml>");
        push_cdata_element(&mut x, "ToUserName", to_user);
        push_cdata_element(&mut x, "FromUserName", from_user);
        push_number_element(&mut x, "CreateTime", create_time);
        let (event, key) = match self {
            Push::Text(text) => {
                push_cdata_element(&mut x, "MsgType", "text");
                push_cdata_element(&mut x, "Content", text);
                push_number_element(&mut x, "MsgId", msg_id);
                x.push_str("</xml>");
                return x;
            }
            Push::Subscribe { scene } => {
                ("subscribe", scene.as_ref().map(|s| format!("qrscene_{s}")))
            }
            Push::Unsubscribe => ("unsubscribe", None),
            Push::Scan { scene } => ("SCAN", Some(scene.clone())),
            Push::Click { key } => ("CLICK", Some(key.clone())),
            Push::View { url } => ("VIEW", Some(url.clone())),
            Push::Location { .. } => ("LOCATION", None),
            Push::Event { name, key } => (name.as_str(), key.clone()),
        };
        push_cdata_element(&mut x, "MsgType", "event");
        push_cdata_element(&mut x, "Event", event);
        if let Some(key) = &key {
            push_cdata_element(&mut x, "EventKey", key);
        }
        match self {
            Push::Subscribe { scene: Some(_) } | Push::Scan { .. } => {
                push_cdata_element(&mut x, "Ticket", "simulated-ticket")
            }
            Push::Location { latitude, longitude } => x.push_str(&format!(
                "<Latitude>{latitude}</Latitude><Longitude>{longitude}</Longitude><Precision>30.0</Precision>"
            )),
            Push::Event { name, .. } => x.push_str(sample_payload(name)),
            _ => {}
        }
        x.push_str("</xml>");
        x
    }
}

/// What a menu event carries besides its key, with sample values.
fn sample_payload(event: &str) -> &'static str {
    match event.to_ascii_lowercase().as_str() {
        "scancode_push" | "scancode_waitmsg" => {
            "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>https://example.com</ScanResult></ScanCodeInfo>"
        }
        "pic_sysphoto" | "pic_photo_or_album" | "pic_weixin" => {
            "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>d41d8cd98f00b204e9800998ecf8427e</PicMd5Sum></item></PicList></SendPicsInfo>"
        }
        "location_select" => {
            "<SendLocationInfo><Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>15</Scale><Label>Somewhere</Label><Poiname></Poiname></SendLocationInfo>"
        }
        _ => "",
    }
}

/// Builds the query and body WeChat would send for `message_xml` in `mode`,
/// signed with `token` at `timestamp`/`nonce`. Encrypted modes need `crypt`;
/// without one the push is built in plaintext mode. `openid` is taken from
/// the message's `FromUserName` when it parses.
pub fn build_push(
    token: &str,
    crypt: Option<&MsgCrypt>,
    mode: Mode,
    message_xml: &str,
    timestamp: u64,
    nonce: &str,
) -> (CallbackQuery, String) {
    let ts = timestamp.to_string();
    let root = parse_document(message_xml, Limits::DEFAULT).ok();
    let mut q = CallbackQuery {
        signature: Some(signature(&[token, &ts, nonce])),
        timestamp: Some(ts.clone()),
        nonce: Some(nonce.to_owned()),
        openid: root
            .as_ref()
            .and_then(|r| r.child_text("FromUserName"))
            .map(str::to_owned),
        ..CallbackQuery::default()
    };
    let crypt = match (mode, crypt) {
        (Mode::Plaintext, _) | (_, None) => return (q, message_xml.to_owned()),
        (_, Some(c)) => c,
    };
    let encrypt = crypt.encrypt(message_xml);
    q.encrypt_type = Some("aes".to_owned());
    q.msg_signature = Some(signature(&[token, &ts, nonce, &encrypt]));
    let mut enc_element = String::with_capacity(encrypt.len() + 32);
    push_cdata_element(&mut enc_element, "Encrypt", &encrypt);
    let body = match (mode, message_xml.rfind("</")) {
        // Compatible: the plaintext message with `<Encrypt>` added inside the root.
        (Mode::Compatible, Some(i)) => {
            format!("{}{enc_element}{}", &message_xml[..i], &message_xml[i..])
        }
        _ => {
            let mut b = String::from("<xml>");
            if let Some(to) = root.as_ref().and_then(|r| r.child_text("ToUserName")) {
                push_cdata_element(&mut b, "ToUserName", to);
            }
            b.push_str(&enc_element);
            b.push_str("</xml>");
            b
        }
    };
    (q, body)
}

/// The URL (`base_url` plus the signed query, with a fresh nonce) and body
/// of one push, as WeChat would post it.
pub fn signed_request(
    base_url: &str,
    token: &str,
    crypt: Option<&MsgCrypt>,
    mode: Mode,
    xml: &str,
    timestamp: u64,
) -> (String, String) {
    let nonce = rand::random::<u32>().to_string();
    let (query, body) = build_push(token, crypt, mode, xml, timestamp, &nonce);
    (format!("{base_url}?{}", query.to_query_string()), body)
}

/// Opens an encrypted reply envelope: verifies `MsgSignature` over (Token,
/// `TimeStamp`, `Nonce`, `Encrypt`) and decrypts. `success` and the empty
/// body are never encrypted and come back unchanged.
pub fn open_reply(token: &str, crypt: &MsgCrypt, body: &str) -> Result<String, ProtocolError> {
    let trimmed = body.trim();
    if trimmed.is_empty() || trimmed == SUCCESS {
        return Ok(body.to_owned());
    }
    let root = parse_document(body, Limits::DEFAULT)?;
    let encrypt = root
        .child_text("Encrypt")
        .ok_or(ProtocolError::MissingEncrypt)?;
    let sig = root
        .child_text("MsgSignature")
        .ok_or(ProtocolError::MissingField("MsgSignature"))?;
    let ts = root
        .child_text("TimeStamp")
        .ok_or(ProtocolError::MissingField("TimeStamp"))?;
    let nonce = root
        .child_text("Nonce")
        .ok_or(ProtocolError::MissingField("Nonce"))?;
    verify_signature(sig, &[token, ts, nonce, encrypt])?;
    crypt.decrypt(encrypt)
}
