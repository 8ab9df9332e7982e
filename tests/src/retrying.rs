//! WeChat's delivery of one push, as its servers do it: post, and if no
//! answer arrives within the wait (5 s at WeChat), drop the connection and
//! deliver the same push again (same MsgId and CreateTime, a fresh
//! signature), three deliveries in all. The wait is a parameter so a test
//! can run the schedule faster, together with a host budget shortened by the
//! same factor (the host takes WeChat's wait to be its budget plus 0.5 s).

use std::time::{Duration, Instant};

use wxhost::protocol::{Mode, signed_request};

use crate::service::{TOKEN, Wxhost};

/// WeChat's deliveries of one push.
pub const DELIVERIES: usize = 3;
/// How long WeChat waits for each delivery's answer.
pub const WECHAT_WAIT: Duration = Duration::from_secs(5);

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Answered: the status and the reply's plaintext (or `success`).
    Answered { status: u16, body: String },
    /// No answer within the wait: the connection was dropped.
    Unanswered,
    /// The connection failed or was closed without a response.
    Broken(String),
}

/// One delivery and when it was sent, from the first.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub sent: Duration,
    pub took: Duration,
    pub delivery: Delivery,
}

/// Delivers `xml` to `host` the way WeChat does, waiting `wait` for each
/// delivery; stops at the first answer. Returns every attempt.
pub async fn deliver(host: &Wxhost, xml: &str, mode: Mode, wait: Duration) -> Vec<Attempt> {
    // A client of its own: no connection is reused between deliveries (a
    // dropped delivery's connection is gone, as at WeChat).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client");
    let first = Instant::now();
    let mut attempts = Vec::new();
    for _ in 0..DELIVERIES {
        let (url, body) = signed_request(
            &host.url,
            TOKEN,
            Some(&host.crypt),
            mode,
            xml,
            wxhost::unix_now(),
        );
        let sent = first.elapsed();
        let started = Instant::now();
        let delivery = match tokio::time::timeout(wait, http.post(url).body(body).send()).await {
            Err(_) => Delivery::Unanswered,
            Ok(Err(e)) => Delivery::Broken(e.to_string()),
            Ok(Ok(r)) => {
                let status = r.status().as_u16();
                match tokio::time::timeout(wait.saturating_sub(started.elapsed()), r.text()).await {
                    Ok(Ok(text)) => Delivery::Answered {
                        status,
                        body: host.open(&text, mode),
                    },
                    Ok(Err(e)) => Delivery::Broken(e.to_string()),
                    Err(_) => Delivery::Unanswered,
                }
            }
        };
        let answered = matches!(delivery, Delivery::Answered { .. });
        attempts.push(Attempt {
            sent,
            took: started.elapsed(),
            delivery,
        });
        if answered {
            break;
        }
    }
    attempts
}
