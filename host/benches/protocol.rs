//! Hot paths of the protocol core: a typical safe-mode text push in
//! (verify + decrypt + parse) and a text reply out (render + encrypt + sign).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wxhost::protocol::*;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const TOKEN: &str = "pamtest";
const APP_ID: &str = "wxb11529c136998cb6";
const NOW: u64 = 1_714_036_504;
const MESSAGE: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n\
<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n\
<CreateTime>1714036504</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n\
<Content><![CDATA[你好，请问今天营业到几点？]]></Content>\n<MsgId>24587962587469821</MsgId>\n</xml>";

fn bench(c: &mut Criterion) {
    let cb = Callback::new(CallbackSettings {
        encoding_aes_key: Some(KEY.into()),
        ..CallbackSettings::new(TOKEN, APP_ID)
    })
    .expect("valid settings");
    let crypt = cb.crypt(KeySlot::Current).expect("key").clone();
    let (query, body) = build_push(TOKEN, Some(&crypt), Mode::Safe, MESSAGE, NOW, "1514711492");
    let inbound = cb.open(&query, body.as_bytes(), NOW).expect("opens");
    let reply = Reply::Text("营业到晚上九点，欢迎光临！".into());

    c.bench_function("open safe-mode text push (verify + decrypt + parse)", |b| {
        b.iter(|| {
            cb.open(black_box(&query), black_box(body.as_bytes()), NOW)
                .expect("opens")
        })
    });
    c.bench_function("seal text reply (render + encrypt + sign)", |b| {
        b.iter(|| {
            cb.seal(black_box(&inbound), black_box(&reply), NOW)
                .expect("seals")
        })
    });

    // The parts, to see where the time goes.
    let encrypt = crypt.encrypt(MESSAGE);
    let ts = NOW.to_string();
    let sig = signature(&[TOKEN, &ts, "1514711492", &encrypt]);
    c.bench_function("part: verify msg_signature", |b| {
        b.iter(|| {
            verify_signature(black_box(&sig), &[TOKEN, &ts, "1514711492", &encrypt]).expect("ok")
        })
    });
    c.bench_function("part: decrypt", |b| {
        b.iter(|| crypt.decrypt(black_box(&encrypt)).expect("ok"))
    });
    c.bench_function("part: parse_message", |b| {
        b.iter(|| parse_message(black_box(MESSAGE)).expect("ok"))
    });
    c.bench_function("part: render_reply", |b| {
        b.iter(|| render_reply(black_box(&reply), &inbound.message, NOW).expect("ok"))
    });
    c.bench_function("part: encrypt", |b| {
        b.iter(|| crypt.encrypt(black_box(MESSAGE)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
