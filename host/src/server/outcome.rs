//! [`Outcome`]: how a push was answered, the one label set of the push log
//! line (and of metrics).

// Serialized as `as_str` (instances sharing a Redis pass decisions on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A plugin's passive reply.
    Reply,
    /// A plugin chose no reply (`success`).
    NoReply,
    /// No plugin handles this kind.
    NoPlugin,
    /// Every plugin passed.
    AllPassed,
    /// Time ran out before every plugin had its turn, none answered.
    Deadline,
    /// The budget passed with plugins still running: `success` now, and any
    /// reply they produce goes out as a customer-service message.
    Late,
    /// The reply could not be rendered or encrypted: `success` instead.
    SealFailed,
    /// The worker ended without publishing an answer (it panicked).
    Lost,
    /// An exact repeat of a push whose reply is no longer kept (a replay
    /// after the dedup TTL, within the timestamp window): `success`, and the
    /// plugins do not run again.
    Replay,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reply => "reply",
            Outcome::NoReply => "no_reply",
            Outcome::NoPlugin => "no_plugin",
            Outcome::AllPassed => "all_passed",
            Outcome::Deadline => "deadline",
            Outcome::Late => "late",
            Outcome::SealFailed => "seal_failed",
            Outcome::Lost => "lost",
            Outcome::Replay => "replay",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
