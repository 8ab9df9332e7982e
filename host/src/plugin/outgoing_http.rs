//! [`OutgoingHttp`]: the WASI-HTTP hooks of a call. A plugin's outgoing
//! requests (`wasi:http/outgoing-handler`) are refused (`HTTP-request-denied`)
//! unless it is granted `http-outgoing`, and then go only where its
//! `http_hosts` lets them — deny by default:
//!
//! - an empty list allows nothing; `"*"` allows any host;
//! - `host` allows that host on its scheme's default port (80, 443) only,
//!   `host:port` that port only;
//! - a host resolving to a loopback, link-local, private, unique-local or
//!   unspecified address (the console, a cloud metadata service, the LAN)
//!   is refused unless the list names it (or its address) explicitly: `"*"`
//!   means the internet, not the host's neighbours.
//!
//! The resolution is checked just before the request is sent (and resolved
//! again by the HTTP client, so a name that changes its answer in between
//! could still slip through: listing hosts by name is the stronger setting).
//! Refusals are logged at most [`REFUSALS_LOGGED_PER_MINUTE`] a minute, so
//! a plugin in a loop cannot flood the log. Sockets stay denied either way
//! (see `state.rs`): this is the only way out.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::AccountScope;
use super::state::PluginScope;
use crate::config::Capability;

/// Refusal lines logged per minute, process-wide; the rest are counted.
pub const REFUSALS_LOGGED_PER_MINUTE: u32 = 10;

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)>;

pub(crate) struct OutgoingHttp {
    plugin: Arc<str>,
    /// `None`: denied; else the `http_hosts` entries.
    allowed: Option<Arc<[String]>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotGranted,
    NotListed,
    InternalAddress,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::NotGranted => "capability http-outgoing not granted",
            Refusal::NotListed => "host (or port) not in http_hosts",
            Refusal::InternalAddress => {
                "host resolves to an internal address (loopback, link-local, private) not named in http_hosts"
            }
        }
    }
}

/// What an `http_hosts` entry allows of a request to `host`:`port`.
enum Match {
    No,
    /// Through `"*"`: public addresses only.
    Wildcard,
    /// Named: internal addresses too.
    Named,
}

fn default_port(scheme: Option<&str>) -> u16 {
    match scheme {
        Some("https") => 443,
        _ => 80,
    }
}

/// Whether `ip` is an address of this machine or its network rather than
/// the internet.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT (and some clouds' metadata).
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
}

impl OutgoingHttp {
    /// What the plugin may reach acting for `account`: the account's
    /// `[account.<name>.plugin.<id>]` capabilities and `http_hosts` where
    /// it has its own (an account may grant less), else the plugin's.
    pub fn new(scope: &PluginScope, account: &AccountScope) -> OutgoingHttp {
        let grants = account.grants(&scope.id);
        let capabilities = grants
            .and_then(|g| g.capabilities.as_ref())
            .unwrap_or(&scope.capabilities);
        let hosts = grants
            .and_then(|g| g.http_hosts.clone())
            .unwrap_or_else(|| scope.http_hosts.clone());
        OutgoingHttp {
            plugin: scope.id.clone(),
            allowed: capabilities
                .contains(&Capability::HttpOutgoing)
                .then_some(hosts),
        }
    }

    fn matches(&self, uri: &http::Uri) -> Result<Match, Refusal> {
        let Some(hosts) = &self.allowed else {
            return Err(Refusal::NotGranted);
        };
        let Some(host) = uri.host() else {
            return Err(Refusal::NotListed);
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(default_port(uri.scheme_str()));
        let default = default_port(uri.scheme_str());
        let mut best = Match::No;
        for entry in hosts.iter() {
            if entry == "*" {
                if port == default && matches!(best, Match::No) {
                    best = Match::Wildcard;
                }
                continue;
            }
            let (name, p) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') || n.starts_with('[') => match p.parse::<u16>() {
                    Ok(p) => (n, p),
                    Err(_) => (entry.as_str(), default),
                },
                _ => (entry.as_str(), default),
            };
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if name.eq_ignore_ascii_case(host) && p == port {
                return Ok(Match::Named);
            }
        }
        match best {
            Match::No => Err(Refusal::NotListed),
            m => Ok(m),
        }
    }

    /// Resolves `uri`'s host and refuses internal addresses unless named.
    async fn check(&self, uri: &http::Uri) -> Result<(), Refusal> {
        match self.matches(uri)? {
            Match::Named => Ok(()),
            Match::No => Err(Refusal::NotListed),
            Match::Wildcard => {
                let host = uri.host().unwrap_or("");
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let port = uri.port_u16().unwrap_or(default_port(uri.scheme_str()));
                let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
                    Ok(ip) => vec![ip],
                    Err(_) => match tokio::net::lookup_host((host, port)).await {
                        Ok(a) => a.map(|a| a.ip()).collect(),
                        // Unresolvable: the client fails the same way.
                        Err(_) => return Ok(()),
                    },
                };
                if addrs.into_iter().any(internal) {
                    return Err(Refusal::InternalAddress);
                }
                Ok(())
            }
        }
    }

    fn log_refusal(&self, uri: &http::Uri, why: Refusal) {
        static WINDOW: Mutex<Option<(Instant, u32)>> = Mutex::new(None);
        let mut w = WINDOW.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (start, n) = w.get_or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(60) {
            if *n > REFUSALS_LOGGED_PER_MINUTE {
                tracing::warn!(
                    target: "wxhost::plugin",
                    suppressed = *n - REFUSALS_LOGGED_PER_MINUTE,
                    "more outgoing HTTP requests were refused in the last minute than logged"
                );
            }
            (*start, *n) = (now, 0);
        }
        *n += 1;
        if *n <= REFUSALS_LOGGED_PER_MINUTE {
            tracing::warn!(
                target: "wxhost::plugin",
                plugin = %self.plugin,
                host = uri.host().unwrap_or(""),
                port = uri.port_u16(),
                "refused outgoing HTTP request: {}",
                why.as_str()
            );
        }
    }
}

impl WasiHttpHooks for OutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        _ = fut;
        if let Err(why) = self.matches(request.uri()) {
            self.log_refusal(request.uri(), why);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let checked = {
            let this = OutgoingHttp {
                plugin: self.plugin.clone(),
                allowed: self.allowed.clone(),
            };
            let uri = request.uri().clone();
            async move {
                let r = this.check(&uri).await;
                if let Err(why) = r {
                    this.log_refusal(&uri, why);
                }
                r
            }
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            if checked.await.is_err() {
                return Err(HttpError::HttpRequestDenied);
            }
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(hosts: Option<&[&str]>) -> OutgoingHttp {
        OutgoingHttp {
            plugin: Arc::from("p"),
            allowed: hosts.map(|h| h.iter().map(|s| s.to_string()).collect::<Vec<_>>().into()),
        }
    }

    fn allowed(h: &OutgoingHttp, url: &str) -> Result<(), Refusal> {
        let uri: http::Uri = url.parse().unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(h.check(&uri))
    }

    #[test]
    fn nothing_is_allowed_without_an_explicit_list() {
        assert_eq!(
            allowed(&hooks(None), "https://example.com/"),
            Err(Refusal::NotGranted)
        );
        assert_eq!(
            allowed(&hooks(Some(&[])), "https://example.com/"),
            Err(Refusal::NotListed)
        );
    }

    #[test]
    fn a_host_without_a_port_is_its_default_port_only() {
        let h = hooks(Some(&["api.example.com", "other.example.com:8443"]));
        assert_eq!(allowed(&h, "https://api.example.com/x"), Ok(()));
        assert_eq!(allowed(&h, "http://api.example.com/x"), Ok(()));
        assert_eq!(
            allowed(&h, "https://api.example.com:9090/x"),
            Err(Refusal::NotListed)
        );
        assert_eq!(allowed(&h, "https://other.example.com:8443/"), Ok(()));
        assert_eq!(
            allowed(&h, "https://other.example.com/"),
            Err(Refusal::NotListed)
        );
    }

    #[test]
    fn the_wildcard_is_the_internet_not_the_hosts_neighbours() {
        let h = hooks(Some(&["*"]));
        for url in [
            "http://127.0.0.1/",
            "http://localhost/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.100.100.200/",
        ] {
            assert_eq!(allowed(&h, url), Err(Refusal::InternalAddress), "{url}");
        }
        assert_eq!(
            allowed(&h, "http://127.0.0.1:9090/"),
            Err(Refusal::NotListed)
        );
        assert_eq!(allowed(&h, "http://93.184.216.34/"), Ok(()));
        // Named explicitly, an internal host is allowed (on its port).
        let h = hooks(Some(&["*", "127.0.0.1:9090"]));
        assert_eq!(allowed(&h, "http://127.0.0.1:9090/"), Ok(()));
        assert_eq!(
            allowed(&h, "http://127.0.0.1:9091/"),
            Err(Refusal::NotListed)
        );
    }
}
