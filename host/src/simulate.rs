//! `wxhost simulate`: plays WeChat against a running server.
//!
//! Builds a push the way WeChat does (XML, signed, and in safe or compatible
//! mode encrypted with the configured key), posts it, then verifies and
//! decrypts the reply and prints it — so a plugin can be tried end to end
//! without a WeChat account. [`signed_request`] is also what the
//! end-to-end tests and the load generator use.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::protocol::{self, AesKey, Mode, MsgCrypt, Push};

/// The crypto WeChat would use with this configuration.
pub fn crypt_for(config: &Config) -> anyhow::Result<Option<MsgCrypt>> {
    if config.wechat.encoding_aes_key.is_empty() {
        return Ok(None);
    }
    let key = AesKey::from_encoding_aes_key(&config.wechat.encoding_aes_key)
        .context("wechat.encoding_aes_key")?;
    Ok(Some(MsgCrypt::new(key, &config.wechat.app_id)))
}

/// The URL (with signed query) and body of one push.
pub fn signed_request(
    base_url: &str,
    token: &str,
    crypt: Option<&MsgCrypt>,
    mode: Mode,
    xml: &str,
    timestamp: u64,
) -> (String, String) {
    let nonce = rand::random::<u32>().to_string();
    let (query, body) = protocol::build_push(token, crypt, mode, xml, timestamp, &nonce);
    (format!("{base_url}?{}", query.to_query_string()), body)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Plaintext,
    Compatible,
    Safe,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Plaintext => Mode::Plaintext,
            ModeArg::Compatible => Mode::Compatible,
            ModeArg::Safe => Mode::Safe,
        }
    }
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The callback URL (default: this config's listen address and path).
    #[arg(long)]
    url: Option<String>,
    /// Encryption mode to play (safe needs an EncodingAESKey).
    #[arg(long, value_enum, default_value = "safe")]
    mode: ModeArg,
    /// Sender OpenID.
    #[arg(long, default_value = "o_simulated_user")]
    from: String,
    /// The Official Account's original ID.
    #[arg(long, default_value = "gh_simulated")]
    to: String,
    /// Send a text message.
    #[arg(long, group = "what")]
    text: Option<String>,
    /// Send a subscribe (follow) event; with --scene, as from a QR code.
    #[arg(long, group = "what")]
    subscribe: bool,
    #[arg(long, requires = "subscribe")]
    scene: Option<String>,
    /// Send an unsubscribe event.
    #[arg(long, group = "what")]
    unsubscribe: bool,
    /// Send a SCAN event for this scene.
    #[arg(long, group = "what")]
    scan: Option<String>,
    /// Send a menu CLICK event with this key.
    #[arg(long, group = "what")]
    click: Option<String>,
    /// Send a menu VIEW event for this URL.
    #[arg(long, group = "what")]
    view: Option<String>,
    /// Do the GET URL verification instead of a push.
    #[arg(long, group = "what")]
    verify: bool,
}

pub async fn run(config: &Config, args: SimulateArgs) -> anyhow::Result<()> {
    let url = args.url.clone().unwrap_or_else(|| {
        let port = config.server.listen.port();
        format!("http://127.0.0.1:{port}{}", config.server.path)
    });
    let token = &config.wechat.token;
    let now = crate::unix_now();
    let client = reqwest::Client::new();
    if args.verify {
        let nonce = rand::random::<u32>().to_string();
        let ts = now.to_string();
        let echostr = rand::random::<u64>().to_string();
        let sig = protocol::signature(&[token, &ts, &nonce]);
        let resp = client
            .get(&url)
            .query(&[
                ("signature", &sig),
                ("timestamp", &ts),
                ("nonce", &nonce),
                ("echostr", &echostr),
            ])
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        println!("GET {url} → HTTP {status}");
        if status.is_success() && body == echostr {
            println!("verification OK: echostr echoed");
            return Ok(());
        }
        bail!("verification failed: got {body:?}");
    }
    let push = if let Some(t) = args.text {
        Push::Text(t)
    } else if args.subscribe {
        Push::Subscribe { scene: args.scene }
    } else if args.unsubscribe {
        Push::Unsubscribe
    } else if let Some(scene) = args.scan {
        Push::Scan { scene }
    } else if let Some(key) = args.click {
        Push::Click { key }
    } else if let Some(url) = args.view {
        Push::View { url }
    } else {
        bail!(
            "say what to send: --text, --subscribe, --unsubscribe, --scan, --click, --view or --verify"
        );
    };
    let mode: Mode = args.mode.into();
    let crypt = crypt_for(config)?;
    if mode != Mode::Plaintext && crypt.is_none() {
        bail!("mode {} needs wechat.encoding_aes_key", mode.as_str());
    }
    let xml = push.to_xml(&args.to, &args.from, now, rand::random::<u64>() >> 1);
    let (signed_url, body) = signed_request(&url, token, crypt.as_ref(), mode, &xml, now);
    let started = Instant::now();
    let resp = client
        .post(&signed_url)
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let reply = resp.text().await?;
    let elapsed = started.elapsed();
    println!(
        "POST {url} ({} mode) → HTTP {status} in {:.1} ms",
        mode.as_str(),
        elapsed.as_secs_f64() * 1000.0
    );
    if !status.is_success() {
        bail!("server refused the push: {reply}");
    }
    if reply.is_empty() || reply == "success" {
        println!("no reply (the server answered {reply:?})");
        return Ok(());
    }
    let plain = match (&crypt, mode) {
        (Some(c), Mode::Safe | Mode::Compatible) => protocol::open_reply(token, c, &reply)
            .context("the encrypted reply did not verify or decrypt")?,
        _ => reply,
    };
    let parsed = protocol::parse_reply(&plain).context("the reply is not valid reply XML")?;
    println!(
        "reply to {} from {} at {}: {:?}",
        parsed.to_user, parsed.from_user, parsed.create_time, parsed.reply
    );
    println!("xml: {plain}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_parse_as_what_they_simulate() {
        let xml = Push::Text("a ]]> b".into()).to_xml("gh_x", "o_y", 1700000000, 42);
        let msg = protocol::parse_message(&xml).unwrap();
        assert_eq!(
            msg.body,
            protocol::Body::Text {
                content: "a ]]> b".into()
            }
        );
        assert_eq!(msg.msg_id, Some(42));
        let xml = Push::Subscribe {
            scene: Some("s1".into()),
        }
        .to_xml("gh_x", "o_y", 1700000000, 0);
        let msg = protocol::parse_message(&xml).unwrap();
        assert!(
            matches!(msg.body, protocol::Body::Event(protocol::Event::Subscribe { scene: Some(ref s), .. }) if s == "s1")
        );
        let xml = Push::Click { key: "K".into() }.to_xml("gh_x", "o_y", 1700000000, 0);
        assert!(
            matches!(protocol::parse_message(&xml).unwrap().body, protocol::Body::Event(protocol::Event::Click { ref key }) if key == "K")
        );
    }
}
