//! `wxhost simulate`: plays WeChat against a running server.
//!
//! Builds a push the way WeChat does (XML, signed, and in safe or compatible
//! mode encrypted with the configured key), posts it, then verifies and
//! decrypts the reply and prints it — so a plugin can be tried end to end
//! without a WeChat account. With `--oauth PATH` it logs in on the web side
//! instead (`simulate_oauth.rs`).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::ValueEnum;

use super::push_args::PushArgs;
use crate::config::Config;
use crate::protocol::{self, AesKey, Mode, MsgCrypt};

/// The crypto WeChat would use with this configuration.
pub fn crypt_for(config: &Config) -> anyhow::Result<Option<MsgCrypt>> {
    if config.wechat.encoding_aes_key.is_empty() {
        return Ok(None);
    }
    let key = AesKey::from_encoding_aes_key(&config.wechat.encoding_aes_key)
        .context("wechat.encoding_aes_key")?;
    Ok(Some(MsgCrypt::new(key, &config.wechat.app_id)))
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

#[derive(Debug, clap::Args)]
pub struct SimulateCommand {
    /// The callback URL (default: this config's listen address and path).
    #[arg(long)]
    url: Option<String>,
    /// Encryption mode to play (safe needs an EncodingAESKey).
    #[arg(long, value_enum, default_value = "safe")]
    mode: ModeArg,
    #[command(flatten)]
    push: PushArgs,
    /// Do the GET URL verification instead of a push.
    #[arg(long, conflicts_with_all = ["text", "event"])]
    verify: bool,
    /// Log in on the web side (playing WeChat's authorize step against the
    /// fake WeChat) and open PATH, e.g. /app/member/; `--url` is then the
    /// server's origin.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["text", "event", "verify"])]
    oauth: Option<String>,
    /// With --oauth: the OpenID to log in as (default: the fake's user).
    #[arg(long, requires = "oauth")]
    openid: Option<String>,
}

impl SimulateCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        if let Some(path) = &self.oauth {
            let origin = match &self.url {
                Some(u) => u.trim_end_matches('/').to_owned(),
                None => format!("http://127.0.0.1:{}", config.server.listen.port()),
            };
            return super::simulate_oauth::run(&origin, path, self.openid.as_deref(), out).await;
        }
        let url = self.url.clone().unwrap_or_else(|| {
            let port = config.server.listen.port();
            format!("http://127.0.0.1:{port}{}", config.server.path)
        });
        let token = &config.wechat.token;
        let now = crate::unix_now();
        let client = reqwest::Client::new();
        if self.verify {
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
            writeln!(out, "GET {url} → HTTP {status}")?;
            if status.is_success() && body == echostr {
                writeln!(out, "verification OK: echostr echoed")?;
                return Ok(());
            }
            bail!("verification failed: got {body:?}");
        }
        let push = self.push.require()?;
        let mode: Mode = self.mode.into();
        let crypt = crypt_for(config)?;
        if mode != Mode::Plaintext && crypt.is_none() {
            bail!("mode {} needs wechat.encoding_aes_key", mode.as_str());
        }
        let xml = push.to_xml(
            &self.push.to,
            &self.push.from,
            now,
            rand::random::<u64>() >> 1,
        );
        let (signed_url, body) =
            protocol::signed_request(&url, token, crypt.as_ref(), mode, &xml, now);
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
        writeln!(
            out,
            "POST {url} ({} mode) → HTTP {status} in {:.1} ms",
            mode.as_str(),
            elapsed.as_secs_f64() * 1000.0
        )?;
        if status == reqwest::StatusCode::FORBIDDEN
            && reply == protocol::ProtocolError::EncryptionRequired.kind()
        {
            bail!(
                "the server refuses plaintext pushes ({reply}): it has an EncodingAESKey, so \
                 server.require_encryption defaults to true. Use --mode safe or --mode compatible, \
                 or start the server with WXHOST_REQUIRE_ENCRYPTION=false to allow plaintext mode"
            );
        }
        if !status.is_success() {
            bail!("server refused the push: HTTP {status} {reply}");
        }
        if reply.is_empty() || reply == "success" {
            writeln!(out, "no reply (the server answered {reply:?})")?;
            return Ok(());
        }
        let plain = match (&crypt, mode) {
            (Some(c), Mode::Safe | Mode::Compatible) => protocol::open_reply(token, c, &reply)
                .context("the encrypted reply did not verify or decrypt")?,
            _ => reply,
        };
        let parsed = protocol::parse_reply(&plain).context("the reply is not valid reply XML")?;
        writeln!(
            out,
            "reply to {} from {} at {}: {:?}",
            parsed.to_user, parsed.from_user, parsed.create_time, parsed.reply
        )?;
        writeln!(out, "xml: {plain}")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::{self, Push};

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
        let xml = Push::event("subscribe", Some("s1".into())).to_xml("gh_x", "o_y", 1700000000, 0);
        let msg = protocol::parse_message(&xml).unwrap();
        assert!(
            matches!(msg.body, protocol::Body::Event(protocol::Event::Subscribe { scene: Some(ref s), .. }) if s == "s1")
        );
        let xml = Push::event("CLICK", Some("K".into())).to_xml("gh_x", "o_y", 1700000000, 0);
        assert!(
            matches!(protocol::parse_message(&xml).unwrap().body, protocol::Body::Event(protocol::Event::Click { ref key }) if key == "K")
        );
    }
}
