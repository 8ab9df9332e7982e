//! Property tests and a bounded fuzz of the protocol core: round trips over
//! arbitrary content, and "no panic on any input" for everything that reads
//! bytes from the network.

use proptest::prelude::*;
use wxhost::protocol::*;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const TOKEN: &str = "tok";
const APP_ID: &str = "wxAPP";
const NOW: u64 = 1_700_000_000;

fn crypt() -> MsgCrypt {
    MsgCrypt::new(AesKey::from_encoding_aes_key(KEY).unwrap(), APP_ID)
}

fn callback() -> Callback {
    Callback::new(CallbackSettings {
        encoding_aes_key: Some(KEY.into()),
        ..CallbackSettings::new(TOKEN, APP_ID)
    })
    .unwrap()
}

/// Characters XML 1.0 can carry (what a reply or message may contain).
fn xml_char() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("XML 1.0 char", |&c| xml::is_xml_char(c))
}

/// Text biased towards the hard cases: CJK, emoji, `]]>`, CDATA openers,
/// markup characters, line endings and tabs, mixed with any XML character.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 ]{1,6}",
        Just("]]>".to_owned()),
        Just("]]".to_owned()),
        Just("<![CDATA[".to_owned()),
        Just("</xml>".to_owned()),
        Just("&amp;<>\"'".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\t".to_owned()),
        "[\u{4e00}-\u{9fa5}]{1,4}",
        "[\u{1F600}-\u{1F64F}\u{1F680}-\u{1F6FF}]{1,3}",
        xml_char().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn non_empty_text() -> impl Strategy<Value = String> {
    tricky_text().prop_filter("non-empty", |s| !s.is_empty())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(tricky_text())
}

fn article() -> impl Strategy<Value = Article> {
    (tricky_text(), tricky_text(), tricky_text(), tricky_text()).prop_map(
        |(title, description, pic_url, url)| Article {
            title,
            description,
            pic_url,
            url,
        },
    )
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        non_empty_text().prop_map(Reply::Text),
        non_empty_text().prop_map(|media_id| Reply::Image { media_id }),
        non_empty_text().prop_map(|media_id| Reply::Voice { media_id }),
        (non_empty_text(), opt_text(), opt_text()).prop_map(|(media_id, title, description)| {
            Reply::Video {
                media_id,
                title,
                description,
            }
        }),
        (
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            non_empty_text()
        )
            .prop_map(
                |(title, description, music_url, hq_music_url, thumb_media_id)| Reply::Music {
                    title,
                    description,
                    music_url,
                    hq_music_url,
                    thumb_media_id,
                }
            ),
        prop::collection::vec(article(), 1..=MAX_ARTICLES_EVENT).prop_map(Reply::News),
        opt_text().prop_map(|kf_account| Reply::TransferCustomerService { kf_account }),
        Just(Reply::Success),
    ]
}

/// CDATA that survives `]]>`, the way WeChat (or our renderer) would write it.
fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

fn text_message(from: &str, content: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{NOW}</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content>{}</Content><MsgId>1</MsgId></xml>",
        cdata("gh_acc"),
        cdata(from),
        cdata(content)
    )
}

fn click_event() -> Message {
    parse_message(&format!(
        "<xml><ToUserName>gh_acc</ToUserName><FromUserName>oUSER</FromUserName><CreateTime>{NOW}</CreateTime>\
         <MsgType>event</MsgType><Event>CLICK</Event><EventKey>k</EventKey></xml>"
    ))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Encryption is byte-transparent for any UTF-8 whatsoever.
    #[test]
    fn encrypt_decrypt_any_utf8(msg in any::<String>(), random in any::<[u8; 16]>()) {
        let c = crypt();
        let enc = c.encrypt_with_random(&msg, random);
        prop_assert_eq!(c.decrypt(&enc).unwrap(), msg);
    }

    #[test]
    fn encrypt_decrypt_tricky(msg in tricky_text(), app_id in "[a-zA-Z0-9]{0,40}") {
        let c = MsgCrypt::new(AesKey::from_encoding_aes_key(KEY).unwrap(), &app_id);
        let enc = c.encrypt(&msg);
        prop_assert_eq!(c.decrypt(&enc).unwrap(), msg);
    }

    /// Any key from the console alphabet decodes, trailing bits and all.
    #[test]
    fn any_console_key_decodes(key in "[a-zA-Z0-9]{43}") {
        prop_assert!(AesKey::from_encoding_aes_key(&key).is_ok());
    }

    /// A text push travels through every mode with its content intact.
    #[test]
    fn push_round_trip_every_mode(content in tricky_text(), from in "[a-zA-Z0-9_-]{1,28}", nonce in "[0-9]{1,10}") {
        let cb = callback();
        let c = crypt();
        let xml = text_message(&from, &content);
        for mode in [Mode::Plaintext, Mode::Compatible, Mode::Safe] {
            let (q, body) = build_push(TOKEN, Some(&c), mode, &xml, NOW, &nonce);
            let inb = cb.open(&q, body.as_bytes(), NOW).unwrap();
            prop_assert_eq!(inb.mode, mode);
            prop_assert_eq!(&inb.message.body, &Body::Text { content: content.clone() });
            prop_assert_eq!(&inb.message.from_user, &from);
            prop_assert_eq!(&inb.message.raw, &xml);
        }
    }

    /// parse_reply(render_reply(r)) == r, and the sealed (encrypted) form opens to the same.
    #[test]
    fn reply_round_trip(r in reply(), now in 0u64..=u32::MAX as u64) {
        let to = click_event();
        let xml = render_reply(&r, &to, now).unwrap();
        let p = parse_reply(&xml).unwrap();
        prop_assert_eq!(&p.reply, &r);
        if r != Reply::Success {
            prop_assert_eq!(p.to_user.as_str(), "oUSER");
            prop_assert_eq!(p.from_user.as_str(), "gh_acc");
            prop_assert_eq!(p.create_time, now);
        }
        let inb = Inbound { mode: Mode::Safe, key: Some(KeySlot::Current), nonce: "77".into(), ..Inbound::plaintext(to) };
        let sealed = callback().seal(&inb, &r, now).unwrap();
        let opened = open_reply(TOKEN, &crypt(), &sealed).unwrap();
        prop_assert_eq!(parse_reply(&opened).unwrap().reply, r);
    }
}

proptest! {
    // The fuzz: bounded so it runs in CI, 2000 cases each.
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fuzz_parse_message_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse_message(&s);
        let _ = parse_reply(&s);
    }

    /// Valid messages with a random splice: reaches deep parser paths.
    #[test]
    fn fuzz_parse_message_mutated(content in tricky_text(), at in any::<prop::sample::Index>(), junk in "[<>/!\\[\\]&;#a-zA-Z0-9 \"'?=-]{0,12}", cut in any::<bool>()) {
        let xml = text_message("oUSER", &content);
        let mut i = at.index(xml.len() + 1);
        while !xml.is_char_boundary(i) { i -= 1; }
        let mutated = if cut { format!("{}{}", &xml[..i], junk) } else { format!("{}{}{}", &xml[..i], junk, &xml[i..]) };
        let _ = parse_message(&mutated);
        let _ = parse_reply(&mutated);
    }

    #[test]
    fn fuzz_decrypt(s in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let c = crypt();
        let _ = c.decrypt(&s);
        // Valid base64 of random bytes reaches AES, padding and length checks.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let _ = c.decrypt(&b64);
        let mut aligned = bytes.clone();
        aligned.resize(bytes.len().div_ceil(32).max(1) * 32, 0);
        let _ = c.decrypt(&base64::engine::general_purpose::STANDARD.encode(&aligned));
    }

    #[test]
    fn fuzz_open_arbitrary(
        body in prop::collection::vec(any::<u8>(), 0..1024),
        sig in prop::option::of("[0-9a-f]{0,41}"),
        ts in prop::option::of("[0-9]{0,12}|-?[0-9a-z]{0,5}"),
        nonce in prop::option::of(".{0,8}"),
        enc in prop::option::of("aes|raw|AES|x"),
        msig in prop::option::of("[0-9a-f]{0,41}"),
        now in any::<u64>(),
    ) {
        let q = CallbackQuery { signature: sig, timestamp: ts, nonce, encrypt_type: enc, msg_signature: msig, ..Default::default() };
        let cb = callback();
        let _ = cb.open(&q, &body, now);
        let _ = cb.verify_url(&CallbackQuery { echostr: Some("e".into()), ..q }, now);
        let _ = open_reply(TOKEN, &crypt(), &String::from_utf8_lossy(&body));
    }

    /// Correctly signed and encrypted pushes of arbitrary inner content:
    /// fuzzes what is behind the signature (decrypted XML, every mode).
    #[test]
    fn fuzz_open_signed(inner in prop::collection::vec(any::<u8>(), 0..512), mode_i in 0usize..3, nonce in "[0-9]{1,10}") {
        let inner = String::from_utf8_lossy(&inner);
        let mode = [Mode::Plaintext, Mode::Compatible, Mode::Safe][mode_i];
        let (q, body) = build_push(TOKEN, Some(&crypt()), mode, &inner, NOW, &nonce);
        let _ = callback().open(&q, body.as_bytes(), NOW);
    }
}
