//! [`PushArgs`]: the flags that describe one user action, shared by
//! `wxhost simulate` and `wxhost plugin run`.

use anyhow::bail;

use crate::protocol::Push;

#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// Send a text message.
    #[arg(long, conflicts_with = "event")]
    pub text: Option<String>,
    /// Send an event: subscribe, unsubscribe, scan, click, view, location,
    /// scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album,
    /// pic_weixin, location_select, or any other name (a generic event).
    #[arg(long)]
    pub event: Option<String>,
    /// The event key: QR scene for subscribe/scan, menu key for click and
    /// menu events, URL for view.
    #[arg(long, requires = "event")]
    pub key: Option<String>,
    /// Sender OpenID.
    #[arg(long, default_value = "o_test_user")]
    pub from: String,
    /// The account's original id.
    #[arg(long, default_value = "gh_test")]
    pub to: String,
}

impl PushArgs {
    /// The action described, if any.
    pub fn push(&self) -> Option<Push> {
        match (&self.text, &self.event) {
            (Some(text), _) => Some(Push::Text(text.clone())),
            (None, Some(event)) => Some(Push::event(event, self.key.clone())),
            (None, None) => None,
        }
    }

    /// The action described, or an error saying how to give one.
    pub fn require(&self) -> anyhow::Result<Push> {
        match self.push() {
            Some(p) => Ok(p),
            None => bail!("give a message: --text \"hi\" or --event KIND [--key KEY]"),
        }
    }
}
