//! The official vectors of §4.9 (A–F), end-to-end callback tests in every
//! mode, and one negative test per error variant.

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};

use super::crypt::envelope;
use super::*;

const SAMPLE_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const ZERO_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn crypt(key: &str, app_id: &str) -> MsgCrypt {
    MsgCrypt::new(AesKey::from_encoding_aes_key(key).unwrap(), app_id)
}

fn rnd(s: &str) -> [u8; 16] {
    s.as_bytes().try_into().unwrap()
}

// ---- Vector A: official Java sample, encrypt with fixed random ----

const A_APPID: &str = "wxb11529c136998cb6";
const A1_MSG: &str = "我是中文abcd123";
const A1_ENCRYPT: &str =
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
const A2_MSG: &str = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
const A2_ENCRYPT: &str = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";

#[test]
fn vector_a1_encrypt_byte_exact() {
    let c = crypt(SAMPLE_KEY, A_APPID);
    assert_eq!(
        c.encrypt_with_random(A1_MSG, rnd("aaaabbbbccccdddd")),
        A1_ENCRYPT
    );
    assert_eq!(c.decrypt(A1_ENCRYPT).unwrap(), A1_MSG);
}

#[test]
fn vector_a2_encrypt_byte_exact() {
    let c = crypt(SAMPLE_KEY, A_APPID);
    assert_eq!(
        c.encrypt_with_random(A2_MSG, rnd("aaaabbbbccccdddd")),
        A2_ENCRYPT
    );
    assert_eq!(c.decrypt(A2_ENCRYPT).unwrap(), A2_MSG);
    // And the inner XML parses as the video message it is.
    let m = parse_message(A2_MSG).unwrap();
    assert_eq!(m.msg_type, "video");
    assert_eq!(m.to_user, "oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw");
}

#[test]
fn vector_a1_envelope_signature() {
    let c = crypt(SAMPLE_KEY, A_APPID);
    let enc = c.encrypt_with_random(A1_MSG, rnd("aaaabbbbccccdddd"));
    let sig = signature(&["pamtest", "1409304348", "xxxxxx", &enc]);
    assert_eq!(sig, "82c962d39941aa48552f90ef55aa323dc620cc10");
    let env = envelope(&enc, &sig, 1409304348, "xxxxxx");
    assert_eq!(
        env,
        format!(
            "<xml>\n<Encrypt><![CDATA[{A1_ENCRYPT}]]></Encrypt>\n<MsgSignature><![CDATA[82c962d39941aa48552f90ef55aa323dc620cc10]]></MsgSignature>\n<TimeStamp>1409304348</TimeStamp>\n<Nonce><![CDATA[xxxxxx]]></Nonce>\n</xml>"
        )
    );
    assert_eq!(open_reply("pamtest", &c, &env).unwrap(), A1_MSG);
}

#[test]
fn sample_key_bytes() {
    let k = AesKey::from_encoding_aes_key(SAMPLE_KEY).unwrap();
    assert_eq!(
        hex::encode(k.as_bytes()),
        "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
    );
    assert_eq!(
        AesKey::from_encoding_aes_key(ZERO_KEY).unwrap().as_bytes(),
        &[0u8; 32]
    );
    // Vector G's key also has trailing bits set.
    assert!(AesKey::from_encoding_aes_key("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").is_ok());
    assert_eq!(format!("{k:?}"), "AesKey(..)");
}

// ---- Vector B: official VerifyURL (WeCom-style encrypted echostr) ----

#[test]
fn vector_b_verify_url_echostr() {
    let echostr =
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
    verify_signature(
        "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
        &["QDG6eK", "1409659589", "263014780", echostr],
    )
    .unwrap();
    let c = crypt(
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c7",
    );
    assert_eq!(c.decrypt(echostr).unwrap(), "1616140317555161061");
    let other = crypt(
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c8",
    );
    assert_eq!(other.decrypt(echostr), Err(ProtocolError::WrongAppId));
}

// ---- Vector C: official Python sample (compatible-mode body) ----

const C_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
const C_PLAIN: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";

#[test]
fn vector_c_decrypt_byte_exact() {
    verify_signature(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        &["spamtest", "1409735669", "1320562132", C_ENCRYPT],
    )
    .unwrap();
    let c = crypt(SAMPLE_KEY, "wx2c2769f8efd9abc2");
    let plain = c.decrypt(C_ENCRYPT).unwrap();
    assert_eq!(plain.len(), 280);
    assert_eq!(plain, C_PLAIN);
    // Re-encrypting with the documented random prefix gives the same ciphertext.
    assert_eq!(
        c.encrypt_with_random(&plain, rnd("89465c840c5f116f")),
        C_ENCRYPT
    );
}

fn settings(token: &str, app_id: &str, key: Option<&str>) -> CallbackSettings {
    CallbackSettings {
        encoding_aes_key: key.map(str::to_owned),
        ..CallbackSettings::new(token, app_id)
    }
}

#[test]
fn vector_c_open_compatible_mode() {
    let cb = Callback::new(settings("spamtest", "wx2c2769f8efd9abc2", Some(SAMPLE_KEY))).unwrap();
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\
         <CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content>\
         <MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[{C_ENCRYPT}]]></Encrypt></xml>"
    );
    let q = CallbackQuery {
        signature: Some(signature(&["spamtest", "1409735669", "1320562132"])),
        timestamp: Some("1409735669".into()),
        nonce: Some("1320562132".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some("5d197aaffba7e9b25a30732f161a50dee96bd5fa".into()),
        ..Default::default()
    };
    let inb = cb.open(&q, body.as_bytes(), 1409735669 + 100).unwrap();
    assert_eq!(inb.mode, Mode::Compatible);
    assert_eq!(inb.key, Some(KeySlot::Current));
    assert_eq!(inb.message.raw, C_PLAIN);
    assert_eq!(
        inb.message.body,
        Body::Text {
            content: "abcdteT".into()
        }
    );
    assert_eq!(inb.message.msg_id, Some(6054768590064713728));
    // The reply is encrypted (compatible = encrypted request) and opens.
    let sealed = cb
        .seal(&inb, &Reply::Text("hello".into()), 1409735700)
        .unwrap();
    assert!(
        sealed.contains("<Nonce><![CDATA[1320562132]]></Nonce>"),
        "{sealed}"
    );
    assert!(sealed.contains("<TimeStamp>1409735700</TimeStamp>"));
    let reply_xml = open_reply("spamtest", cb.crypt(KeySlot::Current).unwrap(), &sealed).unwrap();
    let p = parse_reply(&reply_xml).unwrap();
    assert_eq!(p.reply, Reply::Text("hello".into()));
    assert_eq!(p.to_user, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    assert_eq!(p.from_user, "gh_10f6c3c3ac5a");
    assert_eq!(p.create_time, 1409735700);
    // `success` is never encrypted.
    assert_eq!(cb.seal(&inb, &Reply::Success, 1).unwrap(), "success");
}

// ---- Vector D: official C++ sample (decrypt only) ----

#[test]
fn vector_d_decrypt() {
    let enc = "mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS8jSI/WPeKB5VPr7Ezr7gomZAyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDbOPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/O0hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgkgKaThxTFobVlwzu2ZkXCjicbP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4=";
    verify_signature(
        "003fee52ecc56afb46c00b5c7721be87860ce785",
        &["spamtest", "1410349438", "298025754", enc],
    )
    .unwrap();
    let plain = crypt(SAMPLE_KEY, "wx2c2769f8efd9abc2")
        .decrypt(enc)
        .unwrap();
    let m = parse_message(&plain).unwrap();
    assert_eq!(
        m.body,
        Body::Text {
            content: "abcdteT".into()
        }
    );
    assert_eq!(m.create_time, 1410349438);
    assert_eq!(m.msg_id, Some(6057404712141979648));
    assert_eq!(m.raw, plain);
}

// ---- Vector E: official debug_demo, pad 22 (> 16) ----

const E_ENCRYPT: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";
const E_PLAIN: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";
const E_APPID: &str = "wx134c8103faa5a59e";

fn e_query() -> CallbackQuery {
    CallbackQuery {
        signature: Some("cc0c594499c1634947d5b502f158ee518947db27".into()),
        timestamp: Some("1715943329".into()),
        nonce: Some("1590219412".into()),
        openid: Some("o9AgO5Kd5ggOC-bXrbNODIiE3bGY".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some("6c12a4205838198b8fa631b3220723bb07f1015c".into()),
        echostr: None,
    }
}

fn e_body() -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[{E_ENCRYPT}]]></Encrypt></xml>"
    )
}

#[test]
fn vector_e_decrypt_pad_22() {
    let c = crypt(ZERO_KEY, E_APPID);
    assert_eq!(STANDARD.decode(E_ENCRYPT).unwrap().len(), 352);
    let plain = c.decrypt(E_ENCRYPT).unwrap();
    assert_eq!(plain.len(), 292);
    assert_eq!(plain, E_PLAIN);
    assert_eq!(
        c.encrypt_with_random(E_PLAIN, rnd("1205899eaf019bbd")),
        E_ENCRYPT
    );
}

#[test]
fn vector_e_reply_encrypt_and_sign() {
    let c = crypt(ZERO_KEY, E_APPID);
    let reply = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>";
    let enc = c.encrypt_with_random(reply, rnd("999951349e8ee746"));
    assert_eq!(
        enc,
        "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
    );
    assert_eq!(
        signature(&["AAAAA", "1713424427", "415670741", &enc]),
        "03e0812039325c2712ef5f0f980fd14c70d6e307"
    );
}

#[test]
fn vector_e_open_safe_mode() {
    let cb = Callback::new(settings("AAAAA", E_APPID, Some(ZERO_KEY))).unwrap();
    let inb = cb
        .open(&e_query(), e_body().as_bytes(), 1715943329)
        .unwrap();
    assert_eq!(inb.mode, Mode::Safe);
    assert_eq!(inb.nonce, "1590219412");
    assert_eq!(inb.message.raw, E_PLAIN);
    assert_eq!(
        inb.message.body,
        Body::Event(Event::Other {
            name: "debug_demo".into(),
            key: None
        })
    );
    assert_eq!(inb.message.field("debug_str"), Some("hello world"));
    // Without `signature` it still opens: msg_signature is what counts.
    let q = CallbackQuery {
        signature: None,
        ..e_query()
    };
    assert!(cb.open(&q, e_body().as_bytes(), 1715943329).is_ok());
}

// ---- Vector F: URL verification ----

#[test]
fn vector_f_verify_url() {
    let cb = Callback::new(CallbackSettings::new("AAAAA", "wx")).unwrap();
    let q = CallbackQuery {
        signature: Some("f464b24fc39322e44b38aa78f5edd27bd1441696".into()),
        timestamp: Some("1714036504".into()),
        nonce: Some("1514711492".into()),
        echostr: Some("4375120948345356249".into()),
        ..Default::default()
    };
    assert_eq!(
        cb.verify_url(&q, 1714036504).unwrap(),
        "4375120948345356249"
    );
    // The same in safe mode: the echostr is plaintext for an OA.
    let cb = Callback::new(settings("AAAAA", "wx", Some(ZERO_KEY))).unwrap();
    assert_eq!(
        cb.verify_url(&q, 1714036504 + 299).unwrap(),
        "4375120948345356249"
    );
    let q2 = CallbackQuery {
        signature: Some("899cf89e464efb63f54ddac96b0a0a235f53aa78".into()),
        timestamp: Some("1714037059".into()),
        nonce: Some("486452656".into()),
        echostr: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(cb.verify_url(&q2, 1714037059).unwrap(), "x");
}

// ---- End to end through the client side, every mode ----

const TEXT_MSG: &str = "<xml><ToUserName><![CDATA[gh_acc]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi ]]]]><![CDATA[> 你好 😀]]></Content><MsgId>42</MsgId></xml>";

#[test]
fn every_mode_round_trip() {
    let cb = Callback::new(settings("tok", "wxAPP", Some(SAMPLE_KEY))).unwrap();
    let c = cb.crypt(KeySlot::Current).unwrap().clone();
    for mode in [Mode::Plaintext, Mode::Compatible, Mode::Safe] {
        let (q, body) = build_push("tok", Some(&c), mode, TEXT_MSG, 1_700_000_000, "12345");
        assert_eq!(q.openid.as_deref(), Some("oUSER"));
        let qs = q.to_query_string();
        assert!(qs.starts_with("signature="), "{qs}");
        assert_eq!(qs.contains("encrypt_type=aes"), mode != Mode::Plaintext);
        let inb = cb.open(&q, body.as_bytes(), 1_700_000_010).unwrap();
        assert_eq!(inb.mode, mode, "{body}");
        assert_eq!(inb.message.raw, TEXT_MSG);
        assert_eq!(
            inb.message.body,
            Body::Text {
                content: "hi ]]> 你好 😀".into()
            }
        );
        let sealed = cb
            .seal(&inb, &Reply::Text("a]]>b".into()), 1_700_000_001)
            .unwrap();
        let reply_xml = if mode == Mode::Plaintext {
            assert!(sealed.starts_with("<xml><ToUserName>"));
            sealed
        } else {
            assert!(sealed.contains("<Encrypt>"));
            open_reply("tok", &c, &sealed).unwrap()
        };
        assert_eq!(
            parse_reply(&reply_xml).unwrap().reply,
            Reply::Text("a]]>b".into())
        );
        assert_eq!(cb.seal(&inb, &Reply::Success, 1).unwrap(), "success");
    }
    // The query string deserializes back (what axum's Query does).
    let (q, _) = build_push(
        "tok",
        Some(&c),
        Mode::Safe,
        TEXT_MSG,
        1_700_000_000,
        "1 2+3",
    );
    let back: CallbackQuery = serde_json::from_value(serde_json::Value::Object(
        url::form_urlencoded::parse(q.to_query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect(),
    ))
    .unwrap();
    assert_eq!(back, q);
    assert_eq!(open_reply("tok", &c, "success").unwrap(), "success");
    assert_eq!(open_reply("tok", &c, "").unwrap(), "");
}

#[test]
fn key_rotation_uses_the_key_that_worked() {
    const NEW_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    let s = CallbackSettings {
        previous_encoding_aes_key: Some(SAMPLE_KEY.into()),
        ..settings("tok", "wxAPP", Some(NEW_KEY))
    };
    let cb = Callback::new(s).unwrap();
    let old = crypt(SAMPLE_KEY, "wxAPP");
    let new = crypt(NEW_KEY, "wxAPP");
    let (q, body) = build_push("tok", Some(&old), Mode::Safe, TEXT_MSG, 1_700_000_000, "n");
    let inb = cb.open(&q, body.as_bytes(), 1_700_000_000).unwrap();
    assert_eq!(inb.key, Some(KeySlot::Previous));
    let sealed = cb
        .seal(&inb, &Reply::Text("x".into()), 1_700_000_000)
        .unwrap();
    assert!(open_reply("tok", &old, &sealed).is_ok());
    assert!(open_reply("tok", &new, &sealed).is_err());
    let (q, body) = build_push("tok", Some(&new), Mode::Safe, TEXT_MSG, 1_700_000_000, "n");
    assert_eq!(
        cb.open(&q, body.as_bytes(), 1_700_000_000).unwrap().key,
        Some(KeySlot::Current)
    );
    // A third key fails with the current key's error.
    let (q, body) = build_push(
        "tok",
        Some(&crypt(ZERO_KEY, "wxAPP")),
        Mode::Safe,
        TEXT_MSG,
        1_700_000_000,
        "n",
    );
    assert!(cb.open(&q, body.as_bytes(), 1_700_000_000).is_err());
}

// ---- Negative tests: one (at least) per error variant ----

/// Encrypts an arbitrary (already padded) buffer, to craft broken plaintexts.
fn raw_encrypt(key: &str, buf: &[u8]) -> String {
    let k = AesKey::from_encoding_aes_key(key).unwrap();
    let iv: [u8; 16] = k.as_bytes()[..16].try_into().unwrap();
    let ct = cbc::Encryptor::<Aes256>::new(k.as_bytes().into(), (&iv).into())
        .encrypt_padded_vec_mut::<NoPadding>(buf);
    STANDARD.encode(ct)
}

fn full_str(msg: &[u8], len_field: u32, app_id: &[u8]) -> Vec<u8> {
    let mut b = b"0123456789abcdef".to_vec();
    b.extend_from_slice(&len_field.to_be_bytes());
    b.extend_from_slice(msg);
    b.extend_from_slice(app_id);
    b
}

fn pad_to_32(mut b: Vec<u8>, pad_value: u8) -> Vec<u8> {
    let n = 32 - b.len() % 32;
    b.resize(b.len() + n, pad_value);
    b
}

#[test]
fn err_crypto() {
    let c = crypt(SAMPLE_KEY, "wxAPP");
    assert_eq!(c.decrypt("not base64!"), Err(ProtocolError::BadBase64));
    assert_eq!(c.decrypt(""), Err(ProtocolError::BadCiphertextLength));
    assert_eq!(
        c.decrypt(&STANDARD.encode([0u8; 16])),
        Err(ProtocolError::BadCiphertextLength)
    );
    assert_eq!(
        c.decrypt(&STANDARD.encode([0u8; 48])),
        Err(ProtocolError::BadCiphertextLength)
    );
    // Pad 0 and pad 33.
    let mut z = full_str(b"hello", 5, b"wxAPP");
    z.resize(64, 0);
    assert_eq!(
        c.decrypt(&raw_encrypt(SAMPLE_KEY, &z)),
        Err(ProtocolError::BadPadding)
    );
    if let Some(last) = z.last_mut() {
        *last = 33;
    }
    assert_eq!(
        c.decrypt(&raw_encrypt(SAMPLE_KEY, &z)),
        Err(ProtocolError::BadPadding)
    );
    // Inconsistent pad bytes.
    let mut p = pad_to_32(full_str(b"hello", 5, b"wxAPP"), 0);
    // FullStr is 30 bytes: 2 bytes of padding, here 0x00 0x02.
    let len = p.len();
    p[len - 1] = 2;
    assert_eq!(
        c.decrypt(&raw_encrypt(SAMPLE_KEY, &p)),
        Err(ProtocolError::BadPadding)
    );
    // Length field too long.
    let good = |b: Vec<u8>| {
        let n = (32 - b.len() % 32) as u8;
        pad_to_32(b, n)
    };
    assert_eq!(
        c.decrypt(&raw_encrypt(
            SAMPLE_KEY,
            &good(full_str(b"hello", 11, b"wxAPP"))
        )),
        Err(ProtocolError::BadLength)
    );
    assert_eq!(
        c.decrypt(&raw_encrypt(
            SAMPLE_KEY,
            &good(full_str(b"hello", u32::MAX, b"wxAPP"))
        )),
        Err(ProtocolError::BadLength)
    );
    // Shorter than random + length.
    assert_eq!(
        c.decrypt(&raw_encrypt(SAMPLE_KEY, &good(b"short".to_vec()))),
        Err(ProtocolError::BadLength)
    );
    // Wrong AppID; and a length field one short shifts a byte into the AppID.
    assert_eq!(
        c.decrypt(&raw_encrypt(
            SAMPLE_KEY,
            &good(full_str(b"hello", 5, b"wxOTHER"))
        )),
        Err(ProtocolError::WrongAppId)
    );
    assert_eq!(
        c.decrypt(&raw_encrypt(
            SAMPLE_KEY,
            &good(full_str(b"hello", 4, b"wxAPP"))
        )),
        Err(ProtocolError::WrongAppId)
    );
    // Not UTF-8.
    assert_eq!(
        c.decrypt(&raw_encrypt(
            SAMPLE_KEY,
            &good(full_str(b"\xff\xfe", 2, b"wxAPP"))
        )),
        Err(ProtocolError::InvalidUtf8)
    );
    // Sanity: the crafted "good" one decrypts.
    assert_eq!(
        c.decrypt(&raw_encrypt(
            SAMPLE_KEY,
            &good(full_str(b"hello", 5, b"wxAPP"))
        ))
        .unwrap(),
        "hello"
    );
    // A wrong key almost always breaks the padding.
    assert!(crypt(ZERO_KEY, "wxAPP").decrypt(A1_ENCRYPT).is_err());
}

#[test]
fn err_invalid_aes_key() {
    for bad in [
        "",
        "short",
        &SAMPLE_KEY[..42],
        &format!("{SAMPLE_KEY}A"),
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
    ] {
        assert!(
            matches!(
                AesKey::from_encoding_aes_key(bad),
                Err(ProtocolError::InvalidAesKey(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        Callback::new(settings("t", "a", Some("bad"))),
        Err(ProtocolError::InvalidAesKey(_))
    ));
    let s = CallbackSettings {
        previous_encoding_aes_key: Some("bad".into()),
        ..settings("t", "a", Some(SAMPLE_KEY))
    };
    assert!(matches!(
        Callback::new(s),
        Err(ProtocolError::InvalidAesKey(_))
    ));
    let s = CallbackSettings {
        previous_encoding_aes_key: Some(SAMPLE_KEY.into()),
        ..settings("t", "a", None)
    };
    assert!(matches!(
        Callback::new(s),
        Err(ProtocolError::InvalidAesKey(_))
    ));
    // Empty means "not configured".
    assert!(Callback::new(settings("t", "a", Some(""))).is_ok());
}

fn plain_push(cb_token: &str, body: &str, ts: u64) -> (CallbackQuery, String) {
    build_push(cb_token, None, Mode::Plaintext, body, ts, "999")
}

#[test]
fn err_request_level() {
    let cb = Callback::new(settings("tok", "wxAPP", Some(SAMPLE_KEY))).unwrap();
    let now = 1_700_000_000;
    let (q, body) = plain_push("tok", TEXT_MSG, now);
    assert!(cb.open(&q, body.as_bytes(), now).is_ok());

    // BadSignature: wrong token, tampered nonce.
    let (bad, _) = plain_push("other", TEXT_MSG, now);
    assert_eq!(
        cb.open(&bad, body.as_bytes(), now),
        Err(ProtocolError::BadSignature)
    );
    let tampered = CallbackQuery {
        nonce: Some("998".into()),
        ..q.clone()
    };
    assert_eq!(
        cb.open(&tampered, body.as_bytes(), now),
        Err(ProtocolError::BadSignature)
    );
    // MissingParameter.
    for (field, q2) in [
        (
            "signature",
            CallbackQuery {
                signature: None,
                ..q.clone()
            },
        ),
        (
            "timestamp",
            CallbackQuery {
                timestamp: None,
                ..q.clone()
            },
        ),
        (
            "nonce",
            CallbackQuery {
                nonce: None,
                ..q.clone()
            },
        ),
    ] {
        assert_eq!(
            cb.open(&q2, body.as_bytes(), now),
            Err(ProtocolError::MissingParameter(field))
        );
    }
    assert_eq!(
        cb.verify_url(&q, now),
        Err(ProtocolError::MissingParameter("echostr"))
    );
    // StaleTimestamp, both directions, and the edge of the window.
    assert_eq!(
        cb.open(&q, body.as_bytes(), now + 301),
        Err(ProtocolError::StaleTimestamp {
            timestamp: now,
            now: now + 301,
            window_secs: 300
        })
    );
    assert!(matches!(
        cb.open(&q, body.as_bytes(), now - 301),
        Err(ProtocolError::StaleTimestamp { .. })
    ));
    assert!(cb.open(&q, body.as_bytes(), now + 300).is_ok());
    assert!(cb.open(&q, body.as_bytes(), now - 300).is_ok());
    let url_q = CallbackQuery {
        echostr: Some("e".into()),
        ..q.clone()
    };
    assert!(matches!(
        cb.verify_url(&url_q, now + 1000),
        Err(ProtocolError::StaleTimestamp { .. })
    ));
    // BadTimestamp (correctly signed, not a number).
    let ts = "soon";
    let q3 = CallbackQuery {
        signature: Some(signature(&["tok", ts, "1"])),
        timestamp: Some(ts.into()),
        nonce: Some("1".into()),
        echostr: Some("e".into()),
        ..Default::default()
    };
    assert_eq!(cb.verify_url(&q3, now), Err(ProtocolError::BadTimestamp));
    // TooLarge.
    let small = Callback::new(CallbackSettings {
        max_body_bytes: 100,
        ..settings("tok", "wxAPP", None)
    })
    .unwrap();
    assert_eq!(
        small.open(&q, body.as_bytes(), now),
        Err(ProtocolError::TooLarge)
    );
    // MalformedXml (body not UTF-8, and not XML).
    assert!(matches!(
        cb.open(&q, b"\xff\xfe<xml/>", now),
        Err(ProtocolError::MalformedXml(_))
    ));
    assert!(matches!(
        cb.open(&q, b"<xml><a></xml>", now),
        Err(ProtocolError::MalformedXml(_))
    ));
    // Doctype.
    let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{TEXT_MSG}");
    assert_eq!(
        cb.open(&q, dtd.as_bytes(), now),
        Err(ProtocolError::Doctype)
    );
    // TooDeep.
    let deep = format!("<xml>{}{}</xml>", "<a>".repeat(20), "</a>".repeat(20));
    assert_eq!(
        cb.open(&q, deep.as_bytes(), now),
        Err(ProtocolError::TooDeep)
    );
    // MissingField.
    assert_eq!(
        cb.open(&q, b"<xml><ToUserName>a</ToUserName></xml>", now),
        Err(ProtocolError::MissingField("FromUserName"))
    );
}

#[test]
fn err_encryption_modes() {
    let now = 1_700_000_000;
    let required = Callback::new(CallbackSettings {
        require_encryption: true,
        ..settings("tok", "wxAPP", Some(SAMPLE_KEY))
    })
    .unwrap();
    let (q, body) = plain_push("tok", TEXT_MSG, now);
    assert_eq!(
        required.open(&q, body.as_bytes(), now),
        Err(ProtocolError::EncryptionRequired)
    );
    // Only an authenticated push learns that plaintext is refused.
    let unsigned = CallbackQuery {
        signature: Some("00".into()),
        ..q.clone()
    };
    assert_eq!(
        required.open(&unsigned, body.as_bytes(), now),
        Err(ProtocolError::BadSignature)
    );
    // URL verification is not a push: still allowed.
    let url_q = CallbackQuery {
        echostr: Some("e".into()),
        ..q.clone()
    };
    assert_eq!(required.verify_url(&url_q, now).unwrap(), "e");
    // require_encryption without a key is a configuration error.
    assert_eq!(
        Callback::new(CallbackSettings {
            require_encryption: true,
            ..settings("tok", "wxAPP", None)
        })
        .unwrap_err(),
        ProtocolError::EncryptionNotConfigured
    );

    let c = crypt(SAMPLE_KEY, "wxAPP");
    let (eq, ebody) = build_push("tok", Some(&c), Mode::Safe, TEXT_MSG, now, "n");
    // EncryptionNotConfigured: an encrypted push, no key.
    let plain_only = Callback::new(settings("tok", "wxAPP", None)).unwrap();
    assert_eq!(
        plain_only.open(&eq, ebody.as_bytes(), now),
        Err(ProtocolError::EncryptionNotConfigured)
    );
    // MissingParameter(msg_signature).
    let no_ms = CallbackQuery {
        msg_signature: None,
        ..eq.clone()
    };
    assert_eq!(
        required.open(&no_ms, ebody.as_bytes(), now),
        Err(ProtocolError::MissingParameter("msg_signature"))
    );
    // MissingEncrypt.
    assert_eq!(
        required.open(&eq, TEXT_MSG.as_bytes(), now),
        Err(ProtocolError::MissingEncrypt)
    );
    // BadSignature: msg_signature covers the body.
    let tampered = ebody.replacen("<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA", 1);
    assert_eq!(
        required.open(&eq, tampered.as_bytes(), now),
        Err(ProtocolError::BadSignature)
    );
    // A correctly signed body for another AppID.
    let other = Callback::new(settings("tok", "wxOTHER", Some(SAMPLE_KEY))).unwrap();
    assert_eq!(
        other.open(&eq, ebody.as_bytes(), now),
        Err(ProtocolError::WrongAppId)
    );
    // Stale, after a valid msg_signature.
    assert!(matches!(
        required.open(&eq, ebody.as_bytes(), now + 3600),
        Err(ProtocolError::StaleTimestamp { .. })
    ));
    // Safe-mode envelope posted as plaintext: MsgType is missing.
    let (pq, _) = plain_push("tok", "", now);
    assert_eq!(
        plain_only.open(&pq, ebody.as_bytes(), now),
        Err(ProtocolError::MissingField("FromUserName"))
    );
    // open_reply errors.
    assert_eq!(
        open_reply("tok", &c, TEXT_MSG),
        Err(ProtocolError::MissingEncrypt)
    );
    let sealed = required
        .seal(
            &required.open(&eq, ebody.as_bytes(), now).unwrap(),
            &Reply::Text("x".into()),
            now,
        )
        .unwrap();
    assert_eq!(
        open_reply("other", &c, &sealed),
        Err(ProtocolError::BadSignature)
    );
    assert_eq!(
        open_reply("tok", &c, "<xml><Encrypt>x</Encrypt></xml>"),
        Err(ProtocolError::MissingField("MsgSignature"))
    );
}

#[test]
fn err_reply_level() {
    let cb = Callback::new(settings("tok", "wxAPP", None)).unwrap();
    let inb = Inbound::plaintext(parse_message(TEXT_MSG).unwrap());
    assert_eq!(
        cb.seal(&inb, &Reply::Text(String::new()), 1),
        Err(ProtocolError::EmptyText)
    );
    let two = vec![
        Article {
            title: "a".into(),
            description: "".into(),
            pic_url: "".into(),
            url: "".into()
        };
        2
    ];
    assert_eq!(
        cb.seal(&inb, &Reply::News(two), 1),
        Err(ProtocolError::TooManyArticles { max: 1, got: 2 })
    );
    assert_eq!(
        cb.seal(&inb, &Reply::News(vec![]), 1),
        Err(ProtocolError::NoArticles)
    );
    assert_eq!(
        parse_message(
            "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime><MsgType>text</MsgType></xml>"
        ),
        Err(ProtocolError::InvalidField("CreateTime"))
    );
    // An encrypted inbound with no key to seal it (constructed by hand).
    let enc = Inbound {
        mode: Mode::Safe,
        key: Some(KeySlot::Current),
        ..inb
    };
    assert_eq!(
        cb.seal(&enc, &Reply::Text("x".into()), 1),
        Err(ProtocolError::EncryptionNotConfigured)
    );
}

#[test]
fn kinds_are_unique_and_snake_case() {
    let all = [
        ProtocolError::BadSignature,
        ProtocolError::MissingParameter("x"),
        ProtocolError::BadTimestamp,
        ProtocolError::StaleTimestamp {
            timestamp: 0,
            now: 0,
            window_secs: 0,
        },
        ProtocolError::NonceReused,
        ProtocolError::BadBase64,
        ProtocolError::BadCiphertextLength,
        ProtocolError::BadPadding,
        ProtocolError::BadLength,
        ProtocolError::WrongAppId,
        ProtocolError::InvalidUtf8,
        ProtocolError::InvalidAesKey("x"),
        ProtocolError::EncryptionRequired,
        ProtocolError::EncryptionNotConfigured,
        ProtocolError::MissingEncrypt,
        ProtocolError::MalformedXml("x".into()),
        ProtocolError::TooLarge,
        ProtocolError::TooDeep,
        ProtocolError::NameTooLong,
        ProtocolError::FieldsTooLarge,
        ProtocolError::Doctype,
        ProtocolError::MissingField("x"),
        ProtocolError::InvalidField("x"),
        ProtocolError::TooManyArticles { max: 1, got: 2 },
        ProtocolError::NoArticles,
        ProtocolError::EmptyText,
    ];
    let kinds: std::collections::HashSet<_> = all.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds.len(), all.len());
    for e in &all {
        assert!(
            e.kind()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        assert!([400, 403, 413, 500].contains(&e.http_status()));
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn settings_debug_redacts_secrets() {
    let s = CallbackSettings {
        previous_encoding_aes_key: Some(ZERO_KEY.into()),
        ..settings("s3cr3ttoken", "wxAPP", Some(SAMPLE_KEY))
    };
    let d = format!("{s:?} {:?}", Callback::new(s.clone()).unwrap());
    assert!(
        !d.contains("s3cr3ttoken") && !d.contains(SAMPLE_KEY) && !d.contains(ZERO_KEY),
        "{d}"
    );
}
