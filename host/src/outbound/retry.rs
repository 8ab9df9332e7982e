//! What a failed send means (`/work/shared/docs/wechat-outbound-and-open-platform.md`
//! §B.6): try again later, pause the API for the account, fall back to
//! another channel, or give up — and how long "later" is.

use std::time::Duration;

use crate::api::ApiError;

/// What to do after a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Transient (busy, minute quota, HTTP 5xx, timeout): again after the
    /// backoff, until the job's deadline.
    Retry { reason: String },
    /// The account's daily quota of this API is spent (45009): no call of
    /// it until WeChat's quota day ends.
    Pause { reason: String },
    /// The customer-service window is closed (45015, 45047): send the
    /// job's fallback if it has one, else fail.
    WindowClosed { reason: String },
    /// Will never succeed as it is.
    Permanent { reason: String },
}

/// The stable reason names jobs and metrics carry.
pub fn reason_of(code: i64) -> &'static str {
    match code {
        -1 => "busy",
        45011 => "minute_quota",
        45009 => "daily_quota",
        45015 => "outside_48h",
        45047 => "customer_quota",
        43101 => "user_refused",
        43004 => "not_following",
        40003 => "invalid_openid",
        40037 => "invalid_template",
        47003 => "invalid_data",
        48001 => "api_unauthorized",
        _ => "wechat_error",
    }
}

/// Classifies a send's error.
pub fn classify(error: &ApiError) -> Verdict {
    match error {
        ApiError::QuotaExceeded(_) => Verdict::Pause {
            reason: reason_of(45009).into(),
        },
        ApiError::Wechat { code, .. } => {
            let name = reason_of(*code);
            let reason = if name == "wechat_error" {
                format!("wechat_{code}")
            } else {
                name.to_owned()
            };
            match code {
                -1 | 45011 => Verdict::Retry { reason },
                45015 | 45047 => Verdict::WindowClosed { reason },
                // Server-side trouble WeChat reports as an errcode.
                c if (500..600).contains(c) => Verdict::Retry { reason },
                _ => Verdict::Permanent { reason },
            }
        }
        // Timeouts, refused connections, HTTP 5xx, an answer that is not
        // JSON: WeChat may or may not have acted, which is why templates
        // and mass sends carry an id WeChat de-duplicates by.
        ApiError::Transport(_) => Verdict::Retry {
            reason: "transport".into(),
        },
        // The store (token) failed: ours, transient.
        ApiError::Storage(_) => Verdict::Retry {
            reason: "storage".into(),
        },
        ApiError::Invalid(m) => Verdict::Permanent {
            reason: format!("invalid: {m}"),
        },
    }
}

/// Pause before retry number `retry` (0 = the first): `base` doubling,
/// at most `max` — seconds, not minutes, so a transient error costs a
/// notification little of its timeliness.
pub fn backoff(base: Duration, max: Duration, retry: u32) -> Duration {
    base.saturating_mul(1u32 << retry.min(20)).min(max)
}

/// Unix milliseconds when WeChat's daily quotas reset after `now_ms`:
/// the next midnight in Beijing (UTC+8).
pub fn quota_reset_after(now_ms: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    const OFFSET_MS: i64 = 8 * 3_600_000;
    ((now_ms + OFFSET_MS).div_euclid(DAY_MS) + 1) * DAY_MS - OFFSET_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wechat(code: i64) -> ApiError {
        ApiError::Wechat {
            code,
            message: String::new(),
        }
    }

    #[test]
    fn errcodes_classify_as_the_taxonomy_says() {
        for code in [-1, 45011] {
            assert!(
                matches!(classify(&wechat(code)), Verdict::Retry { .. }),
                "{code}"
            );
        }
        assert!(matches!(
            classify(&ApiError::Transport("HTTP 502".into())),
            Verdict::Retry { .. }
        ));
        assert_eq!(
            classify(&ApiError::QuotaExceeded("x".into())),
            Verdict::Pause {
                reason: "daily_quota".into()
            }
        );
        for code in [45015, 45047] {
            assert!(matches!(
                classify(&wechat(code)),
                Verdict::WindowClosed { .. }
            ));
        }
        for (code, reason) in [
            (40003, "invalid_openid"),
            (43004, "not_following"),
            (43101, "user_refused"),
            (40037, "invalid_template"),
        ] {
            assert_eq!(
                classify(&wechat(code)),
                Verdict::Permanent {
                    reason: reason.into()
                }
            );
        }
        assert_eq!(
            classify(&wechat(40999)),
            Verdict::Permanent {
                reason: "wechat_40999".into()
            }
        );
    }

    #[test]
    fn backoff_grows_in_seconds_and_is_capped() {
        let (b, m) = (Duration::from_secs(1), Duration::from_secs(30));
        let got: Vec<u64> = (0..7).map(|r| backoff(b, m, r).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(b, m, u32::MAX), m);
    }

    #[test]
    fn quota_resets_at_beijing_midnight() {
        // 2026-12-08 00:24 UTC = 08:24 Beijing → next reset 2026-12-08 16:00 UTC.
        let now = 1_796_689_440_000; // 2026-12-08T00:24:00Z
        let reset = quota_reset_after(now);
        assert_eq!(reset, 1_796_745_600_000); // 2026-12-08T16:00:00Z
        assert_eq!(quota_reset_after(reset), reset + 86_400_000);
        assert_eq!(quota_reset_after(reset - 1), reset);
    }
}
